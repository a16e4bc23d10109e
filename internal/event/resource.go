package event

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
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
	rest := trimIDEnds(id)
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
		case isLetterWord(key, "subscriptions"):
			r.Subscription = val
		case isLetterWord(key, "resourcegroups"):
			r.Group = val
		case isLetterWord(key, "providers"):
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
				if isLetterWord(t, "providers") {
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

// trimIDEnds is strings.Trim(strings.TrimSpace(id), "/"), with the usual
// id (a '/' first, a printable ASCII byte other than '/' last: no blank
// at either end) only stripped of its leading slashes.
func trimIDEnds(id string) string {
	if n := len(id); n == 0 || id[0] != '/' || id[n-1] <= ' ' || id[n-1] >= utf8.RuneSelf || id[n-1] == '/' {
		return strings.Trim(strings.TrimSpace(id), "/")
	}
	for id[0] == '/' {
		id = id[1:] // the last byte is no '/': id never empties
	}
	return id
}

// isWord is strings.EqualFold(s, word) for word, a lower-case ASCII word,
// without its rune-by-rune loop in the usual cases. Of word's length, s
// equals it only if ASCII (a rune of two bytes and more folds to one byte
// at most), so ASCII folding decides; of another length only a non-ASCII
// s may (ſ folds to s, the Kelvin sign to k), and not one starting with an
// ASCII byte that folds to another than word's first.
func isWord(s, word string) bool {
	if len(s) == len(word) {
		return EqualFoldASCII(s, word)
	}
	if s == "" {
		return false
	}
	if c := s[0]; c < utf8.RuneSelf {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[0] {
			return false
		}
	}
	return strings.EqualFold(s, word)
}

// isLetterWord is isWord for a word of 8 to 16 lower-case ASCII letters
// (the ARM path's words): of the word's length, s equals it when its
// first and last eight bytes, each with the case bit (0x20) set, are the
// word's: a byte that does is the word's letter in either case, as
// EqualFoldASCII folds it, and no other byte does. A word read a byte at a
// time was two thirds of ParseResourceID's time.
func isLetterWord(s, word string) bool {
	n := len(word)
	if len(s) != n || n < 8 || n > 16 {
		// Of another length, one starting with an ASCII byte other than
		// the word's first letter in either case is not it (isWord).
		if s == "" || s[0] < utf8.RuneSelf && s[0]|0x20 != word[0] {
			return false
		}
		return isWord(s, word)
	}
	const caseBits = 0x20 * lowBits
	b := unsafe.Slice(unsafe.StringData(s), n)
	w := unsafe.Slice(unsafe.StringData(word), n)
	return load64(b, 0)|caseBits == load64(w, 0) && load64(b, n-8)|caseBits == load64(w, n-8)
}

// childTypes holds the child types ParseResourceID has built, so that a
// type seen before costs no allocation: a deployment has a few dozen, but
// an id whose names and types are out of step (an operation's name where
// a resource's is: ".../ROLEASSIGNMENTS/WRITE/res-1") makes a type of
// every name, thousands of them (a quarter of an allocation a record in
// the benchmark corpus at 512). An id is the record's: past maxChildTypes
// types (or one longer than maxChildTypeLen) each is built anew, so what
// the set holds is bounded (about 0.6 MB, and its 64 KB table).
var childTypes typeSet

const (
	maxChildTypes   = 4096
	maxChildTypeLen = 128
)

// typeSet is a set of strings read without a lock: an open-addressing
// table of twice maxChildTypes slots, each set once (under mu) and never
// changed, so a look-up hashes the bytes and probes to an empty slot, and
// an addition costs one slot (it was a copy of the whole set: 50k map
// assignments for the first few hundred types).
type typeSet struct {
	mu    sync.Mutex
	n     int // slots set, under mu
	slots [typeSlots]atomic.Pointer[string]
}

// typeSlots is a power of two at least twice maxChildTypes: a probe
// always meets an empty slot, after about two on average.
const typeSlots = 8192

var typeSeed = maphash.MakeSeed()

// A full table would make a look-up probe forever.
var _ [typeSlots - 2*maxChildTypes]struct{}

// of returns string(b), the set's copy when it holds one.
func (s *typeSet) of(b []byte) string {
	if len(b) > maxChildTypeLen {
		return string(b)
	}
	const mask = typeSlots - 1
	h := maphash.Bytes(typeSeed, b)
	for i := h & mask; ; i = (i + 1) & mask {
		p := s.slots[i].Load()
		if p == nil {
			break
		}
		if *p == string(b) { // no conversion allocated for a comparison
			return *p
		}
	}
	t := string(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= maxChildTypes {
		return t
	}
	for i := h & mask; ; i = (i + 1) & mask {
		p := s.slots[i].Load()
		if p == nil {
			s.slots[i].Store(&t)
			s.n++
			return t
		}
		if *p == t { // added since the look-up
			return *p
		}
	}
}

// len is how many strings the set holds.
func (s *typeSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
