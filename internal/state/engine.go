package state

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// backend is what differs between Memory and Table: the round trips. The
// engine does everything else (validation, grouping by partition, chunking,
// conflict reporting, counting round trips) once, so both stores keep the
// same semantics and the same operation counts by construction.
type backend interface {
	// createTable creates the table; an existing table is not an error.
	createTable(ctx context.Context, table string) error
	// get is one point read.
	get(ctx context.Context, table string, k Key) (Entity, bool, error)
	// query hands the entities matching q to fn a page (one round trip) at
	// a time and returns how many round trips it made and how many entities
	// the service would have returned over them (the partition size the
	// engine learns from). With q.only set, a backend may hand fn only the
	// entities q.only selects: the engine drops the others anyway. Each
	// page is a slice of its own, fn's to keep or filter in place.
	query(ctx context.Context, table string, q query, fn func(page []Entity) error) (trips, seen int, err error)
	// submit is one entity-group transaction: ops share a partition, at most
	// MaxTransactionOps of them. A failed precondition is a *txConflict.
	submit(ctx context.Context, table, partition string, ops []Op) error
	// remove is one conditional delete outside a transaction (Sweep's
	// fallback). A failed precondition is a *txConflict.
	remove(ctx context.Context, table string, k Key, etag string) error
}

// taggingBackend is a backend whose transactions also return the new
// ETag of each operation, in order (nil when the response did not give
// them all): what a view of the partition needs to stay valid (cache.go).
type taggingBackend interface {
	submitTagged(ctx context.Context, table, partition string, ops []Op) ([]string, error)
}

// query is one of the three shapes the engine asks for.
type query struct {
	partition string
	rows      []string    // RowKey eq any of these (at most MaxQueryKeys)
	prefix    string      // or: RowKey starts with prefix
	ranges    [][2]string // or: RowKey from r[0] up to the end of the keys starting with r[1] (at most MaxQueryPrefixes)
	expired   time.Time   // or, over the whole table: Expires before this

	// only is what the engine keeps of a whole-partition or ranges query:
	// these rows, or the rows starting with these prefixes (sorted). The
	// service reads the whole ranges; the in-memory store need not.
	only *selection
}

// selection is the rows a query's caller wants.
type selection struct {
	rows     []string // exact row keys (sorted; in the in-memory store, as Get gives them)
	prefixes []string // or row-key prefixes (sorted)
}

// txConflict is how a backend reports a failed precondition: index is the
// failing operation's position in the transaction, -1 when unknown.
type txConflict struct {
	index int
	code  string
}

func (c *txConflict) Error() string {
	return fmt.Sprintf("precondition failed at operation %d (%s)", c.index, c.code)
}

// engine implements Store over a backend.
type engine struct {
	b        backend
	parallel int // partitions worked on at once

	ops    atomic.Int64
	mu     sync.Mutex
	tables map[string]bool   // created (or found) by this store
	big    map[tablePart]int // partitions seen to hold more than a page: how many entities

	// versioned: every transaction also writes its partition's version
	// row, and the row is hidden from reads (Table; cache.go). cache, when
	// set, keeps views of partitions validated by it.
	versioned bool
	cache     *viewCache
}

func newEngine(b backend, parallel int) engine {
	if parallel < 1 {
		parallel = 1
	}
	return engine{b: b, parallel: parallel, tables: make(map[string]bool), big: make(map[tablePart]int)}
}

// Ops implements Store.
func (s *engine) Ops() int64 { return s.ops.Load() }

// ensure creates the table once per store: tables are created if missing.
func (s *engine) ensure(ctx context.Context, table string) error {
	if err := checkTable(table); err != nil {
		return err
	}
	s.mu.Lock()
	done := s.tables[table]
	s.mu.Unlock()
	if done {
		return nil
	}
	s.ops.Add(1)
	if err := s.b.createTable(ctx, table); err != nil {
		return fmt.Errorf("state: create table %s: %w", table, err)
	}
	s.mu.Lock()
	s.tables[table] = true
	s.mu.Unlock()
	return nil
}

// group is one partition's items.
type group[T any] struct {
	pk    string
	items []T
}

// partitions groups items by partition key, keeping first-seen order.
// Items that come in runs of one partition each (as the kinds hand them)
// are grouped by their runs: a group's items are a part of items (one
// allocation, the groups). Otherwise a group's items are a part of one
// copy of items (two allocations, the copy and the groups, however many
// partitions).
func partitions[T any](items []T, pk func(*T) string) []group[T] {
	if len(items) > 0 && allIn(items, pk) {
		// One partition (most batches of a window or bucket): no regrouping.
		return []group[T]{{pk(&items[0]), items}}
	}
	if groups := byRuns(items, pk); groups != nil {
		return groups
	}
	return byMap(items, pk)
}

// byRuns groups items by their runs of one partition key, nil when a
// partition key has two runs, or may have: when the runs' keys do not
// come in increasing order and there are more than fewRuns of them.
func byRuns[T any](items []T, pk func(*T) string) []group[T] {
	// One pk call an item a pass, a run's keys most often one string.
	n := 0
	prev := ""
	for i := range items {
		if p := pk(&items[i]); i == 0 || !samePK(p, prev) {
			n, prev = n+1, p
		}
	}
	groups := make([]group[T], 0, n)
	ordered := true // the runs' keys so far strictly increasing
	for start := 0; start < len(items); {
		p := pk(&items[start])
		end := start + 1
		for end < len(items) && samePK(pk(&items[end]), p) {
			end++
		}
		if k := len(groups); k > 0 && ordered && p <= groups[k-1].pk {
			ordered = false
		}
		if !ordered {
			if len(groups) >= fewRuns {
				return nil
			}
			for _, g := range groups {
				if g.pk == p {
					return nil
				}
			}
		}
		groups = append(groups, group[T]{p, items[start:end:end]})
		start = end
	}
	return groups
}

