package detect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// SequenceKind joins the records of one operation: events with the same
// group key (by default event.correlation_id) that match each of the
// steps' selections within timespan. The Activity Log writes an operation
// as Start (the only record with the request body: what the NSG rule
// allows), perhaps Accept, then Success or Failure (the outcome); a rule
// about "an NSG rule allowing any source was created" needs the first
// record's content and the last one's outcome. Records arrive in any order
// and in different batches, so each step's first event is kept by group key
// until the others arrive.
//
// Entity: PK JoinKey("seq", rule, bucket), the bucket a hash of the group
// key (a batch of sign-ins from many IPs touches at most stateBuckets
// partitions), RK Escape(group) + "|" + Escape(writer): one row per group
// and writer (event.Position), so instances on different partitions never
// write the same row, even for a spraying address whose failures reach
// every partition. Data holds, per step, the event's key, time and a
// snapshot of it (normalised fields, each Bounded, and for the first step
// the raw record up to 20 KiB, so the request body travels with it), the
// step's distinct events (N), and the writer's watermark (a redelivery
// changes nothing); Expires is the first step's time plus timespan. One
// query per bucket (Store.Find) reads every writer's rows of the batch's
// groups; the group's sequence is their combination (combineSteps). When
// every step is present the match is raised, its events in step order (the
// first step's record leads the alert), with the group key and the first
// step's time as the alert's identity; a later batch touching the same
// group raises the same id again, which suppression drops.
type SequenceKind struct {
	base
	// lastImplied: the rule's condition is the OR of its steps'
	// selections (orOfSteps), so an event it selected that matches no
	// step before the last matches the last, unevaluated.
	lastImplied bool
}

// Name implements Kind.
func (k *SequenceKind) Name() string { return CorrSequence }

type seqStep struct {
	Key  string          `json:"k"`
	T    time.Time       `json:"t"` // the event's time
	Snap json.RawMessage `json:"e"` // its snapshot, decoded only for the alert
	// Keys and N count the step's distinct events (the condition applies
	// to the first step's: "five failures, then a success").
	Keys []string `json:"ks,omitempty"`
	N    int      `json:"n"`
	ok   bool     // present (seqSteps: absent steps are zero values)
}

// seqSteps are a group's steps indexed by step number, an absent step a
// zero value: a slice of a rule's few steps, not a map (one or more
// allocations per group and call), written as a JSON object keyed by step
// number as it was when it was one.
type seqSteps []seqStep

// get returns step i and whether it is present.
func (ss seqSteps) get(i int) (seqStep, bool) {
	if i < 0 || i >= len(ss) || !ss[i].ok {
		return seqStep{}, false
	}
	return ss[i], true
}

// at returns step i, the zero step when absent.
func (ss seqSteps) at(i int) seqStep {
	st, _ := ss.get(i)
	return st
}

// put sets step i as present, growing the list when i is past its end.
func (ss *seqSteps) put(i int, st seqStep) {
	for len(*ss) <= i {
		*ss = append(*ss, seqStep{})
	}
	st.ok = true
	(*ss)[i] = st
}

// count returns the number of present steps.
func (ss seqSteps) count() int {
	n := 0
	for i := range ss {
		if ss[i].ok {
			n++
		}
	}
	return n
}

// reset makes every step absent, keeping the list.
func (ss seqSteps) reset() { clear(ss) }

