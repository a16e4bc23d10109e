package main

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"unsafe"
)

// thpEnabledFile says how the kernel backs memory with transparent huge
// pages: "always [madvise] never", the chosen mode in brackets.
var thpEnabledFile = "/sys/kernel/mm/transparent_hugepage/enabled"

// thpMadvise says whether the kernel's transparent huge pages are in
// madvise mode: only ranges a process marks with MADV_HUGEPAGE get 2 MB
// pages (in always mode every range gets them unasked, in never none).
func thpMadvise(file string) bool {
	b, err := os.ReadFile(file)
	return err == nil && bytes.Contains(b, []byte("[madvise]"))
}

// hugePageHeap marks room bytes of fresh heap for 2 MB pages and frees
// them: the runtime keeps the freed pages and hands them out first (its
// page allocator takes the lowest free address), so the scan's heap grows
// into them. Nothing is touched here: each 2 MB the scan first writes to
// is one page fault that maps 2 MB, where it was 512 faults of 4 KB (a
// folder scan faulted ~27,000 times, a fault costing microseconds on a
// virtual machine), and the TLB covers 512 times as much of the heap.
// With the collector off until scanMemoryLimit, the heap fills the room
// before its first collection anyway; what a short scan never touches
// costs nothing. The price is in user space: the runtime zeroes what it
// hands out of freed pages itself (fresh pages come zeroed from the
// kernel), +1.0 % instructions a record on the mix without GOGC set
// (callgrind: 87.4k -> 88.3k, all of it memclrNoHeapPointers), against
// a kernel's work that callgrind does not count and that fell by more
// (user+system time about halved).
func hugePageHeap(room int) {
	if !thpMadvise(thpEnabledFile) {
		return
	}
	b := make([]byte, room)
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(room)
	// The whole mapping the room lies in: the heap below it, which the
	// allocations after this go on filling first (the lowest free
	// address), and what the runtime mapped above it, which the heap
	// grows into once the room is full (it does: what is live, the
	// spans' fragmentation and the pages below the room come to more
	// than the room). Marked with the room alone, both were 4 KB pages:
	// bench-parallel's folder on one core faulted 1,918-2,529 times in
	// the heap, 767-1,386 times once the mapping was marked (3 runs
	// each; a fault costs ~20 us on this project's virtual machine). The
	// 4 KB pages of what was touched before main (package init) stay:
	// a 2 MB range holding one is never faulted in whole again.
	if start, end, ok := mappingOf(mapsFile, lo); ok {
		lo, hi = start, max(hi, end)
	}
	if madvise(lo, hi-lo, syscall.MADV_HUGEPAGE) != nil {
		return
	}
	runtime.KeepAlive(b)
	b = nil
	// The room is free heap from here on, and released: a collection and
	// the scavenger (FreeOSMemory) give its untouched pages back to the
	// kernel, which zero-fills each on its first touch, so the runtime
	// hands them out without zeroing them itself. Freed by a collection
	// alone, they were dirty to the runtime: each span it made of them was
	// cleared, in user space, on top of the kernel's zeroing of the page
	// (callgrind: memclrNoHeapPointers, ~1.4k instructions a record on the
	// mix). The mapping keeps its mark for 2 MB pages.
	debug.FreeOSMemory()
}

// mapsFile lists the process's mappings.
var mapsFile = "/proc/self/maps"

// madvise is madvise(2) on [addr, addr+n).
func madvise(addr, n uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, n, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// mappingOf returns the bounds of the mapping in file (/proc/self/maps'
// format: "start-end perms ...", hex) that holds addr.
func mappingOf(file string, addr uintptr) (start, end uintptr, ok bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, false
	}
	for line := range bytes.Lines(b) {
		bounds, _, _ := bytes.Cut(line, []byte(" "))
		s, e, found := bytes.Cut(bounds, []byte("-"))
		if !found {
			continue
		}
		lo, err1 := strconv.ParseUint(string(s), 16, 64)
		hi, err2 := strconv.ParseUint(string(e), 16, 64)
		if err1 == nil && err2 == nil && uintptr(lo) <= addr && addr < uintptr(hi) {
			return uintptr(lo), uintptr(hi), true
		}
	}
	return 0, 0, false
}
