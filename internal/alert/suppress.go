package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// SuppressionTable is the table StoreSuppressor keeps its claims in.
const SuppressionTable = "azdetectalerts"

// DefaultClaimLease is how long a pending claim is left to the instance
// that made it before another takes it over (StoreSuppressorOptions).
const DefaultClaimLease = 3 * time.Minute

// Suppressor drops alerts already sent within the suppression window and
// remembers the ones sent: Deduper's job, behind I/O. Fresh is called
// before publishing and claims what it returns; then Mark once the sinks
// acknowledged, or Release when they did not, so that a retry may send
// again.
type Suppressor interface {
	Fresh(ctx context.Context, now time.Time, alerts []Alert) ([]Alert, error)
	Mark(ctx context.Context, now time.Time, alerts []Alert) error
	Release(ctx context.Context, now time.Time, alerts []Alert) error
}

// Claim states, in the Text of a suppression entity.
const (
	claimPending = "pending" // claimed, not known to be sent; Data holds the alert
	claimSent    = "sent"    // the sinks acknowledged it at Time
)

// claimBuckets spreads claims over a fixed set of partitions, so that the
// redelivery of pending claims can list them all (a Store lists one
// partition at a time) and a batch still writes few partitions.
const claimBuckets = 16

// claimAttempts bounds the claim rounds one Fresh makes when other
// instances keep changing the same claims.
const claimAttempts = 5

// StoreSuppressorOptions configure a StoreSuppressor.
type StoreSuppressorOptions struct {
	// Window is how long a sent alert id is not sent again.
	Window time.Duration
	// Lease is how long a pending claim belongs to the instance that made
	// it (default DefaultClaimLease). Past it, a redelivered batch or the
	// maintenance timer's Redeliver takes the claim over and sends the
	// alert: the claimer crashed between claim and send, or between send
	// and mark. Keep Lease plus the timer's period under the Service Bus
	// entity's duplicate detection window (10 minutes by default), so that
	// a send repeated after a crash is still dropped as a duplicate.
	Lease time.Duration
}

// StoreSuppressor is a Suppressor on a state.Store shared by every
// instance (Table Storage). Sending is claimed first, with an insert that
// fails when the entity exists: of two instances handling the same alert
// at once, one insert wins and only that instance sends, whatever the
// sink. One entity per alert id in one of claimBuckets partitions:
//
//	pending  Text "pending", Time claimed, Data the alert (JSON, cut to fit), Expires a week past the window,
//	         Count the claiming call's token (claimToken)
//	sent     Text "sent", Time sent, Expires sent+window (the maintenance sweep deletes it)
//
// An instance that dies after claiming leaves a pending claim holding the
// alert: past the lease, the redelivered batch or Redeliver (the
// maintenance timer) takes it over with an ETag-checked replace and sends
// it, so nothing is lost. An instance that dies after sending but before
// marking makes the alert go out twice, with the same message id, which
// Service Bus duplicate detection drops.
type StoreSuppressor struct {
	store  state.Store
	window time.Duration
	lease  time.Duration
}

// NewStoreSuppressor keeps claims in store for window, with the default
// lease.
func NewStoreSuppressor(store state.Store, window time.Duration) *StoreSuppressor {
	return NewStoreSuppressorWith(store, StoreSuppressorOptions{Window: window})
}

// NewStoreSuppressorWith keeps claims in store as opts say.
func NewStoreSuppressorWith(store state.Store, opts StoreSuppressorOptions) *StoreSuppressor {
	if opts.Lease <= 0 {
		opts.Lease = DefaultClaimLease
	}
	return &StoreSuppressor{store: store, window: opts.Window, lease: opts.Lease}
}

// SuppressionKey is where the claim of an alert id is kept.
func SuppressionKey(a Alert) state.Key {
	return state.Key{PartitionKey: claimPartition(a.ID), RowKey: state.Escape(a.ID)}
}

func claimPartition(id string) string {
	return state.JoinKey("claims", fmt.Sprintf("%x", event.FNV32a(id)%claimBuckets))
}

