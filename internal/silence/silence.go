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

// Tracker keeps last arrivals in a state store.
type Tracker struct {
	store state.Store
	after time.Duration
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
	ops := t.arrivals(now, sk, byKey, cur)
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
	for attempt := 0; ; attempt++ {
		ents, err := t.store.Find(upd, Table, Partition, []string{""})
		if err != nil {
			return nil, fmt.Errorf("silence: list last arrivals: %w", err)
		}
		cur := make(map[state.Key]state.Entity, len(ents))
		for _, e := range ents {
			cur[e.Key()] = e
		}
		ops := t.arrivals(now, sk, byKey, cur)
		if len(ops) > 0 {
			err = t.store.Apply(upd, Table, ops)
			if errors.Is(err, state.ErrConflict) && attempt < observeAttempts {
				continue // another instance wrote the partition: read it again
			}
			if err != nil {
				return nil, fmt.Errorf("silence: write last arrivals: %w", err)
			}
			for _, o := range ops {
				cur[o.Entity.Key()] = o.Entity
			}
			ents = ents[:0]
			for _, e := range cur {
				ents = append(ents, e)
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
		s := state.Key{PartitionKey: Partition, RowKey: k.rowKey()}
		if _, dup := byKey[s]; !dup {
			byKey[s] = k
			sk = append(sk, s)
		}
	}
	return sk, byKey
}

// arrivals are the writes that record arrivals at now, given what is
// stored.
func (t *Tracker) arrivals(now time.Time, sk []state.Key, byKey map[state.Key]Key, cur map[state.Key]state.Entity) []state.Op {
	now = now.UTC()
	var ops []state.Op
	for _, s := range sk {
		e, found := cur[s]
		// Arrivals are coarse (a minute): a busy source is written once a
		// minute, not once a batch.
		if found && now.Sub(e.Time) < time.Minute {
			continue
		}
		k := byKey[s]
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{
			PartitionKey: Partition, RowKey: s.RowKey, Text: k.Source + "|" + k.Subscription,
			Time: now, Expires: now.Add(keep),
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
	sort.Slice(ents, func(i, j int) bool { return ents[i].Text < ents[j].Text })
	var out []alert.Alert
	for _, e := range ents {
		silent := now.Sub(e.Time)
		if silent <= t.after {
			continue
		}
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
