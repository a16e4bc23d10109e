package rowindex

import "testing"

// TestRowIndexCollisions: entries whose hashes collide (all of them on a
// few hashes, and hashes equal in the bits that pick a slot) are all kept
// and all found, across growth.
func TestRowIndexCollisions(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(i int) uint64
	}{
		{"seven hashes", func(i int) uint64 { return uint64(i % 7) }},
		{"same slot bits", func(i int) uint64 { return uint64(i%13) << 1 }},
		{"distinct", func(i int) uint64 { return uint64(i) * 0x9E3779B97F4A7C15 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x Index
			const n = 3000
			for i := range n {
				x.Insert(tc.hash(i), int32(i))
			}
			for i := range n {
				h := tc.hash(i)
				found := false
				for s := x.First(h); ; s++ {
					var e int32
					if s, e = x.Probe(h, s); e < 0 {
						break
					}
					if tc.hash(int(e)) != h {
						t.Fatalf("probe of %x gave entry %d of hash %x", h, e, tc.hash(int(e)))
					}
					if e == int32(i) {
						found = true
						break
					}
				}
				if !found {
					t.Fatalf("entry %d (hash %x) not found", i, h)
				}
			}
			var empty Index
			if s, e := empty.Probe(1, empty.First(1)); e >= 0 {
				t.Fatalf("empty index found entry %d at %d", e, s)
			}
		})
	}
}

// A clone finds what its original found, and what either adds after is
// not in the other.
func TestRowIndexClone(t *testing.T) {
	var x Index
	for i := range 100 {
		x.Insert(uint64(i%7), int32(i))
	}
	c := x.Clone()
	c.Insert(99, 100)
	x.Insert(98, 101)
	count := func(x *Index, h uint64) int {
		n := 0
		for s := x.First(h); ; s++ {
			var i int32
			if s, i = x.Probe(h, s); i < 0 {
				return n
			}
			n++
		}
	}
	for h := range uint64(7) {
		if a, b := count(&x, h), count(&c, h); a != b || a < 14 {
			t.Errorf("hash %d: %d entries, the clone %d", h, a, b)
		}
	}
	if count(&x, 99) != 0 || count(&c, 99) != 1 || count(&x, 98) != 1 || count(&c, 98) != 0 {
		t.Error("an entry added after the clone is in both")
	}
}
