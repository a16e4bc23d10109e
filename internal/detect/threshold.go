package detect

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// ThresholdKind is Sigma's event_count and value_count, and value_sum: the
// number of selected events, of distinct values of condition.field, or the
// sum of condition.field's numbers (bytes of flow tuples), per group key
// within a fixed window of timespan, compared with the condition. A
// value_sum event whose field is absent or not a number adds nothing.
//
// Entity: PK JoinKey("thr", rule, TimeKey(window)), RK Escape(group key);
// Count is the number of events counted, Data keeps the keys of the events
// counted (so a replayed batch counts nothing twice) and the distinct
// values. One batch touches one partition per window it covers: usually
// one or two round trips to read and one to write, whatever the number of
// groups. Expires is the window's end plus the window.
//
// Whenever a batch touches a group whose window meets the condition, the
// kind raises the group's match again with the same group key and window:
// the alert id is the same, so suppression sends it once, and an alert lost
// with a failed batch is raised again when the batch is redelivered.
type ThresholdKind struct{ base }

// Name implements Kind.
func (k *ThresholdKind) Name() string { return k.c.Type }

type thresholdData struct {
	Keys   []string  `json:"k,omitempty"`
	Values []string  `json:"v,omitempty"`
	Sum    float64   `json:"s,omitempty"`
	First  time.Time `json:"f"`
	Last   time.Time `json:"l"`
}

type bucket struct {
	group  string
	window time.Time
	events []*event.Event
}

// Matches implements Kind.
func (k *ThresholdKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	buckets := map[state.Key]*bucket{}
	var order []state.Key
	for _, ev := range events {
		g, ok := k.groupKey(ev)
		if !ok || ev.Time.IsZero() {
			continue
		}
		ws := windowStart(ev.Time, k.c.Timespan)
		key := state.Key{PartitionKey: state.JoinKey("thr", r.ID, state.TimeKey(ws)), RowKey: state.Escape(g)}
		b := buckets[key]
		if b == nil {
			b = &bucket{group: g, window: ws}
			buckets[key] = b
			order = append(order, key)
		}
		b.events = append(b.events, ev)
	}
	if len(order) == 0 {
		return nil, nil
	}
	results := map[state.Key]thresholdData{}
	counts := map[state.Key]int64{}
	t := txn{store: k.store, table: StateTable, rule: r.ID, blame: func(key state.Key) []*event.Event { return buckets[key].events }, step: func(key state.Key, cur state.Entity, found bool) (state.Op, bool, error) {
		b := buckets[key]
		var d thresholdData
		if err := loadState("threshold", key, cur, found, &d); err != nil {
			return state.Op{}, false, err
		}
		n := cur.Count
		if !found {
			n = 0
		}
		changed := false
		for _, ev := range b.events {
			var isNew bool
			d.Keys, isNew = addKey(d.Keys, eventKey(ev))
			if !isNew {
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
			if k.c.Type == CorrValueSum {
				// A number is short: a longer value is not one (and is not parsed).
				if v, ok := firstValue(ev, k.c.fieldRes); ok && len(v) <= 64 {
					if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && !math.IsInf(f, 0) {
						d.Sum += f
					}
				}
			} else if k.c.fieldRes != nil && len(d.Values) < maxValues {
				if v, ok := firstValue(ev, k.c.fieldRes); ok {
					v = Bounded(strings.ToLower(v))
					if !slices.Contains(d.Values, v) {
						d.Values = append(d.Values, v)
					}
				}
			}
		}
		results[key], counts[key] = d, n
		if !changed {
			return state.Op{}, false, nil
		}
		data, err := json.Marshal(d)
		if err != nil {
			return state.Op{}, false, err
		}
		e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Count: n, Text: b.group, Data: data,
			Time: b.window, Expires: k.expires(b.window.Add(k.c.Timespan), k.c.Timespan)}
		return writeOp(e, cur, found), true, nil
	}}
	refused := t.run(ctx, order)
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}
	var out []Match
	for _, key := range order {
		b, d := buckets[key], results[key]
		metric := int(counts[key])
		value := float64(metric)
		switch k.c.Type {
		case CorrValueCount:
			metric = len(d.Values)
			value = float64(metric)
		case CorrValueSum:
			value = d.Sum
			metric = int(min(d.Sum, math.MaxInt64/2))
		}
		if !k.c.met(value) {
			continue
		}
		evs := slices.Clone(b.events)
		slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		m := Match{Rule: r, Events: evs, GroupKey: b.group, WindowStart: b.window, Count: metric}
		if k.c.Type == CorrValueCount {
			m.Values = d.Values
		}
		out = append(out, m)
	}
	return out, refused
}

var _ Kind = (*ThresholdKind)(nil)
