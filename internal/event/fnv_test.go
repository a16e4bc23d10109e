package event

import (
	"encoding/binary"
	"hash/fnv"
	"math/bits"
	"testing"
)

// TestFNVIsHashFNV: FNV32a and FNV64a are hash/fnv's FNV-1a: state
// partitions, claim buckets and distinct-value hashes written by earlier
// builds (with hash/fnv) are the same.
func TestFNVIsHashFNV(t *testing.T) {
	for _, s := range []string{"", "a", "user@contoso.com", "10.0.0.1|203.0.113.9", "ÄÖÜ|\x00|\xff", string(make([]byte, 5000))} {
		h32 := fnv.New32a()
		h32.Write([]byte(s))
		if got, want := FNV32a(s), h32.Sum32(); got != want {
			t.Errorf("FNV32a(%q) = %x, want %x", s, got, want)
		}
		h64 := fnv.New64a()
		h64.Write([]byte(s))
		if got, want := FNV64a(s), h64.Sum64(); got != want {
			t.Errorf("FNV64a(%q) = %x, want %x", s, got, want)
		}
	}
}

// TestHashBytesUnrolled: hashBytes, four words a turn, is the one word a
// turn hash that keys written by earlier builds were made with.
func TestHashBytesUnrolled(t *testing.T) {
	ref := func(h uint64, b []byte) uint64 {
		for len(b) >= 8 {
			h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(b))*fnvPrime64, 31)
			b = b[8:]
		}
		for _, c := range b {
			h = (h ^ uint64(c)) * fnvPrime64
		}
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
		return h
	}
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	for n := 0; n <= len(b); n++ {
		if got, want := hashBytes(fnvOffset64, b[:n]), ref(fnvOffset64, b[:n]); got != want {
			t.Fatalf("%d bytes: %x, want %x", n, got, want)
		}
	}
}
