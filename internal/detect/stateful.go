package detect

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// StateTable is the table the stateful kinds keep their entities in. One
// table, partitions prefixed by kind (thr, spk, nt, seq): a batch's calls
// are per rule anyway, so one table costs no extra round trip, is created
// once and swept once.
const StateTable = "azdetectstate"

// Bounds that keep an entity small (Table Storage: 64 KiB per property).
const (
	// maxEventKeys is how many counted event keys a window entity keeps to
	// make a replayed batch count nothing twice. Past it, events are counted
	// without the check: the window has long passed its threshold and its
	// alert id is fixed, so a replay can inflate the count but not raise a
	// second alert.
	maxEventKeys = 400
	// maxValues bounds a value_count entity's distinct values.
	maxValues = 400
	// maxConflictRetries is how often a kind re-reads and retries the keys
	// another instance wrote first before failing the batch.
	maxConflictRetries = 12
)

// statefulKind is a kind that needs a store: the engine binds each rule's
// kind to its store, clock and overridden settings.
type statefulKind interface {
	Kind
	bind(r *Rule, c *Correlation, store state.Store, now func() time.Time) Kind
	correlation() *Correlation
}

// unboundKind is what a loaded stateful rule carries until an Engine binds
// it to a store.
type unboundKind struct {
	c *Correlation
}

func (u unboundKind) Name() string { return u.c.Type }

func (u unboundKind) Matches(context.Context, *Rule, []*event.Event) ([]Match, error) {
	return nil, errors.New("stateful rule evaluated without a state store: build it with detect.NewEngine")
}

func (u unboundKind) correlation() *Correlation { return u.c }

func (u unboundKind) bind(r *Rule, c *Correlation, store state.Store, now func() time.Time) Kind {
	b := base{rule: r, c: c, store: store, now: now}
	switch c.Type {
	case CorrEventCount, CorrValueCount, CorrValueSum:
		return &ThresholdKind{base: b}
	case CorrNewTerm:
		return &NewTermKind{base: b}
	case CorrSpike:
		return &SpikeKind{base: b}
	case CorrSequence:
		return &SequenceKind{base: b}
	}
	return u
}

var _ statefulKind = unboundKind{}

// base is what every stateful kind holds.
type base struct {
	rule  *Rule
	c     *Correlation
	store state.Store
	now   func() time.Time
}

// Correlation returns the kind's settings (after overrides).
func (b *base) Correlation() *Correlation { return b.c }

// groupKey joins the event's group-by values (trimmed, lower-cased: UPNs,
// IPs and resource ids compare case-insensitively). ok is false when a
// group-by field is missing: such an event cannot be grouped.
func (b *base) groupKey(ev *event.Event) (string, bool) {
	if len(b.c.groupRes) == 0 {
		return "", true
	}
	parts := make([]string, 0, len(b.c.groupRes))
	for _, res := range b.c.groupRes {
		v, ok := firstValue(ev, res)
		if !ok {
			return "", false
		}
		parts = append(parts, strings.ToLower(v))
	}
	return strings.Join(parts, "|"), true
}

func firstValue(ev *event.Event, res *resolver) (string, bool) {
	vals, _ := res.get(ev, nil)
	for _, v := range vals {
		if s := strings.TrimSpace(v.String()); s != "" {
			return s, true
		}
	}
	return "", false
}

// expires is when an entity of a window ending at end may go: end plus
// keep in event time, but never sooner than the wall clock plus keep, so a
// batch of old records scanned today stays idempotent while it can be
// redelivered.
func (b *base) expires(end time.Time, keep time.Duration) time.Time {
	e := end.Add(keep)
	if floor := b.now().Add(keep); floor.After(e) {
		e = floor
	}
	return e.UTC()
}

// stateBuckets is how many partitions per rule spread the entities of the
// kinds with one entity per user or IP (new-term, sequence): enough for
// Table Storage to spread the load, few enough that a batch of thousands
// of users costs a few dozen round trips, not thousands.
const stateBuckets = 16

