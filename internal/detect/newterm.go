package detect

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// NewTermKind raises a match when an entity (the group-by values: a user, a
// subscription; none for the whole deployment) shows a term (the fields'
// values: a country, a user agent family, a region) it has not shown within
// the lookback.
//
// Learning: an entity's first learning period only learns, so a fresh
// deployment, and a user seen for the first time, do not alert on every
// value they bring. The entity's first-seen time (event time) is kept in a
// row of its own, so the learning period survives restarts and is shared by
// every instance.
//
// Entities: PK JoinKey("nt", rule, bucket), the bucket a hash of the entity
// (stateBuckets of them, so a batch of many users touches at most that many
// partitions: one query per 14 rows and one transaction per partition);
// RK JoinKey(entity)+"|~first" (Time = the entity's first event, Expires =
// its last event + lookback) and RK JoinKey(entity, term values...) (Time =
// first seen, Data = last seen, the first event's key and whether it was
// new then; Expires = last seen + lookback). A term whose last sighting is
// older than the lookback is new again. Last-seen times are written again
// only once they lag by refresh (an hour): within a window a known term
// costs a read and no write.
//
// Learning from more than the alerts: with correlation.learn, the events of
// that selection (a user's every sign-in) reach the kind as well as the
// condition's (device code sign-ins); they teach entities and terms the
// same way, in the same rows, but never raise. A term is new only when the
// first event that shows it satisfies the condition.
//
// A replayed batch finds its terms stored with its own event as the first
// sighting: the match is raised again with the same group key and time, so
// the alert id repeats and suppression drops it, and an alert lost with a
// failed batch is not lost for good.
type NewTermKind struct{ base }

// Name implements Kind.
func (k *NewTermKind) Name() string { return CorrNewTerm }

// firstRow is the row key of a group's first-seen time (spike), and the
// suffix of an entity's (new-term). Escaped values never hold '~' (the
// marker ends shortened keys, after a prefix).
const firstRow = "~first"

type termData struct {
	Last  time.Time `json:"l"`
	Key   string    `json:"k,omitempty"`
	IsNew bool      `json:"n,omitempty"`
}

type termBucket struct {
	entity     *ntRow // the entity's first-seen row
	entityName string
	term       string
	display    string // the term as the first event wrote it
	events     []*event.Event
	learnOnly  map[*event.Event]bool // correlation.learn events outside the condition (the call's, shared)
}

// ntRow is one row a call reads and may write: an entity's first-seen row
// (b nil) or one of its terms' (b). A row's state for the call is kept
// here, found through one map by key, not in a map per kind of state.
type ntRow struct {
	evs []*event.Event // a first-seen row's: the entity's events
	pk  string         // a first-seen row's partition, its terms' too
	// head is a first-seen row's key up to its '|': Escape(entity) + "|",
	// the start of its terms' keys (termRow).
	head string
	at   uint8       // pk's bucket (bucketOf)
	b    *termBucket // a term row's
	// first is a first-seen row's entity first seen, as its step left it
	// (zero before): its terms' steps come after it (order).
	first time.Time
	// terms are a first-seen row's terms of the call, each by its values
	// joined with NULs: an entity shows one or two in a batch, found by
	// a look along the list rather than a map keyed by entity and term.
	terms []termRef
	// termMap holds the terms instead past maxTermList (an entity with
	// many terms in one batch: an address list, not a few agents).
	termMap map[string]*termBucket
	// raise is a term row's event to raise a match for, as its step left
	// it.
	raise *event.Event
}

// termRef is a term of an entity's call and its bucket.
type termRef struct {
	term string
	b    *termBucket
}

// bucket returns the bucket of the entity's term, nil when the call has
// not met it.
func (r *ntRow) bucket(term string) *termBucket {
	if r.termMap != nil {
		return r.termMap[term]
	}
	for i := range r.terms {
		if r.terms[i].term == term {
			return r.terms[i].b
		}
	}
	return nil
}

