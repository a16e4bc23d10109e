package detect

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/azdetect/azdetect/internal/event"
)

// recordIndex resolves raw paths in one record the way event.Lookup does
// (case-insensitive member names preferring exact case, names that contain
// dots, array fan-out, JSON held in strings), but indexes each object's
// members the first time a path goes through it. event.Lookup scans the
// record from its first byte on every call; the engine asks for dozens of
// paths per record (a Sigma rule set reads Category, OperationName,
// properties.x... one rule after another), and those scans were most of
// its time. The index lives for one event (fieldCache.reset).
type recordIndex struct {
	objects map[*byte]*objIndex // by the object's first byte
	decoded map[*byte][]byte    // JSON text decoded from a string value
	spare   []*objIndex         // indexes of earlier events, reused
	used    []*objIndex         // indexes handed out for this event
	vals    []event.Value       // lookupShort's values, for this event
	// The decoder's layout of the current record (seed), read when a
	// path first reaches one of its objects.
	raw    []byte
	layout *event.Layout
	// Per layout object reached: its members bucketed by name length
	// (lenBuckets of them from byLen[at[k]-2], chained by sameLen in
	// document order), so a path is compared with the few members of
	// its prefixes' lengths only. at[k] is 0 for an object no path
	// reached yet, 1 for one reached once (not bucketed yet).
	at      []int32
	byLen   []int32
	sameLen []int32
	// The source's path table (pathtable.go) and, per layout object,
	// the chain of its indexes for the table's nodes in res (resolve):
	// resHead[k] is 1 + where its first is in res, 0 for none.
	tab     *pathTable
	resHead []int32
	res     []int32
	// What resolve concluded of member names, remembered by the
	// decoder's entry for the name (nameMemo), per path table; memoAt
	// is the set of x.tab's, when it is in range and has its serial.
	memoSets []memoSet
	memoAt   int
}

// lenBuckets is how many name lengths a layout object's members are
// bucketed by (a name of n bytes is in bucket n%lenBuckets).
const lenBuckets = 32

type objMember struct {
	key []byte // raw name, without quotes, still escaped (as Lookup compares)
	val []byte
}

// objIndex is an object's members in document order. A linear pass over
// it is cheap: most names are rejected on their length.
type objIndex struct {
	members []objMember
	first   []byte // the object's first byte, while indexed in one pass (undo)
}

func (x *recordIndex) reset() {
	// (Each only when used: a flow tuple's event, thousands a file,
	// reads nothing here.)
	if len(x.objects) > 0 {
		clear(x.objects)
	}
	if len(x.decoded) > 0 {
		clear(x.decoded)
	}
	if len(x.used) > 0 {
		for _, o := range x.used {
			clear(o.members) // drop references into the old record
			o.members = o.members[:0]
			o.first = nil
		}
		x.spare = append(x.spare, x.used...)
		x.used = x.used[:0]
	}
	if len(x.vals) > 0 {
		clear(x.vals)
		x.vals = x.vals[:0]
	}
	x.raw, x.layout, x.tab = nil, nil, nil
	x.byLen = x.byLen[:0]
	x.res = x.res[:0]
}

// seed gives the index the objects whose members the source's decoder
// already found (event.Layout): the record is not walked again for
// them. An object is indexed from the layout when a path first reaches
// it, so an event no rule reads raw costs nothing here; the objects the
// decoder skipped are indexed by walking them, as before.
func (x *recordIndex) seed(raw []byte, l *event.Layout, tab *pathTable) {
	if len(l.Objects) == 0 || len(raw) == 0 {
		return
	}
	x.tab = tab
	x.raw, x.layout = raw, l
	// Zero in both: no path reached the object yet; no node resolved
	// there yet. (Zeroed in one clear each, not a loop storing -1.)
	x.at = append(x.at[:0], make([]int32, len(l.Objects))...)
	x.resHead = append(x.resHead[:0], make([]int32, len(l.Objects))...)
	x.seedIndex()
}

// bucket returns where object k's length buckets start in byLen, making
// them on the first call for the event.
func (x *recordIndex) bucket(k int) int {
	if b := x.at[k]; b >= 2 {
		return int(b - 2)
	}
	l, raw := x.layout, x.raw
	b := len(x.byLen)
	x.byLen = append(x.byLen, make([]int32, lenBuckets)...)
	heads := x.byLen[b:]
	for i := range heads {
		heads[i] = -1
	}
	if len(x.sameLen) < len(l.Members) {
		x.sameLen = append(x.sameLen, make([]int32, len(l.Members)-len(x.sameLen))...)
	}
	// Collect the chain, then push it in reverse: each bucket ends in
	// document order.
	var tails [lenBuckets]int32
	for i := range tails {
		tails[i] = -1
	}
	for j := l.First[k]; j >= 0 && int(j) < len(l.Members); {
		m := &l.Members[j]
		if int(m.ValEnd) <= len(raw) && 0 <= m.KeyStart && m.KeyStart <= m.KeyEnd && 0 <= m.ValStart && m.ValStart <= m.ValEnd {
			n := (m.KeyEnd - m.KeyStart) % lenBuckets
			x.sameLen[j] = -1
			if tails[n] < 0 {
				heads[n] = j
			} else {
				x.sameLen[tails[n]] = j
			}
			tails[n] = j
		}
		if m.Next <= j {
			break // the last (a chain only goes forward)
		}
		j = m.Next
	}
	x.at[k] = int32(b + 2)
	return b
}

