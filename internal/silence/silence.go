// Package silence raises an alert when a log source that was flowing stops:
// a deleted diagnostic setting, a disabled flow log or a broken export shows
// up first as records that no longer arrive.
//
// Every batch records, per source and subscription (tenant-scoped sources:
// no subscription), when records last arrived (wall clock, not event time:
// exports are late by minutes and archives by hours, and what matters is
// that nothing arrives). Check lists those entities and raises one alert per
// source and subscription silent for longer than the configured time. The
// alert id is fixed by the source, subscription and last arrival, so a
// check repeated every batch or timer tick raises the same alert, which
// suppression sends once; when records arrive again the entity moves on.
package silence

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// Table and partition of the last-arrival entities: the detection state
// table (swept by the maintenance timer), one partition.
const (
	Table     = "azdetectstate"
	Partition = "silence"
)

// RuleID and Title of the alert (not a YAML rule: it is raised by absence).
const (
	RuleID = "azdetect-log-source-silent"
	Title  = "Log source went silent"
)

// keep is how long an entity lives without records: long enough that a
// source silent for weeks is still remembered (and still alerts).
const keep = 30 * 24 * time.Hour

// Key is one flow of records.
type Key struct {
	Source       string
	Subscription string // lower case; "" for tenant-scoped sources
}

func (k Key) rowKey() string { return state.Escape(k.Source + "|" + k.Subscription) }

// Tracker keeps last arrivals in a state store. It is safe for concurrent
// use.
type Tracker struct {
	store state.Store
	after time.Duration

	// rowKeys remembers the row key of each flow seen (every batch names
	// the same few hundred flows again; escaping them was two allocations
	// each, every batch), at most maxRowKeys of them.
	mu      sync.Mutex
	rowKeys map[Key]string
}

// maxRowKeys bounds Tracker.rowKeys; past it the map starts again.
const maxRowKeys = 8192

// rowKey is k's row key, remembered.
func (t *Tracker) rowKey(k Key) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rk, ok := t.rowKeys[k]; ok {
		return rk
	}
	if t.rowKeys == nil || len(t.rowKeys) >= maxRowKeys {
		t.rowKeys = make(map[Key]string)
	}
	rk := k.rowKey()
	// The map keeps copies: k's strings may be views into a record.
	t.rowKeys[Key{Source: strings.Clone(k.Source), Subscription: strings.Clone(k.Subscription)}] = rk
	return rk
}

// New returns a tracker that alerts after the given silence (> 0).
func New(store state.Store, after time.Duration) (*Tracker, error) {
	if store == nil || after <= 0 {
		return nil, errors.New("silence: a store and a positive duration are required")
	}
	return &Tracker{store: store, after: after}, nil
}

// Seen records that records of keys arrived at now: one read and one write
// of the partition per batch.
func (t *Tracker) Seen(ctx context.Context, now time.Time, keys []Key) error {
	if len(keys) == 0 {
		return nil
	}
	sk, byKey := t.rows(keys)
	cur, err := t.store.Get(ctx, Table, sk)
	if err != nil {
		return fmt.Errorf("silence: read last arrivals: %w", err)
	}
	ents := make([]state.Entity, 0, len(cur))
	at := make([]int, len(sk))
	for i, s := range sk {
		at[i] = -1
		if e, ok := cur[s]; ok {
			at[i] = len(ents)
			ents = append(ents, e)
		}
	}
	ops := t.arrivals(now, sk, byKey, ents, at)
	if len(ops) == 0 {
		return nil
	}
	if err := t.store.Apply(ctx, Table, ops); err != nil {
		return fmt.Errorf("silence: write last arrivals: %w", err)
	}
	return nil
}

