package invoke

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/pipeline"
)

// recorder stands for the pipeline: it keeps what it is given and reports
// one record per input. A body holding "FAIL" makes it fail the batch.
type recorder struct {
	mu      sync.Mutex
	inputs  []recorded
	delay   time.Duration
	started chan struct{} // if set, gets a value when Process starts
}

type recorded struct {
	origin string
	body   []byte
}

func (r *recorder) Process(ctx context.Context, inputs []pipeline.Input) (pipeline.Report, error) {
	if r.started != nil {
		r.started <- struct{}{}
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return pipeline.Report{}, ctx.Err()
		}
	}
	if zerolog.Ctx(ctx).GetLevel() == zerolog.Disabled {
		return pipeline.Report{}, errors.New("no logger on the context")
	}
	rep := pipeline.Report{BySource: map[string]int{}}
	var got []recorded
	for _, in := range inputs {
		b, err := io.ReadAll(in.Body)
		if err != nil {
			return rep, err
		}
		if bytes.Contains(b, []byte("FAIL")) {
			return rep, errors.New("deliver alerts: sink unavailable")
		}
		got = append(got, recorded{in.Origin, b})
		rep.Records++
		rep.BySource["test"]++
		if bytes.Contains(b, []byte("MALFORMED")) {
			rep.Malformed++
			rep.DeadLetters = append(rep.DeadLetters, pipeline.Malformed{Origin: in.Origin, Index: 0, Offset: 12, Reason: "bad\nrecord", Bytes: b})
		}
	}
	rep.Alerts = make([]alert.Alert, len(got))
	rep.AlertCount = len(got)
	r.mu.Lock()
	r.inputs = append(r.inputs, got...)
	r.mu.Unlock()
	return rep, nil
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.inputs...)
}

type maintainer struct{ err error }

func (m maintainer) Maintain(context.Context) (string, error) { return "swept 2 blobs", m.err }

