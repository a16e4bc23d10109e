package invoke

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostQuote is a JSON string as the host writes one: quotes, backslashes
// and control characters escaped, every other byte as it is (invalid
// UTF-8 too: the test's, the host never sends it).
func hostQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hostBodies is Data.<binding> of an Event Hubs batch as the host writes
// it: the JSON array of the bodies' strings, itself a JSON string.
func hostBodies(bodies []string) string {
	quoted := make([]string, len(bodies))
	for i, body := range bodies {
		quoted[i] = hostQuote(body)
	}
	return hostQuote("[" + strings.Join(quoted, ",") + "]")
}

// hostileString is a JSON string value built of what hostRun and
// hostElement treat apart: runs of plain bytes of every length (every
// alignment of what follows to the 16-byte words), the body's quotes and
// backslashes escaped, the ":" and "," between quotes, brackets, control
// characters, \u escapes (surrogates too), UTF-8 of every length, and
// when bad is set invalid bytes and control characters not escaped.
func hostileString(r *rand.Rand, bad bool) string {
	pieces := []string{`\"`, `\\`, `\":\"`, `\",\"`, `{`, `}`, `[`, `]`, `:`, `,`,
		`\n`, `\t`, `\/`, `\u0001`, `\u0022`, `\u005c`, `\u00e9`, `\ud83d\ude42`, "é", "中", "🙂", `\\\"`}
	var b strings.Builder
	b.WriteByte('"')
	for range r.IntN(6) {
		switch k := r.IntN(10); {
		case k < 4:
			b.WriteString(strings.Repeat(string(rune('a'+r.IntN(26))), r.IntN(40)))
		case k < 9 || !bad:
			b.WriteString(pieces[r.IntN(len(pieces))])
		case r.IntN(2) == 0:
			b.WriteByte(0x80 + byte(r.IntN(0x80))) // not UTF-8 alone
		default:
			b.WriteByte(byte(r.IntN(0x20))) // not JSON: the host escapes it (\u0001)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hostileValue is a JSON value of hostileString's strings, numbers,
// literals, objects and arrays, depth levels deep at most.
func hostileValue(r *rand.Rand, depth int, bad bool) string {
	switch k := r.IntN(8); {
	case k < 3 || depth == 0:
		return hostileString(r, bad)
	case k == 3:
		return []string{"0", "-12.5e3", "775", "true", "false", "null"}[r.IntN(6)]
	case k < 6:
		var b strings.Builder
		b.WriteByte('{')
		for m := range r.IntN(5) {
			if m > 0 {
				b.WriteByte(',')
			}
			b.WriteString(hostileString(r, bad) + ":" + hostileValue(r, depth-1, bad))
		}
		b.WriteByte('}')
		return b.String()
	default:
		var b strings.Builder
		b.WriteByte('[')
		for m := range r.IntN(4) {
			if m > 0 {
				b.WriteByte(',')
			}
			b.WriteString(hostileValue(r, depth-1, bad))
		}
		b.WriteByte(']')
		return b.String()
	}
}

// Bodies of hostile records, as the host double-encodes them, decode to
// themselves whatever they hold, invalid UTF-8 included (the one-pass
// path keeps bytes as they are); those of valid UTF-8 to what encoding/json
// makes of the request too; and the record ends found on the way are the
// records' (for JSON bodies: each record's is the first end past its
// start), or none. Cut bodies (not JSON) decode to themselves as well.
func TestHostStringsHostileBodies(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2026))
	for round := range 300 {
		bad := round%3 == 2
		bodies := make([]string, 1+r.IntN(8))
		for i := range bodies {
			recs := make([]string, r.IntN(5))
			for k := range recs {
				recs[k] = `{"time":"2026-11-20T09:00:00Z","v":` + hostileValue(r, 3, bad) + `}`
			}
			bodies[i] = `{"records":[` + strings.Join(recs, ",") + `]}`
			if r.IntN(10) == 0 {
				bodies[i] = bodies[i][:r.IntN(len(bodies[i])+1)] // not JSON
			}
		}
		data := hostBodies(bodies)
		elems, ends, end, err := hostStrings([]byte(data), 0)
		if err != nil || end != len(data) {
			t.Fatalf("round %d: hostStrings: end %d of %d, %v", round, end, len(data), err)
		}
		for i, body := range bodies {
			if string(elems[i]) != body {
				t.Fatalf("round %d, body %d: %q\nwant %q", round, i, elems[i], body)
			}
			if !json.Valid([]byte(body)) {
				continue
			}
			starts, want := refRecords(t, body)
			if ends[i] == nil {
				continue // none: the framer finds them
			}
			for k, start := range starts {
				j := 0
				for j < len(ends[i]) && ends[i][j] <= start {
					j++
				}
				if j == len(ends[i]) || ends[i][j] != want[k] {
					t.Fatalf("round %d, body %d (%q): record %d at %d: ends %v, want %d next", round, i, body, k, start, ends[i], want[k])
				}
			}
		}

		// The same through the request, against encoding/json.
		reqBody := []byte(`{"Data":{"events":` + data + `},"Metadata":{}}`)
		req, err := ParseRequest(reqBody)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		sameIntoReusedText(t, reqBody, req, err)
		if !utf8.ValidString(data) {
			continue // encoding/json replaces invalid bytes
		}
		ref, err := refRequest(reqBody)
		if err != nil {
			t.Fatalf("round %d: encoding/json: %v", round, err)
		}
		want, err := refBodies(ref.Data["events"], DataTypeString)
		if err != nil {
			t.Fatalf("round %d: encoding/json: %v", round, err)
		}
		batch, err := DecodeEventHub(req, "events", DataTypeString)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, ev := range batch.Events {
			if !bytes.Equal(ev.Body, []byte(want[i])) {
				t.Fatalf("round %d, body %d: %q\nencoding/json %q", round, i, ev.Body, want[i])
			}
		}
	}
}

// A body far longer than a word at every turn, and one of a few megabytes,
// decode whole; a batch whose text ends anywhere is refused or decoded as
// encoding/json decodes it, never read past its end.
func TestHostStringsLongAndCut(t *testing.T) {
	long := `{"records":[{"a":"` + strings.Repeat(`x\"y:z,`, 300000) + `","b":[` + strings.Repeat(`{"c":"d"},`, 1000) + `{}]}]}`
	bodies := []string{long, "", `{}`, strings.Repeat("é", 33)}
	data := hostBodies(bodies)
	elems, _, end, err := hostStrings([]byte(data), 0)
	if err != nil || end != len(data) {
		t.Fatalf("hostStrings: end %d of %d, %v", end, len(data), err)
	}
	for i, body := range bodies {
		if string(elems[i]) != body {
			t.Fatalf("body %d: %.80q, want %.80q", i, elems[i], body)
		}
	}
	short := hostBodies([]string{`{"records":[{"a":"b","c":"d"},{"e":[1,{"f":"g"}]}]}`, `{"x":"\\"}`})
	for cut := range len(short) {
		// A copy of its own, so that a read past the cut is one past
		// the slice (the race detector and -d=checkptr see those).
		b := append([]byte(nil), short[:cut]...)
		elems, _, end, err := hostStrings(b, 0)
		if err != nil {
			continue
		}
		var want []string
		if json.Unmarshal(b[:end], new(string)) != nil || DecodeValue(b[:end], &want) != nil {
			t.Fatalf("cut at %d: decoded %q, encoding/json refuses %q", cut, elems, b[:end])
		}
		for i := range want {
			if string(elems[i]) != want[i] {
				t.Fatalf("cut at %d: %q, encoding/json %q", cut, elems, want)
			}
		}
	}
}

// A backslash of a body outside its strings (not JSON) leaves it without
// record ends, however the host's text escapes it, as one the framing
// would refuse whole.
func TestHostStringsBackslashOutsideStrings(t *testing.T) {
	for _, body := range []string{
		`{"records":[{"a":1},\"{"b":2}]}`,
		`{"records":[{"a":"x"}\"]}`,
		`{"records":[{"a":1}]}\\`,
		`{"records":[{"a":"` + strings.Repeat("y", 20) + `"},\"` + strings.Repeat(`"z",`, 5) + `{}]}`,
	} {
		elems, ends, _, err := hostStrings([]byte(hostBodies([]string{body})), 0)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if string(elems[0]) != body || ends[0] != nil {
			t.Errorf("%s: decoded %s, ends %v; want itself and none", body, elems[0], ends[0])
		}
	}
}
