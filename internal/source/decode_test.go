package source

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/azdetect/azdetect/internal/event"
)

// framed is a record as the tests compare it.
type framed struct {
	text string // the record bytes
	kind string // "json", "text" or "err"
}

// frame runs Records over body and copies out every record.
func frame(t testing.TB, body io.Reader) ([]framed, []Record) {
	t.Helper()
	var out []framed
	var recs []Record
	err := Records(body, func(rec Record) error {
		kind := "json"
		switch {
		case rec.Err != nil:
			kind = "err"
		case rec.Text:
			kind = "text"
		}
		out = append(out, framed{string(rec.Bytes), kind})
		rec.Bytes = bytes.Clone(rec.Bytes)
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	return out, recs
}

func js(s string) framed  { return framed{s, "json"} }
func txt(s string) framed { return framed{s, "text"} }
func bad(s string) framed { return framed{s, "err"} }

func TestRecordsShapes(t *testing.T) {
	const a, b = `{"a":1}`, `{"b":[2,{"c":"}"}]}`
	tests := []struct {
		name string
		body string
		want []framed
	}{
		{"envelope", `{"records":[` + a + `,` + b + `]}`, []framed{js(a), js(b)}},
		{"envelope pretty", "{\n  \"records\" :\n  [\n    " + a + " ,\n    " + b + "\n  ]\n}\n", []framed{js(a), js(b)}},
		{"envelope empty", `{"records": []}`, nil},
		{"envelope records not first", `{"x":1,"records":[` + a + `,` + b + `]}`, []framed{js(a), js(b)}},
		{"envelope with a tail", `{"records":[` + a + `],"x":{"y":"}"}}` + "\n" + b, []framed{js(a), js(b)}},
		{"two envelopes", `{"records":[` + a + `]}{"records":[` + b + `]}`, []framed{js(a), js(b)}},
		{"bare array", `[` + a + `, ` + b + `]`, []framed{js(a), js(b)}},
		{"json lines", a + "\n" + b + "\n", []framed{js(a), js(b)}},
		{"no final newline", a + "\n" + b, []framed{js(a), js(b)}},
		{"concatenated", a + b + a, []framed{js(a), js(b), js(a)}},
		{"blank lines and CRLF", "\r\n\n" + a + "\r\n\r\n  \t\n" + b + "\r\n", []framed{js(a), js(b)}},
		{"BOM", "\xef\xbb\xbf" + a + "\n", []framed{js(a)}},
		{"multi-line record", "{\n  \"a\": 1,\n  \"s\": \"x{y\"\n}\n" + b, []framed{js("{\n  \"a\": 1,\n  \"s\": \"x{y\"\n}"), js(b)}},
		{"escaped quote", `{"s":"a\"}b"}` + "\n" + a, []framed{js(`{"s":"a\"}b"}`), js(a)}},
		{"text lines", "1.0;2014-06-19T22:59:23Z;GetBlob\r\n" + a + "\n2.0;x\n", []framed{txt("1.0;2014-06-19T22:59:23Z;GetBlob"), js(a), txt("2.0;x")}},
		{"single quotes then more", "{'a':'b'}\n" + a + "\n" + b, []framed{bad("{'a':'b'}"), js(a), js(b)}},
		{"single quotes rest of line", "{'a':1} tail\n" + a, []framed{bad("{'a':1} tail"), js(a)}},
		{"truncated in a string", `{"a":"xy` + "\n" + a, []framed{bad(`{"a":"xy` + "\n"), js(a)}},
		{"truncated after a comma", `{"a":1,` + "\n" + a, []framed{bad(`{"a":1,` + "\n"), js(a)}},
		{"truncated in an array", `{"a":[1,2` + "\n" + a, []framed{bad(`{"a":[1,2` + "\n"), js(a)}},
		{"truncated at the end", a + "\n" + `{"a":{"b":1}`, []framed{js(a), bad(`{"a":{"b":1}`)}},
		{"bad element in array", `[` + a + `,{'x':1},` + b + `]`, []framed{js(a), bad(`{'x':1}`), js(b)}},
		{"scalars in array", `["s",1,null]`, []framed{js(`"s"`), js(`1`), js(`null`)}},
		{"stray delimiters in array", `[` + a + `,,}` + b + `]`, []framed{js(a), bad(`}`), js(b)}},
		{"truncated envelope", `{"records":[` + a + `,{"b":`, []framed{js(a), bad(`{"b":`)}},
		{"empty body", "", nil},
		{"blank body", "\n \n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tc.body)},
				{"one byte at a time", iotest.OneByteReader(strings.NewReader(tc.body))},
			} {
				got, _ := frame(t, r.r)
				if !equalFramed(got, tc.want) {
					t.Errorf("%s:\n got %q\nwant %q", r.name, got, tc.want)
				}
			}
		})
	}
}

