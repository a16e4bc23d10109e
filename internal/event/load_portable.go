//go:build !(amd64 || arm64 || 386)

package event

import "encoding/binary"

// load64 returns the eight bytes of b at i as a little-endian word (see
// load_unaligned.go).
func load64(b []byte, i int) uint64 {
	return binary.LittleEndian.Uint64(b[i : i+8])
}

// load8 returns b[i] (see load_unaligned.go).
func load8(b []byte, i int) byte { return b[i] }

// load32 returns the four bytes of b at i as a little-endian word (see
// load_unaligned.go).
func load32(b []byte, i int) uint32 {
	return binary.LittleEndian.Uint32(b[i : i+4])
}
