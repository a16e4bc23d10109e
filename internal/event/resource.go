package event

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Resource is an Azure Resource Manager id split into its parts. ID keeps
// the id as written; the parts keep their case as written too (compare them
// case-insensitively: exports upper-case ids, payloads do not).
type Resource struct {
	ID           string
	Subscription string
	Group        string
	Provider     string // "MICROSOFT.KEYVAULT"
	Type         string // "VAULTS", or "VIRTUALMACHINES/EXTENSIONS" for child types
	Name         string // the last name segment
}

// ParseResourceID splits an ARM resource id. Ids that are not ARM paths
// (tenant ids, "/RESOURCE_ID", "") give a Resource with only ID set.
func ParseResourceID(id string) Resource {
	r := Resource{ID: id}
	// Segments are read off the id in place: no slice of parts, and a
	// single type is a substring of the id (only a child type, several
	// segments joined, is built).
	rest := strings.Trim(strings.TrimSpace(id), "/")
	next := func() (string, bool) {
		if rest == "" {
			return "", false
		}
		seg, after, found := strings.Cut(rest, "/")
		if found {
			rest = after
		} else {
			rest = ""
		}
		return seg, true
	}
	var typ, name string
	var tbuf [4]string
	types := tbuf[:0] // past the first type
	ntypes := 0
	if rest == "" {
		return r
	}
	key, _ := next()
	for {
		val, ok := next()
		if !ok {
			break // a key with no value: ignored, as a trailing segment
		}
		switch {
		case strings.EqualFold(key, "subscriptions"):
			r.Subscription = val
		case strings.EqualFold(key, "resourcegroups"):
			r.Group = val
		case strings.EqualFold(key, "providers"):
			// The last provider wins: extension resources nest one under
			// another (.../providers/A/x/y/providers/B/z/w).
			r.Provider = val
			typ, name, types, ntypes = "", "", types[:0], 0
			for {
				t, ok := next()
				if !ok {
					key = ""
					break
				}
				if strings.EqualFold(t, "providers") {
					key = t
					break
				}
				if ntypes == 0 {
					typ = t
				} else {
					types = append(types, t)
				}
				ntypes++
				if n, ok := next(); ok {
					name = n
				}
			}
			if key == "" {
				goto done
			}
			continue
		}
		var ok2 bool
		if key, ok2 = next(); !ok2 {
			break
		}
	}
done:
	if len(types) > 0 {
		// A child type, joined on the stack when short and looked up
		// among those seen before (a few dozen in a deployment).
		n := len(typ)
		for _, t := range types {
			n += 1 + len(t)
		}
		var stack [128]byte
		b := stack[:0]
		if n > len(stack) {
			b = make([]byte, 0, n)
		}
		b = append(b, typ...)
		for _, t := range types {
			b = append(append(b, '/'), t...)
		}
		r.Type = childTypes.of(b)
	} else {
		r.Type = typ
	}
	r.Name = name
	return r
}

// childTypes holds the child types ParseResourceID has built, so that a
// type seen before costs no allocation: a deployment has a few dozen. An
// id is the record's: past maxChildTypes types (or one longer than
// maxChildTypeLen) each is built anew, so what the set holds is bounded.
var childTypes typeSet

const (
	maxChildTypes   = 512
	maxChildTypeLen = 128
)

// typeSet is a set of strings read without a lock: a lookup reads the
// current map, an addition (rare, bounded) replaces it with a copy.
type typeSet struct {
	mu  sync.Mutex
	cur atomic.Pointer[map[string]string]
}

// of returns string(b), the set's copy when it holds one.
func (s *typeSet) of(b []byte) string {
	if m := s.cur.Load(); m != nil {
		if t, ok := (*m)[string(b)]; ok { // no conversion allocated for a look-up
			return t
		}
	}
	t := string(b)
	if len(t) > maxChildTypeLen {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	if old != nil && len(*old) >= maxChildTypes {
		return t
	}
	next := make(map[string]string, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[t] = t
	s.cur.Store(&next)
	return t
}

func lenOf(m *map[string]string) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
