package alert

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// appendJSONLine appends a as one line of JSON, the bytes an
// encoding/json Encoder with SetEscapeHTML(false) writes for it (newline
// included): scan encodes every alert it raises, and the fixed form spends
// no instructions on reflection, an encoder's state or a copy of each
// line (TestJSONLineAgrees, FuzzJSONLine check the bytes). An alert the fast form cannot
// write as encoding/json would (a time outside RFC 3339's range) is left
// to encoding/json, whose error is returned.
func appendJSONLine(b []byte, a *Alert) ([]byte, error) {
	return appendJSONLineWith(b, a, nil)
}

// appendJSONLineWith is appendJSONLine, the rule's members copied from
// heads when it holds them (nil: each written).
func appendJSONLineWith(b []byte, a *Alert, heads *headMemo) ([]byte, error) {
	n0 := len(b)
	b, ok := appendAlertJSON(b, a, heads)
	if ok {
		return append(b, '\n'), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil { // the alert cannot be encoded
		return b[:n0], err
	}
	// Not reached for an alert appendAlertJSON refuses (its times do not
	// marshal); kept so that an encoded alert is written all the same.
	return append(b[:n0], buf.Bytes()...), nil
}

// appendAlertJSON appends a's JSON object; false when a time in it has no
// RFC 3339 form (time.Time.MarshalJSON's error).
func appendAlertJSON(b []byte, a *Alert, heads *headMemo) ([]byte, bool) {
	ok := true
	b = append(b, `{"id":`...)
	b = appendJSONString(b, a.ID)
	b = heads.appendHead(b, a)
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, a.Summary)
	b = append(b, `,"source_type":`...)
	b = appendJSONString(b, a.SourceType)
	b = appendStringField(b, `,"group_key":`, a.GroupKey)
	var times timeMemo
	b = append(b, `,"first_seen":`...)
	b, ok = times.appendJSONTime(b, a.FirstSeen, ok)
	b = append(b, `,"last_seen":`...)
	b, ok = times.appendJSONTime(b, a.LastSeen, ok)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(a.Count), 10)
	b = append(b, `,"entities":{`...)
	n := len(b)
	b = appendStringsField(b, `,"users":`, a.Entities.Users)
	b = appendStringsField(b, `,"ips":`, a.Entities.IPs)
	b = appendStringsField(b, `,"resources":`, a.Entities.Resources)
	b = appendStringsField(b, `,"subscriptions":`, a.Entities.Subscriptions)
	b = appendStringsField(b, `,"apps":`, a.Entities.Apps)
	if len(b) > n {
		b = append(b[:n], b[n+1:]...) // the first member's comma
	}
	b = append(b, `},"evidence":`...)
	if a.Evidence == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range a.Evidence {
			if i > 0 {
				b = append(b, ',')
			}
			b, ok = appendEvidenceJSON(b, &a.Evidence[i], &times, ok)
		}
		b = append(b, ']')
	}
	b = appendStringField(b, `,"alert_group":`, a.AlertGroup)
	return append(b, '}'), ok
}

// appendHead appends the members an alert has from its rule: rule_id,
// title, severity, tactics and techniques.
func appendHead(b []byte, a *Alert) []byte {
	b = append(b, `,"rule_id":`...)
	b = appendJSONString(b, a.RuleID)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, a.Title)
	b = append(b, `,"severity":`...)
	b = appendJSONString(b, a.Severity)
	b = appendStringsField(b, `,"tactics":`, a.Tactics)
	return appendStringsField(b, `,"techniques":`, a.Techniques)
}

// headMemo holds the bytes appendHead wrote for the rules of recent
// alerts: a rule's alerts share them (the severity aside, which a rule
// may take from its record), so they are checked for escapes and written
// once, then copied (appendHead was 1.7k instructions a riskdetection
// alert: the strings' escape checks, the quotes and commas). An entry is
// used only for an alert whose members equal the ones it was written for
// (strings compared by ==: a rule's alerts share its strings, so most
// compare as one pointer). Not safe for concurrent use: a sink holds one
// under its lock.
type headMemo struct {
	slots [headSlots]headEntry
}

