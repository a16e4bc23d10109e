package detect

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/azdetect/azdetect/internal/event"
)

// Path tables: the raw paths a source's loaded rules read, worked out at
// engine build, so that the record index finds them in the decoder's
// layout (event.Layout) by indexing only the members those paths can go
// through. Without a table, a path reaching a layout object compared
// itself with every member of the object (scanLayout, then buckets by name
// length, walkLayout): a few dozen paths per record, each over the
// envelope's and the properties' members. With one, each object a path
// reaches is indexed once per event, for every registered path at once:
// its members are compared, by length, with the names the paths may give
// a member there; a path then reads its member from that index.
//
// The answers are event.Lookup's, as the walk's are: where a path has more
// than one candidate member in an object (names differing in case only,
// names with dots beside the names they begin with), or goes through an
// array, a string holding JSON or an object without a layout, the index
// goes on with the walk from there.

// pathNode is one place of registered paths: the paths' remainders after
// one prefix of theirs (exact case) meet its objects there. pieces are the
// member names those remainders may follow there: each remainder's
// dot-separated prefixes, in the paths' own case.
type pathNode struct {
	id     int32
	pieces []string
	byLen  [][]int32 // by a name's length: the pieces of that length
	// firsts, by a name's length: a bit per first byte the pieces of
	// that length may match (firstBit; all bits for a piece starting
	// beyond ASCII), so that most members are passed over on one test.
	// (The last byte as well filtered less than it cost.)
	firsts []uint64
	// dotted, by piece: it holds a dot (several segments of a path: a
	// member whose name has dots).
	dotted []bool
}

// firstBit is the bit of firsts that stands for an ASCII byte c:
// the same for both cases of a letter (bytes that differ only in 0x20
// share it, as do bytes 64 apart: a filter, the pieces still compared).
func firstBit(c byte) uint64 { return 1 << ((c | 0x20) & 63) }

// pathStep is a member name a path may follow at its node: the piece and
// where in the path it leads (a segment offset).
type pathStep struct {
	piece int32
	next  int32
}

// pathPlan is one registered path: per segment offset d (the first d
// segments consumed), its node, its remainder, and the member names it may
// follow there.
type pathPlan struct {
	nodes []*pathNode  // per d < n
	rests []string     // per d <= n: the path after d segments ("" at n)
	steps [][]pathStep // per d < n
}

// pathTable is one source's plans, by the key number of their path
// (keyID).
type pathTable struct {
	plans  []*pathPlan
	serial int32 // tells the tables apart in a layout's Index (keep)
}

// tableSerials numbers the tables built.
var tableSerials atomic.Int32

// plan returns the plan of the path numbered id, nil when it is not
// registered.
func (t *pathTable) plan(id int32) *pathPlan {
	if t == nil || id < 0 || int(id) >= len(t.plans) {
		return nil
	}
	return t.plans[id]
}

// paths are the raw paths resolvers read, by logsource service, as
// resolvers are built (rule load); engines build their sources' tables
// from them (publishPathTables). A table holds every path registered for
// its source so far: a superset of any one engine's, which answers the
// same (a table only says where members are).
var paths struct {
	mu        sync.Mutex
	bySource  map[string]map[string]bool
	published atomic.Pointer[[]sourceTable]
}

// sourceTable is one source's published table. The published tables are
// a short list (one per source with raw paths), read on every event by a
// scan that compares lengths first: cheaper than a map's hash.
type sourceTable struct {
	source string
	table  *pathTable
}

// registerPath records that service's rules read path raw.
func registerPath(service, path string) {
	if service == "" || path == "" || service == flowService {
		return
	}
	paths.mu.Lock()
	defer paths.mu.Unlock()
	if paths.bySource == nil {
		paths.bySource = make(map[string]map[string]bool)
	}
	m := paths.bySource[service]
	if m == nil {
		m = make(map[string]bool)
		paths.bySource[service] = m
	}
	m[path] = true
}

// registerResolverPaths registers the raw paths r's candidates read.
func registerResolverPaths(service string, r *resolver) {
	for _, c := range r.cands {
		switch c := c.(type) {
		case getName:
			if !alwaysNormalised(c.name) {
				registerPath(service, c.name)
			}
		case pickByName:
			registerPath(service, c.list)
		}
	}
}

// alwaysNormalised reports whether name is one of the event's own fields,
// never a raw path (Extra names are raw paths on an event without them).
func alwaysNormalised(name string) bool {
	_, ok := (&event.Event{}).Normalised(name)
	return ok
}

