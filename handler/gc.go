package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// serveGCPercent is the garbage collector's target serve runs with unless
// GOGC says otherwise: a collection once the heap has grown by four times
// what was live, not once (Go's 100), as scan runs. Each batch allocates
// tens of thousands of short-lived objects (23 MB for 1,000 records); with
// 400 the collector runs a quarter as often, and serve's instructions per
// 1,000-record batch fall (callgrind, make bench-serve-instructions: 316 M
// at 100, 298 M at 200, 295 M at 400 at first; 232.8 M at 200 and 230.8 M
// at 400, and 235.4 M and 230.8 M, once framing and decoding cost less),
// for a heap that peaks at about five times what is live instead of two.
// The memory limit below keeps that from ever costing the instance: near
// it the collector runs as often as it must.
//
// Callgrind counts no kernel time, and the heap's growth costs some: each
// page the heap grows into is faulted in at its first touch, and a heap
// goal five times what is live grows five pages for each page of state
// the rules add (serve's state grows for as long as its windows fill). Measured
// again with BenchmarkServe's inputs outside serve's heap (issue 12): 164.0
// M instructions and ~1,000 page faults per batch at 400, 176.3 M and ~600
// at 200, 209.8 M and ~470 at 100 (and at 8af7c89: 140.1 M at 400, 149.1 M
// at 200, 171.1 M at 100). Fewer faults at a lower percent cost more
// collections: serveHeapRoom takes most of the faults away instead.
const serveGCPercent = 400

// memLimitShare is the share of the container's memory limit (cgroup) that
// serve gives Go's runtime as its soft memory limit, unless GOMEMLIMIT says
// otherwise: near it the collector runs as often as it must, whatever
// the GC percent.
const memLimitShare = 0.75

// Where the container's memory limit is read: cgroup v2, then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// serveHeapRoom is the room serve's heap keeps for a batch's garbage
// above what is live, unless GOGC says otherwise: the collector's goal is
// live + serveHeapRoom (heapFloor), twice live (floorMinPercent) once live
// is past the room. Its pages are faulted in once, at start-up
// (prefaultHeap), and kept, so that a batch faults in only the pages its
// new state takes: a goal of five times what is live alone grows, and
// faults in, five new pages for each page of state the rules add
// (serve's state grows for as long as its windows fill; issue 12: ~950
// faults per 1,000-record batch, 9.5 ms of the 43.1 ms of CPU, and as
// much again in user time on a virtual machine, where a fault costs ~20
// us here). The collector runs once per room of garbage, whatever is
// live. A container with less than four times the room gives it a
// quarter of its memory limit.
//
// It was 192 MiB until s7-srv. A collection marks the whole live heap,
// the state included (BenchmarkServe: 42 MB live, growing to 76 MB over
// its 60 batches; ~150 M instructions a collection under callgrind, 18-27 ms
// of CPU natively with the idle core's mark worker), and a batch makes
// ~10 MB of garbage: at 192 MiB a collection every 14 batches, 0.06-0.08
// a batch, ~9-12 M instructions a batch. At 384 MiB: 0.02 collections a
// batch over 50 batches after 10 (make bench-serve), 94.6 M -> 88.7 M
// instructions a batch (callgrind, 50 batches after 3: 3 collections ->
// 1), CPU 16.2, 16.7, 16.7 -> 16.0, 15.7, 15.6 ms a batch in 3 pairs
// alternated (a ratio: run under nice on a shared machine), page faults
// a batch the same (15-41 -> 21-24); faulting it in at start-up takes
// 0.15 s, not 0.08 s, and the process holds 192 MiB more.
const serveHeapRoom = 384 << 20

// tuneGC sets serve's GC percent, heap room and soft memory limit where
// the environment (GOGC, GOMEMLIMIT) does not, and logs what it chose. The
// heap floor it starts (nil with GOGC set) runs until stopped.
func tuneGC(log *zerolog.Logger) *heapFloor {
	ev := log.Info()
	limit, limited := containerMemoryLimit(cgroupMemoryFiles)
	var floor *heapFloor
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
		room := uint64(serveHeapRoom)
		if limited {
			room = min(room, uint64(limit)/4)
		}
		floor = startHeapFloor(room)
		ev = ev.Int("gc_percent", serveGCPercent).Uint64("heap_room_bytes", room)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && limited {
		soft := int64(float64(limit) * memLimitShare)
		debug.SetMemoryLimit(soft)
		ev = ev.Int64("memory_limit_bytes", soft)
	}
	ev.Msg("garbage collector")
	return floor
}

// heapFloor keeps the collector's heap goal at live + room: after each
// collection (a finalizer the collection runs) it sets the GC percent to
// room/live, or floorMinPercent when that is more. Go's runtime has a
// floor of its own (4 MB at GOGC=100) but none to set.
type heapFloor struct {
	room    uint64
	mu      sync.Mutex
	percent int
	stopped bool
	live    [1]metrics.Sample
}

