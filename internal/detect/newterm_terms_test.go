package detect

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// manyTermsRule alerts on every new country of a user, learning nothing.
const manyTermsRule = `title: t
id: 00000000-0000-4000-8000-000000000078
logsource: {product: azure, service: signinlogs}
detection:
  signin:
    event.result_code: "0"
  condition: signin
level: medium
correlation:
  type: new_term
  group-by: [actor.upn]
  fields: [geo.country]
  learning: 0s
  lookback: 30d
`

// TestNewTermManyTermsInABatch: an entity's terms of one call are found
// along a short list, then in a map past maxTermList; either way each
// term is one row, raised once for its first event, whether its events
// come together or interleaved with the entity's other terms, and a
// second user's terms are the user's own.
func TestNewTermManyTermsInABatch(t *testing.T) {
	r, err := ParseRule("terms.yml", []byte(manyTermsRule))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, maxTermList, maxTermList + 1, 3 * maxTermList} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newKindEngine(t, r, state.NewMemory())
			// A first sign-in opens each user's history (learning 0s:
			// nothing is learned only).
			eval(t, e, signIn("0", "u@x", "1.1.1.1", "0", "AA", t0), signIn("0v", "v@x", "1.1.1.1", "0", "AA", t0))
			var evs []*event.Event
			for round := range 3 { // each country three times, interleaved
				for i := range n {
					at := t0.Add(time.Hour + time.Duration(round*n+i)*time.Second)
					evs = append(evs, signIn(fmt.Sprintf("u%d-%d", round, i), "u@x", "1.1.1.1", "0", fmt.Sprintf("C%02d", i), at))
					if i%2 == 0 {
						evs = append(evs, signIn(fmt.Sprintf("v%d-%d", round, i), "v@x", "1.1.1.1", "0", fmt.Sprintf("C%02d", i), at))
					}
				}
			}
			ms := eval(t, e, evs...)
			var got []string
			for _, m := range ms {
				got = append(got, m.GroupKey+" "+m.Events[0].RecordID)
			}
			var want []string
			for i := range n {
				want = append(want, fmt.Sprintf("u@x|c%02d u0-%d", i, i))
				if i%2 == 0 {
					want = append(want, fmt.Sprintf("v@x|c%02d v0-%d", i, i))
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("matches %q, want %q", got, want)
			}
			if again := eval(t, e, evs...); len(again) != len(ms) {
				t.Fatalf("replay raised %d matches, want the same %d", len(again), len(ms))
			}
		})
	}
}

// TestByBucket: a new-term call's rows go to the transaction partition by
// partition, each partition's in the call's order (an entity's row
// before its terms').
func TestByBucket(t *testing.T) {
	for _, n := range []int{1, 2, 17, 300} {
		var keys []state.Key
		var rows []*ntRow
		for i := range n {
			at := uint8((i * 7 / 3) % stateBuckets)
			if n == 17 {
				at = 5 // one bucket
			}
			keys = append(keys, state.Key{PartitionKey: fmt.Sprint(at), RowKey: fmt.Sprint(i)})
			rows = append(rows, &ntRow{at: at})
		}
		gk, gr := byBucket(keys, rows, func(r *ntRow) uint8 { return r.at })
		if len(gk) != n || len(gr) != n {
			t.Fatalf("%d rows: %d keys, %d rows", n, len(gk), len(gr))
		}
		last := map[uint8]int{}
		for i := range gk {
			if i > 0 && gr[i].at < gr[i-1].at {
				t.Fatalf("%d rows: bucket %d after %d", n, gr[i].at, gr[i-1].at)
			}
			j, _ := strconv.Atoi(gk[i].RowKey)
			if rows[j] != gr[i] || gk[i] != keys[j] {
				t.Fatalf("%d rows: key and row apart at %d", n, i)
			}
			if p, ok := last[gr[i].at]; ok && j < p {
				t.Fatalf("%d rows: row %d after %d in bucket %d", n, j, p, gr[i].at)
			}
			last[gr[i].at] = j
		}
	}
}