// publishPathTables builds the tables of services from the paths
// registered for them and publishes them for the field caches
// (tableFor).
func publishPathTables(services []string) {
	paths.mu.Lock()
	defer paths.mu.Unlock()
	var next []sourceTable
	if old := paths.published.Load(); old != nil {
		next = slices.Clone(*old)
	}
	for _, s := range services {
		ps := paths.bySource[s]
		if len(ps) == 0 {
			continue
		}
		t := buildPathTable(ps)
		if i := slices.IndexFunc(next, func(e sourceTable) bool { return e.source == s }); i >= 0 {
			next[i].table = t
		} else {
			next = append(next, sourceTable{source: s, table: t})
		}
	}
	paths.published.Store(&next)
}

// tableFor returns source's published table (nil: none).
func tableFor(source string) *pathTable {
	p := paths.published.Load()
	if p == nil {
		return nil
	}
	for i := range *p {
		if e := &(*p)[i]; e.source == source {
			return e.table
		}
	}
	return nil
}

// buildPathTable plans each path of ps.
func buildPathTable(ps map[string]bool) *pathTable {
	t := &pathTable{serial: tableSerials.Add(1)}
	nodes := map[string]*pathNode{}
	var all []*pathNode
	node := func(prefix string) *pathNode {
		n := nodes[prefix]
		if n == nil {
			n = &pathNode{id: int32(len(all))}
			nodes[prefix] = n
			all = append(all, n)
		}
		return n
	}
	type nodePiece struct {
		node  *pathNode
		piece string
	}
	pieceIDs := map[nodePiece]int32{}
	pieceOf := func(n *pathNode, piece string) int32 {
		if i, ok := pieceIDs[nodePiece{n, piece}]; ok {
			return i
		}
		n.pieces = append(n.pieces, piece)
		i := int32(len(n.pieces) - 1)
		pieceIDs[nodePiece{n, piece}] = i
		return i
	}
	for path := range ps {
		// Segment offsets: where each segment starts in path.
		starts := []int{0}
		for i := 0; i < len(path); i++ {
			if path[i] == '.' {
				starts = append(starts, i+1)
			}
		}
		n := len(starts)
		pl := &pathPlan{nodes: make([]*pathNode, n), rests: make([]string, n+1), steps: make([][]pathStep, n)}
		for d := 0; d <= n; d++ {
			if d < n {
				pl.rests[d] = path[starts[d]:]
			}
		}
		for d := 0; d < n; d++ {
			prefix := ""
			if d > 0 {
				prefix = path[:starts[d]-1]
			}
			nd := node(prefix)
			pl.nodes[d] = nd
			for e := d + 1; e <= n; e++ {
				end := len(path)
				if e < n {
					end = starts[e] - 1
				}
				pl.steps[d] = append(pl.steps[d], pathStep{piece: pieceOf(nd, path[starts[d]:end]), next: int32(e)})
			}
		}
		id := keyID(path)
		if int(id) >= len(t.plans) {
			t.plans = append(t.plans, make([]*pathPlan, int(id)+1-len(t.plans))...)
		}
		t.plans[id] = pl
	}
	for _, n := range all {
		n.index()
	}
	return t
}

// index builds n's byLen and firsts from its pieces.
func (n *pathNode) index() {
	longest := 0
	for _, p := range n.pieces {
		longest = max(longest, len(p))
	}
	n.byLen = make([][]int32, longest+1)
	n.firsts = make([]uint64, longest+1)
	n.dotted = make([]bool, len(n.pieces))
	for i, p := range n.pieces {
		n.dotted[i] = strings.IndexByte(p, '.') >= 0
		n.byLen[len(p)] = append(n.byLen[len(p)], int32(i))
		if p == "" || p[0] >= 0x80 {
			n.firsts[len(p)] = ^uint64(0)
		} else {
			n.firsts[len(p)] |= firstBit(p[0])
		}
	}
}

