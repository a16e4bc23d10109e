package state

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/btree"
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
	// probes are the search keys of look-ups (held with mu): one
	// allocated each time would cost more than the look-up.
	probes [2]Entity
}

// at is a search key for row (probe 0 or 1, held with m.mu).
func (m *memBackend) at(i int, row string) *Entity {
	m.probes[i].RowKey = row
	return &m.probes[i]
}

// memPartition is one partition's entities in row-key order, as the
// service keeps them: a range or prefix query costs the rows it returns
// (and a count of the rows it passes over), not the partition's size.
type memPartition = btree.BTreeG[*Entity]

func newPartition() *memPartition {
	return btree.NewG(16, func(a, b *Entity) bool { return a.RowKey < b.RowKey })
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
	e, ok := part.Get(m.at(0, k.RowKey))
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
			m.tables[table][name].Ascend(func(e *Entity) bool {
				if e.Expired(q.expired) {
					out = append(out, Entity{PartitionKey: e.PartitionKey, RowKey: e.RowKey, ETag: e.ETag, Expires: e.Expires})
				}
				return true
			})
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
			if e, ok := part.Get(m.at(0, r)); ok {
				out = append(out, clone(*e))
			}
		}
		return out, len(out)
	case q.ranges != nil:
		for _, r := range q.ranges {
			m.each(part, r[0], r[1], func(*Entity) { seen++ })
		}
	default:
		m.each(part, q.prefix, q.prefix, func(*Entity) { seen++ })
	}
	switch {
	case q.only == nil && q.ranges != nil:
		for _, r := range q.ranges {
			m.each(part, r[0], r[1], func(e *Entity) { out = append(out, clone(*e)) })
		}
	case q.only == nil:
		m.each(part, q.prefix, q.prefix, func(e *Entity) { out = append(out, clone(*e)) })
	case q.only.prefixes != nil:
		for _, p := range q.only.prefixes {
			m.each(part, p, p, func(e *Entity) { out = append(out, clone(*e)) })
		}
	default:
		for _, r := range q.only.rows {
			if e, ok := part.Get(m.at(0, r)); ok {
				out = append(out, clone(*e))
			}
		}
	}
	return out, seen
}

// each calls fn for the rows from `from` up to the end of the rows
// starting with prefix, in key order.
func (m *memBackend) each(part *memPartition, from, prefix string, fn func(*Entity)) {
	visit := func(e *Entity) bool { fn(e); return true }
	if end, ok := prefixEnd(prefix); ok {
		part.AscendRange(m.at(0, from), m.at(1, end), visit)
		return
	}
	part.AscendGreaterOrEqual(m.at(0, from), visit)
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
			if p, ok := part.Get(m.at(0, o.Entity.RowKey)); ok {
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
			part.Delete(m.at(0, o.Entity.RowKey))
			continue
		}
		var e Entity
		if cur, ok := part.Get(m.at(0, o.Entity.RowKey)); ok {
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
		part.ReplaceOrInsert(&e)
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
		if p, ok := part.Get(m.at(0, k.RowKey)); ok {
			cur, exists = *p, true
		}
	}
	o := Op{Kind: Delete, Entity: Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: etag}}
	if c := precondition(0, o, cur, exists); c != nil {
		return c
	}
	part.Delete(m.at(0, k.RowKey))
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
