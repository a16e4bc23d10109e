package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
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

// TestPrefaultHeapHugePages: where the kernel offers 2 MB pages on request,
// the heap prefaultHeap allocates (its room and as much address space
// again above it) is marked for them (VmFlags hg) over its whole range.
func TestPrefaultHeapHugePages(t *testing.T) {
	if !thpMadvise(thpEnabledFile) {
		b, _ := os.ReadFile(thpEnabledFile)
		t.Skipf("transparent huge pages not in madvise mode (%s: %q): nothing is marked", thpEnabledFile, strings.TrimSpace(string(b)))
	}
	const room = 32 << 20
	b := markedRoom(room)
	if len(b) != 2*room {
		t.Fatalf("markedRoom(%d) is %d bytes, want %d", room, len(b), 2*room)
	}
	for i := 0; i < room; i += 4096 {
		b[i] = 1 // the room, as touchHeap touches it
	}
	start := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	marked, huge := hugePageMarked(t, start, start+2*room)
	runtime.KeepAlive(b)
	if marked != 2*room {
		t.Errorf("%d bytes of the %d allocated are in mappings marked for huge pages", marked, 2*room)
	}
	// Whether the kernel found free 2 MB pages for the room depends on
	// its memory's fragmentation: reported, not asserted.
	t.Logf("marked %d bytes; the mappings hold %d bytes of 2 MB pages", marked, huge)
}

// hugePageMarked is how much of [lo, hi) is in the process's mappings
// marked for huge pages (VmFlags hg), and how much of those mappings 2 MB
// pages back (AnonHugePages), from /proc/self/smaps.
func hugePageMarked(t *testing.T, lo, hi uint64) (marked, huge uint64) {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps to check: %v", err)
	}
	var from, to, anonHuge uint64
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 1 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			a, z, _ := strings.Cut(f[0], "-")
			from, to = hexAddr(t, a), hexAddr(t, z)
		case len(f) >= 2 && f[0] == "AnonHugePages:":
			anonHuge = kib(t, f[1])
		case len(f) >= 1 && f[0] == "VmFlags:":
			if slices.Contains(f[1:], "hg") && from < hi && to > lo {
				marked += min(to, hi) - max(from, lo)
				huge += anonHuge
			}
		}
	}
	return marked, huge
}

func hexAddr(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("smaps: %q is not an address", s)
	}
	return n
}

func kib(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("smaps: %q is not a size in kB", s)
	}
	return n << 10
}