// resolve indexes layout object k for node nd, once per event: per piece
// of nd, the first member named exactly so and how many are, and the same
// for the names equal to it case-insensitively (pathCands.consider's two
// kinds). It returns where the piece counts start in x.res: four per
// piece (exact first, exact count, folded first, folded count; a first
// is read only where its count is not zero). The word before them is
// not zero when some member matched a dotted piece (pathNode.dotted),
// in either case: without one, a path follows only its next segment's
// piece there (walkPlan).
func (x *recordIndex) resolve(k int, nd *pathNode) int {
	// The chain: resHead[k] and each entry's second word are 1 + where
	// the next entry is, 0 at the end; its third is the dotted word.
	for e := x.resHead[k] - 1; e >= 0; e = x.res[e+1] - 1 {
		if x.res[e] == nd.id {
			return int(e) + 3
		}
	}
	e := len(x.res)
	x.res = append(x.res, nd.id, x.resHead[k], 0)
	x.resHead[k] = int32(e) + 1
	base := len(x.res)
	// Zeroed: a first member is read only where its count is not.
	x.res = append(x.res, make([]int32, 4*len(nd.pieces))...)
	slots := x.res[base:]
	l, raw := x.layout, x.raw
	var codes []uint64
	if k < len(l.Tables) && l.Tables[k] != 0 {
		codes = x.memoFor(nd.id, l.Tables[k]).codes
	}
	firsts, members := nd.firsts, l.Members
	for j := l.First[k]; uint(j) < uint(len(members)); {
		m := &members[j]
		// A name met before at this node, by its decoder entry
		// (nameMemo): what it matched then, without comparing it.
		// (Entry 0's code is never set, nor a code of generation 0: a
		// member of no entry misses.)
		if nm := m.Name; uint(uint32(nm)) < uint(len(codes)) {
			v := codes[uint32(nm)]
			if v == nm&^(1<<32-1)|memoNone {
				goto next // the usual: a name of no piece
			}
			if v>>32 == nm>>32 && uint32(v) != 0 {
				c := uint32(v)
				if c >= memoPiece {
					if o := int(c&^memoDotted - memoPiece); uint(o+1) < uint(len(slots)) &&
						int(m.ValEnd) <= len(raw) && 0 <= m.KeyStart && m.KeyStart <= m.KeyEnd && 0 <= m.ValStart && m.ValStart <= m.ValEnd {
						if slots[o+1] == 0 {
							slots[o] = j
						}
						slots[o+1]++
						if c&memoDotted != 0 {
							x.res[base-1] = 1
						}
					}
					goto next
				}
				// memoSeveral: compared again.
			}
		}
		{
			// A name of no piece's length, or whose first byte (ASCII)
			// no piece of its length has in either case, is passed over
			// before its spans are checked: it matches nothing either
			// way. (A byte beyond ASCII may fold to one within: never
			// passed over.)
			c := uint32(memoNone)
			if n := int(m.KeyEnd) - int(m.KeyStart); uint(n) < uint(len(firsts)) {
				if fb := firsts[n]; fb != 0 && (n == 0 || uint(m.KeyStart) >= uint(len(raw)) || raw[m.KeyStart] >= 0x80 || fb&firstBit(raw[m.KeyStart]) != 0) {
					c = x.match(nd, base, j, m)
				}
			}
			if e := int(uint32(m.Name)); e > 0 && m.Name>>32 != 0 && k < len(l.Tables) && l.Tables[k] != 0 && e < maxMemoEntry {
				if e >= len(codes) {
					mm := x.memoFor(nd.id, l.Tables[k])
					mm.codes = append(mm.codes, make([]uint64, e+1-len(mm.codes))...)
					codes = mm.codes
				}
				codes[e] = m.Name&^(1<<32-1) | uint64(c)
			}
		}
	next:
		if m.Next <= j {
			break // the last (a chain only goes forward)
		}
		j = m.Next
	}
	return base
}

// What resolve concluded of a member name at a node (nameMemo.codes):
// that it matches no piece there; that it matches several (compared
// again each time); or, from memoPiece on, the one piece it matches:
// memoPiece + where its counts start among the node's (4*piece, 2 more
// when it matches it only folded), with memoDotted when the piece has
// a dot (pathNode.dotted).
const (
	memoNone    = 1
	memoSeveral = 2
	memoPiece   = 4
	memoDotted  = 1 << 30
)

// nameMemo is what resolve concluded at one node of the member names of
// one decoder table (event.Layout.Tables): codes, by the names' entries
// there (event.MemberSpan.Name's low word), hold the entry's generation (high
// word) and what its name matched (low word; 0: nothing remembered). A
// generation stands for one name (MemberSpan), so that a code is never
// applied to another name.
type nameMemo struct {
	table int32
	codes []uint64
}

