package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// TestScanSetsASoftMemoryLimit: `azdetect scan` sets scanMemoryLimit
// unless GOMEMLIMIT is set (the user's word wins), and scanGCPercent
// with it unless GOGC is set; other commands set none.
func TestScanSetsASoftMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	prevGC := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prevGC)
	t.Setenv("GOGC", "")                                        // restored after; unset below
	current := func() int64 { return debug.SetMemoryLimit(-1) } // -1 reads it
	t.Setenv("GOMEMLIMIT", "1GiB")
	limitScanMemory([]string{"scan", "x.json"})
	if got := current(); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, scan set a limit of %d", got)
	}
	os.Unsetenv("GOMEMLIMIT") // t.Setenv restores it
	limitScanMemory([]string{"serve"})
	if got := current(); got != math.MaxInt64 {
		t.Errorf("serve set a limit of %d", got)
	}
	os.Unsetenv("GOGC")
	limitScanMemory([]string{"scan", "x.json"})
	if got := current(); got != scanMemoryLimit {
		t.Errorf("scan without GOMEMLIMIT: limit %d, want %d", got, scanMemoryLimit)
	}
	if got := debug.SetGCPercent(prevGC); got != scanGCPercent {
		t.Errorf("scan without GOGC: GC percent %d, want %d", got, scanGCPercent)
	}
	// GOGC set: the user's percent stays.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	limitScanMemory([]string{"scan", "x.json"})
	if got := debug.SetGCPercent(prevGC); got != 150 {
		t.Errorf("with GOGC=150, scan set a GC percent of %d", got)
	}
}

// TestHeapRoomByCores: one core keeps the smaller room (the scavenger
// splits the larger one's 2 MB pages there), two cores or more take the
// larger; both leave the heap's first pages and the runtime's own memory
// under scanMemoryLimit.
func TestHeapRoomByCores(t *testing.T) {
	if got := heapRoom(1); got != scanHeapRoom {
		t.Errorf("one core: room %d, want %d", got, scanHeapRoom)
	}
	for _, procs := range []int{2, 4} {
		if got := heapRoom(procs); got != scanHeapRoomParallel {
			t.Errorf("%d cores: room %d, want %d", procs, got, scanHeapRoomParallel)
		}
	}
	for _, room := range []int{scanHeapRoom, scanHeapRoomParallel} {
		if room > scanMemoryLimit-8<<20 {
			t.Errorf("room %d MiB leaves less than 8 MiB of the %d MiB limit", room>>20, scanMemoryLimit>>20)
		}
	}
}
