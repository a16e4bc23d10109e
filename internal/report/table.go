package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/azdetect/azdetect/internal/alert"
)

// TableOptions shape the table.
type TableOptions struct {
	// Width is the widest line printed (the terminal's columns); below 40
	// it is taken as 40.
	Width int
	// BySeverity sorts by severity, then time; otherwise by time.
	BySeverity bool
}

// column is one column of the table: its heading, each row's cell (lines
// the column wraps), and the bounds of its width.
type column struct {
	head     string
	cells    [][]string
	min, max int // max: the widest item; min: what it may shrink to
	width    int
}

// WriteTable prints the alerts as a table no wider than opts.Width:
// TIME, SEV, RULE, WHO, FROM, TARGET, TECHNIQUE, each row followed by its
// summary, wrapped under it. Cells wrap at spaces; an actor or address
// longer than its column is the only thing broken mid-word, and only when
// the terminal is too narrow to hold it.
func WriteTable(w io.Writer, alerts []alert.Alert, opts TableOptions) error {
	width := max(opts.Width, 40)
	rows := Rows(alerts, opts.BySeverity)
	sameDay := true
	for _, r := range rows {
		if r.First.UTC().Format("2006-01-02") != rows[0].First.UTC().Format("2006-01-02") {
			sameDay = false
		}
	}
	cols := []*column{
		{head: "TIME"}, {head: "SEV"}, {head: "RULE"}, {head: "WHO"}, {head: "FROM"}, {head: "TARGET"}, {head: "TECHNIQUE"},
	}
	for _, r := range rows {
		t := r.First.UTC().Format("15:04:05")
		if !sameDay || opts.BySeverity {
			t = r.First.UTC().Format("01-02 15:04:05")
		}
		title := r.Title
		if r.Alerts > 1 {
			title += fmt.Sprintf(" (×%d)", r.Alerts)
		}
		cells := [][]string{{t}, {SeverityWord(r.Severity)}, {title}, r.Who, r.From, r.Target, r.Techniques}
		for i, c := range cells {
			if len(c) == 0 {
				c = []string{"-"}
			}
			cols[i].cells = append(cols[i].cells, c)
		}
	}
	// Bounds: time and severity never wrap; who, from and technique keep
	// their longest word whole when they can; rule and target wrap at
	// spaces and take what room is left.
	for i, c := range cols {
		c.max = runeLen(c.head)
		longestWord := 1
		for _, cell := range c.cells {
			for _, item := range cell {
				c.max = max(c.max, runeLen(item))
				for _, word := range strings.Fields(item) {
					longestWord = max(longestWord, runeLen(word))
				}
			}
		}
		switch i {
		case 0, 1:
			c.min = c.max
		case 2:
			c.min = min(c.max, 14)
		case 3:
			// An actor stays on one line: an e-mail address or an
			// application's name is read whole.
			c.min = max(min(c.max, 32), longestWord)
		case 4:
			// An address and its country stay on one line when there
			// is room.
			c.min = longestWord
			if width >= 120 {
				c.min = max(min(c.max, 22), longestWord)
			}
		case 5:
			c.min = min(c.max, max(12, min(longestWord, 16)))
		default:
			c.min = min(c.max, max(longestWord, runeLen(c.head)))
		}
	}
	lay := newLayout(cols, width)
	var b strings.Builder
	if sameDay && len(rows) > 0 && !opts.BySeverity {
		b.WriteString(rows[0].First.UTC().Format("Monday 2 January 2006 (times UTC)") + "\n")
	}
	lay.header(&b)
	for ri, r := range rows {
		cells := make([][]string, len(cols))
		for i, c := range cols {
			cells[i] = c.cells[ri]
		}
		summary := r.Summary
		if r.Alerts > 1 {
			summary += fmt.Sprintf(" [%d alerts, last %s]", r.Alerts, r.Last.UTC().Format("2006-01-02 15:04:05"))
		}
		lay.row(&b, cells, summary)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// layout is the columns' widths, fixed, and the gap between them.
type layout struct {
	cols  []*column
	gap   int
	width int
}

func newLayout(cols []*column, width int) layout {
	gap := 2
	if width < 140 {
		gap = 1
	}
	fit(cols, width-gap*(len(cols)-1))
	return layout{cols: cols, gap: gap, width: width}
}

func (l layout) line(b *strings.Builder, parts []string) {
	var ln strings.Builder
	for i, p := range parts {
		if i > 0 {
			ln.WriteString(strings.Repeat(" ", l.gap))
		}
		ln.WriteString(p)
		if i < len(parts)-1 {
			ln.WriteString(strings.Repeat(" ", max(0, l.cols[i].width-runeLen(p))))
		}
	}
	b.WriteString(strings.TrimRight(ln.String(), " "))
	b.WriteByte('\n')
}

func (l layout) header(b *strings.Builder) {
	heads := make([]string, len(l.cols))
	for i, c := range l.cols {
		heads[i] = clipTo(c.head, c.width)
	}
	l.line(b, heads)
}

// row writes one row, its cells wrapped to their columns, then its
// summary wrapped under the rule column.
func (l layout) row(b *strings.Builder, cells [][]string, summary string) {
	wrapped := make([][]string, len(l.cols))
	height := 0
	for i, c := range l.cols {
		items := cells[i]
		if len(items) == 0 {
			items = []string{"-"}
		}
		for _, item := range items {
			wrapped[i] = append(wrapped[i], wrap(item, c.width)...)
		}
		height = max(height, len(wrapped[i]))
	}
	for n := 0; n < height; n++ {
		parts := make([]string, len(l.cols))
		for i := range l.cols {
			if n < len(wrapped[i]) {
				parts[i] = wrapped[i][n]
			}
		}
		l.line(b, parts)
	}
	if strings.TrimSpace(summary) == "" {
		return
	}
	indent := l.cols[0].width + l.gap + l.cols[1].width + l.gap
	for _, ln := range wrap(summary, l.width-indent) {
		b.WriteString(strings.Repeat(" ", indent) + ln + "\n")
	}
}

// Stream prints alerts one at a time as they arrive (alerts tail), in
// the table's columns with widths fixed once for width.
type Stream struct {
	w      io.Writer
	lay    layout
	header bool
}

// NewStream returns a Stream no wider than width.
func NewStream(w io.Writer, width int) *Stream {
	width = max(width, 40)
	// Bounds for what typically arrives: a full time, an e-mail address,
	// an IPv4 address with its country, a sub-technique.
	bounds := []struct {
		head     string
		min, max int
	}{{"TIME (UTC)", 19, 19}, {"SEV", 4, 4}, {"RULE", 14, 60}, {"WHO", 24, 32}, {"FROM", 15, 20}, {"TARGET", 12, 40}, {"TECHNIQUE", 9, 9}}
	cols := make([]*column, len(bounds))
	for i, bd := range bounds {
		cols[i] = &column{head: bd.head, min: bd.min, max: bd.max}
	}
	return &Stream{w: w, lay: newLayout(cols, width)}
}

// Write prints one alert (the heading first, once).
func (s *Stream) Write(a alert.Alert) error {
	var b strings.Builder
	if !s.header {
		s.header = true
		s.lay.header(&b)
	}
	s.lay.row(&b, [][]string{{a.FirstSeen.UTC().Format("2006-01-02 15:04:05")}, {SeverityWord(a.Severity)}, {a.Title},
		Who(a), From(a), Targets(a), a.Techniques}, HumanSizes(a.Summary))
	_, err := io.WriteString(s.w, b.String())
	return err
}

// floors are what each column keeps while another still has more to give
// (time and severity never shrink): first a rule's title read a few words
// a line, an actor broken at its '@' or dots, an address with its
// country, a resource's short name, a technique id; then, on a narrow
// terminal, less of each alike.
var floors = [][]int{
	{0, 0, 14, 24, 15, 10, 9},
	{0, 0, 10, 16, 12, 6, 9},
}

// fit sets each column's width: every column gets its minimum, then the
// room left goes to the columns still narrower than their widest item,
// a character at a time to the one furthest from it. When even the
// minimums do not fit, the flexible columns shrink: a character at a time
// from the one furthest over its floor (one long actor gives up room
// before the rule's title is folded a word a line), floor after floor,
// then, when every column is down to the last, rule and target first.
func fit(cols []*column, avail int) {
	total := 0
	for _, c := range cols {
		c.width = c.min
		total += c.width
	}
	for _, floor := range floors {
		for total > avail {
			best, over := -1, 0
			for i := 2; i < len(cols) && i < len(floor); i++ {
				if d := cols[i].width - floor[i]; d > over {
					best, over = i, d
				}
			}
			if best < 0 {
				break
			}
			cols[best].width--
			total--
		}
	}
	for _, i := range []int{5, 2, 3, 4, 6} {
		for total > avail && cols[i].width > 4 {
			cols[i].width--
			total--
		}
	}
	// Share the room left in proportion to what each column lacks.
	if room := avail - total; room > 0 {
		lack := 0
		for _, c := range cols {
			lack += c.max - c.width
		}
		if lack > 0 {
			for _, c := range cols {
				add := min(room*(c.max-c.width)/lack, c.max-c.width)
				c.width += add
				total += add
			}
		}
	}
	for total < avail {
		best, need := -1, 0
		for i, c := range cols {
			if d := c.max - c.width; d > need {
				best, need = i, d
			}
		}
		if best < 0 {
			break
		}
		cols[best].width++
		total++
	}
}

// wrap folds text into lines of at most width characters, at spaces; a
// word longer than width is broken.
func wrap(text string, width int) []string {
	if width < 1 {
		width = 1
	}
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		for runeLen(word) > width {
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			r := []rune(word)
			cut := width
			// Break a path, URL, GUID or address after one of its own
			// separators when one falls in the last two thirds of the line.
			for i := width - 1; i >= width/3 && i > 0; i-- {
				if strings.ContainsRune("/-.@_:", r[i]) {
					cut = i + 1
					break
				}
			}
			lines = append(lines, string(r[:cut]))
			word = string(r[cut:])
		}
		switch {
		case cur == "":
			cur = word
		case runeLen(cur)+1+runeLen(word) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

func clipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
