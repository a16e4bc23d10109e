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
		got, want := checkOps(ops), checkOpsKnown(ops, false, keyCheck{})
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
	var distinctRows []Op // one partition, more rows than compared pair by pair
	for r := range 3 * fewOps {
		distinctRows = append(distinctRows, op("a", fmt.Sprintf("r%02d", r)))
	}
	rnd := rand.New(rand.NewPCG(3, 3))
	shuffled := func(ops []Op) []Op {
		rnd.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		return ops
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
		{"rows out of order, many", shuffled(distinctRows), true},
		{"row twice out of order, many", shuffled(append(slices.Clone(distinctRows), op("a", "r07"))), false},
		{"row twice out of order, many, then sorted runs", append(shuffled(append(slices.Clone(distinctRows), op("a", "r00"))), many...), false},
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

// TestRunDistinctAgrees: runDistinct (a hashed table past fewOps rows)
// says what comparing every pair says, on runs of every length up to a
// few hundred rows, their rows drawn from few values (so some repeat) or
// many, one row twice at any place; the runs' lengths vary so the pooled
// tables are reused smaller and larger.
func TestRunDistinctAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 3))
	distinct := 0
	for iter := range 5000 {
		n := r.IntN(300)
		values := 1 + r.IntN(4*n+1)
		run := make([]Op, n)
		for i := range run {
			run[i].Entity = Entity{PartitionKey: "p", RowKey: fmt.Sprintf("r%d|%s", r.IntN(values), strings.Repeat("x", r.IntN(20)))}
		}
		if n > 1 && r.IntN(3) == 0 { // one row again, anywhere
			run[r.IntN(n)].Entity.RowKey = run[r.IntN(n)].Entity.RowKey
		}
		got, want := runDistinct(run), pairwiseDistinct(run)
		if got != want {
			t.Fatalf("iteration %d (%d rows of %d values): runDistinct = %v, pairwiseDistinct %v", iter, n, values, got, want)
		}
		if got && n > fewOps {
			distinct++
		}
	}
	if distinct < 500 {
		t.Errorf("only %d runs past fewOps rows were distinct: the table's true answer is hardly tested", distinct)
	}
}

// TestPartitionsByRunsAgrees: partitions groups as the map does (the same
// partitions in first-seen order, each with its items in order), on items
// grouped by partition, in order of partition or not, and interleaved;
// items grouped in runs are grouped by their runs (no copy).
// sharedParts are partition keys p00 to p30, one string each.
var sharedParts = func() []string {
	out := make([]string, 31)
	for i := range out {
		out[i] = fmt.Sprintf("p%02d", i)
	}
	return out
}()

func TestPartitionsByRunsAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2))
	pk := func(k *Key) string { return k.PartitionKey }
	byRun := 0
	for iter := range 20000 {
		n := 1 + r.IntN(60)
		parts := 1 + r.IntN(1+r.IntN(30))
		keys := make([]Key, n)
		shared := iter%2 == 0 // one string a partition (samePK's fast way), or each its own
		for i := range keys {
			if p := r.IntN(parts); shared {
				keys[i] = Key{sharedParts[p], fmt.Sprint(i)}
			} else {
				keys[i] = Key{fmt.Sprintf("p%02d", p), fmt.Sprint(i)}
			}
		}
		switch r.IntN(3) {
		case 0: // grouped, partitions in first-seen order
			first := map[string]int{}
			for i, k := range keys {
				if _, ok := first[k.PartitionKey]; !ok {
					first[k.PartitionKey] = i
				}
			}
			slices.SortStableFunc(keys, func(a, b Key) int { return first[a.PartitionKey] - first[b.PartitionKey] })
		case 1: // grouped, partitions in order
			slices.SortStableFunc(keys, func(a, b Key) int { return strings.Compare(a.PartitionKey, b.PartitionKey) })
		}
		got, want := partitions(keys, pk), byMap(keys, pk)
		if len(got) != len(want) {
			t.Fatalf("iteration %d: %d groups, want %d (%v)", iter, len(got), len(want), keys)
		}
		for i := range got {
			if got[i].pk != want[i].pk || !slices.Equal(got[i].items, want[i].items) {
				t.Fatalf("iteration %d: group %d is %v, want %v (%v)", iter, i, got[i], want[i], keys)
			}
		}
		if len(got) > 1 && &got[0].items[0] == &keys[0] {
			byRun++
		}
	}
	if byRun < 2000 {
		t.Errorf("%d calls of 20000 grouped by runs: the fast path is hardly taken", byRun)
	}
}

// TestByRuns: runs of partitions in increasing order are groups however
// many; a partition in two runs never is; runs out of order are compared
// pair by pair up to fewRuns of them.
func TestByRuns(t *testing.T) {
	id := func(s *string) string { return *s }
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("p%02d", i)
	}
	for _, c := range []struct {
		name  string
		items []string
		want  int // groups; -1: nil
	}{
		{"many in order", many, 40},
		{"few out of order", []string{"b", "b", "a", "c", "c"}, 3},
		{"interleaved", []string{"a", "b", "a"}, -1},
		{"back after many", append(slices.Clone(many), "p00"), -1},
		{"out of order after many", append(slices.Clone(many), "a"), -1},
		{"back after few out of order", []string{"b", "a", "c", "b"}, -1},
	} {
		got := byRuns(c.items, id)
		if n := len(got); got == nil && c.want != -1 || got != nil && n != c.want {
			t.Errorf("%s: byRuns gives %d groups (nil %v), want %d", c.name, n, got == nil, c.want)
		}
	}
}

