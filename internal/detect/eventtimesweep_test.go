package detect

import (
	"context"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

// TestEventTimeSweepExpiresWindowsAtTheirEnd: with WithEventTimeSweep (scan)
// a threshold window's entities expire at the window's end, so a sweep
// just past it leaves none of them, and the next window counts alone;
// without it they stay a window longer (serve's margin for late batches).
func TestEventTimeSweepExpiresWindowsAtTheirEnd(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		opts []Option
		keep time.Duration
	}{
		{"serve", nil, 10 * time.Minute},
		{"scan", []Option{WithEventTimeSweep()}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := state.NewMemory()
			rec := &recorder{Store: store}
			e, err := NewEngine([]*Rule{kindRule(t, 30, countRule)}, append(c.opts, WithStore(rec), WithClock(fixedClock))...)
			if err != nil {
				t.Fatal(err)
			}
			eval(t, e, signIn("a", "u@x", "", "50126", "", t0), signIn("b", "u@x", "", "50126", "", t0.Add(time.Minute)))
			if len(rec.ops) == 0 {
				t.Fatal("nothing written")
			}
			end := t0.Add(10 * time.Minute) // countRule's window of 10m
			for _, op := range rec.ops {
				if want := end.Add(c.keep); !op.Entity.Expires.Time().Equal(want) {
					t.Errorf("%s/%s expires %v, want %v", op.Entity.PartitionKey, op.Entity.RowKey, op.Entity.Expires.Time(), want)
				}
			}
			n, err := store.Sweep(ctx, StateTable, end.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if gone := c.keep == 0; (n > 0) != gone {
				t.Errorf("a sweep a second after the window's end deleted %d entities", n)
			}
			// The next window is counted on its own either way.
			ms := eval(t, e, signIn("c", "u@x", "", "50126", "", end.Add(time.Minute)), signIn("d", "u@x", "", "50126", "", end.Add(2*time.Minute)))
			if len(ms) != 0 {
				t.Fatalf("two events of the next window raised %+v", ms)
			}
		})
	}
}
