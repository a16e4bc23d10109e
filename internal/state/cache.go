package state

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"
)

// Table keeps, per partition it reads and writes, a view of the whole
// partition, so that a batch's read-modify-write of a partition costs one
// round trip (the transaction) instead of two (a query and the
// transaction). A view is exact only while nobody else writes the
// partition, and the kinds read other writers' rows (a threshold group
// sums every writer's row), so the ETags of a batch's own rows cannot
// validate it. Instead every transaction on a partition also writes the
// partition's version row (row key versionRow, which no key Escape or
// JoinKey builds can equal and which reads never return):
//
//   - a transaction made while this store holds a view of the partition
//     guards the version row with If-Match of the version ETag the view
//     was taken at (Insert when the view saw none). If it succeeds, nobody
//     wrote the partition since the view was taken, so whatever was read
//     from the view was exact; the view takes the transaction's writes and
//     the new ETags, read from the transaction's response;
//   - without a view the version row is written unconditionally (Upsert):
//     the write still invalidates every other store's view.
//
// A conflict drops the view: the caller re-reads, from the service (see
// ForUpdate). A view's conflict costs a round trip more than no view (the
// failed transaction), a view that holds saves one (the read), so views
// are kept only where they mostly hold: a partition whose view conflicted
// is not cached for a while (cacheBackoff, doubling up to cacheBackoffMax),
// and a table whose views conflict in more than contendedRate of its
// checked transactions (a moving average) takes no view for
// contendedPause: several instances writing the same partitions cost what
// they cost without a cache.
//
// Reads are served from a view only under ForUpdate; a view is taken by a
// read under ForUpdate of a partition this store holds no view of: one
// query of the whole partition (one round trip, as a query by key), kept
// when the partition holds at most a page. A partition this store has
// never seen is assumed empty, with no round trip, while that assumption
// has held for the table (optimism): the transaction's Insert of the
// version row then checks it.
//
// Bounds: views are dropped cacheMaxAge after they were taken or last
// validated by a transaction (so a view read and never written is at most
// that stale), a view of more than a page is not kept, and all views
// together hold at most TableOptions.CacheBytes (default 64 MiB, by the
// entities' key, Text and Data sizes), least recently used dropped first.
//
// The version row expires (Expires) with the latest entity a transaction
// writes, and at least versionMinLife after it is written, so that Sweep
// removes it with its window but never between a view being taken and
// used. Sweep deletes entities without writing the version row: an entity
// it deleted may still be in a view, expired (callers treat an expired
// entity as absent), and a guarded write of it fails as a conflict.
//
// Upgrading from a release without version rows: a partition written by
// it has no version row, so its first transaction under a view assumed
// empty succeeds although rows exist; the batch's own rows conflict if they
// exist, other writers' rows are missed until the view is dropped (at most
// cacheMaxAge).
const (
	versionRow         = "$version"
	defaultCacheBytes  = 64 << 20
	cacheMaxAge        = time.Minute
	versionMinLife     = 2 * cacheMaxAge
	cacheBackoff       = 5 * time.Second
	cacheBackoffMax    = 5 * time.Minute
	optimismMin        = -64
	optimismMax        = 16
	optimismFailure    = 4
	contendedRate      = 0.3
	contendedWeight    = 1.0 / 8
	contendedPause     = time.Minute
	viewEntryOverhead  = 160
	viewEntityOverhead = 96
)

type forUpdateKey struct{}

// ForUpdate returns a context whose reads (Get and Find) and writes
// (Apply) are for update: the caller writes what it read back to the same
// partition with Apply under ForUpdate, guarded by the ETags read, and on
// a conflict reads again everything it read of the conflicting partitions
// (not only the keys not applied). Table may answer such reads from its
// view of the partition without a round trip, and as empty for a
// partition it never saw; the transaction then checks that nobody wrote
// the partition meanwhile, and fails as a conflict if somebody did. A read
// for update not followed by such a write is as of this store's last
// transaction on the partition (or its last read of it), at most
// cacheMaxAge ago, or an assumption. An Apply without ForUpdate never
// fails because a view was stale. Memory ignores it. A context already
// for update is returned as it is.
func ForUpdate(ctx context.Context) context.Context {
	if readsForUpdate(ctx) {
		return ctx
	}
	return context.WithValue(ctx, forUpdateKey{}, true)
}

func readsForUpdate(ctx context.Context) bool {
	v, _ := ctx.Value(forUpdateKey{}).(bool)
	return v
}

// viewCache holds the views, the partitions in backoff and the tables'
// optimism. Its lock is never held during I/O.
type viewCache struct {
	mu       sync.Mutex
	max      int64
	bytes    int64
	lru      list.List // *partEntry, most recently used first
	parts    map[string]*partEntry
	optimism map[string]int // table -> score; assume unseen partitions empty while >= 0
	tables   map[string]*contention
	now      func() time.Time
}

// partEntry is what the store knows of one partition.
type partEntry struct {
	table, partition string
	elem             *list.Element
	size             int64
	view             *view
	noAssume         bool      // seen not empty: read it, never assume
	backoffUntil     time.Time // no view before this
	backoffLevel     int
	versionExp       time.Time // the version row's expiry as last read or written (zero: never)
	versionSet       bool      // versionExp is known
}

