package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// Event Hub batches of BenchmarkServe: the host's maxEventBatchSize
// (host.json) events of serveBenchPerEvent records each.
const (
	serveBenchRecords  = 1000
	serveBenchEvents   = 100
	serveBenchPerEvent = serveBenchRecords / serveBenchEvents
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread's usage.
const rusageThread = 1

// BenchmarkServe is serve as the Functions host drives it: the handler
// listening on loopback with memory state (the default settings: alerts
// as JSON lines on stdout, here discarded; dead letters to a file), and
// 1,000-record Event Hub invocations posted over one keep-alive HTTP
// connection, each the host's shape (100 events of {"records":[...]}
// bodies, the bodies and metadata double-encoded; dataType string as
// functions/ingest-eventhub declares). The records are benchcorpus's
// realistic mix without its $logs lines (Storage Analytics writes them to
// blobs only, never to an Event Hub). AZDETECT_BENCH_WARM batches (10 by
// default) go first, unmeasured, so that the state is that of an instance
// that has been running a while; each measured batch is new records, the
// next sequence numbers of the partition.
//
// Reported: serve's CPU per 1,000-record batch in milliseconds (the
// process's user and system time from getrusage, less the client's own
// thread, so the handler's reading of the body counts and the writing of
// it does not), wall time per batch, allocations per record (the
// process's, the client's few included), alerts per batch, and, to read
// a figure taken on a loaded machine, the process's user and system time,
// minor page faults and context switches per batch (the client's
// included: BenchmarkServeOverhead shows what they are alone), and the
// garbage collections finished per batch (a collection marks the whole
// live heap, state included: ~150 M instructions at s7-srv, 6 to 8 M
// when first measured, so the figure of 20 batches moves by ~7 M a batch
// with whether one falls among them; read gcs/batch beside it).
// AZDETECT_BENCH_CPUPROFILE=FILE writes a CPU profile of the measured
// batches alone; AZDETECT_BENCH_MEMPROFILE=FILE records every allocation
// and writes the allocation profile before the measured batches to
// FILE.base and after them to FILE, so that
// `go tool pprof -sample_index=alloc_objects -diff_base FILE.base FILE`
// shows the measured batches' allocations alone (it slows the benchmark:
// read its CPU figures from a run without it). Under valgrind's callgrind
// started with --instr-atstart=no, AZDETECT_BENCH_CALLGRIND=1 turns the
// instrumentation on for the measured batches alone (callgrind_control),
// so that the instructions counted are theirs: a figure that a loaded
// machine does not change (scripts/bench-serve-instructions.sh).
//
//	make bench-serve
func BenchmarkServe(b *testing.B) {
	if probeRun(b) {
		return
	}
	defer func(was bool) { prefaultRoom = was }(prefaultRoom)
	prefaultRoom = true // as serve runs
	defer func(was func()) { heapRoomFaulted = was }(heapRoomFaulted)
	roomFaulted := make(chan struct{})
	heapRoomFaulted = func() { close(roomFaulted) }
	warm, batches := serveBenchInput(b)
	dir := b.TempDir()
	b.Setenv("AZDETECT_STATE", "memory")
	b.Setenv("AZDETECT_ALERT_SINK", "stdout")
	b.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(dir, "dead.jsonl"))
	b.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	b.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	s, err := config.Load()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(serveBenchLogger(b, s).WithContext(context.Background()))
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, io.Discard, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	}()
	select {
	case addr := <-ready:
		// Serve faults its heap's room in beside the first invocations:
		// the batches go once that is done, so that it is not counted.
		select {
		case <-roomFaulted:
		case err := <-done:
			b.Fatalf("serve: %v", err)
		}
		runServeBench(b, addr.String(), warm, batches)
	case err := <-done:
		b.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		b.Fatal("serve did not listen")
	}
}

