package detect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/rowindex"
	"github.com/azdetect/azdetect/internal/state"
)

// ThresholdKind is Sigma's event_count and value_count, and value_sum: the
// number of selected events, of distinct values of condition.field, or the
// sum of condition.field's numbers (bytes of flow tuples), per group key
// within a fixed window of timespan, compared with the condition. A
// value_sum event whose field is absent or not a number adds nothing.
//
// State is kept per writer (event.Position: an Event Hub partition, an
// archive blob, a file), so that instances reading different partitions
// never write the same entity, and a counter stays the same size whatever
// it counts:
//
//	PK JoinKey("thr", rule, TimeKey(window))
//	RK Escape(group) + "|" + Escape(writer)
//	Count  the writer's events counted in the window
//	Data   the writer's watermark (the position of the last event counted:
//	       what a redelivery brings again is at or before it and counts
//	       nothing), first/last event time, the value_sum, and for
//	       value_count the writer's distinct values as 64-bit hashes (at
//	       most maxDistinct, about 24 KiB) with the first maxShownValues of
//	       them as written, for the alert
//	Text   the group key (Bounded parts); Expires the window's end plus the window
//
// The condition is checked on the sum over writers (the union of their
// hashes for value_count): one query per window partition reads every
// writer's rows of the groups the batch touches (Store.Find), one
// entity-group transaction writes this writer's. Records without a
// position (writer "") keep the legacy guard instead: the keys of at most
// maxEventKeys events.
//
// Whenever a batch touches a group whose window meets the condition, the
// kind raises the group's match again with the same group key and window:
// the alert id is the same, so suppression sends it once, and an alert lost
// with a failed batch is raised again when the batch is redelivered; two
// instances that both see the condition met raise one alert id.
type ThresholdKind struct {
	base
	// expireAtEnd: a window's entities expire at its end
	// (WithEventTimeSweep), not a window later.
	expireAtEnd bool
	// valueCount and valueSum say which the kind is (its Type, compared
	// once at bind, not per event and bucket).
	valueCount, valueSum bool
}

// Name implements Kind.
func (k *ThresholdKind) Name() string { return k.c.Type }

// keep is how long a window's entities stay after its end.
func (k *ThresholdKind) keep() time.Duration {
	if k.expireAtEnd {
		return 0
	}
	return k.c.Timespan
}

const (
	// maxDistinct bounds the distinct-value hashes one writer's row keeps:
	// a value_count is exact up to this many distinct values per writer and
	// window (a password spray's threshold is tens), and saturates past it.
	maxDistinct = 3000
	// maxShownValues is how many distinct values a row keeps as written.
	maxShownValues = 10
)

type thresholdData struct {
	// Mark says the watermark (Seq, Index, Sub) is set.
	Mark   bool      `json:"m,omitempty"`
	Seq    int64     `json:"q,omitempty"`
	Index  int       `json:"i,omitempty"`
	Sub    int       `json:"u,omitempty"`
	Keys   []string  `json:"k,omitempty"`
	Hashes []byte    `json:"h,omitempty"`
	Values []string  `json:"v,omitempty"`
	Sum    float64   `json:"s,omitempty"`
	First  time.Time `json:"f"`
	Last   time.Time `json:"l"`
}

func (d *thresholdData) watermark() event.Position {
	return event.Position{Seq: d.Seq, Index: d.Index, Sub: d.Sub}
}

// bucket is the events of one group and window in a batch (all writers):
// the spike kind's.
type bucket struct {
	group  string
	window time.Time
	events []*event.Event
}

// writerRow is one writer's events of one bucket (the spike kind's).
type writerRow struct {
	b      *bucket
	events []*event.Event
}

// thresholdRow is a row key of a group and writer: the group's rows of
// every writer share its prefix.
func thresholdRow(group, writer string) (row, prefix string) {
	return groupRow(group, state.Escape(writer))
}