// addTerm adds the entity's bucket of term (a new term of the call), its
// first list from sl.
func (r *ntRow) addTerm(term string, b *termBucket, sl *slab[termRef]) {
	switch {
	case r.termMap != nil:
		r.termMap[term] = b
	case len(r.terms) < maxTermList:
		if r.terms == nil {
			r.terms = sl.one()
		}
		r.terms = append(r.terms, termRef{term, b})
	default:
		r.termMap = make(map[string]*termBucket, 2*maxTermList)
		for _, t := range r.terms {
			r.termMap[t.term] = t.b
		}
		r.termMap[term] = b
		r.terms = nil
	}
}

// maxTermList is how many terms of an entity bucket looks along.
const maxTermList = 8

// Matches implements Kind.
func (k *NewTermKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	// Every key of the call is escaped by construction (the partitions
	// JoinKey's, the rows keyArena.joinKey's, "|~first" a constant of
	// such bytes): the store checks their lengths, not their bytes again
	// (TestEscapedKeysHoldKinds).
	ctx = state.EscapedKeys(ctx)
	// Its rows are distinct by construction (an entity's once, a term's
	// once per entity: firstOf, ntRow.bucket): the store need not sort
	// them to read each once.
	ctx = state.DistinctKeys(ctx)
	// An event adds at most two rows (its entity's, its term's): sized
	// for a batch of distinct entities (sign-ins of thousands of users),
	// order and list do not grow row by row. A row is found by its
	// entity and term (firstOf, ntRow.bucket), not by its key: a map of
	// the rows by key is made only when a row must be found by key
	// (rowOf: a refused entity, a retry after a conflict).
	order := make([]state.Key, 0, 2*len(events)) // rows in order: an entity's before its terms'
	list := make([]*ntRow, 0, 2*len(events))     // the rows of order, in its order
	var tv termValues
	var keys keyArena
	var learnOnly map[*event.Event]bool
	// Rows, buckets and first events come from slabs.
	var rowSlab slab[ntRow]
	var bucketSlab slab[termBucket]
	var evSlab slab[*event.Event]
	// Keys are built once per entity and term of the batch, not per event.
	// Sized for a batch of distinct entities: grown from empty, rehashing
	// was a fifth of the call.
	firstOf := make(map[string]*ntRow, len(events))
	var termSlab slab[termRef]
	// The event's fields (group-by, terms, the condition) are read
	// through one field cache, as the engine's condition pass reads them
	// (without, each field test allocates).
	var learnCtx cachedCtx
	defer learnCtx.release()
	memo := selMemoOf(ctx) // the condition pass's outcomes, when kept
	// The cache is pointed at an event only when something reads through
	// it: group-by and terms of the event's own fields (actor.upn,
	// geo.country) never do, nor does a condition the memo answers.
	fixed := k.fixedFields()
	for j, ev := range events {
		var c *fieldCache
		if !fixed {
			c = learnCtx.at(ev).cache
		}
		ent, ok := k.groupKeyIn(ev, &keys, c)
		if !ok || ev.Time.IsZero() {
			continue
		}
		vals, display, ok := k.term(ev, &tv, c, &keys)
		if !ok {
			continue
		}
		er := firstOf[ent]
		if er == nil {
			// JoinKey(ent) is Escape(ent): one allocation for the row.
			row, head := keys.groupRow(ent, firstRow)
			at := bucketIndex(ent)
			fk := state.Key{PartitionKey: k.buckets[at], RowKey: row}
			er = rowSlab.next()
			er.evs, er.pk, er.at, er.head = evSlab.one(), fk.PartitionKey, at, head
			firstOf[ent] = er
			// Escaped values never hold '~': no term's row is an
			// entity's.
			order, list = append(order, fk), append(list, er)
		}
		er.evs = append(er.evs, ev)
		tk := vals[0]
		if len(vals) > 1 {
			tk = termKey(vals)
		}
		b := er.bucket(tk)
		if b == nil {
			// A term new to the call is a row new to it: distinct
			// entities and values give distinct keys (JoinKey).
			key := state.Key{PartitionKey: er.pk, RowKey: keys.termRow(er.head, ent, vals)}
			b = bucketSlab.next()
			*b = termBucket{entity: er, entityName: ent, term: strings.Join(vals, " | "),
				display: strings.Join(display, " | "), events: evSlab.one()}
			tr := rowSlab.next()
			tr.b, tr.at = b, er.at
			order, list = append(order, key), append(list, tr)
			er.addTerm(tk, b, &termSlab)
		}
		b.events = append(b.events, ev)
		if r.learn != nil && !memoAlerts(memo, j, ev, r, &learnCtx) {
			// One set for the call: an event is in one bucket.
			if learnOnly == nil {
				learnOnly = map[*event.Event]bool{}
			}
			learnOnly[ev] = true
			b.learnOnly = learnOnly
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	for _, row := range list {
		if b := row.b; b != nil && len(b.events) > 1 {
			slices.SortStableFunc(b.events, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
		}
	}
	rowOf := lazyByKey(order, list)
	blame := func(key state.Key) []*event.Event {
		if row := rowOf(key); row.b != nil {
			return row.b.events
		}
		return rowOf(key).evs
	}
	// The transaction's rows partition by partition (an entity's still
	// before its terms': they share it), so that the store meets each
	// partition key in one run, not row after row; the matches come in
	// the batch's order (list).
	txKeys, txRows := byBucket(order, list, func(r *ntRow) uint8 { return r.at })
	// New rows' documents are cut from one chunk of termDocs held for the
	// call (its steps run one after another).
	held := termDocs.take()
	defer termDocs.give(held)
	t := txn{store: k.store, table: StateTable, rule: r.ID, blame: blame, stepAt: func(i int, key state.Key, cur *state.Entity, found bool, op *state.Op) (bool, error) {
		var row *ntRow
		if i >= 0 {
			row = txRows[i]
		} else {
			row = rowOf(key)
		}
		if row.b == nil {
			return k.stepFirst(key, cur, found, row, held, op)
		}
		return k.stepTerm(key, cur, found, row, held, op)
	}}
	refused := t.run(ctx, txKeys)
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}
	var out []Match
	for _, row := range list {
		ev := row.raise
		if ev == nil || row.b == nil {
			continue
		}
		b := row.b
		out = append(out, Match{
			Rule: r, Events: []*event.Event{ev}, GroupKey: b.entityName + "|" + b.term,
			WindowStart: ev.Time.UTC(), Count: 1, Values: []string{b.display},
		})
	}
	return out, refused
}

// byBucket returns keys and rows (alike) ordered by their rows' buckets
// (at), stably: a counting sort over stateBuckets.
func byBucket[T any](keys []state.Key, rows []T, at func(T) uint8) ([]state.Key, []T) {
	var n [stateBuckets + 1]int
	for _, r := range rows {
		n[at(r)+1]++
	}
	if len(rows) == 0 || n[at(rows[0])+1] == len(rows) {
		return keys, rows // one bucket: in order already
	}
	for i := 1; i <= stateBuckets; i++ {
		n[i] += n[i-1]
	}
	outKeys, outRows := make([]state.Key, len(keys)), make([]T, len(rows))
	for i, r := range rows {
		b := at(r)
		j := n[b]
		n[b]++
		outKeys[j], outRows[j] = keys[i], r
	}
	return outKeys, outRows
}

// stepFirst steps an entity's first-seen row (row.evs its events, in the
// order the batch gave them), leaving the entity's first-seen time in
// row.first.
// A new row's document is cut from held (encodeHeld).
func (k *NewTermKind) stepFirst(key state.Key, cur *state.Entity, found bool, row *ntRow, held *[]byte, op *state.Op) (bool, error) {
	evs := row.evs
	var d termData
	first := cur.Time
	if err := loadTermData(key, cur.Data, found, &d); err != nil {
		return false, err
	}
	if !found {
		first = time.Time{}
	}
	// An entity idle for longer than the lookback starts over.
	if found && !d.Last.IsZero() && len(evs) > 0 && d.Last.Add(k.c.Lookback).Before(evs[0].Time) {
		first, d = time.Time{}, termData{}
	}
	changed := !found
	for _, ev := range evs {
		if first.IsZero() || ev.Time.Before(first) {
			first, changed = ev.Time.UTC(), true
		}
		if ev.Time.After(d.Last) {
			changed = changed || d.Last.IsZero() || ev.Time.Sub(d.Last) >= k.refresh()
			d.Last = ev.Time.UTC()
		}
	}
	row.first = first
	if !changed {
		return false, nil
	}
	data := d.encodeHeld(found, held, len(key.RowKey))
	e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Time: first, Data: data,
		Expires: k.expiry(d.Last, k.c.Lookback)}
	state.PackIn(&e) // in place: Packed copies the entity in and out
	*op = writeOp(e, *cur, found)
	return true, nil
}

// stepTerm steps a term's row, leaving the event to raise a match for in
// row.raise (nil for none).
// A new row's document is cut from held (encodeHeld).
func (k *NewTermKind) stepTerm(key state.Key, cur *state.Entity, found bool, row *ntRow, held *[]byte, op *state.Op) (bool, error) {
	b := row.b
	entityFirst := b.entity.first
	row.raise = nil
	var d termData
	if err := loadTermData(key, cur.Data, found, &d); err != nil {
		return false, err
	}
	ev0 := b.events[0]
	// A row found without a last-seen time (one whose document did not
	// decode, unreadableRow) is a term seen before: known, not new.
	stale := found && !d.Last.IsZero() && d.Last.Add(k.c.Lookback).Before(ev0.Time)
	if !found || stale {
		learning := !entityFirst.IsZero() && ev0.Time.Before(entityFirst.Add(k.c.Learning))
		d = termData{Last: b.events[len(b.events)-1].Time.UTC(), Key: eventKey(ev0), IsNew: !learning && !b.learnOnly[ev0]}
		if d.IsNew {
			row.raise = ev0
		}
		data := d.encodeHeld(found, held, len(key.RowKey)+len(b.term))
		e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Text: b.term, Time: ev0.Time.UTC(),
			Data: data, Expires: k.expiry(d.Last, k.c.Lookback)}
		state.PackIn(&e) // in place: Packed copies the entity in and out
		*op = writeOp(e, *cur, found)
		return true, nil
	}
	// Known term. Raise again only for the event that made it new (a
	// replay): same alert id, dropped by suppression when it was sent.
	changed := false
	for _, ev := range b.events {
		if d.IsNew && eventKey(ev) == d.Key {
			row.raise = ev
		}
		if ev.Time.After(d.Last) {
			changed = changed || d.Last.IsZero() || ev.Time.Sub(d.Last) >= k.refresh()
			d.Last = ev.Time.UTC()
		}
	}
	first := cur.Time
	if ev0.Time.Before(first) {
		first, changed = ev0.Time.UTC(), true
	}
	if !changed {
		return false, nil
	}
	data := d.encodeHeld(found, held, len(key.RowKey)+len(b.term))
	e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Text: b.term, Time: first,
		Data: data, Expires: k.expiry(d.Last, k.c.Lookback)}
	state.PackIn(&e) // in place: Packed copies the entity in and out
	*op = writeOp(e, *cur, found)
	return true, nil
}