// layoutObject returns the number of the object starting at v[0] in
// the layout, or -1 when the layout does not have it.
func (x *recordIndex) layoutObject(v []byte) int { return x.layoutObjectFrom(v, 0) }

// layoutObjectFrom is layoutObject for an object that is not before
// object lo of the layout (the object inside a member's value comes after
// the member's own): it looks at lo first (the record's top object is 0,
// an object's first object member the next one), then searches after it.
func (x *recordIndex) layoutObjectFrom(v []byte, lo int) int {
	l, raw := x.layout, x.raw
	if l == nil || cap(v) > cap(raw) || cap(v) == 0 {
		return -1
	}
	off := cap(raw) - cap(v) // v is a sub-slice of raw when it lies within it
	if off >= len(raw) || &raw[off] != &v[0] {
		return -1
	}
	objs := l.Objects
	if lo < 0 || lo >= len(objs) || int(objs[lo]) > off {
		lo = 0
	} else if int(objs[lo]) == off {
		if lo >= len(l.First) {
			return -1
		}
		return lo
	}
	k, n := lo, len(objs)
	for k < n {
		h := int(uint(k+n) >> 1)
		if int(objs[h]) < off {
			k = h + 1
		} else {
			n = h
		}
	}
	if k == len(objs) || int(objs[k]) != off || k >= len(l.First) {
		return -1
	}
	return k
}

// newObjIndex returns an empty index, reusing one from an earlier event.
func (x *recordIndex) newObjIndex() *objIndex {
	var o *objIndex
	if n := len(x.spare); n > 0 {
		o = x.spare[n-1]
		x.spare = x.spare[:n-1]
	} else {
		o = &objIndex{members: make([]objMember, 0, 16)}
	}
	x.used = append(x.used, o)
	return o
}

func (x *recordIndex) object(v []byte) *objIndex {
	p := &v[0] // v is non-empty: it starts with '{' or '"'
	if o, ok := x.objects[p]; ok {
		return o
	}
	walkedBytes.Add(int64(len(v)))
	// One pass indexes the object and the objects held directly in its
	// members (properties, properties.status...): a path that goes through
	// an object nearly always goes on into one of them, and indexing them
	// while skipping them saves scanning their bytes a second time. On
	// anything malformed the pass is undone and the object is indexed
	// alone, as before, so the index answers exactly as it did.
	if v[0] == '{' {
		mark := len(x.used)
		if _, err := x.indexValue(v, 0, 0, 0); err == nil {
			if o, ok := x.objects[p]; ok {
				return o
			}
		}
		x.undo(mark)
	}
	o := x.newObjIndex()
	_ = event.ObjectEach(v, func(key, val []byte) bool {
		o.members = append(o.members, objMember{key: key[1 : len(key)-1], val: val})
		return true
	})
	x.objects[p] = o
	return o
}

// walkedBytes counts the bytes of records the engine walked again after
// their decoder: the objects a path reached that no layout had, and the
// records looked up while the shared index was busy. A test reads it
// (walks per record); one atomic add per object walked costs nothing
// beside the walk.
var walkedBytes atomic.Int64

// lookup is event.Lookup over the index.
func (x *recordIndex) lookup(raw []byte, path string) ([]event.Value, bool) {
	return x.lookupID(raw, path, -1)
}

// lookupID is lookup of the path numbered id (keyID), read through the
// source's path table when it has the path.
func (x *recordIndex) lookupID(raw []byte, path string, id int32) ([]event.Value, bool) {
	if len(raw) == 0 || path == "" {
		return nil, false
	}
	var out []event.Value
	found := false
	x.walkFrom(raw, path, x.tab.plan(id), &out, &found)
	return out, found
}

// lookupShortID is lookup of the path numbered id (keyID; -1 for none),
// read through the source's path table when it has the path, whose values
// live in an arena reused from event to event: they are valid only until
// reset (the engine's field cache, whose values serve one event's
// selection).
func (x *recordIndex) lookupShortID(raw []byte, path string, id int32) ([]event.Value, bool) {
	if len(raw) == 0 || path == "" {
		return nil, false
	}
	start := len(x.vals)
	found := false
	x.walkFrom(raw, path, x.tab.plan(id), &x.vals, &found)
	if len(x.vals) == start {
		return nil, found
	}
	n := len(x.vals)
	return x.vals[start:n:n], found
}

