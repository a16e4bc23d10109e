package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

// SuppressionTable is the table StoreSuppressor keeps sent alert ids in.
const SuppressionTable = "azdetectalerts"

// Suppressor drops alerts already sent within the suppression window and
// remembers the ones sent: Deduper's job, behind I/O. Fresh is called
// before publishing, Mark after the sinks acknowledged.
type Suppressor interface {
	Fresh(ctx context.Context, now time.Time, alerts []Alert) ([]Alert, error)
	Mark(ctx context.Context, now time.Time, alerts []Alert) error
}

// StoreSuppressor is a Suppressor on a state.Store (Table Storage when
// several instances run, or a second scan must not repeat the first's
// alerts). One entity per sent alert: PK JoinKey(rule id), RK the alert
// id, Time = when sent, Expires = sent + window, so the maintenance sweep
// deletes it when it no longer suppresses anything. A batch costs one read
// per rule partition and one write per rule partition.
//
// Two instances raising the same alert at once may both send it: the
// alert id is the Service Bus message id, and duplicate detection drops
// the second. Marking before sending would lose the alert when the send
// fails.
type StoreSuppressor struct {
	store  state.Store
	window time.Duration
}

// NewStoreSuppressor keeps sent alert ids in store for window.
func NewStoreSuppressor(store state.Store, window time.Duration) *StoreSuppressor {
	return &StoreSuppressor{store: store, window: window}
}

func suppressionKey(a Alert) state.Key {
	return state.Key{PartitionKey: state.JoinKey(a.idRule()), RowKey: state.Escape(a.ID)}
}

// Fresh implements Suppressor: the alerts not sent within the window, in
// order, duplicates inside the slice merged.
func (s *StoreSuppressor) Fresh(ctx context.Context, now time.Time, alerts []Alert) ([]Alert, error) {
	if len(alerts) == 0 {
		return alerts, nil
	}
	keys := make([]state.Key, 0, len(alerts))
	for _, a := range alerts {
		keys = append(keys, suppressionKey(a))
	}
	sent, err := s.store.Get(ctx, SuppressionTable, keys)
	if err != nil {
		return nil, fmt.Errorf("read alert suppression: %w", err)
	}
	out := alerts[:0:0]
	inBatch := make(map[string]int, len(alerts))
	for i, a := range alerts {
		if e, ok := sent[keys[i]]; ok && now.Sub(e.Time) < s.window {
			continue
		}
		if j, ok := inBatch[a.ID]; ok {
			merge(&out[j], a)
			continue
		}
		inBatch[a.ID] = len(out)
		out = append(out, a)
	}
	return out, nil
}

// Mark implements Suppressor.
func (s *StoreSuppressor) Mark(ctx context.Context, now time.Time, alerts []Alert) error {
	seen := make(map[state.Key]bool, len(alerts))
	ops := make([]state.Op, 0, len(alerts))
	for _, a := range alerts {
		k := suppressionKey(a)
		if seen[k] {
			continue
		}
		seen[k] = true
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{
			PartitionKey: k.PartitionKey, RowKey: k.RowKey, Time: now.UTC(), Text: a.Title,
			Expires: now.Add(s.window).UTC(),
		}})
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.store.Apply(ctx, SuppressionTable, ops); err != nil {
		return fmt.Errorf("record sent alerts: %w", err)
	}
	return nil
}

// MemorySuppressor adapts the in-memory Deduper to Suppressor.
type MemorySuppressor struct{ *Deduper }

// Fresh implements Suppressor.
func (m MemorySuppressor) Fresh(_ context.Context, now time.Time, alerts []Alert) ([]Alert, error) {
	return m.Deduper.Fresh(now, alerts), nil
}

// Mark implements Suppressor.
func (m MemorySuppressor) Mark(_ context.Context, now time.Time, alerts []Alert) error {
	m.Deduper.Mark(now, alerts)
	return nil
}

var (
	_ Suppressor = (*StoreSuppressor)(nil)
	_ Suppressor = MemorySuppressor{}
)
