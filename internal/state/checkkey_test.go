package state

import (
	"strings"
	"testing"
	"time"
)

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

// TestEntityBytesBounded: the largest entity the other limits allow is
// within MaxEntityBytes by the service's formula, as CheckEntity assumes
// when it skips working the formula out.
func TestEntityBytesBounded(t *testing.T) {
	key := strings.Repeat("é", maxRawKeyLen/2) // maxRawKeyLen bytes, a UTF-16 unit per 2 bytes
	ascii := strings.Repeat("k", maxRawKeyLen) // a unit per byte: the most units
	e := Entity{PartitionKey: ascii, RowKey: ascii, Expires: time.Now(), Count: 1, Time: time.Now(),
		Text: strings.Repeat("t", MaxTextLen), Data: make([]byte, MaxDataLen)}
	if err := CheckEntity(e); err != nil {
		t.Fatal(err)
	}
	if n := EntityBytes(e); n > maxBoundedEntityBytes || maxBoundedEntityBytes > MaxEntityBytes {
		t.Errorf("the largest entity is %d bytes by the formula, bound %d, limit %d", n, maxBoundedEntityBytes, MaxEntityBytes)
	}
	e.RowKey = key
	if n := EntityBytes(e); n > maxBoundedEntityBytes {
		t.Errorf("%d bytes, bound %d", n, maxBoundedEntityBytes)
	}
	for _, name := range []string{propExpires, propCount, propTime, propText, propData} {
		if len(name) > 16 {
			t.Errorf("property %s is longer than the bound assumes", name)
		}
	}
}