// samePK is a == b, told without comparing bytes when they are one
// string (a call's keys of one partition most often share theirs).
func samePK(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// byMap groups items by partition key through a map, keeping first-seen
// order.
func byMap[T any](items []T, pk func(*T) string) []group[T] {
	// Count each partition's items, then place them: a partition's value
	// is its count until its group is made, then -1-(its group).
	at := partIndex.Get().(*map[string]int)
	n := *at
	for i := range items {
		n[pk(&items[i])]++
	}
	groups := make([]group[T], 0, len(n))
	flat := make([]T, len(items))
	start := 0
	for i := range items {
		p := pk(&items[i])
		v := n[p]
		if v > 0 { // first seen: its group, room for its v items
			groups = append(groups, group[T]{p, flat[start : start : start+v]})
			start += v
			v = -len(groups)
			n[p] = v
		}
		g := &groups[-1-v]
		g.items = append(g.items, items[i])
	}
	if len(n) <= maxPooledMap {
		clear(n)
		partIndex.Put(at)
	}
	return groups
}

// maxPooledMap bounds the maps kept for reuse: clear costs a map's
// capacity, which a map keeps from its largest use, so a map that grew
// large is dropped, not cleared on every call after.
const maxPooledMap = 64

// maxPooledKeySet bounds checkOps' sets kept for reuse: a transaction of
// a window's counters writes hundreds of rows, and clearing a set of a
// thousand keys costs less than growing a new one to that size.
const maxPooledKeySet = 1 << 10

// partIndex holds partitions' maps, empty, for reuse.
var partIndex = sync.Pool{New: func() any { m := make(map[string]int); return &m }}

// allIn reports whether every item has the first item's partition key.
func allIn[T any](items []T, pk func(*T) string) bool {
	p := pk(&items[0])
	for i := 1; i < len(items); i++ {
		if pk(&items[i]) != p {
			return false
		}
	}
	return true
}

// each runs fn for every index, s.parallel at a time, and returns the
// errors in index order (nil ones among them, or, run one at a time, not):
// for errors.Join.
func (s *engine) each(n int, fn func(i int) error) []error {
	if n == 1 || s.parallel == 1 {
		var errs []error // only the failures: errors.Join takes them as well
		for i := range n {
			if err := fn(i); err != nil {
				errs = append(errs, err)
			}
		}
		return errs
	}
	errs := make([]error, n)
	sem := make(chan struct{}, s.parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// Get implements Store.
func (s *engine) Get(ctx context.Context, table string, keys []Key) (map[Key]Entity, error) {
	kc := keyCheck{escaped: keysEscaped(ctx)}
	for _, k := range keys {
		if err := kc.check(k); err != nil {
			return nil, fmt.Errorf("state: get from %s: %w", table, err)
		}
		if s.hidden(k.RowKey) {
			return nil, fmt.Errorf("state: get from %s: %w", table, s.checkKeys(k))
		}
	}
	if err := s.ensure(ctx, table); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return map[Key]Entity{}, nil
	}
	// Distinct keys (DistinctKeys) read from the in-memory store, no view
	// cache serving them, need no sort: its reads look each row up (the
	// cache and the Table service's filter search them in order).
	_, mem := s.b.(*memBackend)
	asGiven := mem && keysDistinct(ctx) && (s.cache == nil || !readsForUpdate(ctx))
	if allIn(keys, func(k *Key) string { return k.PartitionKey }) {
		// One partition (a key, or a bucket's keys): no grouping, no
		// goroutine.
		p := keys[0].PartitionKey
		scratch := rowScratch.Get().(*[]string)
		rows := dedupRowsInto(*scratch, keys, asGiven)
		found, err := s.getPartition(ctx, table, p, rows)
		if cap(rows) <= maxScratch {
			clear(rows)
			*scratch = rows[:0]
			rowScratch.Put(scratch)
		}
		if err != nil {
			return nil, fmt.Errorf("state: get from %s partition %q: %w", table, p, err)
		}
		out := make(map[Key]Entity, len(found))
		for _, e := range found {
			out[e.Key()] = e
		}
		return out, nil
	}
	out := make(map[Key]Entity, len(keys))
	groups := partitions(keys, func(k *Key) string { return k.PartitionKey })
	// The groups' row keys share one list: a part each, as their keys.
	scratch := rowScratch.Get().(*[]string)
	all := *scratch
	if cap(all) < len(keys) {
		all = make([]string, 0, len(keys))
	}
	all = all[:len(keys)]
	defer func() {
		if cap(all) <= maxScratch {
			clear(all)
			*scratch = all[:0]
			rowScratch.Put(scratch)
		}
	}()
	starts := make([]int, len(groups))
	for i, at := 1, 0; i < len(groups); i++ {
		at += len(groups[i-1].items)
		starts[i] = at
	}
	var mu sync.Mutex
	errs := s.each(len(groups), func(i int) error {
		g := groups[i]
		rows := dedupRowsInto(all[starts[i]:starts[i]:starts[i]+len(g.items)], g.items, asGiven)
		found, err := s.getPartition(ctx, table, g.pk, rows)
		if err != nil {
			return fmt.Errorf("state: get from %s partition %q: %w", table, g.pk, err)
		}
		mu.Lock()
		for _, e := range found {
			out[e.Key()] = e
		}
		mu.Unlock()
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// dedupRowsInto is the keys' row keys, sorted, each once, in rows' room;
// asGiven, keys known distinct whose rows need no order, in their order.
func dedupRowsInto(rows []string, keys []Key, asGiven bool) []string {
	if cap(rows) < len(keys) {
		rows = make([]string, 0, len(keys))
	}
	rows = rows[:0]
	for _, k := range keys {
		rows = append(rows, k.RowKey)
	}
	if asGiven {
		return rows
	}
	if !slices.IsSorted(rows) {
		SortKeys(rows)
	}
	return slices.Compact(rows)
}

// rowScratch holds lists of row keys for Get to reuse, empty.
var rowScratch = sync.Pool{New: func() any { return new([]string) }}

// getPartition reads rows of one partition: a point read for one row (a
// missing entity costs no more); up to MaxQueryKeys rows one query by key;
// more, one query of the whole partition (one round trip while it holds at
// most a page, 1,000 entities), or, once the partition showed it holds
// more, queries of MaxQueryKeys rows each.
func (s *engine) getPartition(ctx context.Context, table, partition string, rows []string) ([]Entity, error) {
	if out, ok, err := s.viewRead(ctx, table, partition, func(row string) bool {
		_, found := slices.BinarySearch(rows, row)
		return found
	}); ok {
		return out, err
	}
	if len(rows) == 1 {
		s.ops.Add(1)
		e, ok, err := s.b.get(ctx, table, Key{partition, rows[0]})
		if err != nil || !ok {
			return nil, err
		}
		return []Entity{e}, nil
	}
	if m, ok := s.b.(*memBackend); ok {
		return s.getMemory(ctx, m, table, partition, rows)
	}
	var out []Entity
	if len(rows) > MaxQueryKeys && !s.byKeys(table, partition, len(rows), MaxQueryKeys) {
		// One query for the whole partition beats several by key while it
		// takes fewer pages than they take queries; what it shows of the
		// partition's size decides next time.
		trips, seen, err := s.b.query(ctx, table, query{partition: partition, only: &selection{rows: rows}}, func(page []Entity) error {
			for _, e := range page {
				if _, want := slices.BinarySearch(rows, e.RowKey); want {
					out = append(out, e)
				}
			}
			return nil
		})
		s.ops.Add(int64(trips))
		s.sized(table, partition, seen)
		return out, err
	}
	for chunk := range slices.Chunk(rows, MaxQueryKeys) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		trips, _, err := s.b.query(ctx, table, query{partition: partition, rows: chunk}, func(page []Entity) error {
			if out == nil {
				out = page // the caller's (a slice of its own)
			} else {
				out = append(out, page...)
			}
			return nil
		})
		s.ops.Add(int64(trips))
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// getMemory is getPartition's reads of more than one row from the
// in-memory store, called directly (no page callbacks), with the round
// trips Table would make.
func (s *engine) getMemory(ctx context.Context, m *memBackend, table, partition string, rows []string) ([]Entity, error) {
	if len(rows) > MaxQueryKeys && !s.byKeys(table, partition, len(rows), MaxQueryKeys) {
		found, seen := m.find(table, query{partition: partition, only: &selection{rows: rows}})
		s.ops.Add(int64(pages(seen)))
		s.sized(table, partition, seen)
		return found, nil // the rows asked, no others
	}
	// A query per MaxQueryKeys rows, as Table makes them (each one page),
	// read at once into one list.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.ops.Add(int64((len(rows) + MaxQueryKeys - 1) / MaxQueryKeys))
	return m.getRows(table, partition, rows), nil
}

// List implements Store.
func (s *engine) List(ctx context.Context, table, partitionKey, rowPrefix string) ([]Entity, error) {
	if err := checkKeys(Key{partitionKey, rowPrefix}); err != nil {
		return nil, fmt.Errorf("state: list %s: %w", table, err)
	}
	if err := s.ensure(ctx, table); err != nil {
		return nil, err
	}
	var found []Entity
	trips, _, err := s.b.query(ctx, table, query{partition: partitionKey, prefix: rowPrefix}, func(page []Entity) error {
		// Both backends return a prefix's rows alone (the memory store's
		// exact span, the Table backend's check of each row read).
		found = append(found, s.visible(page)...)
		return nil
	})
	s.ops.Add(int64(trips))
	if err != nil {
		return nil, fmt.Errorf("state: list %s partition %q: %w", table, partitionKey, err)
	}
	slices.SortFunc(found, func(a, b Entity) int { return strings.Compare(a.RowKey, b.RowKey) })
	return found, nil
}

// maxSized bounds how many partitions' sizes a store remembers.
const maxSized = 4096

// byKeys reports whether n keys (or prefixes), asked per at most `per` a
// query, take fewer round trips than paging through the whole partition
// as its last read through saw it (a partition never read through, or
// within a page, is read through: one round trip).
func (s *engine) byKeys(table, partition string, n, per int) bool {
	s.mu.Lock()
	size := s.big[tablePart{table, partition}]
	s.mu.Unlock()
	return (n+per-1)/per < (size+pageSize-1)/pageSize
}

// tablePart names a partition of a table (engine.big's keys: looked up
// without building a string).
type tablePart struct{ table, partition string }

// sized records what a read through the partition saw.
func (s *engine) sized(table, partition string, entities int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tablePart{table, partition}
	if entities <= pageSize {
		delete(s.big, k)
		return
	}
	if len(s.big) >= maxSized {
		clear(s.big) // forget, and learn again
	}
	if _, ok := s.big[k]; !ok {
		k = tablePart{strings.Clone(table), strings.Clone(partition)} // the caller's may be views
	}
	s.big[k] = entities
}

// Find implements Store.
func (s *engine) Find(ctx context.Context, table, partitionKey string, rowPrefixes []string) ([]Entity, error) {
	kc := keyCheck{escaped: keysEscaped(ctx)} // the partition key once
	if err := kc.check(Key{partitionKey, ""}); err != nil {
		return nil, fmt.Errorf("state: find in %s: %w", table, err)
	}
	for _, p := range rowPrefixes {
		if err := kc.check(Key{partitionKey, p}); err != nil {
			return nil, fmt.Errorf("state: find in %s: %w", table, err)
		}
	}
	if err := s.ensure(ctx, table); err != nil {
		return nil, err
	}
	prefixes := rowPrefixes
	if !sortedApart(prefixes) {
		prefixes = outermost(slices.Clone(rowPrefixes))
	}
	if len(prefixes) == 0 {
		return nil, nil
	}
	var ps prefixSet // made when needed: the in-memory store's reads select exactly
	if s.cache != nil {
		ps = newPrefixSet(prefixes)
	}
	if found, ok, err := s.viewRead(ctx, table, partitionKey, ps.match); ok {
		if err != nil {
			return nil, fmt.Errorf("state: find in %s partition %q: %w", table, partitionKey, err)
		}
		sortByRow(found)
		return found, nil
	}
	// One query: at most MaxQueryPrefixes ranges. More prefixes are cut
	// into that many runs of neighbours (in sort order), each read as one
	// range from its first prefix to past its last; rows in between that
	// match no prefix are read and dropped.
	// A partition known to hold more than a page is asked exactly, a query
	// per MaxQueryPrefixes prefixes, when that takes fewer round trips than
	// reading it through page by page.
	var queries []query
	if len(prefixes) > MaxQueryPrefixes && s.byKeys(table, partitionKey, len(prefixes), MaxQueryPrefixes) {
		for chunk := range slices.Chunk(prefixes, MaxQueryPrefixes) {
			q := query{partition: partitionKey, only: &selection{prefixes: chunk}}
			for _, p := range chunk {
				q.ranges = append(q.ranges, [2]string{p, p})
			}
			queries = append(queries, q)
		}
	} else {
		var buf [MaxQueryPrefixes][2]string
		ranges := buf[:0]
		for run := range slices.Chunk(prefixes, (len(prefixes)+MaxQueryPrefixes-1)/MaxQueryPrefixes) {
			ranges = append(ranges, [2]string{run[0], run[len(run)-1]})
		}
		if m, ok := s.b.(*memBackend); ok {
			// The in-memory store, called directly: no page callbacks.
			sel := selection{prefixes: prefixes}
			found, seen := m.find(table, query{partition: partitionKey, only: &sel, ranges: ranges})
			s.ops.Add(int64(pages(seen)))
			if len(ranges) < len(prefixes) {
				s.sized(table, partitionKey, seen)
			}
			// What it found is what the prefixes select, no other row
			// of the ranges (q.only); the store keeps no version rows.
			sortByRow(found)
			return found, nil
		}
		queries = []query{{partition: partitionKey, only: &selection{prefixes: prefixes}, ranges: slices.Clone(ranges)}}
	}
	if ps.few == nil && ps.set == nil {
		ps = newPrefixSet(prefixes)
	}
	// keep filters a page in place (the page is the caller's: backends
	// hand each page over in a slice of its own) and appends it to out;
	// the first page is kept as it is.
	keep := func(out, p []Entity) []Entity {
		kept := p[:0]
		for _, e := range p {
			if ps.match(e.RowKey) && !s.hidden(e.RowKey) {
				kept = append(kept, e)
			}
		}
		if out == nil {
			return kept
		}
		return append(out, kept...)
	}
	var found []Entity
	if len(queries) == 1 {
		// Most reads: one query, no goroutine, pages kept as they come.
		trips, seen, err := s.b.query(ctx, table, queries[0], func(p []Entity) error {
			found = keep(found, p)
			return nil
		})
		s.ops.Add(int64(trips))
		if len(queries[0].ranges) < len(prefixes) {
			s.sized(table, partitionKey, seen) // read through: what it showed
		}
		if err != nil {
			return nil, fmt.Errorf("state: find in %s partition %q: %w", table, partitionKey, err)
		}
	} else {
		var mu sync.Mutex
		errs := s.each(len(queries), func(i int) error {
			var page []Entity
			trips, _, err := s.b.query(ctx, table, queries[i], func(p []Entity) error {
				page = keep(page, p)
				return nil
			})
			s.ops.Add(int64(trips))
			mu.Lock()
			found = append(found, page...)
			mu.Unlock()
			return err
		})
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("state: find in %s partition %q: %w", table, partitionKey, err)
		}
	}
	sortByRow(found)
	return found, nil
}

// sortByRow sorts entities by row key; those of one partition read in
// order (the in-memory store's, a single range's) are left as they are.
func sortByRow(es []Entity) {
	if !slices.IsSortedFunc(es, byRow) {
		slices.SortFunc(es, byRow)
	}
}

func byRow(a, b Entity) int { return strings.Compare(a.RowKey, b.RowKey) }

// sortedApart reports whether prefixes are sorted and none starts with
// the one before it (or is it: a row would match both), in one pass.
func sortedApart(prefixes []string) bool {
	for i := 1; i < len(prefixes); i++ {
		if p, q := prefixes[i-1], prefixes[i]; q <= p || strings.HasPrefix(q, p) {
			return false
		}
	}
	return true
}

// outermost sorts prefixes in place and drops those that start with
// another (a row matching them matches it: read once, not once per
// prefix; and a run of neighbours read as one range from its first prefix
// to past its last covers all their rows only when none starts with its
// first). Sorted, the strings from a prefix to one that starts with it all
// start with it: each is compared with the last kept.
func outermost(prefixes []string) []string {
	slices.Sort(prefixes)
	out := prefixes[:0]
	for _, p := range prefixes {
		if len(out) == 0 || !strings.HasPrefix(p, out[len(out)-1]) {
			out = append(out, p)
		}
	}
	return out
}

// prefixSet answers "does s start with one of these prefixes": by
// comparison while they are few, else with one map look-up per distinct
// prefix length.
type prefixSet struct {
	few  []string
	lens []int
	set  map[string]bool
}

// fewPrefixes is how many prefixes a prefixSet compares one by one.
const fewPrefixes = 8

func newPrefixSet(prefixes []string) prefixSet {
	if len(prefixes) <= fewPrefixes {
		return prefixSet{few: prefixes}
	}
	ps := prefixSet{set: make(map[string]bool, len(prefixes))}
	for _, p := range prefixes {
		ps.set[p] = true
		if !slices.Contains(ps.lens, len(p)) {
			ps.lens = append(ps.lens, len(p))
		}
	}
	return ps
}

func (ps prefixSet) match(s string) bool {
	if ps.set == nil {
		for _, p := range ps.few {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}
	for _, n := range ps.lens {
		if n <= len(s) && ps.set[s[:n]] {
			return true
		}
	}
	return false
}

// Apply implements Store.
func (s *engine) Apply(ctx context.Context, table string, ops []Op) error {
	if err := checkOpsWith(ops, keyCheck{escaped: keysEscaped(ctx)}); err != nil {
		return fmt.Errorf("state: apply to %s: %w", table, err)
	}
	for i := range ops {
		if o := &ops[i]; s.hidden(o.Entity.RowKey) {
			return fmt.Errorf("state: apply to %s: operation %d: %w", table, i, s.checkKeys(o.Entity.Key()))
		}
	}
	if err := s.ensure(ctx, table); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	if allIn(ops, func(o *Op) string { return o.Entity.PartitionKey }) {
		// One partition (most calls): no grouping, no goroutine.
		p := ops[0].Entity.PartitionKey
		c, err := s.applyPartition(ctx, table, p, ops)
		if err != nil || c == nil {
			return err
		}
		return &ConflictError{Table: table, PartitionKey: c.PartitionKey, RowKey: c.RowKey,
			Partitions: []string{p}, Uncommitted: c.Uncommitted}
	}
	groups := partitions(ops, func(o *Op) string { return o.Entity.PartitionKey })
	conflicts := make([]*ConflictError, len(groups))
	errs := s.each(len(groups), func(i int) error {
		c, err := s.applyPartition(ctx, table, groups[i].pk, groups[i].items)
		conflicts[i] = c
		return err
	})
	if err := errors.Join(errs...); err != nil {
		// A dependency failure wins over conflicts: the caller must not
		// mistake this call for one it can retry key by key.
		return err
	}
	var out *ConflictError
	var failed []*ConflictError
	for _, c := range conflicts {
		if c != nil {
			failed = append(failed, c)
		}
	}
	// Deterministic: the first conflict by partition name.
	slices.SortFunc(failed, func(a, b *ConflictError) int { return strings.Compare(a.PartitionKey, b.PartitionKey) })
	for _, c := range failed {
		if out == nil {
			out = &ConflictError{Table: table, PartitionKey: c.PartitionKey, RowKey: c.RowKey}
		}
		out.Partitions = append(out.Partitions, c.PartitionKey)
		out.Uncommitted = append(out.Uncommitted, c.Uncommitted...)
	}
	if out == nil {
		return nil // not a typed nil in the error interface
	}
	return out
}

// applyPartition submits one partition's operations in transactions, in
// order, stopping at the first that fails.
func (s *engine) applyPartition(ctx context.Context, table, partition string, ops []Op) (*ConflictError, error) {
	perTx := MaxTransactionOps
	if s.versioned {
		perTx-- // and the version row's
	}
	var one [1][]Op
	chunks := chunkOps(one[:0], ops, perTx)
	for i, chunk := range chunks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.ops.Add(1)
		err := s.submit(ctx, table, partition, chunk)
		if err == nil {
			continue
		}
		var tc *txConflict
		if !errors.As(err, &tc) {
			return nil, fmt.Errorf("state: apply to %s partition %q (transaction %d of %d): %w",
				table, partition, i+1, len(chunks), err)
		}
		c := &ConflictError{Table: table, PartitionKey: partition}
		if tc.index >= 0 && tc.index < len(chunk) {
			c.RowKey = chunk[tc.index].Entity.RowKey
		}
		for _, rest := range chunks[i:] {
			for _, o := range rest {
				c.Uncommitted = append(c.Uncommitted, o.Entity.Key())
			}
		}
		return c, nil
	}
	return nil, nil
}

// submit is one transaction of ops, which share a partition; with
// versions, the partition's version row is written last in it and the
// partition's view (if any) checked and updated (cache.go). Under
// ForUpdate a conflict on the version row (the view was stale) is the
// caller's, a *txConflict at index len(ops); otherwise the caller's
// operations did not come from the view, and the transaction is sent once
// more with the version row written unconditionally.
func (s *engine) submit(ctx context.Context, table, partition string, ops []Op) error {
	if !s.versioned {
		return s.b.submit(ctx, table, partition, ops)
	}
	if s.cache == nil {
		vop := Op{Kind: Upsert, Entity: versionEntity(partition, ops, time.Time{}, false, time.Now)}
		return s.b.submit(ctx, table, partition, append(ops[:len(ops):len(ops)], vop))
	}
	for attempt := 0; ; attempt++ {
		vop, g := s.cache.versionOp(table, partition, ops)
		tx := append(ops[:len(ops):len(ops)], vop)
		var etags []string
		var err error
		if tb, ok := s.b.(taggingBackend); ok && g.v != nil {
			etags, err = tb.submitTagged(ctx, table, partition, tx)
		} else {
			err = s.b.submit(ctx, table, partition, tx)
		}
		var tc *txConflict
		switch {
		case err == nil:
			s.cache.applied(table, partition, g, tx, etags)
		case errors.As(err, &tc):
			s.cache.conflicted(table, partition, g)
			if g.v != nil && tc.index == len(ops) && attempt == 0 && !readsForUpdate(ctx) {
				s.ops.Add(1)
				continue // the view is dropped: the version row unconditional
			}
		}
		return err
	}
}

// chunkOps splits one partition's operations into transactions of at most
// perTx operations and about maxTransactionBytes of body, appended to
// chunks. The operations have passed checkOps: few enough to fit one
// body at the most each can be (maxEntitySize) are one transaction,
// unmeasured.
func chunkOps(chunks [][]Op, ops []Op, perTx int) [][]Op {
	if len(ops) <= min(perTx, maxTransactionBytes/maxEntitySize) {
		return append(chunks, ops)
	}
	return measureChunks(chunks, ops, perTx)
}

// measureChunks is chunkOps by every operation's entitySize.
func measureChunks(chunks [][]Op, ops []Op, perTx int) [][]Op {
	start, size := 0, 0
	for i := range ops {
		n := entitySize(&ops[i].Entity)
		if i > start && (i-start == perTx || size+n > maxTransactionBytes) {
			chunks = append(chunks, ops[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(chunks, ops[start:])
}

// maxEntitySize is entitySize's most for an entity checkEntity accepts:
// keys of maxRawKeyLen bytes, Text of MaxTextLen, Data of MaxDataLen.
const maxEntitySize = 512 + 2*(2*maxRawKeyLen) + 2*MaxTextLen + MaxDataLen*4/3

// entitySize estimates an operation's share of a transaction body: the
// request line and headers, keys twice (URL and body), base64 data.
func entitySize(e *Entity) int {
	return 512 + 2*(len(e.PartitionKey)+len(e.RowKey)) + len(e.Text)*2 + len(e.Data)*4/3
}

// Sweep implements Store. It deletes page by page as the query returns
// them, so a large table is swept in bounded memory and a deadline keeps
// what was deleted before it.
func (s *engine) Sweep(ctx context.Context, table string, now time.Time) (int, error) {
	if err := s.ensure(ctx, table); err != nil {
		return 0, err
	}
	if m, ok := s.b.(*memBackend); ok {
		// The in-memory store sweeps under its own lock, without paging.
		n, trips := m.sweep(table, now)
		s.ops.Add(int64(trips))
		return n, nil
	}
	total := 0
	trips, _, err := s.b.query(ctx, table, query{expired: now}, func(page []Entity) error {
		groups := partitions(page, func(e *Entity) string { return e.PartitionKey })
		counts := make([]int, len(groups))
		errs := s.each(len(groups), func(i int) error {
			n, err := s.sweepPartition(ctx, table, groups[i].pk, groups[i].items)
			counts[i] = n
			return err
		})
		for _, n := range counts {
			total += n
		}
		return errors.Join(errs...)
	})
	s.ops.Add(int64(trips))
	if err != nil {
		return total, fmt.Errorf("state: sweep %s: %w", table, err)
	}
	return total, nil
}

func (s *engine) sweepPartition(ctx context.Context, table, partition string, expired []Entity) (int, error) {
	deleted := 0
	for chunk := range slices.Chunk(expired, MaxTransactionOps) {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		ops := make([]Op, len(chunk))
		rows := 0 // the version row is not counted
		for i, e := range chunk {
			ops[i] = Op{Kind: Delete, Entity: Entity{PartitionKey: e.PartitionKey, RowKey: e.RowKey, ETag: e.ETag}}
			if !s.hidden(e.RowKey) {
				rows++
			}
		}
		if s.cache != nil {
			s.cache.forget(table, partition)
		}
		s.ops.Add(1)
		err := s.b.submit(ctx, table, partition, ops)
		if err == nil {
			deleted += rows
			continue
		}
		var tc *txConflict
		if !errors.As(err, &tc) {
			return deleted, fmt.Errorf("partition %q: %w", partition, err)
		}
		// Something in the chunk was rewritten (its window extended) or
		// deleted since the query: delete the rest one by one, keeping those.
		for _, o := range ops {
			s.ops.Add(1)
			err := s.b.remove(ctx, table, o.Entity.Key(), o.Entity.ETag)
			switch {
			case err == nil:
				if !s.hidden(o.Entity.RowKey) {
					deleted++
				}
			case errors.As(err, &tc):
			default:
				return deleted, fmt.Errorf("partition %q: %w", partition, err)
			}
		}
	}
	return deleted, nil
}

// checkKeys is checkKeys that also refuses the version row's key where
// versions are kept.
func (s *engine) checkKeys(k Key) error {
	if s.hidden(k.RowKey) {
		return fmt.Errorf("%w: row key %q is reserved", ErrInvalid, k.RowKey)
	}
	return checkKeys(k)
}

// hidden reports whether a row is the store's own (the version row), never
// read nor written by callers.
func (s *engine) hidden(row string) bool { return s.versioned && row == versionRow }

// visible drops the store's own rows from a page.
func (s *engine) visible(page []Entity) []Entity {
	if !s.versioned {
		return page
	}
	return slices.DeleteFunc(page, func(e Entity) bool { return e.RowKey == versionRow })
}

// viewRead answers a read for update of one partition from the cache
// (cache.go): from its view, as empty when never seen, or by reading the
// whole partition to take a view. ok is false when the read must be made
// as without a cache. match selects the rows wanted.
func (s *engine) viewRead(ctx context.Context, table, partition string, match func(row string) bool) (out []Entity, ok bool, err error) {
	if s.cache == nil || !readsForUpdate(ctx) {
		return nil, false, nil
	}
	s.mu.Lock()
	big := s.big[tablePart{table, partition}] > 0
	s.mu.Unlock()
	plan, served := s.cache.plan(table, partition, big, match)
	switch plan {
	case planServe:
		return served, true, nil
	case planAssume:
		return nil, true, nil
	case planFill:
	default:
		return nil, false, nil
	}
	var all []Entity
	trips, seen, err := s.b.query(ctx, table, query{partition: partition}, func(page []Entity) error {
		all = append(all, page...)
		return nil
	})
	s.ops.Add(int64(trips))
	if err != nil {
		return nil, true, err
	}
	s.sized(table, partition, seen)
	s.cache.filled(table, partition, all, seen <= pageSize)
	for _, e := range all {
		if e.RowKey != versionRow && match(e.RowKey) {
			out = append(out, e)
		}
	}
	return out, true, nil
}

// keyCheck checks keys as checkKeys does, a partition key once while
// the keys repeat it (a call's keys are mostly of one partition).
type keyCheck struct {
	pk string
	ok bool
	// escaped: the keys were built by Escape and JoinKey (EscapedKeys),
	// only their lengths are checked.
	escaped bool
}

func (c *keyCheck) check(k Key) error {
	if c.escaped && len(k.PartitionKey) <= maxRawKeyLen && len(k.RowKey) <= maxRawKeyLen {
		return nil // checkEscapedKey's answer for both, without a call (check is inlined)
	}
	return c.checkKeys(k)
}

// checkKeys is check's call for keys its lengths do not settle.
func (c *keyCheck) checkKeys(k Key) error {
	if !c.ok || k.PartitionKey != c.pk {
		if err := c.key(k.PartitionKey); err != nil {
			return fmt.Errorf("%w: partition key %q: %v", ErrInvalid, k.PartitionKey, err)
		}
		c.pk, c.ok = k.PartitionKey, true
	}
	if err := c.key(k.RowKey); err != nil {
		return fmt.Errorf("%w: row key %q: %v", ErrInvalid, k.RowKey, err)
	}
	return nil
}

func checkKeys(k Key) error {
	if err := checkKey(k.PartitionKey); err != nil {
		return fmt.Errorf("%w: partition key %q: %v", ErrInvalid, k.PartitionKey, err)
	}
	if err := checkKey(k.RowKey); err != nil {
		return fmt.Errorf("%w: row key %q: %v", ErrInvalid, k.RowKey, err)
	}
	return nil
}

// checkOps checks a call's operations. A key twice: by comparison while
// the operations are few; past that, operations that come in runs of one
// partition each, a run's rows in key order (as the kinds hand them), by
// distinctKeys' linear pass; others by a set.
func checkOps(ops []Op) error { return checkOpsWith(ops, keyCheck{}) }

// checkOpsWith is checkOps with the keys checked as kc checks them.
func checkOpsWith(ops []Op, kc keyCheck) error {
	return checkOpsKnown(ops, len(ops) > fewOps && distinctKeys(ops), kc)
}

// checkOpsKnown is checkOps, told whether the keys are known distinct.
func checkOpsKnown(ops []Op, unique bool, kc keyCheck) error {
	var seen map[Key]struct{}
	if len(ops) > fewOps && !unique {
		at := keySets.Get().(*map[Key]struct{})
		seen = *at
		defer func() {
			if len(seen) <= maxPooledKeySet {
				clear(seen)
				keySets.Put(at)
			}
		}()
	}
	for i := range ops {
		o := &ops[i]
		e := &o.Entity
		dup := false
		switch {
		case unique: // none twice
		case seen != nil:
			n := len(seen) // one hash of the key: added, or there already
			seen[e.Key()] = struct{}{}
			dup = len(seen) == n
		default:
			for _, p := range ops[:i] {
				if p.Entity.RowKey == e.RowKey && p.Entity.PartitionKey == e.PartitionKey {
					dup = true
					break
				}
			}
		}
		if dup {
			if err := checkKeys(e.Key()); err != nil {
				return fmt.Errorf("operation %d: %w", i, err)
			}
			return fmt.Errorf("%w: operation %d: key %s appears twice", ErrInvalid, i, e.Key())
		}
		switch o.Kind {
		case Insert, Upsert:
		case Replace, Delete:
			if e.ETag == "" {
				return fmt.Errorf("%w: operation %d: %s of %s needs an ETag (or state.ETagAny)", ErrInvalid, i, o.Kind, e.Key())
			}
		default:
			return fmt.Errorf("%w: operation %d: unknown kind %v", ErrInvalid, i, o.Kind)
		}
		if err := checkEntity(e, &kc); err != nil { // the keys first
			return fmt.Errorf("operation %d: %w", i, err)
		}
		if !e.Expires.edmOK() || !edmTimeOK(e.Time) {
			return fmt.Errorf("%w: operation %d: %s: times must be zero or from year 1601 to 9999 (Edm.DateTime)", ErrInvalid, i, e.Key())
		}
	}
	return nil
}

// fewOps is how many operations checkOps compares pair by pair for a key
// twice.
const fewOps = 8

// fewRuns is how many runs of partitions distinctKeys compares pair by
// pair when their partition keys do not come in order.
const fewRuns = 16

// distinctKeys reports whether ops' keys are provably distinct without a
// set of keys: ops come in runs of one partition, no partition in two
// runs (their partition keys in increasing order, or few enough to
// compare pair by pair), and each run's row keys strictly increasing (or
// distinct: runDistinct). False is no verdict: the caller looks
// for a key twice the slow way.
func distinctKeys(ops []Op) bool {
	var runs [fewRuns]string
	nr := 0
	ordered := true // the runs' partition keys so far strictly increasing
	for start := 0; start < len(ops); {
		pk := ops[start].Entity.PartitionKey
		end, sorted := start+1, true
		for ; end < len(ops) && ops[end].Entity.PartitionKey == pk; end++ {
			if sorted && ops[end].Entity.RowKey <= ops[end-1].Entity.RowKey {
				sorted = false
			}
		}
		if !sorted && !runDistinct(ops[start:end]) {
			return false
		}
		if nr > 0 && ordered && pk <= runs[min(nr, fewRuns)-1] {
			ordered = false
			if nr > fewRuns {
				return false
			}
		}
		if !ordered && (nr >= fewRuns || slices.Contains(runs[:nr], pk)) {
			return false
		}
		if nr < fewRuns {
			runs[nr] = pk
		} else {
			runs[fewRuns-1] = pk // in order: only the last is compared
		}
		nr++
		start = end
	}
	return true
}

// runDistinct reports whether a run of one partition's operations holds
// each row key once: pair by pair while they are few, else by a table of
// the run's indexes placed by a seeded hash of their row keys (a run the
// kinds hand in the order of their events: a hash of the row key alone,
// not checkOps' set of keys, which hashes the partition key of every
// operation as well; open addressing in a reused table, where a
// map[string]struct{} paid ~170 instructions an assignment).
func runDistinct(run []Op) bool {
	if len(run) <= fewOps {
		return pairwiseDistinct(run)
	}
	size := 1 << bits.Len(uint(2*len(run)-1)) // at most half full
	at := rowTables.Get().(*[]int32)
	slots := *at
	if cap(slots) < size {
		slots = make([]int32, size)
	} else {
		slots = slots[:size]
		clear(slots)
	}
	mask := uint64(size - 1)
	distinct := true
rows:
	for i := range run {
		row := run[i].Entity.RowKey
		for h := maphash.String(rowSeed, row) & mask; ; h = (h + 1) & mask {
			j := slots[h] // an index into run, plus one; 0 is empty
			if j == 0 {
				slots[h] = int32(i + 1)
				break
			}
			if run[j-1].Entity.RowKey == row {
				distinct = false
				break rows
			}
		}
	}
	if size <= 2*maxPooledKeySet {
		*at = slots
		rowTables.Put(at)
	}
	return distinct
}

// rowTables holds runDistinct's tables for reuse. Their hash is seeded
// (rowSeed, the row index's), so that no chosen row keys collide more than
// by chance.
var rowTables = sync.Pool{New: func() any { return new([]int32) }}

// pairwiseDistinct reports whether a run of one partition's operations
// holds each row key once.
func pairwiseDistinct(run []Op) bool {
	for i := 1; i < len(run); i++ {
		for _, p := range run[:i] {
			if p.Entity.RowKey == run[i].Entity.RowKey {
				return false
			}
		}
	}
	return true
}

// keySets holds checkOps' sets, empty, for reuse.
var keySets = sync.Pool{New: func() any { m := make(map[Key]struct{}); return &m }}

var (
	minEdmTime = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEdmTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// edmTimeOK reports whether t is zero or from year 1601 to 9999. The
// bounds are whole seconds, so t's Unix seconds (floored) decide as its
// comparisons with them would.
func edmTimeOK(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	sec := t.Unix()
	return minEdmUnix <= sec && sec < maxEdmUnix
}

var minEdmUnix, maxEdmUnix = minEdmTime.Unix(), maxEdmTime.Unix()

// normalise gives stored times the service's resolution (100 ns, UTC), so
// both stores hand back the same values.
func normalise(e Entity) Entity {
	e.Time = normTime(e.Time)
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(100 * time.Nanosecond)
}
