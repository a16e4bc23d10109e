package alert

import (
	"context"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

func TestStoreSuppressor(t *testing.T) {
	ctx := context.Background()
	store := state.NewMemory()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	a := Alert{ID: "a1", RuleID: "r1", Title: "one", FirstSeen: now, LastSeen: now}
	b := Alert{ID: "b1", RuleID: "r2", Title: "two"}
	dup := a
	dup.LastSeen = now.Add(time.Minute)

	// Two instances share the store.
	one, two := NewStoreSuppressor(store, time.Hour), NewStoreSuppressor(store, time.Hour)
	fresh, err := one.Fresh(ctx, now, []Alert{a, b, dup})
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != 2 || !fresh[0].LastSeen.Equal(dup.LastSeen) {
		t.Fatalf("fresh = %+v, want a (merged with its duplicate) and b", fresh)
	}
	if err := one.Mark(ctx, now, fresh); err != nil {
		t.Fatal(err)
	}
	if again, _ := two.Fresh(ctx, now.Add(30*time.Minute), []Alert{a, b}); len(again) != 0 {
		t.Fatalf("the other instance sent again: %+v", again)
	}
	if later, _ := two.Fresh(ctx, now.Add(2*time.Hour), []Alert{a}); len(later) != 1 {
		t.Fatalf("after the window the alert is sent again: %+v", later)
	}
	// Suppression entities expire with the window, for the maintenance sweep.
	if n, err := store.Sweep(ctx, SuppressionTable, now.Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
}
