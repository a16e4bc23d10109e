package state

import (
	"cmp"
	"context"
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
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
	b := &memBackend{shards: make([]*memBackend, memShards)}
	for i := range b.shards {
		b.shards[i] = &memBackend{tables: make(map[string]map[string]*memPartition), seq: uint64(i), stride: memShards}
	}
	m := &Memory{}
	m.engine = newEngine(b, 1)
	return m
}

// memShards is how many parts the in-memory store's partitions are
// spread over (by a hash of the partition key), each under a lock of its
// own: the stateful rules evaluating at once, each in partitions of its
// own, no longer wait for one another's writes (with one lock, a scan's
// rules spent a second in all waiting for it on a two-core scan of 20,000
// records, and two cores had fewer than two goroutines ready 2-6 % of the
// run, 1-3 % with the shards: bench-parallel's folder, go tool trace).
const memShards = 16

// shard returns the part of the store that holds partition.
func (m *memBackend) shard(partition string) *memBackend {
	if m.shards == nil {
		return m
	}
	return m.shards[shardHash(partition)%uint32(len(m.shards))]
}

// shardHash is partition's hash for shard: every byte, a word at a time
// (partition keys are a few dozen bytes, telling rules and windows apart
// anywhere), multiplied and mixed.
func shardHash(partition string) uint32 {
	s := partition
	h := uint64(len(s))
	for ; len(s) >= 8; s = s[8:] {
		h = (h ^ le64(s)) * hashMul
		h ^= h >> 32
	}
	switch {
	case len(s) == 0:
	case len(partition) >= 8:
		h = (h ^ le64(partition[len(partition)-8:])) * hashMul // the tail, in a word that overlaps the last one
	default:
		h = (h ^ shortWord(s)) * hashMul
	}
	return uint32(finish(h) >> 32)
}

type memBackend struct {
	// shards, when set, hold the store's partitions (shard), and the
	// fields below are each shard's own.
	shards []*memBackend
	// mu: reads (get, find) share it, so that stateful rules evaluated at
	// once (the engine runs them on goroutines of their own) read at once;
	// a write leaves no deleted row in a partition's indexes (tidy), and a
	// read in row-key order of a partition with rows not yet in its order
	// takes it for writing to merge them (order).
	mu     sync.RWMutex
	seq    uint64
	stride uint64                              // what seq grows by: ETags unique across the shards
	tables map[string]map[string]*memPartition // table -> partition
	// scratch is order's, reused under the write lock (up to maxScratch).
	scratch orderScratch
	// etags is where newETag cuts the ETags of transactions from.
	etags []byte
	// at is submit's, reused under the write lock (up to maxScratch): each
	// operation's row, found once.
	at []opRow
}

// opRow is where an operation's row is: its position (-1 for none) and
// its key's hash (rowHash).
type opRow struct {
	pos int32
	h   uint32
}

// etagChunk is the size of the chunks ETags are cut from: a dozen ETags
// each, one allocation where there was one per transaction, and at most a
// chunk kept by the rows of a transaction that outlive the others.
const etagChunk = 256

// newETag returns the ETag of transaction m.seq, cut from a shared chunk
// (with the write lock held). Its bytes are never written again.
func (m *memBackend) newETag() string {
	const maxLen = len(`W/"m"`) + 20
	if cap(m.etags)-len(m.etags) < maxLen {
		m.etags = make([]byte, 0, etagChunk)
	}
	n := len(m.etags)
	m.etags = append(strconv.AppendUint(append(m.etags, `W/"m`...), m.seq, 10), '"')
	return unsafe.String(&m.etags[n], len(m.etags)-n)
}

// memPartition is one partition's entities, by row key (point reads and
// writes) and in row-key order (ranges and prefixes), as the service keeps
// them: a range or prefix query costs a binary search and the rows it
// returns, not the partition's size. Inserted rows wait in pending until
// a read needs the order (order): a partition read only by key (new-term,
// impossible travel) never sorts, one read by prefix before each write
// (threshold, sequence, spike) merges a batch's rows at once.
//
// The entities live in blocks of at most memBlock and the indexes hold
// positions in them: a partition of thousands of rows is a few objects for
// the garbage collector to trace, not thousands; merging the order copies
// no pointers, and a growing partition never copies its entities (the
// first block grows as a slice, so a partition of a few rows stays small).
type memPartition struct {
	name    string        // the partition key (the store's own copy)
	blocks  [][]memEntity // by position; a deleted row's slot is zero
	rows    rowIndex      // row key -> position
	sorted  []sortedRow   // rows by row key; may hold the rows in freeing
	pending []int32       // rows inserted since the order was last merged
	// ordered is set by the first merge of the order: until then no read
	// has needed the order, pending stays empty (a partition read only by
	// key keeps no list of its rows beside rows) and the first merge
	// takes every row in rows.
	ordered bool
	free    []int32 // slots to reuse
	freeing []int32 // slots of rows deleted by the transaction under way
	// filter rules out rows by their keys' first parts (partfilter.go).
	filter partFilter
	// soonest is at or before the earliest non-zero Expires of its rows
	// (zero: none expires): a sweep skips a partition it finds later than
	// now without looking at its rows. A Stamp (they order as their
	// times): no time.Location pointer for the collector to trace.
	soonest Stamp
}

