package source

import (
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
)

// unmarshal is the typed JSON decoder of the sources not yet moved to the
// one-pass decoder (decodeInto, below), and the reference that decoder is
// checked against (TestDecodeEquivalence, FuzzDecodeEquivalence).
// goccy/go-json matches member names like encoding/json (exact case first,
// then case-insensitively), which envelope relies on for Level/level;
// TestDecoderDrift checks it agrees with encoding/json.
func unmarshal(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The default text spells out the Go type; say which member and
		// what JSON it held, which is what a dead-letter reader needs.
		return fmt.Errorf("%w: %s holds a JSON %s, want %s", ErrMemberType, te.Field, te.Value, jsonKind(te.Type))
	}
	return err
}

// jsonKind names the JSON shape a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	}
	return t.Kind().String()
}

// text is a scalar Azure writes with drifting types: a string, a number
// ("Level": 4 or "4"; errorCode 0), a boolean, or null. It keeps the text
// of it; objects and arrays keep their JSON text.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		s, ok := event.Unquote(b)
		if !ok {
			return fmt.Errorf("invalid string %.40q", b)
		}
		*t = text(s)
	case 'n':
		*t = ""
	default:
		*t = text(b)
	}
	return nil
}

// String returns the value with surrounding blanks trimmed (claim values
// carry stray spaces).
func (t text) String() string { return trimSpace(string(t)) }

// embedded is a member written either as a JSON object or as a string that
// holds one (properties, additionalInfo, requestbody...). Null, an empty
// string or a string that is not JSON leave V zero: such a member is not
// what makes a record malformed.
type embedded[T any] struct{ V T }

func (e *embedded[T]) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	if b[0] == '"' {
		s, ok := event.Unquote(b)
		s = strings.TrimSpace(s)
		if !ok || s == "" || (s[0] != '{' && s[0] != '[') {
			return nil
		}
		_ = unmarshal([]byte(s), &e.V) // a string holding pseudo-JSON is kept raw only
		return nil
	}
	if b[0] != '{' && b[0] != '[' {
		return nil
	}
	return unmarshal(b, &e.V)
}

// envelope is the common top level of resource-log records (log-schemas §3).
type envelope struct {
	Time              text `json:"time"`
	ResourceID        text `json:"resourceId"`
	OperationName     text `json:"operationName"`
	Category          text `json:"category"`
	ResultType        text `json:"resultType"`
	ResultSignature   text `json:"resultSignature"`
	ResultDescription text `json:"resultDescription"`
	CallerIPAddress   text `json:"callerIpAddress"`
	CorrelationID     text `json:"correlationId"`
	TenantID          text `json:"tenantId"`
	Location          text `json:"location"`
	// Both occur in one record (Alert, ServiceHealth: "Level": 5 beside
	// "level": "Informational"); distinct tags keep both.
	LevelUpper text `json:"Level"`
	LevelLower text `json:"level"`
}

// fill sets the fields every source reads the same way, and the event time.
func (e *envelope) fill(ev *event.Event) error {
	t, err := eventTime(e.Time.String())
	if err != nil {
		return err
	}
	ev.Time = t
	ev.Category = e.Category.String()
	ev.Operation = e.OperationName.String()
	ev.CorrelationID = e.CorrelationID.String()
	ev.TenantID = e.TenantID.String()
	ev.Severity = severity(e.LevelLower.String(), e.LevelUpper.String())
	ev.Resource = event.ParseResourceID(e.ResourceID.String())
	return nil
}

// eventTime parses the record's time; missing or unparseable is an error
// (the record is malformed: never stamped with arrival time).
func eventTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, ErrMissingTime
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, fmt.Errorf("%w %q", ErrInvalidTime, s)
	}
	return t, nil
}

// timeLayouts are the forms of log-schemas §15, tried in order. Go's
// non-padded hour ("15" accepts "9") and month/day ("1/2") cover the
// one-digit forms; fractional seconds of any length parse after ".".
var timeLayouts = []string{
	time.RFC3339Nano,                      // 2019-10-18T09:45:48.0729893Z, +00:00, -05:00, T9:59:27.958Z
	"2006-01-02T15:04:05.999999999",       // no zone: UTC
	"2006-01-02 15:04:05.999999999Z07:00", // space separated
	"2006-01-02 15:04:05.999999999",
	"1/2/2006 3:04:05 PM",        // 8/22/2022 6:11:52 PM
	"1/2/2006 3:04:05 PM -07:00", // 11/3/2020 9:06:42 AM +00:00
	"1/2/2006 15:04:05",
	time.RFC1123,                     // Fri, 21 Jul 2017 01:00:51 GMT
	time.RFC1123Z,                    // Fri, 21 Jul 2017 01:00:51 +0000
	"Monday, 02-Jan-06 15:04:05 MST", // RFC 850
}

