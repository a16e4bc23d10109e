package pipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/azdetect/azdetect/internal/detect"
)

// The evaluating stage: the chunks of every unit, in order, through the
// rules, then their alerts delivered, in order.
//
// A stateful rule's state is its own (detect.Engine.Stage), so what it
// raises for a chunk depends on the chunks before that it saw, not on
// when the other rules evaluate: each rule takes the chunks one after
// another, but need not wait for the others to finish a chunk before it
// starts the next. One goroutine stages the chunks (the rules that keep
// no state run there) and starts each stateful rule's part of a chunk
// once the same rule's part of the chunk before returned; another takes
// each chunk's matches once all its parts returned, in rule order, and
// delivers them (evaluator.do). What one goroutine evaluating chunk after
// chunk would raise, the same alerts in the same order; but while the
// last rule of a chunk finishes, or a chunk's alerts go out, the rules of
// the next chunk, when it is there, go on. (bench-parallel's folder on
// two cores, `go tool trace`: the share of the run with fewer than two
// goroutines ready 3-7 % before, 2-6 % after; with the in-memory store's
// partitions under locks of their own 1-3 %.)
//
// AfterChunk may change the state (scan's sweep): the rules of the chunk
// after one whose AfterChunk may (Options.AfterChunkChanges) start once
// it returned. A unit whose evaluation failed skips the rest of its
// chunks, as before; the rules of its next chunk may have started by
// then (its alerts are never delivered).

// maxRulesAtOnce bounds the stateful rules' parts evaluating at once,
// across chunks (each holds a few storage round trips in flight).
const maxRulesAtOnce = 8

// staged is a chunk on its way through the evaluating stage, or other
// work handed on in order (dead letters, a unit's end).
type staged struct {
	w   work
	n   int            // the chunk's number, from 1 (0: no events)
	s   *detect.Staged // the rules' parts, started
	err error          // what staging the chunk failed with
	// parts is done once every part of the chunk returned; finished is
	// closed once its alerts were delivered and AfterChunk returned.
	parts    sync.WaitGroup
	finished chan struct{}
}

// evaluate does the work handed on, unit after unit, in order, until the
// queue is closed: it stages each chunk and starts its rules here, and
// finishes the chunks in order on another goroutine. A unit whose
// evaluation failed, or whose context was cancelled, skips the rest of
// its work; its reading is cancelled.
func (p *Pipeline) evaluate(queue <-chan work) {
	// Unbuffered: one chunk is staged, its rules going, while the one
	// before is finished.
	out := make(chan *staged)
	finished := make(chan struct{})
	go func() {
		growStack()
		defer close(finished)
		for st := range out {
			finish(st)
		}
	}()
	defer func() {
		close(out)
		<-finished
	}()
	// One goroutine a stateful rule, for the stage's life, takes the
	// rule's parts chunk after chunk (a goroutine and a channel a part and
	// chunk were 0.2 allocations a record: make bench).
	lanes := make([]chan *staged, len(p.opts.Engine.Rules()))
	var running sync.WaitGroup
	defer func() {
		for _, lane := range lanes {
			if lane != nil {
				close(lane)
			}
		}
		running.Wait()
	}()
	sem := make(chan struct{}, maxRulesAtOnce)
	n := 0
	for w := range queue {
		st := &staged{w: w, finished: make(chan struct{})}
		if w.end == nil && len(w.events) > 0 && w.e.ctx.Err() == nil {
			n++
			st.n = n
			st.err = w.e.safely(func() error {
				s, err := p.opts.Engine.Stage(w.e.ctx, w.events, w.verdicts)
				if err != nil {
					return err
				}
				st.s = s
				for _, i := range s.Stateful() {
					if lanes[i] == nil {
						lanes[i] = make(chan *staged, laneDepth)
						running.Add(1)
						go func() {
							growStack()
							defer running.Done()
							runLane(lanes[i], i, sem)
						}()
					}
					st.parts.Add(1)
					lanes[i] <- st
				}
				s.Stateless()
				return nil
			})
		}
		out <- st
		if st.n > 0 && p.opts.AfterChunk != nil && (p.opts.AfterChunkChanges == nil || p.opts.AfterChunkChanges(st.n)) {
			<-st.finished
		}
	}
}

// laneDepth is how many chunks a stateful rule's lane holds before the
// stage waits for it: the stage runs at most two chunks ahead of the one
// being delivered (out is unbuffered), so it never waits there.
const laneDepth = 4

// runLane evaluates stateful rule i's part of each chunk the lane hands
// it, in the order handed (the rule's state sees its chunks in order),
// at most maxRulesAtOnce parts at once across rules (sem), until the lane
// is closed. A part of a unit that failed is skipped.
func runLane(lane <-chan *staged, i int, sem chan struct{}) {
	for st := range lane {
		if st.w.e.ctx.Err() == nil {
			sem <- struct{}{}
			st.s.Run(i)
			<-sem
		}
		st.parts.Done()
	}
}

// finish delivers what the rules of a chunk raised, or ends a unit.
func finish(st *staged) {
	defer close(st.finished)
	st.parts.Wait()
	w := st.w
	e := w.e
	if e.err == nil && e.ctx.Err() != nil {
		e.err = context.Cause(e.ctx)
	}
	if w.end != nil {
		e.addTo(w.end)
		if e.err == nil && !w.readFailed && e.p.opts.Silence != nil {
			e.err = e.safely(func() error { return e.silence(w.end) })
		}
		close(e.finished)
		return
	}
	if e.err != nil {
		return
	}
	if e.err = e.safely(func() error { return e.do(st) }); e.err != nil {
		e.cancel(e.err)
	}
	e.p.putChunk(w)
}

// errNotStaged is do's error for a chunk with events but no parts (never:
// a chunk is not staged only when its unit's context was done).
var errNotStaged = errors.New("pipeline: chunk not staged")
