package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

// TestKeyArenaBuildsTheSameKeys: the arena's keys are those the state
// package's functions build, for safe, escaped and over-long values, and a
// key stays as it was built while later ones fill and replace the chunks.
func TestKeyArenaBuildsTheSameKeys(t *testing.T) {
	values := []string{"", "alice@contoso.com", "10.0.0.1|bob@x", "/subscriptions/S/resourceGroups/rg",
		strings.Repeat("é/", 200), strings.Repeat("a", state.MaxKeyLen+1), strings.Repeat("a", state.MaxKeyLen)}
	writers := []string{"", state.Escape("eventhub://ns/hub/0"), "file"}
	window := time.Date(2026, 11, 20, 9, 30, 0, 0, time.FixedZone("x", 3600))
	var a keyArena
	type built struct{ got, want string }
	var all []built
	for round := 0; round < 200; round++ { // past several chunks
		for _, v := range values {
			for _, w := range writers {
				row, prefix := a.groupRow(v, w)
				wantPrefix := state.Escape(v) + "|"
				all = append(all, built{row, wantPrefix + w}, built{prefix, wantPrefix})
				all = append(all, built{a.joinKey(v, w, "x"), state.JoinKey(v, w, "x")})
				row, prefix = a.spikeRow(window, w)
				all = append(all, built{row, state.TimeKey(window) + "|" + w}, built{prefix, state.TimeKey(window) + "|"})
			}
		}
	}
	for i, b := range all {
		if b.got != b.want {
			t.Fatalf("key %d: %q, want %q", i, b.got, b.want)
		}
	}
	if r, p := groupRow("a b", "w"); r != "a!20b|w" || p != "a!20b|" {
		t.Errorf("groupRow: %q %q", r, p)
	}
}

// appendTimeKey writes what state.TimeKey writes, whatever the zone, year
// or fraction; spikePrefix is spikeRow's prefix.
func FuzzAppendTimeKey(f *testing.F) {
	for _, c := range []struct{ sec, nsec int64 }{{0, 0}, {1795161600, 291000000}, {-62135596800, 0}, {-62135596801, 999999999},
		{253402300799, 999999999}, {253402300800, 0}, {-1 << 40, 5}, {1 << 40, 7}, {951782400, 0}} {
		f.Add(c.sec, c.nsec, int32(0))
	}
	f.Add(int64(1795161600), int64(0), int32(-5*3600-1800))
	var a keyArena
	f.Fuzz(func(t *testing.T, sec, nsec int64, zone int32) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", int(zone%(26*3600))))
		want := state.TimeKey(tm)
		if got := string(appendTimeKey([]byte("p|"), tm)); got != "p|"+want {
			t.Fatalf("%v: %q, want %q", tm, got, "p|"+want)
		}
		if _, p := a.spikeRow(tm, "w"); a.spikePrefix(tm) != p {
			t.Fatalf("%v: spikePrefix %q, want %q", tm, a.spikePrefix(tm), p)
		}
	})
}
