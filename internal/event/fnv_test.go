package event

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"strconv"
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

// keyDigits writes the hash as 16 lower-case hex digits, as %016x does.
func TestKeyDigitsHex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		ev := &Event{Source: "s", RecordID: strconv.Itoa(i)}
		if i%2 == 1 {
			ev.RecordID = ""
			ev.Raw = binary.LittleEndian.AppendUint64(nil, r.Uint64())
		}
		var got [16]byte
		ev.keyDigits(&got)
		h := uint64(fnvOffset64)
		if ev.RecordID != "" {
			h = fnvString(uint64(fnvOffset64), ev.Source)
			h = fnvString(h, "\x00")
			h = fnvString(h, ev.RecordID)
		} else {
			h = hashBytes(h, ev.Record())
		}
		if want := fmt.Sprintf("%016x", h); string(got[:]) != want {
			t.Fatalf("keyDigits of %x: %s, want %s", h, got[:], want)
		}
	}
	for _, h := range []uint64{0, ^uint64(0), 0x0123456789abcdef, 0xfedcba9876543210, 0xa0a0a0a09f9f9f9f} {
		if got, want := string(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, hexWord(uint32(h>>32))), hexWord(uint32(h)))), fmt.Sprintf("%016x", h); got != want {
			t.Errorf("hexWord of %x: %s, want %s", h, got, want)
		}
	}
}