// parseTime parses any of timeLayouts, always returning UTC.
func parseTime(s string) (time.Time, bool) {
	s = trimSpace(s)
	if t, ok := parseUTCStamp(s); ok {
		return t, true
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseUTCStamp reads the time stamp nearly every record writes,
// 2026-11-20T08:00:00.2910000Z (RFC 3339 in UTC, up to nine digits of
// fraction), as time.Parse with RFC3339Nano reads it, without its layout
// machinery. ok is false for any other form, or a field out of range
// (time.Date must not normalise it): parseTime then asks time.Parse.
func parseUTCStamp(s string) (time.Time, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	return ParseUTCClock(s[:len(s)-1])
}

// ParseUTCClock reads 2006-01-02T15:04:05 with a fraction of 1 to 9
// digits or none and nothing after it, in UTC, as time.Parse would with
// that layout; ok is false for any other form or a field out of range.
// A record's stamp (parseUTCStamp, its Z cut) and the Functions host's
// enqueued times (invoke.ParseHostTime, which write no zone) are read by it.
func ParseUTCClock(s string) (time.Time, bool) {
	if len(s) < 19 || len(s) > 29 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	// Two digits at s[i]: a byte that is no digit makes its value 100
	// or more, past every range checked.
	d2 := func(i int) int {
		h, l := s[i]-'0', s[i+1]-'0'
		if h > 9 || l > 9 {
			return 100
		}
		return int(h)*10 + int(l)
	}
	century, year, month, day := d2(0), d2(2), d2(5), d2(8)
	hour, minute, sec := d2(11), d2(14), d2(17)
	if century > 99 || year > 99 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	year += 100 * century
	nsec := 0
	if frac := s[19:]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		for i := 1; i < 10; i++ {
			nsec *= 10
			if i < len(frac) {
				c := frac[i] - '0'
				if c > 9 {
					return time.Time{}, false
				}
				nsec += int(c)
			}
		}
	}
	if day > 28 && day > daysIn(year, month) {
		return time.Time{}, false // past the month's end: time.Parse says so
	}
	// time.Date(year, month, day, hour, minute, sec, nsec, time.UTC),
	// the same Time, without its normalising of every field.
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(secs, int64(nsec)).UTC(), true
}

// daysIn is the number of days of month (1..12) in year.
func daysIn(year, month int) int {
	if month == 2 {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (month+month>>3)&1 // 31 for January, March... July, August...
}

// daysFromCivil is the number of days from 1970-01-01 to year-month-day
// of the proleptic Gregorian calendar (year 0..9999; H. Hinnant's
// days_from_civil, over eras of 400 years, counted from year -400 so
// that no division is of a negative number).
func daysFromCivil(year, month, day int) int64 {
	y := year + 400
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400                                     // 0..399
	doy := (153*(month+9-12*((month+9)/12))+2)/5 + day - 1 // March first: 0..365
	doe := yoe*365 + yoe/4 - yoe/100 + doy                 // 0..146096
	return int64(era-1)*146097 + int64(doe) - 719468
}

// severity normalises the first level of levels that means something:
// numbers 1..5 (Critical..Verbose) and the words, including the older
// "Information". The lower-case level is passed first by callers: where
// both exist it is the word and the number is the less precise one.
func severity(levels ...string) string {
	var buf [40]byte
	for _, l := range levels {
		switch string(lowerWord(&buf, trimSpace(l))) {
		case "1", "critical":
			return event.SeverityCritical
		case "2", "error":
			return event.SeverityError
		case "3", "warning":
			return event.SeverityWarning
		case "4", "informational", "information", "info":
			return event.SeverityInformational
		case "5", "verbose":
			return event.SeverityVerbose
		}
	}
	return ""
}

// callerIP returns the first non-empty address with any port removed
// ("1.2.3.4:443", "[::1]:443"). Anything that is not ip:port (a bare IPv6,
// a malformed "::"-prefixed one) is kept as written.
func callerIP(candidates ...text) string {
	for _, c := range candidates {
		s := c.String()
		if s == "" {
			continue
		}
		if a, ok := addrOfAddrPort(s); ok {
			return a
		}
		return s
	}
	return ""
}

// addrOfAddrPort returns the address of s when s is ip:port, as
// netip.ParseAddrPort(s).Addr().String() does, without its allocations in
// the usual cases: a bare address (no port: nothing to parse) and an IPv4
// ip:port, whose address as written is its canonical form.
func addrOfAddrPort(s string) (string, bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", false // ParseAddrPort needs a port
	}
	if s[0] != '[' && strings.IndexByte(s, ':') != i {
		return "", false // an unbracketed IPv6 address: never ip:port
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", false
	}
	if ap.Addr().Is4() && s[0] != '[' {
		return s[:i], true
	}
	return ap.Addr().String(), true
}

// first returns the first non-blank value, trimmed.
func first(vals ...text) string {
	for _, v := range vals {
		if s := v.String(); s != "" {
			return s
		}
	}
	return ""
}

// One-pass decoding. The hottest sources fill their typed records with
// decoder instead of unmarshal: one strict scan of the record (the grammar
// encoding/json accepts) that decodes the members it knows as it meets them
// and checks the rest, with the rules of unmarshal kept exactly:
//
//   - member names match a field exactly, else the first field (in struct
//     order) equal under case folding; a later duplicate overwrites, and a
//     duplicate object merges into the struct;
//   - text and embedded behave as their UnmarshalJSON methods;
//   - a struct member holding another kind of value is a type error worded
//     as unmarshal words it; decoding goes on and the first one is
//     returned, unless the record is not valid JSON: then encoding/json's
//     syntax error is (what unmarshal returns too).
//
// TestDecodeEquivalence and FuzzDecodeEquivalence (envelope_test.go) check
// both decodings agree on arbitrary input.
//
// Strings without escapes share the record's bytes instead of copying them:
// parsers are handed ev.Raw, which is never written once parsed.
type decoder struct {
	event.Scanner
	err  error      // the first type error
	path []pathElem // to the value being decoded, from the root of its unmarshal
	buf  [8]pathElem
	// layout, when set, collects where the members of the objects
	// decoded are (event.Layout); B is then the event's Raw.
	layout *event.Layout
	// lenient: decoding an embedded JSON text (decodeEmbedded), whose
	// errors are dropped and what was decoded before one is kept.
	lenient bool
	// preds are the member predictions learned, by plan id (predictor);
	// they outlive the records, as the decoder does (decoderPool).
	preds []planPredictions
}

// decodeRecord decodes raw with decode, which is given the index of the
// top-level value, and returns what unmarshal would.
func decodeRecord(raw []byte, decode func(d *decoder, vi int) int) error {
	return decodeRecordLayout(raw, nil, decode)
}

// decodeRecordLayout is decodeRecord that also keeps the layout of the
// objects it decodes in layout (nil: none).
func decodeRecordLayout(raw []byte, layout *event.Layout, decode func(d *decoder, vi int) int) error {
	if len(raw) > 1<<31-1 {
		layout = nil // offsets are int32
	}
	d := decoders.get()
	defer decoders.put(d)
	d.Scanner, d.layout = event.Scanner{B: raw}, layout
	d.path = d.buf[:0]
	d.End(decode(d, d.WS(0)))
	if d.Bad {
		return syntaxError(raw)
	}
	return d.err
}

// pooled hands out zeroed values of T, reused: the decoder and the typed
// records parsers decode into escape (the decoder reaches them through
// function values), so one allocated per record would be garbage each.
type pooled[T any] struct{ p sync.Pool }

func (p *pooled[T]) get() *T {
	if v, ok := p.p.Get().(*T); ok {
		return v
	}
	return new(T)
}

// put zeroes v, dropping its references into the record, and keeps it.
// Nothing may hold v, or anything of it but strings, afterwards.
func (p *pooled[T]) put(v *T) {
	var zero T
	*v = zero
	p.p.Put(v)
}

var decoders decoderPool

// decoderPool keeps decoders for reuse in a few slots: a decoder keeps
// what it learned (preds) from record to record, which sync.Pool would
// drop at each collection, and a slot is one atomic swap where a
// sync.Pool's Get and Put showed in profiles. Decoders beyond the slots
// (more goroutines decoding at once) are left to the collector.
type decoderPool struct{ slots [8]atomic.Pointer[decoder] }

func (p *decoderPool) get() *decoder {
	for i := range p.slots {
		if d := p.slots[i].Swap(nil); d != nil {
			return d
		}
	}
	return new(decoder)
}

// put drops d's references into the record and keeps it.
func (p *decoderPool) put(d *decoder) {
	preds := d.preds
	*d = decoder{preds: preds}
	for i := range p.slots {
		if p.slots[i].CompareAndSwap(nil, d) {
			return
		}
	}
}

// decodeEmbedded decodes the JSON text s held by a string member, as
// embedded does: errors are dropped, what was decoded before one is kept.
func decodeEmbedded(s string, decode func(d *decoder, vi int) int) {
	d := decoders.get()
	defer decoders.put(d)
	// s is read, never written (the decoder shares its strings as it
	// does the record's): no copy of it.
	d.Scanner = event.Scanner{B: unsafe.Slice(unsafe.StringData(s), len(s))}
	d.path = d.buf[:0]
	d.lenient = true
	d.End(decode(d, d.WS(0)))
}

// syntaxError returns encoding/json's error for raw, which the scanner
// found not to be valid JSON (unmarshal reports the same text).
func syntaxError(raw []byte) error {
	var v any
	if err := stdjson.Unmarshal(raw, &v); err != nil {
		return err
	}
	return ErrInvalidJSON // unreachable while the scanner and encoding/json agree
}

// shared returns b as a string without copying: b is part of a record
// that is never written again.
func shared(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// pathElem is a step from the value an unmarshal decodes to the value a
// type error is of: a member name (raw) or an array index.
type pathElem struct {
	key   []byte
	plain bool
	index int // -1: a member
}

func (d *decoder) pushKey(key []byte, plain bool) { d.path = append(d.path, pathElem{key, plain, -1}) }
func (d *decoder) pushIndex(i int)                { d.path = append(d.path, pathElem{index: i}) }
func (d *decoder) pop()                           { d.path = d.path[:len(d.path)-1] }

// root starts the path of a value decoded as an unmarshal of its own; the
// caller restores the path returned.
func (d *decoder) root() []pathElem {
	saved := d.path
	d.path = d.path[len(d.path):]
	return saved
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// typeError records the type error of the value at vi, at the end of
// d.path, whose Go type decodes from want: worded as unmarshal words it.
func (d *decoder) typeError(vi int, want string) {
	if d.err != nil {
		return
	}
	names := make([]string, len(d.path))
	for i, e := range d.path {
		if e.index >= 0 {
			names[i] = strconv.Itoa(e.index)
		} else {
			names[i] = pointerEscaper.Replace(keyName(e.key, e.plain))
		}
	}
	d.err = fmt.Errorf("%w: %s holds a JSON %s, want %s", ErrMemberType, strings.Join(names, "."), valueKind(d.B[vi]), want)
}

// keyName decodes a raw member name.
func keyName(key []byte, plain bool) string {
	if plain {
		return string(key[1 : len(key)-1])
	}
	s, _ := event.Unquote(key)
	return s
}

// valueKind names the JSON kind of the value starting with c.
func valueKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '[':
		return "array"
	case '{':
		return "object"
	}
	return "number"
}

// text decodes the value at vi into t, as text.UnmarshalJSON does.
func (d *decoder) text(vi int, t *text) int {
	b := d.B
	if vi >= len(b) {
		return d.Skip(vi)
	}
	switch b[vi] {
	case '"':
		end, plain := d.String(vi)
		if d.Bad {
			return end
		}
		if plain {
			*t = text(shared(b[vi+1 : end-1]))
		} else {
			s, _ := event.Unquote(b[vi:end])
			*t = text(s)
		}
		return end
	case 'n':
		end := d.Skip(vi)
		if !d.Bad {
			*t = ""
		}
		return end
	}
	end := d.Skip(vi)
	if !d.Bad {
		*t = text(shared(b[vi:end]))
	}
	return end
}

// decodeStruct decodes the value at vi into the struct at p of plan pl.
// null leaves the struct as it is; another kind of value is a type error.
// Each member is one turn of one loop: its name scanned and looked up,
// its value decoded into its field or checked, and its place kept in the
// layout. The usual member (an ASCII name of up to 32 bytes written
// compactly, "name":value, found in its first slot or not a field, and a
// plain ASCII string value or another struct) takes no call but the
// struct's: names and strings are scanned with event.PlainStop, inlined,
// so the loop's values stay in registers. Anything else is handed to the
// scanner's methods (Scanner.Name, String, Skip), which decide it as
// before.
func (d *decoder) decodeStruct(vi int, pl *plan, p unsafe.Pointer) int {
	b := d.B
	if vi >= len(b) {
		return d.Skip(vi)
	}
	switch b[vi] {
	case '{':
	case 'n':
		return d.Skip(vi)
	default:
		end := d.Skip(vi)
		if !d.Bad {
			d.typeError(vi, "object")
		}
		return end
	}
	obj, prev := int32(-1), int32(-1)
	if d.layout != nil {
		obj = int32(len(d.layout.Objects))
		d.layout.Objects = append(d.layout.Objects, int32(vi))
		d.layout.First = append(d.layout.First, -1)
	}
	f := pl.fields
	ents := d.predictions(pl)
	if obj >= 0 {
		d.layout.Tables = append(d.layout.Tables, tableNumber(ents))
	}
	cur := predStart
	i, more := d.Open(vi)
	for more {
		var (
			k            []byte
			plain, ascii bool
			word         uint64
			vj, fi       int
			learn        = true
		)
		// A run of predicted members with plain string values, in a
		// loop of its own (predictedRun); with no layout (an embedded
		// JSON text, decodeInto), the predicted member alone, here.
		if x := ents[cur].next; x != 0 && obj >= 0 {
			var at int
			switch i, cur, prev, at = predictedRun(b, i, ents, cur, p, d.layout, obj, prev, d.Depth); at {
			case runClosed:
				d.Depth--
				return i
			case runAfterValue:
				i, more = d.Next(i)
				continue
			case runMatched:
				// The name is entry cur's, as written when learned.
				e := &ents[cur]
				n := int(e.n)
				k, plain, ascii, vj, fi = b[i:i+n-1], true, true, i+n, int(e.fi)
				goto decoded
			}
			// runMissed: neither prediction matched.
		} else if x != 0 {
			// The member predicted to follow the last one (predictor),
			// when its name is written here as it was then, "name": and
			// no blank before the value: its field is known, without
			// scanning the name or looking it up.
			e := &ents[x]
			// e.matches(b, i), inlined (too large for the compiler to).
			if n := int(e.n); i+8 <= len(b) && i+n < len(b) && event.Word(b, i)&e.mask == e.first &&
				(n <= 8 || event.Word(b, i+n-8) == e.last && (n <= 16 || e.midEqual(b, i, n))) && b[i+n] > ' ' {
				k, plain, ascii, vj, fi, cur = b[i:i+n-1], true, true, i+n, int(e.fi), int(x)
				goto decoded
			}
			// The member that followed before that: records of two
			// shapes taking turns.
			if x = ents[cur].alt; x != 0 {
				if e = &ents[x]; e.matches(b, i) {
					n := int(e.n)
					k, plain, ascii, vj, fi, cur = b[i:i+n-1], true, true, i+n, int(e.fi), int(x)
					goto decoded
				}
			}
		}
		// Scanner.Name's usual case, inlined: the name's closing quote
		// at the first stop, then ':' and no blank before the value.
		// (The closing quote, ':' and the value's first byte read as
		// one word: a member near the end of B goes to Name.)
		if e := event.PlainStop(b, i+1); e+8 <= len(b) && i+9 <= len(b) && b[i] == '"' &&
			event.Word(b, e)&0xffff == ':'<<8|'"' && byte(event.Word(b, e)>>16) > ' ' {
			word = event.Word(b, i+1)
			if n := e - i - 1; n < 8 {
				word &= 1<<(8*uint(n)) - 1
			}
			k, plain, ascii, vj = b[i:e+1], true, true, e+2
		} else if k, plain, ascii, word, vj = d.Name(i); d.Bad {
			return len(b)
		} else {
			learn = false
		}
		fi = -1
		if n := len(k) - 2; !ascii {
			fi = f.find(k, plain)
		} else if f.lens&(1<<min(n, 63)) != 0 {
			// findASCII, inlined.
			h := foldHash(n, word) & f.mask
			if e := &f.table[h]; e.single >= 0 && e.first == word && len(e.lower) == n &&
				(n <= 8 || n <= 32 && event.Word(k, n-7) == e.last &&
					(n <= 16 || event.Word(k, 9) == e.mid[0] && (n <= 24 || event.Word(k, 17) == e.mid[1]))) {
				fi = e.single
			} else {
				fi = f.findASCIIProbe(k, word, h)
			}
		}
		if learn {
			cur = learnMember(ents, cur, fi, pl.ops, b, i, vj-i, word)
		} else {
			cur = predNowhere
		}
	decoded:
		// The member's entry and its generation, taken before its value
		// is decoded (a struct of the same plan inside it could relearn
		// the entry): the name is the entry's at this generation. (Not
		// a member's, predNowhere's tag is 0: unknown.)
		name := ents[cur].tag
		var j int
		switch {
		case fi < 0:
			if vj < len(b) && b[vj] == '"' {
				if e := event.PlainStop(b, vj+1); e < len(b) && b[e] == '"' {
					j = e + 1
				} else if j, _ = d.String(vj); d.Bad { // Name skipped the blanks
					return len(b)
				}
			} else if j = d.Skip(vj); d.Bad {
				return len(b)
			}
		case pl.ops[fi].text:
			t := (*text)(unsafe.Add(p, pl.ops[fi].off))
			if vj < len(b) && b[vj] == '"' {
				// d.text's string case, without the call.
				if e := event.PlainStop(b, vj+1); e < len(b) && b[e] == '"' {
					j = e + 1
					*t = text(shared(b[vj+1 : e]))
				} else {
					var plain bool
					if j, plain = d.String(vj); d.Bad {
						return len(b)
					}
					if plain {
						*t = text(shared(b[vj+1 : j-1]))
					} else {
						s, _ := event.Unquote(b[vj:j])
						*t = text(s)
					}
				}
			} else if j = d.text(vj, t); d.Bad {
				return len(b)
			}
		default:
			if j = d.member(&pl.ops[fi], k, plain, vj, p); d.Bad {
				return len(b)
			}
		}
		if obj >= 0 {
			l := d.layout
			ks := int32(cap(b) - cap(k)) // k is a sub-slice of B
			m := int32(len(l.Members))
			if int(m) == cap(l.Members) {
				l.Members = append(l.Members, event.MemberSpan{})
			} else {
				l.Members = l.Members[:m+1]
			}
			// Field by field: a MemberSpan made whole was built on the
			// stack and copied.
			ms := &l.Members[m]
			ms.Object, ms.KeyStart, ms.KeyEnd = obj, ks+1, ks+int32(len(k))-1
			ms.ValStart, ms.ValEnd, ms.Next = int32(vj), int32(j), -1
			ms.Name = name
			if prev < 0 {
				l.First[obj] = m
			} else {
				l.Members[prev].Next = m
			}
			prev = m
		}
		// Next's compact cases, without the call.
		if j+8 <= len(b) {
			if w := event.Word(b, j); w&0xffff == '"'<<8|',' {
				i = j + 1
				continue
			} else if byte(w) == '}' {
				d.Depth--
				return j + 1
			}
		} else if j+1 < len(b) && b[j] == '}' {
			d.Depth--
			return j + 1
		}
		i, more = d.Next(j)
	}
	return i
}

// Where predictedRun stopped.
const (
	runMissed     = iota // at the start of a member whose name neither prediction matched
	runMatched           // at the start of a member of entry cur (its name matched), not taken
	runAfterValue        // past a member's value, before what follows it (not ,")
	runClosed            // past the object's closing brace
)

// predictedRun is decodeStruct's loop for the usual member: predicted
// (the entry that followed cur last, or the one before that), written as
// learned, compactly, a text field or none, holding a plain ASCII string
// or an integer, true, false or null (scalarEnd), and followed by ," or
// the object's closing brace. It takes such members one after another
// from the one at b[i] and returns where it stopped (the position, how:
// runMissed, runMatched, runAfterValue or runClosed), with cur and prev
// (the last member's layout index) as decodeStruct keeps them, in layout
// l (not nil; obj is the object's index there). A member it does not
// take is left whole: nothing of it is stored; when its name matched
// (runMatched), cur is its entry, so that decodeStruct does not compare
// the names again. Its own function, so that its few values stay in
// registers: decodeStruct's loop holds too many. It calls nothing on
// the usual path (a call spills every value): strings are scanned here,
// sixteen bytes at a time (event.StopWord); and the members it takes are chained
// (MemberSpan.Next) as they are written, each to the next index, the
// last one mended when it stops. An object or array value of a member
// that is no field is checked by a scanner at depth (the object's, as
// decodeStruct's): a call, but no return to decodeStruct.
func predictedRun(b []byte, i int, ents []predEntry, cur int, p unsafe.Pointer, l *event.Layout, obj, prev int32, depth int) (int, int, int32, int) {
	// Entries by index without bounds checks: cur, and every next
	// learnMember sets, are indices of ents.
	eb := unsafe.Pointer(unsafe.SliceData(ents))
	bp := unsafe.Pointer(unsafe.SliceData(b))
	m0 := len(l.Members)
	m := m0
	var at int // set where the loop stops: nothing of it is carried from member to member
	for {
		c := (*predEntry)(unsafe.Add(eb, uintptr(cur)*unsafe.Sizeof(predEntry{})))
		x := c.next
		e := (*predEntry)(unsafe.Add(eb, uintptr(x)*unsafe.Sizeof(predEntry{})))
		n := int(e.n)
		// e.matches(b, i), written out; else the member that followed
		// before (records of two shapes taking turns).
		if x == 0 || i+8 > len(b) || i+n >= len(b) || event.Word(b, i)&e.mask != e.first ||
			n > 8 && (event.Word(b, i+n-8) != e.last || n > 16 && !e.midEqual(b, i, n)) || b[i+n] <= ' ' {
			if x = c.alt; x == 0 {
				at = runMissed
				break
			}
			// e.matches(b, i), written out too: records of several
			// shapes (a sign-in's categories) take this way often.
			e = (*predEntry)(unsafe.Add(eb, uintptr(x)*unsafe.Sizeof(predEntry{})))
			if n = int(e.n); i+8 > len(b) || i+n >= len(b) || event.Word(b, i)&e.mask != e.first ||
				n > 8 && (event.Word(b, i+n-8) != e.last || n > 16 && !e.midEqual(b, i, n)) || b[i+n] <= ' ' {
				at = runMissed
				break
			}
		}
		cur = int(x)
		if e.kind == predOther || m == cap(l.Members) {
			at = runMatched
			break
		}
		vj := i + n // < len(b)
		var j int   // past the value
		if *(*byte)(unsafe.Add(bp, vj)) == '"' {
			// event.PlainStop16, written out for a string of up to 47
			// bytes (the usual value: a loop here would reload every
			// value on each turn); a longer one, or one near the end
			// of b, goes on in PlainStop16.
			j = vj + 1
			if j <= len(b)-48 {
				s0, s1 := plainStops16(b, j)
				if s0|s1 == 0 {
					j += 16
					if s0, s1 = plainStops16(b, j); s0|s1 == 0 {
						j += 16
						if s0, s1 = plainStops16(b, j); s0|s1 == 0 {
							s0 = 0 // PlainStop16 goes on from j
							j = event.PlainStop16(b, j+16)
						}
					}
				}
				if s0 != 0 {
					j += bits.TrailingZeros64(s0) >> 3
				} else if s1 != 0 {
					j += 8 + bits.TrailingZeros64(s1)>>3
				}
			} else {
				j = event.PlainStop16(b, j)
			}
			if j >= len(b) || *(*byte)(unsafe.Add(bp, j)) != '"' {
				at = runMatched
				break
			}
			j++
			if e.kind == predText {
				// As decoder.text: a string's content (written as its
				// header: unsafe.String would check what is known).
				*(*stringHeader)(unsafe.Add(p, e.off)) = stringHeader{unsafe.Add(bp, vj+1), j - vj - 2}
			}
		} else if j = scalarEnd(b, vj); j < 0 {
			// An object or array that is no field (a sign-in's
			// authenticationDetails): checked here, by a scanner
			// at the object's depth, rather than handed back to
			// decodeStruct to check alike; a bad one is, as is
			// any other value.
			if c := *(*byte)(unsafe.Add(bp, vj)); c != '{' && c != '[' || e.kind != predSkip {
				at = runMatched
				break
			}
			s := event.Scanner{B: b, Depth: depth}
			if j = s.Skip(vj); s.Bad {
				at = runMatched
				break
			}
		} else if e.kind == predText {
			// As decoder.text: null "", another value as written.
			t := (*text)(unsafe.Add(p, e.off))
			if *(*byte)(unsafe.Add(bp, vj)) == 'n' {
				*t = ""
			} else {
				*t = text(unsafe.String((*byte)(unsafe.Add(bp, vj)), j-vj))
			}
		}
		ms := (*event.MemberSpan)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(l.Members)), uintptr(m)*unsafe.Sizeof(event.MemberSpan{})))
		ms.Object, ms.KeyStart, ms.KeyEnd = obj, int32(i+1), int32(vj-2)
		m++
		ms.ValStart, ms.ValEnd, ms.Next = int32(vj), int32(j), int32(m)
		ms.Name = e.tag
		i = j
		if j+8 > len(b) {
			at = runAfterValue
			break
		}
		if w := event.Word(b, j); w&0xffff != '"'<<8|',' {
			at = runAfterValue
			if byte(w) == '}' {
				i, at = j+1, runClosed
			}
			break
		}
		i = j + 1
	}
	if m > m0 {
		// Chain the members taken to the one before them, and mend
		// the last one's Next.
		mem := l.Members[:m]
		if prev < 0 {
			l.First[obj] = int32(m0)
		} else {
			mem[prev].Next = int32(m0)
		}
		mem[m-1].Next = -1
		prev = int32(m - 1)
		l.Members = l.Members[:m]
	}
	return i, cur, prev, at
}