// Observe is Seen then Check in one read of the partition, for a batch:
// the whole partition is read for update (state.ForUpdate: Table answers
// from its view of the partition, kept by its last transaction there, so
// a batch costs at most the write), the arrivals are written, guarded, and
// read again on a conflict, and the alerts come from what the partition
// then holds. Without keys it is Check.
func (t *Tracker) Observe(ctx context.Context, now time.Time, keys []Key) ([]alert.Alert, error) {
	if len(keys) == 0 {
		return t.Check(ctx, now)
	}
	sk, byKey := t.rows(keys)
	upd := state.ForUpdate(ctx)
	at := make([]int, len(sk)) // per key: its entity's index in ents, or -1
	for attempt := 0; ; attempt++ {
		ents, err := t.store.Find(upd, Table, Partition, []string{""})
		if err != nil {
			return nil, fmt.Errorf("silence: list last arrivals: %w", err)
		}
		index := make(map[state.Key]int, len(sk))
		for i, s := range sk {
			index[s] = i
			at[i] = -1
		}
		for j := range ents {
			if i, ok := index[ents[j].Key()]; ok {
				at[i] = j
			}
		}
		ops := t.arrivals(now, sk, byKey, ents, at)
		if len(ops) > 0 {
			err = t.store.Apply(upd, Table, ops)
			if errors.Is(err, state.ErrConflict) && attempt < observeAttempts {
				continue // another instance wrote the partition: read it again
			}
			if err != nil {
				return nil, fmt.Errorf("silence: write last arrivals: %w", err)
			}
			for _, o := range ops {
				if j := at[index[o.Entity.Key()]]; j >= 0 {
					ents[j] = o.Entity
				} else {
					ents = append(ents, o.Entity)
				}
			}
		}
		return t.silent(now, ents), nil
	}
}

// observeAttempts bounds Observe's retries after conflicts.
const observeAttempts = 5

// rows are the keys' row keys, each once, and the key of each.
func (t *Tracker) rows(keys []Key) ([]state.Key, map[state.Key]Key) {
	sk := make([]state.Key, 0, len(keys))
	byKey := map[state.Key]Key{}
	for _, k := range keys {
		s := state.Key{PartitionKey: Partition, RowKey: t.rowKey(k)}
		if _, dup := byKey[s]; !dup {
			byKey[s] = k
			sk = append(sk, s)
		}
	}
	return sk, byKey
}

// arrivals are the writes that record arrivals at now, given what is
// stored: ents, of which at[i] is sk[i]'s (-1: none).
func (t *Tracker) arrivals(now time.Time, sk []state.Key, byKey map[state.Key]Key, ents []state.Entity, at []int) []state.Op {
	now = now.UTC()
	var ops []state.Op
	for i, s := range sk {
		// Arrivals are coarse (a minute): a busy source is written once a
		// minute, not once a batch.
		if j := at[i]; j >= 0 && now.Sub(ents[j].Time) < time.Minute {
			continue
		}
		k := byKey[s]
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{
			PartitionKey: Partition, RowKey: s.RowKey, Text: k.Source + "|" + k.Subscription,
			Time: now, Expires: state.StampOf(now.Add(keep)),
		}})
	}
	return ops
}

// Check returns one alert per source and subscription whose last arrival
// is older than the tracker's silence.
func (t *Tracker) Check(ctx context.Context, now time.Time) ([]alert.Alert, error) {
	ents, err := t.store.List(ctx, Table, Partition, "")
	if err != nil {
		return nil, fmt.Errorf("silence: list last arrivals: %w", err)
	}
	return t.silent(now, ents), nil
}

// silent is the alerts of the sources whose last arrival in ents is older
// than the tracker's silence.
func (t *Tracker) silent(now time.Time, ents []state.Entity) []alert.Alert {
	// The silent ones alone are sorted (a batch usually has none).
	var quiet []state.Entity
	for _, e := range ents {
		if now.Sub(e.Time) > t.after {
			quiet = append(quiet, e)
		}
	}
	sort.Slice(quiet, func(i, j int) bool { return quiet[i].Text < quiet[j].Text })
	var out []alert.Alert
	for _, e := range quiet {
		silent := now.Sub(e.Time)
		src, sub, _ := strings.Cut(e.Text, "|")
		ev := &event.Event{Source: src, Time: e.Time, Operation: "no records", Resource: event.Resource{Subscription: sub}}
		if sub != "" {
			ev.Resource.ID = "/subscriptions/" + sub
		}
		where := "the tenant"
		if sub != "" {
			where = "subscription " + sub
		}
		out = append(out, alert.New(alert.Spec{
			RuleID:      RuleID,
			Title:       Title,
			Severity:    alert.SeverityMedium,
			Tactics:     []string{"defense-evasion"},
			Techniques:  []string{"T1562.008"},
			Summary:     fmt.Sprintf("No %s records from %s since %s (silent for %s, more than %s): check its diagnostic setting or flow log", src, where, e.Time.UTC().Format(time.RFC3339), silent.Truncate(time.Minute), t.after),
			GroupKey:    e.Text,
			WindowStart: e.Time.UTC(),
			Count:       1,
		}, []*event.Event{ev}))
	}
	return out
}
