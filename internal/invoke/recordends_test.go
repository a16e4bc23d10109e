package invoke

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/source"
)

// refRecords is where the records of body start and end, by
// encoding/json: the object elements of its "records" array, or of a bare
// array.
func refRecords(t *testing.T, body string) (starts, ends []int32) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("%.80s: %v", body, err)
	}
	if tok == json.Delim('{') {
		for {
			name, err := dec.Token()
			if err != nil {
				t.Fatalf("%.80s: %v", body, err)
			}
			if name == "records" {
				break
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatalf("%.80s: %v", body, err)
			}
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			t.Fatalf("%.80s: records is not an array", body)
		}
	}
	for dec.More() {
		from := dec.InputOffset()
		var el json.RawMessage
		if err := dec.Decode(&el); err != nil {
			t.Fatalf("%.80s: %v", body, err)
		}
		if el[0] == '{' {
			end := dec.InputOffset()
			starts = append(starts, int32(from)+int32(strings.IndexByte(body[from:], '{')))
			ends = append(ends, int32(end))
		}
	}
	return starts, ends
}

// The record ends hostStrings finds while it decodes the host's text are
// what the framer needs (the first end past where a record starts is
// where it ends) as encoding/json finds the records, whatever the
// strings of the records hold (escaped quotes and backslashes, brackets,
// the ":" and "," hostElement decodes at once, \u escapes); a body nested
// deeper than the framing takes, or not one JSON value, gives none or
// others, which the framer only tries (source.TestRecordsKnownEnds).
func TestHostStringsRecordEnds(t *testing.T) {
	rec := func(v string) string { return `{"time":"t","v":` + v + `,"n":[1,{"m":"}"}],"x":{"y":{}}}` }
	bodies := []string{
		`{"records":[]}`,
		`{"records":[` + rec(`"a"`) + `]}`,
		`{"records":[` + rec(`"q\"}\"{"`) + `,` + rec(`"b\\"`) + `,` + rec(`"\\\"]"`) + `]}`,
		`{"records":[` + rec(`":"`) + `,` + rec(`","`) + `,` + rec(`"\",\""`) + `,` + rec(`"\":\"{"`) + `]}`,
		`{"records":[` + rec(`"\u0022}\u005c"`) + `,` + rec(`"\\\\"`) + `,` + rec(`"tab\there\n\/"`) + `]}`,
		`{"records":[` + rec(`[true,false,null,-1.5e3]`) + `,` + rec(`{}`) + `]}`,
		"{\n  \"other\": {\"a\": [{}, {\"b\": 1}]},\n  \"records\": [\n    " + rec(`"x"`) + " ,\n    " + rec(`"y"`) + "\n  ]\n}",
		`[` + rec(`"a"`) + `,` + rec(`{"b":[{"c":"]"}]}`) + `]`,
		`{"records":[` + rec(`"café 中文 🙂"`) + `]}`,
	}
	var recs []string
	for _, r := range benchcorpus.Generate(300) {
		if r.Source != "storageanalytics" {
			recs = append(recs, string(r.Line))
		}
	}
	for i := 0; i+10 <= len(recs); i += 10 {
		bodies = append(bodies, `{"records":[`+strings.Join(recs[i:i+10], ",")+`]}`)
	}
	data := jsonText(jsonText(bodies))
	elems, ends, end, err := hostStrings([]byte(data), 0)
	if err != nil || end != len(data) {
		t.Fatalf("hostStrings: end %d of %d, %v", end, len(data), err)
	}
	if len(elems) != len(bodies) || len(ends) != len(bodies) {
		t.Fatalf("%d elements, %d ends; want %d", len(elems), len(ends), len(bodies))
	}
	for i, body := range bodies {
		if string(elems[i]) != body {
			t.Fatalf("element %d: %.80s, want %.80s", i, elems[i], body)
		}
		starts, want := refRecords(t, body)
		if ends[i] == nil && len(want) > 0 {
			t.Errorf("body %d (%.60s): no ends", i, body)
		}
		for k, start := range starts {
			j := 0
			for j < len(ends[i]) && ends[i][j] <= start {
				j++
			}
			if j == len(ends[i]) || ends[i][j] != want[k] {
				t.Errorf("body %d (%.60s): record %d at %d: ends %v, want %d next", i, body, k, start, ends[i], want[k])
			}
		}
	}

	// No ends for a body the framing would not take whole.
	for _, body := range []string{
		`{"records":[{"a":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}]}`,
		`{"records":[{"a":"not closed}]}`,
		`{"records":[{"a":1}]}}`,
	} {
		data := jsonText(jsonText([]string{body}))
		_, ends, _, err := hostStrings([]byte(data), 0)
		if err != nil {
			t.Fatalf("%.60s: %v", body, err)
		}
		if ends[0] != nil {
			t.Errorf("%.60s: ends %v, want none", body, ends[0])
		}
	}
}

// An Event Hubs batch's inputs carry their record ends to the framer when
// the bodies are the host's text (dataType string), not when they are
// decoded from it (binary: base64).
func TestEventHubInputsRecordEnds(t *testing.T) {
	body := `{"records":[{"a":1},{"b":{"c":2}}]}`
	for _, tc := range []struct {
		dataType string
		data     string
		want     []int32
	}{
		{DataTypeString, jsonText(jsonText([]string{body})), []int32{19, 33}},
		{"", jsonText(jsonText([]string{body})), []int32{19, 33}},
		{DataTypeBinary, jsonText(jsonText([]string{"eyJyZWNvcmRzIjpbXX0="})), nil},
	} {
		t.Run(fmt.Sprintf("dataType %q", tc.dataType), func(t *testing.T) {
			req, err := ParseRequest([]byte(`{"Data":{"events":` + tc.data + `},"Metadata":{}}`))
			if err != nil {
				t.Fatal(err)
			}
			batch, err := DecodeEventHub(req, "events", tc.dataType)
			if err != nil {
				t.Fatal(err)
			}
			in := batch.Inputs()[0]
			re, ok := in.Body.(source.RecordEnds)
			if ok != (tc.want != nil) {
				t.Fatalf("body gives record ends: %v, want %v", ok, tc.want != nil)
			}
			if ok && !reflect.DeepEqual(re.RecordEnds(), tc.want) {
				t.Errorf("record ends %v, want %v", re.RecordEnds(), tc.want)
			}
			if b, _ := io.ReadAll(in.Body); tc.want != nil && string(b) != body {
				t.Errorf("body %q, want %q", b, body)
			}
		})
	}
}
