package state

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestFindWithFilterAgrees: what the in-memory store's prefix reads return
// and count, with each partition's filter of first parts ruling rows out
// (partFilter), is what a filter over every row gives and what the same
// store answers with its filters saturated (every first part maybe
// there: the plain path), for random and hostile keys (separators first,
// last and twice, '~' and bytes past it, escapes, invalid UTF-8), with
// rows deleted, across filter rebuilds and partitions of more than a page.
func TestFindWithFilterAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "b", "|", "||", "~", "é", "\xff", "!7C", "z", "0"}
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	const table = "t"
	newStore := func() *memBackend {
		m := &memBackend{tables: map[string]map[string]*memPartition{table: {}}}
		return m
	}
	fast, plain := newStore(), newStore()
	saturate := func() {
		for _, p := range plain.tables[table] {
			for i := range p.filter.bits {
				p.filter.bits[i] = ^uint64(0)
			}
			if p.filter.bits == nil {
				p.filter.bits = []uint64{^uint64(0)}
			}
		}
	}
	live := map[string]map[string]bool{}
	parts := []string{"small", "mid", "big"}
	sizes := map[string]int{"small": 20, "mid": 300, "big": 1400}
	for round := range 30 {
		for _, pk := range parts {
			if live[pk] == nil {
				live[pk] = map[string]bool{}
			}
			var ops []Op
			seen := map[string]bool{}
			for range 1 + r.IntN(sizes[pk]/4+1) {
				k := word(r.IntN(4)) + "|" + word(r.IntN(3))
				if r.IntN(5) == 0 {
					k = word(1 + r.IntN(5)) // perhaps no separator
				}
				if seen[k] {
					continue
				}
				seen[k] = true
				switch {
				case live[pk][k] && r.IntN(2) == 0:
					ops = append(ops, Op{Kind: Delete, Entity: Entity{PartitionKey: pk, RowKey: k, ETag: ETagAny}})
					delete(live[pk], k)
				case live[pk][k]:
					ops = append(ops, Op{Kind: Upsert, Entity: Entity{PartitionKey: pk, RowKey: k}})
				default:
					ops = append(ops, Op{Kind: Insert, Entity: Entity{PartitionKey: pk, RowKey: k}})
					live[pk][k] = true
				}
			}
			for _, m := range []*memBackend{fast, plain} {
				if err := m.submit(t.Context(), table, pk, ops); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		}
		saturate()
		for range 100 {
			pk := parts[r.IntN(len(parts))]
			var prefixes []string
			for range 1 + r.IntN(20) {
				p := word(r.IntN(3))
				if r.IntN(4) > 0 {
					p += "|" + word(r.IntN(2))
				}
				if p == "" {
					p = "a"
				}
				prefixes = append(prefixes, p)
			}
			prefixes = outermost(prefixes)
			q := query{partition: pk, only: &selection{prefixes: prefixes}}
			if len(prefixes) <= MaxQueryPrefixes || r.IntN(3) == 0 {
				for _, p := range prefixes[:min(len(prefixes), MaxQueryPrefixes)] {
					q.ranges = append(q.ranges, [2]string{p, p})
				}
				q.only.prefixes = prefixes[:len(q.ranges)]
			} else {
				for run := range slices.Chunk(prefixes, (len(prefixes)+MaxQueryPrefixes-1)/MaxQueryPrefixes) {
					q.ranges = append(q.ranges, [2]string{run[0], run[len(run)-1]})
				}
			}
			// The reference: every row, filtered.
			var want []string
			wantSeen := 0
			for k := range live[pk] {
				for _, p := range q.only.prefixes {
					if strings.HasPrefix(k, p) {
						want = append(want, k)
						break
					}
				}
				for _, rg := range q.ranges {
					if end, ok := prefixEnd(rg[1]); k >= rg[0] && (!ok || k < end) {
						wantSeen++
					}
				}
			}
			slices.Sort(want)
			for _, m := range []*memBackend{fast, plain} {
				found, seen := m.find(table, q)
				var got []string
				for _, e := range found {
					got = append(got, e.RowKey)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("round %d, %s, %q (ranges %q): found %q, want %q", round, pk, q.only.prefixes, q.ranges, got, want)
				}
				// Exact past a page; within it, a page (the partition
				// holds at most one: what the service would say of it).
				if seen != wantSeen && (wantSeen > pageSize || seen > pageSize || len(live[pk]) > pageSize) {
					t.Fatalf("round %d, %s, %q (ranges %q): seen %d, want %d", round, pk, q.only.prefixes, q.ranges, seen, wantSeen)
				}
				if m == plain && seen != wantSeen {
					t.Fatalf("plain path: seen %d, want %d", seen, wantSeen)
				}
			}
		}
	}
	if n := len(live["big"]); n <= pageSize {
		t.Fatalf("the big partition holds %d rows, not more than a page", n)
	}
}

// TestFirstPart: firstPart is the key up to its first '|', and partHashOf
// its hash, for a '|' at every place of keys around a word's length,
// among odd bytes and with more separators after it.
func TestFirstPart(t *testing.T) {
	for n := 0; n <= 24; n++ {
		for _, fill := range []byte{'a', 0, 0x7D, 0x7B, 0xFF, 0x80} {
			b := []byte(strings.Repeat(string(fill), n))
			if got := firstPart(string(b)); got != "" {
				t.Fatalf("firstPart(%q) = %q, want none", b, got)
			}
			if _, ok := partHashOf(string(b)); ok {
				t.Fatalf("partHashOf(%q) found a first part", b)
			}
			for at := range n {
				for _, after := range []int{-1, at + 1, n - 1} {
					k := slices.Clone(b)
					k[at] = '|'
					if after > at && after < n {
						k[after] = '|'
					}
					want := string(k[:at+1])
					if got := firstPart(string(k)); got != want {
						t.Fatalf("firstPart(%q) = %q, want %q", k, got, want)
					}
					if h, ok := partHashOf(string(k)); !ok || h != partHash(want) {
						t.Fatalf("partHashOf(%q) = %x %v, want partHash(%q) = %x", k, h, ok, want, partHash(want))
					}
				}
			}
		}
	}
}

// firstPart is key up to and including its first '|', "" without one: the
// part partHashOf hashes, found plainly.
func firstPart(key string) string {
	i := strings.IndexByte(key, keySep)
	if i < 0 {
		return ""
	}
	return key[:i+1]
}