// memoSet is a record index's nameMemos for one path table (serial):
// by node id, by decoder table.
type memoSet struct {
	serial int32
	nodes  [][]nameMemo
}

const (
	maxMemoSets   = 32   // path tables remembered (one per source)
	maxMemoTables = 8    // decoder tables remembered per node
	maxMemoEntry  = 4096 // entries beyond it are not remembered
)

// memoFor returns the memo of node (of x.tab) and decoder table table,
// made when missing.
func (x *recordIndex) memoFor(node, table int32) *nameMemo {
	if x.memoAt >= len(x.memoSets) || x.memoSets[x.memoAt].serial != x.tab.serial {
		x.memoAt = slices.IndexFunc(x.memoSets, func(s memoSet) bool { return s.serial == x.tab.serial })
		if x.memoAt < 0 {
			if len(x.memoSets) >= maxMemoSets {
				x.memoSets = x.memoSets[:0]
			}
			x.memoSets = append(x.memoSets, memoSet{serial: x.tab.serial})
			x.memoAt = len(x.memoSets) - 1
		}
	}
	set := &x.memoSets[x.memoAt]
	if int(node) >= len(set.nodes) {
		set.nodes = append(set.nodes, make([][]nameMemo, int(node)+1-len(set.nodes))...)
	}
	ms := set.nodes[node]
	for i := range ms {
		if ms[i].table == table {
			return &ms[i]
		}
	}
	if len(ms) < maxMemoTables {
		set.nodes[node] = append(ms, nameMemo{table: table})
		return &set.nodes[node][len(ms)]
	}
	mm := &ms[uint32(table)%maxMemoTables]
	mm.table = table
	clear(mm.codes)
	return mm
}

// match compares member j's name (m, of a length some piece of nd has)
// with nd's pieces and counts it in the index at base (resolve); it
// returns what it matched (memoNone, memoSeveral, or its piece's code).
func (x *recordIndex) match(nd *pathNode, base int, j int32, m *event.MemberSpan) uint32 {
	raw := x.raw
	if int(m.ValEnd) > len(raw) || 0 > m.KeyStart || m.KeyStart > m.KeyEnd || 0 > m.ValStart || m.ValStart > m.ValEnd {
		return memoNone
	}
	slots := x.res[base:]
	key := raw[m.KeyStart:m.KeyEnd]
	n := len(key)
	c := uint32(memoNone)
	for _, pi := range nd.byLen[n] {
		p := nd.pieces[pi]
		if n > 0 && key[0]|p[0] < 0x80 && key[0]|0x20 != p[0]|0x20 {
			continue // differ in their first letter (ASCII)
		}
		s := (*[4]int32)(slots[4*pi:])
		// The rules' own spelling, the usual case, without
		// foldEqual's call.
		exact, folded := string(key) == p, false
		if !exact {
			exact, folded = foldEqual(key, p)
		}
		switch {
		case exact:
			if s[1] == 0 {
				s[0] = j
			}
			s[1]++
		case folded:
			if s[3] == 0 {
				s[2] = j
			}
			s[3]++
		default:
			continue
		}
		if nd.dotted[pi] {
			x.res[base-1] = 1
		}
		if c == memoNone {
			c = memoPiece + 4*uint32(pi)
			if folded {
				c += 2
			}
			if nd.dotted[pi] {
				c |= memoDotted
			}
		} else {
			c = memoSeveral
		}
	}
	return c
}