// sortedRow is a row in a partition's order: its position, and its key's
// first 12 bytes, which settle most comparisons of a search without a
// look at the entity (a cache miss) or its key (keys often share their
// first 8 bytes: a time, an address; bytes 8-11 fill what would be
// padding).
type sortedRow struct {
	head uint64 // bytes 0-7 (keyHead)
	mid  uint32 // bytes 8-11, as keyHead's
	pos  int32
}

// rowOf is the sortedRow of key at pos.
func rowOf(key string, pos int32) sortedRow {
	r := sortedRow{head: keyHead(key), pos: pos}
	if len(key) > 8 {
		var b [4]byte
		copy(b[:], key[8:])
		r.mid = binary.BigEndian.Uint32(b[:])
	}
	return r
}

// before reports whether the row at r sorts before key, whose sortedRow
// is k: by their first 12 bytes, the keys deciding a tie.
func (p *memPartition) before(r, k sortedRow, key string) bool {
	if r.head != k.head {
		return r.head < k.head
	}
	if r.mid != k.mid {
		return r.mid < k.mid
	}
	return p.at(r.pos).RowKey < key
}

// keyHead is a key's first 8 bytes as a number (zeros past a short key's
// end): keyHead(a) < keyHead(b) means a < b, and keyHead(a) > keyHead(b)
// a > b; equal heads leave it to the keys.
func keyHead(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

// memBlock is how many entities one block of a partition holds (a power
// of two: a position is a block and an offset).
const (
	memBlockBits = 7
	memBlock     = 1 << memBlockBits
)

// newPartition returns an empty partition whose index has room for rows
// (a new window's partition is written whole at once: its index does not
// grow row by row).
func newPartition(name string, rows int) *memPartition {
	p := &memPartition{name: strings.Clone(name), rows: newRowIndex(rows)}
	if rows > 2 {
		p.blocks = [][]memEntity{make([]memEntity, 0, min(rows, memBlock))}
	}
	return p
}

// memEntity is an Entity as a partition keeps it: without its partition
// key (the partition's), its times as Stamps (stored times are UTC to 100
// ns, and from year 1601 to 9999: checkOps; a Stamp holds them exactly)
// and its Data as a pointer and a length (at most MaxDataLen: checkOps;
// the capacity is cut on reads anyway, and whether a row key or Text is
// packed behind Data, all a write needs of it, is worked out once), so
// that a slot is 88 bytes, not 144 (104 with Unix seconds and hundreds of
// nanoseconds apart and a slice), and holds no time.Location pointers for
// the collector to trace: its four pointers are in its first seven words.
// The ETag string is shared by a transaction's rows.
type memEntity struct {
	data               *byte // Data's first byte (nil: Data is nil)
	RowKey, Text, ETag string
	n                  int32 // len(Data)
	packed             bool  // the row key or Text is packed behind Data (Packed): they go with it
	Count              int64
	exp, tim           Stamp
}

func compact(e Entity) memEntity {
	return memEntity{
		data: unsafe.SliceData(e.Data), RowKey: e.RowKey, Text: e.Text, ETag: e.ETag,
		n:      int32(len(e.Data)),
		packed: e.RowKey != "" && packedIn(e.RowKey, e.Data) || e.Text != "" && packedIn(e.Text, e.Data),
		Count:  e.Count, exp: e.Expires, tim: StampOf(e.Time),
	}
}

// Data returns the slot's Data, its capacity cut at its length (an append
// to it cannot reach a row key or Text packed behind it).
func (m *memEntity) Data() []byte {
	if m.data == nil {
		return nil
	}
	return unsafe.Slice(m.data, int(m.n))
}

func (m *memEntity) expires() time.Time { return m.exp.Time() }

// Expired is Entity.Expired.
func (m *memEntity) Expired(now time.Time) bool {
	return m.exp != 0 && m.expires().Before(now)
}

// entity returns the Entity of partition the slot holds (Data shared, its
// capacity cut: an append to it cannot reach a row key or Text packed
// behind it).
func (m *memEntity) entity(partition string) Entity {
	return Entity{PartitionKey: partition, RowKey: m.RowKey, ETag: m.ETag, Expires: m.exp,
		Count: m.Count, Time: m.tim.Time(), Text: m.Text, Data: m.Data()}
}

// at returns the entity at position i.
func (p *memPartition) at(i int32) *memEntity {
	return &p.blocks[i>>memBlockBits][i&(memBlock-1)]
}

// Get returns the stored entity of a row: the store's own, valid until the
// next write (copy it out).
func (p *memPartition) Get(row string) (*memEntity, bool) {
	i, ok := p.find(row)
	if !ok {
		return nil, false
	}
	return p.at(i), true
}

// put stores e, a new row or a rewrite of one (in place).
// e's times need not be normalised: compact keeps them to 100 ns, as
// normalise would (and soonest is worked out from what it keeps).
func (p *memPartition) put(e Entity) {
	h := rowHash(e.RowKey)
	i := int32(-1)
	if s := p.slotOfHash(e.RowKey, h); s >= 0 {
		i = p.rows.position(s)
	}
	m := compact(e)
	*p.slotFor(i, h, m.exp) = m
	if i < 0 {
		p.noteRow(m.RowKey)
	}
}

// slotFor returns the slot of row i, or, with i -1, a slot for a new row,
// indexed by h (its key's hash: rowHash), whose key the caller is to note
// in the filter (noteRow) once it is in the slot (a rebuild of the filter
// reads the slots); exp is the row's expiry to be (soonest).
func (p *memPartition) slotFor(i int32, h uint32, exp Stamp) *memEntity {
	if exp != 0 && (p.soonest == 0 || exp < p.soonest) {
		p.soonest = exp
	}
	if i >= 0 {
		return p.at(i) // the index keeps no key: it reads the slot's
	}
	if n := len(p.free); n > 0 {
		i, p.free = p.free[n-1], p.free[:n-1]
	} else {
		last := len(p.blocks) - 1
		switch {
		case last < 0:
			p.blocks = append(p.blocks, make([]memEntity, 0, 2)) // the first block grows
			last = 0
		case len(p.blocks[last]) == memBlock:
			p.blocks = append(p.blocks, make([]memEntity, 0, memBlock))
			last++
		case len(p.blocks[last]) == cap(p.blocks[last]):
			b := make([]memEntity, len(p.blocks[last]), min(2*cap(p.blocks[last]), memBlock))
			copy(b, p.blocks[last])
			p.blocks[last] = b
		}
		n := len(p.blocks[last])
		i = int32(last<<memBlockBits + n)
		p.blocks[last] = p.blocks[last][:n+1] // a slot never written: zero
	}
	p.rows.add(h, i)
	if p.ordered {
		p.pending = append(p.pending, i)
	}
	return p.at(i)
}

// unordered reports whether rows wait to join the order.
func (p *memPartition) unordered() bool {
	return len(p.pending) > 0 || !p.ordered && p.rows.n > 0
}

func (p *memPartition) Delete(row string) {
	if p.rows.n > 0 {
		p.deleteHash(row, rowHash(row))
	}
}

// deleteHash is Delete with row's hash known (rowHash).
func (p *memPartition) deleteHash(row string, h uint32) {
	if s := p.slotOfHash(row, h); s >= 0 {
		i := p.rows.position(s)
		p.rows.remove(s)
		*p.at(i) = memEntity{}
		p.freeing = append(p.freeing, i)
	}
}

func (p *memPartition) Len() int { return p.rows.n }

// tidy drops the deleted rows from the indexes and frees their slots:
// what a write does last, with the lock held for writing.
func (p *memPartition) tidy() {
	if len(p.freeing) > 0 {
		// A slot is not reused before this: every stale position is one
		// whose row is no longer in rows at that position.
		live := func(i int32) bool {
			j, ok := p.find(p.at(i).RowKey)
			return ok && j == i
		}
		p.sorted = slices.DeleteFunc(p.sorted, func(r sortedRow) bool { return !live(r.pos) })
		p.pending = slices.DeleteFunc(p.pending, func(i int32) bool { return !live(i) })
		p.free = append(p.free, p.freeing...)
		p.freeing = p.freeing[:0]
	}
}

// order merges the rows inserted since into the order, with the lock held
// for writing.
func (p *memPartition) order() { p.orderWith(nil) }

// maxScratch bounds the scratch lists the in-memory store keeps.
const maxScratch = 1 << 14

// orderScratch is orderWith's lists to reuse (the backend's, under its
// write lock): the pending rows, and the buffer mergeRuns merges through.
type orderScratch struct {
	pend, buf []sortedRow
}

// orderWith is order with scratch lists to reuse (nil: none): the pending
// rows are taken in the order they were inserted, which is ascending runs
// when the writes came in key order (as the kinds hand a transaction's
// operations: a call of many transactions, or several calls between two
// reads, leave a run each), merged run by run (mergeRuns), or else sorted
// by their heads, looking at their keys only on a tie.
func (p *memPartition) orderWith(scratch *orderScratch) {
	var pend []sortedRow
	if scratch != nil {
		pend = scratch.pend[:0]
	}
	if !p.ordered {
		// The first merge: every row is pending (a deleted row is no
		// longer in rows, and sorted is empty).
		p.ordered = true
		p.buildFilter()
		if last := len(p.blocks) - 1; len(p.free) == 0 && len(p.freeing) == 0 && last >= 0 &&
			last<<memBlockBits+len(p.blocks[last]) == p.rows.n {
			// Every slot holds a row: by position, the order they were
			// inserted in.
			for b, blk := range p.blocks {
				for j := range blk {
					pend = append(pend, rowOf(blk[j].RowKey, int32(b<<memBlockBits+j)))
				}
			}
		} else {
			p.rows.each(func(i int32) {
				pend = append(pend, rowOf(p.at(i).RowKey, i))
			})
		}
	} else {
		for _, i := range p.pending {
			pend = append(pend, rowOf(p.at(i).RowKey, i))
		}
	}
	k := len(pend)
	if k == 0 {
		return
	}
	// Where the ascending runs start: a few runs are merged, many (writes
	// in no order) sorted.
	var starts [maxRuns + 1]int
	runs := 1
	for j := 1; j < k && runs <= maxRuns; j++ {
		if !p.less(pend[j-1], pend[j]) {
			starts[runs] = j
			runs++
		}
	}
	switch {
	case runs == 1: // in order already: no sort
	case runs <= maxRuns && k >= minRunLen*runs:
		var buf []sortedRow
		if scratch != nil {
			buf = scratch.buf
		}
		buf = slices.Grow(buf[:0], k)[:k]
		starts[runs] = k
		sortedPend, other := p.mergeRuns(pend, buf, starts[:runs+1])
		if scratch != nil && cap(other) <= maxScratch {
			scratch.buf = other[:0]
		}
		pend = sortedPend
	default:
		slices.SortFunc(pend, func(a, b sortedRow) int {
			if a.head != b.head {
				return cmp.Compare(a.head, b.head)
			}
			if a.mid != b.mid {
				return cmp.Compare(a.mid, b.mid)
			}
			return strings.Compare(p.at(a.pos).RowKey, p.at(b.pos).RowKey)
		})
	}
	if scratch != nil && cap(pend) <= maxScratch {
		scratch.pend = pend[:0]
	}
	n := len(p.sorted)
	p.sorted = slices.Grow(p.sorted, k)[:n+k]
	if n < linearMerge*k {
		// As many rows pending as there are, or nearly: a plain merge, in
		// place from the back, a comparison per row.
		i, out := n-1, n+k-1
		for j := k - 1; j >= 0; out-- {
			if i >= 0 && p.less(pend[j], p.sorted[i]) {
				p.sorted[out] = p.sorted[i]
				i--
			} else {
				p.sorted[out] = pend[j]
				j--
			}
		}
	} else {
		// In place, from the back: each pending row (last first) finds
		// its place among the rows before it, galloping back from the
		// last place found (the rows a batch inserts are spread over the
		// partition: about log(n/k) comparisons each, each a cache miss),
		// and the rows after that place move up by the pending rows still
		// to come, as a block.
		end := n // sorted[:end] is what is left to merge
		for j := k - 1; j >= 0; j-- {
			r := pend[j]
			at := p.placeBefore(end, p.at(r.pos).RowKey, r)
			copy(p.sorted[at+j+1:end+j+1], p.sorted[at:end])
			p.sorted[at+j] = r
			end = at
		}
	}
	p.pending = p.pending[:0]
}

// maxRuns and minRunLen bound the ascending runs orderWith merges rather
// than sorts: at most maxRuns of them, minRunLen rows long on average
// (merging them costs a comparison per row and per halving of the runs,
// a sort about one per halving of the rows).
const (
	maxRuns   = 64
	minRunLen = 8
)

// linearMerge is how many rows in order per pending row orderWith merges
// with pending rows one by one at most (about 15 instructions a row),
// rather than placing each pending row by a search (about 150 a row).
const linearMerge = 8

// less reports whether row a sorts before row b: by their first 12 bytes,
// the keys deciding a tie.
func (p *memPartition) less(a, b sortedRow) bool {
	if a.head != b.head {
		return a.head < b.head
	}
	if a.mid != b.mid {
		return a.mid < b.mid
	}
	return p.at(a.pos).RowKey < p.at(b.pos).RowKey
}

// mergeRuns sorts rows, whose ascending runs start at starts (the last
// being len(rows)), by merging neighbouring runs pairwise into buf (as
// long as rows) and back: it returns the sorted rows (rows or buf) and
// the other list.
func (p *memPartition) mergeRuns(rows, buf []sortedRow, starts []int) (sorted, other []sortedRow) {
	for len(starts) > 2 {
		kept := starts[:1]
		for i := 0; i+1 < len(starts); i += 2 {
			lo, mid := starts[i], starts[i+1]
			hi := mid
			if i+2 < len(starts) {
				hi = starts[i+2]
			}
			a, b, out := lo, mid, lo
			for a < mid && b < hi {
				if p.less(rows[b], rows[a]) {
					buf[out] = rows[b]
					b++
				} else {
					buf[out] = rows[a]
					a++
				}
				out++
			}
			out += copy(buf[out:], rows[a:mid])
			copy(buf[out:], rows[b:hi])
			kept = append(kept, hi)
		}
		starts = kept
		rows, buf = buf, rows
	}
	return rows, buf
}

// placeBefore is where row goes among sorted[:end]: the rows from end back
// are checked 1, 2, 4... apart until one sorts before row, then the last
// step is searched.
func (p *memPartition) placeBefore(end int, row string, k sortedRow) int {
	before := func(r sortedRow) bool { return p.before(r, k, row) }
	lo, hi := 0, end // the place is in [lo, hi]: sorted[hi:end] sort after row
	for step := 1; hi > 0; step *= 2 {
		j := max(hi-step, 0)
		if before(p.sorted[j]) {
			lo = j + 1
			break
		}
		hi = j
	}
	return lo + sort.Search(hi-lo, func(k int) bool { return !before(p.sorted[lo+k]) })
}

// span returns the rows from `from` up to the end of the rows starting
// with prefix, in key order: the rows that start with it (from is prefix)
// when exact, else the rows a filter up to prefixEnd(prefix) reads (what
// the service returns: its end is plain ASCII, past more rows when prefix
// ends in a byte at or past '~').
func (p *memPartition) span(from, prefix string, exact bool) []sortedRow {
	lo, hi, served := p.spanAt(0, from, prefix)
	if !exact {
		hi = served
	}
	return p.sorted[lo:hi]
}

// spanAt is span as positions in the order, both ends (hi exact, served
// the service's), searched from start (every row before start sorts
// before from) galloping forward: spans asked in key order cost about the
// log of the distance between them each, and a span of a few rows a few
// comparisons past its start.
func (p *memPartition) spanAt(start int, from, prefix string) (lo, hi, served int) {
	rows := p.sorted
	f := rowOf(from, 0)
	lo = gallop(rows, start, func(r sortedRow) bool { return p.before(r, f, from) })
	// The ends: prefix with its last byte incremented, past the bytes that
	// cannot be (0xFF; for the service's, ASCII, '~' and up), compared
	// without building them (but for their heads).
	hi = p.endFrom(lo, trimEnd(prefix, 0xFF))
	served = hi
	if t := trimEnd(prefix, 0x7E); len(t) != len(prefix) {
		served = p.endFrom(hi, t)
	}
	return lo, hi, served
}

// trimEnd is p without the bytes at or past limit it ends in.
func trimEnd(p string, limit byte) string {
	n := len(p)
	for n > 0 && p[n-1] >= limit {
		n--
	}
	return p[:n]
}

// endFrom is the first position from start whose row does not sort before
// t with its last byte incremented (len(rows) for t empty: no end).
func (p *memPartition) endFrom(start int, t string) int {
	if t == "" {
		return len(p.sorted)
	}
	eh := keyHead(t)
	if len(t) <= 8 {
		eh += 1 << (8 * (8 - len(t))) // the last byte incremented (it is below 0xFF)
	}
	return gallop(p.sorted, start, func(r sortedRow) bool { return r.head < eh || r.head == eh && beforeEnd(p.at(r.pos).RowKey, t) })
}

// gallop returns the first index from start whose row is not before
// (before holds for the rows up to some index, and not after): it looks
// 1, 2, 4... rows ahead, then searches the last step.
func gallop(rows []sortedRow, start int, before func(sortedRow) bool) int {
	lo, hi := start, start // rows[start:lo] are before; the answer is in [lo, hi]
	for step := 1; hi < len(rows) && before(rows[hi]); step *= 2 {
		lo = hi + 1
		hi = lo + step - 1
	}
	hi = min(hi, len(rows))
	return lo + sort.Search(hi-lo, func(k int) bool { return !before(rows[lo+k]) })
}

// beforeEnd reports whether row sorts before prefixEnd(t): t with its last
// byte incremented.
func beforeEnd(row, t string) bool {
	n := len(t)
	head := row[:min(len(row), n-1)]
	if head != t[:n-1] { // not strings.Compare: its arguments escape (a Find's ranges, on its caller's stack)
		return head < t[:n-1]
	}
	return len(row) < n || row[n-1] <= t[n-1]
}

// prefixSpans appends to spans the span in the order of the rows starting
// with each prefix (sorted) p may hold (mayHold: the others have no row,
// nor any row between them and their ends: spanAt), each searched from
// the last; kept is how many rows they hold, served how many the service
// would return for a range per prefix.
func (p *memPartition) prefixSpans(prefixes []string, spans [][2]int) (_ [][2]int, kept, served int) {
	at, last := 0, ""
	for _, pr := range prefixes {
		if !p.mayHold(pr) {
			continue
		}
		if pr < last {
			at = 0
		}
		lo, hi, end := p.spanAt(at, pr, pr)
		served += end - lo
		kept += hi - lo
		spans = append(spans, [2]int{lo, hi})
		at, last = lo, pr
	}
	return spans, kept, served
}

// spanClones appends copies of the entities of the rows in spans (their
// Data shared).
func (p *memPartition) spanClones(out []Entity, spans [][2]int) []Entity {
	for _, sp := range spans {
		out = p.clones(out, p.sorted[sp[0]:sp[1]])
	}
	return out
}

// clones appends copies of the entities of rows (their Data shared).
func (p *memPartition) clones(out []Entity, rows []sortedRow) []Entity {
	for _, r := range rows {
		out = append(out, p.at(r.pos).entity(p.name))
	}
	return out
}

func (m *memBackend) createTable(ctx context.Context, table string) error {
	if m.shards != nil {
		for _, sh := range m.shards {
			_ = sh.createTable(ctx, table)
		}
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tables[table] == nil {
		m.tables[table] = make(map[string]*memPartition)
	}
	return nil
}

// get returns a copy of the entity (its Data shared: see Entity.Data).
func (m *memBackend) get(_ context.Context, table string, k Key) (Entity, bool, error) {
	m = m.shard(k.PartitionKey)
	m.mu.RLock()
	defer m.mu.RUnlock()
	part := m.tables[table][k.PartitionKey]
	if part == nil {
		return Entity{}, false, nil
	}
	e, ok := part.Get(k.RowKey)
	if !ok {
		return Entity{}, false, nil
	}
	return e.entity(part.name), true, nil
}

// getRows returns the entities of the rows found (their Data shared), in
// one list.
func (m *memBackend) getRows(table, partition string, rows []string) []Entity {
	m = m.shard(partition)
	m.mu.RLock()
	defer m.mu.RUnlock()
	part := m.tables[table][partition]
	if part == nil {
		return nil
	}
	var out []Entity
	for _, r := range rows {
		if e, ok := part.Get(r); ok {
			if out == nil {
				out = make([]Entity, 0, len(rows))
			}
			out = append(out, e.entity(part.name))
		}
	}
	return out
}

func (m *memBackend) query(_ context.Context, table string, q query, fn func([]Entity) error) (trips, seen int, err error) {
	found, seen := m.find(table, q)
	// Hand pages over with the lock released: Sweep deletes from inside fn.
	// A page is at most pageSize of what the service would return; what
	// q.only leaves out of it is not handed over.
	trips = pages(seen)
	for i := range trips {
		n := min(pageSize, len(found))
		page := found[:n:n] // of its own: an append to it does not reach the next

		found = found[len(page):]
		if err := fn(page); err != nil {
			return i + 1, seen, err
		}
	}
	return trips, seen, nil
}

// pages is how many round trips a query the service answers with seen
// entities takes: a page per pageSize, at least one.
func pages(seen int) int { return max(1, (seen+pageSize-1)/pageSize) }

// find returns what q selects (narrowed to q.only when set) and how many
// entities the service would return for q.
func (m *memBackend) find(table string, q query) (out []Entity, seen int) {
	if m.shards != nil && !q.expired.IsZero() {
		for _, sh := range m.shards {
			found, _ := sh.find(table, q)
			out = append(out, found...)
		}
		slices.SortFunc(out, func(a, b Entity) int {
			return cmp.Or(strings.Compare(a.PartitionKey, b.PartitionKey), strings.Compare(a.RowKey, b.RowKey))
		})
		return out, len(out)
	}
	m = m.shard(q.partition)
	m.mu.RLock()
	// A read in row-key order; not a read of some rows by key through the
	// whole partition (new-term's, impossible travel's), which counts rows.
	byKey := q.only != nil && q.only.rows != nil && q.prefix == "" && q.ranges == nil
	ordered := q.expired.IsZero() && q.rows == nil && !byKey
	part := m.tables[table][q.partition]
	if part != nil && q.only != nil && q.only.prefixes != nil && q.ranges != nil && part.holdsNone(q.only.prefixes) &&
		(part.Len() <= pageSize || samePrefixes(q.ranges, q.only.prefixes)) {
		// None of the rows asked for is there (filter): no order needed.
		// The service would return the rows of the prefixes' ranges:
		// none with a range per prefix, and at most a page when the
		// partition holds at most that; 0 counts the same one round trip
		// (pages) and says the same of the partition's size (engine.sized).
		m.mu.RUnlock()
		return nil, 0
	}
	if !ordered || part == nil || !part.unordered() {
		defer m.mu.RUnlock()
		return m.findIn(table, q)
	}
	// Rows wait to join the order: merge them, and read, holding the lock
	// for writing.
	m.mu.RUnlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if part := m.tables[table][q.partition]; part != nil {
		part.orderWith(&m.scratch)
	}
	return m.findIn(table, q)
}

// findIn is find with the lock held and the partition in order.
func (m *memBackend) findIn(table string, q query) (out []Entity, seen int) {
	if !q.expired.IsZero() {
		for _, part := range m.tables[table] {
			part.rows.each(func(i int32) {
				if e := part.at(i); e.Expired(q.expired) {
					out = append(out, Entity{PartitionKey: part.name, RowKey: e.RowKey, ETag: e.ETag, Expires: e.exp})
				}
			})
		}
		// The service pages in key order.
		slices.SortFunc(out, func(a, b Entity) int {
			return cmp.Or(strings.Compare(a.PartitionKey, b.PartitionKey), strings.Compare(a.RowKey, b.RowKey))
		})
		return out, len(out)
	}
	part := m.tables[table][q.partition]
	if part == nil {
		return nil, 0
	}
	switch {
	case q.rows != nil:
		out = make([]Entity, 0, len(q.rows))
		for _, r := range q.rows {
			if e, ok := part.Get(r); ok {
				out = append(out, e.entity(part.name))
			}
		}
		return out, len(out)
	case q.ranges != nil && q.only != nil && samePrefixes(q.ranges, q.only.prefixes):
		// A range per prefix (Find's few prefixes): one search each for
		// what the service would return and what is kept.
		var buf [MaxQueryPrefixes][2]int
		spans, kept, served := part.prefixSpans(q.only.prefixes, buf[:0])
		out = make([]Entity, 0, kept) // one allocation for what is kept
		return part.spanClones(out, spans), served
	case q.ranges != nil:
		at, last := 0, ""
		for _, r := range q.ranges {
			if r[0] < last {
				at = 0
			}
			lo, _, served := part.spanAt(at, r[0], r[1])
			seen += served - lo
			at, last = lo, r[0]
		}
	case q.prefix == "" && q.only != nil && q.only.rows != nil:
		seen = part.Len() // the whole partition, without its order
	default:
		seen = len(part.span(q.prefix, q.prefix, false))
	}
	switch {
	case q.only == nil && q.ranges != nil:
		for _, r := range q.ranges {
			out = part.clones(out, part.span(r[0], r[1], false))
		}
	case q.only == nil:
		out = part.clones(out, part.span(q.prefix, q.prefix, true))
	case q.only.prefixes != nil:
		// The spans first, then one allocation for what is kept.
		var buf [16][2]int
		spans, kept, _ := part.prefixSpans(q.only.prefixes, buf[:0])
		if kept > 0 {
			out = make([]Entity, 0, kept)
		}
		out = part.spanClones(out, spans)
	default:
		out = make([]Entity, 0, len(q.only.rows))
		for _, r := range q.only.rows {
			if e, ok := part.Get(r); ok {
				out = append(out, e.entity(part.name))
			}
		}
	}
	return out, seen
}

// samePrefixes reports whether the ranges are the prefixes, one each.
func samePrefixes(ranges [][2]string, prefixes []string) bool {
	if len(ranges) != len(prefixes) {
		return false
	}
	for i, r := range ranges {
		if r[0] != prefixes[i] || r[1] != prefixes[i] {
			return false
		}
	}
	return true
}

func (m *memBackend) submit(_ context.Context, table, partition string, ops []Op) error {
	m = m.shard(partition)
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][partition]
	// Check every precondition first: all or nothing. Each operation's row
	// is looked up once: its position holds through the writes below (a
	// key is in a transaction once: checkOps; a deleted row's slot is not
	// reused before tidy; a row added takes a free slot or a new one).
	// Its key is hashed once, for the look-up and the index.
	at := m.at[:0]
	for i := range ops {
		o := &ops[i]
		var cur *memEntity
		r := opRow{pos: -1, h: rowHash(o.Entity.RowKey)}
		if part != nil {
			if s := part.slotOfHash(o.Entity.RowKey, r.h); s >= 0 {
				r.pos = part.rows.position(s)
				cur = part.at(r.pos)
			}
		}
		if c := precondition(i, o, cur); c != nil {
			return c
		}
		at = append(at, r)
	}
	if cap(at) <= maxScratch {
		m.at = at[:0]
	}
	if part == nil {
		part = newPartition(partition, len(ops))
		m.tables[table][part.name] = part
	}
	// One ETag for the transaction's entities, as the service gives them
	// one timestamp: every write still changes an entity's ETag.
	m.seq += max(m.stride, 1)
	etag := m.newETag()
	for k := range ops {
		o, r := &ops[k], at[k]
		if o.Kind == Delete {
			part.deleteHash(o.Entity.RowKey, r.h)
			continue
		}
		part.write(&o.Entity, etag, r.pos, r.h)
	}
	part.tidy()
	if part.Len() == 0 {
		delete(m.tables[table], partition)
	}
	return nil
}

// sweep deletes the entities of table that expired before now, under one
// write lock, partition by partition: a partition none of whose rows can
// have expired (soonest) is skipped without looking at its rows, and one
// whose rows all expired (a window past its end) is dropped whole. It
// returns how many it deleted and the round trips Table would make for
// the same sweep: the query's pages and a transaction per
// MaxTransactionOps deletes of each partition. (The engine's generic
// sweep, Table's, queried every entity of the table and deleted a hundred
// at a time, each re-tidying the partition: 15% of a long scan's CPU.)
func (m *memBackend) sweep(table string, now time.Time) (deleted, trips int) {
	if m.shards != nil {
		for _, sh := range m.shards {
			n, t := sh.sweep(table, now)
			deleted += n
			trips += t - max(1, (n+pageSize-1)/pageSize) // its deletes' transactions
		}
		return deleted, trips + max(1, (deleted+pageSize-1)/pageSize)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := m.tables[table]
	for name, part := range parts {
		if part.soonest == 0 || !part.soonest.Time().Before(now) {
			continue
		}
		n := 0
		var soonest Stamp
		// Slot by slot (a free slot is zero: it never expires), not through
		// the index, which Delete changes.
		for _, b := range part.blocks {
			for j := range b {
				e := &b[j]
				if e.Expired(now) {
					part.Delete(e.RowKey)
					n++
				} else if e.exp != 0 && (soonest == 0 || e.exp < soonest) {
					soonest = e.exp
				}
			}
		}
		part.soonest = soonest
		if n == 0 {
			continue
		}
		deleted += n
		trips += (n + MaxTransactionOps - 1) / MaxTransactionOps
		if part.Len() == 0 {
			delete(parts, name)
			continue
		}
		part.tidy()
	}
	trips += max(1, (deleted+pageSize-1)/pageSize)
	return deleted, trips
}

func (m *memBackend) remove(_ context.Context, table string, k Key, etag string) error {
	m = m.shard(k.PartitionKey)
	m.mu.Lock()
	defer m.mu.Unlock()
	part := m.tables[table][k.PartitionKey]
	var cur *memEntity
	if part != nil {
		cur, _ = part.Get(k.RowKey)
	}
	o := Op{Kind: Delete, Entity: Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: etag}}
	if c := precondition(0, &o, cur); c != nil {
		return c
	}
	part.Delete(k.RowKey)
	part.tidy()
	if part.Len() == 0 {
		delete(m.tables[table], k.PartitionKey)
	}
	return nil
}

// precondition answers as the service does: Insert of an existing entity
// is EntityAlreadyExists, Replace or Delete of a missing one
// ResourceNotFound, a different ETag UpdateConditionNotSatisfied. cur is
// the stored entity, nil when there is none.
func precondition(i int, o *Op, cur *memEntity) *txConflict {
	switch o.Kind {
	case Insert:
		if cur != nil {
			return &txConflict{index: i, code: "EntityAlreadyExists"}
		}
	case Replace, Delete:
		if cur == nil {
			return &txConflict{index: i, code: "ResourceNotFound"}
		}
		if o.Entity.ETag != ETagAny && o.Entity.ETag != cur.ETag {
			return &txConflict{index: i, code: "UpdateConditionNotSatisfied"}
		}
	}
	return nil
}

// owned is e with its row key and Text the store's own: either may be a
// view into a record's bytes (the decoders do not copy), and the store
// would keep the whole record alive with it. They share one allocation
// (a slot keeps no partition key: memEntity). Data is kept as given
// (Entity.Data), and so are a row key and Text packed behind it (Packed):
// they keep alive nothing the store does not keep anyway.
func owned(e Entity) Entity {
	if packedEntity(e) {
		if e.Text == "" {
			e.Text = ""
		}
		return e
	}
	e.RowKey, e.Text = ownedKeys(e.RowKey, e.Text)
	return e
}

// ownedKeys is copies of a row key and Text in one allocation.
func ownedKeys(row, text string) (string, string) {
	var b strings.Builder
	b.Grow(len(row) + len(text))
	b.WriteString(row)
	b.WriteString(text)
	both := b.String()
	return both[:len(row)], both[len(row):]
}

// write stores e, an operation's entity, with etag in slot i of p (-1: a
// new row, indexed by h, its key's hash): compact(owned(e)) with Data nil
// when empty (as normalise), built in place, but for a rewrite of a row
// whose keys are the store's copies, which keeps them (and its Text when
// unchanged: keysOf).
func (p *memPartition) write(e *Entity, etag string, i int32, h uint32) {
	row, text, packed := p.keysOf(e, i)
	s := p.slotFor(i, h, e.Expires)
	*s = memEntity{RowKey: row, Text: text, ETag: etag, packed: packed, Count: e.Count, exp: e.Expires, tim: StampOf(e.Time)}
	if len(e.Data) > 0 {
		s.data, s.n = unsafe.SliceData(e.Data), int32(len(e.Data))
	}
	if i < 0 {
		p.noteRow(row)
	}
}

// keysOf is the row key and Text slot i of p (-1: a new row) keeps of e,
// and whether they are packed behind its Data: packed ones as they are,
// a rewrite's of a row whose keys are the store's copies those (and its
// Text when unchanged), else copies of its own (owned).
func (p *memPartition) keysOf(e *Entity, i int32) (row, text string, packed bool) {
	switch {
	case packedIn(e.RowKey, e.Data) && packedIn(e.Text, e.Data):
		// Packed behind Data (Packed), or empty: kept as they are.
		if e.Text == "" {
			return e.RowKey, "", e.RowKey != ""
		}
		return e.RowKey, e.Text, true
	case i >= 0 && !p.at(i).packed:
		// A rewrite: the stored keys (and an unchanged Text) are
		// already the store's own copies.
		cur := p.at(i)
		if e.Text != cur.Text {
			return cur.RowKey, strings.Clone(e.Text), false
		}
		return cur.RowKey, cur.Text, false
	}
	row, text = ownedKeys(e.RowKey, e.Text)
	return row, text, false
}

// packedEntity reports whether e's row key and Text are packed behind its
// Data (Packed).
func packedEntity(e Entity) bool {
	return packedIn(e.RowKey, e.Data) && packedIn(e.Text, e.Data)
}

var _ Store = (*Memory)(nil)
