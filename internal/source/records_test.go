package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/azdetect/azdetect/internal/event"
)

// outcome is what a caller sees of one record: framing and parsing.
type outcome struct {
	Index  int
	Offset int64
	Bytes  string
	Text   bool
	Status Status
	Source string
	Err    string
}

func (o outcome) String() string {
	type fields outcome // without this method, which %+v would call again
	return fmt.Sprintf("%+v", fields(o))
}

// framedThenParsed is the reference: Records, then Parse of each record.
func framedThenParsed(t *testing.T, reg *Registry, body []byte) []outcome {
	t.Helper()
	var out []outcome
	_ = Records(bytes.NewReader(body), func(rec Record) error {
		o := outcome{Index: rec.Index, Offset: rec.Offset, Bytes: string(rec.Bytes), Text: rec.Text}
		if rec.Err != nil {
			o.Status, o.Err = Malformed, rec.Err.Error()
		} else {
			ev, status, err := reg.Parse(rec.Bytes)
			o.Status = status
			if ev != nil {
				o.Source = ev.Source
			}
			if err != nil {
				o.Err = err.Error()
			}
		}
		out = append(out, o)
		return nil
	})
	return out
}

func inOnePass(t *testing.T, reg *Registry, body []byte) []outcome {
	t.Helper()
	var out []outcome
	_ = reg.Records(bytes.NewReader(body), func(rec Record, ev *event.Event, status Status, err error) error {
		o := outcome{Index: rec.Index, Offset: rec.Offset, Bytes: string(rec.Bytes), Text: rec.Text, Status: status}
		if ev != nil {
			o.Source = ev.Source
		}
		if err != nil {
			o.Err = err.Error()
		}
		out = append(out, o)
		return nil
	})
	return out
}

// onePassSeeds are bodies where a line ending in "}" is not one record.
var onePassSeeds = []string{
	`{"time":"2026-11-20T08:00:00Z","category":"AuditEvent","operationName":"SecretGet","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"}` + "\n",
	`{"a":1} {"b":2}` + "\n" + `{"c":3}` + "\n",
	`{"a": {"x":1}` + "\n" + `, "b": 2}` + "\n",
	`{"a":"x}` + "\n" + `{"category":"AuditLogs"}` + "\n",
	`{"time":"t","category":"Nope"}` + "\r\n" + `  {"time":"t","category":"Nope", }` + "\n",
	`{"time":"2026-11-20T08:00:00Z","category":"AuditEvent","operationName":"SecretGet","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","properties":{"httpStatusCode":[1]}}` + "\n",
	`{"records":[{"time":"t","category":"Nope"}]}` + "\n" + `{"a":1}` + "\n",
	`{"a":1}}` + "\n" + "1.0;x;y\n" + `{"a":"\q"}` + "\n" + `{"a":1}`,
	"{\n  \"a\": 1\n}\n{\"b\":2}\n",
	`{"time":"2026-11-20T08:00:00Z","category":"SignInLogs","properties":{"id":"1"}} x}` + "\n",
	// "records" anywhere but first: an envelope (no time) is streamed, a
	// record (a time) is one record, parsed or not.
	`{"x":1,"records":[{"time":"2026-11-20T08:00:00Z","category":"AuditEvent"},{"a":1}]}` + "\n" + `{"a":1}` + "\n",
	`{"time":"2026-11-20T08:00:00Z","category":"Administrative","operationName":"x","records":[{"a":1}]}` + "\n",
	`{"Time":null,"category":"Administrative","records":[{"a":1}]}` + "\n" + `{"category":"Administrative","records":{"a":1}}` + "\n",
	`{"time":"2026-11-20T08:00:00Z","category":"Administrative","operationName":"x","properties":{"m":"\"records\""}}` + "\n",
	// Envelope elements, which Registry.Records yields unchecked: well
	// formed, then malformed in every way the framing tells apart.
	`{"records":[` + kvRecord + `,{"a":"\q"},{"a":1],` + kvRecord + `,{"a":1}}, {"b":[1,2}` + "\n" + `,{"c":"x` + "\n" + `y"},` + kvRecord + `]}`,
	`{"records":[` + kvRecord + `,{"time":"t","category":"Nope"},{"a":{"records":[1]}},"x",1,[` + kvRecord + `],` + kvRecord + `,{"a":"` + "\t" + `"}]}` + "\n",
	"{\n  \"records\": [\n    " + kvRecord + ",\n    {\"a\": 1,\n     \"b\": [1, 2]}\n  ,\n" + kvRecord + "\n  ]\n}\n",
	`{"records":[` + kvRecord + `,` + kvRecord[:len(kvRecord)-20],
	`{"records":[` + kvRecord + `,{"a":"b\\"},{"a":"b\"}"}, ` + kvRecord + `]}` + `{"records":[` + kvRecord + `]}`,
	`{"records":[` + kvRecord + "\n" + `{"time":"2026-11-20T08:00:00Z","category":"AuditEvent"},` + kvRecord + `]}`,
	`[` + kvRecord + `,` + kvRecord + `,{]` + "\n" + `[{"a":1}` + "\n",
	// Nested as deep as the framing's check takes, and one deeper.
	`{"records":[` + nested(kvRecord, 999) + `,` + nested(kvRecord, 1000) + `,` + kvRecord + `]}`,
}

