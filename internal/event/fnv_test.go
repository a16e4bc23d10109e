package event

import (
	"hash/fnv"
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
