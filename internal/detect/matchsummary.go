package detect

import (
	"strconv"
	"strings"
	"time"
)

// Summary renders the rule's summary template for the match: as
// Rule.Summary over the match's first event, plus the names a stateful
// rule's template may use: {count} (events counted, distinct values, the
// window's count), {values} (the distinct values or the new term, at most
// ten), {group} (the group key), {window} (the window or sequence start,
// UTC) and {timespan}. ok is false when the rule has no template.
func (m Match) Summary() (string, bool) {
	r := m.Rule
	if r == nil || r.summary == nil || len(m.Events) == 0 {
		return "", false
	}
	ev := m.Events[0]
	var b strings.Builder
	b.Grow(summaryRoom) // once, not at each doubling
	for _, p := range r.summary {
		if p.res == nil {
			b.WriteString(p.text)
			continue
		}
		switch p.field {
		case "count":
			b.WriteString(strconv.Itoa(m.Count))
		case "values":
			vals := m.Values
			more := ""
			if len(vals) > 10 {
				more = ", ..."
				vals = vals[:10]
			}
			b.WriteString(strings.Join(vals, ", ") + more)
		case "group":
			b.WriteString(m.GroupKey)
		case "window":
			b.WriteString(m.WindowStart.UTC().Format(time.RFC3339))
		case "timespan":
			if c := r.Correlation(); c != nil {
				b.WriteString(shortDuration(c.Timespan))
			}
		default:
			b.WriteString(p.render(ev))
		}
	}
	return b.String(), true
}

// summaryRoom is what a rendered summary usually fits in.
const summaryRoom = 160

func shortDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.String()
}
