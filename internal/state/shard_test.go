package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestMemoryShardsActAsOne: the in-memory store spread over memShards
// locks answers every call as one memBackend holding all the partitions
// does (entities, errors, the round trips Table would make, sweeps), its
// ETags never repeat across shards, and writers to different partitions
// at once (stateful rules) are safe (go test -race).
func TestMemoryShardsActAsOne(t *testing.T) {
	ctx := context.Background()
	one := &Memory{}
	one.engine = newEngine(&memBackend{tables: make(map[string]map[string]*memPartition)}, 1)
	many := NewMemory()
	if len(many.b.(*memBackend).shards) != memShards {
		t.Fatal("NewMemory is not spread over shards")
	}
	r := rand.New(rand.NewPCG(5, 6))
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const table = "shards"
	for round := range 300 {
		now := start.Add(time.Duration(round) * time.Minute)
		part := fmt.Sprintf("thr|rule%d|w%d", r.IntN(40), round/50)
		var ops []Op
		seen := map[string]bool{}
		for range 1 + r.IntN(30) {
			row := fmt.Sprintf("g%03d", r.IntN(200))
			if seen[row] {
				continue
			}
			seen[row] = true
			kind := Upsert
			if r.IntN(5) == 0 {
				kind = Delete
			}
			ops = append(ops, Op{Kind: kind, Entity: Entity{PartitionKey: part, RowKey: row, Count: int64(round),
				Expires: StampOf(now.Add(time.Duration(r.IntN(90)) * time.Minute)), ETag: ETagAny}})
		}
		e1, e2 := one.Apply(ctx, table, ops), many.Apply(ctx, table, ops)
		if fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("round %d: Apply: %v against %v", round, e2, e1)
		}
		prefixes := []string{"g0", "g1"}
		f1, err1 := one.Find(ctx, table, part, prefixes)
		f2, err2 := many.Find(ctx, table, part, prefixes)
		if err1 != nil || err2 != nil || len(f1) != len(f2) {
			t.Fatalf("round %d: Find: %d, %v against %d, %v", round, len(f2), err2, len(f1), err1)
		}
		for i := range f1 {
			f1[i].ETag, f2[i].ETag = "", ""
		}
		if !reflect.DeepEqual(f1, f2) {
			t.Fatalf("round %d: Find differs", round)
		}
		keys := []Key{{part, "g001"}, {part, "g150"}, {"thr|rule0|w0", "g002"}}
		g1, _ := one.Get(ctx, table, keys)
		g2, _ := many.Get(ctx, table, keys)
		if len(g1) != len(g2) {
			t.Fatalf("round %d: Get: %d entities against %d", round, len(g2), len(g1))
		}
		if round%25 == 24 {
			n1, _ := one.Sweep(ctx, table, now)
			n2, _ := many.Sweep(ctx, table, now)
			if n1 != n2 {
				t.Fatalf("round %d: Sweep deleted %d against %d", round, n2, n1)
			}
		}
		if one.Ops() != many.Ops() {
			t.Fatalf("round %d: %d round trips against %d", round, many.Ops(), one.Ops())
		}
	}

	// ETags: one per transaction, never the same twice across shards.
	seenTags := map[string]string{}
	for _, sh := range many.b.(*memBackend).shards {
		for name, p := range sh.tables[table] {
			p.rows.each(func(i int32) {
				tag := p.at(i).ETag
				if other, ok := seenTags[tag]; ok && other != name {
					t.Fatalf("ETag %s in partitions %s and %s", tag, other, name)
				}
				seenTags[tag] = name
			})
		}
	}

	// Writers and readers of their own partitions at once.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := fmt.Sprintf("seq|rule%d|b0", w)
			for i := range 200 {
				op := Op{Kind: Upsert, Entity: Entity{PartitionKey: part, RowKey: fmt.Sprintf("r%03d", i%50), Count: int64(i), ETag: ETagAny}}
				if err := many.Apply(ctx, table, []Op{op}); err != nil {
					t.Error(err)
					return
				}
				if _, err := many.Find(ctx, table, part, []string{"r0"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestShardHashSpreads: partition keys that differ in one byte anywhere
// (a rule's number in the middle, a window at the end, lengths around a
// word) spread over the shards, none holding more than twice its share.
func TestShardHashSpreads(t *testing.T) {
	for _, layout := range []string{"thr|rule-%03d|20260101T1200Z", "thr|rule|20260101T1200Z|%03d", "%03d", "p%03d", "seq|%03d|rule-with-a-long-name|20260101T1200Z"} {
		var count [memShards]int
		const n = 1600
		for i := range n {
			count[shardHash(fmt.Sprintf(layout, i))%memShards]++
		}
		for sh, c := range count {
			if c > 2*n/memShards {
				t.Errorf("%q: shard %d holds %d of %d partitions", layout, sh, c, n)
			}
		}
	}
}
