package detect

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/azdetect/azdetect/internal/state"
)

// TestBucketOfIsFNV: the partition bucket of a group key stays what it was
// (hash/fnv's 32-bit FNV-1a, two hex digits): state written by an earlier
// build is found again.
func TestBucketOfIsFNV(t *testing.T) {
	for _, g := range []string{"", "a", "user@contoso.com", "10.0.0.1|203.0.113.9", "ÄÖÜ|\x00|\xff", string(make([]byte, 5000))} {
		h := fnv.New32a()
		h.Write([]byte(g))
		if want := fmt.Sprintf("%02x", h.Sum32()%stateBuckets); bucketOf(g) != want {
			t.Errorf("bucketOf(%q) = %s, want %s", g, bucketOf(g), want)
		}
	}
}

// TestKeysAsBefore: the keys built once per bound rule or per batch are
// the keys built per event before (state written earlier is found again).
func TestKeysAsBefore(t *testing.T) {
	long := string(make([]byte, 300))
	groups := []string{"", "a", "user@contoso.com", "10.0.0.1|203.0.113.9", "ÄÖÜ|/#?'\x00", long}
	writers := []string{"", "eventhub://ns/hub/0", "file:///tmp/x y.json", long}
	for _, kind := range []string{"nt", "seq", "trv"} {
		b := base{buckets: bucketPartitions(kind, "rule-1")}
		for _, g := range groups {
			if got, want := b.bucketPartition(g), state.JoinKey(kind, "rule-1", bucketOf(g)); got != want {
				t.Errorf("%s partition of %q = %q, want %q", kind, g, got, want)
			}
		}
	}
	var w writerKey
	for _, wr := range append(writers, writers...) {
		if got := w.of(wr); got != state.Escape(wr) {
			t.Errorf("writer %q escaped to %q, want %q", wr, got, state.Escape(wr))
		}
		for _, g := range groups {
			row, prefix := groupRow(g, w.of(wr))
			if want := state.Escape(g) + "|" + state.Escape(wr); row != want || prefix != state.Escape(g)+"|" {
				t.Errorf("threshold row of %q, %q = %q, %q; want %q", g, wr, row, prefix, want)
			}
		}
	}
	for _, ent := range groups {
		if state.Escape(ent) != state.JoinKey(ent) {
			t.Errorf("Escape(%q) = %q, JoinKey %q", ent, state.Escape(ent), state.JoinKey(ent))
		}
	}
}

// TestSlab: what a slab hands out stays put and apart as it grows, and a
// group's one-element slice grows without writing over its neighbour's.
func TestSlab(t *testing.T) {
	var ints slab[int]
	var ptrs []*int
	for i := range 3000 {
		p := ints.next()
		if *p != 0 {
			t.Fatalf("element %d is not zero", i)
		}
		*p = i
		ptrs = append(ptrs, p)
	}
	for i, p := range ptrs {
		if *p != i {
			t.Fatalf("element %d holds %d", i, *p)
		}
	}
	var evs slab[string]
	a, b := append(evs.one(), "a1"), append(evs.one(), "b1")
	a = append(a, "a2")
	if cap(evs.one()) != 1 || a[0] != "a1" || b[0] != "b1" || len(b) != 1 {
		t.Errorf("one: a %v, b %v", a, b)
	}
}
