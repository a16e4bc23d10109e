//go:build amd64 || arm64 || 386

package event

import "unsafe"

// load64 returns the eight bytes of b at i as a little-endian word; i+8
// must not pass len(b) (the caller's loop checks it). These processors
// are little-endian and load from any address: one instruction, with
// no bounds check.
func load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// load8 returns b[i]; i must be within b (the caller's loop checks it),
// and no bounds check is made.
func load8(b []byte, i int) byte {
	return *(*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// load32 returns the four bytes of b at i as a little-endian word; i+4
// must not pass len(b) (the caller checks it), and no bounds check is
// made.
func load32(b []byte, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}