func (x *recordIndex) walk(v []byte, path string, out *[]event.Value, found *bool, depth int) {
	if depth > 64 {
		return
	}
	i := event.SkipSpace(v, 0)
	if i >= len(v) {
		return
	}
	v = v[i:]
	if path == "" {
		*found = true
		if v[0] == '[' {
			x.arrayEach(v, func(el []byte) bool {
				*out = append(*out, event.JSONValue(el))
				return true
			})
			return
		}
		*out = append(*out, event.JSONValue(v))
		return
	}
	switch v[0] {
	case '{':
		if k := x.layoutObject(v); k >= 0 {
			x.walkLayout(k, path, out, found, depth)
			return
		}
		x.walkObject(x.object(v), path, out, found, depth)
	case '[':
		x.arrayEach(v, func(el []byte) bool {
			x.walk(el, path, out, found, depth+1)
			return true
		})
	case '"':
		p := &v[0] // v is non-empty: it starts with '{' or '"'
		dec, ok := x.decoded[p]
		if !ok {
			if s, uok := event.Unquote(v); uok {
				t := strings.TrimSpace(s)
				if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
					dec = []byte(t)
				}
			}
			x.decoded[p] = dec
		}
		if dec != nil {
			x.walk(dec, path, out, found, depth+1)
		}
	}
}

// pathCands gathers the members an object's walk follows: those whose
// name, compared case-insensitively, is path or a dot-separated prefix of
// it; exact-case names win over folded ones, as in event.Lookup. Room for
// the usual one or two of each without allocating (a value, not to
// escape: no slice into its own arrays).
type pathCands struct {
	path           string
	exact, folded  [2]pathCand
	nExact, nFold  int
	moreEx, moreFo []pathCand // past two
}

type pathCand struct {
	val  []byte
	rest string
}

func (c *pathCands) consider(key, val []byte) {
	path := c.path
	j := len(key)
	if j > len(path) || (j < len(path) && path[j] != '.') {
		return
	}
	rest := ""
	if j < len(path) {
		rest = path[j+1:]
	}
	switch {
	case string(key) == path[:j]:
		if c.nExact < len(c.exact) {
			c.exact[c.nExact] = pathCand{val, rest}
		} else {
			c.moreEx = append(c.moreEx, pathCand{val, rest})
		}
		c.nExact++
	case strings.EqualFold(string(key), path[:j]):
		if c.nFold < len(c.folded) {
			c.folded[c.nFold] = pathCand{val, rest}
		} else {
			c.moreFo = append(c.moreFo, pathCand{val, rest})
		}
		c.nFold++
	}
}

// follow walks on into the chosen members, in document order.
func (x *recordIndex) follow(c *pathCands, out *[]event.Value, found *bool, depth int) {
	first, n, more := &c.exact, c.nExact, c.moreEx
	if n == 0 {
		first, n, more = &c.folded, c.nFold, c.moreFo
	}
	for i := 0; i < n && i < len(first); i++ {
		x.walk(first[i].val, first[i].rest, out, found, depth+1)
	}
	for _, m := range more {
		x.walk(m.val, m.rest, out, found, depth+1)
	}
}

// walkObject follows the members of o that path goes on through.
func (x *recordIndex) walkObject(o *objIndex, path string, out *[]event.Value, found *bool, depth int) {
	c := pathCands{path: path}
	for _, m := range o.members {
		c.consider(m.key, m.val)
	}
	x.follow(&c, out, found, depth)
}

// walkLayout is walkObject over object k of the layout, read in place:
// for each length a name matching path may have (path's, and that of each
// prefix before a dot), the members of that length only.
func (x *recordIndex) walkLayout(k int, path string, out *[]event.Value, found *bool, depth int) {
	l, raw := x.layout, x.raw
	if x.at[k] == 0 {
		// The object's first path: one pass over its members costs
		// what bucketing them would; the buckets pay from the second.
		x.at[k] = 1
		x.scanLayout(k, path, out, found, depth)
		return
	}
	heads := x.byLen[x.bucket(k):]
	c := pathCands{path: path}
	// Candidates of different lengths come in document order, as
	// walkObject finds them: by member index, lengths ascending merged.
	var order [4]int32
	nOrder := 0
	sorted := true
	for j := 0; j <= len(path); j++ {
		if j < len(path) && path[j] != '.' {
			continue
		}
		for i := heads[j%lenBuckets]; i >= 0; i = x.sameLen[i] {
			m := &l.Members[i]
			if int(m.KeyEnd-m.KeyStart) != j {
				continue
			}
			ne, nf := c.nExact, c.nFold
			c.consider(raw[m.KeyStart:m.KeyEnd], raw[m.ValStart:m.ValEnd])
			if c.nExact != ne || c.nFold != nf {
				if nOrder > 0 && nOrder <= len(order) && order[nOrder-1] > i {
					sorted = false
				}
				if nOrder < len(order) {
					order[nOrder] = i
				}
				nOrder++
			}
		}
	}
	if !sorted || nOrder > len(order) {
		// Rare (names with dots beside the names before them): find
		// them again in document order.
		x.scanLayout(k, path, out, found, depth)
		return
	}
	x.follow(&c, out, found, depth)
}

