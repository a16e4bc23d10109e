package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
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
	// As scan runs: no collection until the memory limit, where the
	// scavenger keeps what the heap frees unless told to give it back.
	defer debug.SetGCPercent(debug.SetGCPercent(scanGCPercent))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(scanMemoryLimit))
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
	// Released, not only free: the runtime zeroes free pages it hands out
	// again, but not released ones (the kernel zero-fills them).
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if released := s[0].Value.Uint64(); released < room {
		t.Errorf("heap released after hugePageHeap %d bytes, want at least the room %d", released, room)
	}
}

// TestMappingOf: the mapping holding an address, from maps' hex bounds;
// none for an address outside every mapping or a file that cannot be read.
func TestMappingOf(t *testing.T) {
	f := filepath.Join(t.TempDir(), "maps")
	maps := "00400000-01b3c000 r-xp 00000000 08:01 123 /bin/azdetect\n" +
		"c000000000-c004000000 rw-p 00000000 00:00 0 \n" +
		"c004000000-c010400000 rw-p 00000000 00:00 0\n" +
		"garbage line\n" +
		"7ffc1000-7ffc2000 rw-p 00000000 00:00 0 [stack]"
	if err := os.WriteFile(f, []byte(maps), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr       uintptr
		start, end uintptr
		ok         bool
	}{
		{0xc000000000, 0xc000000000, 0xc004000000, true},
		{0xc003ffffff, 0xc000000000, 0xc004000000, true},
		{0xc004000000, 0xc004000000, 0xc010400000, true},
		{0x7ffc1fff, 0x7ffc1000, 0x7ffc2000, true}, // the last line, without a newline
		{0xc010400000, 0, 0, false},
		{0x1000, 0, 0, false},
	} {
		start, end, ok := mappingOf(f, c.addr)
		if start != c.start || end != c.end || ok != c.ok {
			t.Errorf("mappingOf(%#x) = %#x, %#x, %v; want %#x, %#x, %v", c.addr, start, end, ok, c.start, c.end, c.ok)
		}
	}
	if _, _, ok := mappingOf(filepath.Join(t.TempDir(), "missing"), 0xc000000000); ok {
		t.Error("mappingOf of a missing file found a mapping")
	}
}
