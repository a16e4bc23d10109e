package event

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Key identifies one record for idempotent counting (a threshold counts a
// redelivered record once; a sequence knows a step it has seen): the
// record's own id where its log has one (RecordID: a sign-in's or audit
// entry's id, Activity's eventDataId, a flow tuple's record and index...),
// otherwise the record's bytes. It is 16 hex digits of a fast 64-bit hash
// (FNV-1a over the id; over the bytes, the same multiply-and-xor taken a
// word at a time) that is the same in every process: keys are persisted in
// the state store, so a seeded hash such as hash/maphash would not do. Not
// a cryptographic hash, which nothing here needs: a collision costs one
// event counted once instead of twice. Sources set it once when
// they parse a record (SetKey); an event made elsewhere computes it on each
// call.
func (e *Event) Key() string {
	if e.keySet {
		// The digits live in the event itself: no string allocated per
		// record. They are written once, by SetKey, before the event is
		// shared, and never again (a copy of the event has its own).
		return unsafe.String(&e.key[0], len(e.key))
	}
	var b [16]byte
	e.keyDigits(&b)
	return string(b[:])
}

// SetKey computes the event's Key once and keeps it. Call it when the
// event is complete (RecordID and Raw set) and before it is shared.
func (e *Event) SetKey() {
	e.keyDigits(&e.key)
	e.keySet = true
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// keyDigits writes the key's 16 hex digits to b.
func (e *Event) keyDigits(b *[16]byte) {
	h := uint64(fnvOffset64)
	if e.RecordID != "" {
		h = fnvString(h, e.Source)
		h *= fnvPrime64 // FNV-1a of a 0 byte between the two: the xor with 0 leaves h
		h = fnvString(h, e.RecordID)
	} else {
		h = hashBytes(h, e.Record())
	}
	binary.BigEndian.PutUint64(b[:8], hexWord(uint32(h>>32)))
	binary.BigEndian.PutUint64(b[8:], hexWord(uint32(h)))
}

// hexWord returns the eight lower-case hex digits of v, the first (most
// significant) in the word's top byte: its nibbles spread one to a byte,
// then '0' added to each, and 'a'-'0'-10 more to those of ten and above
// (a nibble plus 6 reaches the byte's high half just then).
func hexWord(v uint32) uint64 {
	x := uint64(v)
	x = (x<<16 | x) & 0x0000ffff0000ffff
	x = (x<<8 | x) & 0x00ff00ff00ff00ff
	x = (x<<4 | x) & 0x0f0f0f0f0f0f0f0f
	// Each byte now holds a nibble, the highest nibble in the top
	// byte: written big-endian, the digits read in order.
	letters := (x + 0x0606060606060606) >> 4 & 0x0101010101010101
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}

// FNV64a is hash/fnv's 64-bit FNV-1a of s, without copying s.
func FNV64a(s string) uint64 { return fnvString(fnvOffset64, s) }

// FNV32a is hash/fnv's 32-bit FNV-1a of s, without copying s.
func FNV32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}

// hashBytes mixes b into h eight bytes at a time: FNV-1a's step on words,
// with a rotation so that high bits reach the low ones, then the tail
// bytes one at a time and a final avalanche (xorshift-multiply).
func hashBytes(h uint64, b []byte) uint64 {
	// Four words a turn under one bounds check (the same steps, in order,
	// as one word a turn: a record's key hashes all its bytes).
	for len(b) >= 32 {
		w := b[:32]
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(w[0:8]))*fnvPrime64, 31)
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(w[8:16]))*fnvPrime64, 31)
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(w[16:24]))*fnvPrime64, 31)
		h = bits.RotateLeft64((h^binary.LittleEndian.Uint64(w[24:32]))*fnvPrime64, 31)
		b = b[32:]
	}
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
