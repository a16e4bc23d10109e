package state

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestBeforeEndIsPrefixEnd: the in-memory store's end of a prefix range,
// compared without building it, is the bound Table Storage's filter reads
// (prefixEnd), for keys near the bound and past the printable range.
func TestBeforeEndIsPrefixEnd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := "ab|!~\x7f\x80z"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		prefix, row := word(1+r.IntN(4)), word(r.IntN(6))
		tr := strings.TrimRightFunc(prefix, func(c rune) bool { return c >= 0x7E })
		end, ok := prefixEnd(prefix)
		if !ok {
			if tr != "" {
				t.Fatalf("prefix %q: prefixEnd has no end but %q is left", prefix, tr)
			}
			continue
		}
		if got, want := beforeEnd(row, tr), row < end; got != want {
			t.Fatalf("row %q, prefix %q (end %q): beforeEnd %v, want %v", row, prefix, end, got, want)
		}
	}
}

// TestSpanMatchesAFilter: a partition's spans (searched by the keys' first
// 8 bytes first, then the keys) are the rows a filter from `from` to
// prefixEnd(prefix) keeps, and exact spans the rows up to the last that
// starts with prefix, for keys shorter and longer than 8 bytes around
// the bytes the order and the end turn on, inserted over several merges.
func TestSpanMatchesAFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"a", "b", "|", "~", "z", "é", "\x7f", "\xff"}
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	p := newPartition("p", 0)
	var keys []string
	for round := range 20 {
		for range 1 + r.IntN(60) {
			k := word(r.IntN(12))
			if _, ok := p.find(k); ok {
				continue
			}
			p.put(Entity{PartitionKey: "p", RowKey: k})
			keys = append(keys, k)
		}
		p.tidy()
		p.order()
		for range 200 {
			prefix := word(1 + r.IntN(10))
			from := prefix
			if r.IntN(3) == 0 {
				from = word(r.IntN(10))
			}
			end, bounded := prefixEnd(prefix)
			var want, wantExact []string
			for _, k := range keys {
				if k >= from && (!bounded || k < end) {
					want = append(want, k)
				}
				// Exactly: up to the last row starting with prefix (or
				// any row before it).
				if k >= from && (k < prefix || strings.HasPrefix(k, prefix)) {
					wantExact = append(wantExact, k)
				}
			}
			slices.Sort(want)
			slices.Sort(wantExact)
			var got, gotExact []string
			for _, row := range p.span(from, prefix, false) {
				got = append(got, p.at(row.pos).RowKey)
			}
			for _, row := range p.span(from, prefix, true) {
				gotExact = append(gotExact, p.at(row.pos).RowKey)
			}
			if !slices.Equal(gotExact, wantExact) {
				t.Fatalf("round %d: exact span(%q, %q) = %q, want %q", round, from, prefix, gotExact, wantExact)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: span(%q, %q) = %q, want %q", round, from, prefix, got, want)
			}
		}
	}
}

// TestOrderMergesRuns: a partition's order, merged from rows inserted in
// ascending runs (the kinds' transactions, merged run by run), in no
// order (sorted) or both, with rows deleted and their slots reused in
// between, holds exactly the live rows, in key order, whichever read
// first needs it.
func TestOrderMergesRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "b", "|", "~", "é", "\xff", "1", "2"}
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for trial := range 300 {
		p := newPartition("p", r.IntN(40))
		live := map[string]bool{}
		for range 1 + r.IntN(12) {
			// A few transactions, each a run in key order (or not, or
			// descending), between two reads in order.
			for range 1 + r.IntN(maxRuns+8) {
				var run []string
				for range r.IntN(3 * minRunLen) {
					k := word(r.IntN(14))
					if r.IntN(2) == 0 { // keys alike in their first 12 bytes: ties on the heads
						k = []string{"10.20.0.100!7C", "10.20.0.100|", "abcdefgh"}[r.IntN(3)] + k
					}
					run = append(run, k)
				}
				switch r.IntN(5) {
				case 0: // in no order
				case 1:
					slices.Sort(run)
					slices.Reverse(run)
				default:
					slices.Sort(run)
				}
				for _, k := range run {
					if live[k] {
						continue
					}
					p.put(Entity{PartitionKey: "p", RowKey: k})
					live[k] = true
				}
				if r.IntN(4) == 0 {
					for k := range live {
						if r.IntN(5) == 0 {
							p.Delete(k)
							delete(live, k)
						}
					}
					p.tidy()
				}
			}
			var s orderScratch
			if r.IntN(2) == 0 {
				p.orderWith(&s)
			} else {
				p.order()
			}
			var got []string
			for _, row := range p.sorted {
				got = append(got, p.at(row.pos).RowKey)
			}
			want := slices.Sorted(func(yield func(string) bool) {
				for k := range live {
					if !yield(k) {
						return
					}
				}
			})
			if !slices.Equal(got, want) {
				t.Fatalf("trial %d: order %q, want %q", trial, got, want)
			}
		}
	}
}