// kvRecord is a Key Vault record its parser takes.
const kvRecord = `{"time":"2026-11-20T08:00:00Z","category":"AuditEvent","operationName":"SecretGet","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","properties":{"id":"1"}}`

// nested is rec with a member holding depth nested arrays.
func nested(rec string, depth int) string {
	return rec[:len(rec)-1] + `,"deep":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}"
}

// TestRecordsOnePass holds Registry.Records, which frames JSON Lines by
// their line ends and lets the parser check them, to exactly what framing
// and then parsing each record gives: the same records, offsets, statuses
// and errors, on the framing and malformed samples and on lines that only
// look like one record.
func TestRecordsOnePass(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	for i, s := range onePassSeeds {
		bodies[fmt.Sprintf("seed %d", i)] = []byte(s)
	}
	files, _ := filepath.Glob("../../testdata/*/*")
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.json") || strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		bodies[f] = b
	}
	if len(bodies) < len(onePassSeeds)+10 {
		t.Fatalf("only %d bodies: testdata not found", len(bodies))
	}
	for name, body := range bodies {
		want, got := framedThenParsed(t, reg, body), inOnePass(t, reg, body)
		if len(want) != len(got) {
			t.Errorf("%s: %d records in one pass, %d framed then parsed", name, len(got), len(want))
			continue
		}
		for i := range want {
			if want[i] != got[i] {
				t.Errorf("%s: record %d\none pass: %v\nreference: %v", name, i, got[i], want[i])
			}
		}
	}
}

func FuzzRecordsOnePass(f *testing.F) {
	for _, s := range onePassSeeds {
		f.Add([]byte(s))
	}
	reg, err := NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, got := framedThenParsed(t, reg, body), inOnePass(t, reg, body)
		if len(want) != len(got) {
			t.Fatalf("%d records in one pass, %d framed then parsed", len(got), len(want))
		}
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("record %d\none pass: %v\nreference: %v", i, got[i], want[i])
			}
		}
	})
}

// Lines that straddle the read buffer, read in pieces of any size, and a
// read error at the end: Registry.Records takes them on its fast path
// (reading on for the line's end) and yields exactly what framing and
// then parsing yield, the read error included, after every record read
// before it.
func TestRecordsOnePassAcrossBuffer(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	line := `{"time":"2026-11-20T08:00:00Z","category":"AuditEvent","operationName":"SecretGet","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","properties":{"id":"%d","pad":"%s"}}`
	var body bytes.Buffer
	for i := 0; body.Len() < 3*readBufferSize; i++ {
		fmt.Fprintf(&body, line+"\n", i, strings.Repeat("x", i%700))
		if i%50 == 7 {
			body.WriteString(`{"a":1} {"b":2}` + "\n") // not one record: reframed
		}
	}
	fmt.Fprintf(&body, line, 1, "last, no newline")
	sameAcrossBuffer(t, reg, body.Bytes())
}

// The elements of an envelope that straddle the read buffer, escapes cut
// between two reads, an element longer than the buffer, malformed ones,
// and the envelope cut short or by a read error: Registry.Records takes
// its elements on its fast path (reading on for an element's end) and
// yields exactly what framing and then parsing yield.
func TestRecordsOnePassEnvelopeAcrossBuffer(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	elem := `{"time":"2026-11-20T08:00:00Z","category":"AuditEvent","operationName":"SecretGet","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","properties":{"id":"%d","pad":"%s","q":"\\\"{[\\\\"}}`
	var body bytes.Buffer
	body.WriteString(`{"records":[`)
	for i := 0; body.Len() < 3*readBufferSize; i++ {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, elem, i, strings.Repeat("x", i%700))
		switch i % 40 {
		case 7:
			body.WriteString(`,{"a":1]`) // not one value: framed alone
		case 23:
			fmt.Fprintf(&body, ","+elem, i, strings.Repeat("y", readBufferSize+100)) // longer than the buffer
		}
	}
	whole := body.String() + "]}\n"
	sameAcrossBuffer(t, reg, []byte(whole))
	sameAcrossBuffer(t, reg, []byte(whole[:len(whole)-500])) // cut inside an element
}

// sameAcrossBuffer checks that Registry.Records yields what framing and
// then parsing yield on body read whole, in pieces of any size and with a
// read error after it.
func sameAcrossBuffer(t *testing.T, reg *Registry, body []byte) {
	t.Helper()
	readErr := errors.New("disk gone")
	collect := func(records func(io.Reader, func(rec Record, ev *event.Event, status Status, err error) error) error, r io.Reader) ([]outcome, error) {
		var out []outcome
		err := records(r, func(rec Record, ev *event.Event, status Status, err error) error {
			o := outcome{Index: rec.Index, Offset: rec.Offset, Bytes: string(rec.Bytes), Status: status}
			if err != nil {
				o.Err = err.Error()
			}
			out = append(out, o)
			return nil
		})
		return out, err
	}
	reference := func(r io.Reader, fn func(rec Record, ev *event.Event, status Status, err error) error) error {
		return Records(r, func(rec Record) error {
			if rec.Err != nil {
				return fn(rec, nil, Malformed, rec.Err)
			}
			ev, status, err := reg.Parse(rec.Bytes)
			return fn(rec, ev, status, err)
		})
	}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(body) }},
		{"halves", func() io.Reader { return iotest.HalfReader(bytes.NewReader(body)) }},
		{"bytes", func() io.Reader {
			return iotest.OneByteReader(bytes.NewReader(body[:min(len(body), 2*readBufferSize)]))
		}},
		{"then an error", func() io.Reader {
			return io.MultiReader(iotest.HalfReader(bytes.NewReader(body)), iotest.ErrReader(readErr))
		}},
	} {
		want, wantErr := collect(reference, tc.r())
		got, gotErr := collect(reg.Records, tc.r())
		if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) {
			t.Errorf("%s: error %v, want %v", tc.name, gotErr, wantErr)
		}
		if len(want) != len(got) || len(want) < 50 {
			t.Errorf("%s: %d records in one pass, %d framed then parsed", tc.name, len(got), len(want))
			continue
		}
		for i := range want {
			if want[i] != got[i] {
				t.Errorf("%s: record %d\none pass: %.300v\nreference: %.300v", tc.name, i, got[i], want[i])
				break
			}
		}
	}
}

// elementEnd finds the end of a valid value where event.SkipValue does,
// whether it is given the value whole or as its bytes come, one at a time:
// a wrong end would cost a second framing of the element (correct, slow).
func TestElementEnd(t *testing.T) {
	for _, v := range []string{
		`{}`, `{"a":1}`, `{"a":"}"}`, `{"a":"\"}"}`, `{"a":"\\"}`, `{"a":"\\\"}\\"}`,
		`{"a":[1,{"b":"]"}],"c":{"d":"\\\\\\\""}}`, `{"a":"x\u0022}"}`, "{\n \"a\" : [ ] \n}",
		kvRecord, nested(kvRecord, 999),
	} {
		body := v + `,{"next":1}]`
		want, err := event.SkipValue([]byte(body), 0)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		var e elementEnd
		if got := e.scan([]byte(body)); got != want {
			t.Errorf("%.60s: end %d whole, want %d", v, got, want)
		}
		e = elementEnd{}
		got := -1
		for n := 1; n <= len(body) && got < 0; n++ {
			got = e.scan([]byte(body[:n]))
		}
		if got != want {
			t.Errorf("%.60s: end %d a byte at a time, want %d", v, got, want)
		}
	}
	var e elementEnd
	if got := e.scan([]byte(nested(kvRecord, 1000))); got != -1 || !e.deep {
		t.Errorf("nested deeper than SkipValue takes: end %d, deep %v; want -1, true", got, e.deep)
	}
}

// endsBody is a body that gives record ends (RecordEnds).
type endsBody struct {
	*bytes.Reader
	ends []int32
}

func (b endsBody) RecordEnds() []int32 { return b.ends }

// A body's record ends (RecordEnds) are candidates only: right, wrong or
// missing, Registry.Records yields exactly the records, offsets, statuses
// and errors it yields without them.
func TestRecordsKnownEnds(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	for i, s := range onePassSeeds {
		bodies[fmt.Sprintf("seed %d", i)] = []byte(s)
	}
	bodies["envelope of many"] = []byte(`{"records":[` + strings.Repeat(kvRecord+",", 50) + kvRecord + `]}`)
	files, _ := filepath.Glob("../../testdata/*/*.json")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && !strings.HasSuffix(f, ".golden.json") {
			bodies[f] = b
		}
	}
	for name, body := range bodies {
		want := inOnePass(t, reg, body)
		// The right ends: where each element the framing yields ends
		// (not a malformed one's: the body gives none for a record nested
		// deeper than the framing's check takes).
		var right []int32
		for _, o := range want {
			if o.Status != Malformed {
				right = append(right, int32(o.Offset)+int32(len(o.Bytes)))
			}
		}
		every := make([]int32, len(body))
		for i := range every {
			every[i] = int32(i + 1)
		}
		var shifted, late []int32
		for _, e := range right {
			shifted = append(shifted, e-1)
			late = append(late, e+1)
		}
		for kind, ends := range map[string][]int32{"right": right, "every offset": every, "one short": shifted,
			"one late": late, "none": {}, "past the end": {int32(len(body) + 10)}} {
			var got []outcome
			_ = reg.Records(endsBody{bytes.NewReader(body), ends}, func(rec Record, ev *event.Event, status Status, err error) error {
				o := outcome{Index: rec.Index, Offset: rec.Offset, Bytes: string(rec.Bytes), Text: rec.Text, Status: status}
				if ev != nil {
					o.Source = ev.Source
				}
				if err != nil {
					o.Err = err.Error()
				}
				got = append(got, o)
				return nil
			})
			if len(got) != len(want) {
				t.Errorf("%s, ends %s: %d records, want %d", name, kind, len(got), len(want))
				continue
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s, ends %s: record %d\ngot:  %v\nwant: %v", name, kind, i, got[i], want[i])
				}
			}
		}
	}
}
