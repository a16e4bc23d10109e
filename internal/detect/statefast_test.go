package detect

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// TestExpiresAsTwoAdds: expires (the later of end and now, plus keep: one
// Add) gives the instant and location of the plain form it replaced, the
// later of end+keep and now+keep, for times on either side, equal, zero,
// far apart, with and without a monotonic reading, and keeps of any sign.
func TestExpiresAsTwoAdds(t *testing.T) {
	plain := func(now, end time.Time, keep time.Duration) time.Time {
		e := end.Add(keep)
		if floor := now.Add(keep); floor.After(e) {
			e = floor
		}
		return e.UTC()
	}
	rng := rand.New(rand.NewPCG(12, 34))
	base0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	wall := time.Now() // carries a monotonic reading
	pick := func() time.Time {
		switch rng.IntN(7) {
		case 0:
			return time.Time{}
		case 1:
			return wall
		case 2:
			return wall.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		case 3:
			return time.Date(1+rng.IntN(9999), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), 0, 0, rng.IntN(1e9), time.FixedZone("x", 3600*(rng.IntN(25)-12)))
		default:
			return base0.Add(time.Duration(rng.Int64N(int64(2000*time.Hour))) - 1000*time.Hour)
		}
	}
	keeps := []time.Duration{0, time.Nanosecond, time.Second, time.Hour, 24 * time.Hour, 90 * 24 * time.Hour, -time.Hour}
	for i := range 20000 {
		now, end := pick(), pick()
		if i%5 == 0 {
			end = now // equal
		}
		keep := keeps[rng.IntN(len(keeps))]
		if rng.IntN(4) == 0 {
			keep = time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))
		}
		b := &base{now: func() time.Time { return now }}
		got, want := b.expires(end, keep), plain(now, end, keep)
		if !got.Equal(want) || got.Location() != want.Location() || got.String() != want.String() {
			t.Fatalf("expires(end %v, keep %v) at now %v = %v, want %v", end, keep, now, got, want)
		}
		if got, want := b.expiry(end, keep), state.StampOf(plain(now, end, keep)); got != want {
			t.Fatalf("expiry(end %v, keep %v) at now %v = %v, want the stamp of %v, %v", end, keep, now, got, plain(now, end, keep), want)
		}
	}
}

// TestNameOrderRemembered: the orders an arena remembers (the list last
// met looked at first, names told alike by identity or bytes) are the
// orders worked out afresh, for lists met again, permuted, of one length
// with other names, and of the same names in new strings.
func TestNameOrderRemembered(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pool := []string{"a", "b", "appId", "appDisplayName", "zz", "\x00", "é", "ip", "id", "b\x00", "aa"}
	var lists [][]string
	for range 12 {
		n := 1 + rng.IntN(maxSnapshotExtra)
		perm := rng.Perm(len(pool))
		var l []string
		for _, p := range perm[:min(n, len(pool))] {
			l = append(l, pool[p])
		}
		lists = append(lists, l)
	}
	// Lists alike but for names of the same lengths in other places.
	lists = append(lists, []string{"id", "ip", "zz", "a"}, []string{"ip", "id", "zz", "a"}, []string{"zz", "id", "ip", "b"})
	var arena snapArena
	for i := range 3000 {
		l := lists[rng.IntN(len(lists))]
		if i%3 == 0 {
			l = lists[len(lists)-1-(i/3)%3] // the alike lists in turn
		}
		var ev event.Event
		for _, name := range l {
			if rng.IntN(2) == 0 {
				name = string([]byte(name)) // the same name in other bytes
			}
			ev.Set(name, "v")
		}
		var b1, b2 [maxSnapshotExtra]uint8
		got := arena.nameOrder(ev.Extra, b1[:])
		want := (*snapArena)(nil).nameOrder(ev.Extra, b2[:])
		if !slices.Equal(got, want) {
			t.Fatalf("list %q: order %v, want %v", l, got, want)
		}
	}
}

// TestHasUpperAsBytes: hasUpper, eight bytes at a time, is the byte loop
// (a byte of 'A'..'Z' or of 0x80 and above) on every length around the
// word, each byte value at each place, invalid UTF-8 and long values.
func TestHasUpperAsBytes(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
				return true
			}
		}
		return false
	}
	for n := range 20 {
		base := []byte(strings.Repeat("a0@[`{z~", 3)[:n])
		if plain(string(base)) || hasUpper(string(base)) {
			t.Fatalf("%q: upper", base)
		}
		for at := range n {
			for c := range 256 {
				b := slices.Clone(base)
				b[at] = byte(c)
				if got, want := hasUpper(string(b)), plain(string(b)); got != want {
					t.Fatalf("%q: %v, want %v", b, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			switch rng.IntN(10) {
			case 0:
				b[i] = byte(rng.IntN(256))
			default:
				b[i] = "abcxyz019@.-_[]`{}"[rng.IntN(18)]
			}
		}
		if got, want := hasUpper(string(b)), plain(string(b)); got != want {
			t.Fatalf("%q: %v, want %v", b, got, want)
		}
	}
}
