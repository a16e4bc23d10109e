package detect

import (
	"strings"

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
}

type objMember struct {
	key []byte // raw name, without quotes, still escaped (as Lookup compares)
	val []byte
}

// objIndex is an object's members in document order. A linear pass over
// it is cheap: most names are rejected on their length.
type objIndex struct {
	members []objMember
}

func (x *recordIndex) reset() {
	clear(x.objects)
	clear(x.decoded)
	for _, o := range x.used {
		clear(o.members) // drop references into the old record
		o.members = o.members[:0]
	}
	x.spare = append(x.spare, x.used...)
	x.used = x.used[:0]
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
	o := x.newObjIndex()
	_ = event.ObjectEach(v, func(key, val []byte) bool {
		o.members = append(o.members, objMember{key: key[1 : len(key)-1], val: val})
		return true
	})
	x.objects[p] = o
	return o
}

// lookup is event.Lookup over the index.
func (x *recordIndex) lookup(raw []byte, path string) ([]event.Value, bool) {
	if len(raw) == 0 || path == "" {
		return nil, false
	}
	var out []event.Value
	found := false
	x.walk(raw, path, &out, &found, 0)
	return out, found
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
			_ = event.ArrayEach(v, func(el []byte) bool {
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
		x.walkObject(x.object(v), path, out, found, depth)
	case '[':
		_ = event.ArrayEach(v, func(el []byte) bool {
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

// walkObject follows the members whose name, compared case-insensitively,
// is path or a dot-separated prefix of it; exact-case names win over folded
// ones, as in event.Lookup.
func (x *recordIndex) walkObject(o *objIndex, path string, out *[]event.Value, found *bool, depth int) {
	type cand struct {
		m    objMember
		rest string
	}
	// Room for the usual one or two candidates without allocating.
	var exactBuf, foldedBuf [2]cand
	exact, folded := exactBuf[:0], foldedBuf[:0]
	consider := func(m objMember) {
		j := len(m.key)
		if j > len(path) || (j < len(path) && path[j] != '.') {
			return
		}
		rest := ""
		if j < len(path) {
			rest = path[j+1:]
		}
		if string(m.key) == path[:j] {
			exact = append(exact, cand{m, rest})
		} else if strings.EqualFold(string(m.key), path[:j]) {
			folded = append(folded, cand{m, rest})
		}
	}
	for _, m := range o.members {
		consider(m)
	}
	cands := exact
	if len(cands) == 0 {
		cands = folded
	}
	for _, c := range cands {
		x.walk(c.m.val, c.rest, out, found, depth+1)
	}
}