// Fresh implements Suppressor: it claims the alerts not sent within the
// window and not claimed by another instance within the lease, and
// returns them in order, duplicates inside the slice merged. The caller
// must send them and then Mark or Release them.
func (s *StoreSuppressor) Fresh(ctx context.Context, now time.Time, alerts []Alert) ([]Alert, error) {
	uniq := mergeDuplicates(alerts)
	if len(uniq) == 0 {
		return uniq, nil
	}
	todo := make([]int, len(uniq)) // indexes into uniq still to claim
	for i := range todo {
		todo[i] = i
	}
	claimed := make([]bool, len(uniq))
	token := claimToken()
	// Read the claims first (one query per claim partition): an alert
	// raised again (an indicator's entity seen again the same day, a
	// redelivered batch) is then skipped without a failed insert, and a
	// conflict means only what it should: another instance claimed the
	// alert between this read and the insert.
	keys := make([]state.Key, len(uniq))
	for i, a := range uniq {
		keys[i] = SuppressionKey(a)
	}
	// Reads for update (state.ForUpdate): the claims are written back,
	// guarded, and read again on a conflict.
	known, err := s.store.Get(state.ForUpdate(ctx), SuppressionTable, keys) // current claims of the keys in todo
	if err != nil {
		return nil, fmt.Errorf("read alert claims: %w", err)
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt == claimAttempts {
			return nil, fmt.Errorf("claim %d alert(s): still changed by other instances after %d attempts", len(todo), attempt)
		}
		ops := make([]state.Op, 0, len(todo))
		next := todo[:0:0]
		for _, i := range todo {
			a := uniq[i]
			k := SuppressionKey(a)
			e, found := known[k]
			if found && e.Text == claimPending && e.Count == token {
				// This call's own claim, applied although the answer was a
				// conflict: the store's client retried a transaction whose
				// answer was lost (a timeout, a reset connection, a 5xx) and
				// the retry found the claim there. Not another instance's:
				// it is this call's to send.
				claimed[i] = true
				continue
			}
			if found && !s.claimable(e, now) {
				continue // sent within the window, or another instance holds it
			}
			op, err := s.pendingOp(a, now, now, token)
			if err != nil {
				return nil, err
			}
			if found {
				op.Kind, op.Entity.ETag = state.Replace, e.ETag
			}
			ops = append(ops, op)
			next = append(next, i)
		}
		todo = next
		if len(ops) == 0 {
			break
		}
		err := s.store.Apply(state.ForUpdate(ctx), SuppressionTable, ops)
		ce, err := asConflict(err)
		if err != nil {
			return nil, fmt.Errorf("claim alerts: %w", err)
		}
		uncommitted := map[state.Key]bool{}
		if ce != nil {
			for _, k := range ce.Uncommitted {
				uncommitted[k] = true
			}
		}
		next = todo[:0:0]
		var keys []state.Key
		for _, i := range todo {
			k := SuppressionKey(uniq[i])
			if uncommitted[k] {
				next = append(next, i)
				keys = append(keys, k)
				continue
			}
			claimed[i] = true
		}
		todo = next
		if len(keys) > 0 {
			// Another instance wrote one of these keys first (or shares a
			// transaction with one that did): read what is there now.
			if known, err = s.store.Get(state.ForUpdate(ctx), SuppressionTable, keys); err != nil {
				return nil, fmt.Errorf("read alert claims: %w", err)
			}
		}
	}
	out := uniq[:0:0]
	for i, a := range uniq {
		if claimed[i] {
			out = append(out, a)
		}
	}
	return out, nil
}

// claimable reports whether a stored claim may be taken: a sent alert
// whose window is over, or a pending claim whose lease is.
func (s *StoreSuppressor) claimable(e state.Entity, now time.Time) bool {
	switch e.Text {
	case claimSent:
		return now.Sub(e.Time) >= s.window
	case claimPending:
		return now.Sub(e.Time) >= s.lease
	}
	return true // not a claim (an older layout): ours to overwrite
}

// claimToken is a Fresh call's mark on the claims it writes (Count): a
// random number, never 0 (Release's and older claims').
func claimToken() int64 { return rand.Int64N(math.MaxInt64) + 1 }

// pendingOp is the insert of a's pending claim, claimed at claimedAt by
// the call of token (0: none).
func (s *StoreSuppressor) pendingOp(a Alert, now, claimedAt time.Time, token int64) (state.Op, error) {
	data, err := encodeKept(a)
	if err != nil {
		return state.Op{}, err
	}
	k := SuppressionKey(a)
	return state.Op{Kind: state.Insert, Entity: state.Entity{
		PartitionKey: k.PartitionKey, RowKey: k.RowKey,
		Text: claimPending, Time: claimedAt.UTC(), Data: data, Count: token,
		// Kept until sent, but not for ever: a sink that refused an alert
		// for a week has lost it.
		Expires: state.StampOf(claimedAt.Add(s.window + pendingKept)),
	}}, nil
}

// pendingKept is how long past the window a pending claim (an alert not
// yet delivered) is kept for redelivery.
const pendingKept = 7 * 24 * time.Hour

// Sent reports whether a suppression entity records an alert the sinks
// acknowledged (not one claimed and still pending).
func Sent(e state.Entity) bool { return e.Text == claimSent }