// maxLastSeenStep is how far a last-seen time may lag before it is written
// again: an entity or term seen again within it writes nothing, so a busy
// user costs no write per batch and instances on other partitions seeing
// the same user meet on its rows far less often. The lookback is then
// exact to within the step.
const maxLastSeenStep = time.Hour

// refresh is the rule's last-seen step: an hour, or a 24th of a shorter
// lookback.
func (k *NewTermKind) refresh() time.Duration {
	return min(maxLastSeenStep, k.c.Lookback/24)
}

// term returns the event's term values, lower-cased for the key and as
// written for display; ok is false when one is missing. A value lowered
// is written in the call's arena (as a group key is: groupKeyIn).
func (k *NewTermKind) term(ev *event.Event, buf *termValues, c *fieldCache, a *keyArena) (key, display []string, ok bool) {
	key, display = buf.key[:0], buf.display[:0]
	for _, f := range k.c.termRes {
		v, found := firstValueIn(ev, f.res, c)
		if !found {
			return nil, nil, false
		}
		if f.family {
			v = buf.agents.family(v)
		}
		switch {
		case len(v) > MaxKeptValue:
			key = append(key, BoundedLower(v))
		case !hasUpper(v):
			key = append(key, v) // strings.ToLower's, without reading it again
		default:
			key = append(key, a.lower(v))
		}
		display = append(display, Bounded(v))
	}
	return key, display, true
}

