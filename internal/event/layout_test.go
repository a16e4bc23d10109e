package event

import "testing"

// A new layout (the pool's, emptied by every collector's cycle) is one
// allocation, its first room included.
func TestNewLayoutOneAllocation(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		l := layouts.New().(*Layout)
		if cap(l.Objects) < 8 || cap(l.First) < 8 || cap(l.Members) < 64 || len(l.Members) != 0 {
			t.Fatalf("layout %d/%d/%d: want empty, with room", cap(l.Objects), cap(l.First), cap(l.Members))
		}
	}); n != 1 {
		t.Errorf("a new layout: %v allocations, want 1", n)
	}
	// Its room is its own: a member appended to one is not another's.
	a, b := layouts.New().(*Layout), layouts.New().(*Layout)
	a.Members = append(a.Members, MemberSpan{KeyStart: 1})
	b.Members = append(b.Members, MemberSpan{KeyStart: 2})
	if a.Members[0].KeyStart != 1 || b.Members[0].KeyStart != 2 {
		t.Error("two layouts share their room")
	}
}
