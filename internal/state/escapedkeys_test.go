package state

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostileKeyParts are values a key part may come from: separators and
// escape bytes, the bytes Table Storage forbids in keys, control
// characters, non-ASCII and broken UTF-8, and lengths around MaxKeyLen up
// to a huge one.
func hostileKeyParts() []string {
	parts := []string{"", "a", "a|b", "a!7Cb", "~", "~first", "!", "|", "a/b", `a\b`, "a#b", "a?b", "a'b",
		"x\x00y", "\x00", "\x01\x1f", "\x7f", "\u0085", "é", "日本語", "\xff\xfe", "\xc3", "a b", "%2F",
		strings.Repeat("a", MaxKeyLen-1), strings.Repeat("a", MaxKeyLen), strings.Repeat("a", MaxKeyLen+1),
		strings.Repeat("/", MaxKeyLen), strings.Repeat("é", 300), strings.Repeat("\x00", 1<<20)}
	r := rand.New(rand.NewPCG(7, 8))
	pool := []byte("azAZ09-_.:@|~!/\\#?' \x00\x01\x1f\x7f\x80\xc3\xa9\xff")
	for range 2000 {
		b := make([]byte, r.IntN(3*MaxKeyLen))
		for i := range b {
			b[i] = pool[r.IntN(len(pool))]
		}
		parts = append(parts, string(b))
	}
	return parts
}

// TestEscapedKeysPass: every key built of what Escape, AppendEscape,
// JoinKey and TimeKey write, joined with '|' and with '~' constants (as
// the detection kinds build theirs, and vouch for with EscapedKeys), is
// one checkKey accepts, whatever the values: checkEscapedKey, which only
// measures it, decides as checkKey does.
func TestEscapedKeysPass(t *testing.T) {
	parts := hostileKeyParts()
	window := TimeKey(time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC))
	check := func(k string) {
		t.Helper()
		if err := checkKey(k); err != nil {
			t.Fatalf("key %.60q (%d bytes) built escaped is refused: %v", k, len(k), err)
		}
		if err := checkEscapedKey(k); err != nil {
			t.Fatalf("key %.60q (%d bytes): checkEscapedKey refuses what checkKey takes: %v", k, len(k), err)
		}
	}
	for i, p := range parts {
		q := parts[(i*7+3)%len(parts)]
		check(Escape(p))
		check(JoinKey("thr", p, window))
		check(JoinKey(p, q))
		row := string(AppendEscape(nil, p)) + "|" + Escape(q) // a threshold row (keyArena.groupRow)
		check(row)
		check(string(AppendEscape(withRoom("", 3*len(p)), p)) + "|" + Escape(q))
		check(window + "|" + Escape(p)) // a spike row
		check("~first|" + Escape(p))
		// PrefixOf does not shorten: a prefix of long parts is refused,
		// by length, both ways.
		if k := PrefixOf(p, q); (checkKey(k) == nil) != (checkEscapedKey(k) == nil) {
			t.Fatalf("prefix %.60q (%d bytes): checkKey says %v, checkEscapedKey %v", k, len(k), checkKey(k), checkEscapedKey(k))
		}
	}
	// Only a key's length can be wrong: past maxRawKeyLen both refuse.
	long := strings.Repeat("a", maxRawKeyLen+1)
	if checkKey(long) == nil || checkEscapedKey(long) == nil {
		t.Error("a key over maxRawKeyLen is accepted")
	}
}