// bucketOf is the partition bucket of a group key: two hex digits of FNV-1a.
func bucketOf(group string) string {
	h := fnv.New32a()
	h.Write([]byte(group))
	return fmt.Sprintf("%02x", h.Sum32()%stateBuckets)
}

// eventKey identifies one record for idempotent counting: event.Key (its
// own id when the log has one, else a fast stable hash of the raw record).
func eventKey(ev *event.Event) string { return ev.Key() }

// txn is one batch's read-compute-write of a kind: one Get of every key,
// one Apply of every change, and on a conflict a re-read of exactly the
// keys not applied, a recompute of those and another Apply.
type txn struct {
	store state.Store
	table string
	// step computes the new entity of key k from what is stored (found is
	// false when nothing is). It returns write=false when nothing changes.
	step func(k state.Key, cur state.Entity, found bool) (op state.Op, write bool, err error)
}

func (t txn) run(ctx context.Context, keys []state.Key) error {
	_, err := t.runWith(ctx, keys, nil)
	return err
}

// runWith is run that also reads readOnly in its first Get (one round
// trip per partition for both) and returns what it found of them.
func (t txn) runWith(ctx context.Context, keys, readOnly []state.Key) (map[state.Key]state.Entity, error) {
	first, err := t.read(ctx, append(slices.Clone(keys), readOnly...))
	if err != nil {
		return nil, err
	}
	return first, t.loop(ctx, keys, first)
}

func (t txn) loop(ctx context.Context, keys []state.Key, got map[state.Key]state.Entity) error {
	pending := keys
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			var err error
			if got, err = t.read(ctx, pending); err != nil {
				return err
			}
		}
		ops := make([]state.Op, 0, len(pending))
		for _, k := range pending {
			cur, found := got[k]
			op, write, err := t.step(k, cur, found)
			if err != nil {
				return err
			}
			if write {
				ops = append(ops, op)
			}
		}
		if len(ops) == 0 {
			return nil
		}
		err := t.store.Apply(ctx, t.table, ops)
		var ce *state.ConflictError
		if err == nil {
			return nil
		}
		if !errors.As(err, &ce) {
			return fmt.Errorf("write state: %w", err)
		}
		if attempt >= maxConflictRetries {
			return fmt.Errorf("write state: still conflicting after %d retries: %w", attempt, err)
		}
		pending = ce.Uncommitted
		if len(pending) == 0 { // the service did not say which: retry them all
			pending = keys
		}
		// A short jittered pause so two instances do not collide in step.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.IntN(5*(attempt+1))) * time.Millisecond):
		}
	}
}

// listThreshold is how many rows of one partition make reading the whole
// partition (List: a page of up to 1,000 entities per round trip) cheaper
// than asking for the rows (Get: MaxQueryKeys rows per round trip). A
// window's counters, a bucket of users: a batch often wants most of them.
const listThreshold = 3 * state.MaxQueryKeys

// read fetches keys: partitions asked for many rows are listed whole, the
// rest read by key in one Get.
func (t txn) read(ctx context.Context, keys []state.Key) (map[state.Key]state.Entity, error) {
	byPart := map[string]int{}
	for _, k := range keys {
		byPart[k.PartitionKey]++
	}
	var few []state.Key
	for _, k := range keys {
		if byPart[k.PartitionKey] <= listThreshold {
			few = append(few, k)
		}
	}
	out, err := t.store.Get(ctx, t.table, few)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	want := make(map[state.Key]bool, len(keys)-len(few))
	for _, k := range keys {
		if byPart[k.PartitionKey] > listThreshold {
			want[k] = true
		}
	}
	for _, pk := range sortedKeys(byPart) {
		if byPart[pk] <= listThreshold {
			continue
		}
		ents, err := t.store.List(ctx, t.table, pk, "")
		if err != nil {
			return nil, fmt.Errorf("read state: list partition %q: %w", pk, err)
		}
		for _, e := range ents {
			if want[e.Key()] {
				out[e.Key()] = e
			}
		}
	}
	return out, nil
}