// testFunctions copies the repository's functions/ into a temporary folder
// and adds one function with a trigger azdetect does not serve.
func testFunctions(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{FunctionEventHub, FunctionBlob, FunctionMaintenance} {
		b, err := os.ReadFile(filepath.Join("..", "..", "functions", name, "function.json"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "function.json"), b)
	}
	writeFile(t, filepath.Join(dir, "ingest-queue", "function.json"),
		[]byte(`{"bindings":[{"type":"queueTrigger","name":"msg","direction":"in","queueName":"q"}]}`))
	return dir
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startServer runs a real Server on 127.0.0.1:0 until the test ends (or
// until stop is called) and returns its base URL.
func startServer(t *testing.T, opts ServerOptions) (base string, srv *Server, stop func() error) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.FunctionsDir == "" {
		opts.FunctionsDir = testFunctions(t)
	}
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + addr.String(), srv, stop
}

func post(t *testing.T, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", newGUID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Every answer, errors included, is JSON with a body: the host refuses
// anything else or hangs on an empty body.
func TestServerAnswersJSON(t *testing.T) {
	rec := &recorder{}
	base, _, _ := startServer(t, ServerOptions{Processor: rec, Maintainer: maintainer{}, MaxBodyBytes: 1 << 20})
	eh := func(bodies ...string) string {
		return `{"Data":{"events":` + jsonText(jsonText(bodies)) + `},"Metadata":{"PartitionContext":{"PartitionId":"1"}}}`
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		wantInBody               string
	}{
		{"readiness", "GET", "/", "", 200, `"status":"ok"`},
		{"health", "GET", "/healthz", "", 200, `"status":"ok"`},
		{"post on readiness", "POST", "/", "{}", 405, "use GET"},
		{"get on a function", "GET", "/ingest-eventhub", "", 405, "POST"},
		{"unknown function", "POST", "/nope", "{}", 404, "ingest-eventhub"},
		{"contract eventhub", "POST", "/ingest-eventhub", string(readInvocation(t, "eventhub.json")), 200, `"Logs":["ingest-eventhub: 1 records (test=1), 0 unrecognised, 0 malformed, 1 alerts`},
		{"contract blob", "POST", "/ingest-blob", string(readInvocation(t, "blob.json")), 200, `ingest-blob: 1 records`},
		{"contract timer", "POST", "/maintenance", string(readInvocation(t, "timer.json")), 200, `"Logs":["maintenance: swept 2 blobs"]`},
		{"malformed records listed", "POST", "/ingest-eventhub", eh(`{"records":["MALFORMED"]}`), 200, `malformed record: origin=eventhub://-/-/1/#0 index=0 offset=12 reason=bad record`},
		{"empty body", "POST", "/ingest-eventhub", "", 400, "empty"},
		{"not JSON", "POST", "/ingest-eventhub", "hello", 400, "not the host's"},
		{"no Data", "POST", "/ingest-eventhub", `{"Metadata":{}}`, 400, "no Data"},
		{"wrong binding", "POST", "/ingest-eventhub", `{"Data":{"other":"[]"}}`, 400, "no Data.events"},
		{"bad base64 blob", "POST", "/ingest-blob", `{"Data":{"blob":"%%%"}}`, 400, "not valid base64"},
		{"processor fails", "POST", "/ingest-eventhub", eh(`{"records":[]}`, "FAIL"), 500, "sink unavailable"},
		{"unsupported trigger", "POST", "/ingest-queue", `{"Data":{"msg":"\"x\""}}`, 501, `queueTrigger`},
		{"too large", "POST", "/ingest-eventhub", eh(strings.Repeat("x", 2<<20)), 413, `"setting":"AZDETECT_MAX_BODY_BYTES"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if len(bytes.TrimSpace(body)) == 0 || !json.Valid(body) {
				t.Errorf("body %q is empty or not JSON", body)
			}
			if !strings.Contains(string(body), tc.wantInBody) {
				t.Errorf("body %s\nlacks %s", body, tc.wantInBody)
			}
		})
	}
	// A successful answer has the host's three keys, Outputs an object.
	_, body := post(t, base+"/ingest-eventhub", readInvocation(t, "eventhub.json"))
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatal(err)
	}
	if string(keys["Outputs"]) != "{}" || string(keys["ReturnValue"]) != "null" || keys["Logs"] == nil {
		t.Errorf("answer %s: want Outputs {}, Logs, ReturnValue null", body)
	}
}

// A body over MaxBodyBytes gets 413 without the server reading the rest:
// at once when Content-Length says so, at the limit when it is chunked.
func TestServerRefusesLargeBodyEarly(t *testing.T) {
	const limit = 1 << 20
	const sent = 256 << 20
	base, _, _ := startServer(t, ServerOptions{Processor: &recorder{}, MaxBodyBytes: limit})
	addr := strings.TrimPrefix(base, "http://")
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%t", chunked), func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			written := make(chan int64, 1)
			go func() {
				var n int64
				framing := fmt.Sprintf("Content-Length: %d", sent)
				if chunked {
					framing = "Transfer-Encoding: chunked"
				}
				fmt.Fprintf(conn, "POST /ingest-eventhub HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s\r\n\r\n", addr, framing)
				chunk := append([]byte(`{"Data":{"events":"`), bytes.Repeat([]byte("a"), 64<<10)...)
				for n < sent {
					var err error
					if chunked {
						_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
					} else {
						_, err = conn.Write(chunk)
					}
					if err != nil {
						break
					}
					n += int64(len(chunk))
					chunk = chunk[:64<<10]
				}
				written <- n
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			var eb ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Limit != limit || eb.Setting != "AZDETECT_MAX_BODY_BYTES" {
				t.Errorf("body %s: want the limit and the setting named", body)
			}
			conn.Close()
			n := <-written
			t.Logf("client wrote %d of %d bytes before the connection closed", n, sent)
			if n >= sent {
				t.Errorf("the whole %d-byte body was accepted before the answer", n)
			}
		})
	}
}

// The host polls GET / until it answers; the pipeline may still be
// building. Invocations that come first wait for Attach.
func TestServerReadyBeforeProcessor(t *testing.T) {
	base, srv, _ := startServer(t, ServerOptions{})
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d before the processor is attached", resp.StatusCode)
	}

	type result struct {
		status int
		body   []byte
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/ingest-eventhub", bytes.NewReader(readInvocation(t, "eventhub.json")))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, b}
	}()
	select {
	case r := <-done:
		t.Fatalf("invocation answered %d before the processor was attached: %s", r.status, r.body)
	case <-time.After(200 * time.Millisecond):
	}
	// Readiness still answers while the invocation waits.
	start := time.Now()
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz while an invocation waits: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("GET /healthz took %s", d)
	}
	rec := &recorder{}
	srv.Attach(rec, nil)
	r := <-done
	if r.status != 200 || len(rec.all()) != 1 {
		t.Fatalf("after Attach: status %d, %d inputs; body %s", r.status, len(rec.all()), r.body)
	}
}

func TestNewServerRefusesNonLoopback(t *testing.T) {
	dir := testFunctions(t)
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"[::1]:0", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"10.1.2.3:8080", false},
		{"example.com:8080", false},
		{"127.0.0.1", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			_, err := NewServer(ServerOptions{Addr: tc.addr, FunctionsDir: dir, Processor: &recorder{}})
			if tc.ok != (err == nil) {
				t.Fatalf("NewServer(%q) err = %v, want ok=%t", tc.addr, err, tc.ok)
			}
		})
	}
	// Serve on a zero Server (not built by NewServer) refuses too.
	s := &Server{opts: ServerOptions{Addr: "0.0.0.0:0"}}
	if err := s.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Serve on 0.0.0.0: err = %v", err)
	}
}

