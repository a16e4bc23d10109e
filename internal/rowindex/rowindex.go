// Package rowindex is an open-addressed table of 64-bit hashes to entry
// numbers, for callers that keep their entries in slices and compare
// them themselves: one hash of the caller's choosing per look-up, where a
// map with a struct key hashes every string of it, per look-up and per
// assignment.
package rowindex

// Index finds numbered entries (a caller's rows or groups) by a 64-bit
// hash of what identifies them: an open-addressed table of (hash, index)
// pairs. The zero value is empty and ready. It holds no pointer, so the collector neither scans it nor pays a write
// barrier to fill it, and a look-up is one hash of the key's bytes (the
// caller's) and a compare of what the hash finds, where a map with a
// struct key hashes every string of it, per look-up and per assignment.
//
// Hashes may collide: a look-up walks every entry with its hash, and the
// caller compares each entry's identity (Index never decides equality).
type Index struct {
	slots []slot
	n     int
	shift uint // 64 - log2(len(slots))
}

type slot struct {
	h uint64
	i int32 // the entry's index + 1; 0: an empty slot
}

// minSlots is an Index's first size.
const minSlots = 64

// First is where h's probe sequence starts (-1 in an empty index: Probe
// then reports no entry).
func (x *Index) First(h uint64) int {
	if len(x.slots) == 0 {
		return -1
	}
	return int((h * 0x9E3779B97F4A7C15) >> x.shift)
}

// Probe returns the next entry with hash h at or after slot s of its
// sequence (from First), and the slot it is in: the caller compares the
// entry and, when it is not the one, probes again from slot+1. Past the
// last such entry it returns -1.
func (x *Index) Probe(h uint64, s int) (slot int, entry int32) {
	if s < 0 {
		return s, -1
	}
	mask := len(x.slots) - 1
	for {
		s &= mask
		sl := &x.slots[s]
		if sl.i == 0 {
			return s, -1
		}
		if sl.h == h {
			return s, sl.i - 1
		}
		s++
	}
}

// Insert adds entry i with hash h (the caller knows it is not there).
func (x *Index) Insert(h uint64, i int32) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	x.place(h, i)
	x.n++
}

func (x *Index) place(h uint64, i int32) {
	mask := len(x.slots) - 1
	s := x.First(h)
	for x.slots[s&mask].i != 0 {
		s++
	}
	x.slots[s&mask] = slot{h: h, i: i + 1}
}

// Reserve makes room for n entries in an empty index: a call that
// expects as many rows as events (flow tuples, mostly of distinct
// address pairs) sizes it once instead of growing it step by step.
// It empties the index, and reuses its slots when they are enough.
func (x *Index) Reserve(n int) {
	size := minSlots
	for size < 2*n {
		size *= 2
	}
	if cap(x.slots) < size {
		x.slots = nil
		x.resize(size)
		x.n = 0
		return
	}
	x.slots = x.slots[:size]
	clear(x.slots)
	x.n = 0
	x.setShift()
}

// Clone returns a copy of x that shares nothing with it.
func (x *Index) Clone() Index {
	return Index{slots: append([]slot(nil), x.slots...), n: x.n, shift: x.shift}
}

// Cap is how many slots the index holds room for: what it weighs (16
// bytes a slot), for a caller deciding whether to keep it.
func (x *Index) Cap() int { return cap(x.slots) }

func (x *Index) setShift() {
	x.shift = 64
	for n := len(x.slots); n > 1; n >>= 1 {
		x.shift--
	}
}

func (x *Index) grow() { x.resize(max(2*len(x.slots), minSlots)) }

func (x *Index) resize(size int) {
	old := x.slots
	x.slots = make([]slot, size)
	x.setShift()
	for _, sl := range old {
		if sl.i != 0 {
			x.place(sl.h, sl.i-1)
		}
	}
}
