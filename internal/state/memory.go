package state

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Memory is the in-memory Store: the embedded default for scan and tests.
// It keeps Table Storage's semantics (an ETag that changes on every write,
// preconditions, transactions all-or-nothing per partition, expiry swept by
// Sweep) and counts the round trips Table would make for the same calls.
// It is safe for concurrent use.
type Memory struct {
	engine
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := &Memory{}
	m.engine = newEngine(&memBackend{tables: make(map[string]map[string]*memPartition)}, 1)
	return m
}

type memBackend struct {
	mu     sync.Mutex
	seq    uint64
	tables map[string]map[string]*memPartition // table -> partition
}

// memPartition is one partition's entities, by row key (point reads and
// writes) and in row-key order (ranges and prefixes), as the service keeps
// them: a range or prefix query costs a binary search and the rows it
// returns, not the partition's size. Rows written since the last ordered
// read wait in pending and are merged in once, on the next one (a batch
// writes many rows and then reads a few ranges).
type memPartition struct {
	rows    map[string]*Entity
	sorted  []*Entity // by RowKey; may hold deleted rows while deleted is set
	pending []*Entity // inserted since the last ordered read
	deleted bool
}

func newPartition() *memPartition {
	return &memPartition{rows: make(map[string]*Entity)}
}

// Get returns the stored entity of a row (the store's own: copy it out).
func (p *memPartition) Get(row string) (*Entity, bool) {
	e, ok := p.rows[row]
	return e, ok
}

// put stores e, a new row or a rewrite of one (in place: the order holds
// the same pointer).
func (p *memPartition) put(e Entity) {
	if cur, ok := p.rows[e.RowKey]; ok {
		*cur = e
		return
	}
	n := &e
	p.rows[e.RowKey] = n
	p.pending = append(p.pending, n)
}

func (p *memPartition) Delete(row string) {
	if _, ok := p.rows[row]; ok {
		delete(p.rows, row)
		p.deleted = true
	}
}

func (p *memPartition) Len() int { return len(p.rows) }

// ordered returns the rows in row-key order.
func (p *memPartition) ordered() []*Entity {
	live := func(e *Entity) bool { return p.rows[e.RowKey] == e }
	if p.deleted {
		p.sorted = slices.DeleteFunc(p.sorted, func(e *Entity) bool { return !live(e) })
		p.pending = slices.DeleteFunc(p.pending, func(e *Entity) bool { return !live(e) })
		p.deleted = false
	}
	if len(p.pending) == 0 {
		return p.sorted
	}
	slices.SortFunc(p.pending, func(a, b *Entity) int { return strings.Compare(a.RowKey, b.RowKey) })
	// Each pending row finds its place by binary search; the rows between
	// are copied as a block: k·log n comparisons, not n.
	merged := make([]*Entity, 0, len(p.sorted)+len(p.pending))
	rest := p.sorted
	for _, e := range p.pending {
		i, _ := slices.BinarySearchFunc(rest, e.RowKey, byKey)
		merged = append(append(merged, rest[:i]...), e)
		rest = rest[i:]
	}
	merged = append(merged, rest...)
	p.sorted, p.pending = merged, p.pending[:0]
	return p.sorted
}

func byKey(e *Entity, row string) int { return strings.Compare(e.RowKey, row) }

// span returns the rows from `from` up to the end of the rows starting
// with prefix, in key order.
func (p *memPartition) span(from, prefix string) []*Entity {
	rows := p.ordered()
	i, _ := slices.BinarySearchFunc(rows, from, byKey)
	j := len(rows)
	if end, ok := prefixEnd(prefix); ok {
		j, _ = slices.BinarySearchFunc(rows[i:], end, byKey)
		j += i
	}
	return rows[i:max(i, j)]
}

func (m *memBackend) createTable(_ context.Context, table string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tables[table] == nil {
		m.tables[table] = make(map[string]*memPartition)
	}
	return nil
}

// get returns a copy: a caller's change to Data must not change the store.
func (m *memBackend) get(_ context.Context, table string, k Key) (Entity, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][k.PartitionKey]
	if part == nil {
		return Entity{}, false, nil
	}
	e, ok := part.Get(k.RowKey)
	if !ok {
		return Entity{}, false, nil
	}
	return clone(*e), true, nil
}

func (m *memBackend) query(_ context.Context, table string, q query, fn func([]Entity) error) (trips, seen int, err error) {
	found, seen := m.find(table, q)
	// Hand pages over with the lock released: Sweep deletes from inside fn.
	// A page is at most pageSize of what the service would return; what
	// q.only leaves out of it is not handed over.
	trips = max(1, (seen+pageSize-1)/pageSize)
	for i := range trips {
		page := found[:min(pageSize, len(found))]
		found = found[len(page):]
		if err := fn(page); err != nil {
			return i + 1, seen, err
		}
	}
	return trips, seen, nil
}