// Matches implements Kind.
func (k *ThresholdKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	// Every read and write of the call is for update, and every key of
	// them escaped by construction (the partitions JoinKey's, the rows
	// and prefixes keyArena.groupRow's): the stores check their lengths,
	// not their bytes again at Find and at Apply. Derived once, not per
	// Find and Apply.
	ctx = state.EscapedKeys(state.ForUpdate(ctx))
	c := thresholdCall{k: k, rule: r, thresholdScratch: thresholdScratches.Get().(*thresholdScratch)}
	defer c.release()
	if !c.group(events) {
		return nil, nil
	}
	if err := c.find(ctx); err != nil {
		return nil, err
	}
	t := txn{store: k.store, table: StateTable, rule: r.ID}
	refused := t.loopRows(ctx, &c, len(c.rows))
	if _, ok := AsRecordErrors(refused); refused != nil && !ok {
		return nil, refused
	}
	totals, err := c.sumOver(nil)
	if err != nil {
		return nil, err
	}
	// A second look after writing. Two instances adding to one group at
	// the same moment each read the other's row before it was written:
	// each sum may fall short although together they cross the
	// threshold. Read again after the write, the later of them sees both.
	// Every group that fell short is read again (one Find per partition),
	// whether or not another writer's row was read the first time: the
	// later writer may be the one that read none (both rows new, or the
	// other's written between its read and its write), and a store
	// without a view of the partition (Memory; Table with no view, in
	// backoff or contended) writes its row without noticing the other's.
	// A Table whose view checked the write answers from that view, no
	// round trip. Only an engine that is its store's one writer, a batch
	// at a time (WithEventTimeSweep: scan), reads nothing again.
	again := false
	for i := range c.buckets {
		b := &c.buckets[i]
		tt := &totals[i]
		b.again = tt.rows > 0 && (b.shared || !k.expireAtEnd) && !k.c.met(k.measure(tt).value)
		again = again || b.again
	}
	if again {
		if err := c.findAgain(ctx); err != nil {
			return nil, err
		}
		if totals, err = c.sumOver(totals); err != nil { // the first totals' room
			return nil, err
		}
	}
	for _, err := range c.unreadable {
		unreadableRow(ctx, r.ID, err)
	}
	return c.matches(totals), refused
}

// thresholdCall is one Matches call: its groups (buckets: a group key in a
// window, over every writer), this call's writers' rows of them, and the
// other writers' rows read with them, in flat slices by index, the
// buckets found through a rowindex.Index table of hashes, a bucket's rows by
// their writer (a call holds a few writers; most buckets one row). Per
// event it hashes the group key once and compares it with the bucket the
// hash finds; keys are escaped and built once per row.
type thresholdCall struct {
	k      *ThresholdKind
	rule   *Rule
	others []thrOther

	*thresholdScratch
	events []*event.Event

	keys  keyArena
	grown countSlabs
	// docs is the chunk of thresholdDocs the call's new rows' documents
	// are cut from (taken at the first, given back by release).
	docs *[]byte
	// unreadable is what the last sumOver could not decode of other
	// writers' rows (reported once, by Matches).
	unreadable []error
}

// thresholdScratch is the room of a call reused by the next call
// (thresholdScratches): its hash tables, sized for a chunk of events, the
// events' rows, and its windows', buckets' and rows' slices.
type thresholdScratch struct {
	byGroup rowindex.Index // (window, group) -> buckets
	// evRow is each event's row (-1: not counted); rowStart where each
	// row's events start in rowEvents (and, last, their end); fill the
	// next place of each row's while they are placed.
	evRow, rowStart, fill []int32

	// The slices below hold the call's keys, entities and events: release
	// clears them before the next call reuses their room (nothing the call
	// returns or stores holds them).

	// The call's windows (their starts and partitions) and writers (as
	// given and escaped), in first-seen order: a call holds a few.
	windows []time.Time
	parts   []string
	writers []string
	escaped []string
	// prefixes are each window's buckets' row prefixes (Find's), and
	// winBuckets the buckets, in the same order (sorted by find).
	prefixes   [][]string
	winBuckets [][]int32
	// order is the rows in key order (find), the order the call writes
	// them in: the rows' places in it are txn.loopRows' indices, and at
	// is each row's place.
	order, at []int32

	buckets []thrBucket
	rows    []thrRow
	// state is each row's (sized once the rows are known: the rows grow
	// small, what they read and compute is in one slice).
	state []thrRowState
	// expires is each window's rows' expiry (zero: not worked out yet).
	expires []state.Stamp
	// rowEvents are the events by row, row i's from rowStart[i] to
	// rowStart[i+1], each row's in position order.
	rowEvents []*event.Event
}

var thresholdScratches = sync.Pool{New: func() any { return new(thresholdScratch) }}

// maxScratchSlots bounds the table a thresholdScratch keeps for the next
// call (a call of huge chunks grows its own, dropped after it).
const maxScratchSlots = 1 << 15

// release hands the scratch back, unless it grew too large to keep.
func (c *thresholdCall) release() {
	if c.docs != nil {
		thresholdDocs.give(c.docs)
		c.docs = nil
	}
	s := c.thresholdScratch
	c.thresholdScratch = nil
	if s.byGroup.Cap() > maxScratchSlots ||
		cap(s.evRow) > maxScratchSlots || cap(s.rows) > maxScratchSlots || cap(s.buckets) > maxScratchSlots {
		return
	}
	// Nothing of this call's is held past it: its keys (in its arena),
	// entities and events are cleared, the room kept.
	for i := range s.prefixes {
		clear(s.prefixes[i])
		s.prefixes[i] = s.prefixes[i][:0]
	}
	for i := range s.winBuckets {
		s.winBuckets[i] = s.winBuckets[i][:0]
	}
	s.winBuckets, s.order = s.winBuckets[:0], s.order[:0]
	clear(s.parts)
	clear(s.writers)
	clear(s.escaped)
	s.writers, s.escaped = s.writers[:0], s.escaped[:0]
	clear(s.buckets)
	clear(s.rows)
	clear(s.state)
	clear(s.rowEvents)
	s.windows, s.parts, s.prefixes = s.windows[:0], s.parts[:0], s.prefixes[:0]
	s.buckets, s.rows, s.state, s.expires, s.rowEvents = s.buckets[:0], s.rows[:0], s.state[:0], s.expires[:0], s.rowEvents[:0]
	thresholdScratches.Put(s)
}