// headSlots is how many rules' heads are held, each in the slot of its
// id's address (a rule's alerts share the string) and severity.
const headSlots = 64

// maxMemoHead bounds the heads held (a huge title is written each time).
const maxMemoHead = 1 << 10

type headEntry struct {
	ruleID, title, severity string
	tactics, techniques     []string // copies: the alert's may change
	json                    []byte
}

// appendHead appends appendHead's bytes for a, copied from the memo when
// it holds a's; m may be nil.
func (m *headMemo) appendHead(b []byte, a *Alert) []byte {
	if m == nil {
		return appendHead(b, a)
	}
	at := uintptr(unsafe.Pointer(unsafe.StringData(a.RuleID)))
	e := &m.slots[(at>>4+uintptr(len(a.Severity)))%headSlots]
	if e.json != nil && e.ruleID == a.RuleID && e.title == a.Title && e.severity == a.Severity &&
		slices.Equal(e.tactics, a.Tactics) && slices.Equal(e.techniques, a.Techniques) {
		return append(b, e.json...)
	}
	n0 := len(b)
	b = appendHead(b, a)
	if len(b)-n0 <= maxMemoHead {
		e.ruleID, e.title, e.severity = a.RuleID, a.Title, a.Severity
		e.tactics = append(e.tactics[:0], a.Tactics...)
		e.techniques = append(e.techniques[:0], a.Techniques...)
		e.json = append(e.json[:0:0], b[n0:]...)
	}
	return b
}

// appendEvidenceJSON appends e's JSON object, its time through times; ok
// turns false when its time has no RFC 3339 form.
func appendEvidenceJSON(b []byte, e *Evidence, times *timeMemo, ok bool) ([]byte, bool) {
	b = append(b, `{"source":`...)
	b = appendJSONString(b, e.Source)
	b = append(b, `,"time":`...)
	b, ok = times.appendJSONTime(b, e.Time, ok)
	b = append(b, `,"operation":`...)
	b = appendJSONString(b, e.Operation)
	b = appendStringField(b, `,"result":`, e.Result)
	b = appendStringField(b, `,"actor":`, e.Actor)
	b = appendStringField(b, `,"ip":`, e.IP)
	b = appendStringField(b, `,"country":`, e.Country)
	b = appendStringField(b, `,"resource":`, e.Resource)
	b = appendStringField(b, `,"target":`, e.Target)
	b = appendStringField(b, `,"correlation_id":`, e.CorrelationID)
	b = appendStringField(b, `,"record_id":`, e.RecordID)
	return append(b, '}'), ok
}

// appendStringField appends an omitempty string member (name holds its
// comma, name and colon).
func appendStringField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, name...), s)
}

// appendStringsField appends an omitempty []string member.
func appendStringsField(b []byte, name string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, name...)
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// timeMemo is the last time an alert's line wrote the UTC way and its
// bytes: an alert's first and last seen and its evidence's times are
// mostly one instant (all three of a single-event alert's), written once
// and then copied (appendJSONTime was 1.9k instructions a riskdetection
// alert, three times 0.6k).
type timeMemo struct {
	t   time.Time
	n   int // len(enc) used; 0: none yet
	enc [len(`"2006-01-02T15:04:05.999999999Z"`)]byte
}

// appendJSONTime is the package's appendJSONTime, t's bytes copied when
// t is the time written last (the same instant, location and monotonic
// reading: the same bytes).
func (m *timeMemo) appendJSONTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	if m.n > 0 && t == m.t {
		return append(b, m.enc[:m.n]...), ok
	}
	if s, fast := appendUTCTime(b, t); fast {
		m.t, m.n = t, copy(m.enc[:], s[len(b):])
		return s, ok
	}
	return appendJSONTime(b, t, ok)
}

