package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSortKeysAgrees: SortKeys leaves keys in the order slices.Sort does,
// on lists of every size bound (1, 2, minSortKeys, 256, 257,
// past 1<<16),
// with duplicates, empty keys, NUL bytes (a key and the key with NULs
// after it alike in their numbers), invalid UTF-8, a long common prefix,
// keys alike for many bytes, and hostile parts.
func TestSortKeysAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	parts := hostileKeyParts()
	gens := map[string]func(i int) string{
		"users": func(i int) string { return fmt.Sprintf("user%04d!40contoso.com|", r.IntN(3000)) },
		"alike": func(i int) string { return strings.Repeat("a", r.IntN(12)) + strings.Repeat("\x00", r.IntN(3)) },
		"bytes": func(i int) string {
			b := make([]byte, r.IntN(10))
			for j := range b {
				b[j] = byte(r.IntN(4)) * 85
			}
			return string(b)
		},
		"common": func(i int) string {
			return strings.Repeat("p", 300) + string(rune('a'+r.IntN(3))) + fmt.Sprint(r.IntN(50))
		},
		"hostile": func(i int) string {
			p := parts[r.IntN(len(parts))]
			return p[:min(40, len(p))]
		},
		"utf8": func(i int) string {
			return []string{"é", "\xff", "\xc3", "日本", "", "\xef\xbf\xbd"}[r.IntN(6)] + fmt.Sprint(r.IntN(9))
		},
		"dups": func(i int) string { return []string{"b", "a", "a\x00", "a", ""}[r.IntN(5)] },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 3, minSortKeys - 1, minSortKeys, 100, 255, 256, 257, 1000, 1<<16 + 1} {
			if n > 1000 && name != "users" && name != "bytes" {
				continue
			}
			keys := make([]string, n)
			for i := range keys {
				keys[i] = gen(i)
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			SortKeys(keys)
			if !slices.Equal(keys, want) {
				t.Fatalf("%s, %d keys: %q\nwant %q", name, n, keys[:min(n, 20)], want[:min(n, 20)])
			}
		}
	}
}

func FuzzSortKeys(f *testing.F) {
	f.Add([]byte("b\x00a\x00a\x00\x00ab\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys := strings.Split(string(b), "\x00")
		for i := 0; len(keys) < minSortKeys; i++ {
			// Past the few slices.Sort sorts: the keys again, cut.
			k := keys[i]
			keys = append(keys, k[:len(k)*i%(len(k)+1)])
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		SortKeys(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("%q, want %q", keys, want)
		}
	})
}

func BenchmarkSortKeys(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("user%04d!40contoso.com|", r.IntN(3000))
	}
	work := make([]string, len(keys))
	b.Run("SortKeys", func(b *testing.B) {
		for range b.N {
			copy(work, keys)
			SortKeys(work)
		}
	})
	b.Run("slices.Sort", func(b *testing.B) {
		for range b.N {
			copy(work, keys)
			slices.Sort(work)
		}
	})
}

// TestBigEndianAtAgrees: BigEndianAt (a word load, a short last word shifted) is the
// eight bytes from off as a big-endian number, zeros past the string's
// end, byte by byte, for every length around the two words and any bytes.
func TestBigEndianAtAgrees(t *testing.T) {
	plain := func(s string, off int) uint64 {
		var v uint64
		for i := off; i < off+8; i++ {
			v <<= 8
			if i < len(s) {
				v |= uint64(s[i])
			}
		}
		return v
	}
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(0xF1 - 13*i) // every byte distinct, high bits set
	}
	for n := 0; n <= len(b); n++ {
		for _, off := range []int{0, 8} {
			s := string(b[:n])
			if got, want := BigEndianAt(s, off), plain(s, off); got != want {
				t.Fatalf("BigEndianAt(%q, %d) = %#x, want %#x", s, off, got, want)
			}
		}
	}
}
