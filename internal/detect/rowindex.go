package detect

import (
	"hash/maphash"
	"math/bits"
	"slices"

	"github.com/azdetect/azdetect/internal/state"
)

// rowSeed seeds the hashes of every rowindex.Index of a call: they live as long as one
// call and never leave the process, so any seed will do.
var rowSeed = maphash.MakeSeed()

// mixKey mixes a string's hash with a and b.
func mixKey(h uint64, a, b int32) uint64 {
	h ^= (uint64(uint32(a))<<32 | uint64(uint32(b))) * 0xC2B2AE3D27D4EB4F
	h ^= h >> 31
	return h
}

// sortKeysWith sorts keys as strings sort, faster, moving ids (nil, or
// as many as keys) with their keys: by their first sixteen bytes as two
// big-endian numbers (zero-padded: a shorter key sorts first), then,
// where those tie, by the whole keys. The sort moves pointer-free
// (numbers, place) records, not strings, and compares them inline
// (sortRecs), not through a function value.
func sortKeysWith(keys []string, ids []int32) {
	if len(keys) < 2 || slices.IsSorted(keys) {
		return
	}
	// A few dozen keys (most calls' windows) sort in room on the stack.
	const onStack = 64
	var recBuf [onStack]keyRec
	var keyBuf [onStack]string
	recs, sorted := recBuf[:0], keyBuf[:0]
	if len(keys) > onStack {
		recs, sorted = make([]keyRec, 0, len(keys)), make([]string, 0, len(keys))
	}
	recs, sorted = recs[:len(keys)], sorted[:len(keys)]
	for i, k := range keys {
		recs[i] = keyRec{state.BigEndianAt(k, 0), state.BigEndianAt(k, 8), int32(i)}
	}
	sortRecs(recs, keys, 2*bits.Len(uint(len(recs))))
	for j, r := range recs {
		sorted[j] = keys[r.i]
	}
	if ids != nil {
		// The records' numbers are spent: each holds its key's id a
		// moment, not a slice of its own.
		for j := range recs {
			recs[j].lo = uint64(uint32(ids[recs[j].i]))
		}
		for j, r := range recs {
			ids[j] = int32(uint32(r.lo))
		}
	}
	copy(keys, sorted)
}

// keyRec is a key of sortKeys: its first sixteen bytes and its place.
type keyRec struct {
	hi, lo uint64
	i      int32
}

// before reports whether a's key sorts before b's (keys the keys).
func (a *keyRec) before(b *keyRec, keys []string) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	if a.lo != b.lo {
		return a.lo < b.lo
	}
	return keys[a.i] < keys[b.i]
}

// sortRecs sorts r by their keys: a quicksort (median of three, Hoare's
// partition), insertion sort for a few, and past depth levels of
// partitions the library's sort (no quadratic case).
func sortRecs(r []keyRec, keys []string, depth int) {
	for len(r) > 12 {
		if depth == 0 {
			slices.SortFunc(r, func(a, b keyRec) int {
				switch {
				case a.before(&b, keys):
					return -1
				case b.before(&a, keys):
					return 1
				}
				return 0
			})
			return
		}
		depth--
		m, l := len(r)/2, len(r)-1
		if r[m].before(&r[0], keys) {
			r[m], r[0] = r[0], r[m]
		}
		if r[l].before(&r[0], keys) {
			r[l], r[0] = r[0], r[l]
		}
		if r[l].before(&r[m], keys) {
			r[l], r[m] = r[m], r[l]
		}
		p := r[m]
		i, j := -1, len(r)
		for {
			i++
			for r[i].before(&p, keys) {
				i++
			}
			j--
			for p.before(&r[j], keys) {
				j--
			}
			if i >= j {
				break
			}
			r[i], r[j] = r[j], r[i]
		}
		// r[:j+1] sort at or before p, r[j+1:] at or after it.
		if j+1 < len(r)-j-1 {
			sortRecs(r[:j+1], keys, depth)
			r = r[j+1:]
		} else {
			sortRecs(r[j+1:], keys, depth)
			r = r[:j+1]
		}
	}
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].before(&r[j-1], keys); j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}