// stringHeader is how a string is laid out: predictedRun writes the
// text it decodes as one, its data in the record.
type stringHeader struct {
	data unsafe.Pointer
	len  int
}

// plainStops16 is event.StopWord of the two words of b[j:j+16].
func plainStops16(b []byte, j int) (uint64, uint64) {
	return event.StopWord(event.Word(b, j)), event.StopWord(event.Word(b, j+8))
}

// scalarEnd returns the end of the integer, true, false or null at b[i]
// when a ',' or '}' follows it, else -1: anything else (a fraction, an
// exponent, a blank, a malformed value, one near the end of b) is left
// to the scanner.
func scalarEnd(b []byte, i int) int {
	if i+8 > len(b) {
		return -1
	}
	end := -1
	switch w := event.Word(b, i); byte(w) {
	case 't':
		if uint32(w) == 't'|'r'<<8|'u'<<16|'e'<<24 {
			end = i + 4
		}
	case 'f':
		if w&(1<<40-1) == 'f'|'a'<<8|'l'<<16|'s'<<24|'e'<<32 {
			end = i + 5
		}
	case 'n':
		if uint32(w) == 'n'|'u'<<8|'l'<<16|'l'<<24 {
			end = i + 4
		}
	default:
		k := i
		if b[k] == '-' {
			k++
		}
		if b[k] == '0' {
			end = k + 1
		} else if b[k]-'1' < 9 {
			for k++; k < len(b) && b[k]-'0' < 10; k++ {
			}
			end = k
		}
	}
	if end < 0 || end >= len(b) || b[end] != ',' && b[end] != '}' {
		return -1
	}
	return end
}

