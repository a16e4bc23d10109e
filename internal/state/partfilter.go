package state

import "strings"

// partFilter is a partition's Bloom filter of its row keys' first parts
// (up to and including their first '|': partHashOf), so that a Find of
// groups the partition does not hold (a threshold's new groups, most of a
// batch's) answers without merging the partition's order or searching it.
// A row that starts with a prefix holding a '|' has the prefix's first
// part, so a first part the filter has never seen rules out every row of
// that prefix; one it has (or a false positive, or a deleted row's, kept
// until the filter is rebuilt) leaves the answer to the order. It holds
// no pointers: 10-20 bits a row. A partition keeps one from its first
// read in order (orderWith) on: one never read by prefix (new-term's,
// impossible travel's) spends nothing on it.
type partFilter struct {
	bits []uint64 // a power of two long; nil: no first part added
	n    int      // first parts added since it was (re)built
}

// partHash is a first part's hash, from its length and its first and
// last eight bytes (a first part is a group, a few dozen bytes, whose
// distinct values mostly differ at an end): two words, multiplied and
// mixed. Parts alike in those collide, as a crafted collision would: a
// false positive, which costs a search, never a wrong answer.
func partHash(s string) uint64 {
	h := uint64(len(s)) * hashMul
	if len(s) >= 8 {
		h = (h ^ le64(s)) * hashMul
		h = (h ^ h>>31 ^ le64(s[len(s)-8:])) * hashMul
	} else {
		h = (h ^ shortWord(s)) * hashMul
	}
	return finish(h)
}

// hashMul is the odd constant partHash and shardHash multiply by.
const hashMul = 0xbf58476d1ce4e5b9

// shortWord is s, shorter than 8 bytes, as a little-endian word.
func shortWord(s string) uint64 {
	var t uint64
	for i := 0; i < len(s); i++ {
		t |= uint64(s[i]) << (8 * i)
	}
	return t
}

// finish mixes a hash's high bits into its low ones (the multiplications
// carry only upward).
func finish(h uint64) uint64 {
	h ^= h >> 29
	h *= 0x94d049bb133111eb
	return h ^ h>>32
}

// filterBitsPerPart is the bits a filter keeps per first part at most
// (about 3% false positives with two probes), and twice that after a
// rebuild.
const filterBitsPerPart = 10

// partHashOf is partHash of key's first part, up to and including its
// first '|'; false when key has none.
func partHashOf(key string) (uint64, bool) {
	i := strings.IndexByte(key, keySep)
	if i < 0 {
		return 0, false
	}
	return partHash(key[:i+1]), true
}

// probes are the two bits of a first part's hash in a filter of size
// bits.
func probes(h uint64, size int) (a, b uint64) {
	mask := uint64(size - 1)
	return h & mask, (h >> 32) & mask
}

// mayHold reports whether the filter may hold the first part whose hash
// is h (partHash).
func (f *partFilter) mayHold(h uint64) bool {
	if f.bits == nil {
		return false
	}
	a, b := probes(h, 64*len(f.bits))
	return f.bits[a>>6]&(1<<(a&63)) != 0 && f.bits[b>>6]&(1<<(b&63)) != 0
}

// set adds the first part whose hash is h (partHash).
func (f *partFilter) set(h uint64) {
	a, b := probes(h, 64*len(f.bits))
	f.bits[a>>6] |= 1 << (a & 63)
	f.bits[b>>6] |= 1 << (b & 63)
	f.n++
}

// noteRow adds a row just indexed to p's filter, rebuilt from p's rows
// (dropping deleted rows' first parts) with twice the bits per row when
// it is full.
func (p *memPartition) noteRow(key string) {
	if !p.ordered {
		return // no filter yet
	}
	h, ok := partHashOf(key)
	if !ok {
		return
	}
	if f := &p.filter; (f.n+1)*filterBitsPerPart <= 64*len(f.bits) {
		f.set(h)
		return
	}
	p.buildFilter()
}

// buildFilter (re)builds p's filter from its rows, with twice the bits it
// keeps per first part at most.
func (p *memPartition) buildFilter() {
	f := &p.filter
	words := 1
	for 64*words < 2*filterBitsPerPart*p.rows.n {
		words *= 2
	}
	f.bits, f.n = make([]uint64, words), 0
	// Slot by slot: a free slot's key is empty, as a deleted row's.
	for _, b := range p.blocks {
		for j := range b {
			if h, ok := partHashOf(b[j].RowKey); ok {
				f.set(h)
			}
		}
	}
}

// mayHold reports whether p may hold rows starting with prefix: false
// only when none does.
func (p *memPartition) mayHold(prefix string) bool {
	if !p.ordered {
		return true // no filter yet
	}
	h, ok := partHashOf(prefix)
	return !ok || p.filter.mayHold(h)
}

// holdsNone reports whether p holds no row starting with any of prefixes.
func (p *memPartition) holdsNone(prefixes []string) bool {
	for _, pr := range prefixes {
		if p.mayHold(pr) {
			return false
		}
	}
	return true
}
