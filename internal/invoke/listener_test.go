package invoke

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowBody opens a connection and posts an invocation that declares
// declared bytes and sends its first bytes, then one byte per interval
// until the connection breaks or stop is closed. It returns the response
// read, or an error, on done.
func slowBody(t *testing.T, base string, declared int, interval time.Duration, stop <-chan struct{}) <-chan slowResult {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	done := make(chan slowResult, 1)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		done <- slowResult{err: err}
		return done
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /ingest-eventhub HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"Data\":", addr, declared)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	go func() {
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- slowResult{err: err, after: time.Since(start)}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- slowResult{status: resp.StatusCode, body: string(b), retryAfter: resp.Header.Get("Retry-After"), after: time.Since(start)}
	}()
	return done
}

type slowResult struct {
	status     int
	body       string
	retryAfter string
	after      time.Duration
	err        error
}

// A body sent a byte at a time is cut off once it falls under
// MinBodyRate after the grace, with 408, well before a backstop timeout.
func TestServerCutsSlowBody(t *testing.T) {
	base, _, _ := startServer(t, ServerOptions{Processor: &recorder{}, BodyGrace: 500 * time.Millisecond})
	stop := make(chan struct{})
	defer close(stop)
	r := <-slowBody(t, base, 10<<20, 100*time.Millisecond, stop)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.status != http.StatusRequestTimeout || !strings.Contains(r.body, "slower than") {
		t.Fatalf("slow body answered %d %s, want 408", r.status, r.body)
	}
	if r.after > 3*time.Second {
		t.Fatalf("slow body cut off after %s with a 500ms grace", r.after)
	}
	t.Logf("a body at 10 bytes/s was answered %d after %s", r.status, r.after.Round(time.Millisecond))
	// The next invocation is served: the slot was given back.
	resp, body := post(t, base+"/ingest-eventhub", readInvocation(t, "eventhub.json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the slow body: %d %s", resp.StatusCode, body)
	}
}

// Invocations over MaxConcurrent are answered 503 with Retry-After at
// once, before their body is read; the slots come back when the running
// ones end.
func TestServerCapsConcurrentInvocations(t *testing.T) {
	base, srv, _ := startServer(t, ServerOptions{Processor: &recorder{}, MaxConcurrent: 2, BodyGrace: 2 * time.Second})
	stop := make(chan struct{})
	var holders []<-chan slowResult
	for i := 0; i < 2; i++ {
		holders = append(holders, slowBody(t, base, 1<<20, 50*time.Millisecond, stop))
	}
	for deadline := time.Now().Add(5 * time.Second); len(srv.slots) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 slow bodies reached the handler", len(srv.slots))
		}
	}
	// The maintenance timer is never refused.
	if resp, body := post(t, base+"/maintenance", readInvocation(t, "timer.json")); resp.StatusCode != http.StatusOK {
		t.Fatalf("timer while the slots are taken: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	r := <-slowBody(t, base, 400<<20, time.Hour, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.status != http.StatusServiceUnavailable || r.retryAfter == "" || !strings.Contains(r.body, "AZDETECT_MAX_CONCURRENT_INVOCATIONS") {
		t.Fatalf("third invocation answered %d (Retry-After %q) %s, want 503 naming the setting", r.status, r.retryAfter, r.body)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the refusal took %s", d)
	}
	close(stop) // the holders stop sending; their bodies are incomplete
	for _, h := range holders {
		if hr := <-h; hr.status == http.StatusOK {
			t.Fatalf("an incomplete body answered 200: %s", hr.body)
		}
	}
	resp, body := post(t, base+"/ingest-eventhub", readInvocation(t, "eventhub.json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the holders ended: %d %s", resp.StatusCode, body)
	}
}

// The body buffer grows with what arrives: a request that declares 400 MiB
// and sends 100 bytes costs kilobytes, and a real body of several
// megabytes is read whole without a buffer bigger than twice its size.
func TestReadBodyGrowsAsBytesArrive(t *testing.T) {
	small, err := readBody(io.LimitReader(strings.NewReader(strings.Repeat("x", 1000)), 100), 400<<20)
	if err != nil || len(small) != 100 || cap(small) > 64<<10 {
		t.Fatalf("100 bytes of a declared 400 MiB: len %d cap %d (%v)", len(small), cap(small), err)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
	for _, declared := range []int64{int64(len(want)), -1} {
		got, err := readBody(&trickle{b: want}, declared)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("declared %d: read %d bytes (%v), want %d", declared, len(got), err, len(want))
		}
		if cap(got) > 2*len(want) || (declared >= 0 && int64(cap(got)) > declared+1) {
			t.Fatalf("declared %d: buffer cap %d for %d bytes", declared, cap(got), len(want))
		}
	}
}