// appendJSONTime appends t as time.Time.MarshalJSON does; ok turns false
// when it would fail (a year outside [0,9999] or a zone hour outside
// [0,23]), as its checks say.
func appendJSONTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	if s, fast := appendUTCTime(b, t); fast {
		return s, ok
	}
	b = append(b, '"')
	n0 := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	switch {
	case len(b)-n0 < len("2006-01-02T15:04:05Z") || b[n0+len("9999")] != '-':
		ok = false
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		h := b[len(b)-len("07:00"):]
		if ('0' <= c && c <= '9') || 10*(h[0]-'0')+(h[1]-'0') >= 24 {
			ok = false
		}
	}
	return append(b, '"'), ok
}

// appendUTCTime appends t's JSON string when t is in UTC and its year has
// four digits, false (b as it was) otherwise. The times of records are in
// UTC: written here without the layout machinery (time.appendInt and its
// calls were 0.3k instructions a record of the mix; TestJSONLineAgrees,
// FuzzAppendJSONTime).
func appendUTCTime(b []byte, t time.Time) ([]byte, bool) {
	if t.Location() != time.UTC {
		return b, false
	}
	s, fits := appendStamp(append(b, '"'), t)
	if !fits {
		return b, false
	}
	return append(appendNanos(s, t.Nanosecond()), 'Z', '"'), true
}

// appendNanos appends ns (below 1e9) as RFC3339Nano's fraction: a dot
// and up to nine digits, its trailing zeros dropped; nothing for zero.
// The digits are written two at a time (a digit at a time, with a
// division each, was ~240 instructions a time of the corpus).
func appendNanos(b []byte, ns int) []byte {
	if ns == 0 {
		return b
	}
	u := uint32(ns) // unsigned: divisions by constants without a sign's corrections
	p1, p2, p3, p4 := 2*(u/1e7%100), 2*(u/1e5%100), 2*(u/1e3%100), 2*(u/10%100)
	d := [10]byte{'.', digits2[p1], digits2[p1+1], digits2[p2], digits2[p2+1],
		digits2[p3], digits2[p3+1], digits2[p4], digits2[p4+1], byte('0' + u%10)}
	n := len(d)
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}

// appendJSONString appends s quoted as encoding/json does without HTML
// escaping: quote, backslash and control characters escaped (\b \f \n \r
// \t by name), invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u escapes,
// all else as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	if plainJSON(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i := 0; i < len(s); {
		// Runs of plain bytes a word at a time (plainJSON's test).
		if i+8 <= len(s) {
			if x := le64(s[i : i+8]); (x|^plainSums(x))&highBits == 0 {
				i += 8
				continue
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainJSON reports whether s is written as it is in a JSON string: all
// ASCII, no control character, quote or backslash. It tests a word of 8
// bytes at a time (the last word overlapping the one before it). For a
// word of ASCII bytes no sum of plainSums carries out of its byte, and a
// byte's high bit is clear in b+0x60 when b is below a space, and in
// (b^'"')+0x7f and (b^'\\')+0x7f when b is a quote or a backslash; a word
// with a byte past ASCII has the byte's high bit set in the word itself
// (hi), whatever its sums say.
func plainJSON(s string) bool {
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	// good keeps a byte's high bit while its sums say it is plain; hi
	// gathers the bytes' own high bits. Two words a turn, then the last
	// one or two (the last overlapping).
	good, hi := uint64(highBits), uint64(0)
	i := 0
	for ; i+16 <= len(s); i += 16 {
		x, y := le64(s[i:i+8]), le64(s[i+8:i+16])
		good &= plainSums(x) & plainSums(y)
		hi |= x | y
	}
	if i+8 <= len(s) {
		x := le64(s[i : i+8])
		good &= plainSums(x)
		hi |= x
	}
	x := le64(s[len(s)-8:])
	good &= plainSums(x)
	hi |= x
	return (hi|^good)&highBits == 0
}

// highBits is the high bit of each byte of a word.
const highBits = 0x8080808080808080

// plainSums has a byte's high bit clear when, in a word x of ASCII bytes,
// the byte is below a space, a quote or a backslash (plainJSON).
func plainSums(x uint64) uint64 {
	const ones = 0x0101010101010101
	return (x + ones*0x60) & ((x ^ ones*'"') + ones*0x7f) & ((x ^ ones*'\\') + ones*0x7f)
}

// le64 is w's first eight bytes as a little-endian number (one load).
func le64(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}
