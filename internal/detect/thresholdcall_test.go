package detect

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// TestSortKeys: sortKeys orders as strings sort, for keys that tie in
// their first sixteen bytes, differ only past them, are prefixes of one
// another, hold zero bytes (the padding's value) and bytes past 0x7F.
func TestSortKeys(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	alphabet := []string{"", "\x00", "a", "b", "\xff", "10.20.", "|", "!7C"}
	for round := range 400 {
		n := rnd.IntN(150)
		if round%10 == 0 {
			n = rnd.IntN(3000) // the quicksort's partitions, many levels deep
		}
		keys := make([]string, n)
		for i := range keys {
			var b strings.Builder
			for range rnd.IntN(12) {
				b.WriteString(alphabet[rnd.IntN(len(alphabet))])
			}
			keys[i] = b.String()
		}
		switch round % 4 {
		case 1: // sorted backwards
			slices.Sort(keys)
			slices.Reverse(keys)
		case 2: // a sorted run with a few out of place
			slices.Sort(keys)
			for range 3 {
				if len(keys) > 1 {
					i, j := rnd.IntN(len(keys)), rnd.IntN(len(keys))
					keys[i], keys[j] = keys[j], keys[i]
				}
			}
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		// The library's sort past the depth bound, from the first level
		// and from the second, sorts as the quicksort does.
		for _, depth := range []int{-1, 0, 1} {
			got := slices.Clone(keys)
			if depth < 0 {
				// sortKeysWith moves each key's id with it.
				ids := make([]int32, len(got))
				for i := range ids {
					ids[i] = int32(i)
				}
				sortKeysWith(got, ids)
				for j, id := range ids {
					if got[j] != keys[id] {
						t.Fatalf("sortKeysWith: key %d %q came with the id of %q", j, got[j], keys[id])
					}
				}
			} else {
				recs := make([]keyRec, len(got))
				for i, k := range got {
					recs[i] = keyRec{state.BigEndianAt(k, 0), state.BigEndianAt(k, 8), int32(i)}
				}
				sortRecs(recs, got, depth)
				sorted := make([]string, len(got))
				for j, r := range recs {
					sorted[j] = got[r.i]
				}
				got = sorted
			}
			if !slices.Equal(got, want) {
				t.Fatalf("sortKeys (depth %d): %q\nwant %q", depth, got, want)
			}
		}
	}
}

// TestThresholdHostileGroups: group keys an attacker chooses (huge,
// non-ASCII, control bytes, the escape's own characters, keys that only
// their escaping or their hashed tails tell apart) each count on their own
// row, case-insensitively, over writers and batches, as the reference
// count says.
func TestThresholdHostileGroups(t *testing.T) {
	huge := strings.Repeat("h", 1<<20)
	long := strings.Repeat("a", 300)
	groups := []string{
		"a|b", "a!7Cb", "a!7cb", "A|B", "a~b", "a|b|", "|", "!", "~",
		"x\x00y", "x\x01y", "x\x7fy", "x/y", `x\y`, "x#y", "x?y", "x'y",
		"ünï|cödé", "ÜNÏ|CÖDÉ", "é", "\xff\xfe", "日本語",
		long, long + "b", long + "B", huge + "1", huge + "2", strings.ToUpper(huge) + "1",
	}
	r := kindRule(t, 40, `correlation:
  type: event_count
  group-by: [actor.upn]
  timespan: 10m
  condition: {gte: 1}
`)
	store := state.NewMemory()
	e := newKindEngine(t, r, store)
	want := map[string]int64{} // group key -> events
	n := 0
	for batch := range 3 {
		var evs []*event.Event
		for i, g := range groups {
			for j := range i%3 + 1 {
				n++
				ev := signIn(fmt.Sprintf("e%d", n), g, "", "50126", "", t0.Add(time.Duration(j)*time.Second))
				ev.Pos = event.Position{Writer: []string{"w|1", "eventhub://ns/hub/0"}[j%2], Seq: int64(batch), Index: i, Sub: j}
				evs = append(evs, ev)
				want[BoundedLower(g)]++
			}
		}
		ms := eval(t, e, evs...)
		got := map[string]int{}
		for _, m := range ms {
			got[m.GroupKey] = m.Count
			if m.Count != int(want[m.GroupKey]) {
				t.Errorf("batch %d: group %.40q counted %d, want %d", batch, m.GroupKey, m.Count, want[m.GroupKey])
			}
		}
		if len(got) != len(want) {
			t.Errorf("batch %d: %d groups matched, want %d", batch, len(got), len(want))
		}
	}
	for g, c := range want {
		if got, err := ThresholdCount(context.Background(), store, r.ID, t0, g); err != nil || got != c {
			t.Errorf("group %.40q: stored count %d (%v), want %d", g, got, err, c)
		}
	}
	// The groups that fold together: A|B with a|b, a!7Cb with a!7cb, ÜNÏ
	// with ünï, long+B with long+b, the upper-cased huge value with its
	// lower-case twin; every other apart (a|b and a!7Cb too, though a|b
	// escapes to a!7Cb).
	if len(want) != len(groups)-5 {
		t.Errorf("%d groups, want %d", len(want), len(groups)-5)
	}
}

// TestThresholdAsReference: random batches over groups, windows and
// writers raise exactly the matches (group, window, count, events) that a
// plain count per group and window says, and the same again when a batch
// is replayed.
func TestThresholdAsReference(t *testing.T) {
	r := kindRule(t, 41, `correlation:
  type: event_count
  group-by: [actor.upn, actor.ip]
  timespan: 10m
  condition: {gte: 4}
`)
	ordered := &keyOrdered{Store: state.NewMemory()}
	e := newKindEngine(t, r, ordered)
	defer func() {
		if ordered.bad != "" {
			t.Error(ordered.bad)
		}
		if ordered.calls == 0 {
			t.Error("no write seen")
		}
	}()
	rnd := rand.New(rand.NewPCG(1, 2))
	type gw struct {
		group  string
		window time.Time
	}
	counts := map[gw]int{}
	seq := map[string]int64{}
	n := 0
	for batch := range 20 {
		var evs []*event.Event
		for range rnd.IntN(300) + 1 {
			n++
			upn := fmt.Sprintf("U%d@x", rnd.IntN(40))
			ip := fmt.Sprintf("10.0.0.%d", rnd.IntN(3))
			at := t0.Add(time.Duration(rnd.IntN(40*60)) * time.Second)
			ev := signIn(fmt.Sprintf("e%d", n), upn, ip, "50126", "", at)
			w := []string{"w1", "w2", "w/3"}[rnd.IntN(3)]
			seq[w]++
			ev.Pos = event.Position{Writer: w, Seq: seq[w]}
			evs = append(evs, ev)
		}
		want := map[gw][]*event.Event{}
		for _, ev := range evs {
			k := gw{strings.ToLower(ev.Actor.UPN) + "|" + ev.Actor.IP, ev.Time.Truncate(10 * time.Minute)}
			counts[k]++
			want[k] = append(want[k], ev)
		}
		for replay := range 2 {
			ms := eval(t, e, evs...)
			got := 0
			for _, m := range ms {
				k := gw{m.GroupKey, m.WindowStart}
				if m.Count != counts[k] || counts[k] < 4 {
					t.Fatalf("batch %d replay %d: %v counted %d, want %d", batch, replay, k, m.Count, counts[k])
				}
				if !slices.Equal(ids(m.Events), ids(sortedByTime(want[k]))) {
					t.Fatalf("batch %d replay %d: %v events %v, want %v", batch, replay, k, ids(m.Events), ids(sortedByTime(want[k])))
				}
				got++
			}
			expect := 0
			for k := range want {
				if counts[k] >= 4 {
					expect++
				}
			}
			if got != expect {
				t.Fatalf("batch %d replay %d: %d matches, want %d", batch, replay, got, expect)
			}
		}
	}
}

func ids(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.RecordID
	}
	return out
}

