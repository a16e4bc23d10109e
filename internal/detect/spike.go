package detect

import (
	"context"
	"fmt"
	"slices"
	"time"

	json "github.com/goccy/go-json"

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
// group); RK TimeKey(window) with Count and the counted event keys in Data
// (a replay counts nothing twice), Expires = window end + baseline windows;
// RK "~first" with Time = the group's first window. One Get reads the
// current windows, their history and the first-seen rows of every group in
// the batch (one query per partition), one Apply writes them.
type SpikeKind struct{ base }

// Name implements Kind.
func (k *SpikeKind) Name() string { return CorrSpike }

type spikeData struct {
	Keys []string `json:"k,omitempty"`
}

// Matches implements Kind.
func (k *SpikeKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	buckets := map[state.Key]*bucket{}
	firstEvs := map[string][]*event.Event{} // partition -> events
	var writes, reads []state.Key
	for _, ev := range events {
		g, ok := k.groupKey(ev)
		if !ok || ev.Time.IsZero() {
			continue
		}
		ws := windowStart(ev.Time, k.c.Timespan)
		pk := state.JoinKey("spk", r.ID, g)
		if _, seen := firstEvs[pk]; !seen {
			writes = append(writes, state.Key{PartitionKey: pk, RowKey: firstRow})
		}
		firstEvs[pk] = append(firstEvs[pk], ev)
		key := state.Key{PartitionKey: pk, RowKey: state.TimeKey(ws)}
		b := buckets[key]
		if b == nil {
			b = &bucket{group: g, window: ws}
			buckets[key] = b
			writes = append(writes, key)
			for i := 1; i <= k.c.Baseline; i++ {
				reads = append(reads, state.Key{PartitionKey: pk, RowKey: state.TimeKey(ws.Add(-time.Duration(i) * k.c.Timespan))})
			}
		}
		b.events = append(b.events, ev)
	}
	if len(writes) == 0 {
		return nil, nil
	}
	counts := map[state.Key]int64{}
	firsts := map[string]time.Time{}
	keep := time.Duration(k.c.Baseline+1) * k.c.Timespan
	blame := func(key state.Key) []*event.Event {
		if key.RowKey == firstRow {
			return firstEvs[key.PartitionKey]
		}
		return buckets[key].events
	}
	t := txn{store: k.store, table: StateTable, rule: r.ID, blame: blame, step: func(key state.Key, cur state.Entity, found bool) (state.Op, bool, error) {
		if key.RowKey == firstRow {
			first := cur.Time
			if !found {
				first = time.Time{}
			}
			changed := !found
			for _, ev := range firstEvs[key.PartitionKey] {
				if ws := windowStart(ev.Time, k.c.Timespan); first.IsZero() || ws.Before(first) {
					first, changed = ws, true
				}
			}
			firsts[key.PartitionKey] = first
			// The first-seen row lives as long as the group is active:
			// extended once a window, not on every batch.
			exp := k.expires(latest(firstEvs[key.PartitionKey]), keep)
			if found && cur.Expires.Before(exp.Add(-k.c.Timespan)) {
				changed = true
			}
			if !changed {
				return state.Op{}, false, nil
			}
			if found && cur.Expires.After(exp) {
				exp = cur.Expires
			}
			e := state.Entity{PartitionKey: key.PartitionKey, RowKey: firstRow, Time: first, Expires: exp}
			return writeOp(e, cur, found), true, nil
		}
		b := buckets[key]
		var d spikeData
		if err := loadState("spike", key, cur, found, &d); err != nil {
			return state.Op{}, false, err
		}
		n := cur.Count
		if !found {
			n = 0
		}
		changed := false
		for _, ev := range b.events {
			var isNew bool
			if d.Keys, isNew = addKey(d.Keys, eventKey(ev)); isNew {
				n++
				changed = true
			}
		}
		counts[key] = n
		if !changed {
			return state.Op{}, false, nil
		}
		data, _ := json.Marshal(d)
		e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Count: n, Text: b.group, Time: b.window,
			Data: data, Expires: k.expires(b.window.Add(k.c.Timespan), keep)}
		return writeOp(e, cur, found), true, nil
	}}
	history, refused := t.runWith(ctx, writes, reads)
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}
	var out []Match
	for _, key := range writes {
		b := buckets[key]
		if b == nil {
			continue
		}
		n := counts[key]
		if !k.c.met(float64(n)) {
			continue
		}
		first := firsts[key.PartitionKey]
		known, sum := 0, int64(0)
		for i := 1; i <= k.c.Baseline; i++ {
			ws := b.window.Add(-time.Duration(i) * k.c.Timespan)
			if ws.Before(first) {
				break
			}
			known++
			hk := state.Key{PartitionKey: key.PartitionKey, RowKey: state.TimeKey(ws)}
			if c, ok := counts[hk]; ok {
				sum += c
			} else if e, ok := history[hk]; ok {
				sum += e.Count
			}
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
		out = append(out, Match{Rule: r, Events: evs, GroupKey: b.group, WindowStart: b.window, Count: int(n),
			Values: []string{fmt.Sprintf("%.1f", mean)}})
	}
	return out, refused
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
