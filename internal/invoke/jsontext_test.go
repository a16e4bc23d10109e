package invoke

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// refRequest is what encoding/json makes of a request body: the reference
// parseRequestInto and hostStrings are checked against.
func refRequest(b []byte) (Request, error) {
	var req Request
	if err := json.Unmarshal(b, &req); err != nil {
		return Request{}, err
	}
	return req, nil
}

// refBodies decodes Data.<binding> as DecodeEventHub did with
// encoding/json alone: a JSON string holding a JSON array, each element
// read by eventBody.
func refBodies(raw json.RawMessage, dataType string) ([]string, error) {
	var elems []json.RawMessage
	if err := DecodeValue(raw, &elems); err != nil {
		return nil, err
	}
	out := []string{}
	for _, el := range elems {
		b, err := eventBody(el, dataType)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// The host's double-encoded arrays are decoded in one pass (hostStrings),
// to what encoding/json makes of them; what hostStrings does not take
// (surrogate pairs, escapes it does not know, elements that are not
// strings) goes the general way, with the same result.
func TestHostStringsMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		data string // Data.events as sent
		fast bool   // hostStrings takes it
	}{
		{"records", jsonText(jsonText([]string{`{"records":[{"a":"b \"q\" \\ c"}]}`, `{"records":[]}`})), true},
		{"empty array", `"[]"`, true},
		{"empty strings", jsonText(jsonText([]string{"", "", ""})), true},
		{"blanks between elements", `"[ \"a\" ,\n\"b\" ]"`, true},
		{"control escapes", jsonText(jsonText([]string{"tab\there\nline\r\u0001\b\f"})), true},
		{"slashes escaped", `"[\"a\\/b\",\"c\/d\"]"`, true},
		{"unicode escaped", `"[\"caf\\u00e9 \\u4e2d\"]"`, true},
		{"unicode raw", jsonText(jsonText([]string{"café 中文 🙂"})), true},
		{"backslashes", jsonText(jsonText([]string{`\\server\share\`, `\"`, `\\\"`})), true},
		{"names and values", jsonText(jsonText([]string{`{"a":"b","c":"d","e":1,"f":"g",` + strings.Repeat(`"h":"i",`, 9) + `"j":""}`})), true},
		{"quote pairs at the edges", jsonText(jsonText([]string{`":"`, `","`, `"":""`, `x":"`, `":`, `",`, `"a":"bcdefghijkl"`, `:"",""`})), true},
		{"escaped quotes beside pairs", jsonText(jsonText([]string{`{"a":"":"","b":"",""}`})), true},
		{"long plain runs", jsonText(jsonText([]string{strings.Repeat("abcdefgh", 100), strings.Repeat("x", 7)})), true},
		{"surrogate pair escaped", `"[\"\\ud83d\\ude42\"]"`, false},
		{"non-string elements", `"[1,{\"a\":2}]"`, false},
		{"single-encoded array", `["a","b"]`, false},
		{"outer escape of a quote", `"[\u0022a\u0022]"`, false},
		{"quote not escaped inside an element", `"[\"ab", "y": "\"]"`, false},
		{"quotes not escaped, escapes of the body's own", `"[\"a\\u0022\\\"b"` + `, "y": "\"]"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"Data":{"events":` + tc.data + `},"Metadata":{}}`)
			ref, err := refRequest(body)
			if err != nil {
				t.Fatalf("encoding/json refuses the body: %v", err)
			}
			req, err := ParseRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			sameIntoReusedText(t, body, req, err)
			if _, ok := req.strs["events"]; ok != tc.fast {
				t.Errorf("decoded in one pass: %t, want %t", ok, tc.fast)
			}
			for _, dt := range []string{DataTypeString, ""} {
				want, werr := refBodies(ref.Data["events"], dt)
				batch, err := DecodeEventHub(req, "events", dt)
				if (err != nil) != (werr != nil) {
					t.Fatalf("dataType %q: err %v, encoding/json's %v", dt, err, werr)
				}
				got := []string{}
				for _, ev := range batch.Events {
					got = append(got, string(ev.Body))
				}
				if werr == nil && !reflect.DeepEqual(got, want) {
					t.Errorf("dataType %q: bodies %q\nwant %q", dt, got, want)
				}
			}
		})
	}
}

// A 1,000-record batch as the host sends it takes the one-pass path.
func TestHostStringsTakesABatch(t *testing.T) {
	body := benchEventHubBody(t, DataTypeString)
	req, err := ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	sameIntoReusedText(t, body, req, err)
	if len(req.strs["events"]) != 100 {
		t.Fatalf("one-pass elements: %d, want the 100 events", len(req.strs["events"]))
	}
	ref, err := refRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	want, err := refBodies(ref.Data["events"], DataTypeString)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := DecodeEventHub(req, "events", DataTypeString)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range batch.Events {
		if string(ev.Body) != want[i] {
			t.Fatalf("event %d differs from encoding/json's", i)
		}
	}
}

// parseRequestInto keeps each Data and Metadata value as encoding/json's
// json.RawMessage would, names matched as encoding/json matches them.
func TestParseRequestMatchesEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`{"Data":{"events":"[]","x":{"a":[1,2.5e3,-0,true,false,null]}},"Metadata":{"sys":{"MethodName":"f"},"n":-12.5E+3}}`,
		`{"data":{"b":"eA=="},"METADATA":null}`,
		` { "Metadata" : { } , "Other" : [ { } , [ ] ] , "Data" : { "k\u0041" : "v" } } `,
		`{"Data":{"a":1},"Data":{"b":2}}`,
		`{"Data":{}}`,
	} {
		ref, err := refRequest([]byte(body))
		if err != nil {
			t.Fatalf("%s: encoding/json: %v", body, err)
		}
		req, err := ParseRequest([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if ref.Metadata == nil {
			ref.Metadata = map[string]json.RawMessage{}
		}
		if !reflect.DeepEqual(req.Data, ref.Data) || !reflect.DeepEqual(req.Metadata, ref.Metadata) {
			t.Errorf("%s:\nData %s Metadata %s\nwant %s %s", body, mapText(req.Data), mapText(req.Metadata), mapText(ref.Data), mapText(ref.Metadata))
		}
	}
	for _, body := range []string{
		`{"Data":{"a":tru}}`, `{"Data":{"a":1,}}`, `{"Data":{"a" 1}}`, `{"Data":{"a":"x}}`, `{"Data":{"a":[1 2]}}`,
		`{"Data":{"a":01}}`, `{"Data":{}}x`, `{"Data":{"a":-}}`, `{"Data":[]}`, strings.Repeat("[", 2000),
		`{"Data":{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`,
	} {
		if _, err := ParseRequest([]byte(body)); err == nil {
			t.Errorf("%.80s: accepted", body)
		}
	}
}

func mapText(m map[string]json.RawMessage) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// FuzzParseRequest: whatever encoding/json accepts as a request,
// ParseRequest accepts with the same values, and DecodeEventHub gives the
// bodies encoding/json gives (for valid UTF-8: encoding/json replaces
// invalid bytes, the one-pass path keeps them, and the host, whose strings
// are UTF-16, never sends them). Nothing panics.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"Data":{"events":"[\"{\\\"records\\\":[]}\"]"},"Metadata":{"SequenceNumberArray":"[1]"}}`))
	f.Add([]byte(`{"Data":{"events":"[\"a\\\\b\",\"c\\u00e9\", \"\\/\"]"}}`))
	f.Add([]byte(`{"Data":{"events":"[]"}}`))
	f.Add([]byte(`{"Data":{"blob":"eA=="},"Metadata":{"Uri":"\"https://a/b\""}}`))
	f.Add(readInvocation(f, "eventhub.json"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		sameIntoReusedText(t, body, req, err)
		ref, rerr := refRequest(body)
		if rerr != nil || ref.Data == nil {
			if err == nil {
				_, _ = DecodeEventHub(req, "events", DataTypeString) // must not panic
			}
			return
		}
		if err != nil {
			t.Fatalf("encoding/json accepts %q; ParseRequest: %v", body, err)
		}
		if len(req.Data) != len(ref.Data) || len(req.Metadata) != len(ref.Metadata) {
			t.Fatalf("%q: %d/%d values, encoding/json %d/%d", body, len(req.Data), len(req.Metadata), len(ref.Data), len(ref.Metadata))
		}
		for k, v := range ref.Data {
			if !bytes.Equal(req.Data[k], v) {
				t.Fatalf("Data.%s = %s, encoding/json %s", k, req.Data[k], v)
			}
		}
		for k, v := range ref.Metadata {
			if !bytes.Equal(req.Metadata[k], v) {
				t.Fatalf("Metadata.%s = %s, encoding/json %s", k, req.Metadata[k], v)
			}
		}
		raw, ok := ref.Binding("events")
		if !ok || !utf8.Valid(raw) {
			return
		}
		want, werr := refBodies(raw, DataTypeString)
		batch, err := DecodeEventHub(req, "events", DataTypeString)
		if werr != nil {
			return // the metadata may be wrong too; the one-pass path may take more
		}
		if err != nil {
			if _, bad := err.(*BadRequestError); bad && strings.Contains(err.Error(), "Metadata") {
				return
			}
			t.Fatalf("%q: encoding/json decodes the bodies; DecodeEventHub: %v", body, err)
		}
		for i, ev := range batch.Events {
			if string(ev.Body) != want[i] {
				t.Fatalf("%q: body %d = %q, encoding/json %q", body, i, ev.Body, want[i])
			}
		}
	})
}

// sameIntoReusedText checks that body parsed into a reused buffer (the
// server's Request.text: dirty, too small or large enough) gives what
// ParseRequest gave (req, err): the same values, bodies and record ends.
func sameIntoReusedText(t *testing.T, body []byte, req Request, err error) {
	t.Helper()
	for _, size := range []int{0, len(body) / 2, len(body) + 64} {
		text := bytes.Repeat([]byte{'\\', '"', 0xff}, size/3+1)[:0]
		got, gerr := parseRequestText(body, text)
		if (gerr != nil) != (err != nil) {
			t.Fatalf("%q into a reused buffer of %d: err %v, ParseRequest's %v", body, size, gerr, err)
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(got.strs, req.strs) || !reflect.DeepEqual(got.ends, req.ends) ||
			!reflect.DeepEqual(got.Data, req.Data) || !reflect.DeepEqual(got.Metadata, req.Metadata) {
			t.Fatalf("%q into a reused buffer of %d: decoded differently", body, size)
		}
	}
}