func equalFramed(a, b []framed) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRecordsIndexOffset(t *testing.T) {
	body := "\xef\xbb\xbf" + `{"a":1}` + "\n\n" + `{"records":[ {"b":2}, {"c":3} ]}` + "\nline\n"
	_, recs := frame(t, strings.NewReader(body))
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	for i, rec := range recs {
		if rec.Index != i {
			t.Errorf("record %d has index %d", i, rec.Index)
		}
		if got := body[rec.Offset : rec.Offset+int64(len(rec.Bytes))]; got != string(rec.Bytes) {
			t.Errorf("record %d: body at offset %d is %q, want %q", i, rec.Offset, got, rec.Bytes)
		}
	}
}

func TestRecordsGzip(t *testing.T) {
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	_, _ = zw.Write([]byte(`{"records":[{"a":1},{"b":2}]}` + "\n" + `{"c":3}` + "\n"))
	_ = zw.Close()
	got, _ := frame(t, &zbuf)
	want := []framed{js(`{"a":1}`), js(`{"b":2}`), js(`{"c":3}`)}
	if !equalFramed(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	// A gzip stream cut short: the complete records come out, then an error.
	zw = gzip.NewWriter(&zbuf)
	_, _ = zw.Write([]byte(strings.Repeat(`{"a":1}`+"\n", 1000)))
	_ = zw.Close()
	cut := zbuf.Bytes()[:zbuf.Len()-20]
	n := 0
	err := Records(bytes.NewReader(cut), func(rec Record) error {
		if rec.Err == nil {
			n++
		}
		return nil
	})
	if err == nil || n == 0 {
		t.Fatalf("cut gzip: %d records, err %v; want records and an error", n, err)
	}
}

func TestRecordsStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := Records(strings.NewReader("{}\n{}\n{}\n"), func(Record) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls, want stop after 1", err, calls)
	}
}

func TestRecordsLargeRecordStreams(t *testing.T) {
	// A record bigger than the read buffer, pretty-printed, in an envelope.
	big := `{"s":"` + strings.Repeat("x", 3*readBufferSize) + `"}`
	body := "{\"records\":[\n" + big + ",\n" + big + "\n]}"
	got, _ := frame(t, strings.NewReader(body))
	if want := []framed{js(big), js(big)}; !equalFramed(got, want) {
		t.Fatalf("got %d records, want 2 intact", len(got))
	}
}

// TestRecordsFiles frames the framing fixtures and the sample edge cases.
func TestRecordsFiles(t *testing.T) {
	tests := []struct {
		path      string
		json, bad int
		text      int
	}{
		{"../../testdata/framing/bom_crlf.jsonl", 2, 0, 0},
		{"../../testdata/framing/envelope_pretty.json", 2, 0, 0},
		{"../../testdata/framing/mixed.log", 6, 0, 1},
		{"../../testdata/framing/truncated.jsonl", 4, 4, 0},
		{samplesDir + "/activitylogs/elastic-beats/activitylogs.log", 1, 0, 0},
		{samplesDir + "/edgecases/elastic-integrations/test-platformlogs-malformed-json.log", 0, 1, 0},
		{samplesDir + "/edgecases/elastic-integrations/test-platformlogs-invalid-json-raw.log", 1, 0, 0},
		{samplesDir + "/edgecases/otel-collector-contrib/identity_as_string.json", 1, 0, 0},
		{samplesDir + "/storageanalytics/microsoft-docs/storage-analytics-log-format-v1.0-examples.log", 0, 0, 8},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			f, err := os.Open(tc.path)
			if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(tc.path, samplesDir) {
				t.Skipf("sample corpus not found: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, _ := frame(t, f)
			var nj, nb, nt int
			for _, r := range got {
				switch r.kind {
				case "json":
					nj++
					if _, err := event.SkipValue([]byte(r.text), 0); err != nil {
						t.Errorf("record not valid JSON: %v", err)
					}
				case "err":
					nb++
				case "text":
					nt++
				}
			}
			if nj != tc.json || nb != tc.bad || nt != tc.text {
				t.Errorf("json/err/text = %d/%d/%d, want %d/%d/%d: %q", nj, nb, nt, tc.json, tc.bad, tc.text, got)
			}
		})
	}
}

