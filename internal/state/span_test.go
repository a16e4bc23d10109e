package state

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBeforeEndIsPrefixEnd: the in-memory store's end of a prefix range,
// compared without building it, is the bound Table Storage's filter reads
// (prefixEnd), for keys near the bound and past the printable range.
func TestBeforeEndIsPrefixEnd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := "ab|!~\x7f\x80z"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		prefix, row := word(1+r.IntN(4)), word(r.IntN(6))
		tr := strings.TrimRightFunc(prefix, func(c rune) bool { return c >= 0x7E })
		end, ok := prefixEnd(prefix)
		if !ok {
			if tr != "" {
				t.Fatalf("prefix %q: prefixEnd has no end but %q is left", prefix, tr)
			}
			continue
		}
		if got, want := beforeEnd(row, tr), row < end; got != want {
			t.Fatalf("row %q, prefix %q (end %q): beforeEnd %v, want %v", row, prefix, end, got, want)
		}
	}
}