func TestLoadFunctions(t *testing.T) {
	fns, err := LoadFunctions(filepath.Join("..", "..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Function{
		FunctionBlob:        {Name: FunctionBlob, Trigger: TriggerBlob, Binding: "blob"},
		FunctionEventHub:    {Name: FunctionEventHub, Trigger: TriggerEventHub, Binding: "events", DataType: DataTypeString},
		FunctionMaintenance: {Name: FunctionMaintenance, Trigger: TriggerTimer, Binding: "timer"},
	}
	// One blob function per archive container (Event Grid names one
	// container per function): archive-*, all alike.
	archives := 0
	for _, fn := range fns {
		if strings.HasPrefix(fn.Name, "archive-") {
			archives++
			if want := (Function{Name: fn.Name, Trigger: TriggerBlob, Binding: "blob"}); fn != want {
				t.Errorf("function %+v, want %+v", fn, want)
			}
			continue
		}
		if w, ok := want[fn.Name]; !ok || fn != w {
			t.Errorf("function %+v, want %+v", fn, w)
		}
		delete(want, fn.Name)
	}
	if len(want) > 0 || archives < 2 {
		t.Errorf("functions %+v: missing %v, %d archive-* functions", fns, want, archives)
	}
	if !slices.IsSortedFunc(fns, func(a, b Function) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("functions not sorted by name: %+v", fns)
	}
	for _, dir := range []string{"", t.TempDir(), "no-such-folder"} {
		if _, err := LoadFunctions(dir); err == nil {
			t.Errorf("LoadFunctions(%q): no error", dir)
		}
	}
}

// On cancel, Serve stops accepting and lets a running invocation finish.
func TestServeGracefulShutdown(t *testing.T) {
	rec := &recorder{delay: 500 * time.Millisecond, started: make(chan struct{}, 1)}
	base, _, stop := startServer(t, ServerOptions{Processor: rec, ShutdownGrace: 5 * time.Second})
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/ingest-eventhub", "application/json", bytes.NewReader(readInvocation(t, "eventhub.json")))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: b}
	}()
	<-rec.started
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(string(r.body), "1 records") {
		t.Fatalf("in-flight invocation: %v status %d body %s", r.err, r.status, r.body)
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// An invocation still running when the grace period ends makes Serve
// report it.
func TestServeShutdownGraceExceeded(t *testing.T) {
	rec := &recorder{delay: 10 * time.Second, started: make(chan struct{}, 1)}
	base, _, stop := startServer(t, ServerOptions{Processor: rec, ShutdownGrace: 100 * time.Millisecond})
	go func() {
		resp, err := http.Post(base+"/ingest-eventhub", "application/json", bytes.NewReader(readInvocation(t, "eventhub.json")))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-rec.started
	start := time.Now()
	err := stop()
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Serve returned %v, want an error about running invocations", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s with a 100ms grace", d)
	}
}

// Without a Maintainer the timer answers with a log line; a failing one
// fails the invocation.
func TestTimerWithoutMaintainer(t *testing.T) {
	base, _, _ := startServer(t, ServerOptions{Processor: &recorder{}})
	resp, body := post(t, base+"/maintenance", readInvocation(t, "timer.json"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "no maintenance configured") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	base2, _, _ := startServer(t, ServerOptions{Processor: &recorder{}, Maintainer: maintainer{err: errors.New("table unavailable")}})
	resp, body = post(t, base2+"/maintenance", readInvocation(t, "timer.json"))
	if resp.StatusCode != 500 || !strings.Contains(string(body), "table unavailable") {
		t.Fatalf("failing maintainer: status %d body %s", resp.StatusCode, body)
	}
}

// Several blob functions (one per archive container) are all routes of
// the one server, each answering under its own name.
func TestServerRoutesEveryBlobFunction(t *testing.T) {
	rec := &recorder{}
	base, srv, _ := startServer(t, ServerOptions{Processor: rec, FunctionsDir: filepath.Join("..", "..", "functions")})
	n := 0
	for _, fn := range srv.Functions() {
		if fn.Trigger != TriggerBlob {
			continue
		}
		n++
		resp, body := post(t, base+"/"+fn.Name, readInvocation(t, "blob.json"))
		if resp.StatusCode != 200 || !strings.Contains(string(body), fn.Name+": 1 records") {
			t.Errorf("POST /%s: status %d body %s", fn.Name, resp.StatusCode, body)
		}
	}
	if n < 3 || len(rec.all()) != n {
		t.Errorf("%d blob functions, %d inputs processed", n, len(rec.all()))
	}
}

// keeper keeps each invocation's inputs unread.
type keeper struct {
	mu     sync.Mutex
	inputs [][]pipeline.Input
}

func (k *keeper) Process(_ context.Context, inputs []pipeline.Input) (pipeline.Report, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inputs = append(k.inputs, inputs)
	return pipeline.Report{}, nil
}

// The server reads each request body into a buffer it reuses: what an
// invocation hands the pipeline (event bodies, in every encoding, and blob
// bytes) must not share that buffer, or the next request would overwrite
// records still being evaluated, or kept by the rules' state. The bodies
// of the host's shape are decoded into a buffer reused too, once Process
// returned: they are read during Process (TestReusedTextHoldsEachBatch,
// TestPipelineKeepsNothingOfAReusedBody).
func TestInputsOutliveTheRequestBuffer(t *testing.T) {
	k := &keeper{}
	base, _, _ := startServer(t, ServerOptions{Processor: k})
	rec := func(i int) string {
		return fmt.Sprintf(`{"records":[{"category":"Administrative","n":"%d \"%s\""}]}`, i, strings.Repeat("x", 1000+i))
	}
	var want []string
	for i := range 6 {
		var fn, body string
		switch i % 3 {
		case 0: // the host's shape, as encoding/json reads it (an array with a number)
			fn, body = "ingest-eventhub", `{"Data":{"events":`+jsonText(`[`+jsonText(rec(i))+`,`+jsonText(rec(i+100))+`,1]`)+`}}`
			want = append(want, rec(i), rec(i+100), "1")
		case 1: // single-encoded: encoding/json
			fn, body = "ingest-eventhub", `{"Data":{"events":`+jsonText([]string{rec(i)})+`}}`
			want = append(want, rec(i))
		case 2:
			fn, body = "ingest-blob", `{"Data":{"blob":"`+base64.StdEncoding.EncodeToString([]byte(rec(i)))+`"}}`
			want = append(want, rec(i))
		}
		if resp, answer := post(t, base+"/"+fn, []byte(body)); resp.StatusCode != http.StatusOK {
			t.Fatalf("invocation %d: %d %s", i, resp.StatusCode, answer)
		}
	}
	var got []string
	for _, inputs := range k.inputs {
		for _, in := range inputs {
			b, err := io.ReadAll(in.Body)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(b))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inputs read after later requests:\n%q\nwant\n%q", got, want)
	}
}

// The bodies of the host's shape are decoded into a buffer the server
// reuses from one invocation to the next (Request.text): each invocation
// reads its own bodies, whatever the sizes of those before it (a smaller
// batch after a larger one shows no byte of it), in every order of sizes.
func TestReusedTextHoldsEachBatch(t *testing.T) {
	rec := &recorder{}
	base, _, _ := startServer(t, ServerOptions{Processor: rec})
	body := func(i, size int) string {
		return fmt.Sprintf(`{"records":[{"category":"Administrative","n":"%d \"%s\" \\ \u00e9"}]}`, i, strings.Repeat(string(rune('a'+i%26)), size))
	}
	var want []string
	for i, size := range []int{5000, 100, 3000, 0, 20000, 20000, 1, 7000} {
		events := []string{body(i, size), body(i+100, size/2), ""}
		want = append(want, events...)
		if resp, answer := post(t, base+"/ingest-eventhub", []byte(`{"Data":{"events":`+jsonText(jsonText(events))+`}}`)); resp.StatusCode != http.StatusOK {
			t.Fatalf("invocation %d: %d %s", i, resp.StatusCode, answer)
		}
	}
	var got []string
	for _, r := range rec.all() {
		got = append(got, string(r.body))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bodies read:\n%.300q\nwant\n%.300q", got, want)
	}
}
