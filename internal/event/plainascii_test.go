package event

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// plainASCIIBytes is PlainASCII one byte at a time: the reference its
// eight-bytes-a-turn loop must agree with.
func plainASCIIBytes(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzPlainASCII holds PlainASCII to the byte loop, on every offset of
// the input (a stop byte in each lane of a word, and in the tail), and
// TextASCII to Text: the same text, and ASCII when it says so.
func FuzzPlainASCII(f *testing.F) {
	for _, s := range []string{"", "a", "abcdefgh", "abcdefghi", `abc"def`, `abcdefg\`, "abcdefgh\x1f", "abcdefgh\x80", "\x7f\x20~!", "0123456789abcdef\xff", strings.Repeat("x", 40) + `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := 0; i <= len(b); i++ {
			for _, s := range [][]byte{b[i:], b[:i]} {
				if got, want := PlainASCII(s), plainASCIIBytes(s); got != want {
					t.Fatalf("PlainASCII(%q) = %t, want %t", s, got, want)
				}
			}
		}
		vals := []Value{StringValue(string(b))}
		if q := append(append([]byte{'"'}, b...), '"'); json.Valid(q) {
			vals = append(vals, JSONValue(q)) // (a value as the scanner finds one)
		}
		if json.Valid(b) {
			vals = append(vals, JSONValue(b))
		}
		for _, v := range vals {
			s, ascii := v.TextASCII()
			if s != v.Text() {
				t.Fatalf("TextASCII(%q) = %q, Text %q", v.raw, s, v.Text())
			}
			if ascii && (!utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf })) {
				t.Fatalf("TextASCII(%q) = %q: not ASCII", v.raw, s)
			}
		}
	})
}
