package detect

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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

// TestNewTermSeveralFieldsKeepTermsApart: a term of two fields whose
// values hold NUL bytes is its own term; before, the call joined values
// with NUL, and ["c\x00d", "1.1.1.1"] met ["c", "d\x001.1.1.1"] as one
// term (one alert where two terms were new).
func TestNewTermSeveralFieldsKeepTermsApart(t *testing.T) {
	// manyTermsRule's, with a term of two fields.
	rule := strings.Replace(manyTermsRule, "fields: [geo.country]", "fields: [geo.country, actor.ip]", 1)
	r, err := ParseRule("terms2.yml", []byte(rule))
	if err != nil {
		t.Fatal(err)
	}
	e := newKindEngine(t, r, state.NewMemory())
	eval(t, e, signIn("0", "u@x", "9.9.9.9", "0", "ZZ", t0))
	ms := eval(t, e,
		signIn("a", "u@x", "1.1.1.1", "0", "C\x00D", t0.Add(time.Hour)),
		signIn("b", "u@x", "D\x001.1.1.1", "0", "C", t0.Add(time.Hour+time.Second)))
	var got []string
	for _, m := range ms {
		got = append(got, m.Events[0].RecordID)
	}
	slices.Sort(got)
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("new terms first seen in %q, want %q (one each)", got, want)
	}
	if again := eval(t, e, signIn("c", "u@x", "D\x001.1.1.1", "0", "C", t0.Add(2*time.Hour))); len(again) != 0 {
		t.Fatalf("a known term raised %d matches", len(again))
	}
}

// TestTermKeyDistinct: distinct lists of values, NULs and lengths
// included, give distinct keys.
func TestTermKeyDistinct(t *testing.T) {
	lists := [][]string{{"a\x00b", "c"}, {"a", "b\x00c"}, {"ab", "c"}, {"a", "bc"}, {"", "abc"}, {"abc", ""},
		{"", ""}, {"\x01", ""}, {"", "\x01"}, {strings.Repeat("x", 300), "y"}, {strings.Repeat("x", 299), "xy"}}
	seen := map[string]int{}
	for i, l := range lists {
		k := termKey(l)
		if j, ok := seen[k]; ok {
			t.Fatalf("%q and %q share a key", lists[j], l)
		}
		seen[k] = i
	}
}

// TestTermRowIsJoinKey: a term's row key built after its entity's escaped
// head is state.JoinKey(entity, values...), for hostile entities and
// values, keys near and past the length at which JoinKey shortens, and
// heads shortened themselves.
func TestTermRowIsJoinKey(t *testing.T) {
	strs := []string{"", "a", "u@x.com", "a|b", "!", "~", "~first", "x/y#z?", "é", "\xff", "日本", "\x00\x7f",
		strings.Repeat("a", 40), strings.Repeat("/", 40), strings.Repeat("a", 62), strings.Repeat("a", 63), strings.Repeat("b", 64),
		strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("é", 100), strings.Repeat("a", 500)}
	var keys keyArena
	for _, ent := range strs {
		if ent == "" {
			continue
		}
		_, head := keys.groupRow(ent, firstRow)
		for _, v := range strs {
			for _, w := range strs[:8] {
				for _, vals := range [][]string{{v}, {v, w}, {w, v, w}} {
					if got, want := keys.termRow(head, ent, vals), state.JoinKey(append([]string{ent}, vals...)...); got != want {
						t.Fatalf("entity %q values %q: %q, want %q", ent, vals, got, want)
					}
				}
			}
		}
	}
}