// An invocation's body buffer, kept for the next (spares), has a quarter
// more room than the body it was grown for, and the next body, a little
// larger, is read into it; readBody's keeps the declared length.
func TestReadBodyIntoSpareRoom(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), 150_000) // 2.4 MB
	got, err := readBodyInto(nil, &trickle{b: want}, int64(len(want)), true)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(want))
	}
	if c := cap(got); c < len(want)+len(want)/4 || c > len(want)+len(want)/4+1 {
		t.Fatalf("buffer cap %d for %d bytes, want a quarter more", c, len(want))
	}
	larger := append(bytes.Clone(want), want[:len(want)/5]...)
	again, err := readBodyInto(got, &trickle{b: larger}, int64(len(larger)), true)
	if err != nil || !bytes.Equal(again, larger) {
		t.Fatalf("read %d bytes (%v), want %d", len(again), err, len(larger))
	}
	if &again[0] != &got[:1][0] {
		t.Error("a body a fifth larger did not reuse the kept buffer")
	}
	// Declared larger than it is: what arrives is all there is.
	short, err := readBodyInto(nil, &trickle{b: want[:1000]}, int64(len(want)), true)
	if err != nil || !bytes.Equal(short, want[:1000]) {
		t.Fatalf("a short body: %d bytes (%v)", len(short), err)
	}
}

// trickle returns at most 7 KiB per read, as a socket does.
type trickle struct{ b []byte }

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7<<10)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// Shutdown under a flood of slow bodies ends within the grace: the
// bodies still arriving are answered 503 at once (the host sends them
// again), the one invocation processing finishes, and Serve returns nil.
func TestServeShutdownUnderSlowFlood(t *testing.T) {
	rec := &recorder{delay: 300 * time.Millisecond, started: make(chan struct{}, 1)}
	base, _, stop := startServer(t, ServerOptions{Processor: rec, ShutdownGrace: 3 * time.Second, MaxConcurrent: 8})
	processing := make(chan int, 1)
	go func() {
		resp, err := http.Post(base+"/ingest-eventhub", "application/json", bytes.NewReader(readInvocation(t, "eventhub.json")))
		if err != nil {
			processing <- 0
			return
		}
		resp.Body.Close()
		processing <- resp.StatusCode
	}()
	<-rec.started
	hold := make(chan struct{})
	defer close(hold)
	var floods []<-chan slowResult
	for i := 0; i < 100; i++ {
		floods = append(floods, slowBody(t, base, 100<<20, 200*time.Millisecond, hold))
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	took := time.Since(start)
	if took > 3*time.Second {
		t.Fatalf("shutdown took %s, grace 3s", took)
	}
	if code := <-processing; code != http.StatusOK {
		t.Fatalf("the invocation processing at SIGTERM answered %d, want 200", code)
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	for _, f := range floods {
		r := <-f
		mu.Lock()
		statuses[r.status]++
		mu.Unlock()
	}
	if statuses[http.StatusOK] > 0 {
		t.Fatalf("flood answers: %v; an incomplete body answered 200", statuses)
	}
	t.Logf("shutdown under a flood of 100 slow bodies took %s; their answers by status: %v", took.Round(time.Millisecond), statuses)
}

// TestServerTakesLargestInvocation: the largest legitimate invocation, 100
// Event Hub events of 1 MB of real records each, encoded as the host
// encodes them (each event a JSON string inside the JSON string of the
// events array), is read whole over loopback and answered 200: its body
// stays above MinBodyRate. The time taken, decoding and processing
// included, is logged.
func TestServerTakesLargestInvocation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 100 MB invocation")
	}
	record := `{"time":"2026-11-20T09:12:44.1234567Z","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-000000000001/RESOURCEGROUPS/RG-PROD/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM-01","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE","category":"Administrative","resultType":"Success","callerIpAddress":"185.220.101.47","correlationId":"0b6c2a8e-0000-4000-8000-000000000001","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@contoso.com"}},"level":"Informational","properties":{"statusCode":"OK","userAgent":"Mozilla/5.0 (\"quoted\")"}}`
	var ev strings.Builder
	ev.WriteString(`{"records":[`)
	for ev.Len() < 1<<20 {
		if ev.Len() > len(`{"records":[`) {
			ev.WriteByte(',')
		}
		ev.WriteString(record)
	}
	ev.WriteString(`]}`)
	events := make([]string, 100)
	for i := range events {
		events[i] = ev.String()
	}
	inner, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"Data":     map[string]string{"events": string(inner)},
		"Metadata": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := 100 * ev.Len()
	base, _, _ := startServer(t, ServerOptions{Processor: &recorder{}})
	start := time.Now()
	resp, rb := post(t, base+"/ingest-eventhub", body)
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("largest invocation answered %d: %.300s", resp.StatusCode, rb)
	}
	// 200, not 408: the body kept above MinBodyRate on a loaded machine.
	allowed := BodyGrace + time.Duration(int64(len(body))/MinBodyRate)*time.Second
	t.Logf("100 events of %d bytes (%.1f MB of records) encoded as the host does: %.1f MB body (x%.2f), answered in %s (%.0f MB/s end to end; the rate limit allows %s)",
		ev.Len(), float64(raw)/1e6, float64(len(body))/1e6, float64(len(body))/float64(raw), took.Round(time.Millisecond),
		float64(len(body))/1e6/took.Seconds(), allowed)
}