// BenchmarkServeOverhead is BenchmarkServe with serve's own part alone:
// the same server, logger and invocations, but a processor that only
// reads each event's body to its end, so what it measures is the HTTP
// exchange, reading and decoding the invocation, the answer and the log
// lines: what serve adds to the pipeline.
func BenchmarkServeOverhead(b *testing.B) {
	if probeRun(b) {
		return
	}
	warm, batches := serveBenchInput(b)
	b.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	b.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	s, err := config.Load()
	if err != nil {
		b.Fatal(err)
	}
	log := serveBenchLogger(b, s)
	srv, err := invoke.NewServer(invoke.ServerOptions{
		Addr: "127.0.0.1:0", FunctionsDir: s.FunctionsDir, Processor: drain{},
		Logger: log.With().Str("component", "invoke").Logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(log.WithContext(context.Background()))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("serve: %v", err)
		}
	}()
	runServeBench(b, addr.String(), warm, batches)
}

// probeRun reports whether this run of a benchmark is the testing
// package's probe (b.N=1) before a fixed count it runs anyway
// (-benchtime Nx with N above 1): such a run starts no serve of its own,
// so that what is measured (and what callgrind counts) is the N batches
// of the run asked for alone.
func probeRun(b *testing.B) bool {
	if b.N != 1 {
		return false
	}
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return false
	}
	n, ok := strings.CutSuffix(f.Value.String(), "x")
	if !ok {
		return false
	}
	count, err := strconv.Atoi(n)
	return err == nil && count > 1
}

// drain reads each input's body to its end.
type drain struct{}

func (drain) Process(ctx context.Context, inputs []pipeline.Input) (pipeline.Report, error) {
	rep := pipeline.Report{BySource: map[string]int{}}
	for _, in := range inputs {
		n, err := io.Copy(io.Discard, in.Body)
		if err != nil {
			return rep, err
		}
		rep.Records += int(n / 2048)
	}
	return rep, nil
}

// serveBenchLogger is the logger serve runs with (runServe), at the
// settings' level, its lines discarded: formatting them is part of the
// cost.
func serveBenchLogger(b *testing.B, s config.Settings) zerolog.Logger {
	level, err := zerolog.ParseLevel(s.LogLevel)
	if err != nil {
		b.Fatal(err)
	}
	return hostLogger(zerolog.New(io.Discard).Level(level).With().Timestamp().Logger(), io.Discard, io.Discard)
}

// serveBenchInput returns the count of warm-up batches and the warm-up and
// b.N measured batches, made before serve starts: making them left
// garbage and heap pages that serve would find already faulted in, and
// they are returned, so that the heap the measured batches run in is the
// one serve grew (its start-up and the warm-up included), as in a process
// of its own.
func serveBenchInput(b *testing.B) (int, [][]byte) {
	warm := 10
	if v := os.Getenv("AZDETECT_BENCH_WARM"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("AZDETECT_BENCH_WARM=%q: want a count of batches", v)
		}
		warm = n
	}
	batches := serveBenchBatches(b, warm+b.N)
	debug.FreeOSMemory()
	return warm, batches
}