// member decodes the value at vi of the member named key into its field
// of the struct at p, by o: a struct, or a custom decoder.
func (d *decoder) member(o *op, key []byte, plain bool, vi int, p unsafe.Pointer) int {
	fp := unsafe.Add(p, o.off)
	switch {
	case o.sub != nil:
		d.pushKey(key, plain)
		end := d.decodeStruct(vi, o.sub, fp)
		d.pop()
		return end
	case o.nested:
		d.pushKey(key, plain)
		end := o.custom(d, key, plain, vi, fp)
		d.pop()
		return end
	}
	return o.custom(d, key, plain, vi, fp)
}

// embedded decodes the value at vi as embedded.UnmarshalJSON does: an
// object or an array with decode (as an unmarshal of its own, whose first
// error is the member's), a string holding one with decode and no error,
// anything else not at all.
func (d *decoder) embedded(vi int, decode func(d *decoder, vi int) int) int {
	b := d.B
	if vi >= len(b) {
		return d.Skip(vi)
	}
	switch b[vi] {
	case '{', '[':
		if d.lenient {
			// unmarshal hands UnmarshalJSON a whole value only: one
			// cut short or malformed (met where errors are dropped) is
			// not decoded at all, where decode would keep what it
			// decoded before the error.
			s := event.Scanner{B: b, Depth: d.Depth}
			if s.Skip(vi); s.Bad {
				return d.Skip(vi)
			}
		}
		saved := d.root()
		end := decode(d, vi)
		d.path = saved
		return end
	case '"':
		end, plain := d.String(vi)
		if d.Bad {
			return end
		}
		var s string
		if plain {
			s = shared(b[vi+1 : end-1])
		} else {
			s, _ = event.Unquote(b[vi:end])
		}
		if s = strings.TrimSpace(s); s != "" && (s[0] == '{' || s[0] == '[') {
			decodeEmbedded(s, decode)
		}
		return end
	}
	return d.Skip(vi)
}

