package state

import (
	"cmp"
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
	m.engine = newEngine(&memBackend{tables: make(map[string]map[string]map[string]Entity)}, 1)
	return m
}

type memBackend struct {
	mu     sync.Mutex
	seq    uint64
	tables map[string]map[string]map[string]Entity // table -> partition -> row
}

func (m *memBackend) createTable(_ context.Context, table string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tables[table] == nil {
		m.tables[table] = make(map[string]map[string]Entity)
	}
	return nil
}

// get returns a copy: a caller's change to Data must not change the store.
func (m *memBackend) get(_ context.Context, table string, k Key) (Entity, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.tables[table][k.PartitionKey][k.RowKey]
	return clone(e), ok, nil
}

func (m *memBackend) query(_ context.Context, table string, q query, fn func([]Entity) error) (int, error) {
	found := m.find(table, q)
	// Hand pages over with the lock released: Sweep deletes from inside fn.
	trips := 0
	for trips == 0 || len(found) > 0 {
		trips++
		page := found[:min(pageSize, len(found))]
		found = found[len(page):]
		if err := fn(page); err != nil {
			return trips, err
		}
	}
	return trips, nil
}

func (m *memBackend) find(table string, q query) []Entity {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entity
	switch {
	case q.rows != nil:
		part := m.tables[table][q.partition]
		for _, r := range q.rows {
			if e, ok := part[r]; ok {
				out = append(out, clone(e))
			}
		}
	case !q.expired.IsZero():
		for _, part := range m.tables[table] {
			for _, e := range part {
				if e.Expired(q.expired) {
					out = append(out, Entity{PartitionKey: e.PartitionKey, RowKey: e.RowKey, ETag: e.ETag, Expires: e.Expires})
				}
			}
		}
		// The service pages in key order.
		slices.SortFunc(out, func(a, b Entity) int {
			return cmp.Or(strings.Compare(a.PartitionKey, b.PartitionKey), strings.Compare(a.RowKey, b.RowKey))
		})
	case q.ranges != nil:
		for _, e := range m.tables[table][q.partition] {
			if q.inRanges(e.RowKey) {
				out = append(out, clone(e))
			}
		}
	default:
		for _, e := range m.tables[table][q.partition] {
			if strings.HasPrefix(e.RowKey, q.prefix) {
				out = append(out, clone(e))
			}
		}
	}
	return out
}

func (m *memBackend) submit(_ context.Context, table, partition string, ops []Op) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][partition]
	// Check every precondition first: all or nothing.
	for i, o := range ops {
		cur, exists := part[o.Entity.RowKey]
		if c := precondition(i, o, cur, exists); c != nil {
			return c
		}
	}
	if part == nil {
		part = make(map[string]Entity)
		m.tables[table][strings.Clone(partition)] = part
	}
	for _, o := range ops {
		if o.Kind == Delete {
			delete(part, o.Entity.RowKey)
			continue
		}
		e := normalise(owned(o.Entity))
		m.seq++
		e.ETag = `W/"m` + strconv.FormatUint(m.seq, 10) + `"`
		part[e.RowKey] = e
	}
	if len(part) == 0 {
		delete(m.tables[table], partition)
	}
	return nil
}

func (m *memBackend) remove(_ context.Context, table string, k Key, etag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][k.PartitionKey]
	cur, exists := part[k.RowKey]
	o := Op{Kind: Delete, Entity: Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: etag}}
	if c := precondition(0, o, cur, exists); c != nil {
		return c
	}
	delete(part, k.RowKey)
	if len(part) == 0 {
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