// Mark implements Suppressor: the alerts were sent at now.
func (s *StoreSuppressor) Mark(ctx context.Context, now time.Time, alerts []Alert) error {
	ops := make([]state.Op, 0, len(alerts))
	for _, a := range mergeDuplicates(alerts) {
		k := SuppressionKey(a)
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{
			PartitionKey: k.PartitionKey, RowKey: k.RowKey, Text: claimSent,
			Time: now.UTC(), Expires: state.StampOf(now.Add(s.window)),
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

// Release implements Suppressor: the alerts were not sent. Their claims
// stay pending, with the alert, but with the lease already over, so that
// the host's retry of the batch, on any instance, or Redeliver sends them.
func (s *StoreSuppressor) Release(ctx context.Context, now time.Time, alerts []Alert) error {
	ops := make([]state.Op, 0, len(alerts))
	for _, a := range mergeDuplicates(alerts) {
		op, err := s.pendingOp(a, now, now.Add(-s.lease), 0)
		if err != nil {
			return err
		}
		op.Kind = state.Upsert
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.store.Apply(ctx, SuppressionTable, ops); err != nil {
		return fmt.Errorf("release unsent alert claims: %w", err)
	}
	return nil
}

// Redeliver sends the alerts of pending claims whose lease is over: an
// instance died between claiming and sending (or marking), or a send
// failed and no retry of its batch came. Each claim is taken over with an
// ETag-checked replace, so that of several instances running it at once
// one sends. It returns how many alerts it delivered. The maintenance
// timer calls it.
func (s *StoreSuppressor) Redeliver(ctx context.Context, now time.Time, sink Sink) (int, error) {
	var taken []Alert
	for b := 0; b < claimBuckets; b++ {
		pk := state.JoinKey("claims", fmt.Sprintf("%x", b))
		es, err := s.store.List(ctx, SuppressionTable, pk, "")
		if err != nil {
			return 0, fmt.Errorf("list alert claims: %w", err)
		}
		for _, e := range es {
			if e.Text != claimPending || !s.claimable(e, now) {
				continue
			}
			var a Alert
			if err := json.Unmarshal(e.Data, &a); err != nil || a.ID == "" {
				continue // not written by us: left alone
			}
			op := state.Op{Kind: state.Replace, Entity: e}
			op.Entity.Time = now.UTC()
			err := s.store.Apply(ctx, SuppressionTable, []state.Op{op})
			if errors.Is(err, state.ErrConflict) {
				continue // another instance took it over, or sent it
			}
			if err != nil {
				return 0, fmt.Errorf("take over alert claim %s: %w", a.ID, err)
			}
			taken = append(taken, a)
		}
	}
	if len(taken) == 0 {
		return 0, nil
	}
	perr := sink.Publish(ctx, taken)
	sent, unsent := taken, []Alert(nil)
	if perr != nil {
		sent, unsent = nil, taken
		var u *UndeliveredError
		if errors.As(perr, &u) {
			sent, unsent = splitUndelivered(taken, u.Alerts)
		}
	}
	err := errors.Join(perr, s.Mark(ctx, now, sent), s.Release(ctx, now, unsent))
	if err != nil {
		return len(sent), fmt.Errorf("redeliver %d claimed alert(s): %w", len(taken), err)
	}
	return len(sent), nil
}

// splitUndelivered parts alerts into those not in undelivered and those in it.
func splitUndelivered(alerts, undelivered []Alert) (sent, unsent []Alert) {
	not := make(map[string]bool, len(undelivered))
	for _, a := range undelivered {
		not[a.ID] = true
	}
	for _, a := range alerts {
		if not[a.ID] {
			unsent = append(unsent, a)
		} else {
			sent = append(sent, a)
		}
	}
	return sent, unsent
}

// mergeDuplicates keeps the first alert of each id, in order, with the
// first and last seen of its duplicates folded in.
func mergeDuplicates(alerts []Alert) []Alert {
	out := alerts[:0:0]
	at := make(map[string]int, len(alerts))
	for _, a := range alerts {
		if j, ok := at[a.ID]; ok {
			merge(&out[j], a)
			continue
		}
		at[a.ID] = len(out)
		out = append(out, a)
	}
	return out
}

// asConflict returns err's ConflictError, or err when it has none (nil,
// nil for nil: errors.As's target escapes, an allocation for every
// transaction that went through).
func asConflict(err error) (*state.ConflictError, error) {
	if err == nil {
		return nil, nil
	}
	var ce *state.ConflictError
	if errors.As(err, &ce) {
		return ce, nil
	}
	return nil, err
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

// Release implements Suppressor.
func (m MemorySuppressor) Release(_ context.Context, _ time.Time, alerts []Alert) error {
	m.Deduper.Release(alerts)
	return nil
}

var (
	_ Suppressor = (*StoreSuppressor)(nil)
	_ Suppressor = MemorySuppressor{}
)
