package state

import (
	"math/bits"
	"slices"
)

// SortKeys sorts keys in increasing order: the order slices.Sort gives
// (strings compare by their bytes), in fewer instructions for keys that
// differ within a few bytes past what they all begin with (users' and
// hosts' row keys). It sorts numbers, each made of a key's next bytes
// past the prefix common to all and of the key's place, and compares
// whole keys only among those whose numbers' bytes are alike.
func SortKeys(keys []string) {
	n := len(keys)
	if n < minSortKeys || n > 1<<16 {
		// A few keys: slices.Sort's insertion sort costs less than
		// making their numbers.
		slices.Sort(keys)
		return
	}
	// 7 bytes and a place of 8 bits, or 6 bytes and 16 bits.
	placeBits, width := 8, 7
	if n > 1<<8 {
		placeBits, width = 16, 6
	}
	common := commonPrefix(keys)
	var tagBuf [256]uint64
	tags := tagBuf[:0]
	if n > len(tagBuf) {
		tags = make([]uint64, 0, n)
	}
	shift := 64 - 8*width
	for i, k := range keys {
		var h uint64
		if len(k) >= common+8 {
			h = be64(k[common:]) >> shift
		} else {
			h = sortHead(k, common, width)
		}
		tags = append(tags, h<<placeBits|uint64(i))
	}
	slices.Sort(tags)
	// Each key to its place (tags[j]'s key to j), a cycle at a time; a
	// tag placed is given its own place.
	place := uint64(1)<<placeBits - 1
	for j := range tags {
		if int(tags[j]&place) == j {
			continue
		}
		held, at := keys[j], j
		for {
			from := int(tags[at] & place)
			tags[at] = tags[at]&^place | uint64(at)
			if from == j {
				keys[at] = held
				break
			}
			keys[at], at = keys[from], from
		}
	}
	// Keys alike in their numbers' bytes: in their places' order, sorted
	// whole.
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && tags[hi]>>placeBits == tags[lo]>>placeBits {
			hi++
		}
		if hi-lo > 1 {
			slices.Sort(keys[lo:hi])
		}
		lo = hi
	}
}

// minSortKeys is how many keys SortKeys sorts by their numbers, at least.
const minSortKeys = 24

// commonPrefix is how many bytes all keys begin with alike.
func commonPrefix(keys []string) int {
	first := keys[0]
	n := len(first)
	for _, k := range keys[1:] {
		n = min(n, len(k))
		i := 0
		for i+8 <= n {
			if x := le64(k[i:]) ^ le64(first[i:]); x != 0 {
				i += bits.TrailingZeros64(x) >> 3
				n = i
				break
			}
			i += 8
		}
		for i < n && k[i] == first[i] {
			i++
		}
		if i < n {
			n = i
		}
		if n == 0 {
			break
		}
	}
	return n
}

// sortHead is width (at most 8) bytes of k from at, big-endian, a byte
// past k's end 0.
func sortHead(k string, at, width int) uint64 {
	return BigEndianAt(k, at) >> (64 - 8*width)
}

// BigEndianAt is the eight bytes of s from off as a big-endian number,
// zeros past its end (a word load where eight bytes follow off, a short
// last word shifted). Shared with detect's row sort.
func BigEndianAt(s string, off int) uint64 {
	if len(s) >= off+8 {
		return be64(s[off : off+8])
	}
	if len(s) > off && len(s) >= 8 {
		// A short last word: the string's last eight bytes, the ones
		// before off shifted out, zeros in.
		return be64(s[len(s)-8:]) << (8 * uint(off+8-len(s)))
	}
	var v uint64
	for i := off; i < off+8; i++ {
		v <<= 8
		if i < len(s) {
			v |= uint64(s[i])
		}
	}
	return v
}

// be64 is w's first eight bytes as a big-endian number (one load).
func be64(w string) uint64 {
	_ = w[7]
	return uint64(w[7]) | uint64(w[6])<<8 | uint64(w[5])<<16 | uint64(w[4])<<24 |
		uint64(w[3])<<32 | uint64(w[2])<<40 | uint64(w[1])<<48 | uint64(w[0])<<56
}
