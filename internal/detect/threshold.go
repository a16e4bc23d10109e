package detect

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// ThresholdKind is Sigma's event_count and value_count, and value_sum: the
// number of selected events, of distinct values of condition.field, or the
// sum of condition.field's numbers (bytes of flow tuples), per group key
// within a fixed window of timespan, compared with the condition. A
// value_sum event whose field is absent or not a number adds nothing.
//
// State is kept per writer (event.Position: an Event Hub partition, an
// archive blob, a file), so that instances reading different partitions
// never write the same entity, and a counter stays the same size whatever
// it counts:
//
//	PK JoinKey("thr", rule, TimeKey(window))
//	RK Escape(group) + "|" + Escape(writer)
//	Count  the writer's events counted in the window
//	Data   the writer's watermark (the position of the last event counted:
//	       what a redelivery brings again is at or before it and counts
//	       nothing), first/last event time, the value_sum, and for
//	       value_count the writer's distinct values as 64-bit hashes (at
//	       most maxDistinct, about 24 KiB) with the first maxShownValues of
//	       them as written, for the alert
//	Text   the group key (Bounded parts); Expires the window's end plus the window
//
// The condition is checked on the sum over writers (the union of their
// hashes for value_count): one query per window partition reads every
// writer's rows of the groups the batch touches (Store.Find), one
// entity-group transaction writes this writer's. Records without a
// position (writer "") keep the legacy guard instead: the keys of at most
// maxEventKeys events.
//
// Whenever a batch touches a group whose window meets the condition, the
// kind raises the group's match again with the same group key and window:
// the alert id is the same, so suppression sends it once, and an alert lost
// with a failed batch is raised again when the batch is redelivered; two
// instances that both see the condition met raise one alert id.
type ThresholdKind struct {
	base
	// expireAtEnd: a window's entities expire at its end
	// (WithEventTimeSweep), not a window later.
	expireAtEnd bool
}

// Name implements Kind.
func (k *ThresholdKind) Name() string { return k.c.Type }

// keep is how long a window's entities stay after its end.
func (k *ThresholdKind) keep() time.Duration {
	if k.expireAtEnd {
		return 0
	}
	return k.c.Timespan
}

const (
	// maxDistinct bounds the distinct-value hashes one writer's row keeps:
	// a value_count is exact up to this many distinct values per writer and
	// window (a password spray's threshold is tens), and saturates past it.
	maxDistinct = 3000
	// maxShownValues is how many distinct values a row keeps as written.
	maxShownValues = 10
)

type thresholdData struct {
	// Mark says the watermark (Seq, Index, Sub) is set.
	Mark   bool      `json:"m,omitempty"`
	Seq    int64     `json:"q,omitempty"`
	Index  int       `json:"i,omitempty"`
	Sub    int       `json:"u,omitempty"`
	Keys   []string  `json:"k,omitempty"`
	Hashes []byte    `json:"h,omitempty"`
	Values []string  `json:"v,omitempty"`
	Sum    float64   `json:"s,omitempty"`
	First  time.Time `json:"f"`
	Last   time.Time `json:"l"`
}

func (d *thresholdData) watermark() event.Position {
	return event.Position{Seq: d.Seq, Index: d.Index, Sub: d.Sub}
}

// bucket is the events of one group and window in a batch (all writers).
type bucket struct {
	group  string
	window time.Time
	events []*event.Event
	// i is the bucket's place in the call's order (threshold): its
	// total's, so that summing looks no group key up.
	i int
}

// writerRow is one writer's events of one bucket.
type writerRow struct {
	b      *bucket
	events []*event.Event
	// What the batch made of the writer's row (counted says it is set).
	counted bool
	d       thresholdData
	n       int64
}

// thresholdRow is a row key of a group and writer: the group's rows of
// every writer share its prefix.
func thresholdRow(group, writer string) (row, prefix string) {
	return thresholdRowEscaped(group, state.Escape(writer))
}

// thresholdRowEscaped is thresholdRow of a writer already escaped.
func thresholdRowEscaped(group, writer string) (row, prefix string) {
	return groupRow(group, writer)
}