// view is a whole partition as of its version ETag.
type view struct {
	rows    map[string]Entity
	version string // the version row's ETag; "" when there was none
	assumed bool   // never read: assumed empty
	at      time.Time
}

// viewGuard is what a transaction's version operation was built from.
type viewGuard struct {
	v       *view
	version string
	assumed bool
}

func newViewCache(max int64) *viewCache {
	return &viewCache{max: max, parts: make(map[string]*partEntry), optimism: make(map[string]int),
		tables: make(map[string]*contention), now: time.Now}
}

// contention is how often a table's checked transactions fail.
type contention struct {
	rate     float64   // moving average of conflicts (1) and successes (0)
	offUntil time.Time // no view of the table's partitions before this
}

func (c *viewCache) contention(table string) *contention {
	t := c.tables[table]
	if t == nil {
		t = &contention{}
		c.tables[table] = t
	}
	return t
}

// checked takes the outcome of a transaction a view checked.
func (c *viewCache) checked(table string, conflict bool) {
	t := c.contention(table)
	t.rate *= 1 - contendedWeight
	if !conflict {
		return
	}
	t.rate += contendedWeight
	if t.rate > contendedRate {
		t.offUntil = c.now().Add(contendedPause)
		t.rate = contendedRate / 2 // on again after the pause, on probation
	}
}

func partID(table, partition string) string { return table + "\x00" + partition }

func viewEntitySize(e Entity) int64 {
	return int64(viewEntityOverhead + 2*len(e.RowKey) + len(e.Text) + len(e.Data))
}

// entry returns the partition's entry, creating it when create is set, and
// marks it used.
func (c *viewCache) entry(table, partition string, create bool) *partEntry {
	id := partID(table, partition)
	if e := c.parts[id]; e != nil {
		c.lru.MoveToFront(e.elem)
		return e
	}
	if !create {
		return nil
	}
	// The entry's own partition key (the caller's may be a view into a
	// buffer it reuses): the view's rows carry it.
	e := &partEntry{table: strings.Clone(table), partition: strings.Clone(partition), size: int64(viewEntryOverhead + 2*len(id))}
	e.elem = c.lru.PushFront(e)
	c.parts[id] = e
	c.bytes += e.size
	c.evict()
	return e
}

// resize accounts for e's new size and evicts what no longer fits.
func (c *viewCache) resize(e *partEntry) {
	n := int64(viewEntryOverhead + 2*len(partID(e.table, e.partition)))
	if e.view != nil {
		for _, r := range e.view.rows {
			n += viewEntitySize(r)
		}
	}
	c.bytes += n - e.size
	e.size = n
	c.evict()
}

func (c *viewCache) evict() {
	for c.bytes > c.max && c.lru.Len() > 1 {
		last := c.lru.Back()
		e := last.Value.(*partEntry)
		c.lru.Remove(last)
		delete(c.parts, partID(e.table, e.partition))
		c.bytes -= e.size
	}
}

func (c *viewCache) dropView(e *partEntry) {
	if e.view != nil {
		e.view = nil
		c.resize(e)
	}
}

type readPlan uint8

const (
	planBypass readPlan = iota // read as without a cache
	planServe                  // from the view
	planAssume                 // never seen: empty
	planFill                   // read the whole partition and keep it
)

// plan decides how a read for update of a partition is answered. With
// planServe it also returns the rows match selects.
func (c *viewCache) plan(table, partition string, big bool, match func(string) bool) (readPlan, []Entity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Before(c.contention(table).offUntil) {
		if e := c.entry(table, partition, false); e != nil {
			c.dropView(e)
		}
		return planBypass, nil
	}
	e := c.entry(table, partition, false)
	if e == nil {
		if big {
			return planBypass, nil
		}
		if c.optimism[table] >= 0 {
			e = c.entry(table, partition, true)
			e.view = &view{rows: map[string]Entity{}, assumed: true, at: now}
			return planAssume, nil
		}
		return planFill, nil
	}
	if now.Before(e.backoffUntil) {
		return planBypass, nil
	}
	if v := e.view; v != nil {
		if now.Sub(v.at) <= cacheMaxAge {
			var out []Entity
			for row, ent := range v.rows {
				if match(row) {
					out = append(out, ent)
				}
			}
			return planServe, out
		}
		c.dropView(e)
	}
	if big {
		return planBypass, nil
	}
	return planFill, nil
}

// filled keeps what a read of the whole partition returned (all of it,
// the version row included) when complete holds.
func (c *viewCache) filled(table, partition string, all []Entity, complete bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(table, partition, false)
	fresh := e == nil
	if fresh {
		// A partition never seen: what assuming it empty would have done.
		c.learn(table, len(all) == 0)
		e = c.entry(table, partition, true)
	}
	e.noAssume = e.noAssume || len(all) > 0
	if !complete || c.now().Before(e.backoffUntil) {
		c.dropView(e)
		return
	}
	v := &view{rows: make(map[string]Entity, len(all)), at: c.now()}
	for _, ent := range all {
		if ent.RowKey == versionRow {
			v.version = ent.ETag
			e.versionExp, e.versionSet = ent.Expires.Time(), true
			continue
		}
		v.rows[ent.RowKey] = ent
	}
	if len(v.rows) > pageSize {
		c.dropView(e)
		return
	}
	e.view = v
	c.resize(e)
}