// MarshalJSON writes the present steps as the map they were.
func (ss seqSteps) MarshalJSON() ([]byte, error) {
	m := make(map[int]seqStep, len(ss))
	for i, st := range ss {
		if st.ok {
			m[i] = st
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the map a document of an earlier release holds.
func (ss *seqSteps) UnmarshalJSON(b []byte) error {
	var m map[int]seqStep
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*ss = nil
	for i, st := range m {
		if i < 0 || i >= maxSeqStep {
			return fmt.Errorf("sequence step %d out of range", i)
		}
		ss.put(i, st)
	}
	return nil
}

// maxStepKeys bounds the event keys a sequence step keeps.
const maxStepKeys = 64

type seqData struct {
	Steps seqSteps `json:"s"`
	// W is each writer's watermark: the position of the last event this
	// entity took from it, so a redelivered batch changes nothing. At most
	// maxSeqWriters writers (an operation's records come from a few).
	W seqWriters `json:"w,omitempty"`
}

// seqWriters are the writers' watermarks, sorted by writer: a short list,
// not a map (two allocations per row), written as a JSON object as it was
// when it was one.
type seqWriters []seqWriter

type seqWriter struct {
	name string
	mark seqMark
}

// get returns a writer's watermark.
func (ws seqWriters) get(name string) (seqMark, bool) {
	for _, w := range ws {
		if w.name == name {
			return w.mark, true
		}
	}
	return seqMark{}, false
}

// set sets a writer's watermark; a new writer past maxSeqWriters replaces
// the smallest name. A first writer's list comes from sl.
func (ws *seqWriters) set(name string, m seqMark, sl *slab[seqWriter]) {
	for i := range *ws {
		if (*ws)[i].name == name {
			(*ws)[i].mark = m
			return
		}
	}
	if len(*ws) >= maxSeqWriters {
		*ws = slices.Delete(*ws, 0, 1)
	}
	if *ws == nil && sl != nil {
		*ws = sl.one()
	}
	i, _ := slices.BinarySearchFunc(*ws, name, func(w seqWriter, n string) int { return strings.Compare(w.name, n) })
	*ws = slices.Insert(*ws, i, seqWriter{name, m})
}

// MarshalJSON writes the writers as the map they were.
func (ws seqWriters) MarshalJSON() ([]byte, error) {
	m := make(map[string]seqMark, len(ws))
	for _, w := range ws {
		m[w.name] = w.mark
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the map a document of an earlier release holds.
func (ws *seqWriters) UnmarshalJSON(b []byte) error {
	var m map[string]seqMark
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*ws = nil
	for name, mk := range m {
		*ws = append(*ws, seqWriter{name, mk})
	}
	slices.SortFunc(*ws, func(a, b seqWriter) int { return strings.Compare(a.name, b.name) })
	return nil
}

type seqMark struct {
	Seq   int64 `json:"q"`
	Index int   `json:"i"`
	Sub   int   `json:"u,omitempty"`
}

// maxSeqWriters bounds the writers a sequence entity remembers; past it the
// smallest writer name is forgotten (its redelivery is then guarded by the
// steps' event keys alone).
const maxSeqWriters = 16

// seen reports whether ev came before its writer's watermark.
func (d *seqData) seen(ev *event.Event) bool {
	if ev.Pos.Writer == "" {
		return false
	}
	m, ok := d.W.get(Bounded(ev.Pos.Writer))
	return ok && ev.Pos.Compare(event.Position{Seq: m.Seq, Index: m.Index, Sub: m.Sub}) <= 0
}

// mark moves ev's writer's watermark to it (a first writer's list from sl).
func (d *seqData) mark(ev *event.Event, sl *slab[seqWriter]) {
	if ev.Pos.Writer == "" {
		return
	}
	w := Bounded(ev.Pos.Writer)
	if m, ok := d.W.get(w); ok && ev.Pos.Compare(event.Position{Seq: m.Seq, Index: m.Index, Sub: m.Sub}) <= 0 {
		return
	}
	d.W.set(w, seqMark{Seq: ev.Pos.Seq, Index: ev.Pos.Index, Sub: ev.Pos.Sub}, sl)
}

// Matches implements Kind.
func (k *SequenceKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	type group struct {
		key    string
		events []*event.Event
		steps  [][]int // per event, the steps it matches
		result seqData // the row as its step left it
		at     uint8   // its partition's bucket (bucketOf)
	}
	var writers writerKey
	var keys keyArena
	// Each event's steps come from one slab, groups from another, and
	// the first element of each group's lists from more.
	stepSlab := make([]int, 0, len(events)*len(k.c.stepIndex))
	var groupSlab slab[group]
	var evSlab slab[*event.Event]
	var stepsSlab slab[[]int]
	var keySlab slab[state.Key]
	// The steps' selections read the event through a field cache, as the
	// engine's condition pass does (without, each read allocates).
	cache := fieldCaches.Get().(*fieldCache)
	defer func() {
		cache.release()
		fieldCaches.Put(cache)
	}()
	// First the events that match a step, then their groups: the lists
	// and maps sized once by their number, not grown.
	type hit struct {
		ev    *event.Event
		group string
		steps []int
	}
	var hits []hit
	memo := selMemoOf(ctx) // the condition pass's outcomes, when kept
	// The cache is pointed at an event only when something reads through
	// it: a group-by of the event's own fields (actor.upn) never does,
	// nor does a step the memo answers.
	fixed := k.fixedFields()
	var at *event.Event // the event the cache is pointed at
	for j, ev := range events {
		var c *fieldCache
		if !fixed {
			cache.reset(ev)
			c, at = cache, ev
		}
		g, ok := k.groupKeyIn(ev, &keys, c)
		if !ok || ev.Time.IsZero() {
			continue
		}
		from := len(stepSlab)
		ec := evalCtx{ev: ev, cache: cache}
		known, matched := memo.outcome(j, ev)
		for i, idx := range k.c.stepIndex {
			if k.lastImplied && i == len(k.c.stepIndex)-1 && len(stepSlab) == from {
				stepSlab = append(stepSlab, i) // the condition selected it: the last step
				break
			}
			if idx < 63 && known&(1<<idx) != 0 {
				// The condition pass evaluated this step's selection.
				if matched&(1<<idx) != 0 {
					stepSlab = append(stepSlab, i)
				}
				continue
			}
			if at != ev {
				cache.reset(ev)
				at = ev
			}
			if r.sels[idx].match(&ec) {
				stepSlab = append(stepSlab, i)
			}
		}
		steps := stepSlab[from:len(stepSlab):len(stepSlab)]
		if len(steps) > 0 {
			if hits == nil {
				hits = make([]hit, 0, min(len(events), 64)) // most calls' hits in one
			}
			hits = append(hits, hit{ev, g, steps})
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	// A group's rows of one writer are found by group and writer
	// (byName), not by key: the map by key is made only when a row must
	// be found by it (groupOf: a refused entity, a retry, another
	// writer's rows read).
	order := make([]state.Key, 0, len(hits))
	list := make([]*group, 0, len(hits)) // the groups of order, in its order
	// The batch's groups by group key, each with its rows (one per
	// writer, usually one): one look-up per event. Distinct groups and
	// writers give distinct keys (state.Escape), so a new group's or
	// writer's row is a new row.
	type groupRows struct {
		gk      seqGroup
		keys    []state.Key // its rows, in the order met
		writers []string    // each row's writer
		grs     []*group    // each row's group
	}
	byName := make(map[string]*groupRows, len(hits))
	recs := make([]*groupRows, 0, len(hits))
	gorder := make([]seqGroup, 0, len(hits))
	var recSlab slab[groupRows]
	var writerSlab slab[string]
	var grSlab slab[*group]
	for _, h := range hits {
		ev, g := h.ev, h.group
		rec := byName[g]
		var gr *group
		if rec != nil {
			for i, w := range rec.writers {
				if w == ev.Pos.Writer {
					gr = rec.grs[i]
					break
				}
			}
		}
		if gr == nil {
			// Keys are built once per group and writer of the batch.
			at := bucketIndex(g)
			pk := k.buckets[at]
			row, prefix := keys.groupRow(g, writers.of(ev.Pos.Writer))
			key := state.Key{PartitionKey: pk, RowKey: row}
			gr = groupSlab.next()
			gr.key, gr.events, gr.steps, gr.at = g, evSlab.one(), stepsSlab.one(), at
			order, list = append(order, key), append(list, gr)
			if rec == nil {
				rec = recSlab.next()
				rec.gk = seqGroup{pk, prefix}
				rec.keys, rec.writers, rec.grs = keySlab.one(), writerSlab.one(), grSlab.one()
				byName[g] = rec
				recs, gorder = append(recs, rec), append(gorder, rec.gk)
			}
			rec.keys, rec.writers, rec.grs = append(rec.keys, key), append(rec.writers, ev.Pos.Writer), append(rec.grs, gr)
		}
		gr.events = append(gr.events, ev)
		gr.steps = append(gr.steps, h.steps)
	}
	parts, prefixes := groupPartitions(gorder)
	for _, ps := range prefixes {
		// In the order Find wants them (the call's own lists): it copies
		// them to sort them otherwise.
		state.SortKeys(ps)
	}
	// Its reads and writes are for update, and every key of them escaped
	// by construction (the partitions JoinKey's, the rows and prefixes
	// keyArena.groupRow's, and rows read back are rows so written): the
	// store checks their lengths, not their bytes again
	// (TestEscapedKeysHoldKinds). Derived once, not per findRows and loop.
	ctx = state.EscapedKeys(state.ForUpdate(ctx))
	// One query per bucket partition: every writer's rows of these groups.
	stored, err := findRows(ctx, k.store, parts, prefixes)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	// What the rows grow into comes from the call's slabs (one
	// allocation for them all, the step function holding them).
	sc := &seqScratch{nsteps: len(k.c.Steps), share: snapShareOf(ctx)}
	groupOf := lazyByKey(order, list)
	// mineRead counts the rows of this call's that were read, while no
	// row was read again after a conflict: when they are all that was
	// read, no other writer's rows are.
	mineRead, reread := 0, false
	// The rows partition by partition, so that the store meets each
	// partition key in one run; the matches come in the batch's order.
	txKeys, txList := byBucket(order, list, func(gr *group) uint8 { return gr.at })
	t := txn{store: k.store, table: StateTable, rule: r.ID, prefixes: prefixes, blame: func(key state.Key) []*event.Event { return groupOf(key).events }, stepAt: func(i int, key state.Key, cur *state.Entity, found bool, op *state.Op) (bool, error) {
		var gr *group
		if i >= 0 {
			gr = txList[i]
			if found {
				mineRead++
			}
		} else {
			gr, reread = groupOf(key), true
		}
		d := seqData{Steps: sc.steps()}
		if found {
			if err := loadSeqIn(key, cur.Data, &d, sc); err != nil {
				return false, err
			}
		}
		changed := false
		// What a writer delivers again is at or before its watermark.
		// (The lists are the call's, reused row after row: nothing of
		// them is kept.)
		fresh := sc.fresh(len(gr.events))
		news := sc.news[:0]
		for i, ev := range gr.events {
			if fresh[i] = !d.seen(ev); fresh[i] {
				news = append(news, ev)
			}
		}
		sc.news = news
		if len(news) == 0 {
			gr.result = d
			return false, nil
		}
		// A sequence older than its timespan cannot complete with these
		// events: start over rather than keep a stale first step forever.
		if d.Steps.count() > 0 && earliest(d).Add(k.c.Timespan).Before(earliestEvent(news)) {
			d.Steps.reset()
			changed = true
		}
		// In time order: the first step keeps its earliest event, and the
		// later steps keep their earliest event at or after it (a success
		// after the failures, not one from the morning before). A batch may
		// span more than the timespan (a day's export scanned at once): a
		// first-step event past the sequence's timespan starts it over,
		// unless the sequence already completed (its alert stands), so a
		// count never gathers events from hours apart.
		byTime := sc.byTime[:0]
		for i := range gr.events {
			if fresh[i] {
				byTime = append(byTime, i)
			}
		}
		sc.byTime = byTime
		slices.SortStableFunc(byTime, func(a, b int) int { return gr.events[a].Time.Compare(gr.events[b].Time) })
		for _, i := range byTime {
			ev := gr.events[i]
			for _, s := range gr.steps[i] {
				if first, ok := d.Steps.get(0); s == 0 && ok && ev.Time.After(first.T.Add(k.c.Timespan)) {
					if k.complete(d) {
						continue
					}
					d.Steps.reset()
					changed = true
				}
				if k.addStep(&d, s, ev, sc) {
					changed = true
				}
			}
		}
		for _, ev := range news {
			d.mark(ev, &sc.writers)
		}
		gr.result = d
		if !changed {
			return false, nil
		}
		room := len(key.RowKey) + len(gr.key)
		data := d.encodeRow(found, room)
		if len(data) > state.MaxDataLen {
			// Drop the raw records, keep the normalised fields.
			for s := range d.Steps {
				st := &d.Steps[s]
				if !st.ok {
					continue
				}
				if snap, err := decodeSnapshot(st.Snap); err == nil && snap.Raw != nil {
					snap.Raw = nil
					st.Snap = encodeSnapshot(&snap)
				}
			}
			data = d.encodeRoom(room)
		}
		start := earliest(d)
		e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Text: gr.key, Time: start, Data: data,
			Expires: k.expiry(start, k.c.Timespan)}
		state.PackIn(&e) // in place: Packed copies the entity in and out
		*op = writeOp(e, *cur, found)
		return true, nil
	}}
	refused := t.loop(ctx, txKeys, stored)
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}
	// The other writers' rows, by group: one pass over what was read, not
	// one per group.
	var others map[seqGroup][]state.Key
	for key := range stored {
		if mineRead == len(stored) && !reread {
			break // every row read is this call's
		}
		if groupOf(key) != nil {
			continue // this call's
		}
		i := strings.IndexByte(key.RowKey, '|')
		if i < 0 {
			continue
		}
		if others == nil {
			others = map[seqGroup][]state.Key{}
		}
		gk := seqGroup{key.PartitionKey, key.RowKey[:i+1]}
		others[gk] = append(others[gk], key)
	}
	var out []Match
	var rows []seqData       // a group's, reused group after group
	var batch []*event.Event // likewise
	var combined seqSteps    // likewise
	for _, rec := range recs {
		gk := rec.gk
		// The group as one sequence: this batch's writers' rows as
		// computed, the other writers' as read (those too old to complete
		// with this batch's events left out).
		rows, batch = rows[:0], batch[:0]
		for _, gr := range rec.grs {
			rows = append(rows, gr.result)
			batch = append(batch, gr.events...)
		}
		from := earliestEvent(batch)
		for _, key := range others[gk] {
			e := stored[key]
			d := seqData{Steps: sc.steps()}
			if err := loadSeqIn(key, e.Data, &d, sc); err != nil {
				if !unreadableRow(ctx, r.ID, err) {
					return nil, err
				}
				continue // another writer's row: nothing of it is known
			}
			if d.Steps.count() > 0 && !earliest(d).Add(k.c.Timespan).Before(from) {
				rows = append(rows, d)
			}
		}
		d := combineSteps(rows, &combined)
		key := rec.keys[0]
		if d.Steps.count() < len(k.c.Steps) || !k.c.met(float64(d.Steps.at(0).N)) {
			continue
		}
		evs := make([]*event.Event, 0, len(k.c.Steps))
		lo, hi := time.Time{}, time.Time{}
		for s := range k.c.Steps {
			st := d.Steps.at(s)
			snap, err := decodeSnapshot(st.Snap)
			if err != nil {
				err = fmt.Errorf("sequence state %s step %d: %w", key, s, err)
				if !unreadableRow(ctx, r.ID, err) {
					return nil, err
				}
				// The step happened (its time and event key decoded):
				// the match is raised with what is known of its event.
				snap = snapshot{Time: st.T}
			}
			evs = append(evs, snap.event())
			if lo.IsZero() || st.T.Before(lo) {
				lo = st.T
			}
			if st.T.After(hi) {
				hi = st.T
			}
		}
		if hi.Sub(lo) > k.c.Timespan || lo.Before(d.Steps.at(0).T) {
			continue
		}
		// The events of this batch replace their snapshots (full records).
		for i := range evs {
			for _, bev := range batch {
				if eventKey(bev) == d.Steps.at(i).Key {
					evs[i] = bev
				}
			}
		}
		out = append(out, Match{Rule: r, Events: slices.Clip(evs), GroupKey: strings.Clone(rec.grs[0].key), WindowStart: lo, Count: d.Steps.at(0).N})
	}
	return out, refused
}

// orOfSteps reports whether cond is exactly the OR of the steps'
// selections (steps: their indexes), each step once and nothing else: an
// event such a condition selected matches at least one step, so one that
// matches none before the last matches the last. A rule that also learns
// from another selection (learn) sends its kind events the condition did
// not select: never.
func orOfSteps(r *Rule, steps []int) bool {
	if r.learn != nil || len(steps) == 0 {
		return false
	}
	var sels []int
	switch c := r.cond.(type) {
	case condSel:
		sels = append(sels, int(c))
	case condOr:
		for _, x := range c {
			s, ok := x.(condSel)
			if !ok {
				return false
			}
			sels = append(sels, int(s))
		}
	default:
		return false
	}
	if len(sels) != len(steps) {
		return false
	}
	for i, st := range steps {
		if slices.Index(steps, st) != i || !slices.Contains(sels, st) {
			return false // a step twice, or one the condition does not name
		}
	}
	return true
}

// seqScratch holds what a sequence call's rows grow into: each row's
// steps, a step's first event keys, writers' watermarks and snapshots.
type seqScratch struct {
	nsteps  int // the rule's
	rows    slab[seqStep]
	keys    slab[string]
	writers slab[seqWriter]
	snaps   snapArena
	share   *snapShare // the batch's, when its sequence rules share snapshots
	// A row's step lists, reused row after row.
	freshBuf []bool
	news     []*event.Event
	byTime   []int
}

// fresh returns a list of n false values, reused row after row.
func (sc *seqScratch) fresh(n int) []bool {
	if cap(sc.freshBuf) < n {
		sc.freshBuf = make([]bool, n)
	}
	f := sc.freshBuf[:n]
	clear(f)
	return f
}

// steps returns a row's steps, every one absent.
func (sc *seqScratch) steps() seqSteps { return sc.rows.many(sc.nsteps)[:sc.nsteps] }

// seqGroup is a group of a batch, every writer's rows: their partition and
// the row key prefix they share.
type seqGroup struct{ partition, prefix string }

// groupPartitions returns the partitions of groups in the order met, and
// each one's row prefixes in the order met: sliced from one list rather than
// a list grown per partition. A call's groups fall in a rule's few bucket
// partitions: each group's partition is found among those met so far (a
// map past maxLinearParts), and the groups placed by a count per
// partition, not sorted.
func groupPartitions(groups []seqGroup) ([]string, map[string][]string) {
	var parts []string
	var counts []int
	var byName map[string]int // past maxLinearParts partitions
	at := make([]int32, len(groups))
	for gi, g := range groups {
		p := -1
		if byName != nil {
			if i, ok := byName[g.partition]; ok {
				p = i
			}
		} else {
			p = indexPart(parts, g.partition)
		}
		if p < 0 {
			p = len(parts)
			parts, counts = append(parts, g.partition), append(counts, 0)
			if byName == nil && len(parts) > maxLinearParts {
				byName = make(map[string]int, 2*len(parts))
				for i, name := range parts {
					byName[name] = i
				}
			} else if byName != nil {
				byName[g.partition] = p
			}
		}
		counts[p]++
		at[gi] = int32(p)
	}
	flat := make([]string, len(groups))
	prefixes := make(map[string][]string, len(parts))
	next := make([]int, len(parts)) // where each partition's next prefix goes
	off := 0
	for p, n := range counts {
		next[p] = off
		prefixes[parts[p]] = flat[off : off+n : off+n]
		off += n
	}
	for gi, g := range groups {
		p := at[gi]
		flat[next[p]] = g.prefix
		next[p]++
	}
	return parts, prefixes
}

// indexPart is the index of part in parts, or -1. A rule's partitions
// are its bucketPartitions' strings, of one length and differing only at
// their end: they are first told apart by identity, cheaply, and compared
// byte by byte only when none is the same string.
func indexPart(parts []string, part string) int {
	for i, have := range parts {
		if unsafe.StringData(have) == unsafe.StringData(part) && len(have) == len(part) {
			return i
		}
	}
	return slices.Index(parts, part)
}

// maxLinearParts is how many partitions groupPartitions searches one by
// one before it keeps a map of them (a rule has stateBuckets).
const maxLinearParts = 32

// combineSteps is the sequence of one group over its writers' rows: the
// earliest first step, its count the sum of theirs (each writer counts its
// own events), and for each later step the earliest at or after the first.
// With more than one row the steps are written to scratch (emptied first),
// which the result then holds.
func combineSteps(rows []seqData, scratch *seqSteps) seqData {
	if len(rows) == 1 {
		return rows[0]
	}
	*scratch = (*scratch)[:0]
	out := seqData{}
	n := 0
	for _, d := range rows {
		if st, ok := d.Steps.get(0); ok {
			n += st.N
			if have, ok := scratch.get(0); !ok || st.T.Before(have.T) {
				scratch.put(0, st)
			}
		}
	}
	first, ok0 := scratch.get(0)
	if ok0 {
		first.N = n
		scratch.put(0, first)
	}
	for _, d := range rows {
		for s, st := range d.Steps {
			if s == 0 || !st.ok {
				continue
			}
			have, ok := scratch.get(s)
			after := !ok0 || !st.T.Before(first.T)
			haveAfter := ok && (!ok0 || !have.T.Before(first.T))
			if !ok || after && !haveAfter || after == haveAfter && st.T.Before(have.T) {
				scratch.put(s, st)
			}
		}
	}
	out.Steps = *scratch
	return out
}

// complete reports whether d holds every step in order within the timespan
// and meets the condition: a match.
func (k *SequenceKind) complete(d seqData) bool {
	first, ok := d.Steps.get(0)
	if !ok || d.Steps.count() < len(k.c.Steps) || !k.c.met(float64(first.N)) {
		return false
	}
	for _, st := range d.Steps {
		if !st.ok {
			continue
		}
		if st.T.Before(first.T) || st.T.Sub(first.T) > k.c.Timespan {
			return false
		}
	}
	return true
}

// addStep records ev as an event of step s; it reports a change.
// A step's first key comes from sc's keys, its snapshot from sc's share
// or arena.
func (k *SequenceKind) addStep(d *seqData, s int, ev *event.Event, sc *seqScratch) bool {
	key := eventKey(ev)
	have, ok := d.Steps.get(s)
	if ok && hasKey(have.Keys, key) {
		return false
	}
	if !ok {
		have = seqStep{}
	}
	have.N++
	switch {
	case have.Keys == nil:
		have.Keys = append(sc.keys.one(), key)
	case len(have.Keys) < maxStepKeys:
		have.Keys = append(have.Keys, key)
	}
	replace := !ok
	if ok {
		if s == 0 {
			replace = ev.Time.Before(have.T)
		} else if first, ok0 := d.Steps.get(0); ok0 {
			valid := !have.T.Before(first.T)
			after := !ev.Time.Before(first.T)
			replace = after && (!valid || ev.Time.Before(have.T))
		} else {
			replace = ev.Time.Before(have.T)
		}
	}
	if replace {
		// Only the first step's raw record travels (the Start record's
		// request body); later steps keep their normalised fields.
		have.Key, have.T = key, ev.Time.UTC()
		have.Snap = sc.share.snapshot(ev, s == 0, &sc.snaps)
	}
	d.Steps.put(s, have)
	return true
}

func earliestEvent(evs []*event.Event) time.Time {
	var t time.Time
	for _, ev := range evs {
		if t.IsZero() || ev.Time.Before(t) {
			t = ev.Time
		}
	}
	return t
}

func earliest(d seqData) time.Time {
	var t time.Time
	for _, st := range d.Steps {
		if st.ok && (t.IsZero() || st.T.Before(t)) {
			t = st.T
		}
	}
	return t
}

// snapShare is one batch's step snapshots, shared by its sequence rules:
// a successful sign-in is a step of two of them (the success after MFA
// failures, the success after a spray), and its snapshot is the same bytes
// for both, written once. Snapshots depend on the event and whether the
// raw record goes with them, nothing else; their bytes are never written
// again, so any rule's row may hold them. It is safe for concurrent use
// (the engine runs stateful rules at once).
type snapShare struct {
	mu sync.Mutex
	m  map[snapShareKey][]byte
}

type snapShareKey struct {
	ev  *event.Event
	raw bool
}

// snapShareCtx is the context key of a batch's snapShare.
type snapShareCtx struct{}

// withSnapShare returns ctx carrying a new snapShare for one batch.
func withSnapShare(ctx context.Context) context.Context {
	return context.WithValue(ctx, snapShareCtx{}, &snapShare{})
}

// snapShareOf returns ctx's snapShare, nil when it has none.
func snapShareOf(ctx context.Context) *snapShare {
	s, _ := ctx.Value(snapShareCtx{}).(*snapShare)
	return s
}

// snapshot is encodeEventSnapshot(ev, withRaw, arena), or the bytes
// another rule of the batch had written for it (a nil share shares
// nothing).
func (s *snapShare) snapshot(ev *event.Event, withRaw bool, arena *snapArena) []byte {
	if s == nil {
		return encodeEventSnapshot(ev, withRaw, arena)
	}
	k := snapShareKey{ev, withRaw}
	s.mu.Lock()
	b, ok := s.m[k]
	s.mu.Unlock()
	if ok {
		return b
	}
	b = encodeEventSnapshot(ev, withRaw, arena)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[snapShareKey][]byte)
	}
	s.m[k] = b
	s.mu.Unlock()
	return b
}

var _ Kind = (*SequenceKind)(nil)
