package main

import (
	"context"
	"fmt"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// Scan's in-memory state is swept by event time as the scan goes, so that
// its memory follows the time its records span at once (the rules'
// windows and lookbacks), not the size of the input: the stateful kinds
// give each entity an expiry in event time (the window's end plus what
// the kind keeps after it; no wall-clock floor, which only matters to a
// batch redelivered to serve; a threshold window at its end, not a window
// later: detect.WithEventTimeSweep), and every sweepEveryChunks chunks the
// entities past the low watermark are deleted.
//
// The low watermark is the earliest event time of the chunk just
// evaluated, less sweepSlack: every record of that chunk is at or after
// it, so a record dated in the future (anyone's to write) cannot sweep
// what the records around it still need, and a chunk holding an old
// record only sweeps less. Records older than the watermark that come
// later (a later file from an earlier day) find what had expired before
// them gone, as serve's records do after its timer's sweep; within one
// time-ordered input the results are those of a scan that never sweeps.
const sweepSlack = 15 * time.Minute

// sweepEveryChunks is how often scan sweeps (a sweep walks every entity);
// a variable for the test that sweeps after every chunk.
var sweepEveryChunks = 8

// onSweep, when set (tests), hears how many entities each sweep deleted.
var onSweep func(n int)

// eventTimeSweeper is the pipeline's AfterChunk for a scan on memory state.
type eventTimeSweeper struct {
	store *state.Memory
	swept int
}

// scanStateOptions returns the engine options and the chunk hook of a
// scan on store: event-time expiry and sweeps for the in-memory store,
// nothing for Table state (swept by serve's timer).
func scanStateOptions(store state.Store) ([]detect.Option, *eventTimeSweeper) {
	m, ok := store.(*state.Memory)
	if !ok {
		return nil, nil
	}
	return []detect.Option{detect.WithClock(func() time.Time { return time.Time{} }), detect.WithEventTimeSweep()}, &eventTimeSweeper{store: m}
}

// sweeps says whether afterChunk sweeps after chunk n: the pipeline's
// AfterChunkChanges (the rules of the chunks after it wait for the sweep).
func (s *eventTimeSweeper) sweeps(n int) bool { return n%sweepEveryChunks == 0 }

func (s *eventTimeSweeper) afterChunk(ctx context.Context, n int, events []*event.Event) error {
	if !s.sweeps(n) {
		return nil
	}
	var low time.Time
	for _, ev := range events {
		if !ev.Time.IsZero() && (low.IsZero() || ev.Time.Before(low)) {
			low = ev.Time
		}
	}
	if low.IsZero() {
		return nil
	}
	n, err := s.store.Sweep(ctx, detect.StateTable, low.Add(-sweepSlack))
	if err != nil {
		return fmt.Errorf("sweep scan state: %w", err)
	}
	s.swept += n
	if onSweep != nil {
		onSweep(n)
	}
	return nil
}
