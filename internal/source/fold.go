package source

import (
	"strings"
	"unicode/utf8"
)

// Case-insensitive comparisons without a lower-cased copy: every record
// runs through several (levels, results, categories), and strings.ToLower
// allocates for any value with an upper-case letter.

// lowerWord returns s lower-cased (ASCII letters) in buf, for a switch over
// known words: string(lowerWord(...)) in a switch does not allocate. A
// value longer than buf, or not ASCII, is lower-cased by strings.ToLower.
func lowerWord(buf *[40]byte, s string) []byte {
	if len(s) > len(buf) {
		return []byte(strings.ToLower(s))
	}
	b := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return []byte(strings.ToLower(s))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

// containsFold reports whether s contains sub, a lower-case ASCII string,
// ignoring ASCII case.
func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	first := sub[0]
	letter := 'a' <= first && first <= 'z'
	for i := 0; i+n <= len(s); i++ {
		if !letter {
			// A first byte that folds to nothing else ('/'): jump to
			// its next occurrence.
			k := strings.IndexByte(s[i:len(s)-n+1], first)
			if k < 0 {
				return false
			}
			i += k
		}
		j := 0
		for j < n {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// lowerAs returns strings.ToLower(s): without a copy when s is one of
// words (lower-case ASCII) in any case, as most values of a small
// vocabulary are.
func lowerAs(s string, words ...string) string {
	for _, w := range words {
		if len(s) == len(w) && strings.EqualFold(s, w) {
			return w
		}
	}
	return strings.ToLower(s)
}

// hasPrefixFold is strings.HasPrefix(strings.ToLower(s), prefix) for a
// lower-case ASCII prefix, without the copy when s is ASCII.
func hasPrefixFold(s, prefix string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.HasPrefix(strings.ToLower(s), prefix)
		}
	}
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// trimSpace is strings.TrimSpace, with nearly every value (no blank at
// either end) answered by two byte tests: an ASCII byte above ' ' is no
// space, nor part of one.
func trimSpace(s string) string {
	if n := len(s); n == 0 || (s[0] > ' ' && s[0] < utf8.RuneSelf && s[n-1] > ' ' && s[n-1] < utf8.RuneSelf) {
		return s
	}
	return strings.TrimSpace(s)
}
