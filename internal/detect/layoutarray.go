package detect

import "github.com/azdetect/azdetect/internal/event"

// arrayEach is event.ArrayEach over arr, the elements that are objects
// of the record's layout taken without a scan: their end is where the
// layout says their last member's value ends (then the closing brace).
// An array of objects (an audit record's targetResources, additional
// details) was otherwise scanned whole once to cut its elements, and
// each element walked again.
func (x *recordIndex) arrayEach(arr []byte, fn func(val []byte) bool) {
	if x.layout == nil {
		_ = event.ArrayEach(arr, fn)
		return
	}
	_ = event.ArrayEachKnown(arr, x.layoutObjectLen, fn)
}

// layoutObjectLen returns the length of the object v begins with when it
// is an object of the layout, 0 otherwise.
func (x *recordIndex) layoutObjectLen(v []byte) int {
	if len(v) == 0 || v[0] != '{' {
		return 0
	}
	k := x.layoutObjectFrom(v, 0)
	if k < 0 {
		return 0
	}
	l, raw := x.layout, x.raw
	off := int(l.Objects[k])
	end := off + 1 // an object without members: '{', blanks, '}'
	for j := l.First[k]; j >= 0 && int(j) < len(l.Members); {
		m := &l.Members[j]
		end = int(m.ValEnd)
		if m.Next <= j {
			break // the last (a chain only goes forward)
		}
		j = m.Next
	}
	if end <= off || end > len(raw) {
		return 0
	}
	end = event.SkipSpace(raw, end)
	if end >= len(raw) || raw[end] != '}' || end+1-off > len(v) {
		return 0
	}
	return end + 1 - off
}