func sortedByTime(evs []*event.Event) []*event.Event {
	out := slices.Clone(evs)
	slices.SortStableFunc(out, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	return out
}

// keyOrdered is a store that checks each Apply's operations come in key
// order within each partition (thresholdCall.keyOrder: a store keeping
// its rows sorted merges them fastest).
type keyOrdered struct {
	state.Store
	calls int
	bad   string
}

func (s *keyOrdered) Apply(ctx context.Context, table string, ops []state.Op) error {
	s.calls++
	last := map[string]string{}
	for _, o := range ops {
		pk, rk := o.Entity.PartitionKey, o.Entity.RowKey
		if prev, ok := last[pk]; ok && prev >= rk && s.bad == "" {
			s.bad = fmt.Sprintf("Apply %d: row %q of %q written after %q", s.calls, rk, pk, prev)
		}
		last[pk] = rk
	}
	return s.Store.Apply(ctx, table, ops)
}

// TestBucketAt: a row key's prefix is found among a window's sorted
// prefixes whatever place the search starts from (rows read in key order
// start from the last one's, rows in any other order still find theirs),
// and a prefix that is not among them, or a key without '|', finds none.
func TestBucketAt(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 10))
	for round := range 200 {
		set := map[string]bool{}
		for range rnd.IntN(60) + 1 {
			set[fmt.Sprintf("%d.%d!7C%d|", rnd.IntN(4), rnd.IntN(30), rnd.IntN(3))] = true
		}
		ps := slices.Sorted(maps.Keys(set))
		ids := make([]int32, len(ps))
		for i := range ids {
			ids[i] = int32(100 + i)
		}
		c := thresholdCall{thresholdScratch: &thresholdScratch{prefixes: [][]string{ps}, winBuckets: [][]int32{ids}}}
		for range 50 {
			j := rnd.IntN(len(ps))
			row := ps[j] + "w" + fmt.Sprint(rnd.IntN(3))
			from := rnd.IntN(len(ps) + 1)
			if got := c.bucketAt(0, row, from); got != j {
				t.Fatalf("round %d: %q from %d found at %d, want %d (%q)", round, row, from, got, j, ps)
			}
			if got := c.bucketOf(0, row); got != ids[j] {
				t.Fatalf("round %d: bucketOf(%q) = %d, want %d", round, row, got, ids[j])
			}
		}
		for _, row := range []string{"9.9!7C9|w", "no separator", "|w", ps[0][:len(ps[0])-1] + "0|w"} {
			if i := strings.IndexByte(row, '|'); i >= 0 && set[row[:i+1]] {
				continue
			}
			if got := c.bucketAt(0, row, rnd.IntN(len(ps)+1)); got >= 0 {
				t.Fatalf("round %d: %q found at %d (%q)", round, row, got, ps)
			}
		}
	}
}

