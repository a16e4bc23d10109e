package invoke

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// replayCorpus writes log files in the shapes Azure exports (JSON Lines,
// a records envelope, a gzipped bare array, Storage Analytics lines) and
// returns the folder and the records each holds, compacted.
func replayCorpus(t *testing.T) (dir string, want []string) {
	t.Helper()
	dir = t.TempDir()
	rec := func(i int, extra string) string {
		return fmt.Sprintf(`{"time":"2026-11-20T09:%02d:00Z","category":"Administrative","operationName":"MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE","resultType":"Success","properties":{"n":%d,"note":%q}}`, i%60, i, extra)
	}
	var jsonl []string
	for i := range 5 {
		jsonl = append(jsonl, rec(i, `quotes " and <html> & unicode é`))
	}
	writeFile(t, filepath.Join(dir, "a", "activity.jsonl"), []byte(strings.Join(jsonl, "\r\n")+"\n\n"))
	want = append(want, jsonl...)

	env := []string{rec(10, "x"), rec(11, "y"), rec(12, "z")}
	writeFile(t, filepath.Join(dir, "b", "PT1H.json"), []byte("{\n  \"records\": [\n    "+strings.Join(env, ",\n    ")+"\n  ]\n}\n"))
	want = append(want, env...)

	arr := []string{rec(20, ""), rec(21, ""), rec(22, ""), rec(23, "")}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("[" + strings.Join(arr, ",") + "]"))
	zw.Close()
	writeFile(t, filepath.Join(dir, "c", "export.json.gz"), gz.Bytes())
	want = append(want, arr...)

	var big []string
	for i := range 3000 {
		big = append(big, rec(100+i, strings.Repeat("p", i%50)))
	}
	writeFile(t, filepath.Join(dir, "big.jsonl"), []byte(strings.Join(big, "\n")))
	want = append(want, big...)

	lines := []string{
		`1.0;2026-11-20T09:00:01.0000000Z;GetBlob;Success;200;5;4;authenticated;acct;acct;blob;"https://acct.blob.core.windows.net/c/x";"/acct/c/x";id;0;10.0.0.4:5000;2009-09-19;1;2;3;4;;"etag";`,
		`1.0;2026-11-20T09:00:02.0000000Z;PutBlob;Success;201;5;4;authenticated;acct;acct;blob;"https://acct.blob.core.windows.net/c/y";"/acct/c/y";id;0;10.0.0.4:5000;2009-09-19;1;2;3;4;;"etag";`,
	}
	writeFile(t, filepath.Join(dir, "d", "000001.log"), []byte(strings.Join(lines, "\n")+"\n"))
	want = append(want, lines...)

	writeFile(t, filepath.Join(dir, ".hidden"), []byte(`{"records":[{"skipped":true}]}`))
	// What scan skips, replay skips: a folder's README is never a log.
	writeFile(t, filepath.Join(dir, "a", "README.md"), []byte("# exported logs\n{\"records\":[{\"skipped\":true}]}\n"))

	for i, w := range want {
		want[i] = compact(t, w)
	}
	slices.Sort(want)
	return dir, want
}