// resized is s with length n and zero values, reusing its room.
func resized[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// sized is s with length n, reusing its room, its values as they were
// (a slice made new: zero). A scratch's slice release cleared is zero to
// its capacity: nothing past a call's length is written.
func sized[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// thrBucket is a group key in a window, over every writer.
type thrBucket struct {
	group  string
	window int32
	// rows is the call's first row of the bucket (rows link to the next
	// with thrRow.next), -1 when none.
	rows int32
	// shared says another writer's row was read; again that it is read
	// again after the write.
	shared, again bool
}

// thrRow is one writer's row of a bucket, written by this call: its
// partition is its bucket's window's (thresholdCall.parts).
type thrRow struct {
	row    string // the row key
	b      int32
	writer int32
	next   int32 // the bucket's next row of this call, -1 at the last
}

// thrRowState is what was read of a row, and what the call made of it
// (counted says that is set; stepped that step has begun to, at least
// once).
type thrRowState struct {
	cur     state.Entity
	found   bool
	counted bool
	stepped bool
	d       thresholdData
	n       int64
}

// thrOther is another writer's row of a bucket, as read.
type thrOther struct {
	b int32
	e state.Entity
}

// group places each event in its bucket and row and reports whether any
// was.
func (c *thresholdCall) group(events []*event.Event) bool {
	k := c.k
	c.events = events
	c.evRow = sized(c.evRow, len(events))
	span := k.c.Timespan
	// The last window's bounds in Unix seconds: an event in it needs no
	// Truncate (windows of whole seconds).
	var lastLo, lastHi int64
	lastWin := int32(-1)
	lastWriter := int32(-1)
	var lastRaw string
	wholeSeconds := span >= time.Second && span%time.Second == 0
	// Buckets as many as events, at most: the table sized for them once
	// (past maxReserve it grows as buckets come).
	const maxReserve = 1 << 13
	c.byGroup.Reserve(min(len(events), maxReserve))
	counted := 0
	for j, ev := range events {
		c.evRow[j] = -1
		g, ok := k.groupKey(ev, &c.keys)
		if !ok || ev.Time.IsZero() {
			continue
		}
		wi := lastWin
		if u := ev.Time.Unix(); wi < 0 || !wholeSeconds || u < lastLo || u >= lastHi {
			wi = c.window(windowStart(ev.Time, span))
			lastWin = wi
			if wholeSeconds {
				lastLo = c.windows[wi].Unix()
				lastHi = lastLo + int64(span/time.Second)
			}
		}
		wr := lastWriter
		if wr < 0 || ev.Pos.Writer != lastRaw {
			wr, lastRaw = c.writer(ev.Pos.Writer), ev.Pos.Writer
			lastWriter = wr
		}
		h := mixKey(maphash.String(rowSeed, g), wi, -1)
		bi := int32(-1)
		for s := c.byGroup.First(h); ; s++ {
			var i int32
			if s, i = c.byGroup.Probe(h, s); i < 0 {
				break
			}
			if b := &c.buckets[i]; b.window == wi && b.group == g {
				bi = i
				break
			}
		}
		ri := int32(-1)
		if bi >= 0 {
			for r := c.buckets[bi].rows; r >= 0; r = c.rows[r].next {
				if c.rows[r].writer == wr {
					ri = r
					break
				}
			}
		}
		if ri < 0 {
			ri = c.newRow(g, h, bi, wi, wr)
		}
		c.evRow[j] = ri
		counted++
	}
	if len(c.rows) == 0 {
		return false
	}
	// The rows' states and events come zero: release cleared what the
	// former call used of them (and a slice made new is zero).
	c.state = sized(c.state, len(c.rows))
	c.expires = resized(c.expires, len(c.windows))
	c.rowEvents = sized(c.rowEvents, counted)
	c.rowStart = sized(c.rowStart, len(c.rows)+1)
	if counted == len(c.rows) {
		// Every row holds one event (a flow log's, mostly): the rows were
		// made in the order of their events, row i's is the i-th counted.
		for i := range c.rowStart {
			c.rowStart[i] = int32(i)
		}
		i := 0
		for j, ri := range c.evRow {
			if ri >= 0 {
				c.rowEvents[i] = events[j]
				i++
			}
		}
		return true
	}
	// The events by row (a counting sort: each row's in the order given),
	// then each row's in position order.
	clear(c.rowStart)
	for _, ri := range c.evRow {
		if ri >= 0 {
			c.rowStart[ri+1]++
		}
	}
	for i := 1; i < len(c.rowStart); i++ {
		c.rowStart[i] += c.rowStart[i-1]
	}
	c.fill = append(c.fill[:0], c.rowStart[:len(c.rows)]...)
	fill := c.fill
	for j, ri := range c.evRow {
		if ri >= 0 {
			c.rowEvents[fill[ri]] = events[j]
			fill[ri]++
		}
	}
	byPos := func(a, b *event.Event) int { return a.Pos.Compare(b.Pos) }
	for i := range c.rows {
		if c.rowStart[i+1]-c.rowStart[i] < 2 {
			continue // most rows (a flow tuple's) hold one event
		}
		if evs := c.rowEvs(i); !slices.IsSortedFunc(evs, byPos) {
			slices.SortStableFunc(evs, byPos)
		}
	}
	return true
}

// rowEvs is row i's events.
func (c *thresholdCall) rowEvs(i int) []*event.Event {
	return c.rowEvents[c.rowStart[i]:c.rowStart[i+1]]
}

// window is the place of the window starting at ws among the call's.
func (c *thresholdCall) window(ws time.Time) int32 {
	for i, w := range c.windows {
		if w.Equal(ws) {
			return int32(i)
		}
	}
	c.windows = append(c.windows, ws)
	c.parts = append(c.parts, state.JoinKey("thr", c.rule.ID, state.TimeKey(ws)))
	if n := len(c.prefixes); n < cap(c.prefixes) {
		c.prefixes = c.prefixes[:n+1] // the window's prefixes reuse a former call's room (emptied by release)
	} else {
		c.prefixes = append(c.prefixes, nil)
	}
	if n := len(c.winBuckets); n < cap(c.winBuckets) {
		c.winBuckets = c.winBuckets[:n+1]
	} else {
		c.winBuckets = append(c.winBuckets, nil)
	}
	return int32(len(c.windows) - 1)
}

// writer is the place of a writer among the call's.
func (c *thresholdCall) writer(w string) int32 {
	for i, have := range c.writers {
		if have == w {
			return int32(i)
		}
	}
	c.writers = append(c.writers, w)
	c.escaped = append(c.escaped, state.Escape(w))
	return int32(len(c.writers) - 1)
}

// newRow adds the row of group g in window wi for writer wr to bucket bi,
// and the bucket (its hash h) when bi is -1: the group's first row.
func (c *thresholdCall) newRow(g string, h uint64, bi, wi, wr int32) int32 {
	rk, prefix := c.keys.groupRow(g, c.escaped[wr])
	if bi < 0 {
		bi = int32(len(c.buckets))
		c.buckets = append(c.buckets, thrBucket{group: g, window: wi, rows: -1})
		c.byGroup.Insert(h, bi)
		c.prefixes[wi] = append(c.prefixes[wi], prefix)
		c.winBuckets[wi] = append(c.winBuckets[wi], bi)
	}
	b := &c.buckets[bi]
	ri := int32(len(c.rows))
	c.rows = append(c.rows, thrRow{row: rk, b: bi, writer: wr, next: b.rows})
	b.rows = ri
	return ri
}

// find reads every writer's rows of the call's buckets, one Find per
// window partition, for update (findRows), and puts the rows in key order.
func (c *thresholdCall) find(ctx context.Context) error {
	for wi := range c.windows {
		// As Find wants them (it sorts them otherwise, slower), and the
		// buckets with them.
		sortKeysWith(c.prefixes[wi], c.winBuckets[wi])
		if err := c.findIn(ctx, int32(wi), c.prefixes[wi]); err != nil {
			return err
		}
	}
	c.keyOrder()
	return nil
}

// keyOrder puts the rows in key order (c.order, c.at): each window's
// buckets in prefix order, a bucket's rows (its writers') in row-key
// order. Rows of one partition written in key order are what a store
// keeping its rows sorted merges fastest; which rows a call writes, and
// what, do not depend on it.
func (c *thresholdCall) keyOrder() {
	c.order = c.order[:0]
	one := len(c.rows) == len(c.buckets) // a row per bucket (a flow log's groups, one writer each)
	for wi := range c.windows {
		if one {
			for _, bi := range c.winBuckets[wi] {
				c.order = append(c.order, c.buckets[bi].rows)
			}
			continue
		}
		for _, bi := range c.winBuckets[wi] {
			start := len(c.order)
			for ri := c.buckets[bi].rows; ri >= 0; ri = c.rows[ri].next {
				c.order = append(c.order, ri)
			}
			if run := c.order[start:]; len(run) > 1 {
				slices.SortFunc(run, func(a, b int32) int { return strings.Compare(c.rows[a].row, c.rows[b].row) })
			}
		}
	}
	c.at = sized(c.at, len(c.rows))
	for j, ri := range c.order {
		c.at[ri] = int32(j)
	}
}

// findIn reads the rows of window wi's buckets with these prefixes: the
// call's rows among them are what was read of them, the others are kept
// beside their buckets.
func (c *thresholdCall) findIn(ctx context.Context, wi int32, prefixes []string) error {
	found, err := c.k.store.Find(state.ForUpdate(ctx), StateTable, c.parts[wi], prefixes)
	if err != nil {
		return err
	}
	at := 0
	for _, e := range found {
		at = c.attach(wi, e, at)
	}
	return nil
}

// attach places a row read in window wi: a row of the call's, or another
// writer's beside its bucket. from is where the last row's prefix was
// among the window's (bucketAt), and attach returns this one's.
func (c *thresholdCall) attach(wi int32, e state.Entity, from int) int {
	j := c.bucketAt(wi, e.RowKey, from)
	if j < 0 {
		return from
	}
	bi := c.winBuckets[wi][j]
	b := &c.buckets[bi]
	for ri := b.rows; ri >= 0; ri = c.rows[ri].next {
		if c.rows[ri].row == e.RowKey {
			st := &c.state[ri]
			st.cur, st.found = e, true
			return j
		}
	}
	c.others = append(c.others, thrOther{b: bi, e: e})
	return j
}

// bucketOf is the bucket of a row key in window wi, or -1.
func (c *thresholdCall) bucketOf(wi int32, row string) int32 {
	if j := c.bucketAt(wi, row, 0); j >= 0 {
		return c.winBuckets[wi][j]
	}
	return -1
}

// bucketAt is the place of a row key's prefix among window wi's sorted
// prefixes (find sorts them before it reads), or -1: a few places from
// from first (the stores return a partition's rows in key order, so the
// next row's prefix is mostly the last one's or just after it), then by
// binary search. The prefixes are sorted and distinct: no table of them
// is built for the rows read, most calls' rows being new.
func (c *thresholdCall) bucketAt(wi int32, row string, from int) int {
	i := strings.IndexByte(row, '|')
	if i < 0 {
		return -1
	}
	prefix := row[:i+1]
	ps := c.prefixes[wi]
	for j := from; j < len(ps) && j < from+4; j++ {
		if ps[j] == prefix {
			return j
		}
		if ps[j] > prefix {
			break
		}
	}
	if j, ok := slices.BinarySearch(ps, prefix); ok {
		return j
	}
	return -1
}

// The call's rows, for txn.loopRows: its index i is a row's place in key
// order (c.order).

func (c *thresholdCall) key(i int) state.Key { return c.rowKey(c.order[i]) }

// rowKey is row i's key.
func (c *thresholdCall) rowKey(i int32) state.Key {
	rw := &c.rows[i]
	return state.Key{PartitionKey: c.parts[c.buckets[rw.b].window], RowKey: rw.row}
}

func (c *thresholdCall) step(j int, op *state.Op) (bool, error) {
	k := c.k
	i := c.order[j]
	rw, st := &c.rows[i], &c.state[i]
	if st.stepped {
		st.d = thresholdData{} // a retry after a conflict starts from what it read
	}
	st.stepped = true // d is zero at the first step: the state comes zero (group)
	var key state.Key // a new row's is not read (count names a row it cannot decode)
	if st.found {
		key = c.rowKey(i)
	}
	n, changed, err := k.count(key, &st.cur, st.found, c.rowEvs(int(i)), &st.d, &c.grown)
	if err != nil {
		return false, err
	}
	st.counted, st.n = true, n
	if !changed {
		return false, nil
	}
	b := &c.buckets[rw.b]
	window := c.windows[b.window]
	expires := c.expires[b.window]
	if expires.IsZero() {
		expires = k.expiry(window.Add(k.c.Timespan), k.keep())
		c.expires[b.window] = expires
	}
	// The operation built in place (writeOp's), its keys packed behind
	// its document (state.Packed): an entity is not copied on the way.
	if !st.found && c.docs == nil {
		c.docs = thresholdDocs.take()
	}
	// Every field set where it is (ops' slot may hold a former attempt's
	// operation), not a literal built aside and copied in.
	e := &op.Entity
	e.Data = st.d.encodeHeld(st.found, c.docs, len(rw.row)+len(b.group))
	e.PartitionKey, e.RowKey, e.Text = c.parts[b.window], rw.row, b.group
	e.Count, e.Time, e.Expires = n, window, expires
	op.Kind, e.ETag = state.Insert, ""
	if st.found {
		op.Kind, e.ETag = state.Replace, st.cur.ETag
	}
	state.PackIn(e)
	return true, nil
}

func (c *thresholdCall) forget(i int) { c.state[c.order[i]].cur.Data = nil }

func (c *thresholdCall) blame(i int) []*event.Event { return c.rowEvs(int(c.order[i])) }

func (c *thresholdCall) blaming() bool { return true }

func (c *thresholdCall) index(key state.Key) int {
	for wi, pk := range c.parts {
		if pk != key.PartitionKey {
			continue
		}
		bi := c.bucketOf(int32(wi), key.RowKey)
		if bi < 0 {
			return -1
		}
		for ri := c.buckets[bi].rows; ri >= 0; ri = c.rows[ri].next {
			if c.rows[ri].row == key.RowKey {
				return int(c.at[ri])
			}
		}
		return -1
	}
	return -1
}

// reread reads again, whole, every writer's rows of the buckets in the
// partitions of the pending rows: what was read of them may be stale,
// other writers' rows included (a read for update may have been answered
// from the store's cache, state.ForUpdate).
func (c *thresholdCall) reread(ctx context.Context, pending []int) error {
	stale := make([]bool, len(c.windows))
	for _, i := range pending {
		stale[c.buckets[c.rows[c.order[i]].b].window] = true
	}
	for i := range c.rows {
		if stale[c.buckets[c.rows[i].b].window] {
			c.state[i].cur, c.state[i].found = state.Entity{}, false
		}
	}
	c.others = slices.DeleteFunc(c.others, func(o thrOther) bool { return stale[c.buckets[o.b].window] })
	for wi, s := range stale {
		if s {
			if err := c.findIn(ctx, int32(wi), c.prefixes[wi]); err != nil {
				return fmt.Errorf("read state: %w", err)
			}
		}
	}
	return nil
}

// findAgain reads again the rows of the buckets marked again (one Find per
// partition), in place of the other writers' rows read of them before.
func (c *thresholdCall) findAgain(ctx context.Context) error {
	c.others = slices.DeleteFunc(c.others, func(o thrOther) bool { return c.buckets[o.b].again })
	for wi := range c.windows {
		n := 0
		for _, bi := range c.winBuckets[wi] {
			if c.buckets[bi].again {
				n++
			}
		}
		if n == 0 {
			continue
		}
		// Most often every bucket of the window is read again: its
		// prefixes as find read them (sorted), not a list of their own.
		prefixes := c.prefixes[wi]
		if n < len(prefixes) {
			prefixes = make([]string, 0, n)
			for j, bi := range c.winBuckets[wi] {
				if c.buckets[bi].again {
					prefixes = append(prefixes, c.prefixes[wi][j])
				}
			}
		}
		if err := c.findIn(ctx, int32(wi), prefixes); err != nil {
			return err
		}
	}
	return nil
}

// thrTotal is a bucket's sum over writers: this call's rows as computed,
// the others as read.
type thrTotal struct {
	n   int64
	sum float64
	// The distinct values: one row's hashes as stored (a row's are
	// distinct), and their union in a set only once a second row adds to
	// them.
	one    []byte
	rows   int
	hashes map[uint64]struct{}
	values []string
}

func (tt *thrTotal) add(n int64, d *thresholdData) {
	tt.n += n
	tt.sum += d.Sum
	tt.rows++
	if tt.rows == 1 {
		tt.one, tt.values = d.Hashes, d.Values[:len(d.Values):len(d.Values)]
		return
	}
	if tt.hashes == nil {
		tt.hashes = make(map[uint64]struct{}, (len(tt.one)+len(d.Hashes))/8)
		for i := 0; i+8 <= len(tt.one); i += 8 {
			tt.hashes[binary.BigEndian.Uint64(tt.one[i:])] = struct{}{}
		}
	}
	for i := 0; i+8 <= len(d.Hashes); i += 8 {
		tt.hashes[binary.BigEndian.Uint64(d.Hashes[i:])] = struct{}{}
	}
	for _, v := range d.Values {
		if len(tt.values) < maxShownValues && !slices.Contains(tt.values, v) {
			tt.values = append(tt.values, v)
		}
	}
}

// sumOver is each bucket's total (by the bucket's place; rows 0: none),
// in room's room when it has enough (a second sum: the first's).
func (c *thresholdCall) sumOver(room []thrTotal) ([]thrTotal, error) {
	totals := resized(room, len(c.buckets))
	c.unreadable = c.unreadable[:0]
	for i := range c.rows {
		if st := &c.state[i]; st.counted {
			totals[c.rows[i].b].add(st.n, &st.d)
		}
	}
	for _, o := range c.others {
		var d thresholdData
		if err := loadThreshold("threshold", o.e.Key(), o.e, true, &d); err != nil {
			if !errors.Is(err, errStateCorrupt) {
				return nil, err
			}
			// Another writer's row that did not decode: its count
			// (a column of its own) still counts; its times, values
			// and mark are lost (unreadableRow, reported by Matches).
			c.unreadable = append(c.unreadable, err)
			d = thresholdData{}
		}
		totals[o.b].add(o.e.Count, &d)
	}
	for _, o := range c.others {
		c.buckets[o.b].shared = true
	}
	return totals, nil
}

// thrMeasure is what a total measures: the alert's count and the value
// the condition compares.
type thrMeasure struct {
	metric int
	value  float64
}

func (k *ThresholdKind) measure(tt *thrTotal) thrMeasure {
	metric := int(tt.n)
	value := float64(metric)
	switch {
	case k.valueCount:
		metric = len(tt.hashes)
		if tt.hashes == nil {
			metric = len(tt.one) / 8
		}
		value = float64(metric)
	case k.valueSum:
		value = tt.sum
		metric = int(min(tt.sum, math.MaxInt64/2))
	}
	return thrMeasure{metric, value}
}

// bucketEvents is how many events the call's rows of bucket i hold.
func (c *thresholdCall) bucketEvents(i int) int {
	n := 0
	for ri := c.buckets[i].rows; ri >= 0; ri = c.rows[ri].next {
		n += int(c.rowStart[ri+1] - c.rowStart[ri])
	}
	return n
}

// matches are the buckets whose totals meet the condition, with their
// events (every writer's of the call) in time order.
func (c *thresholdCall) matches(totals []thrTotal) []Match {
	k := c.k
	var out []Match
	var at []int32 // each bucket's match + 1 (made at the first match)
	for i := range c.buckets {
		tt := &totals[i]
		if tt.rows == 0 {
			continue
		}
		m := k.measure(tt)
		if !k.c.met(m.value) {
			continue
		}
		b := &c.buckets[i]
		mt := Match{Rule: c.rule, WindowStart: c.windows[b.window], Count: m.metric} // GroupKey and Events below
		if k.valueCount {
			mt.Values = slices.Clone(tt.values) // tt's may be in the call's slab
		}
		if at == nil {
			at = make([]int32, len(c.buckets))
		}
		out = append(out, mt)
		at[i] = int32(len(out))
	}
	if len(out) == 0 {
		return nil
	}
	// The matches' events and group keys are cut from one slice each (the
	// call's alone: the matches hold them), not grown or copied per match.
	events, keyBytes := 0, 0
	for i, mi := range at {
		if mi > 0 {
			events += c.bucketEvents(i)
			keyBytes += len(c.buckets[i].group)
		}
	}
	evs := make([]*event.Event, events)
	keys := make([]byte, 0, keyBytes)
	off := 0
	for i, mi := range at {
		if mi <= 0 {
			continue
		}
		n := c.bucketEvents(i)
		out[mi-1].Events = evs[off : off : off+n]
		off += n
		if g := c.buckets[i].group; g != "" {
			start := len(keys)
			keys = append(keys, g...)
			out[mi-1].GroupKey = unsafe.String(&keys[start], len(g))
		}
	}
	for j, ri := range c.evRow {
		if ri < 0 {
			continue
		}
		if mi := at[c.rows[ri].b]; mi > 0 {
			out[mi-1].Events = append(out[mi-1].Events, c.events[j])
		}
	}
	for i := range out {
		slices.SortStableFunc(out[i].Events, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	}
	return out
}

// ThresholdCount is a threshold rule's count for one group and window:
// the sum of every writer's row (for tests, the simulation and operators).
func ThresholdCount(ctx context.Context, store state.Store, ruleID string, window time.Time, group string) (int64, error) {
	_, prefix := thresholdRow(group, "")
	found, err := store.Find(ctx, StateTable, state.JoinKey("thr", ruleID, state.TimeKey(window)), []string{prefix})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range found {
		n += e.Count
	}
	return n, nil
}

// findRows reads every writer's rows of the groups, one Find per
// partition (the stateful kinds that keep a row per writer share it). It
// reads for update (state.ForUpdate): the kinds write the partitions they
// read and, on a conflict, read them again whole (txn.prefixes).
func findRows(ctx context.Context, store state.Store, parts []string, prefixes map[string][]string) (map[state.Key]state.Entity, error) {
	ctx = state.ForUpdate(ctx)
	var one [1][]state.Entity
	all, n := one[:0], 0
	for _, pk := range parts {
		found, err := store.Find(ctx, StateTable, pk, prefixes[pk])
		if err != nil {
			return nil, err
		}
		all, n = append(all, found), n+len(found)
	}
	out := make(map[state.Key]state.Entity, n) // its size known: no growing
	for _, found := range all {
		for _, e := range found {
			out[e.Key()] = e
		}
	}
	return out, nil
}

// count adds one writer's events of a batch to its row: those after the
// watermark (or, without a position, whose keys it does not hold).
// count decodes the row into d (zero) and adds the writer's events to it.
//
// What a row's hashes and shown values grow into comes from sl: they are
// the call's (encoded into the row's document, summed over writers; a
// match takes a copy of the values).
func (k *ThresholdKind) count(key state.Key, cur *state.Entity, found bool, evs []*event.Event, d *thresholdData, sl *countSlabs) (int64, bool, error) {
	var n int64
	if found {
		if err := loadThreshold("threshold", key, *cur, found, d); err != nil {
			return 0, false, err
		}
		n = cur.Count
	}
	if !found && len(evs) == 1 && evs[0].Pos.Writer != "" {
		// A new row of one event (a flow tuple's, mostly): admit's
		// watermark set, its times the event's, without the loop.
		ev := evs[0]
		d.Mark, d.Seq, d.Index, d.Sub = true, ev.Pos.Seq, ev.Pos.Index, ev.Pos.Sub
		d.First = ev.Time.UTC()
		if ev.Time.After(d.Last) {
			d.Last = d.First
		}
		k.add(ev, d, nil, sl, 1)
		return 1, true, nil
	}
	var have map[uint64]bool
	changed := false
	for _, ev := range evs {
		if !d.admit(ev) {
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
		k.add(ev, d, &have, sl, len(evs))
	}
	return n, changed, nil
}

// add adds an event counted to d's sum or distinct values. have is the
// set of d's hashes count builds past smallDistinct (nil: a row of one
// event, which never needs it); batch is how many events the row's batch
// holds (room for their hashes and values is taken at once).
func (k *ThresholdKind) add(ev *event.Event, d *thresholdData, have *map[uint64]bool, sl *countSlabs, batch int) {
	switch {
	case k.valueSum:
		// A number is short: a longer value is not one (and is not parsed).
		// A count as written (flow.bytes_sent) is read without
		// ParseFloat's general parse: the same float (smallUint).
		if v, _, ok := countValue(ev, k.c.fieldRes); ok && len(v) <= 64 {
			f, ok := smallUint(v)
			if !ok {
				var err error
				if f, err = strconv.ParseFloat(v, 64); err != nil {
					f = 0
				}
			}
			if f > 0 && !math.IsInf(f, 0) {
				d.Sum += f
			}
		}
	case k.c.fieldRes != nil:
		v, canonical, ok := countValue(ev, k.c.fieldRes)
		if !ok {
			return
		}
		if !canonical || len(v) > MaxKeptValue {
			v = BoundedLower(v)
		}
		h := valueHash(v)
		distinct := len(d.Hashes) / 8
		if have != nil && *have == nil && distinct > smallDistinct {
			*have = make(map[uint64]bool, distinct+1)
			for i := 0; i+8 <= len(d.Hashes); i += 8 {
				(*have)[binary.BigEndian.Uint64(d.Hashes[i:])] = true
			}
		}
		set := map[uint64]bool(nil)
		if have != nil {
			set = *have
		}
		if set != nil && set[h] || set == nil && hasHash(d.Hashes, h) || distinct >= maxDistinct {
			return
		}
		if set != nil {
			set[h] = true
		}
		if len(d.Hashes) == cap(d.Hashes) {
			// Room for every event of the batch at once, from the
			// call's slab: no allocation per row.
			more := sl.hashes.many(len(d.Hashes) + 8*min(batch, maxDistinct-distinct))
			if len(d.Hashes) > 0 { // a new row's are none: no copy
				more = append(more, d.Hashes...)
			}
			d.Hashes = more
		}
		d.Hashes = binary.BigEndian.AppendUint64(d.Hashes, h)
		if len(d.Values) < maxShownValues {
			if len(d.Values) == cap(d.Values) {
				more := sl.values.many(len(d.Values) + min(batch, maxShownValues-len(d.Values)))
				if len(d.Values) > 0 {
					more = append(more, d.Values...)
				}
				d.Values = more
			}
			d.Values = append(d.Values, v)
		}
	}
}

// countValue is firstValue(ev, res) for count: a flow tuple's canonical
// value (resolver.canonicalField: printable ASCII, no blank, no upper
// case) read by its number, canonical true, as it stands (firstValue's
// trim and BoundedLower's lower-casing leave it as it is); any other
// value firstValue's. TestCountValueAgrees holds it to firstValue.
func countValue(ev *event.Event, res *resolver) (v string, canonical, ok bool) {
	if v, ok := res.canonicalField(ev); ok {
		return v, true, v != ""
	}
	v, ok = firstValue(ev, res)
	return v, false, ok
}

// countSlabs are what count grows a call's rows' hashes and values into.
type countSlabs struct {
	hashes slab[byte]
	values slab[string]
}

// smallDistinct is how many distinct-value hashes count searches in place
// before it builds a set of them.
const smallDistinct = 32

func hasHash(hashes []byte, h uint64) bool {
	for i := 0; i+8 <= len(hashes); i += 8 {
		if binary.BigEndian.Uint64(hashes[i:]) == h {
			return true
		}
	}
	return false
}

// admit reports whether ev is counted for the first time, and if so moves
// the writer's watermark to it (or, without a position, keeps its key).
// One writer's events must come in position order.
func (d *thresholdData) admit(ev *event.Event) bool {
	if ev.Pos.Writer == "" {
		var isNew bool
		d.Keys, isNew = addKey(d.Keys, eventKey(ev))
		return isNew
	}
	if d.Mark && ev.Pos.Compare(d.watermark()) <= 0 {
		return false // counted before: a redelivery
	}
	d.Mark, d.Seq, d.Index, d.Sub = true, ev.Pos.Seq, ev.Pos.Index, ev.Pos.Sub
	return true
}

// valueHash is a distinct value's 64-bit FNV-1a: collisions are negligible
// at maxDistinct values per row.
func valueHash(v string) uint64 { return event.FNV64a(v) }

var _ Kind = (*ThresholdKind)(nil)
