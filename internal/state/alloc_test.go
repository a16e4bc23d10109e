package state

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Reads and writes of the in-memory store cost what they hand over, not
// bookkeeping of their own: Find's ranges and selection stay on the stack
// (a comparison that let them escape cost two allocations a call).
func TestMemoryFindAllocs(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	var ops []Op
	for g := range 20 {
		for w := range 3 {
			ops = append(ops, Op{Kind: Insert, Entity: Entity{PartitionKey: "p", RowKey: fmt.Sprintf("g%02d|w%d", g, w), Count: 1}})
		}
	}
	if err := s.Apply(ctx, "tbl", ops); err != nil {
		t.Fatal(err)
	}
	prefixes := []string{"g03|", "g07|", "g11|"}
	found, err := s.Find(ctx, "tbl", "p", prefixes)
	if err != nil || len(found) != 9 {
		t.Fatalf("Find: %d rows, %v; want 9", len(found), err)
	}
	n := testing.AllocsPerRun(50, func() {
		if _, err := s.Find(ctx, "tbl", "p", prefixes); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("Find: %.1f allocations a call, want at most 1 (the rows found)", n)
	}
}

// The in-memory store cuts its transactions' ETags from shared chunks
// (newETag): an ETag once handed out never changes, however many are cut
// after it, and every write's differs.
func TestMemoryETagsCutApart(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	type read struct{ held, was string }
	var reads []read
	seen := map[string]bool{}
	for i := range 200 {
		k := Key{PartitionKey: fmt.Sprintf("p%d", i%7), RowKey: fmt.Sprintf("r%d", i)}
		if err := s.Apply(ctx, "tbl", []Op{{Kind: Insert, Entity: Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey}}}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "tbl", []Key{k})
		if err != nil {
			t.Fatal(err)
		}
		tag := got[k].ETag
		if seen[tag] {
			t.Fatalf("write %d: ETag %q seen before", i, tag)
		}
		seen[tag] = true
		reads = append(reads, read{tag, strings.Clone(tag)})
	}
	for i, r := range reads {
		if r.held != r.was {
			t.Fatalf("ETag %d changed after later writes: %q, was %q", i, r.held, r.was)
		}
	}
}
