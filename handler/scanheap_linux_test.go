package main

import (
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
)

// TestTHPMadvise: only the kernel's madvise mode (in brackets) counts.
func TestTHPMadvise(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]bool{
		"always [madvise] never\n": true,
		"[always] madvise never\n": false,
		"always madvise [never]\n": false,
		"":                         false,
	} {
		f := filepath.Join(dir, "enabled")
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := thpMadvise(f); got != want {
			t.Errorf("thpMadvise(%q) = %v, want %v", content, got, want)
		}
	}
	if thpMadvise(filepath.Join(dir, "missing")) {
		t.Error("thpMadvise of a missing file = true")
	}
}

// TestHugePageHeap: in madvise mode the room is marked for huge pages
// (a mapping of the process carries the hg flag) and is free heap after.
func TestHugePageHeap(t *testing.T) {
	f := filepath.Join(t.TempDir(), "enabled")
	if err := os.WriteFile(f, []byte("always [madvise] never\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(prev string) { thpEnabledFile = prev }(thpEnabledFile)
	thpEnabledFile = f
	const room = 32 << 20
	hugePageHeap(room)
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps to check: %v", err)
	}
	marked := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && strings.Contains(" "+flags+" ", " hg ") {
			marked = true
		}
	}
	if !marked {
		t.Error("no mapping marked for huge pages (VmFlags hg)")
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if free := s[0].Value.Uint64() + s[1].Value.Uint64(); free < room {
		t.Errorf("free heap after hugePageHeap %d bytes, want at least the room %d", free, room)
	}
}
