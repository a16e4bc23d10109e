package state

import "testing"

// TestCheckKeyEveryByte: a key of one ASCII byte is accepted exactly when
// it is no control character, slash, backslash, '#', '?' or single quote (the table that
// decides it agrees with the rule), and the bytes past ASCII are decided
// rune by rune.
func TestCheckKeyEveryByte(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		bad := c < 0x20 || c == 0x7F || c == '/' || c == '\\' || c == '#' || c == '?' || c == '\''
		s := "a" + string(rune(c)) + "b"
		if err := checkKey(s); (err != nil) != bad {
			t.Errorf("checkKey(%q) = %v, want refused %v", s, err, bad)
		}
	}
	for s, bad := range map[string]bool{"é": false, "\u0085": true, "\xff": true, "ä/b": true, "日本": false} {
		if err := checkKey(s); (err != nil) != bad {
			t.Errorf("checkKey(%q) = %v, want refused %v", s, err, bad)
		}
	}
}
