package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

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
// at 200, 209.8 M and ~470 at 100. A fault costs a few microseconds, so
// 200 trades ~12 M instructions (3-4 ms) for ~400 faults (1-3 ms): no
// gain, and 400 stays.
const serveGCPercent = 400

// memLimitShare is the share of the container's memory limit (cgroup) that
// serve gives Go's runtime as its soft memory limit, unless GOMEMLIMIT says
// otherwise: near it the collector runs as often as it must, whatever
// the GC percent.
const memLimitShare = 0.75

// Where the container's memory limit is read: cgroup v2, then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// tuneGC sets serve's GC percent and soft memory limit where the
// environment (GOGC, GOMEMLIMIT) does not, and logs what it chose.
func tuneGC(log *zerolog.Logger) {
	ev := log.Info()
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
		ev = ev.Int("gc_percent", serveGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if limit, ok := containerMemoryLimit(cgroupMemoryFiles); ok {
			soft := int64(float64(limit) * memLimitShare)
			debug.SetMemoryLimit(soft)
			ev = ev.Int64("memory_limit_bytes", soft)
		}
	}
	ev.Msg("garbage collector")
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
