package detect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// SpikeKind compares a group's count in a fixed window of timespan with a
// moving baseline: the mean of the baseline windows before it. It raises a
// match when the window meets the condition (a floor, gte) and reaches
// factor times the baseline mean. Windows before the group was first seen
// are unknown, not zero: until min_history windows are known the group only
// learns, so a fresh deployment does not alert on its first busy hour.
//
// Entities, one partition per rule and group: PK JoinKey("spk", rule,
// group); RK TimeKey(window) + "|" + Escape(writer) with the writer's Count
// in the window and its position watermark in Data (as ThresholdKind: a
// redelivery counts nothing twice, instances on different partitions never
// write the same row), Expires = window end + baseline windows; RK
// "~first|" + Escape(writer) with Time = the first window the writer saw
// of the group. A window's count is the sum over its writers' rows, the
// group's first window the earliest of its writers'. One query per group partition (Store.Find) reads the
// current windows, their history and the first-seen row; one Apply writes
// this writer's rows.
type SpikeKind struct{ base }

// Name implements Kind.
func (k *SpikeKind) Name() string { return CorrSpike }

// firstPrefix starts the row keys of a group's first-seen rows.
const firstPrefix = firstRow + "|"

// spikeWindow is a group's window (all writers): its partition and row
// prefix.
type spikeWindow struct{ partition, window string }

// spikeSeen is an event's group, window and writer.
type spikeSeen struct {
	window        time.Time
	group, writer string
}

// spikeRowOf is a writer's row of a window and its first-seen row.
type spikeRowOf struct {
	wr *writerRow
	fk state.Key // the writer's first-seen row
}

// spikeScratch is a spike call's maps, reused by the next call cleared
// (nothing the call returns or stores holds them).
type spikeScratch struct {
	buckets  map[spikeWindow]*bucket
	rows     map[state.Key]*writerRow
	firstEvs map[state.Key][]*event.Event
	prefixes map[string][]string
	byEvent  map[spikeSeen]spikeRowOf
	partOf   map[string]string
	counts   map[state.Key]int64
	firsts   map[string]time.Time
	sums     map[spikeWindow]int64
}

var spikeScratches = sync.Pool{New: func() any {
	return &spikeScratch{buckets: map[spikeWindow]*bucket{}, rows: map[state.Key]*writerRow{}, firstEvs: map[state.Key][]*event.Event{},
		prefixes: map[string][]string{}, byEvent: map[spikeSeen]spikeRowOf{}, partOf: map[string]string{},
		counts: map[state.Key]int64{}, firsts: map[string]time.Time{}, sums: map[spikeWindow]int64{}}
}}

// maxSpikeScratch bounds the entries of a spikeScratch kept for the next
// call (a call of a huge chunk's maps are dropped after it).
const maxSpikeScratch = 1 << 13

// release clears the maps and hands them back, unless they grew too large.
func (sc *spikeScratch) release() {
	if len(sc.byEvent) > maxSpikeScratch || len(sc.rows) > maxSpikeScratch || len(sc.firstEvs) > maxSpikeScratch ||
		len(sc.counts) > maxSpikeScratch || len(sc.sums) > maxSpikeScratch {
		return
	}
	clear(sc.buckets)
	clear(sc.rows)
	clear(sc.firstEvs)
	clear(sc.prefixes)
	clear(sc.byEvent)
	clear(sc.partOf)
	clear(sc.counts)
	clear(sc.firsts)
	clear(sc.sums)
	spikeScratches.Put(sc)
}

