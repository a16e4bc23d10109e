package state

import (
	"math/rand/v2"
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
	e := Entity{PartitionKey: ascii, RowKey: ascii, Expires: StampOf(time.Now()), Count: 1, Time: time.Now(),
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

// TestKeyWordSafe: deciding eight bytes at a time agrees with the table,
// for every byte at every place of a word (and of a key's tail), and for
// random words mixing allowed and refused bytes.
func TestKeyWordSafe(t *testing.T) {
	byTable := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if !keyASCII[s[i]] {
				return false
			}
		}
		return true
	}
	for n := 1; n <= 19; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("aZ9-_.:@|~ ", 2)[:n])
				b[at] = byte(c)
				if got, want := keyASCIISafe(string(b)), byTable(string(b)); got != want {
					t.Fatalf("%q: %v, table says %v", b, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	pool := []byte("az AZ09-_.|~!(){}*&^%$@:;,<>`\"=+[]/\\#?'\x00\x1f\x7f\x80\xc3\xa9\xff")
	for range 200000 {
		b := make([]byte, 8+r.IntN(9))
		for i := range b {
			b[i] = pool[r.IntN(len(pool))]
			if r.IntN(3) > 0 {
				b[i] = 'k'
			}
		}
		if got, want := keyASCIISafe(string(b)), byTable(string(b)); got != want {
			t.Fatalf("%q: %v, table says %v", b, got, want)
		}
	}
}