// startHeapFloor starts keeping live + room as the heap goal's floor.
func startHeapFloor(room uint64) *heapFloor {
	f := &heapFloor{room: room, percent: serveGCPercent}
	f.live[0].Name = "/gc/heap/live:bytes"
	f.adjust()
	f.arm()
	return f
}

// stop ends the floor and puts the GC percent back to serveGCPercent.
func (f *heapFloor) stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(serveGCPercent)
	}
}

// gcSentinel is garbage the next collection finds: its finalizer runs once
// that collection is done. (It holds a pointer: a pointer-free object this
// small could share a tiny block and never be freed alone.)
type gcSentinel struct{ f *heapFloor }

func (f *heapFloor) arm() {
	runtime.SetFinalizer(&gcSentinel{f: f}, func(s *gcSentinel) {
		if s.f.adjust() {
			s.f.arm()
		}
	})
}

// adjust sets the GC percent for what the last collection found live, and
// reports whether the floor still runs.
func (f *heapFloor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.live[:])
	if f.live[0].Value.Kind() != metrics.KindUint64 {
		return true
	}
	p := floorPercent(f.live[0].Value.Uint64(), f.room)
	if p != f.percent {
		f.percent = p
		debug.SetGCPercent(p)
	}
	return true
}

// floorMinPercent is the least GC percent heapFloor sets: past the room,
// the heap goal is twice what is live (Go's default), a collection per
// live heap's worth of garbage. It was serveGCPercent (a goal of five
// times live past a quarter of the room) until BenchmarkServe's state,
// 35 MB live after 10 batches and 68 MB after 60, took the goal past the
// room: the heap grew by five times the state's growth, ~3 MB a batch,
// all of it pages faulted in during the batches (issue 12, make
// bench-serve with 50 batches, alternated on a loaded machine: 19-178
// faults a batch at 400, 10-65 at 100, and CPU 20.3-24.6 ms a batch at
// 400, 18.3-20.7 at 100 in 4 pairs). The collections it adds past a
// quarter of the room cost ~1 % of the instructions (callgrind, 20
// batches after 10, two runs each: 108.1 M and 109.6 M at 400, 110.3 M
// and 110.5 M at 100).
const floorMinPercent = 100

// floorPercent is the GC percent that puts the heap goal at live + room,
// or floorMinPercent when that is more, rounded up to two digits (the
// percent changes only when the live heap moves by a few per cent). A live
// heap under 4 MB (none measured yet, at start-up) counts as 4 MB: the
// runtime's own floor on the goal is 4 MB times the percent/100, which
// would otherwise put the goal far above the room.
func floorPercent(live, room uint64) int {
	live = max(live, 4<<20)
	p := room * 100 / live
	if p <= floorMinPercent {
		return floorMinPercent
	}
	step := uint64(1)
	for step*100 <= p {
		step *= 10
	}
	return int((p + step - 1) / step * step)
}

// prefaultRoom says whether serve faults its heap's room in at start-up
// (the handler's tests do not: a room faulted in a few dozen times costs
// them minutes on a loaded machine; BenchmarkServe does).
var prefaultRoom = true

// prefaultHeap faults in room bytes of heap at start-up, so that batches
// find the room heapFloor keeps already in the process's memory (each
// first touch of a page is a fault: issue 12), and returns how long it
// took; it stops early when ctx ends. Freed, the pages stay in the heap:
// the scavenger returns only what is beyond the heap goal, which
// heapFloor keeps above the room.
//
// Its pages are 4 KB ones. Marked for 2 MB pages (MADV_HUGEPAGE, THP in
// madvise mode), the room and as much address space again above it (for
// the heap's growth) took BenchmarkServe's faults from 10-65 a batch to
// 10-20 over 50 batches, and from 126-186 to 9-11 over 100 (the state's
// growth past the room), but not its CPU: higher, by 1-8 ms a batch,
// in 19 of 25 pairs alternated over 50 batches on this project's virtual
// machine (against main and against 4 KB pages with the same GC policy;
// user time: system time fell), and in 2 of 3 over 100, the instructions
// the same (issue 12). 2 MB pages do not come free here.
func prefaultHeap(ctx context.Context, room uint64) time.Duration {
	if room == 0 {
		return 0
	}
	start := time.Now()
	touchHeap(ctx, room)
	runtime.GC() // the room is free heap from here on
	return time.Since(start)
}

// touchHeap allocates n bytes and writes a byte of each page: garbage once
// it returns (not inlined, so no frame of prefaultHeap's holds it). Each
// MiB it stops if ctx ended (SIGTERM during start-up), and yields the
// processor: a loop without calls cannot be preempted where asynchronous
// preemption is off (GODEBUG=asyncpreemptoff=1, as under valgrind), and
// the server's readers must go on meanwhile.
//
//go:noinline
func touchHeap(ctx context.Context, n uint64) {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
		if i&(1<<20-1) == 0 {
			if ctx.Err() != nil {
				return
			}
			runtime.Gosched()
		}
	}
}

// containerMemoryLimit reads the first of files that holds a memory limit:
// a number of bytes below 1 PiB ("max", or the huge number cgroup v1
// writes for no limit, is none).
func containerMemoryLimit(files []string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<50 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
