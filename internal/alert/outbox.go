package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/state"
)

// OutboxTable is the state table an Outbox keeps undelivered alerts in.
const OutboxTable = "alertoutbox"

// outboxPartition holds every kept alert: an invocation's alerts are one
// transaction, and Flush lists one partition.
const outboxPartition = "outbox"

// OutboxOptions configure an Outbox.
type OutboxOptions struct {
	// Table is the state table (default OutboxTable).
	Table string
	// FlushBatch is how many kept alerts one Flush publishes at a time
	// (default 500).
	FlushBatch int
	Logger     zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Outbox makes a sink lossless across outages longer than the host's
// retries. Publish delivers through the sink; the alerts the sink could
// not deliver are kept in a state table and the error is still returned,
// so the invocation fails and the host redelivers the batch. Flush, called
// by the maintenance timer, sends what is kept and forgets what was
// delivered. Sending a kept alert again is safe: its message id is its
// deterministic id, which Service Bus duplicate detection drops when the
// redelivered batch got it through first. Kept alerts never expire: the
// outbox only shrinks by delivery.
type Outbox struct {
	store state.Store
	sink  Sink
	table string
	batch int
	log   zerolog.Logger
	now   func() time.Time
}

// NewOutbox wraps sink with an outbox in store.
func NewOutbox(store state.Store, sink Sink, opts OutboxOptions) (*Outbox, error) {
	if store == nil || sink == nil {
		return nil, errors.New("alert outbox: needs a state store and a sink")
	}
	o := &Outbox{store: store, sink: sink, table: opts.Table, batch: opts.FlushBatch, now: opts.Now,
		log: opts.Logger.With().Str("component", "outbox").Logger()}
	if o.table == "" {
		o.table = OutboxTable
	}
	if o.batch <= 0 {
		o.batch = 500
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o, nil
}

// Publish implements Sink.
func (o *Outbox) Publish(ctx context.Context, alerts []Alert) error {
	err := o.sink.Publish(ctx, alerts)
	if err == nil {
		return nil
	}
	unsent := alerts
	var u *UndeliveredError
	if errors.As(err, &u) {
		unsent = u.Alerts
	}
	if kerr := o.keep(ctx, unsent); kerr != nil {
		return errors.Join(err, fmt.Errorf("keep %d undelivered alert(s) in the outbox: %w", len(unsent), kerr))
	}
	o.log.Warn().Int("alerts", len(unsent)).Msg("alerts kept in the outbox until the sink is back")
	return fmt.Errorf("%w (kept in the outbox)", err)
}

// keep writes the alerts to the outbox table, one entity per alert id.
func (o *Outbox) keep(ctx context.Context, alerts []Alert) error {
	now := o.now().UTC()
	ops := make([]state.Op, 0, len(alerts))
	seen := make(map[string]bool, len(alerts))
	for _, a := range alerts {
		if seen[a.ID] {
			continue
		}
		seen[a.ID] = true
		data, err := encodeKept(a)
		if err != nil {
			return err
		}
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{
			PartitionKey: outboxPartition,
			RowKey:       state.Escape(a.ID),
			Time:         now,
			Text:         a.RuleID,
			Data:         data,
		}})
	}
	return o.store.Apply(ctx, o.table, ops)
}

// encodeKept is the alert as JSON, its evidence and entities cut when it
// would not fit one entity.
func encodeKept(a Alert) ([]byte, error) {
	t := a
	t.Evidence = append([]Evidence(nil), a.Evidence...)
	for {
		data, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
		}
		if len(data) <= state.MaxDataLen {
			return data, nil
		}
		if !shrink(&t) {
			return nil, fmt.Errorf("alert %s: larger than %d bytes", a.ID, state.MaxDataLen)
		}
	}
}

// Len is how many alerts the outbox holds.
func (o *Outbox) Len(ctx context.Context) (int, error) {
	kept, err := o.store.List(ctx, o.table, outboxPartition, "")
	return len(kept), err
}

// Flush publishes the kept alerts, oldest first, and deletes those
// delivered. It returns how many were delivered; an error means some are
// still kept (the next Flush tries again).
func (o *Outbox) Flush(ctx context.Context) (int, error) {
	kept, err := o.store.List(ctx, o.table, outboxPartition, "")
	if err != nil {
		return 0, fmt.Errorf("list the outbox: %w", err)
	}
	if len(kept) == 0 {
		return 0, nil
	}
	// Oldest first: List orders by row key (the alert id).
	sortByTime(kept)
	delivered := 0
	for start := 0; start < len(kept); start += o.batch {
		chunk := kept[start:min(start+o.batch, len(kept))]
		alerts := make([]Alert, 0, len(chunk))
		byID := make(map[string]state.Entity, len(chunk))
		for _, e := range chunk {
			var a Alert
			if err := json.Unmarshal(e.Data, &a); err != nil {
				// Written by us; unreadable means a bug or a foreign row: leave it.
				o.log.Error().Err(err).Str("row", e.RowKey).Msg("outbox entity is not an alert; left in place")
				continue
			}
			alerts = append(alerts, a)
			byID[a.ID] = e
		}
		perr := o.sink.Publish(ctx, alerts)
		unsent := map[string]bool{}
		var u *UndeliveredError
		switch {
		case perr == nil:
		case errors.As(perr, &u):
			for _, a := range u.Alerts {
				unsent[a.ID] = true
			}
		default:
			return delivered, fmt.Errorf("flush the outbox: %w", perr)
		}
		ops := make([]state.Op, 0, len(alerts))
		for _, a := range alerts {
			if unsent[a.ID] {
				continue
			}
			e := byID[a.ID]
			ops = append(ops, state.Op{Kind: state.Delete, Entity: state.Entity{
				PartitionKey: e.PartitionKey, RowKey: e.RowKey, ETag: e.ETag,
			}})
		}
		// A conflict means the alert was kept again meanwhile (a newer
		// failed publish): it stays and is sent again, as a duplicate.
		if err := o.store.Apply(ctx, o.table, ops); err != nil && !errors.Is(err, state.ErrConflict) {
			return delivered, fmt.Errorf("forget %d delivered alert(s): %w", len(ops), err)
		}
		delivered += len(ops)
		if perr != nil {
			return delivered, fmt.Errorf("flush the outbox: %w", perr)
		}
	}
	o.log.Info().Int("alerts", delivered).Msg("outbox flushed")
	return delivered, nil
}

// Maintain flushes the outbox: the maintenance timer's part of it
// (invoke.Maintainer).
func (o *Outbox) Maintain(ctx context.Context) (string, error) {
	n, err := o.Flush(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("outbox: %d alert(s) delivered", n), nil
}

// Close implements Sink: it closes the wrapped sink.
func (o *Outbox) Close() error { return o.sink.Close() }

// sortByTime orders kept alerts by when they were kept; equal times keep
// their row-key order.
func sortByTime(es []state.Entity) {
	slices.SortStableFunc(es, func(a, b state.Entity) int { return a.Time.Compare(b.Time) })
}

var _ Sink = (*Outbox)(nil)
