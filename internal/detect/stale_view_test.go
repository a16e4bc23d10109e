package detect_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// conflictCount counts the conflicts a store's Apply returns.
type conflictCount struct {
	state.Store
	n atomic.Int64
}

func (s *conflictCount) Apply(ctx context.Context, table string, ops []state.Op) error {
	err := s.Store.Apply(ctx, table, ops)
	if errors.Is(err, state.ErrConflict) {
		s.n.Add(1)
	}
	return err
}

// TestThresholdTwoTableInstancesStaleViews: two instances, each with its
// own Table store (so its own cache of partitions) on one Azurite table,
// take turns adding to one threshold group. Each answers its reads from
// its view of the window partition, which the other's writes made stale:
// the transaction must fail on the partition's version row, and the kind
// read the partition again, so that each sum counts the other writer's
// latest row. With a stale view believed, the last batch would sum its
// own row alone (5: the other's row is not in its view, so not even the
// second look after the write reads it) and raise nothing.
func TestThresholdTwoTableInstancesStaleViews(t *testing.T) {
	rule, err := detect.ParseRule("c.yml", []byte(fmt.Sprintf(sprayHead, "count", 4)+
		"correlation:\n  type: event_count\n  group-by: [actor.ip]\n  timespan: 1h\n  condition: {gte: 8}\n"))
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("v%d", time.Now().UnixNano()%1e9)
	instance := func() (*detect.Engine, *conflictCount, state.Store) {
		table, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &conflictCount{Store: renamed{Store: table, prefix: prefix}}
		e, err := detect.NewEngine([]*detect.Rule{rule}, detect.WithStore(c))
		if err != nil {
			t.Fatal(err)
		}
		return e, c, table
	}
	a, ca, ta := instance()
	b, cb, tb := instance()

	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	n := 0
	batch := func(partition, seq, size int) []*event.Event {
		evs := make([]*event.Event, size)
		for i := range evs {
			n++
			evs[i] = &event.Event{Source: "signinlogs", Time: t0.Add(time.Duration(n) * time.Second),
				ResultCode: "50126", Actor: event.Actor{IP: "45.137.21.9", UPN: fmt.Sprintf("user%d@contoso.com", n)},
				Raw: []byte(fmt.Sprintf(`{"n":%d}`, n)),
				Pos: event.Position{Writer: fmt.Sprintf("eventhub://ns/hub/%d", partition), Seq: int64(seq), Index: i}}
		}
		return evs
	}
	ctx := t.Context()
	steps := []struct {
		who      *detect.Engine
		store    state.Store
		events   []*event.Event
		matches  int
		conflict bool // the instance's view is stale (or wrongly assumed empty): its first write conflicts
	}{
		{a, ta, batch(1, 0, 1), 0, false}, // a: 1; the first writer, the partition assumed empty, rightly
		{b, tb, batch(2, 0, 3), 0, true},  // b: 3; assumed empty too, wrongly: read after the conflict (a's row in it)
		{a, ta, batch(1, 1, 4), 1, true},  // a: 5; its view lacks b's row: 5+3 = 8 only if read again
	}
	for i, s := range steps {
		beforeA, beforeB := ca.n.Load(), cb.n.Load()
		ops := s.store.Ops()
		m, err := s.who.Evaluate(ctx, s.events)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if len(m) != s.matches {
			t.Fatalf("step %d: %d matches, want %d", i, len(m), s.matches)
		}
		if s.matches > 0 && m[0].Count != 8 {
			t.Errorf("step %d: count %d, want 8", i, m[0].Count)
		}
		got := ca.n.Load() - beforeA + cb.n.Load() - beforeB
		if s.conflict != (got > 0) {
			t.Errorf("step %d: %d conflicts, want a conflict: %v", i, got, s.conflict)
		}
		t.Logf("step %d: %d round trips, %d conflicts", i, s.store.Ops()-ops, got)
	}
	window := t0.Truncate(time.Hour)
	if got, err := detect.ThresholdCount(ctx, renamed{Store: ta, prefix: prefix}, rule.ID, window, "45.137.21.9"); err != nil || got != 8 {
		t.Errorf("stored count %d (%v), want 8", got, err)
	}
}