// fieldSet is the member names of a struct's fields, in struct order,
// in an open-addressing table keyed by the names' ASCII lower case.
type fieldSet struct {
	names []string
	table []foldEntry
	mask  int
	lens  uint64 // bit n: a name of n bytes (63: longer)
}

type foldEntry struct {
	lower  string // "": an empty slot
	fields []int  // the fields of this folded name, in struct order
	single int    // fields[0] when it is the only one, else -1
	// The name of fields[0] as written, as little-endian words: bytes
	// 0..8 (zero past its end) and, when longer, its last eight; mid
	// holds bytes 8..16 and 16..24 of a name that long.
	first, last uint64
	mid         [2]uint64
}

// firstWord returns the first eight bytes of the quoted member name key
// (zero past its closing quote) as a little-endian word: one load from
// key's array when it holds them.
func firstWord(key []byte) uint64 {
	n := len(key) - 2
	if cap(key) < 9 {
		var x uint64
		for i := min(n, 8) - 1; i >= 0; i-- {
			x = x<<8 | uint64(key[1+i])
		}
		return x
	}
	x := binary.LittleEndian.Uint64(key[1:cap(key)])
	if n < 8 {
		x &= 1<<(8*uint(n)) - 1
	}
	return x
}

// foldHash hashes a name by its length and first eight bytes (as
// firstWord reads them), with 0x20 set in each: the same for any case of
// an ASCII name.
func foldHash(n int, first uint64) int {
	return int(((first | 0x2020202020202020) ^ uint64(n)) * 0x9e3779b97f4a7c15 >> 40)
}