// termValues backs term's results, event after event (they are used
// before the next event's), and remembers the call's agent families.
type termValues struct {
	key, display [4]string
	agents       agentCache
}

// agentCache is AgentFamily remembered for one call: a batch's user agents
// are a tenant's few browsers and tools, each read once, not once per
// sign-in.
type agentCache struct{ m map[string]string }

// maxAgentCache bounds the agents a call remembers (a batch of distinct
// agents is read one by one past it).
const maxAgentCache = 512

func (c *agentCache) family(ua string) string {
	if f, ok := c.m[ua]; ok {
		return f
	}
	f := AgentFamily(ua)
	if c.m == nil {
		c.m = make(map[string]string)
	}
	if len(c.m) < maxAgentCache {
		c.m[ua] = f
	}
	return f
}

var _ Kind = (*NewTermKind)(nil)

// memoAlerts is r.alerts for ev, events[j] of the call, read from the
// condition pass's outcome when memo kept it, else evaluated through lc
// (pointed at ev only then).
func memoAlerts(memo *selMemo, j int, ev *event.Event, r *Rule, lc *cachedCtx) bool {
	if known, hit := memo.outcome(j, ev); known&condBit != 0 {
		return hit&condBit != 0
	}
	return r.alerts(lc.at(ev))
}

