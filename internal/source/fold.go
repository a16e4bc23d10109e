package source

import "strings"

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
	for i := 0; i+n <= len(s); i++ {
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
