package event

import (
	"strings"
	"unicode/utf8"
)

// AppendLower appends strings.ToLower(s) to b, without the copy ToLower
// makes: ASCII a byte at a time, anything else as ToLower does.
func AppendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}