// writeOp is the conditional write of a computed entity: Replace guarded
// by the ETag read, or Insert when nothing was found.
func writeOp(e state.Entity, cur state.Entity, found bool) state.Op {
	if found {
		e.ETag = cur.ETag
		return state.Op{Kind: state.Replace, Entity: e}
	}
	return state.Op{Kind: state.Insert, Entity: e}
}

// snapshot is an event kept in the store (a sequence's earlier record):
// the normalised fields and, when small enough, the raw record, so the
// alert raised in a later batch reads it as if it had arrived with it.
type snapshot struct {
	Source        string            `json:"src"`
	Category      string            `json:"cat,omitempty"`
	Time          time.Time         `json:"t"`
	Operation     string            `json:"op,omitempty"`
	Result        string            `json:"res,omitempty"`
	ResultCode    string            `json:"rc,omitempty"`
	Severity      string            `json:"sev,omitempty"`
	CorrelationID string            `json:"cid,omitempty"`
	TenantID      string            `json:"tid,omitempty"`
	RecordID      string            `json:"rid,omitempty"`
	Actor         event.Actor       `json:"actor"`
	Target        string            `json:"target,omitempty"`
	ResourceID    string            `json:"rsc,omitempty"`
	Geo           event.Geo         `json:"geo"`
	Extra         map[string]string `json:"extra,omitempty"`
	Raw           json.RawMessage   `json:"raw,omitempty"`
}

// maxSnapshotRaw leaves room in Data for the rest of a sequence entity.
const maxSnapshotRaw = 20 << 10

func snapshotOf(ev *event.Event) snapshot {
	s := snapshot{
		Source: ev.Source, Category: ev.Category, Time: ev.Time.UTC(), Operation: ev.Operation,
		Result: string(ev.Result), ResultCode: ev.ResultCode, Severity: ev.Severity,
		CorrelationID: ev.CorrelationID, TenantID: ev.TenantID, RecordID: ev.RecordID,
		Actor: ev.Actor, Target: ev.Target, ResourceID: ev.Resource.ID, Geo: ev.Geo, Extra: ev.Extra,
	}
	if len(ev.Raw) <= maxSnapshotRaw && json.Valid(ev.Raw) {
		s.Raw = json.RawMessage(ev.Raw)
	}
	return s
}

func (s snapshot) event() *event.Event {
	ev := &event.Event{
		Source: s.Source, Category: s.Category, Time: s.Time, Operation: s.Operation,
		Result: event.Result(s.Result), ResultCode: s.ResultCode, Severity: s.Severity,
		CorrelationID: s.CorrelationID, TenantID: s.TenantID, RecordID: s.RecordID,
		Actor: s.Actor, Target: s.Target, Resource: event.ParseResourceID(s.ResourceID), Geo: s.Geo,
		Extra: s.Extra, Raw: []byte(s.Raw),
	}
	return ev
}

// addKey appends k to keys unless present; it reports whether k is new.
// Past maxEventKeys the key is not kept and the event counts as new.
func addKey(keys []string, k string) ([]string, bool) {
	for _, have := range keys {
		if have == k {
			return keys, false
		}
	}
	if len(keys) >= maxEventKeys {
		return keys, true
	}
	return append(keys, k), true
}

func hasKey(keys []string, k string) bool {
	for _, have := range keys {
		if have == k {
			return true
		}
	}
	return false
}

// loadState decodes the JSON document a stateful kind keeps in an entity
// into "into"; an entity not found, or without a document, leaves it as is.
func loadState(kind string, key state.Key, cur state.Entity, found bool, into any) error {
	if !found || len(cur.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(cur.Data, into); err != nil {
		return fmt.Errorf("%s state %s: %w", kind, key, err)
	}
	return nil
}
