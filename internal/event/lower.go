package event

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// AppendLower appends strings.ToLower(s) to b, without the copy ToLower
// makes: ASCII folded as it is copied, in one pass into room made once;
// anything else as ToLower does.
func AppendLower(b []byte, s string) []byte {
	n := len(b)
	b = slices.Grow(b, len(s))[:n+len(s)]
	d := b[n:]
	for i := 0; i < len(s); i++ {
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
