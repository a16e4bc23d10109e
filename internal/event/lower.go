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
