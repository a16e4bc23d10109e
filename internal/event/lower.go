package event

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// AppendLower appends strings.ToLower(s) to b, without the copy ToLower
// makes: ASCII folded as it is copied, eight bytes at a time, into room
// made once; anything else as ToLower does.
func AppendLower(b []byte, s string) []byte {
	n := len(b)
	b = slices.Grow(b, len(s))[:n+len(s)]
	d := b[n:]
	src := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i <= len(src)-8; i += 8 {
		x := load64(src, i)
		if x&highBits != 0 {
			return append(b[:n], strings.ToLower(s)...)
		}
		// Each byte is ASCII: adding 0x80-'A' sets its top bit when it
		// is 'A' or above, adding 0x80-'Z'-1 when it is past 'Z' (no
		// carry reaches the next byte); a letter of 'A'..'Z' gets 0x20.
		upper := (x + (0x80-'A')*lowBits) &^ (x + (0x80-'Z'-1)*lowBits) & highBits
		binary.LittleEndian.PutUint64(d[i:], x|upper>>2)
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return append(b[:n], strings.ToLower(s)...)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d[i] = c
	}
	return b
}

// EqualFoldASCII reports whether s equals lower, a lower-case ASCII word,
// folding only the ASCII letters of s: unlike strings.EqualFold, "ſ" (long
// s) or the Kelvin sign never equal "s" or "k".
func EqualFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
