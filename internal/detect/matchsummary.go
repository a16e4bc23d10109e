package detect

import (
	"strconv"
	"time"
	"unsafe"
)

// Summary renders the rule's summary template for the match: as
// Rule.Summary over the match's first event, plus the names a stateful
// rule's template may use: {count} (events counted, distinct values, the
// window's count), {values} (the distinct values or the new term, at most
// ten), {group} (the group key), {window} (the window or sequence start,
// UTC) and {timespan}. ok is false when the rule has no template.
func (m Match) Summary() (string, bool) {
	b, ok := m.AppendSummary(make([]byte, 0, summaryRoom)) // once, not at each doubling
	if !ok {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), true // made here, never written again
}

// AppendSummary appends what Summary returns to b: the caller chooses
// where the bytes go (the pipeline renders onto the stack and cuts the
// summary from its alerts' room). ok as Summary's, b as given when false.
func (m Match) AppendSummary(b []byte) ([]byte, bool) {
	r := m.Rule
	if r == nil || r.summary == nil || len(m.Events) == 0 {
		return b, false
	}
	ev := m.Events[0]
	for _, p := range r.summary {
		if p.res == nil {
			b = append(b, p.text...)
			continue
		}
		switch p.field {
		case "count":
			b = strconv.AppendInt(b, int64(m.Count), 10)
		case "values":
			vals := m.Values
			more := ""
			if len(vals) > 10 {
				more = ", ..."
				vals = vals[:10]
			}
			for i, v := range vals {
				if i > 0 {
					b = append(b, ", "...)
				}
				b = append(b, v...)
			}
			b = append(b, more...)
		case "group":
			b = append(b, m.GroupKey...)
		case "window":
			b = m.WindowStart.UTC().AppendFormat(b, time.RFC3339)
		case "timespan":
			if c := r.Correlation(); c != nil {
				b = append(b, shortDuration(c.Timespan)...)
			}
		default:
			b = append(b, p.render(ev)...)
		}
	}
	return b, true
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