func (c *viewCache) learn(table string, held bool) {
	n := c.optimism[table]
	if held {
		n = min(n+1, optimismMax)
	} else {
		n = max(n-optimismFailure, optimismMin)
	}
	c.optimism[table] = n
}

// versionOp is the write of the partition's version row that a
// transaction of ops ends with, and the view it checks: guarded by the
// view (If-Match of its version ETag, or Insert when it saw none), or
// unconditional without one. The row expires with the latest of the
// operations and of the row as this store last knew it (never when one of
// them never expires), and at least versionMinLife from now.
func (c *viewCache) versionOp(table, partition string, ops []Op) (Op, viewGuard) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var g viewGuard
	exp, never := time.Time{}, false
	if e := c.entry(table, partition, false); e != nil {
		if e.view != nil {
			g = viewGuard{v: e.view, version: e.view.version, assumed: e.view.assumed}
		}
		if e.versionSet {
			exp, never = e.versionExp, e.versionExp.IsZero()
		}
	}
	ent := versionEntity(partition, ops, exp, never, c.now)
	switch {
	case g.v == nil:
		return Op{Kind: Upsert, Entity: ent}, g
	case g.version == "":
		return Op{Kind: Insert, Entity: ent}, g
	}
	ent.ETag = g.version
	return Op{Kind: Replace, Entity: ent}, g
}

// versionEntity is the version row of a transaction of ops in partition:
// it expires with the last of what the partition holds (exp, or never),
// the ops written included, and not before versionMinLife from now.
func versionEntity(partition string, ops []Op, exp time.Time, never bool, now func() time.Time) Entity {
	for _, o := range ops {
		if o.Kind == Delete {
			continue
		}
		if o.Entity.Expires.IsZero() {
			never = true
			break
		}
		if t := o.Entity.Expires.Time(); t.After(exp) {
			exp = t
		}
	}
	if never {
		exp = time.Time{}
	} else if floor := now().Add(versionMinLife); exp.Before(floor) {
		exp = floor
	}
	return Entity{PartitionKey: partition, RowKey: versionRow, Expires: StampOf(exp)}
}

// applied takes a successful transaction (tx, the version operation last)
// and the new ETags of its operations (nil when unknown) into the view it
// was guarded by.
func (c *viewCache) applied(table, partition string, g viewGuard, tx []Op, etags []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(table, partition, true)
	e.versionExp, e.versionSet = tx[len(tx)-1].Entity.Expires.Time(), true
	if g.v == nil {
		// Written without a view: not empty, and not known.
		e.noAssume = true
		c.dropView(e)
		return
	}
	if g.assumed {
		c.learn(table, true)
	} else {
		c.checked(table, false)
	}
	v := e.view
	if v != g.v || len(etags) != len(tx) {
		// Changed meanwhile by another call of this store, or the
		// response did not give every ETag: nothing to keep.
		c.dropView(e)
		return
	}
	for i, o := range tx[:len(tx)-1] {
		if o.Kind == Delete {
			delete(v.rows, o.Entity.RowKey)
			continue
		}
		// The store's own row key and Text, as Memory keeps them (a key
		// may be a view into a record's bytes, which the view would keep
		// alive for as long as it holds the row), and partition key.
		ent := owned(normalise(o.Entity))
		ent.Data = ent.Data[:len(ent.Data):len(ent.Data)] // an append cannot reach what is packed behind it
		ent.PartitionKey, ent.ETag = e.partition, etags[i]
		// The map's key is the row's own: a key packed behind the old
		// Data would keep that alive (state.Packed).
		delete(v.rows, ent.RowKey)
		v.rows[ent.RowKey] = ent
	}
	v.version, v.assumed, v.at = etags[len(etags)-1], false, c.now()
	e.backoffLevel = 0
	if len(v.rows) > pageSize {
		c.dropView(e)
		return
	}
	c.resize(e)
}

// conflicted drops the view a failed transaction was guarded by: somebody
// else wrote the partition. A view that was read (not assumed) puts the
// partition in backoff.
func (c *viewCache) conflicted(table, partition string, g viewGuard) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(table, partition, true)
	c.dropView(e)
	e.noAssume = true
	if g.v == nil {
		return
	}
	if g.assumed {
		c.learn(table, false)
		return
	}
	c.checked(table, true)
	e.backoffLevel = min(e.backoffLevel+1, 16)
	d := cacheBackoff << (e.backoffLevel - 1)
	if d > cacheBackoffMax || d <= 0 {
		d = cacheBackoffMax
	}
	e.backoffUntil = c.now().Add(d)
}

// forget drops the view of a partition Sweep deleted from.
func (c *viewCache) forget(table, partition string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entry(table, partition, false); e != nil {
		c.dropView(e)
	}
}