// TestCountOneAgrees: count's path for a new row of one event (a flow
// tuple's) gives the count, document and change of its general loop (the
// same event counted into a row found empty), for every built-in
// threshold rule over the bench corpus's flow tuples and hostile values,
// at positions and times of every kind (year 0, before 1970, fractions).
func TestCountOneAgrees(t *testing.T) {
	builtin, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []*ThresholdKind
	for _, r := range builtin {
		sk, ok := r.Kind.(statefulKind)
		if !ok {
			continue
		}
		if k, ok := sk.bind(r, sk.correlation().clone(), state.NewMemory(), fixedClock).(*ThresholdKind); ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("%d threshold rules", len(kinds))
	}
	events := flowTestEvents(t)
	events = append(events, signIn("s1", "User@X", "10.0.0.1", "50126", "US", t0))
	times := []time.Time{t0, time.Time{}.Add(-time.Hour), time.Unix(-5, 7).UTC(), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600)), t0.Add(123456789)}
	pos := []event.Position{{Writer: "w", Seq: 1}, {Writer: "p|0", Seq: -3, Index: 1 << 40, Sub: 9}, {Writer: "\xff", Seq: math.MaxInt64}}
	compared := 0
	for _, k := range kinds {
		for i, ev := range events {
			one := *ev
			one.Time, one.Pos = times[i%len(times)], pos[i%len(pos)]
			evs := []*event.Event{&one}
			key := state.Key{PartitionKey: "p", RowKey: "r"}
			var got, want thresholdData
			var sl1, sl2 countSlabs
			n, changed, err := k.count(key, &state.Entity{}, false, evs, &got, &sl1)
			wn, wchanged, werr := k.count(key, &state.Entity{}, true, evs, &want, &sl2)
			if err != nil || werr != nil {
				t.Fatal(err, werr)
			}
			if n != wn || changed != wchanged || !bytes.Equal(got.encode(), want.encode()) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s event %d: one-event path %d %v %+v, loop %d %v %+v", k.c.Type, i, n, changed, got, wn, wchanged, want)
			}
			compared++
		}
	}
	t.Logf("%d rows compared", compared)
}