// Matches implements Kind.
func (k *ThresholdKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	type gkey struct{ partition, prefix string }
	// Keys are built once per group, window and writer of the batch, not
	// per event: a batch's events mostly share a few windows and writers.
	type seen struct {
		window        time.Time
		group, writer string
	}
	buckets := map[gkey]*bucket{}
	var groupOrder []gkey
	var order []*bucket // groupOrder's buckets
	rows := map[state.Key]*writerRow{}
	byEvent := map[seen]*writerRow{}
	partOf := map[time.Time]string{}
	var writers writerKey
	var keys keyArena
	var own []state.Key
	var ownRows []*writerRow // own's rows
	// Rows, buckets and their first event come from slabs: a few
	// allocations, not three per group.
	var rowSlab slab[writerRow]
	var grown countSlabs
	var bucketSlab slab[bucket]
	var evSlab slab[*event.Event]
	for _, ev := range events {
		g, ok := k.groupKey(ev, &keys)
		if !ok || ev.Time.IsZero() {
			continue
		}
		ws := windowStart(ev.Time, k.c.Timespan)
		sk := seen{ws, g, ev.Pos.Writer}
		if wr := byEvent[sk]; wr != nil {
			wr.b.events = append(wr.b.events, ev)
			wr.events = append(wr.events, ev)
			continue
		}
		pk, ok := partOf[ws]
		if !ok {
			pk = state.JoinKey("thr", r.ID, state.TimeKey(ws))
			partOf[ws] = pk
		}
		rk, prefix := keys.groupRow(g, writers.of(ev.Pos.Writer))
		gk := gkey{pk, prefix}
		b := buckets[gk]
		if b == nil {
			b = bucketSlab.next()
			*b = bucket{group: g, window: ws, events: evSlab.one(), i: len(order)}
			buckets[gk] = b
			groupOrder = append(groupOrder, gk)
			order = append(order, b)
		}
		b.events = append(b.events, ev)
		key := state.Key{PartitionKey: pk, RowKey: rk}
		wr := rowSlab.next()
		wr.b, wr.events = b, append(evSlab.one(), ev)
		rows[key] = wr
		byEvent[sk] = wr
		own = append(own, key)
		ownRows = append(ownRows, wr)
	}
	if len(own) == 0 {
		return nil, nil
	}
	for _, wr := range rows {
		if len(wr.events) > 1 {
			slices.SortStableFunc(wr.events, func(a, b *event.Event) int { return a.Pos.Compare(b.Pos) })
		}
	}

	// One query per window partition: every writer's rows of these groups.
	prefixes := map[string][]string{}
	var parts []string
	for _, gk := range groupOrder {
		if _, ok := prefixes[gk.partition]; !ok {
			parts = append(parts, gk.partition)
		}
		prefixes[gk.partition] = append(prefixes[gk.partition], gk.prefix)
	}
	stored, err := findRows(ctx, k.store, parts, prefixes)
	if err != nil {
		return nil, err
	}

	t := txn{store: k.store, table: StateTable, rule: r.ID, prefixes: prefixes,
		blame: func(key state.Key) []*event.Event { return rows[key].events },
		step: func(key state.Key, cur state.Entity, found bool) (state.Op, bool, error) {
			wr := rows[key]
			wr.d = thresholdData{} // a retry after a conflict starts from what it read
			n, changed, err := k.count(key, cur, found, wr.events, &wr.d, &grown)
			if err != nil {
				return state.Op{}, false, err
			}
			d := &wr.d
			wr.counted, wr.n = true, n
			if !changed {
				return state.Op{}, false, nil
			}
			e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Count: n, Text: wr.b.group,
				Data: d.encodeRow(found, len(key.RowKey)+len(wr.b.group)),
				Time: wr.b.window, Expires: k.expires(wr.b.window.Add(k.c.Timespan), k.keep())}
			return writeOp(state.Packed(e), cur, found), true, nil
		}}
	refused := t.loop(ctx, own, stored)
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}

	// Sum over writers: this batch's rows as computed, the others as read.
	type total struct {
		n   int64
		sum float64
		// The distinct values: one row's hashes as stored (a row's are
		// distinct), and their union in a set only once a second row
		// adds to them.
		one    []byte
		rows   int
		hashes map[uint64]struct{}
		values []string
	}
	groupOf := func(key state.Key) gkey {
		i := strings.IndexByte(key.RowKey, '|')
		return gkey{key.PartitionKey, key.RowKey[:i+1]}
	}
	// totals[b.i] is bucket b's total; rows 0: none.
	sumOver := func(stored map[state.Key]state.Entity) ([]total, error) {
		totals := make([]total, len(order))
		add := func(i int, n int64, d thresholdData) {
			tt := &totals[i]
			tt.n += n
			tt.sum += d.Sum
			tt.rows++
			if tt.rows == 1 {
				tt.one, tt.values = d.Hashes, d.Values[:len(d.Values):len(d.Values)]
				return
			}
			if tt.hashes == nil {
				tt.hashes = make(map[uint64]struct{}, (len(tt.one)+len(d.Hashes))/8)
				for i := 0; i+8 <= len(tt.one); i += 8 {
					tt.hashes[binary.BigEndian.Uint64(tt.one[i:])] = struct{}{}
				}
			}
			for i := 0; i+8 <= len(d.Hashes); i += 8 {
				tt.hashes[binary.BigEndian.Uint64(d.Hashes[i:])] = struct{}{}
			}
			for _, v := range d.Values {
				if len(tt.values) < maxShownValues && !slices.Contains(tt.values, v) {
					tt.values = append(tt.values, v)
				}
			}
		}
		for _, wr := range ownRows {
			if wr.counted {
				add(wr.b.i, wr.n, wr.d)
			}
		}
		for key, e := range stored {
			if _, mine := rows[key]; mine {
				continue
			}
			b := buckets[groupOf(key)]
			if b == nil {
				continue
			}
			var d thresholdData
			if err := loadThreshold("threshold", key, e, true, &d); err != nil {
				return nil, err
			}
			add(b.i, e.Count, d)
		}
		return totals, nil
	}
	measure := func(tt *total) (metric int, value float64) {
		metric = int(tt.n)
		value = float64(metric)
		switch k.c.Type {
		case CorrValueCount:
			metric = len(tt.hashes)
			if tt.hashes == nil {
				metric = len(tt.one) / 8
			}
			value = float64(metric)
		case CorrValueSum:
			value = tt.sum
			metric = int(min(tt.sum, math.MaxInt64/2))
		}
		return metric, value
	}
	totals, err := sumOver(stored)
	if err != nil {
		return nil, err
	}
	// A second look after writing. Two instances adding to one group at
	// the same moment each read the other's row before it was written:
	// each sum may fall short although together they cross the
	// threshold. Read again after the write, the later of them sees both.
	// Only groups that fell short and already had another writer's row
	// are read again (one Find per partition): a single writer (scan, one
	// partition) costs nothing more.
	shared := map[gkey]bool{}
	for key := range stored {
		if _, mine := rows[key]; !mine {
			shared[groupOf(key)] = true
		}
	}
	again := map[string][]string{}
	var againParts []string
	for i, gk := range groupOrder {
		tt := &totals[i]
		if tt.rows == 0 || !shared[gk] {
			continue
		}
		if _, value := measure(tt); k.c.met(value) {
			continue
		}
		if _, ok := again[gk.partition]; !ok {
			againParts = append(againParts, gk.partition)
		}
		again[gk.partition] = append(again[gk.partition], gk.prefix)
	}
	if len(againParts) > 0 {
		fresh, err := findRows(ctx, k.store, againParts, again)
		if err != nil {
			return nil, err
		}
		for key, e := range fresh {
			stored[key] = e
		}
		if totals, err = sumOver(stored); err != nil {
			return nil, err
		}
	}

	var out []Match
	for i, b := range order {
		tt := &totals[i]
		if tt.rows == 0 {
			continue
		}
		metric, value := measure(tt)
		if !k.c.met(value) {
			continue
		}
		evs := slices.Clone(b.events)
		slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		m := Match{Rule: r, Events: evs, GroupKey: strings.Clone(b.group), WindowStart: b.window, Count: metric}
		if k.c.Type == CorrValueCount {
			m.Values = slices.Clone(tt.values) // tt's may be in the call's slab
		}
		out = append(out, m)
	}
	return out, refused
}