// Matches implements Kind.
func (k *SpikeKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	// Every read and write of the call is for update, and its keys are
	// escaped by construction (JoinKey's partitions; rows and prefixes of
	// TimeKey, firstPrefix and escaped writers: state.EscapedKeys).
	// Derived once.
	ctx = state.EscapedKeys(state.ForUpdate(ctx))
	type wkey = spikeWindow
	// The call's maps reuse a former call's (spikeScratches), cleared.
	sc := spikeScratches.Get().(*spikeScratch)
	defer sc.release()
	buckets := sc.buckets
	rows := sc.rows
	firstEvs := sc.firstEvs // a writer's first-seen row -> events
	prefixes := sc.prefixes // partition -> windows and history to read
	var parts []string
	var writes []state.Key
	var windows []wkey
	// Keys are built once per group, window and writer of the batch, not
	// per event.
	type seen = spikeSeen
	type rowOf = spikeRowOf
	byEvent := sc.byEvent
	partOf := sc.partOf        // group -> partition
	var firstW, firstRK string // the last writer's first-seen row key
	var writers writerKey
	var keys keyArena
	// Buckets, rows, their first events and a group's prefixes come from
	// slabs: a few allocations, not several per group.
	var bucketSlab slab[bucket]
	var rowSlab slab[writerRow]
	var evSlab slab[*event.Event]
	var prefixSlab slab[string]
	for _, ev := range events {
		g, ok := k.groupKey(ev, &keys)
		if !ok || ev.Time.IsZero() {
			continue
		}
		ws := windowStart(ev.Time, k.c.Timespan)
		sk := seen{ws, g, ev.Pos.Writer}
		if ro, ok := byEvent[sk]; ok {
			firstEvs[ro.fk] = append(firstEvs[ro.fk], ev)
			ro.wr.b.events = append(ro.wr.b.events, ev)
			ro.wr.events = append(ro.wr.events, ev)
			continue
		}
		pk, ok := partOf[g]
		if !ok {
			pk = state.JoinKey("spk", r.ID, g)
			partOf[g] = pk
			parts = append(parts, pk)
			prefixes[pk] = append(prefixSlab.many(2+k.c.Baseline), firstPrefix)
		}
		w := writers.of(ev.Pos.Writer)
		if firstRK == "" || w != firstW {
			firstW, firstRK = w, firstPrefix+w
		}
		fk := state.Key{PartitionKey: pk, RowKey: firstRK}
		fe, seen := firstEvs[fk]
		if !seen {
			writes = append(writes, fk)
			fe = evSlab.one()
		}
		firstEvs[fk] = append(fe, ev)
		rk, prefix := keys.spikeRow(ws, w)
		wk := wkey{pk, prefix}
		b := buckets[wk]
		if b == nil {
			b = bucketSlab.next()
			*b = bucket{group: g, window: ws, events: evSlab.one()}
			buckets[wk] = b
			windows = append(windows, wk)
			hp := append(prefixes[pk], prefix)
			for i := 1; i <= k.c.Baseline; i++ {
				hp = append(hp, keys.spikePrefix(ws.Add(-time.Duration(i)*k.c.Timespan)))
			}
			prefixes[pk] = hp
		}
		b.events = append(b.events, ev)
		key := state.Key{PartitionKey: pk, RowKey: rk}
		wr := rows[key]
		if wr == nil {
			wr = rowSlab.next()
			*wr = writerRow{b: b, events: evSlab.one()}
			rows[key] = wr
			writes = append(writes, key)
		}
		wr.events = append(wr.events, ev)
		byEvent[sk] = rowOf{wr, fk}
	}
	if len(writes) == 0 {
		return nil, nil
	}
	for _, wr := range rows {
		slices.SortStableFunc(wr.events, func(a, b *event.Event) int { return a.Pos.Compare(b.Pos) })
	}
	stored, err := findRows(ctx, k.store, parts, prefixes)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}

	counts := sc.counts
	firsts := sc.firsts
	keep := time.Duration(k.c.Baseline+1) * k.c.Timespan
	blame := func(key state.Key) []*event.Event {
		if evs, ok := firstEvs[key]; ok {
			return evs
		}
		return rows[key].events
	}
	t := txn{store: k.store, table: StateTable, rule: r.ID, blame: blame, prefixes: prefixes, step: func(key state.Key, cur state.Entity, found bool) (state.Op, bool, error) {
		if evs, ok := firstEvs[key]; ok {
			return k.stepFirst(key, cur, found, evs, firsts, keep)
		}
		wr := rows[key]
		var d thresholdData
		if err := loadThreshold("spike", key, cur, found, &d); err != nil {
			return state.Op{}, false, err
		}
		n := cur.Count
		if !found {
			n = 0
		}
		changed := false
		for _, ev := range wr.events {
			if d.admit(ev) {
				n++
				changed = true
			}
		}
		counts[key] = n
		if !changed {
			return state.Op{}, false, nil
		}
		e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Count: n, Text: wr.b.group, Time: wr.b.window,
			Data: d.encodeRow(found, len(key.RowKey)+len(wr.b.group)), Expires: k.expiry(wr.b.window.Add(k.c.Timespan), keep)}
		return writeOp(state.Packed(e), cur, found), true, nil
	}}
	refused := t.loop(ctx, writes, stored)
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}

	// A window's count: this batch's rows as computed, the others as read.
	sums := sc.sums
	for key, n := range counts {
		sums[wkey{key.PartitionKey, key.RowKey[:strings.IndexByte(key.RowKey, '|')+1]}] += n
	}
	for key, e := range stored {
		if strings.HasPrefix(key.RowKey, firstPrefix) {
			if _, mine := firstEvs[key]; !mine && !e.Time.IsZero() {
				if f, ok := firsts[key.PartitionKey]; !ok || e.Time.Before(f) {
					firsts[key.PartitionKey] = e.Time
				}
			}
			continue
		}
		if _, mine := counts[key]; mine {
			continue
		}
		if i := strings.IndexByte(key.RowKey, '|'); i >= 0 {
			sums[wkey{key.PartitionKey, key.RowKey[:i+1]}] += e.Count
		}
	}

	var out []Match
	for _, wk := range windows {
		b := buckets[wk]
		n := sums[wk]
		if !k.c.met(float64(n)) {
			continue
		}
		first := firsts[wk.partition]
		known, sum := 0, int64(0)
		for i := 1; i <= k.c.Baseline; i++ {
			ws := b.window.Add(-time.Duration(i) * k.c.Timespan)
			if ws.Before(first) {
				break
			}
			known++
			sum += sums[wkey{wk.partition, keys.spikePrefix(ws)}]
		}
		if known < k.c.MinHistory || known == 0 {
			continue
		}
		mean := float64(sum) / float64(known)
		if float64(n) < k.c.Factor*mean {
			continue
		}
		evs := slices.Clone(b.events)
		slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		out = append(out, Match{Rule: r, Events: evs, GroupKey: strings.Clone(b.group), WindowStart: b.window, Count: int(n),
			Values: []string{fmt.Sprintf("%.1f", mean)}})
	}
	return out, refused
}

