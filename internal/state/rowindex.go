package state

import "hash/maphash"

// rowIndex is a partition's index of its rows by row key: an open-addressed
// table (linear probing) of words that each hold a key's hash's top 32 bits
// and the row's position + 1 (0: an empty slot). It holds no pointers: a
// map[string]int32 kept a string per row, about 30 bytes a row that every
// collection traced (a long scan's heap sits at its memory limit, so the
// collector runs often: issue 12), where this keeps 8-16 bytes a row it
// never looks into. A key is compared with the row key of the slot the
// word points at (the partition's own copy).
type rowIndex struct {
	words []uint64 // a power of two long, at most 3/4 full; nil when empty
	n     int
}

// rowSeed seeds the row keys' hashes (a process's own: nothing depends on
// the order of the words).
var rowSeed = maphash.MakeSeed()

// rowHash is the top 32 bits of key's hash: what a word keeps, and (its
// low bits) where the key's probe starts.
func rowHash(key string) uint32 { return uint32(maphash.String(rowSeed, key) >> 32) }

// newRowIndex returns an index with room for rows without growing.
func newRowIndex(rows int) rowIndex {
	if rows <= 0 {
		return rowIndex{}
	}
	size := 4
	for size*3 < rows*4 {
		size *= 2
	}
	return rowIndex{words: make([]uint64, size)}
}

// slotOf returns where key's word is in p's index, or -1 (a word's key
// is the row key of the slot it points at).
func (p *memPartition) slotOf(key string) int {
	if p.rows.n == 0 {
		return -1
	}
	return p.slotOfHash(key, rowHash(key))
}

// slotOfHash is slotOf with key's hash known (rowHash).
func (p *memPartition) slotOfHash(key string, h uint32) int {
	x := &p.rows
	if x.n == 0 {
		return -1
	}
	mask := uint32(len(x.words) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		w := x.words[i]
		if w == 0 {
			return -1
		}
		if uint32(w>>32) == h && p.at(int32(uint32(w))-1).RowKey == key {
			return int(i)
		}
	}
}

// find returns the position of row key, if p has that row.
func (p *memPartition) find(key string) (int32, bool) {
	i := p.slotOf(key)
	if i < 0 {
		return 0, false
	}
	return p.rows.position(i), true
}

// add indexes a row not in the index at pos; h is its key's hash
// (rowHash).
func (x *rowIndex) add(h uint32, pos int32) {
	if (x.n+1)*4 > len(x.words)*3 {
		x.grow()
	}
	mask := uint32(len(x.words) - 1)
	i := h & mask
	for x.words[i] != 0 {
		i = (i + 1) & mask
	}
	x.words[i] = uint64(h)<<32 | uint64(uint32(pos+1))
	x.n++
}

// grow doubles the index (from 4 words), rehashing from the words alone.
func (x *rowIndex) grow() {
	old := x.words
	x.words = make([]uint64, max(2*len(old), 4))
	mask := uint32(len(x.words) - 1)
	for _, w := range old {
		if w == 0 {
			continue
		}
		i := uint32(w>>32) & mask
		for x.words[i] != 0 {
			i = (i + 1) & mask
		}
		x.words[i] = w
	}
}

// remove takes the word at slot i (slot's) out of the index: the words
// after it that probed past it move back (backward-shift deletion), so that
// no probe ever stops short of its key.
func (x *rowIndex) remove(i int) {
	mask := len(x.words) - 1
	for j := (i + 1) & mask; x.words[j] != 0; j = (j + 1) & mask {
		home := int(uint32(x.words[j]>>32)) & mask
		// The word at j may move to i unless its probe starts in (i, j]
		// (cyclically).
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.words[i] = x.words[j]
			i = j
		}
	}
	x.words[i] = 0
	x.n--
	if x.n == 0 {
		x.words = nil
	}
}

// each calls fn with the position of every row indexed, in no order.
func (x *rowIndex) each(fn func(pos int32)) {
	for _, w := range x.words {
		if w != 0 {
			fn(int32(uint32(w)) - 1)
		}
	}
}

// position returns the position the word at slot i holds.
func (x *rowIndex) position(i int) int32 { return int32(uint32(x.words[i])) - 1 }