// ThresholdCount is a threshold rule's count for one group and window:
// the sum of every writer's row (for tests, the simulation and operators).
func ThresholdCount(ctx context.Context, store state.Store, ruleID string, window time.Time, group string) (int64, error) {
	_, prefix := thresholdRow(group, "")
	found, err := store.Find(ctx, StateTable, state.JoinKey("thr", ruleID, state.TimeKey(window)), []string{prefix})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range found {
		n += e.Count
	}
	return n, nil
}

// findRows reads every writer's rows of the groups, one Find per
// partition (the stateful kinds that keep a row per writer share it). It
// reads for update (state.ForUpdate): the kinds write the partitions they
// read and, on a conflict, read them again whole (txn.prefixes).
func findRows(ctx context.Context, store state.Store, parts []string, prefixes map[string][]string) (map[state.Key]state.Entity, error) {
	ctx = state.ForUpdate(ctx)
	var one [1][]state.Entity
	all, n := one[:0], 0
	for _, pk := range parts {
		found, err := store.Find(ctx, StateTable, pk, prefixes[pk])
		if err != nil {
			return nil, err
		}
		all, n = append(all, found), n+len(found)
	}
	out := make(map[state.Key]state.Entity, n) // its size known: no growing
	for _, found := range all {
		for _, e := range found {
			out[e.Key()] = e
		}
	}
	return out, nil
}

