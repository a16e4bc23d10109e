package state

import (
	"context"
	"math/rand/v2"
	"testing"
)

// TestDistinctKeysGet: Get under DistinctKeys (distinct keys, read in
// their order, unsorted) finds what it finds without, with the same round
// trips counted: keys of hostile bytes, shuffled, across partitions, one
// partition alone, more rows than a query by key takes, rows missing, and
// reads for update or not.
func TestDistinctKeysGet(t *testing.T) {
	plain := context.Background()
	distinct := DistinctKeys(plain)
	if DistinctKeys(distinct) != distinct {
		t.Error("DistinctKeys of a context already so is a new context")
	}
	if keysDistinct(plain) || !keysDistinct(distinct) {
		t.Fatal("keysDistinct does not tell the contexts apart")
	}
	const table = "ntr"
	parts := hostileKeyParts()
	pks := []string{JoinKey("nt", "r", "0"), JoinKey("nt", "r", "1"), JoinKey("nt", "r", "2")}
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[Key]bool{}
	var stored, missing []Key
	for i, p := range parts {
		if len(p) > 200 {
			p = p[:200]
		}
		row := Escape(p) + "|" + Escape(parts[(i*7+3)%len(parts)][:min(50, len(parts[(i*7+3)%len(parts)]))])
		k := Key{PartitionKey: pks[i%len(pks)], RowKey: row}
		if seen[k] {
			continue
		}
		seen[k] = true
		if i%4 == 3 {
			missing = append(missing, k)
		} else {
			stored = append(stored, k)
		}
	}
	if len(stored)/len(pks) <= MaxQueryKeys {
		t.Fatalf("%d rows a partition: the test wants more than MaxQueryKeys", len(stored)/len(pks))
	}
	stores := [2]*Memory{NewMemory(), NewMemory()}
	for _, s := range stores {
		for _, k := range stored {
			if err := s.Apply(plain, table, []Op{{Kind: Insert, Entity: Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Text: k.RowKey}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := append(append([]Key(nil), stored...), missing...)
	var onePart []Key
	for _, k := range all {
		if k.PartitionKey == pks[1] {
			onePart = append(onePart, k)
		}
	}
	cases := map[string][]Key{"all": all, "one partition": onePart, "few": all[:5], "one": all[:1]}
	for name, keys := range cases {
		for _, update := range []bool{false, true} {
			for round := range 3 {
				keys = append([]Key(nil), keys...)
				r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
				var got [2]map[Key]Entity
				var ops [2]int64
				for j, ctx := range []context.Context{plain, distinct} {
					if update {
						ctx = ForUpdate(ctx)
					}
					before := stores[j].Ops()
					var err error
					if got[j], err = stores[j].Get(ctx, table, keys); err != nil {
						t.Fatalf("%s: get (distinct %v): %v", name, j == 1, err)
					}
					ops[j] = stores[j].Ops() - before
				}
				if len(got[0]) != len(got[1]) || ops[0] != ops[1] {
					t.Errorf("%s (update %v, round %d): %d rows in %d trips, distinct %d in %d",
						name, update, round, len(got[0]), ops[0], len(got[1]), ops[1])
				}
				want := 0
				for _, k := range keys {
					if seen[k] && !contains(missing, k) {
						want++
					}
				}
				if len(got[1]) != want {
					t.Errorf("%s: %d rows got, want %d", name, len(got[1]), want)
				}
				for k, e := range got[0] {
					if f, ok := got[1][k]; !ok || f.Text != e.Text || f.ETag != e.ETag {
						t.Errorf("%s: row %q: %+v, distinct %+v (found %v)", name, k.RowKey, e, f, ok)
					}
				}
			}
		}
	}
}

func contains(keys []Key, k Key) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// TestDedupRowsInto: rows as given are the keys' rows in their order;
// otherwise sorted and each once (duplicates, shuffled).
func TestDedupRowsInto(t *testing.T) {
	keys := []Key{{"p", "b"}, {"p", "a"}, {"p", "c"}, {"p", "a"}, {"p", "\xff"}, {"p", ""}, {"p", "b"}}
	got := dedupRowsInto(nil, keys, false)
	want := []string{"", "a", "b", "c", "\xff"}
	if len(got) != len(want) {
		t.Fatalf("sorted: %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted: %q, want %q", got, want)
		}
	}
	given := dedupRowsInto(make([]string, 0, 1), keys[:3], true)
	if len(given) != 3 || given[0] != "b" || given[1] != "a" || given[2] != "c" {
		t.Errorf("as given: %q", given)
	}
}
