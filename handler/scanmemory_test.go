package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// TestScanSetsASoftMemoryLimit: `azdetect scan` sets scanMemoryLimit
// unless GOMEMLIMIT is set (the user's word wins); other commands set none.
func TestScanSetsASoftMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
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
	limitScanMemory([]string{"scan", "x.json"})
	if got := current(); got != scanMemoryLimit {
		t.Errorf("scan without GOMEMLIMIT: limit %d, want %d", got, scanMemoryLimit)
	}
}