// TestKeyCheckAgrees: a keyCheck taking key after key (a partition key
// checked once while it repeats) refuses exactly what checkKeys refuses,
// with the same error, on keys sharing long starts and ends with hostile
// bytes (forbidden characters, control bytes, non-ASCII, bad UTF-8, too
// long) anywhere.
func TestKeyCheckAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 3))
	bad := []string{"/", "\\", "#", "?", "'", "\x00", "\x1f", "\x7f", "\u0085", "é", "\xff", "日"}
	heads := []string{"", "10.20.0.", "user0053@contoso.com", strings.Repeat("h", 40)}
	tails := []string{"", "|!2Ftmp!2Fbm!2Fmix-50MB.json", "|w", strings.Repeat("t", 33)}
	for iter := range 5000 {
		var kc keyCheck
		pk := "p"
		for range 1 + r.IntN(30) {
			b := []byte(heads[r.IntN(len(heads))] + fmt.Sprint(r.IntN(1000)) + tails[r.IntN(len(tails))])
			if r.IntN(4) == 0 {
				at := r.IntN(len(b) + 1)
				b = append(b[:at], append([]byte(bad[r.IntN(len(bad))]), b[at:]...)...)
			}
			if r.IntN(40) == 0 {
				b = append(b, strings.Repeat("x", maxRawKeyLen-len(b)+r.IntN(3))...)
			}
			if r.IntN(30) == 0 {
				pk = fmt.Sprint("p", r.IntN(3))
			}
			k := Key{pk, string(b)}
			got, want := kc.check(k), checkKeys(k)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("iteration %d: check(%q) = %v, want %v", iter, k, got, want)
			}
		}
	}
}

// TestSortedApartIsSortedAndNotOverlapping: Find's one-pass check of its
// prefixes answers as sorted (slices.IsSorted) and no prefix starting with
// the one before it (or equal to it), for prefixes alike, equal, empty and
// of odd bytes.
func TestSortedApartIsSortedAndNotOverlapping(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	alphabet := []string{"a", "b", "|", "\xff", "é"}
	for range 50000 {
		var prefixes []string
		for range r.IntN(5) {
			var b strings.Builder
			for range r.IntN(4) {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			prefixes = append(prefixes, b.String())
		}
		if r.IntN(2) == 0 {
			slices.Sort(prefixes)
		}
		overlapping := false
		for i := 1; i < len(prefixes); i++ {
			if strings.HasPrefix(prefixes[i], prefixes[i-1]) {
				overlapping = true
			}
		}
		if got, want := sortedApart(prefixes), slices.IsSorted(prefixes) && !overlapping; got != want {
			t.Fatalf("sortedApart(%q) = %v, want %v", prefixes, got, want)
		}
	}
}

// TestChunkOpsIsMeasured: chunkOps, which leaves calls of few operations
// unmeasured, makes the transactions measureChunks makes by every
// operation's size, for calls of few and many operations checkOps
// accepts, entities up to the largest (keys, Text and Data at their
// limits), and limits of every few operations.
func TestChunkOpsIsMeasured(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 4))
	bigData, bigText := make([]byte, MaxDataLen), strings.Repeat("t", MaxTextLen)
	longKey := strings.Repeat("k", maxRawKeyLen-6)
	for iter := range 2000 {
		ops := make([]Op, r.IntN(3*maxTransactionBytes/maxEntitySize))
		big := r.IntN(3) == 0
		for i := range ops {
			e := Entity{PartitionKey: "p", RowKey: fmt.Sprintf("r%05d", i)}
			if big || r.IntN(8) == 0 {
				e.PartitionKey, e.RowKey = longKey[:maxRawKeyLen-7]+"p", longKey+e.RowKey
				e.Data, e.Text = bigData[:MaxDataLen-r.IntN(2)], bigText
			}
			ops[i] = Op{Kind: Upsert, Entity: e}
		}
		if err := checkOps(ops); err != nil {
			t.Fatalf("iteration %d: %v", iter, err)
		}
		perTx := []int{1, 2, 7, 19, 20, MaxTransactionOps - 1, MaxTransactionOps}[r.IntN(7)]
		got, want := chunkOps(nil, ops, perTx), measureChunks(nil, ops, perTx)
		if len(got) != len(want) {
			t.Fatalf("iteration %d (%d operations, %d a transaction): %d transactions, measured %d", iter, len(ops), perTx, len(got), len(want))
		}
		for i := range got {
			if len(got[i]) != len(want[i]) || len(got[i]) > 0 && &got[i][0] != &want[i][0] {
				t.Fatalf("iteration %d: transaction %d is %d operations, measured %d (or elsewhere)", iter, i, len(got[i]), len(want[i]))
			}
		}
	}
	// The bound is tight: one more of the largest entities than chunkOps
	// leaves unmeasured would not fit one body.
	if n := maxTransactionBytes/maxEntitySize + 1; n*maxEntitySize <= maxTransactionBytes {
		t.Errorf("%d entities of %d bytes fit one body of %d", n, maxEntitySize, maxTransactionBytes)
	}
	e := Entity{PartitionKey: strings.Repeat("p", maxRawKeyLen), RowKey: strings.Repeat("r", maxRawKeyLen), Text: bigText, Data: bigData}
	if err := CheckEntity(e); err != nil || entitySize(&e) != maxEntitySize {
		t.Errorf("the largest entity: %v, %d bytes, want nil and maxEntitySize %d", err, entitySize(&e), maxEntitySize)
	}
}