// TestEscapedKeysStore: a store under EscapedKeys reads and writes what
// it does without (the same rows found and got, the same ETag checks), and
// still refuses keys over the length limit, at Get, Find and Apply.
func TestEscapedKeysStore(t *testing.T) {
	plain, escaped := context.Background(), EscapedKeys(context.Background())
	if EscapedKeys(escaped) != escaped {
		t.Error("EscapedKeys of a context already so is a new context")
	}
	const table = "thr"
	stores := [2]*Memory{NewMemory(), NewMemory()}
	ctxs := [2]context.Context{plain, escaped}
	parts := hostileKeyParts()
	pk := JoinKey("thr", "rule", "20261120T1030Z")
	var ops []Op
	var prefixes []string
	for i, p := range parts[:200] {
		row := string(AppendEscape(nil, p)) + "|" + Escape(parts[(i*5+1)%len(parts)])
		if i > 0 && ops[len(ops)-1].Entity.RowKey == row {
			continue
		}
		dup := false
		for _, o := range ops {
			dup = dup || o.Entity.RowKey == row
		}
		if dup {
			continue
		}
		ops = append(ops, Op{Kind: Insert, Entity: Entity{PartitionKey: pk, RowKey: row, Count: int64(i + 1), Text: "g"}})
		prefixes = append(prefixes, row[:strings.IndexByte(row, '|')+1])
	}
	for j := range stores {
		for at := 0; at < len(ops); at += MaxTransactionOps {
			if err := stores[j].Apply(ctxs[j], table, ops[at:min(at+MaxTransactionOps, len(ops))]); err != nil {
				t.Fatalf("apply (escaped %v): %v", j == 1, err)
			}
		}
	}
	var found [2][]Entity
	for j := range stores {
		var err error
		if found[j], err = stores[j].Find(ctxs[j], table, pk, prefixes); err != nil {
			t.Fatalf("find (escaped %v): %v", j == 1, err)
		}
	}
	if len(found[0]) != len(found[1]) || len(found[0]) != len(ops) {
		t.Fatalf("found %d and %d rows (escaped), want %d", len(found[0]), len(found[1]), len(ops))
	}
	for i := range found[0] {
		a, b := found[0][i], found[1][i]
		if a.Key() != b.Key() || a.Count != b.Count {
			t.Errorf("row %d: %s (%d) and %s (%d) escaped", i, a.Key(), a.Count, b.Key(), b.Count)
		}
	}
	// Get reads the same rows under EscapedKeys.
	keys := make([]Key, len(ops))
	for i, o := range ops {
		keys[i] = o.Entity.Key()
	}
	var got [2]map[Key]Entity
	for j := range stores {
		var err error
		if got[j], err = stores[j].Get(ctxs[j], table, keys); err != nil {
			t.Fatalf("get (escaped %v): %v", j == 1, err)
		}
	}
	if len(got[0]) != len(ops) || len(got[1]) != len(ops) {
		t.Fatalf("got %d and %d rows (escaped), want %d", len(got[0]), len(got[1]), len(ops))
	}
	for k, a := range got[0] {
		if b, ok := got[1][k]; !ok || a.Count != b.Count {
			t.Errorf("get %s: %d, and escaped %d (found %v)", k, a.Count, b.Count, ok)
		}
	}
	// A second insert of a row conflicts alike.
	for j := range stores {
		err := stores[j].Apply(ctxs[j], table, ops[:1])
		if !errors.Is(err, ErrConflict) {
			t.Errorf("insert again (escaped %v): %v, want a conflict", j == 1, err)
		}
	}
	long := strings.Repeat("a", maxRawKeyLen+1)
	for j := range stores {
		if _, err := stores[j].Find(ctxs[j], table, pk, []string{long}); !errors.Is(err, ErrInvalid) {
			t.Errorf("find a prefix over the limit (escaped %v): %v, want ErrInvalid", j == 1, err)
		}
		if _, err := stores[j].Find(ctxs[j], table, long, []string{"a"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("find in a partition over the limit (escaped %v): %v, want ErrInvalid", j == 1, err)
		}
		if _, err := stores[j].Get(ctxs[j], table, []Key{{PartitionKey: pk, RowKey: long}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("get a row over the limit (escaped %v): %v, want ErrInvalid", j == 1, err)
		}
		if _, err := stores[j].Get(ctxs[j], table, []Key{{PartitionKey: long, RowKey: "a"}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("get in a partition over the limit (escaped %v): %v, want ErrInvalid", j == 1, err)
		}
		err := stores[j].Apply(ctxs[j], table, []Op{{Kind: Insert, Entity: Entity{PartitionKey: pk, RowKey: long}}})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("apply a row over the limit (escaped %v): %v, want ErrInvalid", j == 1, err)
		}
		err = stores[j].Apply(ctxs[j], table, []Op{{Kind: Insert, Entity: Entity{PartitionKey: pk, RowKey: "ok", Text: "\xff"}}})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("apply a Text not UTF-8 (escaped %v): %v, want ErrInvalid", j == 1, err)
		}
	}
	// Without EscapedKeys a key the caller did not escape is still refused.
	if err := stores[0].Apply(plain, table, []Op{{Kind: Insert, Entity: Entity{PartitionKey: pk, RowKey: "a/b"}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("apply a row with '/': %v, want ErrInvalid", err)
	}
	if _, err := stores[0].Get(plain, table, []Key{{PartitionKey: pk, RowKey: "a?b"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("get a row with '?': %v, want ErrInvalid", err)
	}
	if _, err := stores[0].Find(plain, table, pk, []string{"a#"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("find a prefix with '#': %v, want ErrInvalid", err)
	}
}

// TestValidUTF8Agrees: validUTF8 (ASCII decided by words first) says what
// utf8.ValidString says, and asciiOnly what a byte-by-byte look says, for
// every byte at every place of strings of every length around a word and
// two, and for random strings of ASCII, NUL, control characters, valid
// and broken UTF-8.
func TestValidUTF8Agrees(t *testing.T) {
	ascii := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	try := func(s string) {
		t.Helper()
		if got, want := asciiOnly(s), ascii(s); got != want {
			t.Fatalf("asciiOnly(%q) = %v, want %v", s, got, want)
		}
		if got, want := validUTF8(s), utf8.ValidString(s); got != want {
			t.Fatalf("validUTF8(%q) = %v, want %v", s, got, want)
		}
	}
	for n := 0; n <= 25; n++ {
		try(strings.Repeat("a", n))
		for at := 0; at < n; at++ {
			for c := range 256 {
				b := []byte(strings.Repeat("10.20.1.4|x", 3)[:n])
				b[at] = byte(c)
				try(string(b))
			}
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	pool := []string{"a", "Z", "|", "\x00", "\x1f", "\x7f", "é", "日", "\U0001F600", "\xff", "\xc3", "\xe6\x97", "\xed\xa0\x80"}
	for range 100000 {
		var b strings.Builder
		for range r.IntN(40) {
			if r.IntN(4) > 0 {
				b.WriteByte('k')
				continue
			}
			b.WriteString(pool[r.IntN(len(pool))])
		}
		try(b.String())
	}
}