func newFieldSet(names ...string) *fieldSet {
	size := 8
	for size < 4*len(names) {
		size *= 2
	}
	f := &fieldSet{names: names, table: make([]foldEntry, size), mask: size - 1}
	for i, n := range names {
		if n == "" || !isASCII([]byte(n)) {
			panic("source: member name " + n + " is not ASCII")
		}
		f.lens |= 1 << min(len(n), 63)
		l := strings.ToLower(n)
		h := foldHash(len(n), firstWord([]byte(`"`+n+`"`))) & f.mask
		for f.table[h].lower != "" && f.table[h].lower != l {
			h = (h + 1) & f.mask
		}
		e := &f.table[h]
		if e.lower == "" {
			w := []byte(n + "\x00\x00\x00\x00\x00\x00\x00\x00")
			e.first = binary.LittleEndian.Uint64(w)
			if len(n) > 8 {
				e.last = binary.LittleEndian.Uint64(w[len(n)-8:])
			}
			for k := range e.mid {
				if len(n) > 8*(k+2) {
					e.mid[k] = binary.LittleEndian.Uint64(w[8*(k+1):])
				}
			}
		}
		e.lower = l
		e.fields = append(e.fields, i)
	}
	for h := range f.table {
		e := &f.table[h]
		e.single = -1
		if len(e.fields) == 1 {
			e.single = e.fields[0]
		}
	}
	return f
}

// find returns the field of the raw member name key (see the rules on
// decoder), or -1.
func (f *fieldSet) find(key []byte, plain bool) int {
	n := len(key) - 2
	if !plain || n <= 0 || f.lens&(1<<min(n, 63)) == 0 {
		return f.findRare(key, plain)
	}
	first := firstWord(key)
	if i := f.findASCIIProbe(key, first, foldHash(n, first)&f.mask); i >= 0 {
		return i
	}
	if k := key[1 : n+1]; !isASCII(k) {
		return f.findSlow(shared(k))
	}
	return -1
}

// findASCII is find for a plain ASCII name (Scanner.Name's ascii), whose
// first eight bytes are word: ASCII folding keeps a name's length, and
// no other name can match. The usual case, a name of up to 32 bytes
// written as its one field writes it, in its first slot, is settled here
// by comparing words (small enough to be inlined); findASCIIProbe does
// the rest.
func (f *fieldSet) findASCII(key []byte, word uint64) int {
	n := len(key) - 2
	if f.lens&(1<<min(n, 63)) == 0 {
		return -1 // (an empty name too: no field has one)
	}
	h := foldHash(n, word) & f.mask
	// A name has no NUL (a control character), so equal words and
	// lengths are equal names.
	if e := &f.table[h]; e.single >= 0 && e.first == word && len(e.lower) == n &&
		(n <= 8 || n <= 32 && event.Word(key, n-7) == e.last &&
			(n <= 16 || event.Word(key, 9) == e.mid[0] && (n <= 24 || event.Word(key, 17) == e.mid[1]))) {
		return e.single
	}
	return f.findASCIIProbe(key, word, h)
}

// findASCIIProbe is findASCII from slot h on, and find's probe (a
// name that is not ASCII compares as ASCII folding compares it; find
// then tries the Unicode folds).
func (f *fieldSet) findASCIIProbe(key []byte, word uint64, h int) int {
	n := len(key) - 2
	for ; ; h = (h + 1) & f.mask {
		e := &f.table[h]
		if e.lower == "" {
			return -1
		}
		if len(e.lower) != n {
			continue
		}
		k := key[1 : n+1]
		if len(e.fields) == 1 {
			fi := e.fields[0]
			if n <= 16 {
				if word == e.first && (n <= 8 || binary.LittleEndian.Uint64(k[n-8:]) == e.last) {
					return fi
				}
			} else if string(k) == f.names[fi] {
				return fi
			}
			if equalFoldASCII(k, e.lower) {
				return fi
			}
			continue
		}
		if !equalFoldASCII(k, e.lower) {
			continue
		}
		for _, i := range e.fields {
			if f.names[i] == string(k) {
				return i
			}
		}
		return e.fields[0]
	}
}

// findRare is find for an escaped name, an empty one, or one of a length
// no field has.
func (f *fieldSet) findRare(key []byte, plain bool) int {
	if !plain {
		return f.findSlow(keyName(key, false))
	}
	// Folding keeps the length of ASCII; only a non-ASCII name (the
	// Kelvin sign folds to k) may match a name of another length.
	if k := key[1 : len(key)-1]; !isASCII(k) {
		return f.findSlow(shared(k))
	}
	return -1
}