// FuzzRecords checks that framing never fails, never loops, and that every
// record it calls JSON is valid JSON found at its offset in the body.
func FuzzRecords(f *testing.F) {
	for _, s := range []string{
		`{"records":[{"a":1},{"b":2}]}`, "{\n\"a\":1}\n{\"b\":2}", `[{"a":1},{'b':2}]`,
		"1.0;x;y\n{\"a\":1}", "\xef\xbb\xbf{}", `{"a":"x` + "\n{}", `{"records":[`, "{\"a\":1,\n{\"b\":2}",
	} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("../../testdata/framing/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n := 0
		err := Records(bytes.NewReader(body), func(rec Record) error {
			n++
			if n > len(body)+1 {
				t.Fatalf("more records (%d) than bytes (%d)", n, len(body))
			}
			if rec.Err != nil || rec.Text {
				return nil
			}
			if end, err := event.SkipValue(rec.Bytes, 0); err != nil || end != len(rec.Bytes) {
				t.Fatalf("record %d is not one JSON value: %q", rec.Index, rec.Bytes)
			}
			if rec.Offset < 0 || rec.Offset+int64(len(rec.Bytes)) > int64(len(body)) ||
				!bytes.Equal(body[rec.Offset:rec.Offset+int64(len(rec.Bytes))], rec.Bytes) {
				t.Fatalf("record %d not found at offset %d", rec.Index, rec.Offset)
			}
			return nil
		})
		if err != nil && !(len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b) {
			t.Fatalf("Records: %v", err)
		}
	})
}

// TestRecordsResyncAfterSample puts the single-quoted sample line (Azure's
// own broken JSON) before valid records: it is reported, and every record
// after it still comes out.
func TestRecordsResyncAfterSample(t *testing.T) {
	broken, err := os.ReadFile(samplesDir + "/edgecases/elastic-integrations/test-platformlogs-malformed-json.log")
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("sample corpus not found: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	good := `{"time":"2024-01-01T00:00:00Z","category":"Administrative"}`
	// The second copy has more on its line: that goes with it (framing
	// resumes on the next line, never inside a line it cannot trust).
	body := string(broken) + "\n" + good + "\n" + string(broken) + ` {"x":1}` + "\n" + good + "\n"
	got, recs := frame(t, strings.NewReader(body))
	want := []string{"err", "json", "err", "json"}
	if len(got) != len(want) {
		t.Fatalf("got %d records %q, want %v", len(got), got, want)
	}
	for i, w := range want {
		if got[i].kind != w {
			t.Errorf("record %d is %s, want %s", i, got[i].kind, w)
		}
	}
	if !errors.Is(recs[0].Err, ErrInvalidJSON) || !strings.HasPrefix(got[0].text, `{ "time": "2023-04-11T13:35:20Z"`) {
		t.Errorf("first record: err %v, bytes %.40q", recs[0].Err, got[0].text)
	}
}

// BenchmarkRecords measures framing alone over an envelope of realistic
// records (the golden inputs).
func BenchmarkRecords(b *testing.B) {
	var body bytes.Buffer
	body.WriteString(`{"records":[`)
	files, _ := filepath.Glob("../../testdata/*/*.json")
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") || strings.Contains(file, "malformed") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		_ = Records(bytes.NewReader(data), func(rec Record) error {
			if n > 0 {
				body.WriteByte(',')
			}
			body.Write(rec.Bytes)
			n++
			return nil
		})
	}
	body.WriteString(`]}`)
	data := body.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		_ = Records(bytes.NewReader(data), func(Record) error { records++; return nil })
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