// stepFirst keeps the group's first window: written when it moves earlier,
// and its expiry extended once a window, not on every batch.
func (k *SpikeKind) stepFirst(key state.Key, cur state.Entity, found bool, evs []*event.Event, firsts map[string]time.Time, keep time.Duration) (state.Op, bool, error) {
	first := cur.Time
	if !found {
		first = time.Time{}
	}
	changed := !found
	for _, ev := range evs {
		if ws := windowStart(ev.Time, k.c.Timespan); first.IsZero() || ws.Before(first) {
			first, changed = ws, true
		}
	}
	if f, ok := firsts[key.PartitionKey]; !ok || first.Before(f) {
		firsts[key.PartitionKey] = first
	}
	exp := k.expires(latest(evs), keep)
	if found && cur.Expires.Time().Before(exp.Add(-k.c.Timespan)) {
		changed = true
	}
	if !changed {
		return state.Op{}, false, nil
	}
	if found && cur.Expires.Time().After(exp) {
		exp = cur.Expires.Time()
	}
	e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Time: first, Expires: state.StampOf(exp)}
	return writeOp(e, cur, found), true, nil
}

func latest(evs []*event.Event) time.Time {
	var t time.Time
	for _, ev := range evs {
		if ev.Time.After(t) {
			t = ev.Time
		}
	}
	return t
}

var _ Kind = (*SpikeKind)(nil)

// spikePrefix is keys.spikeRow(window, "")'s prefix, the window's rows':
// state.TimeKey(window) + "|", in the arena (a window's history is
// Baseline of them).
func (a *keyArena) spikePrefix(window time.Time) string {
	_, prefix := a.spikeRow(window, "")
	return prefix
}