// runServeBench posts the warm-up batches, then b.N measured ones, to the
// handler at addr, and reports what the measured ones cost.
func runServeBench(b *testing.B, addr string, warm int, batches [][]byte) {
	memProfile := os.Getenv("AZDETECT_BENCH_MEMPROFILE")
	if memProfile != "" {
		runtime.MemProfileRate = 1
	}

	// The client runs on its own OS thread, so that its CPU time can be
	// told from the handler's.
	type result struct {
		serveCPU, wall time.Duration
		serveSys       time.Duration // the handler's system time (the client's thread's left out)
		user, sys      time.Duration // the process's, the client's included
		faults         int64         // minor page faults, the process's
		switches       int64         // context switches, the process's
		mallocs        uint64
		gcs            uint32 // collections finished during the batches
		alerts         int
		err            error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r result
		c, err := dialHost(addr)
		if err != nil {
			r.err = err
			res <- r
			return
		}
		defer c.close()
		for i := range warm {
			if _, err := c.post(batches[i]); err != nil {
				r.err = fmt.Errorf("warm-up batch %d: %w", i, err)
				res <- r
				return
			}
		}
		// No forced collection here, unless for the allocation profile: a
		// collection forced while the heap is part full sets the
		// scavenger's goal below the room serve keeps (heapFloor), and it
		// would return pages that the measured batches fault in again; a
		// running handler is never forced.
		if memProfile != "" {
			runtime.GC() // the profile holds allocations up to the last collection
			if err := writeAllocs(memProfile + ".base"); err != nil {
				r.err = err
				res <- r
				return
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mallocs, gcs := ms.Mallocs, ms.NumGC
		if path := os.Getenv("AZDETECT_BENCH_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				r.err = fmt.Errorf("AZDETECT_BENCH_CPUPROFILE: %w", err)
				res <- r
				return
			}
			defer f.Close()
		}
		if err := callgrind("on"); err != nil {
			r.err = err
			res <- r
			return
		}
		proc0, thread0 := cpuTime(syscall.RUSAGE_SELF), cpuTime(rusageThread)
		client0 := rusage(rusageThread)
		ru0 := rusage(syscall.RUSAGE_SELF)
		start := time.Now()
		b.ResetTimer()
		for i := range b.N {
			logs, err := c.post(batches[warm+i])
			if err != nil {
				r.err = fmt.Errorf("batch %d: %w", warm+i, err)
				break
			}
			r.alerts += alertsIn(logs)
		}
		b.StopTimer()
		if err := callgrind("off"); err != nil && r.err == nil {
			r.err = err
		}
		r.wall = time.Since(start)
		r.serveCPU = (cpuTime(syscall.RUSAGE_SELF) - proc0) - (cpuTime(rusageThread) - thread0)
		ru1 := rusage(syscall.RUSAGE_SELF)
		client1 := rusage(rusageThread)
		r.serveSys = time.Duration((ru1.Stime.Nano() - ru0.Stime.Nano()) - (client1.Stime.Nano() - client0.Stime.Nano()))
		r.user = time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano())
		r.sys = time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano())
		r.faults = ru1.Minflt - ru0.Minflt
		r.switches = ru1.Nvcsw - ru0.Nvcsw + ru1.Nivcsw - ru0.Nivcsw
		pprof.StopCPUProfile() // (none running without AZDETECT_BENCH_CPUPROFILE)
		runtime.ReadMemStats(&ms)
		r.mallocs = ms.Mallocs - mallocs
		r.gcs = ms.NumGC - gcs
		if memProfile != "" && r.err == nil {
			runtime.GC() // the profile holds allocations up to the last GC
			r.err = writeAllocs(memProfile)
		}
		res <- r
	}()
	r := <-res
	if r.err != nil {
		b.Fatal(r.err)
	}
	n := float64(b.N)
	b.ReportMetric(float64(r.serveCPU.Microseconds())/1000/n, "cpu-ms/batch")
	b.ReportMetric(float64(r.serveSys.Microseconds())/1000/n, "cpu-sys-ms/batch")
	b.ReportMetric(float64(r.wall.Microseconds())/1000/n, "wall-ms/batch")
	b.ReportMetric(float64(r.user.Microseconds())/1000/n, "user-ms/batch")
	b.ReportMetric(float64(r.sys.Microseconds())/1000/n, "sys-ms/batch")
	b.ReportMetric(float64(r.faults)/n, "faults/batch")
	b.ReportMetric(float64(r.switches)/n, "switches/batch")
	b.ReportMetric(float64(r.mallocs)/(n*serveBenchRecords), "allocs/record")
	b.ReportMetric(float64(r.gcs)/n, "gcs/batch")
	b.ReportMetric(float64(r.alerts)/n, "alerts/batch")
	b.ReportMetric(0, "ns/op") // wall time is wall-ms/batch; CPU is what counts
}

// callgrind turns callgrind's instrumentation of this process on or off
// when AZDETECT_BENCH_CALLGRIND is set, and waits until it took effect.
func callgrind(onOff string) error {
	if os.Getenv("AZDETECT_BENCH_CALLGRIND") == "" {
		return nil
	}
	out, err := exec.Command("callgrind_control", "-i", onOff, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control -i %s: %w: %s", onOff, err, out)
	}
	return nil
}

// writeAllocs writes the allocation profile to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("AZDETECT_BENCH_MEMPROFILE: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("AZDETECT_BENCH_MEMPROFILE: %w", err)
	}
	return f.Close()
}

