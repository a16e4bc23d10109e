package alert

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAtLeastAgreesWithAFilter: atLeast keeps exactly the alerts a plain
// filter keeps, in order, for every threshold and lists of every mix of
// severities (the first one under the threshold first, last, in the
// middle, none, all, odd severities); when every alert passes it hands
// the list itself back (no copy), otherwise a copy that never writes
// the list given.
func TestAtLeastAgreesWithAFilter(t *testing.T) {
	sevs := append(Severities(), "", "bogus")
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 400; n++ {
		alerts := make([]Alert, rng.IntN(9))
		for i := range alerts {
			alerts[i] = Alert{ID: fmt.Sprint(i), Severity: sevs[rng.IntN(len(sevs))]}
		}
		orig := append([]Alert(nil), alerts...)
		for _, least := range Severities() {
			var want []Alert
			for _, a := range alerts {
				if AtLeast(a.Severity, least) {
					want = append(want, a)
				}
			}
			got := atLeast(alerts, least)
			if len(got) != len(want) {
				t.Fatalf("%v at least %s: %d kept, want %d", alerts, least, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID {
					t.Fatalf("%v at least %s: kept %d is %s, want %s", alerts, least, i, got[i].ID, want[i].ID)
				}
			}
			if len(want) == len(alerts) && len(alerts) > 0 && &got[0] != &alerts[0] {
				t.Errorf("%v at least %s: every alert kept, but copied", alerts, least)
			}
			for i := range alerts {
				if alerts[i].ID != orig[i].ID || alerts[i].Severity != orig[i].Severity {
					t.Fatalf("at least %s wrote the list given", least)
				}
			}
		}
	}
}

// TestDeduperFreshKeepsOrderAndMerges: Fresh's list, made at the first
// alert kept with room for the rest, holds the alerts not seen nor
// claimed, in order, duplicates merged into the first (merge), whatever comes
// first (seen ones, claimed ones, duplicates); nothing fresh is an empty
// list, not nil, for a list given.
func TestDeduperFreshKeepsOrderAndMerges(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	d := NewDeduper(time.Hour, 100)
	d.Mark(now, []Alert{{ID: "seen"}})
	d.Fresh(now, []Alert{{ID: "claimed"}})
	got := d.Fresh(now, []Alert{{ID: "seen"}, {ID: "claimed"}, {ID: "a", Count: 1}, {ID: "b", Count: 1}, {ID: "a", Count: 2}, {ID: "seen"}, {ID: "c", Count: 1}})
	var ids []string
	for _, a := range got {
		ids = append(ids, fmt.Sprint(a.ID, ":", a.Count))
	}
	// merge's count: the later duplicate's, at least (merge decides).
	if fmt.Sprint(ids) != "[a:2 b:1 c:1]" {
		t.Errorf("fresh: %v, want [a:2 b:1 c:1]", ids)
	}
	if got := d.Fresh(now, []Alert{{ID: "seen"}, {ID: "a"}}); got == nil || len(got) != 0 {
		t.Errorf("nothing fresh: %#v, want an empty list", got)
	}
}
