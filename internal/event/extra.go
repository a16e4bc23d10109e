package event

import (
	"bytes"
	"encoding/json"
	"iter"
	"sort"
)

// Extra is an event's source-specific values by name (Event.Set): a
// source sets a dozen at most, so they are kept as pairs in the order set
// and looked up by comparing names, instead of in a map of their own (two
// to four allocations per record). A name is set once: setting it again
// replaces its value, as a map would. The zero Extra holds nothing.
//
// A copy of an Event shares its Extra's storage: values are set while the
// event is made, by its source, never on a copy.
type Extra struct {
	kv []string // name, value, name, value...; no value is empty
	// lens has the bits of each name set (nameBits): a name one of
	// whose bits is not set is not set, and Lookup says so without
	// comparing it with each name (the rule engine asks for raw paths
	// here before it reads the record: a dozen sign-in names passed over
	// each time).
	lens uint64
}

// nameBits are the bits of Extra.lens that stand for name: one for its
// first byte (mod 32, bits 0-31), one for its last (mod 32, bits 32-63);
// the empty name has bit 0 only. A name's length alone (the filter
// before) let a third of the raw paths a sign-in record is asked for go
// on to the names' scan: a source's names share their first byte
// (signin.), the raw paths theirs (properties.), and end in few bytes.
func nameBits(name string) uint64 {
	n := len(name)
	if n == 0 {
		return 1
	}
	return 1<<(name[0]&31) | 1<<(32+name[n-1]&31)
}

// Lookup returns the value set for name and whether there is one.
func (x Extra) Lookup(name string) (string, bool) {
	if b := nameBits(name); x.lens&b != b {
		return "", false
	}
	for i := 0; i+1 < len(x.kv); i += 2 {
		if x.kv[i] == name {
			return x.kv[i+1], true
		}
	}
	return "", false
}

// Value returns the value set for name, or "".
func (x Extra) Value(name string) string {
	v, _ := x.Lookup(name)
	return v
}

// Len is how many values are set.
func (x Extra) Len() int { return len(x.kv) / 2 }

// At returns the i-th name and value set (0 <= i < Len()), in the order
// All yields them.
func (x Extra) At(i int) (name, value string) { return x.kv[2*i], x.kv[2*i+1] }

// All yields the names and values in the order they were set.
func (x Extra) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i := 0; i+1 < len(x.kv); i += 2 {
			if !yield(x.kv[i], x.kv[i+1]) {
				return
			}
		}
	}
}

// set stores one value (not empty), replacing the name's value if set.
func (x *Extra) set(name, value string) {
	if !x.replace(name, value) {
		x.kv = append(x.kv, name, value)
		x.lens |= nameBits(name)
	}
}

// replace sets the value of name when it is set, and reports whether it
// was (x's storage is shared: a copy of x replaces in place).
func (x Extra) replace(name, value string) bool {
	for i := 0; i+1 < len(x.kv); i += 2 {
		if x.kv[i] == name {
			x.kv[i+1] = value
			return true
		}
	}
	return false
}

// ExtraOf returns the values of m as an Extra (names in sorted order; the
// empty values left out).
func ExtraOf(m map[string]string) Extra {
	names := make([]string, 0, len(m))
	for n, v := range m {
		if v != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return Extra{}
	}
	sort.Strings(names)
	x := Extra{kv: make([]string, 0, 2*len(names))}
	for _, n := range names {
		x.kv = append(x.kv, n, m[n])
		x.lens |= nameBits(n)
	}
	return x
}

// MarshalJSON writes the values as one JSON object, as the map they
// replace was written (keys sorted), or null when there is none.
func (x Extra) MarshalJSON() ([]byte, error) {
	if len(x.kv) == 0 {
		return []byte("null"), nil
	}
	m := make(map[string]string, x.Len())
	for n, v := range x.All() {
		m[n] = v
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (x *Extra) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*x = ExtraOf(m)
	return nil
}

// NewEvent returns an empty event with room for extra values in its
// Extra, allocated with it: a source that declares how many values it
// sets at most makes each of its events in one allocation.
func NewEvent(extra int) *Event {
	switch {
	case extra <= 0:
		return new(Event)
	case extra <= 4:
		b := new(eventWith4)
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	case extra <= 8:
		b := new(eventWith8)
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	case extra <= 12:
		b := new(eventWith12)
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	case extra <= 18:
		b := new(eventWith18)
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	}
	ev := new(Event)
	ev.Extra.kv = make([]string, 0, 2*extra)
	return ev
}

// An event and the room for its Extra values, in one allocation.
type (
	eventWith4 struct {
		ev Event
		kv [2 * 4]string
	}
	eventWith8 struct {
		ev Event
		kv [2 * 8]string
	}
	eventWith12 struct {
		ev Event
		kv [2 * 12]string
	}
	eventWith18 struct {
		ev Event
		kv [2 * 18]string
	}
)

// Slab makes events as NewEvent does, several in one allocation: a run of
// them per size, the runs growing from one to slabRun events. Nothing is
// reused: an event lives as long as anything points to it, but keeps the
// others of its run alive with it, so a Slab serves events that are
// dropped at about the same time: the records of one unit's inputs (an
// Event Hub batch's bodies), or of the consecutive blocks one parallel
// worker frames, which the pipeline drops within a chunk or two of each
// other. The zero Slab is ready; not safe for concurrent use.
type Slab struct {
	raw []byte // what is left of the current chunk of raw records (Copy)
	e0  []Event
	e4  []eventWith4
	e8  []eventWith8
	e12 []eventWith12
	e18 []eventWith18
	n   [5]int // the length of each size's last run
}

// slabRun is the longest run of events a Slab allocates at once.
const slabRun = 32

// NewEvent returns an empty event with room for extra values (see the
// package's NewEvent).
func (s *Slab) NewEvent(extra int) *Event {
	switch {
	case extra <= 0:
		return take(&s.e0, &s.n[0])
	case extra <= 4:
		b := take(&s.e4, &s.n[1])
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	case extra <= 8:
		b := take(&s.e8, &s.n[2])
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	case extra <= 12:
		b := take(&s.e12, &s.n[3])
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	case extra <= 18:
		b := take(&s.e18, &s.n[4])
		b.ev.Extra.kv = b.kv[:0]
		return &b.ev
	}
	return NewEvent(extra)
}

// rawChunk is the size of a Slab's chunks of raw records; a record over
// an eighth of it is copied on its own.
const rawChunk = 32 << 10

// Copy returns a copy of a record's bytes (an event's Raw), cut from a
// chunk it shares with the records copied before it, which it keeps
// alive as an event keeps its run. The copy's capacity is its length.
func (s *Slab) Copy(b []byte) []byte {
	if len(b) == 0 || len(b) > rawChunk/8 {
		return bytes.Clone(b)
	}
	if cap(s.raw) < len(b) {
		s.raw = make([]byte, 0, rawChunk)
	}
	c := append(s.raw[:0:len(b)], b...)
	s.raw = s.raw[len(b):len(b):cap(s.raw)]
	return c
}

// take returns the next element of run, allocating a new run (twice the
// last one's length, at most slabRun) when it is used up.
func take[T any](run *[]T, n *int) *T {
	if len(*run) == 0 {
		*n = min(max(2**n, 1), slabRun)
		*run = make([]T, *n)
	}
	p := &(*run)[0]
	*run = (*run)[1:]
	return p
}