// count adds one writer's events of a batch to its row: those after the
// watermark (or, without a position, whose keys it does not hold).
// count decodes the row into d (zero) and adds the writer's events to it.
//
// What a row's hashes and shown values grow into comes from sl: they are
// the call's (encoded into the row's document, summed over writers; a
// match takes a copy of the values).
func (k *ThresholdKind) count(key state.Key, cur state.Entity, found bool, evs []*event.Event, d *thresholdData, sl *countSlabs) (int64, bool, error) {
	if err := loadThreshold("threshold", key, cur, found, d); err != nil {
		return 0, false, err
	}
	n := cur.Count
	if !found {
		n = 0
	}
	var have map[uint64]bool
	changed := false
	for _, ev := range evs {
		if !d.admit(ev) {
			continue
		}
		changed = true
		n++
		if d.First.IsZero() || ev.Time.Before(d.First) {
			d.First = ev.Time.UTC()
		}
		if ev.Time.After(d.Last) {
			d.Last = ev.Time.UTC()
		}
		switch {
		case k.c.Type == CorrValueSum:
			// A number is short: a longer value is not one (and is not parsed).
			if v, ok := firstValue(ev, k.c.fieldRes); ok && len(v) <= 64 {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && !math.IsInf(f, 0) {
					d.Sum += f
				}
			}
		case k.c.fieldRes != nil:
			v, ok := firstValue(ev, k.c.fieldRes)
			if !ok {
				continue
			}
			v = BoundedLower(v)
			h := valueHash(v)
			distinct := len(d.Hashes) / 8
			if have == nil && distinct > smallDistinct {
				have = make(map[uint64]bool, distinct+1)
				for i := 0; i+8 <= len(d.Hashes); i += 8 {
					have[binary.BigEndian.Uint64(d.Hashes[i:])] = true
				}
			}
			if have != nil && have[h] || have == nil && hasHash(d.Hashes, h) || distinct >= maxDistinct {
				continue
			}
			if have != nil {
				have[h] = true
			}
			if len(d.Hashes) == cap(d.Hashes) {
				// Room for every event of the batch at once, from the
				// call's slab: no allocation per row.
				d.Hashes = append(sl.hashes.many(len(d.Hashes)+8*min(len(evs), maxDistinct-distinct)), d.Hashes...)
			}
			d.Hashes = binary.BigEndian.AppendUint64(d.Hashes, h)
			if len(d.Values) < maxShownValues {
				if len(d.Values) == cap(d.Values) {
					d.Values = append(sl.values.many(len(d.Values)+min(len(evs), maxShownValues-len(d.Values))), d.Values...)
				}
				d.Values = append(d.Values, v)
			}
		}
	}
	return n, changed, nil
}

// countSlabs are what count grows a call's rows' hashes and values into.
type countSlabs struct {
	hashes slab[byte]
	values slab[string]
}

// smallDistinct is how many distinct-value hashes count searches in place
// before it builds a set of them.
const smallDistinct = 32

func hasHash(hashes []byte, h uint64) bool {
	for i := 0; i+8 <= len(hashes); i += 8 {
		if binary.BigEndian.Uint64(hashes[i:]) == h {
			return true
		}
	}
	return false
}

// admit reports whether ev is counted for the first time, and if so moves
// the writer's watermark to it (or, without a position, keeps its key).
// One writer's events must come in position order.
func (d *thresholdData) admit(ev *event.Event) bool {
	if ev.Pos.Writer == "" {
		var isNew bool
		d.Keys, isNew = addKey(d.Keys, eventKey(ev))
		return isNew
	}
	if d.Mark && ev.Pos.Compare(d.watermark()) <= 0 {
		return false // counted before: a redelivery
	}
	d.Mark, d.Seq, d.Index, d.Sub = true, ev.Pos.Seq, ev.Pos.Index, ev.Pos.Sub
	return true
}

// valueHash is a distinct value's 64-bit FNV-1a: collisions are negligible
// at maxDistinct values per row.
func valueHash(v string) uint64 { return event.FNV64a(v) }

var _ Kind = (*ThresholdKind)(nil)