// scanLayout is walkObject over object k of the layout, its members
// read in place one after another.
func (x *recordIndex) scanLayout(k int, path string, out *[]event.Value, found *bool, depth int) {
	l, raw := x.layout, x.raw
	c := pathCands{path: path}
	for j := l.First[k]; j >= 0 && int(j) < len(l.Members); {
		m := &l.Members[j]
		if int(m.ValEnd) <= len(raw) && 0 <= m.KeyStart && m.KeyStart <= m.KeyEnd && 0 <= m.ValStart && m.ValStart <= m.ValEnd {
			c.consider(raw[m.KeyStart:m.KeyEnd], raw[m.ValStart:m.ValEnd])
		}
		if m.Next <= j {
			break // the last (a chain only goes forward)
		}
		j = m.Next
	}
	x.follow(&c, out, found, depth)
}

// undo drops the indexes handed out since mark (a failed indexValue pass).
func (x *recordIndex) undo(mark int) {
	for _, o := range x.used[mark:] {
		delete(x.objects, &o.first[0])
		clear(o.members)
		o.members = o.members[:0]
		o.first = nil
	}
	x.spare = append(x.spare, x.used[mark:]...)
	x.used = x.used[:mark]
}

// Indexing nested objects in the same pass stops at this many levels of
// objects below the one asked for; deeper ones are skipped and indexed when
// a path reaches them.
const maxIndexLevels = 4

// errIndexSyntax makes indexValue give up; object then indexes the old way.
var errIndexSyntax = errors.New("index: malformed JSON")

// indexValue is event.SkipValue (the same checks, the same nesting limit,
// depth counted the same way) that also indexes the objects it passes
// through, while level is below maxIndexLevels. It returns the index just
// past the value at b[i].
func (x *recordIndex) indexValue(b []byte, i, depth, level int) (int, error) {
	i = event.SkipSpace(b, i)
	if i >= len(b) {
		return i, errIndexSyntax
	}
	switch b[i] {
	case '{':
		if depth >= scanMaxDepth {
			return i, errIndexSyntax
		}
		var o *objIndex
		if level < maxIndexLevels {
			if _, seen := x.objects[&b[i]]; !seen {
				o = x.newObjIndex()
				o.first = b[i : i+1]
				x.objects[&b[i]] = o
			}
		}
		i = event.SkipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			i = event.SkipSpace(b, i)
			if i >= len(b) || b[i] != '"' {
				return i, errIndexSyntax
			}
			ks := i
			var err error
			if i, err = event.SkipValue(b, i); err != nil { // the member name
				return i, errIndexSyntax
			}
			key := b[ks+1 : i-1]
			i = event.SkipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, errIndexSyntax
			}
			vs := event.SkipSpace(b, i+1)
			nextLevel := maxIndexLevels // skip only
			if o != nil {
				nextLevel = level + 1
			}
			if i, err = x.indexValue(b, vs, depth+1, nextLevel); err != nil {
				return i, err
			}
			if o != nil {
				o.members = append(o.members, objMember{key: key, val: b[vs:i]})
			}
			i = event.SkipSpace(b, i)
			if i >= len(b) {
				return i, errIndexSyntax
			}
			if b[i] == '}' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, errIndexSyntax
			}
			i++
		}
	case '[':
		if depth >= scanMaxDepth {
			return i, errIndexSyntax
		}
		i = event.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			// Objects in arrays are left to be indexed when reached.
			if i, err = x.indexValue(b, i, depth+1, maxIndexLevels); err != nil {
				return i, err
			}
			i = event.SkipSpace(b, i)
			if i >= len(b) {
				return i, errIndexSyntax
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, errIndexSyntax
			}
			i++
		}
	default:
		// Strings, numbers and literals: event's own scanner, the same checks.
		end, err := event.SkipValue(b, i)
		if err != nil {
			return end, errIndexSyntax
		}
		return end, nil
	}
}

// scanMaxDepth is event's nesting limit (jsonscan.go maxDepth).
const scanMaxDepth = 1000
