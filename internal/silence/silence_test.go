package silence

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

func TestSilentSourceAlertsOnce(t *testing.T) {
	ctx := context.Background()
	store := state.NewMemory()
	tr, err := New(store, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	kv := Key{Source: "keyvault", Subscription: "3b8e6f21-9a4c-4d7e-b5f2-8c1a0e9d6b47"}
	signin := Key{Source: "signinlogs"}
	if err := tr.Seen(ctx, t0, []Key{kv, signin, kv}); err != nil {
		t.Fatal(err)
	}
	if a, err := tr.Check(ctx, t0.Add(5*time.Hour)); err != nil || len(a) != 0 {
		t.Fatalf("after 5h: %d alerts, %v", len(a), err)
	}
	// Sign-ins keep flowing; the vault's logs stop.
	for h := 1; h <= 8; h++ {
		if err := tr.Seen(ctx, t0.Add(time.Duration(h)*time.Hour), []Key{signin}); err != nil {
			t.Fatal(err)
		}
	}
	a1, err := tr.Check(ctx, t0.Add(7*time.Hour))
	if err != nil || len(a1) != 1 {
		t.Fatalf("after 7h: %d alerts, %v", len(a1), err)
	}
	if a1[0].RuleID != RuleID || !strings.Contains(a1[0].Summary, "keyvault") || !strings.Contains(a1[0].Summary, kv.Subscription) {
		t.Errorf("alert %+v", a1[0])
	}
	a2, _ := tr.Check(ctx, t0.Add(8*time.Hour))
	if len(a2) != 1 || a2[0].ID != a1[0].ID {
		t.Errorf("a later check must raise the same alert id: %v", a2)
	}
	// Records arrive again: no alert.
	if err := tr.Seen(ctx, t0.Add(9*time.Hour), []Key{kv}); err != nil {
		t.Fatal(err)
	}
	if a, _ := tr.Check(ctx, t0.Add(10*time.Hour)); len(a) != 0 {
		t.Errorf("after records resumed: %d alerts", len(a))
	}
	if _, err := New(store, 0); err == nil {
		t.Error("zero duration accepted")
	}
}

// TestObserveIsSeenThenCheck: a batch's Observe raises what Seen then
// Check would, from one read of the partition.
func TestObserveIsSeenThenCheck(t *testing.T) {
	ctx := context.Background()
	seen, observed := state.NewMemory(), state.NewMemory()
	a, err := New(seen, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(observed, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	kv := Key{Source: "keyvault", Subscription: "3b8e6f21-9a4c-4d7e-b5f2-8c1a0e9d6b47"}
	signin := Key{Source: "signinlogs"}
	batches := [][]Key{{kv, signin, kv}, {signin}, {signin}, {signin}, {kv}, {}}
	for h, keys := range batches {
		now := t0.Add(time.Duration(4*h) * time.Hour)
		if err := a.Seen(ctx, now, keys); err != nil {
			t.Fatal(err)
		}
		want, err := a.Check(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Observe(ctx, now, keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("batch %d: Observe raised %d alerts, Seen and Check %d", h, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Errorf("batch %d: alert %d is %s, want %s", h, i, got[i].ID, want[i].ID)
			}
		}
		if h == 3 && len(got) != 1 {
			t.Errorf("batch %d: %d alerts, want the vault's silence", h, len(got))
		}
	}
}

// TestObserveIgnoresKeyOrder: a batch's keys in any order (duplicates
// included) write the same arrivals and raise the same alerts.
func TestObserveIgnoresKeyOrder(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	keys := []Key{{Source: "signinlogs"}, {Source: "keyvault", Subscription: "s1"}, {Source: "activitylogs", Subscription: "s2"},
		{Source: "keyvault", Subscription: "s1"}, {Source: "activitylogs", Subscription: "S2"}}
	run := func(order []Key) ([]string, []state.Entity) {
		store := state.NewMemory()
		tr, err := New(store, 6*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Observe(ctx, t0, order); err != nil {
			t.Fatal(err)
		}
		// Only the sign-ins go on: the others fall silent.
		a, err := tr.Observe(ctx, t0.Add(7*time.Hour), []Key{{Source: "signinlogs"}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, al := range a {
			ids = append(ids, al.ID+" "+al.Summary)
		}
		ents, err := store.List(ctx, Table, Partition, "")
		if err != nil {
			t.Fatal(err)
		}
		return ids, ents
	}
	wantIDs, wantEnts := run(keys)
	if len(wantIDs) != 3 {
		t.Fatalf("%d alerts, want 3 (the three silent flows): %q", len(wantIDs), wantIDs)
	}
	reversed := make([]Key, len(keys))
	for i, k := range keys {
		reversed[len(keys)-1-i] = k
	}
	ids, ents := run(reversed)
	if strings.Join(ids, "\n") != strings.Join(wantIDs, "\n") {
		t.Errorf("keys reversed: alerts\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(wantIDs, "\n"))
	}
	if len(ents) != len(wantEnts) {
		t.Fatalf("keys reversed: %d arrivals, want %d", len(ents), len(wantEnts))
	}
	for i := range ents {
		if ents[i].RowKey != wantEnts[i].RowKey || ents[i].Text != wantEnts[i].Text || !ents[i].Time.Equal(wantEnts[i].Time) {
			t.Errorf("keys reversed: arrival %d %+v, want %+v", i, ents[i], wantEnts[i])
		}
	}
}
