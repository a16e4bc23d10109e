package event

// Layout is where the members of a record's objects are in Raw, as the
// source's decoder met them while decoding the record: the rule engine
// indexes the record from it instead of walking the bytes once more.
// It covers the objects the decoder went into (the envelope, properties,
// identity...); the others the engine indexes when a path reaches them.
// Offsets are into Raw; member names are without their quotes, still
// escaped.
type Layout struct {
	Objects []int32      // offset in Raw of each object's '{'
	Members []MemberSpan // every member of those objects, in document order within each
}

// MemberSpan is one member: its object (an index into Layout.Objects),
// its name Raw[KeyStart:KeyEnd] and its value Raw[ValStart:ValEnd].
type MemberSpan struct {
	Object, KeyStart, KeyEnd, ValStart, ValEnd int32
}
