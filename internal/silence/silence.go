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
	sk := make([]state.Key, 0, len(keys))
	byKey := map[state.Key]Key{}
	for _, k := range keys {
		s := state.Key{PartitionKey: Partition, RowKey: k.rowKey()}
		if _, dup := byKey[s]; !dup {
			byKey[s] = k
			sk = append(sk, s)
		}
	}
	// A read for update (written back below): Table answers it from its
	// view of the partition, kept by its last transaction there.
	cur, err := t.store.Get(state.ForUpdate(ctx), Table, sk)
	if err != nil {
		return fmt.Errorf("silence: read last arrivals: %w", err)
	}
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
	if len(ops) == 0 {
		return nil
	}
	if err := t.store.Apply(ctx, Table, ops); err != nil {
		return fmt.Errorf("silence: write last arrivals: %w", err)
	}
	return nil
}

// Check returns one alert per source and subscription whose last arrival
// is older than the tracker's silence.
func (t *Tracker) Check(ctx context.Context, now time.Time) ([]alert.Alert, error) {
	// Every row of the partition, read for update although nothing is
	// written: Table answers from its view of the partition (no round trip
	// after Seen wrote it), at most a minute stale, as coarse as the
	// arrivals themselves.
	ents, err := t.store.Find(state.ForUpdate(ctx), Table, Partition, []string{""})
	if err != nil {
		return nil, fmt.Errorf("silence: list last arrivals: %w", err)
	}
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
	return out, nil
}
