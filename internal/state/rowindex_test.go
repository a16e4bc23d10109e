package state

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestRowIndexMatchesAMap adds and deletes random rows of a partition
// (keys with NUL, non-ASCII and the empty key among them; a few thousand
// rows, so that probes wrap and run through many words) and after each
// step compares the index with a plain map: every row found at its
// position, no deleted or unknown key found, each visiting every position
// once, and the index never over 3/4 full.
func TestRowIndexMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	keys := []string{"", "\x00", "é", "a\x00b", "\xff\xfe"}
	for i := range 3000 {
		keys = append(keys, "row-"+strconv.Itoa(i))
	}
	p := newPartition("p", 0)
	model := map[string]int32{}
	check := func(step int) {
		t.Helper()
		if p.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, p.Len(), len(model))
		}
		if len(p.rows.words) > 0 && p.rows.n*4 > len(p.rows.words)*3 {
			t.Fatalf("step %d: %d rows in %d words", step, p.rows.n, len(p.rows.words))
		}
		for _, k := range keys {
			got, ok := p.find(k)
			want, has := model[k]
			if ok != has || ok && got != want {
				t.Fatalf("step %d: find(%q) = %d, %v; want %d, %v", step, k, got, ok, want, has)
			}
		}
		for k, want := range model {
			if got, ok := p.find(k); !ok || got != want {
				t.Fatalf("step %d: find(%q) = %d, %v; want %d", step, k, got, ok, want)
			}
		}
		var seen, want []int32
		p.rows.each(func(i int32) { seen = append(seen, i) })
		for _, i := range model {
			want = append(want, i)
		}
		slices.Sort(seen)
		slices.Sort(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("step %d: each visits %v, want %v", step, seen, want)
		}
	}
	for step := range 400 {
		for range 1 + r.IntN(40) {
			k := keys[r.IntN(len(keys))]
			if _, ok := model[k]; ok && r.IntN(3) > 0 {
				p.Delete(k)
				delete(model, k)
				continue
			}
			p.put(Entity{PartitionKey: "p", RowKey: k, Count: int64(step)})
			model[k], _ = p.find(k)
		}
		p.tidy()
		if step == 200 { // then the other way: mostly deletes
			keys = keys[:len(keys)/4]
			for k := range model {
				if r.IntN(4) > 0 {
					p.Delete(k)
					delete(model, k)
				}
			}
			p.tidy()
		}
		check(step)
	}
	for k := range model {
		p.Delete(k)
	}
	p.tidy()
	if p.Len() != 0 || p.rows.words != nil {
		t.Fatalf("all deleted: Len %d, %d words", p.Len(), len(p.rows.words))
	}
}
