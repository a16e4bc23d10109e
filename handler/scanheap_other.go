//go:build !linux

package main

// hugePageHeap is a no-op where the kernel has no madvise mode for
// transparent huge pages.
func hugePageHeap(room int) {}