// walkPlan is walkLayout(k, pl.rests[d]) read from the object's index
// for pl's node: the one member the path follows there, when it has
// exactly one candidate; the walk itself otherwise.
func (x *recordIndex) walkPlan(k int, pl *pathPlan, d int, out *[]event.Value, found *bool, depth int) {
	base := x.resolve(k, pl.nodes[d])
	one, nExact, nFold := -1, int32(0), int32(0)
	if steps := pl.steps[d]; x.res[base-1] == 0 && len(steps) > 0 {
		// No member here matched a dotted piece: only the path's next
		// segment (its first step, a piece without a dot) can.
		s := x.res[base+4*int(steps[0].piece) : base+4*int(steps[0].piece)+4]
		nExact, nFold, one = s[1], s[3], 0
		if nExact > 0 {
			nFold = 0
		}
	} else {
		nExact, nFold, one = x.countSteps(base, steps)
	}
	switch {
	case nExact == 0 && nFold == 0:
		return // no member on the path: as a walk finds nothing
	case nExact > 1 || (nExact == 0 && nFold > 1):
		// Several candidates: followed in document order, by the walk.
		x.walkLayout(k, pl.rests[d], out, found, depth)
		return
	}
	st := pl.steps[d][one]
	at := x.res[base+4*int(st.piece)]
	if nExact == 0 {
		at = x.res[base+4*int(st.piece)+2]
	}
	m := &x.layout.Members[at]
	v := x.raw[m.ValStart:m.ValEnd]
	e := int(st.next)
	// follow's walk of the one candidate, staying in the plan while its
	// value is an object of the layout. (A path that ends in a dot has
	// nothing left after it, as the walk takes it: the member itself.)
	if e < len(pl.nodes) && pl.rests[e] != "" && depth+1 <= 64 {
		if i := event.SkipSpace(v, 0); i < len(v) && v[i] == '{' {
			if k2 := x.layoutObjectFrom(v[i:], k+1); k2 >= 0 {
				x.walkPlan(k2, pl, e, out, found, depth+1)
				return
			}
		}
	}
	x.walk(v, pl.rests[e], out, found, depth+1)
}

// countSteps counts the members that pl's steps at a node may follow
// (from base in x.res, resolve's): the exact ones, and the folded ones
// when there is no exact one; one is the step of the last counted.
func (x *recordIndex) countSteps(base int, steps []pathStep) (nExact, nFold int32, one int) {
	one = -1
	for i, st := range steps {
		nExact += x.res[base+4*int(st.piece)+1]
		if x.res[base+4*int(st.piece)+1] > 0 {
			one = i
		}
	}
	if nExact == 0 {
		for i, st := range steps {
			nFold += x.res[base+4*int(st.piece)+3]
			if x.res[base+4*int(st.piece)+3] > 0 {
				one = i
			}
		}
	}
	return nExact, nFold, one
}

// walkFrom is walk(raw, path) from the record's top, through pl when
// the record's object is in the layout.
func (x *recordIndex) walkFrom(raw []byte, path string, pl *pathPlan, out *[]event.Value, found *bool) {
	if pl != nil && x.layout != nil && len(pl.nodes) > 0 && len(x.raw) == len(raw) && (len(raw) == 0 || &x.raw[0] == &raw[0]) {
		if i := event.SkipSpace(raw, 0); i < len(raw) && raw[i] == '{' {
			if k := x.layoutObject(raw[i:]); k >= 0 {
				x.walkPlan(k, pl, 0, out, found, 0)
				return
			}
		}
	}
	x.walk(raw, path, out, found, 0)
}

// foldEqual compares a member name with a piece of the same length as
// pathCands.consider does: exact is string(key) == p; folded is
// strings.EqualFold(string(key), p) when not exact. ASCII is compared
// here, a byte pair beyond it by strings.EqualFold.
func foldEqual(key []byte, p string) (exact, folded bool) {
	if len(key) != len(p) {
		return false, strings.EqualFold(string(key), p)
	}
	if string(key) == p {
		return true, false // the usual case: the rules' own spelling
	}
	exact = true
	for i := 0; i < len(p); i++ {
		a, b := key[i], p[i]
		if a == b {
			continue
		}
		if a|b >= 0x80 {
			return false, strings.EqualFold(string(key), p)
		}
		if la := a | 0x20; la != b|0x20 || la < 'a' || la > 'z' {
			return false, false
		}
		exact = false
	}
	return exact, !exact
}

// keep stores what x indexed through its table in its layout's Index,
// for the readers of the event after the condition pass (seed): each
// object is then indexed once per event, not once per rule reading it.
// Called by the condition pass only, before the event is shared.
func (x *recordIndex) keep() {
	l := x.layout
	if l == nil || x.tab == nil || len(x.res) == 0 || len(x.resHead) != len(l.Objects) {
		return
	}
	l.Index = append(append(append(l.Index[:0], x.tab.serial), x.resHead...), x.res...)
}

// seedIndex takes what the condition pass indexed of x's layout through
// x's table (keep), when it is that table's.
func (x *recordIndex) seedIndex() {
	l := x.layout
	n := len(l.Objects)
	if x.tab == nil || len(l.Index) < 1+n || l.Index[0] != x.tab.serial {
		return
	}
	copy(x.resHead, l.Index[1:1+n])
	x.res = append(x.res[:0], l.Index[1+n:]...)
}
