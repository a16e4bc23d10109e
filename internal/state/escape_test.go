package state

import (
	"strings"
	"testing"
)

// TestEscapeEveryByte: Escape, AppendEscape and EscapeRoom (eight bytes at
// a time, by table) agree with the rule byte by byte: [A-Za-z0-9-_.:@]
// kept, every other byte !XX, for every byte at every place of keys of
// every length around a word, appended to a buffer that already holds
// bytes (with room for every byte escaped or not), joined with others
// (AppendJoinKey), and for keys long enough to be shortened.
func TestEscapeEveryByte(t *testing.T) {
	for n := 1; n <= 19; n++ {
		for at := 0; at < n; at++ {
			for c := range 256 {
				b := []byte(strings.Repeat("aZ9-_.:@|", 3)[:n])
				b[at] = byte(c)
				s := string(b)
				want := byRule(s)
				if got := EscapeRoom(s); got != len(want) {
					t.Fatalf("EscapeRoom(%q) = %d, want %d", s, got, len(want))
				}
				if got := Escape(s); got != want {
					t.Fatalf("Escape(%q) = %q, want %q", s, got, want)
				}
				if got := string(AppendEscape([]byte("pre|"), s)); got != "pre|"+want {
					t.Fatalf("AppendEscape(%q) = %q", s, got)
				}
				if got := string(AppendEscape(withRoom("pre|", 3*len(s)), s)); got != "pre|"+want {
					t.Fatalf("AppendEscape(%q) with room (one pass) = %q", s, got)
				}
				// JoinKey's parts, with and without room for every byte
				// escaped (one pass each, or counted first).
				joined := want + "|" + byRule(s[:at]) + "|x"
				for _, b := range [][]byte{[]byte("pre|"), withRoom("pre|", 3*(len(s)+at+1)+3)} {
					if got := string(AppendJoinKey(b, s, s[:at], "x")); got != "pre|"+joined {
						t.Fatalf("AppendJoinKey(%q, %q, x) with room %d = %q, want %q", s, s[:at], cap(b)-len(b), got, "pre|"+joined)
					}
				}
			}
		}
	}
	long := strings.Repeat("é|x", 100)
	if got := Escape(long); len(got) > MaxKeyLen || !strings.HasPrefix(got, byRule(long)[:40]) || strings.IndexByte(got, '~') < 0 {
		t.Errorf("a long key escaped to %q", got)
	}
	if got, want := string(AppendJoinKey(withRoom("pre|", 3*len(long)+3), long, "x")), "pre|"+JoinKey(long, "x"); got != want || len(got) > 4+MaxKeyLen {
		t.Errorf("AppendJoinKey of a long key with room: %q, want %q", got, want)
	}
	if got := string(AppendEscape([]byte("pre|"), long)); got != "pre|"+Escape(long) {
		t.Errorf("AppendEscape of a long key: %q, want %q", got, "pre|"+Escape(long))
	}
	for _, k := range []string{long, strings.Repeat("a", MaxKeyLen), strings.Repeat("a", MaxKeyLen+1), strings.Repeat("\x00", 1<<20)} {
		if got := string(AppendEscape(withRoom("pre|", 3*len(k)), k)); got != "pre|"+Escape(k) {
			t.Errorf("AppendEscape with room of a key of %d bytes: %q, want %q", len(k), got, "pre|"+Escape(k))
		}
	}
}

// byRule is Escape's rule byte by byte, unshortened: [A-Za-z0-9-_.:@]
// kept, every other byte !XX.
func byRule(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('!')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&0xF])
	}
	return b.String()
}

// FuzzAppendEscape: AppendEscape (a word at a time, in place) agrees with
// the rule byte by byte on any bytes, with room for every byte escaped and
// with the room counted first, after bytes already in the buffer; a key
// escaped past MaxKeyLen is Escape's shortened key.
func FuzzAppendEscape(f *testing.F) {
	for _, s := range []string{"", "10.20.1.4|45.137.21.9", "a/b#c?d\\e'f", "\x00\xff\x7f|||||||||", "é|x", strings.Repeat("|", 50), strings.Repeat("ab|", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := byRule(s)
		if len(want) > MaxKeyLen {
			want = Escape(s)
			if len(want) > MaxKeyLen || !strings.HasPrefix(byRule(s), want[:strings.IndexByte(want, '~')]) {
				t.Fatalf("Escape(%q) = %q", s, want)
			}
		}
		for _, b := range [][]byte{[]byte("pre|"), withRoom("pre|", 3*len(s)), withRoom("pre|", len(s))} {
			if got := string(AppendEscape(b, s)); got != "pre|"+want {
				t.Fatalf("AppendEscape(%q) with room %d = %q, want %q", s, cap(b)-len(b), got, "pre|"+want)
			}
		}
	})
}

// withRoom is pre in a buffer with room for n more bytes.
func withRoom(pre string, n int) []byte {
	return append(make([]byte, 0, len(pre)+n), pre...)
}
