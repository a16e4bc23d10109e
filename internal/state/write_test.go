package state

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestWriteIsCompactOfOwned: what submit keeps of an operation's entity
// (write, built in its slot) is what the plain path kept: compact(owned(e))
// with empty Data dropped, or for a rewrite of a row whose keys are the
// store's copies, those keys (and its Text when unchanged) kept; for
// entities packed or not (Packed), with empty keys, Text and Data, over
// new rows and rewrites of packed and unpacked rows.
func TestWriteIsCompactOfOwned(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	str := func() string {
		if r.IntN(4) == 0 {
			return ""
		}
		return strings.Repeat("k|é", 2+r.IntN(4))[:1+r.IntN(8)]
	}
	entity := func() Entity {
		e := Entity{PartitionKey: "p", RowKey: str(), Text: str(), Count: r.Int64N(5),
			Expires: Stamp(r.Int64N(3)), Time: time.Unix(r.Int64N(1e9), r.Int64N(1e9))}
		switch r.IntN(4) {
		case 0:
		case 1:
			e.Data = []byte{}
		default:
			e.Data = append(make([]byte, 0, 3+r.IntN(2)*(len(e.RowKey)+len(e.Text))), "doc"...)
		}
		if r.IntN(2) == 0 {
			PackIn(&e)
		}
		return e
	}
	// plain is the path write replaced.
	plain := func(p *memPartition, e Entity, i int32) memEntity {
		if i >= 0 && !p.at(i).packed && !packedEntity(e) {
			cur := p.at(i)
			e.RowKey = cur.RowKey
			if e.Text != cur.Text {
				e.Text = strings.Clone(e.Text)
			} else {
				e.Text = cur.Text
			}
		} else {
			e = owned(e)
		}
		if len(e.Data) == 0 {
			e.Data = nil
		}
		return compact(e)
	}
	for trial := range 20000 {
		p := newPartition("p", 0)
		i := int32(-1)
		e := entity()
		if r.IntN(2) == 0 {
			old := entity()
			old.RowKey = e.RowKey
			p.write(&old, "old", -1, rowHash(old.RowKey))
			i, _ = p.find(e.RowKey)
			if r.IntN(2) == 0 {
				e.Text = p.at(i).Text
			}
		}
		want := plain(p, e, i)
		want.ETag = "new"
		var cur memEntity
		if i >= 0 {
			cur = *p.at(i)
		}
		p.write(&e, "new", i, rowHash(e.RowKey))
		at, ok := p.find(e.RowKey)
		if !ok || i >= 0 && at != i || p.Len() != 1 {
			t.Fatalf("trial %d: row at %d %v (was %d), %d rows", trial, at, ok, i, p.Len())
		}
		got := *p.at(at)
		same := got.ETag == want.ETag && got.RowKey == want.RowKey && got.Text == want.Text && got.data == want.data && got.n == want.n &&
			got.packed == want.packed && got.Count == want.Count && got.exp == want.exp && got.tim == want.tim
		if !same {
			t.Fatalf("trial %d: kept %+v, want %+v", trial, got, want)
		}
		// The same strings kept: the row's copies, packed ones, or new
		// copies (a new row's: the given ones only when packed).
		if i >= 0 {
			for _, c := range [][3]string{{got.RowKey, want.RowKey, cur.RowKey}, {got.Text, want.Text, cur.Text}} {
				g, w := unsafe.StringData(c[0]) == unsafe.StringData(c[2]), unsafe.StringData(c[1]) == unsafe.StringData(c[2])
				if c[0] != "" && g != w {
					t.Fatalf("trial %d: kept %q from the row %v, plain path %v", trial, c[0], g, w)
				}
			}
		}
		for _, c := range [][2]string{{got.RowKey, e.RowKey}, {got.Text, e.Text}} {
			if c[0] != "" && i < 0 && (unsafe.StringData(c[0]) == unsafe.StringData(c[1])) != packedEntity(e) {
				t.Fatalf("trial %d: %q kept as given %v, packed %v", trial, c[0], unsafe.StringData(c[0]) == unsafe.StringData(c[1]), packedEntity(e))
			}
		}
	}
}