func compact(t *testing.T, s string) string {
	t.Helper()
	if !json.Valid([]byte(s)) {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The records a recorder received, split back out of the event bodies.
func receivedRecords(t *testing.T, got []recorded) []string {
	t.Helper()
	var out []string
	for _, in := range got {
		if bytes.HasPrefix(in.body, []byte(`{"records":[`)) {
			var env struct{ Records []json.RawMessage }
			if err := json.Unmarshal(in.body, &env); err != nil {
				t.Fatalf("%s: %v", in.origin, err)
			}
			for _, r := range env.Records {
				out = append(out, compact(t, string(r)))
			}
			continue
		}
		out = append(out, strings.Split(strings.TrimSpace(string(in.body)), "\n")...)
	}
	slices.Sort(out)
	return out
}

// Replay -> Server -> Processor: every record of the files arrives exactly
// once, in events of at most MaxEventBytes, with Event Hubs origins.
func TestReplayEventHubRoundTrip(t *testing.T) {
	dir, want := replayCorpus(t)
	rec := &recorder{}
	base, _, _ := startServer(t, ServerOptions{Processor: rec})

	rep, err := Replay(context.Background(), ReplayOptions{
		URL: base, Paths: []string{dir}, MaxEventBytes: 8 << 10, MaxBatchEvents: 10,
		Partition: PartitionContext{PartitionID: "7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if g := receivedRecords(t, got); !slices.Equal(g, want) {
		t.Fatalf("processor got %d records, want the %d of the files, once each", len(g), len(want))
	}
	if rep.Files != 5 || rep.Records != len(want) {
		t.Errorf("report: %d files, %d records; want 5, %d", rep.Files, rep.Records, len(want))
	}
	if len(rep.Invocations) < 2 {
		t.Errorf("%d invocations; the big file alone needs several", len(rep.Invocations))
	}
	events, records := 0, 0
	for _, inv := range rep.Invocations {
		if inv.Status != 200 || inv.Events > 10 || len(inv.Logs) == 0 || inv.InvocationID == "" {
			t.Errorf("invocation %+v", inv)
		}
		events += inv.Events
		records += inv.Records
	}
	if events != len(got) || records != len(want) {
		t.Errorf("invocations carried %d events and %d records; processor got %d inputs", events, records, len(got))
	}
	origin := regexp.MustCompile(`^eventhub://azdetect-replay\.servicebus\.windows\.net/azure-logs/7/(\d+)$`)
	seen := map[string]bool{}
	for _, in := range got {
		m := origin.FindStringSubmatch(in.origin)
		if m == nil {
			t.Fatalf("origin %q", in.origin)
		}
		if seen[m[1]] {
			t.Errorf("sequence number %s delivered twice", m[1])
		}
		seen[m[1]] = true
		if len(in.body) > 8<<10 {
			t.Errorf("%s: event of %d bytes over the 8 KiB limit", in.origin, len(in.body))
		}
	}
}

// A replayed blob is the file's bytes as stored, named by its URI.
func TestReplayBlob(t *testing.T) {
	dir, _ := replayCorpus(t)
	rec := &recorder{}
	base, _, _ := startServer(t, ServerOptions{Processor: rec})
	files := []string{filepath.Join(dir, "c", "export.json.gz"), filepath.Join(dir, "b")}
	rep, err := Replay(context.Background(), ReplayOptions{URL: base, Function: FunctionBlob, Paths: files})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 2 || len(rep.Invocations) != 2 {
		t.Fatalf("%d inputs, %d invocations; want 2", len(got), len(rep.Invocations))
	}
	// The blobs' records are counted (4 in the gzipped array, 3 in the
	// envelope), not reported as 0.
	if rep.Records != 7 || rep.Invocations[0].Records != 4 || rep.Invocations[1].Records != 3 {
		t.Errorf("records: report %d, invocations %d and %d; want 7, 4 and 3", rep.Records, rep.Invocations[0].Records, rep.Invocations[1].Records)
	}
	for i, want := range []struct{ path, uri string }{
		{files[0], "https://azdetectreplay.blob.core.windows.net/insights-activity-logs/export.json.gz"},
		{filepath.Join(dir, "b", "PT1H.json"), "https://azdetectreplay.blob.core.windows.net/insights-activity-logs/PT1H.json"},
	} {
		b, _ := os.ReadFile(want.path)
		if got[i].origin != want.uri || !bytes.Equal(got[i].body, b) {
			t.Errorf("blob %d: origin %q, %d bytes; want %q, %d bytes", i, got[i].origin, len(got[i].body), want.uri, len(b))
		}
	}
}

func TestReplayTimer(t *testing.T) {
	base, _, _ := startServer(t, ServerOptions{Processor: &recorder{}, Maintainer: maintainer{}})
	rep, err := Replay(context.Background(), ReplayOptions{URL: base, Function: FunctionMaintenance})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Invocations) != 1 || !slices.Equal(rep.Invocations[0].Logs, []string{"maintenance: swept 2 blobs"}) {
		t.Fatalf("report %+v", rep)
	}
}

// Replay fails as the host would: on a non-2xx, and on answers the host
// refuses (not JSON, empty body).
func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x.jsonl"), []byte(`{"category":"FAIL"}`+"\n"))

	srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", FunctionsDir: testFunctions(t), Processor: &recorder{},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
	if err != nil {
		t.Fatal(err)
	}
	real := httptest.NewServer(srv) // Server is an http.Handler
	defer real.Close()
	textPlain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Logs":[]}`)) // sniffed as text/plain
	}))
	defer textPlain.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
	}))
	defer empty.Close()

	tests := []struct {
		name string
		opts ReplayOptions
		want string
	}{
		{"processor fails", ReplayOptions{URL: real.URL, Paths: []string{dir}}, `HTTP 500: {"status":500,"error":"ingest-eventhub: deliver alerts: sink unavailable"}`},
		{"unknown function", ReplayOptions{URL: real.URL, Function: "nope", Paths: []string{dir}}, "HTTP 404"},
		{"text/plain answer", ReplayOptions{URL: textPlain.URL, Paths: []string{dir}}, "Content-Type"},
		{"empty answer", ReplayOptions{URL: empty.URL, Paths: []string{dir}}, "empty body"},
		{"no files", ReplayOptions{URL: real.URL}, "no files"},
		{"missing file", ReplayOptions{URL: real.URL, Paths: []string{filepath.Join(dir, "none")}}, "no such file"},
		{"bad URL", ReplayOptions{URL: "127.0.0.1:8080", Paths: []string{dir}}, "want http://"},
		{"unknown function name", ReplayOptions{URL: real.URL, Function: "other", FunctionsDir: testFunctions(t), Paths: []string{dir}}, `no function "other"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unknown function" {
				tc.opts.FunctionsDir = testFunctions(t)
				writeFile(t, filepath.Join(tc.opts.FunctionsDir, "nope", "function.json"), []byte(`{"bindings":[{"type":"eventHubTrigger","name":"events","direction":"in","dataType":"string"}]}`))
			}
			_, err := Replay(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFrameEvents(t *testing.T) {
	pieces := splitRecords([]byte("{\"a\":1}\n{\"b\":2}\nnot json\nalso not\n[{\"c\":3}]\n"))
	got := frameEvents(pieces, 20)
	want := []string{`{"records":[{"a":1}]}`, `{"records":[{"b":2}]}`, "not json\nalso not", `{"records":[{"c":3}]}`}
	if !slices.Equal(got, want) {
		t.Errorf("events = %q\nwant     %q", got, want)
	}
	if got := frameEvents(pieces, 1<<20); len(got) != 3 {
		t.Errorf("events = %q, want 3", got)
	}
}
