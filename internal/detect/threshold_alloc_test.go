package detect

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// TestThresholdCallAllocations bounds a threshold call's allocations in
// the steady state: 200 events of 20 groups in one window, counted again
// each run (new positions), every row written. The call's windows,
// buckets, rows and their state reuse a former call's room
// (thresholdScratch), its for-update context is derived once: 81 (the
// engine's and the memory store's included) at h9-alloc's head, 53 since.
func TestThresholdCallAllocations(t *testing.T) {
	r := kindRule(t, 43, `correlation:
  type: event_count
  group-by: [actor.upn]
  timespan: 10m
  condition: {gte: 1000000}
`)
	n := callAllocations(t, r)
	if n > 50 {
		t.Errorf("a threshold call of 200 events in 20 groups allocates %.1f times, want at most 50", n)
	}
}

// TestSpikeCallAllocations bounds a spike call's allocations in the
// steady state, as TestThresholdCallAllocations: its maps reuse a former
// call's (spikeScratches), a writer's first-seen row key is built once:
// 462 at h9-alloc's head (the memory store's included), 387 since.
func TestSpikeCallAllocations(t *testing.T) {
	r := kindRule(t, 44, "correlation:\n  type: spike\n  group-by: [actor.upn]\n  timespan: 1h\n  baseline: 4\n  min_history: 2\n  factor: 3\n  condition: {gte: 1000000}\n")
	n := callAllocations(t, r)
	if n > 420 {
		t.Errorf("a spike call of 200 events in 20 groups allocates %.1f times, want at most 420", n)
	}
}

// callAllocations is the allocations of one steady-state call of r's
// engine (memory store): 200 sign-ins of 20 users in one window,
// evaluated again each run at new positions, after a first call.
func callAllocations(t *testing.T, r *Rule) float64 {
	t.Helper()
	e := newKindEngine(t, r, state.NewMemory())
	var evs []*event.Event
	for i := range 200 {
		ev := signIn(fmt.Sprintf("e%d", i), fmt.Sprintf("u%d@x", i%20), "10.0.0.1", "0", "", t0.Add(time.Duration(i)*time.Second))
		ev.Pos = event.Position{Writer: "w1", Seq: int64(i + 1)}
		evs = append(evs, ev)
	}
	ctx := context.Background()
	run := func() {
		for _, ev := range evs {
			ev.Pos.Seq += int64(len(evs))
		}
		if _, err := e.Evaluate(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	run()
	n := testing.AllocsPerRun(20, run)
	t.Logf("%.1f allocations a call", n)
	return n
}