// TestThresholdOneEventRows: a call whose every row holds one event
// (distinct groups, as a flow log's: group's path without the counting
// sort, keyOrder's row per bucket) counts and matches as a call whose rows
// hold several, over writers and windows: each group's match holds its
// events in time order, its stored count is the reference's and its
// row's watermark and times its own events', the rows written in key
// order, a redelivery counting nothing.
func TestThresholdOneEventRows(t *testing.T) {
	r := kindRule(t, 45, "correlation:\n  type: event_count\n  group-by: [actor.upn, actor.ip]\n  timespan: 10m\n  condition: {gte: 1}\n")
	ordered := &keyOrdered{Store: state.NewMemory()}
	e := newKindEngine(t, r, ordered)
	rnd := rand.New(rand.NewPCG(3, 4))
	seq := map[string]int64{}
	for batch := range 12 {
		var evs []*event.Event
		want := map[string][]*event.Event{}
		for i := range 50 + rnd.IntN(200) {
			g := i // distinct groups: one event a row
			if batch%2 == 1 {
				g = rnd.IntN(20) // rows of several events
			}
			upn := fmt.Sprintf("u%d-%d@x", batch, g)
			// Distinct groups keep to one window and writer each, so
			// that a row holds one event.
			at := t0.Add(time.Duration(batch)*time.Hour + time.Duration(g%3)*10*time.Minute + time.Duration(rnd.IntN(600))*time.Second)
			w := []string{"w1", "w|2", "w3"}[g%3]
			seq[w]++
			ev := signIn(fmt.Sprintf("b%d-%d", batch, i), upn, "10.0.0.1", "50126", "", at)
			ev.Pos = event.Position{Writer: w, Seq: seq[w]}
			evs = append(evs, ev)
			want[upn+"|10.0.0.1"] = append(want[upn+"|10.0.0.1"], ev)
		}
		// Delivered again, the batch counts nothing more: each row's
		// watermark is its own events' (the events by row).
		ms := eval(t, e, evs...)
		ms = append(ms[:0:0], eval(t, e, evs...)...)
		if len(ms) != len(want) {
			t.Fatalf("batch %d: %d matches, want %d", batch, len(ms), len(want))
		}
		for _, m := range ms {
			wevs := sortedByTime(want[m.GroupKey])
			if m.Count != len(wevs) || !slices.Equal(ids(m.Events), ids(wevs)) {
				t.Fatalf("batch %d group %q: count %d events %v, want %d %v", batch, m.GroupKey, m.Count, ids(m.Events), len(wevs), ids(wevs))
			}
			n, err := ThresholdCount(context.Background(), ordered, r.ID, m.WindowStart, m.GroupKey)
			if err != nil || n != int64(len(wevs)) {
				t.Fatalf("batch %d group %q: stored count %d (%v), want %d", batch, m.GroupKey, n, err, len(wevs))
			}
			// The row's document is its own events': the watermark the
			// last one's position, the times the first's and last's.
			_, prefix := thresholdRow(m.GroupKey, "")
			pk := state.JoinKey("thr", r.ID, state.TimeKey(m.WindowStart))
			rows, err := ordered.Find(context.Background(), StateTable, pk, []string{prefix})
			if err != nil || len(rows) != 1 {
				t.Fatalf("batch %d group %q: %d rows (%v), want 1", batch, m.GroupKey, len(rows), err)
			}
			var d thresholdData
			if err := loadThreshold("threshold", rows[0].Key(), rows[0], true, &d); err != nil {
				t.Fatal(err)
			}
			last := slices.MaxFunc(wevs, func(a, b *event.Event) int { return a.Pos.Compare(b.Pos) }).Pos
			last.Writer = "" // the row's key holds it
			if d.watermark() != last || !d.First.Equal(wevs[0].Time) || !d.Last.Equal(wevs[len(wevs)-1].Time) {
				t.Fatalf("batch %d group %q: watermark %v, times %v %v; want %v, %v %v", batch, m.GroupKey, d.watermark(), d.First, d.Last, last, wevs[0].Time, wevs[len(wevs)-1].Time)
			}
		}
	}
	if ordered.bad != "" {
		t.Error(ordered.bad)
	}
}