// equalFoldASCII reports whether k equals lower, a lower-case ASCII name,
// ignoring ASCII case (a byte of k that is not ASCII never equals).
func equalFoldASCII(k []byte, lower string) bool {
	i := 0
	for ; i+8 <= len(k) && i+8 <= len(lower); i += 8 {
		// Eight bytes at once: none may be non-ASCII; those in 'A'..'Z'
		// (at or past 'A', before '[': no carry leaves a byte below
		// 0x80) get 0x20 added.
		x := binary.LittleEndian.Uint64(k[i:])
		if x&0x8080808080808080 != 0 {
			return false
		}
		upper := (x + 0x3f3f3f3f3f3f3f3f) &^ (x + 0x2525252525252525) & 0x8080808080808080
		x |= upper >> 2
		l := lower[i : i+8]
		y := uint64(l[0]) | uint64(l[1])<<8 | uint64(l[2])<<16 | uint64(l[3])<<24 |
			uint64(l[4])<<32 | uint64(l[5])<<40 | uint64(l[6])<<48 | uint64(l[7])<<56
		if x != y {
			return false
		}
	}
	for ; i < len(k); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func (f *fieldSet) findSlow(s string) int {
	for i, n := range f.names {
		if n == s {
			return i
		}
	}
	for i, n := range f.names {
		if strings.EqualFold(n, s) {
			return i
		}
	}
	return -1
}

func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// plan is how decoder fills one struct type, made once from the type by
// planOf: its fields by member name (an embedded struct's fields promoted
// in place, as encoding/json orders them) and how each decodes.
type plan struct {
	fields *fieldSet
	ops    []op
	id     int // its index in a decoder's predictions
}

// plans counts the plans made (their ids).
var plans atomic.Int64

type op struct {
	off    uintptr // of the field in the struct
	text   bool    // a text field
	sub    *plan   // a struct field
	custom decodeFunc
	nested bool // custom decodes a struct, pointer or slice: its type errors name the member
}

// decodeFunc decodes the value at vi of the member named key into the
// field at p.
type decodeFunc func(d *decoder, key []byte, plain bool, vi int, p unsafe.Pointer) int

// customDecoders decode the field types that are neither text nor plain
// structs (embedded[T] is handled by planOf): keyed by type.
var customDecoders = map[reflect.Type]decodeFunc{}

// embeddedType is implemented by embedded[T].
type embeddedType interface{ embeddedValue() reflect.Type }

func (embedded[T]) embeddedValue() reflect.Type { return reflect.TypeFor[T]() }

var textType = reflect.TypeFor[text]()

// planOf makes the plan of struct type t. It panics on a field type it
// does not know: plans are made when the package loads.
func planOf(t reflect.Type) *plan {
	var names []string
	var ops []op
	var add func(t reflect.Type, base uintptr)
	add = func(t reflect.Type, base uintptr) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				add(f.Type, base+f.Offset)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if !f.IsExported() || name == "-" {
				continue
			}
			for _, n := range names {
				if n == name {
					panic("source: planOf " + t.String() + ": member " + name + " twice")
				}
			}
			o := op{off: base + f.Offset}
			switch ft := f.Type; {
			case customDecoders[ft] != nil:
				o.custom = customDecoders[ft]
			case ft == textType:
				o.text = true
			case reflect.PointerTo(ft).Implements(reflect.TypeFor[embeddedType]()):
				// V is the first and only field of embedded[T].
				v := valueDecoder(reflect.New(ft).Interface().(embeddedType).embeddedValue())
				o.custom = func(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int {
					return d.embedded(vi, func(d *decoder, vi int) int { return v(d, vi, p) })
				}
			case ft.Kind() == reflect.Struct:
				o.sub = planOf(ft)
			default:
				v := valueDecoder(ft)
				o.custom = func(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int { return v(d, vi, p) }
				o.nested = true
			}
			names = append(names, name)
			ops = append(ops, o)
		}
	}
	add(t, 0)
	return newPlan(names, ops)
}

// newPlan makes a plan of the fields named names, decoded by ops, with
// an id of its own: a decoder's predictions of one plan name fields of
// that plan only (another plan's would be a wrong field, or none).
func newPlan(names []string, ops []op) *plan {
	return &plan{fields: newFieldSet(names...), ops: ops, id: int(plans.Add(1) - 1)}
}

// valueDecoder returns how a value of type t (a struct, a pointer to one,
// a slice of them) decodes into the memory at p, as unmarshal does.
func valueDecoder(t reflect.Type) func(d *decoder, vi int, p unsafe.Pointer) int {
	switch t.Kind() {
	case reflect.Struct:
		pl := planOf(t)
		return func(d *decoder, vi int, p unsafe.Pointer) int { return d.decodeStruct(vi, pl, p) }
	case reflect.Pointer:
		if t.Elem().Kind() != reflect.Struct {
			break
		}
		pl := planOf(t.Elem())
		return func(d *decoder, vi int, p unsafe.Pointer) int {
			// null sets nil; anything else is decoded into the value,
			// allocated first when nil (even for a value in error).
			if vi < len(d.B) && d.B[vi] == 'n' {
				end := d.Skip(vi)
				if !d.Bad {
					*(*unsafe.Pointer)(p) = nil
				}
				return end
			}
			ep := *(*unsafe.Pointer)(p)
			if ep == nil {
				ep = reflect.New(t.Elem()).UnsafePointer()
				*(*unsafe.Pointer)(p) = ep
			}
			return d.decodeStruct(vi, pl, ep)
		}
	case reflect.Slice:
		return sliceDecoder(t)
	}
	panic("source: no decoder for " + t.String())
}

// inPlaceSliceLength: the elements of an array up to this index (or the
// slice's capacity) are decoded into the slice's own array, over what an
// earlier duplicate member left there, as unmarshal does; the later ones
// into zero values.
const inPlaceSliceLength = 64

// sliceDecoder decodes arrays into slices of t as unmarshal does: null
// sets nil, [] an empty slice (or length 0, keeping the array), and the
// elements are decoded into the slice's array as it grows.
func sliceDecoder(t reflect.Type) func(d *decoder, vi int, p unsafe.Pointer) int {
	elem := valueDecoder(t.Elem())
	return func(d *decoder, vi int, p unsafe.Pointer) int {
		b := d.B
		sv := reflect.NewAt(t, p).Elem()
		if vi < len(b) && b[vi] == 'n' {
			end := d.Skip(vi)
			if !d.Bad {
				sv.SetZero()
			}
			return end
		}
		if vi >= len(b) || b[vi] != '[' {
			end := d.Skip(vi)
			if !d.Bad {
				d.typeError(vi, "array")
			}
			return end
		}
		i, more := d.OpenArray(vi)
		if !more {
			if !d.Bad {
				if sv.IsNil() {
					sv.Set(reflect.MakeSlice(t, 0, 0))
				} else {
					sv.SetLen(0)
				}
			}
			return i
		}
		size := t.Elem().Size()
		limit := max(sv.Cap(), inPlaceSliceLength)
		var long reflect.Value // the elements from limit on
		for idx := 0; ; idx++ {
			var ep unsafe.Pointer
			if idx < limit {
				if idx+1 > sv.Cap() {
					sv.SetLen(idx)
					sv.Grow(max(idx+1, 4) - idx)
				}
				ep = unsafe.Add(sv.UnsafePointer(), uintptr(idx)*size)
			} else {
				if !long.IsValid() {
					long = reflect.New(t).Elem()
				}
				long = reflect.Append(long, reflect.Zero(t.Elem()))
				ep = long.Index(long.Len() - 1).Addr().UnsafePointer()
			}
			d.pushIndex(idx)
			end := elem(d, i, ep)
			d.pop()
			i, more = d.NextElem(end)
			if d.Bad || !more {
				n := idx + 1
				if !long.IsValid() {
					sv.SetLen(n)
					return i
				}
				if sv.Cap() < n {
					nv := reflect.New(t).Elem()
					nv.Grow(n)
					nv.SetLen(limit)
					reflect.Copy(nv, sv.Slice(0, limit))
					sv.Set(nv)
				}
				sv.SetLen(n)
				reflect.Copy(sv.Slice(limit, n), long)
				return i
			}
		}
	}
}

// decodeEvent is decodeInto for a record's own parse: raw is ev.Raw, and
// the layout of the objects decoded is kept in ev.Layout for the rule
// engine (only when the record decodes without error).
func decodeEvent[T any](raw []byte, ev *event.Event, pl *plan, v *T) error {
	layout := event.NewLayout()
	err := decodeRecordLayout(raw, layout, func(d *decoder, vi int) int {
		return d.decodeStruct(vi, pl, unsafe.Pointer(v))
	})
	if err == nil && len(raw) > 0 && &raw[0] == unsafe.SliceData(ev.Raw) && ev.Layout == nil {
		ev.Layout = layout
	} else {
		event.ReleaseLayout(layout)
	}
	if err == nil && len(raw) == len(ev.Raw) && len(raw) > 0 && &raw[0] == unsafe.SliceData(ev.Raw) {
		// The strict decoding checked all of ev.Raw as json.Valid would
		// (the scanner's grammar, the bytes after the value too): a
		// snapshot keeping the record need not check it again.
		ev.MarkRawValid()
	}
	return err
}

// decodeInto decodes raw into v, a pointer to a struct of plan pl, as
// unmarshal(raw, v) does.
func decodeInto[T any](raw []byte, pl *plan, v *T) error {
	return decodeRecord(raw, func(d *decoder, vi int) int {
		return d.decodeStruct(vi, pl, unsafe.Pointer(v))
	})
}

// Member prediction. The members of Azure's records come in the same
// order record after record, so the member after a given one is most
// often the one that followed it last time. A decoder keeps, per plan,
// what it met: an entry per field and per unknown name (by hash), each
// holding the raw name last met for it ("name": as written, as words)
// and the entry that followed it. decodeStruct compares the next
// member's bytes with the predicted name's: equal bytes are the same
// name, so the same field (or none), as the lookup answered when it was
// learned. A wrong prediction costs one compare; the lookup then
// answers and the entry learns.
type predEntry struct {
	first, mask uint64    // the name's first eight bytes, masked to its length
	last        uint64    // its last eight bytes, when longer than eight
	mid         [8]uint64 // bytes 8..72, as far as it is longer than sixteen
	n           int32     // bytes of "name": (0: nothing learned)
	// gen is the entry's generation: 1 when it learns its first name,
	// one more each time it learns another (event.MemberSpan.Name). An
	// entry at the last one learns no other name (learnMember). tag is
	// the entry's index and gen as MemberSpan.Name holds them (0 for
	// predStart and predNowhere, whose gen is not one).
	gen  int32
	tag  uint64
	fi   int32 // its field, or -1
	next int32 // the entry that followed it last (0: none)
	alt  int32 // the one that followed it before that (0: none)
	// kind is how predictedRun takes the member: predSkip (no field),
	// predText (a text field at off in the struct), or predOther (left
	// to decodeStruct: a struct or custom field, or nothing learned).
	kind uint8
	off  uintptr
}

const (
	predOther = iota
	predSkip
	predText
)

// matches reports whether the member at b[i:] is e's name written
// compactly ("name": and no blank before the value).
func (e *predEntry) matches(b []byte, i int) bool {
	n := int(e.n)
	return i+8 <= len(b) && i+n < len(b) && event.Word(b, i)&e.mask == e.first &&
		(n <= 8 || event.Word(b, i+n-8) == e.last && (n <= 16 || e.midEqual(b, i, n))) && b[i+n] > ' '
}

const (
	predStart   = 0 // the entry before an object's first member
	predNowhere = 1 // after a member not learned: predicts nothing useful
	predFields  = 2 // field fi's entry is predFields+fi
	// predUnknown entries for names that are no field (a power of two),
	// by their hash: a record's unknown names (a sign-in's fifteen and
	// more, an activity's claim URIs) that share a slot take it from
	// each other record after record, and each time both predictions
	// after them miss. 32 slots cost sign-ins 2k instructions a record
	// in such misses, 128 about 0.16k a mix record more than 256 (120
	// bytes an entry, per plan used, per decoder).
	predUnknown = 256
	predMaxName = 80 // longest "name": learned (claim URIs run to 70)
)

// sameName reports whether e holds the "name": of n bytes at b[i:] (b
// holds eight bytes from i and from i+n-8, n <= predMaxName).
func (e *predEntry) sameName(b []byte, i, n int) bool {
	if int(e.n) != n || e.gen == 0 {
		return false
	}
	mask := ^uint64(0)
	if n < 8 {
		mask = 1<<(8*uint(n)) - 1
	}
	if event.Word(b, i)&mask != e.first || n > 8 && event.Word(b, i+n-8) != e.last {
		return false
	}
	for k := 8; k < n-8; k += 8 {
		if event.Word(b, i+k) != e.mid[k>>3-1] {
			return false
		}
	}
	return true
}

// midEqual compares bytes 8..n-8 of the name at b[i:] with e's
// (16 < n <= predMaxName, i+n <= len(b)).
func (e *predEntry) midEqual(b []byte, i, n int) bool {
	// Bytes 8..16 first, written out: most names longer than sixteen
	// bytes are no longer than 24 (then the one word), and the loop's
	// setup cost more than the compare.
	if event.Word(b, i+8) != e.mid[0] {
		return false
	}
	for k := 16; k < n-8; k += 8 {
		if event.Word(b, i+k) != e.mid[k>>3-1] {
			return false
		}
	}
	return true
}

// planPredictions are a decoder's entries for one plan.
// Each table of entries has a number (event.Layout.Tables, tableNumber),
// held by its entry predStart as its gen (no member's entry).
type planPredictions struct {
	pl   *plan
	ents []predEntry
}

// predTables numbers the decoders' tables of entries (predictions): a
// number is never given twice, so it stands for one table for the
// process's life; beyond the last int32, tables get 0 (unnumbered).
var predTables atomic.Int64

// predictions returns the decoder's entries for plan pl. They are kept
// by pl.id, and checked to be pl's: a plan that shared its id with
// another (one not made by newPlan) would start over each time, never
// take the other's fields.
func (d *decoder) predictions(pl *plan) []predEntry {
	if pl.id < len(d.preds) {
		if p := &d.preds[pl.id]; p.pl == pl {
			return p.ents
		}
	} else {
		d.preds = append(d.preds, make([]planPredictions, pl.id+1-len(d.preds))...)
	}
	ents := make([]predEntry, predFields+len(pl.ops)+predUnknown)
	d.preds[pl.id] = planPredictions{pl, ents}
	return ents
}

// tableNumber returns the number of the table ents (planPredictions),
// numbering it when it has none yet; 0 when the numbers ran out.
func tableNumber(ents []predEntry) int32 {
	if t := ents[predStart].gen; t != 0 {
		return t
	}
	if n := predTables.Add(1); n <= math.MaxInt32 {
		ents[predStart].gen = int32(n)
	}
	return ents[predStart].gen
}

// learnMember learns that the member at b[i:], whose "name": of n bytes
// is plain ASCII (first eight bytes of the name: word) and of field fi
// (-1: none) of the fields decoded by ops, followed entry cur; it returns
// the member's entry. b holds eight bytes from i and from i+n-8.
func learnMember(ents []predEntry, cur, fi int, ops []op, b []byte, i, n int, word uint64) int {
	if n > predMaxName {
		return predNowhere
	}
	x := predFields + fi
	if fi < 0 {
		x = predFields + len(ops) + foldHash(n, word)&(predUnknown-1)
	}
	e := &ents[x]
	if !e.sameName(b, i, n) {
		// Another name: another generation, never an earlier one (an
		// entry at the last keeps its name, predicting nothing else).
		if e.gen == math.MaxInt32 {
			return predNowhere
		}
		e.gen++
		e.tag = uint64(uint32(e.gen))<<32 | uint64(uint32(x))
	}
	if fi < 0 {
		e.kind = predSkip
	} else if o := &ops[fi]; o.text {
		e.kind, e.off = predText, o.off
	} else {
		e.kind = predOther
	}
	mask := ^uint64(0)
	if n < 8 {
		mask = 1<<(8*uint(n)) - 1
	}
	e.first, e.mask, e.n, e.fi = event.Word(b, i)&mask, mask, int32(n), int32(fi)
	if n > 8 {
		e.last = event.Word(b, i+n-8)
	}
	for k := 8; k < n-8; k += 8 {
		e.mid[k>>3-1] = event.Word(b, i+k)
	}
	if c := &ents[cur]; c.next != int32(x) {
		c.alt, c.next = c.next, int32(x)
	}
	return x
}