// serveBenchBatches returns n invocation bodies of serveBenchRecords
// records each, one partition's batches in order, in memory mapped outside
// Go's heap and unmapped when the test ends. The Functions host holds the
// invocations it sends in its own process: held in the handler's heap
// (150 MB for 60 batches), they would count as live memory to its garbage
// collector and charge serve with page faults on heap it grows only for
// them. They are made a batch at a time, so that making them leaves little
// heap behind: serve's heap starts near where a process of its own would
// (the pages the generator freed are returned to the OS before serve
// starts, and serve faults in what it uses of them again).
func serveBenchBatches(tb testing.TB, n int) [][]byte {
	tb.Helper()
	// Room for the batches, mapped but touched only as written: 8 MiB a
	// batch is more than twice what one takes.
	const maxBatch = 8 << 20
	mem, err := syscall.Mmap(-1, 0, n*maxBatch, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		tb.Fatalf("map the invocations: %v", err)
	}
	tb.Cleanup(func() { _ = syscall.Munmap(mem) })
	fn := invoke.Function{Name: invoke.FunctionEventHub, Trigger: invoke.TriggerEventHub, Binding: "events", DataType: invoke.DataTypeString}
	part := invoke.PartitionContext{FullyQualifiedNamespace: "bench.servicebus.windows.net", EventHubName: "azure-logs",
		ConsumerGroup: "azdetect", PartitionID: "0"}
	out := make([][]byte, 0, n)
	var seq, offset int64
	recs := make([]string, 0, serveBenchRecords)
	var failed error
	batch := func() {
		bodies := make([]string, serveBenchEvents)
		for e := range bodies {
			at := e * serveBenchPerEvent
			bodies[e] = `{"records":[` + strings.Join(recs[at:at+serveBenchPerEvent], ",") + `]}`
			offset += int64(len(bodies[e]))
		}
		body, err := invoke.EventHubRequest(fn, part, seq, offset, bodies, time.Now())
		if err == nil && len(body) > maxBatch {
			err = fmt.Errorf("a batch of %d bytes, more than the %d mapped for it", len(body), maxBatch)
		}
		if err != nil {
			failed = err
			return
		}
		seq += serveBenchEvents
		room := mem[len(out)*maxBatch:]
		out = append(out, room[:len(body):len(body)])
		copy(out[len(out)-1], body)
		recs = recs[:0]
	}
	benchcorpus.Each(func(r benchcorpus.Record) bool {
		if r.Source != "storageanalytics" {
			recs = append(recs, string(r.Line))
			if len(recs) == serveBenchRecords {
				batch()
			}
		}
		return failed == nil && len(out) < n
	})
	if failed != nil {
		tb.Fatal(failed)
	}
	return out
}

// rusage is getrusage(who).
func rusage(who int) syscall.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return ru
}

// cpuTime is user plus system time of the process (RUSAGE_SELF) or of the
// calling thread (RUSAGE_THREAD).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostConn is the host's side of one keep-alive connection, written and
// read on the calling goroutine alone (net/http's client would use two
// more), so that the calling thread's CPU time is all of the client's.
type hostConn struct {
	conn net.Conn
	r    *bufio.Reader
	addr string
	n    int
}

func dialHost(addr string) (*hostConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &hostConn{conn: c, r: bufio.NewReaderSize(c, 64<<10), addr: addr}, nil
}

func (h *hostConn) close() { _ = h.conn.Close() }

// post sends one Event Hubs invocation and returns the answer's body; an
// answer other than 200 is an error.
func (h *hostConn) post(body []byte) (string, error) {
	h.n++
	head := fmt.Sprintf("POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json; charset=utf-8\r\n"+
		"Content-Length: %d\r\nX-Azure-Functions-InvocationId: 00000000-0000-4000-8000-%012d\r\n"+
		"X-Azure-Functions-HostVersion: %s\r\nUser-Agent: Azure-Functions-Host/%s\r\n\r\n",
		invoke.FunctionEventHub, h.addr, len(body), h.n, invoke.ReplayHostVersion, invoke.ReplayHostVersion)
	if _, err := (&net.Buffers{[]byte(head), body}).WriteTo(h.conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return "", err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, answer)
	}
	return string(answer), nil
}

// alertsIn reads the alert count from an answer's summary log line
// ("..., N alerts in ...").
func alertsIn(answer string) int {
	_, rest, ok := strings.Cut(answer, " malformed")
	if !ok {
		return 0
	}
	i := strings.Index(rest, " alerts in ")
	if i < 0 {
		return 0
	}
	j := strings.LastIndexByte(rest[:i], ' ')
	n, _ := strconv.Atoi(rest[j+1 : i])
	return n
}