// termRow is a term's row key, state.JoinKey(entity, vals...), in the
// arena: the entity's escaped head (its first-seen row's key up to the
// '|', Escape(entity) + "|") is copied, not escaped again, and the values
// escaped after it. JoinKey shortens a key past state.MaxKeyLen as a
// whole, so a key that long (or with a head or value shortened on its
// own: it holds '~', which escaped bytes never do) is built by JoinKey
// from the start (TestTermRowIsJoinKey).
func (a *keyArena) termRow(head, entity string, vals []string) string {
	if len(head) <= state.MaxKeyLen && strings.IndexByte(head, '~') < 0 {
		n := len(head)
		for _, v := range vals {
			n += 3*len(v) + 1 // every byte escaped: AppendEscape's one pass
		}
		b := a.room(n)
		start := len(b)
		b = append(b, head...)
		for i, v := range vals {
			if i > 0 {
				b = append(b, '|')
			}
			b = state.AppendEscape(b, v)
		}
		// A value escaped past MaxKeyLen is shortened by AppendEscape on
		// its own (a '~' tells): JoinKey shortens the whole key instead.
		if len(b)-start <= state.MaxKeyLen && bytes.IndexByte(b[start+len(head):], '~') < 0 {
			return a.take(b, start)
		}
	}
	var parts [1 + len(termValues{}.key)]string
	return a.joinKey(append(append(parts[:0], entity), vals...)...)
}

// termKey is a term of several fields as one key of the call: each value
// behind its length, so that no two lists of values share a key (joined
// by a separator, ["a\x00b", "c"] and ["a", "b\x00c"] were one term).
func termKey(vals []string) string {
	n := 0
	for _, v := range vals {
		n += binary.MaxVarintLen64 + len(v)
	}
	var b strings.Builder // one allocation, as strings.Join's
	b.Grow(n)
	var size [binary.MaxVarintLen64]byte
	for _, v := range vals {
		b.Write(binary.AppendUvarint(size[:0], uint64(len(v))))
		b.WriteString(v)
	}
	return b.String()
}