// find returns what q selects (narrowed to q.only when set) and how many
// entities the service would return for q.
func (m *memBackend) find(table string, q query) (out []Entity, seen int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !q.expired.IsZero() {
		// The service pages in key order.
		names := make([]string, 0, len(m.tables[table]))
		for name := range m.tables[table] {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			for _, e := range m.tables[table][name].ordered() {
				if e.Expired(q.expired) {
					out = append(out, Entity{PartitionKey: e.PartitionKey, RowKey: e.RowKey, ETag: e.ETag, Expires: e.Expires})
				}
			}
		}
		return out, len(out)
	}
	part := m.tables[table][q.partition]
	if part == nil {
		return nil, 0
	}
	switch {
	case q.rows != nil:
		for _, r := range q.rows {
			if e, ok := part.Get(r); ok {
				out = append(out, clone(*e))
			}
		}
		return out, len(out)
	case q.ranges != nil:
		for _, r := range q.ranges {
			seen += len(part.span(r[0], r[1]))
		}
	default:
		seen = len(part.span(q.prefix, q.prefix))
	}
	switch {
	case q.only == nil && q.ranges != nil:
		for _, r := range q.ranges {
			out = appendClones(out, part.span(r[0], r[1]))
		}
	case q.only == nil:
		out = appendClones(out, part.span(q.prefix, q.prefix))
	case q.only.prefixes != nil:
		for _, p := range q.only.prefixes {
			out = appendClones(out, part.span(p, p))
		}
	default:
		for _, r := range q.only.rows {
			if e, ok := part.Get(r); ok {
				out = append(out, clone(*e))
			}
		}
	}
	return out, seen
}

func appendClones(out []Entity, rows []*Entity) []Entity {
	for _, e := range rows {
		out = append(out, clone(*e))
	}
	return out
}

func (m *memBackend) submit(_ context.Context, table, partition string, ops []Op) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][partition]
	// Check every precondition first: all or nothing.
	for i, o := range ops {
		var cur Entity
		exists := false
		if part != nil {
			if p, ok := part.Get(o.Entity.RowKey); ok {
				cur, exists = *p, true
			}
		}
		if c := precondition(i, o, cur, exists); c != nil {
			return c
		}
	}
	if part == nil {
		part = newPartition()
		m.tables[table][strings.Clone(partition)] = part
	}
	for _, o := range ops {
		if o.Kind == Delete {
			part.Delete(o.Entity.RowKey)
			continue
		}
		var e Entity
		if cur, ok := part.Get(o.Entity.RowKey); ok {
			// A rewrite: the stored keys (and an unchanged Text) are
			// already the store's own copies.
			e = clone(o.Entity)
			e.PartitionKey, e.RowKey = cur.PartitionKey, cur.RowKey
			if e.Text != cur.Text {
				e.Text = strings.Clone(e.Text)
			} else {
				e.Text = cur.Text
			}
		} else {
			e = owned(o.Entity)
		}
		e = normalise(e)
		m.seq++
		e.ETag = `W/"m` + strconv.FormatUint(m.seq, 10) + `"`
		part.put(e)
	}
	if part.Len() == 0 {
		delete(m.tables[table], partition)
	}
	return nil
}

func (m *memBackend) remove(_ context.Context, table string, k Key, etag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][k.PartitionKey]
	var cur Entity
	exists := false
	if part != nil {
		if p, ok := part.Get(k.RowKey); ok {
			cur, exists = *p, true
		}
	}
	o := Op{Kind: Delete, Entity: Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: etag}}
	if c := precondition(0, o, cur, exists); c != nil {
		return c
	}
	part.Delete(k.RowKey)
	if part.Len() == 0 {
		delete(m.tables[table], k.PartitionKey)
	}
	return nil
}

// precondition answers as the service does: Insert of an existing entity
// is EntityAlreadyExists, Replace or Delete of a missing one
// ResourceNotFound, a different ETag UpdateConditionNotSatisfied.
func precondition(i int, o Op, cur Entity, exists bool) *txConflict {
	switch o.Kind {
	case Insert:
		if exists {
			return &txConflict{index: i, code: "EntityAlreadyExists"}
		}
	case Replace, Delete:
		if !exists {
			return &txConflict{index: i, code: "ResourceNotFound"}
		}
		if o.Entity.ETag != ETagAny && o.Entity.ETag != cur.ETag {
			return &txConflict{index: i, code: "UpdateConditionNotSatisfied"}
		}
	}
	return nil
}

// owned is a copy of e that shares no memory with the caller's: a key or
// Text may be a view into a record's bytes (the decoders do not copy), and
// the store would keep the whole record alive with it.
func owned(e Entity) Entity {
	e = clone(e)
	e.PartitionKey, e.RowKey, e.Text = strings.Clone(e.PartitionKey), strings.Clone(e.RowKey), strings.Clone(e.Text)
	return e
}

func clone(e Entity) Entity {
	if e.Data != nil {
		e.Data = slices.Clone(e.Data)
	}
	return e
}

var _ Store = (*Memory)(nil)
