package event

import "sync"

// Layout is where the members of a record's objects are in Raw, as the
// source's decoder met them while decoding the record: the rule engine
// indexes the record from it instead of walking the bytes once more.
// It covers the objects the decoder went into (the envelope, properties,
// identity...); the others the engine indexes when a path reaches them.
// Offsets are into Raw; member names are without their quotes, still
// escaped.
type Layout struct {
	Objects []int32      // offset in Raw of each object's '{', ascending
	First   []int32      // per object: the index in Members of its first member, -1 when it has none
	Members []MemberSpan // every member of those objects, in document order within each
	// Tables, per object: the number of the decoder's table of learned
	// member names its members' Name refer to (0: none). A number
	// stands for one table for the process's life.
	Tables []int32
	// Index is the rule engine's own, in its own form: what its
	// condition pass indexed of the layout, for the readers after it
	// (written before the event is shared with them, read-only after).
	Index []int32
}

// MemberSpan is one member: its object (an index into Layout.Objects),
// its name Raw[KeyStart:KeyEnd] and its value Raw[ValStart:ValEnd]. An
// object's members are chained in document order by Next (an index into
// Layout.Members, after this one; -1 after the last): the members of the
// objects inside a value come before the member holding it.
//
// Name names the member's name without its bytes: its low word (Entry)
// is the entry of its object's table (Layout.Tables) that held the name
// when the decoder met it, its high word (Gen) that entry's generation
// then (0: unknown). An entry's generation changes whenever it learns
// another name and never comes back to an earlier one, so the members of
// one table with the same Name have byte-equal names: a reader may
// remember what it concluded of a name by it.
type MemberSpan struct {
	Object, KeyStart, KeyEnd, ValStart, ValEnd int32
	Next                                       int32
	Name                                       uint64
}

// Entry is the decoder's entry for m's name (MemberSpan.Name).
func (m *MemberSpan) Entry() int32 { return int32(uint32(m.Name)) }

// Gen is the generation of m's entry (MemberSpan.Name).
func (m *MemberSpan) Gen() int32 { return int32(m.Name >> 32) }

// layouts are reused from record to record: a layout serves the rule
// engine's reads of its record (conditions, the kinds, the alerts'
// severities and summaries) and is then released (ReleaseLayout); one per
// record would be a kilobyte and more of garbage each.
var layouts = sync.Pool{New: func() any {
	// One allocation, not four: the pool is emptied by the collector's
	// cycles, and its misses were a fifth of an allocation a record.
	r := new(layoutRoom)
	r.l = Layout{Objects: r.objects[:0], First: r.first[:0], Members: r.members[:0], Tables: r.tables[:0]}
	return &r.l
}}

// layoutRoom is a new layout with its first room.
type layoutRoom struct {
	l       Layout
	objects [8]int32
	first   [8]int32
	tables  [8]int32
	members [64]MemberSpan
}

// NewLayout returns an empty layout, reused when one was released.
func NewLayout() *Layout { return layouts.Get().(*Layout) }

// ReleaseLayout drops ev's layout, for reuse by a later record. Nothing
// may hold it afterwards.
func (e *Event) ReleaseLayout() {
	if l := e.Layout; l != nil {
		e.Layout = nil
		ReleaseLayout(l)
	}
}

// ReleaseLayout gives l back for reuse (a layout not kept by an event).
func ReleaseLayout(l *Layout) {
	if cap(l.Members) > 4096 {
		return // an outsized record's: let it go
	}
	l.Objects, l.First, l.Members, l.Index = l.Objects[:0], l.First[:0], l.Members[:0], l.Index[:0]
	l.Tables = l.Tables[:0]
	layouts.Put(l)
}

// ReleaseLayouts releases the layouts of evs (ReleaseLayout), once their
// last reader is done: an event kept afterwards (an alert's evidence, a
// sequence's step) holds no layout, nor the kilobytes of offsets in it.
func ReleaseLayouts(evs []*Event) {
	for _, ev := range evs {
		if ev != nil {
			ev.ReleaseLayout()
		}
	}
}
