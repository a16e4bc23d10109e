package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomOps is n operations over few partitions and rows (so keys repeat),
// some keys hostile, some operations without the ETag their kind needs;
// grouped, the partitions come in runs, and sorted, a run's rows in key
// order too.
func randomOps(r *rand.Rand, n int, grouped, sorted bool) []Op {
	parts := 1 + r.IntN(20)
	rows := 1 + r.IntN(3*n+1)
	key := func(prefix string, i int) string {
		switch r.IntN(200) {
		case 0:
			return prefix + "/bad"
		case 1:
			return prefix + "\x01"
		case 2:
			return strings.Repeat("k", maxRawKeyLen+1)
		}
		return fmt.Sprintf("%s%03d", prefix, i)
	}
	ops := make([]Op, n)
	for i := range ops {
		kind := []OpKind{Insert, Upsert, Replace, Delete}[r.IntN(4)]
		e := Entity{PartitionKey: key("p", r.IntN(parts)), RowKey: key("r", r.IntN(rows))}
		if kind == Replace || kind == Delete || r.IntN(50) > 0 {
			e.ETag = ETagAny
		}
		if kind == Replace && r.IntN(100) == 0 {
			e.ETag = ""
		}
		ops[i] = Op{Kind: kind, Entity: e}
	}
	if grouped {
		order := map[string]int{} // partitions in first-seen order, or in order
		for _, o := range ops {
			if _, ok := order[o.Entity.PartitionKey]; !ok {
				order[o.Entity.PartitionKey] = len(order)
			}
		}
		slices.SortStableFunc(ops, func(a, b Op) int {
			if c := order[a.Entity.PartitionKey] - order[b.Entity.PartitionKey]; c != 0 || !sorted {
				return c
			}
			return strings.Compare(a.Entity.RowKey, b.Entity.RowKey)
		})
	}
	if grouped && sorted && r.IntN(4) == 0 {
		ops = slices.CompactFunc(ops, func(a, b Op) bool { return a.Entity.Key() == b.Entity.Key() })
	}
	return ops
}

// hasDupKey is the reference: a key twice, by a set.
func hasDupKey(ops []Op) bool {
	seen := map[Key]bool{}
	for _, o := range ops {
		if seen[o.Entity.Key()] {
			return true
		}
		seen[o.Entity.Key()] = true
	}
	return false
}

// TestCheckOpsAgrees: checkOps refuses exactly what checking every key
// against a set (checkOpsKnown told nothing) refuses, with the same error,
// on operations sorted and not, grouped by partition and interleaved,
// with keys twice within and across partitions; and distinctKeys never
// vouches for operations that hold a key twice.
func TestCheckOpsAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 1))
	vouched := 0
	for iter := range 20000 {
		n := r.IntN(80)
		grouped, sorted := r.IntN(3) > 0, r.IntN(2) == 0
		ops := randomOps(r, n, grouped, sorted)
		got, want := checkOps(ops), checkOpsKnown(ops, false)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("iteration %d (grouped %v, sorted %v): checkOps = %v, want %v", iter, grouped, sorted, got, want)
		}
		if distinctKeys(ops) {
			vouched++
			if hasDupKey(ops) {
				t.Fatalf("iteration %d: distinctKeys vouches for a key twice in %v", iter, ops)
			}
		}
	}
	if vouched < 2000 {
		t.Errorf("distinctKeys vouched for %d calls of 20000: the fast path is hardly taken", vouched)
	}
}

// TestDistinctKeys: runs of partitions in key order each with rows in key
// order are vouched for, however many; a key twice, within a run or
// across runs of one partition, sorted or not, never is.
func TestDistinctKeys(t *testing.T) {
	op := func(pk, rk string) Op { return Op{Kind: Upsert, Entity: Entity{PartitionKey: pk, RowKey: rk}} }
	var many []Op // 40 partitions in order, 3 rows each
	for p := range 40 {
		for r := range 3 {
			many = append(many, op(fmt.Sprintf("p%02d", p), fmt.Sprintf("r%d", r)))
		}
	}
	for _, c := range []struct {
		name string
		ops  []Op
		want bool
	}{
		{"many partitions in order", many, true},
		{"partitions out of order, few", []Op{op("b", "1"), op("b", "2"), op("a", "1"), op("c", "1")}, true},
		{"rows out of order, few", []Op{op("a", "2"), op("a", "1"), op("a", "3")}, true},
		{"row twice in a run", []Op{op("a", "1"), op("a", "2"), op("a", "2")}, false},
		{"row twice out of order", []Op{op("a", "2"), op("a", "1"), op("a", "2")}, false},
		{"partition in two runs", []Op{op("a", "1"), op("b", "1"), op("a", "1")}, false},
		{"partition in two runs, rows differ", []Op{op("a", "1"), op("b", "1"), op("a", "2")}, false},
		{"partition back after many", append(slices.Clone(many), op("p00", "z")), false},
		{"out of order after many", append(slices.Clone(many), op("a", "z")), false},
	} {
		if got := distinctKeys(c.ops); got != c.want {
			t.Errorf("%s: distinctKeys = %v, want %v", c.name, got, c.want)
		}
	}
}
