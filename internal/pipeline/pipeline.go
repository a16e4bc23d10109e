// Package pipeline is the one data path under both serve and scan: frame
// the records of each input, recognise and parse them, evaluate the rules,
// deduplicate and publish the alerts, keep the malformed records.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/coverage"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/silence"
	"github.com/azdetect/azdetect/internal/source"
)

// chunk is how many parsed events are evaluated together: large enough to
// amortise per-batch work, small enough that a huge file is never held in
// memory whole. chunkBytes bounds the same by the events' raw bytes (a few
// records of many megabytes each).
const (
	chunk      = 2048
	chunkBytes = 16 << 20
)

// queuedChunks is how many chunks gathered may wait for the evaluating
// goroutine: one, so that the workers go on framing and parsing the next
// while a chunk waits and the one before is evaluated. Unbuffered (one
// chunk gathered, then the ordered goroutine waiting to hand it on, the
// workers soon after), two cores ran fewer than two goroutines for a
// fifth of a scan of a folder, the workers waiting while the last rules
// of a chunk finished (bench-parallel's folder under `go tool trace`:
// 19-25 %; with one 11-24 %, two or three no fewer than one).
const queuedChunks = 1

// derivedEventBytes is what an event without a raw record of its own (a
// flow tuple's: it writes one only when asked) counts towards chunkBytes:
// about the memory the event holds.
const derivedEventBytes = 1 << 10

// Dead letters go to the sink as they are read, a few at a time: at most
// deadBatch of them, or deadBatchBytes of their bytes, wait in memory.
const (
	deadBatch      = 256
	deadBatchBytes = 4 << 20
)

// MaxListed is how many dead letters a Report lists (for the invocation's
// log); all of them went to the dead-letter sink, and the Report counts
// them all.
const MaxListed = 100

// Options are the parts a Pipeline runs on; all are built by the caller.
type Options struct {
	Registry    *source.Registry
	Engine      *detect.Engine
	Sink        alert.Sink        // where alerts go; required
	DeadLetters alert.DeadLetters // where malformed records go; required
	Deduper     *alert.Deduper    // optional: drops alerts already delivered
	// Suppressor, when set, replaces Deduper: alert suppression kept in a
	// store shared by every instance (Table Storage).
	Suppressor alert.Suppressor
	Now        func() time.Time // optional: clock for dedupe
	// Silence, when set, records which sources arrived in each batch and
	// raises an alert for those silent too long (AZDETECT_SILENCE_AFTER).
	Silence *silence.Tracker
	// BatchLogLevel is the level of the one log line per batch: info for
	// the handler (zero value), debug for scan, where a summary ends the run.
	BatchLogLevel zerolog.Level
	// OmitAlerts leaves Report.Alerts empty (Report.AlertCount still counts
	// them): scan, whose inputs may raise more alerts than fit in memory,
	// reads them from its sink.
	OmitAlerts bool
	// Workers is how many goroutines frame, parse and select records at
	// once: 0 or 1, the goroutine that counts them, each input
	// framed whole, as it goes; -1, GOMAXPROCS. What the rules see, and
	// so the alerts, dead letters and Report, do not depend on it.
	Workers int
	// AfterChunk, when set, is called with each chunk's events and the
	// chunk's number n (from 1 in each Run or RunEach) once they are
	// evaluated and their alerts delivered, in order, on the goroutine
	// that delivers them: scan sweeps its in-memory state by event time
	// there. An error fails the run.
	AfterChunk func(ctx context.Context, n int, events []*event.Event) error
	// AfterChunkChanges, when set, says whether AfterChunk of chunk n may
	// change what the stateful kinds keep (scan sweeps after every
	// eighth): no rule evaluates a later chunk until it returned. The
	// rules of a chunk otherwise start while the chunk before is finished
	// (evaluate.go). Unset, every chunk's AfterChunk may.
	AfterChunkChanges func(n int) bool
	// ChunkEvents is how many events are evaluated together (default
	// 2,048; the records' bytes still bound a chunk to 16 MiB). Each chunk
	// costs a stateful rule a read and a write per state partition it
	// touches: serve takes an invocation as one chunk (a 1,000-record
	// Event Hub batch with flow logs is several thousand tuple events).
	ChunkEvents int
}

func (p *Pipeline) chunkEvents() int {
	if p.opts.ChunkEvents > 0 {
		return p.opts.ChunkEvents
	}
	return chunk
}

// Pipeline runs batches. It is safe for concurrent use when its parts are.
type Pipeline struct {
	opts Options
	// sieve stops the flow tuples no rule can select before they are
	// made into events (detect.Engine.FlowSieve).
	sieve *event.FlowSieve
	// chunks holds the event and record lists of chunks whose evaluation
	// finished, for the next chunks to fill again (getChunk, putChunk).
	chunks chan chunkLists
}

// chunkLists are a chunk's lists of events and of their records, and
// their verdicts.
type chunkLists struct {
	events   []*event.Event
	refs     []recordRef
	verdicts *detect.Verdicts
}

// spareChunks is how many chunks' lists wait to be filled again: a
// chunk is gathered while the one before is staged and another finished.
const spareChunks = 4

// spareMinEvents is the least room for events that lists of a chunk
// not full need to be kept (putChunk): serve's invocation is one chunk of
// a few thousand events (ChunkEvents 32,768 is more than a batch holds),
// whose lists, grown by appending, were made again for every invocation
// (0.6 MB a 1,000-record batch of BenchmarkServe's).
const spareMinEvents = 1024

// reuseChunks says whether a chunk's lists are filled again once its
// evaluation finished (off in the test that compares the alerts of a
// scan without reuse with those of one with it).
var reuseChunks = true

// getChunk returns the lists and verdicts of a finished chunk, emptied,
// or new lists with room for n events (none when n is 0: they grow) and
// no verdicts (takeVerdicts makes them). Lists kept with less room than n
// (a unit smaller than a chunk: putChunk) are left to the collector, their
// verdicts taken.
func (p *Pipeline) getChunk(n int) ([]*event.Event, []recordRef, *detect.Verdicts) {
	var v *detect.Verdicts
	select {
	case c := <-p.chunks:
		if cap(c.events) >= n && cap(c.refs) >= n {
			chunksReused.Add(1)
			return c.events, c.refs, c.verdicts
		}
		v = c.verdicts
	default:
	}
	if n == 0 {
		return nil, nil, v
	}
	return make([]*event.Event, 0, n), make([]recordRef, 0, n), v
}

// chunksReused counts the chunks whose lists were filled again (for the
// tests).
var chunksReused atomic.Int64

// putChunk gives back the lists and verdicts of w, a chunk whose
// evaluation finished (the verdicts were read by the staging, which
// copies what its parts keep of them): its rules returned, its alerts were delivered (each alert holds the
// events it names, not the list: detect.Engine.Stage gives each rule a
// list of its own) and AfterChunk returned. They are emptied first, so
// that they keep no event alive while they wait. Lists with room for
// fewer than spareMinEvents events and not for a full chunk (a few
// records' unit) are left to the collector.
func (p *Pipeline) putChunk(w work) {
	least := min(p.chunkEvents(), spareMinEvents)
	if !reuseChunks || cap(w.events) < least || cap(w.refs) < least {
		return
	}
	clear(w.events[:cap(w.events)])
	clear(w.refs[:cap(w.refs)])
	if w.verdicts != nil {
		w.verdicts.Reset()
	}
	select {
	case p.chunks <- chunkLists{w.events[:0], w.refs[:0], w.verdicts}:
	default:
	}
}

// New checks the options and returns a pipeline.
func New(opts Options) (*Pipeline, error) {
	switch {
	case opts.Registry == nil:
		return nil, errors.New("pipeline: no source registry")
	case opts.Engine == nil:
		return nil, errors.New("pipeline: no rule engine")
	case opts.Sink == nil:
		return nil, errors.New("pipeline: no alert sink")
	case opts.DeadLetters == nil:
		return nil, errors.New("pipeline: no dead-letter sink")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pipeline{opts: opts, sieve: opts.Engine.FlowSieve(), chunks: make(chan chunkLists, spareChunks)}, nil
}

// Process implements the handler's processor: one invocation is one Run.
func (p *Pipeline) Process(ctx context.Context, inputs []Input) (Report, error) {
	return p.Run(ctx, inputs)
}

// Run processes the inputs as one unit of work, streaming: records are
// evaluated a chunk at a time and each chunk's alerts delivered (after
// dedupe) before the next is read; malformed, unrecognised and rejected
// records go to the dead-letter sink as they are read. None of them fails
// the run: what a record's content causes (a parser panic, a value a
// rule's state cannot hold) is that record's alone, dead-lettered with the
// reason while the rest goes on. Only a failing dependency (a sink, the
// dead-letter sink, the state store) or a cancelled context does.
//
// The work is split so that a large input keeps every core busy while
// the rules see exactly what one goroutine reading the inputs in order
// would show them, in the same chunks. What holds no state (framing,
// parsing, the rules' conditions) is done by Options.Workers goroutines,
// each input cut in blocks of lines when there are several (parallel.go);
// one goroutine takes their results in input order, counts them, cuts the
// chunks and dead-letters what must be; another evaluates the chunks one
// after another with the stateful kinds and delivers their alerts.
func (p *Pipeline) Run(ctx context.Context, inputs []Input) (Report, error) {
	var rep Report
	var rerr error
	err := p.process(ctx, [][]Input{inputs}, false, func(_ int, r Report, err error) error {
		rep, rerr = r, err
		return err
	})
	if err != nil && rerr == nil {
		rerr = err // cancelled before the unit ended
	}
	if rerr != nil && ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, rerr
}

// RunEach runs each input as a Run of its own, one after another in
// order, calling done with each one's report and error; while one is
// evaluated, the inputs after it are already read and parsed (by
// Options.Workers goroutines). An input whose Open fails is done with an
// *OpenError and an empty report. A non-nil error from done stops
// RunEach, which returns it; so does a cancelled ctx.
func (p *Pipeline) RunEach(ctx context.Context, inputs []Input, done func(i int, rep Report, err error) error) error {
	units := make([][]Input, len(inputs))
	for i := range inputs {
		units[i] = inputs[i : i+1]
	}
	return p.process(ctx, units, true, done)
}

// OpenError is an input of RunEach that could not be opened.
type OpenError struct {
	Origin string
	Err    error
}

func (e *OpenError) Error() string { return "open " + e.Origin + ": " + e.Err.Error() }
func (e *OpenError) Unwrap() error { return e.Err }

// process runs the units one after another, each as one Run, calling done
// after each. One goroutine evaluates the chunks of every unit, in order,
// while this one reads the next: the ordered side of unit u+1 gathers its
// chunks while unit u's last are evaluated (a folder of small files is
// otherwise one chunk evaluated, then one read, in turn). Unit u is done
// (its report complete, done called) once unit u+1 is read, or at the end.
func (p *Pipeline) process(ctx context.Context, units [][]Input, each bool, done func(int, Report, error) error) error {
	labelStage(ctx, "order")
	defer pprof.SetGoroutineLabels(ctx) // the caller's again
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src := p.newFeed(pctx, units)
	defer src.stop()
	queue := make(chan work, queuedChunks)
	evaluated := make(chan struct{})
	go func() {
		growStack()
		defer close(evaluated)
		labelStage(ctx, "evaluate")
		p.evaluate(queue)
	}()
	var pending *unitRun
	var lastEnd <-chan struct{} // of the last unit read
	defer func() {
		cancel() // what was read of a unit not yet done is not evaluated
		if lastEnd != nil {
			<-lastEnd // (each unit's end waits for the one before)
		}
		close(queue)
		<-evaluated
	}()
	for u := range units {
		ur := p.read(pctx, src, u, units[u], each, queue, lastEnd)
		lastEnd = ur.endSent
		if pending != nil {
			if err := p.finish(ctx, pending, done); err != nil {
				return err
			}
		}
		pending = ur
	}
	if pending != nil {
		return p.finish(ctx, pending, done)
	}
	return nil
}

// unitRun is a unit read, its evaluation handed on.
type unitRun struct {
	u      int
	start  time.Time
	r      *run
	e      *evaluator
	err    error // what stopped the reading
	cancel context.CancelCauseFunc
	// endSent is closed once the unit's end is in the queue.
	endSent <-chan struct{}
}

// read reads the inputs of unit u, handing its dead letters and chunks to
// the evaluating goroutine, then the unit's end.
func (p *Pipeline) read(ctx context.Context, src feed, u int, inputs []Input, each bool, queue chan<- work, after <-chan struct{}) *unitRun {
	start := time.Now()
	wctx, cancel := context.WithCancelCause(ctx)
	e := &evaluator{p: p, ctx: wctx, sup: p.suppressor(), cancel: cancel, finished: make(chan struct{})}
	r := &run{p: p, ctx: wctx, queue: queue, after: after, e: e, rep: Report{BySource: map[string]int{}}, each: each}
	err := r.inputs(src, u, inputs)
	if err == nil {
		err = r.flush()
	}
	if err == nil {
		err = r.keepDead()
	}
	if err != nil {
		src.skipUnit(u) // what is left of it
	}
	r.foldSources()
	// The end always reaches the evaluating goroutine, which reads the
	// queue until it is closed; the report is the evaluator's from here.
	// It is handed on by a goroutine of its own, after the end of the unit
	// before (after): this one goes on to read the next unit while the
	// evaluation of this one's last chunk goes on (handing the end on
	// waits while the queue is full); the next unit's first work waits
	// for it (run.send).
	w := work{e: e, end: &r.rep, readFailed: err != nil}
	sent := make(chan struct{})
	go func(after <-chan struct{}) {
		if after != nil {
			<-after
		}
		queue <- w
		close(sent)
	}(r.after)
	return &unitRun{u: u, start: start, r: r, e: e, err: err, cancel: cancel, endSent: sent}
}

// finish waits for the unit's evaluation, completes its report and calls
// done with it; a non-nil error stops the run.
func (p *Pipeline) finish(ctx context.Context, ur *unitRun, done func(int, Report, error) error) error {
	<-ur.e.finished
	ur.cancel(nil)
	rep, err := p.unitReport(ctx, ur)
	if derr := done(ur.u, rep, err); derr != nil {
		return derr
	}
	return ctx.Err()
}

// unitReport is the report and error of a unit evaluated.
func (p *Pipeline) unitReport(ctx context.Context, ur *unitRun) (Report, error) {
	r, err := ur.r, ur.err
	if ur.e.err != nil {
		err = ur.e.err // what stopped the reading too
	}
	r.rep.Duration = time.Since(ur.start)
	if r.openErr != nil && err == nil {
		return r.rep, r.openErr
	}
	if err != nil {
		return r.rep, err
	}
	rep := &r.rep
	// The categories' map is made only for a line that is written (scan
	// logs at debug: one string per row otherwise, for nothing).
	if e := zerolog.Ctx(ctx).WithLevel(p.opts.BatchLogLevel); e.Enabled() {
		e.Int("records", rep.Records).Interface("sources", rep.BySource).
			Interface("categories", rep.Coverage.ByCategory()).
			Int("unrecognised", rep.Unrecognised).Int("malformed", rep.Malformed).Int("rejected", rep.Rejected).
			Int("alerts", rep.AlertCount).Int64("duration_ms", rep.Duration.Milliseconds()).
			Msg("batch processed")
	}
	return r.rep, nil
}

// run is the ordered side of one unit: it takes what was framed, parsed
// and selected in input order, counts it, gathers the chunks and hands
// them, and the dead letters, to the evaluating goroutine.
type run struct {
	p     *Pipeline
	ctx   context.Context
	queue chan<- work
	after <-chan struct{} // closed once the unit before handed its end on
	e     *evaluator      // the unit's, which its work goes to
	rep   Report
	each  bool // RunEach: an input that cannot be opened is the unit's error
	// openErr is the input RunEach could not open.
	openErr error

	batch      []*event.Event // the chunk being filled
	refs       []recordRef    // per event of batch: the record it came from
	verdicts   *detect.Verdicts
	batchBytes int
	lastChunk  int // events of the chunk flushed last
	// The verdicts of the events added from the produced batch being
	// taken: [vFrom, vTo) of vsrc are not in verdicts yet.
	vsrc       *detect.Verdicts
	vFrom, vTo int

	dead      []alert.Dead // dead letters not yet handed on
	deadBytes int
	// sources counts the records of each source name, folded into
	// rep.BySource when the unit is read: a few names, compared (the
	// one counted last first), not hashed into a map once a record
	// (0.16k instructions a record of the mix).
	sources    []sourceCount
	lastSource int
}

// sourceCount is the records of one source name.
type sourceCount struct {
	name string
	n    int
}

// countSource counts a record of the source name. A source's events share
// its name's bytes, so the comparison is mostly of two equal pointers
// (string equality looks at them first).
func (r *run) countSource(name string) {
	if i := r.lastSource; i < len(r.sources) && r.sources[i].name == name {
		r.sources[i].n++
		return
	}
	for i := range r.sources {
		if c := &r.sources[i]; c.name == name {
			c.n++
			r.lastSource = i
			return
		}
	}
	if len(r.sources) == maxSourceCounts {
		// (Names are a registry's few; should they be many, a walk
		// would cost more than the map.)
		r.rep.BySource[name]++
		return
	}
	r.lastSource = len(r.sources)
	r.sources = append(r.sources, sourceCount{name, 1})
}

// maxSourceCounts bounds run.sources.
const maxSourceCounts = 16

// foldSources adds the source counts to the report.
func (r *run) foldSources() {
	for _, c := range r.sources {
		r.rep.BySource[c.name] += c.n
	}
	r.sources, r.lastSource = r.sources[:0], 0
}

// work is what the ordered goroutine hands the evaluating one, in order:
// dead letters to keep, then a chunk of events to evaluate (either may be
// empty).
type work struct {
	e        *evaluator // the unit's
	dead     []alert.Dead
	events   []*event.Event
	refs     []recordRef
	verdicts *detect.Verdicts
	// end, set on the unit's last work (nothing else set), is its report:
	// the evaluation adds to it (and the silent sources' alerts unless
	// the unit failed: readFailed, or its evaluation), then closes
	// e.finished.
	end        *Report
	readFailed bool
}

// send hands w on, or gives up when the evaluation stopped.
func (r *run) send(w work) error {
	if r.after != nil {
		// The unit before has its end to hand on first.
		select {
		case <-r.after:
			r.after = nil
		case <-r.ctx.Done():
			return context.Cause(r.ctx)
		}
	}
	select {
	case r.queue <- w:
		return nil
	case <-r.ctx.Done():
		return context.Cause(r.ctx)
	}
}

// recordRef is where an event's record came from, to dead-letter the
// record when a rule rejects the event.
type recordRef struct {
	origin         string
	index          int
	offset, length int64
	raw            []byte // the record (a flow tuple's: its flow record)
}

// errStopped is what a record callback returns to stop the reading of an
// input; the caller knows why.
var errStopped = errors.New("pipeline stopped")

// input is the ordered side's place in one input.
type input struct {
	origin  string
	writer  string
	seq     int64
	base    int // records of the input taken before the current piece
	records int // records of the current piece taken
}

func (r *run) inputs(src feed, u int, inputs []Input) error {
	// One place and one callback for all the inputs (an Event Hub batch
	// is hundreds of small ones: two allocations each were a fifth of
	// serve's per record).
	cur := new(input)
	take := func(b *produced) error { return r.take(cur, b) }
	for k, in := range inputs {
		writer, seq := in.position()
		*cur = input{origin: in.Origin, writer: writer, seq: seq}
		if err := src.each(r.ctx, u, k, take); err != nil {
			if err := r.inputFailed(in, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// inputFailed handles the error of an input's reading: nil when the run
// goes on with the next input. (A function of its own: the targets of
// errors.As escape, and were two allocations for every input read well.)
func (r *run) inputFailed(in Input, err error) error {
	var oe *OpenError
	var ie *inputError
	switch {
	case r.ctx.Err() != nil:
		return context.Cause(r.ctx)
	case errors.As(err, &oe) && r.each:
		r.openErr = err
	case errors.As(err, &oe), errors.As(err, &ie):
		// The body could not be read to its end (I/O, a corrupt gzip
		// stream, a decompression cap): what was read was evaluated;
		// the reason is reported and kept, and the next input goes on.
		reason := fmt.Sprintf("input read only in part: %v", err)
		r.rep.ReadErrors = append(r.rep.ReadErrors, ReadError{Origin: in.Origin, Reason: reason})
		if err := r.kill(alert.NewDead(alert.DeadUnread, in.Origin, -1, 0, 0, "", reason, nil), true); err != nil {
			return err
		}
	default:
		return err
	}
	return nil
}

// take counts and gathers what one produced batch holds, in order.
func (r *run) take(in *input, b *produced) error {
	if b.restart {
		in.base, in.records = in.base+in.records, 0
	}
	r.vsrc, r.vFrom, r.vTo = &b.verdicts, 0, 0
	defer func() { r.takeVerdicts(); r.vsrc = nil }()
	for i := range b.items {
		it := &b.items[i]
		if i%ctxEvery == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		index := in.base + it.index
		switch it.kind {
		case itemTuple:
			t := it.ev
			t.Pos = event.Position{Writer: in.writer, Seq: in.seq, Index: index, Sub: it.sub}
			ref := recordRef{origin: in.origin, index: index, offset: it.offset, length: it.length, raw: it.raw}
			if err := r.add(t, ref); err != nil {
				return err
			}
			continue
		case itemRejected:
			r.rep.Rejected++
			d := *it.dead
			d.Origin, d.Index = in.origin, index
			if err := r.kill(d, true); err != nil {
				return err
			}
			continue
		}
		r.rep.Records++
		in.records = max(in.records, it.index+1)
		switch it.kind {
		case itemParsed:
			ev := it.ev
			ev.Pos = event.Position{Writer: in.writer, Seq: in.seq, Index: index}
			r.countSource(ev.Source)
			r.rep.Coverage.Add(ev)
			ref := recordRef{origin: in.origin, index: index, offset: it.offset, length: it.length, raw: ev.Raw}
			if err := r.add(ev, ref); err != nil {
				return err
			}
		case itemUnrecognised:
			r.rep.Unrecognised++
			zerolog.Ctx(r.ctx).Debug().Str("origin", in.origin).Int("index", index).Msg("record not recognised")
			d := *it.dead
			d.Origin, d.Index = in.origin, index
			if err := r.kill(d, false); err != nil {
				return err
			}
		case itemMalformed:
			r.rep.Malformed++
			d := *it.dead
			d.Origin, d.Index = in.origin, index
			if err := r.kill(d, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// ctxEvery is how many items take counts between looks at its context
// (a cancelCtx's Err takes its lock: 2 a record of the mix, with the flow
// tuples, were 45 instructions); what it hands on waits on the context
// too (run.send).
const ctxEvery = 32

// takeVerdicts moves the verdicts of the events added from the batch being
// taken into the chunk's.
func (r *run) takeVerdicts() {
	if r.vsrc == nil || r.vFrom == r.vTo {
		return
	}
	if r.verdicts == nil {
		r.verdicts = new(detect.Verdicts)
	}
	r.verdicts.Append(r.vsrc, r.vFrom, r.vTo)
	r.vFrom = r.vTo
}

// add puts an event in the chunk, evaluating the chunk when it is full.
func (r *run) add(ev *event.Event, ref recordRef) error {
	if r.batch == nil {
		// A chunk is as long as the one before (full, but for the last):
		// made at that size, not grown to it again; or it fills the lists
		// of a chunk evaluated before (of this unit or another), which
		// the first chunk of each input of a folder otherwise grew anew
		// (2.6 % of what a scan of bench-parallel's folder allocated).
		var v *detect.Verdicts
		r.batch, r.refs, v = r.p.getChunk(r.lastChunk)
		if r.verdicts == nil { // (never set without a list: takeVerdicts follows an add)
			r.verdicts = v
		}
	}
	r.batch = append(r.batch, ev)
	r.refs = append(r.refs, ref)
	r.vTo++
	if ev.Raw != nil {
		r.batchBytes += len(ev.Raw)
	} else {
		r.batchBytes += derivedEventBytes
	}
	if len(r.batch) >= r.p.chunkEvents() || r.batchBytes >= chunkBytes {
		return r.flush()
	}
	return nil
}

// flush hands the chunk, and the dead letters read so far, to the
// evaluating goroutine.
func (r *run) flush() error {
	if len(r.batch) == 0 {
		return nil
	}
	r.takeVerdicts()
	w := work{e: r.e, dead: r.dead, events: r.batch, refs: r.refs, verdicts: r.verdicts}
	r.lastChunk = len(r.batch)
	r.batch, r.refs, r.batchBytes, r.verdicts = nil, nil, 0, nil
	r.dead, r.deadBytes = nil, 0
	return r.send(w)
}

// evaluator is the evaluating side of one Run.
type evaluator struct {
	p   *Pipeline
	ctx context.Context
	sup alert.Suppressor
	// cancel stops the unit's reading when its evaluation failed (err).
	cancel   context.CancelCauseFunc
	err      error
	finished chan struct{} // closed once the unit's end was evaluated

	rejected   int
	alertCount int
	alerts     []alert.Alert
	listed     []alert.Dead // rejected records, for the report
}

// safely runs fn; a panic is its error. On the caller's goroutine
// net/http would have recovered it: fail the run (the host retries)
// instead of the process.
func (e *evaluator) safely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pipeline: panic while evaluating: %v", p)
		}
	}()
	return fn()
}

// do keeps the dead letters, takes the matches the chunk's rules raised
// (st, evaluate.go), dead-letters the records a rule rejected, delivers
// the chunk's alerts and calls AfterChunk.
func (e *evaluator) do(st *staged) error {
	w := st.w
	if err := keepDeadLetters(e.ctx, e.p, w.dead); err != nil {
		return err
	}
	if len(w.events) == 0 {
		return nil
	}
	// The decoders' layouts serve every read of the chunk's events, the
	// alerts' severities and summaries included; none outlives the chunk.
	defer event.ReleaseLayouts(w.events)
	switch {
	case st.err != nil:
		return fmt.Errorf("evaluate rules: %w", st.err)
	case st.s == nil:
		return errNotStaged
	}
	matches, rejected, err := st.s.Result()
	if err != nil {
		return fmt.Errorf("evaluate rules: %w", err)
	}
	// Dead letters are stored before the alerts beside them go out.
	if err := keepDeadLetters(e.ctx, e.p, e.reject(w, rejected)); err != nil {
		return err
	}
	alerts := make([]alert.Alert, len(matches))
	var room alert.Room // the chunk's alerts go together
	for i, m := range matches {
		buildAlert(&alerts[i], &room, m)
	}
	if err := e.deliver(alerts); err != nil {
		return err
	}
	if e.p.opts.AfterChunk != nil {
		return e.p.opts.AfterChunk(e.ctx, st.n, w.events)
	}
	return nil
}

func (e *evaluator) deliver(alerts []alert.Alert) error {
	sent, err := e.p.deliver(e.ctx, e.p.opts.Now(), alerts, e.sup)
	if err != nil {
		return err
	}
	e.alertCount += len(sent)
	if !e.p.opts.OmitAlerts {
		e.alerts = append(e.alerts, sent...)
	}
	return nil
}

// addTo adds what the evaluation did to the report.
func (e *evaluator) addTo(rep *Report) {
	rep.Rejected += e.rejected
	rep.AlertCount += e.alertCount
	rep.Alerts = append(rep.Alerts, e.alerts...)
	room := max(MaxListed-len(rep.DeadLetters), 0)
	rep.DeadLetters = append(rep.DeadLetters, e.listed[:min(room, len(e.listed))]...)
}

// reject returns the dead letters of the records behind events a rule
// could not evaluate: one per record, with every rule's reason.
func (e *evaluator) reject(w work, rejected []detect.Rejected) []alert.Dead {
	if len(rejected) == 0 {
		return nil
	}
	at := make(map[*event.Event]int, len(w.events))
	for i, ev := range w.events {
		at[ev] = i
	}
	type recordKey struct {
		origin string
		index  int
	}
	type refused struct {
		ref     recordRef
		source  string
		reasons []string
	}
	var order []*refused
	byRecord := map[recordKey]*refused{}
	for _, rj := range rejected {
		i, ok := at[rj.Event]
		if !ok {
			continue // not an event of this chunk: never, by EvaluateSelected's contract
		}
		ref := w.refs[i]
		k := recordKey{ref.origin, ref.index}
		f := byRecord[k]
		if f == nil {
			f = &refused{ref: ref, source: rj.Event.Source}
			byRecord[k] = f
			order = append(order, f)
		}
		if reason := rj.Error(); !slices.Contains(f.reasons, reason) {
			f.reasons = append(f.reasons, reason)
		}
	}
	dead := make([]alert.Dead, 0, len(order))
	for _, f := range order {
		e.rejected++
		d := alert.NewDead(alert.DeadRejected, f.ref.origin, f.ref.index, f.ref.offset, f.ref.length, f.source,
			strings.Join(f.reasons, "; "), f.ref.raw)
		logDead(e.ctx, d)
		if len(e.listed) < MaxListed {
			l := d
			l.Bytes = nil
			e.listed = append(e.listed, l)
		}
		dead = append(dead, d)
	}
	return dead
}

func logDead(ctx context.Context, d alert.Dead) {
	zerolog.Ctx(ctx).Warn().Str("origin", d.Origin).Int("index", d.Index).Int64("offset", d.Offset).
		Str("source", d.Source).Str("reason", d.Reason).Msg("record kept in the dead letters")
}

// keepDeadLetters hands dead letters to the sink.
func keepDeadLetters(ctx context.Context, p *Pipeline, dead []alert.Dead) error {
	if len(dead) == 0 {
		return nil
	}
	if err := p.opts.DeadLetters.Keep(ctx, dead); err != nil {
		return fmt.Errorf("keep dead letters: %w", err)
	}
	return nil
}

// kill queues a dead letter for the sink; a listed one (malformed,
// rejected, a cut input) is also logged and listed in the report while
// there is room.
func (r *run) kill(d alert.Dead, listed bool) error {
	if listed {
		logDead(r.ctx, d)
		if len(r.rep.DeadLetters) < MaxListed {
			l := d
			l.Bytes = nil
			r.rep.DeadLetters = append(r.rep.DeadLetters, l)
		}
	}
	r.dead = append(r.dead, d)
	r.deadBytes += len(d.Bytes)
	if len(r.dead) >= deadBatch || r.deadBytes >= deadBatchBytes {
		return r.keepDead()
	}
	return nil
}

// keepDead hands the queued dead letters on to the sink.
func (r *run) keepDead() error {
	if len(r.dead) == 0 {
		return nil
	}
	w := work{e: r.e, dead: r.dead}
	r.dead, r.deadBytes = nil, 0
	return r.send(w)
}

// silence records the sources of the run and delivers the alerts of the
// sources silent for too long (once the evaluation is done).
func (e *evaluator) silence(rep *Report) error {
	silent, err := e.p.checkSilence(e.ctx, e.p.opts.Now(), rep)
	if err != nil {
		return err
	}
	n := e.alertCount
	if err := e.deliver(silent); err != nil {
		return err
	}
	rep.AlertCount += e.alertCount - n
	if !e.p.opts.OmitAlerts {
		rep.Alerts = append(rep.Alerts, e.alerts[len(e.alerts)-(e.alertCount-n):]...)
	}
	return nil
}

// suppressor is what drops alerts already delivered: the configured one,
// else one for this run alone (across its chunks).
func (p *Pipeline) suppressor() alert.Suppressor {
	switch {
	case p.opts.Suppressor != nil:
		return p.opts.Suppressor
	case p.opts.Deduper != nil:
		return alert.MemorySuppressor{Deduper: p.opts.Deduper}
	}
	return alert.MemorySuppressor{Deduper: alert.NewDeduper(time.Hour, 1<<16)}
}

// AlertOf turns a rule match into an alert.
func AlertOf(m detect.Match) alert.Alert {
	var a alert.Alert
	buildAlert(&a, nil, m)
	return a
}

// buildAlert is AlertOf written into *a, the alert's pieces cut from room
// (see alert.Room and Room.Build).
func buildAlert(a *alert.Alert, room *alert.Room, m detect.Match) {
	ev := m.Events[0]
	spec := alert.Spec{
		RuleID:     m.Rule.ID,
		Group:      m.Rule.AlertGroup,
		Title:      m.Rule.Title,
		Severity:   m.Rule.Severity(ev),
		Tactics:    m.Rule.Tactics(),
		Techniques: m.Rule.Techniques(),
	}
	var buf [256]byte
	if b, ok := m.AppendSummary(buf[:0]); ok {
		spec.Summary = room.String(b)
	}
	// Stateful kinds name the group and window: the alert id is theirs.
	spec.GroupKey, spec.WindowStart, spec.Count = m.GroupKey, m.WindowStart, m.Count
	room.Build(a, spec, m.Events)
}

// deliver drops the alerts already delivered within the suppression
// window, publishes the rest and marks them delivered once the sink
// acknowledged them; it returns what was published.
func (p *Pipeline) deliver(ctx context.Context, now time.Time, alerts []alert.Alert, sup alert.Suppressor) ([]alert.Alert, error) {
	if len(alerts) == 0 {
		return nil, nil
	}
	alerts, err := sup.Fresh(ctx, now, alerts)
	if err != nil {
		return nil, err
	}
	if len(alerts) > 0 {
		if err := p.opts.Sink.Publish(ctx, alerts); err != nil {
			if sup != nil {
				// Give the claims back: the host's retry sends them.
				err = errors.Join(err, sup.Release(ctx, now, alerts))
			}
			return nil, fmt.Errorf("deliver alerts: %w", err)
		}
		if err := sup.Mark(ctx, now, alerts); err != nil {
			return nil, err
		}
	}
	return alerts, nil
}

// CheckSilence raises, without a batch, the alerts of sources that went
// quiet: the maintenance timer calls it, so that a silence is noticed even
// when every source stopped at once and no batch arrives. It returns how
// many alerts it delivered; without a Silence tracker it does nothing.
func (p *Pipeline) CheckSilence(ctx context.Context) (int, error) {
	if p.opts.Silence == nil {
		return 0, nil
	}
	now := p.opts.Now()
	silent, err := p.opts.Silence.Check(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("check silent sources: %w", err)
	}
	sent, err := p.deliver(ctx, now, silent, p.suppressor())
	return len(sent), err
}

// checkSilence records the sources of this batch and returns the alerts of
// the sources silent for too long.
func (p *Pipeline) checkSilence(ctx context.Context, now time.Time, rep *Report) ([]alert.Alert, error) {
	// In the order counted: Observe takes each source and subscription
	// once whatever the order, and sorts what it reports.
	var keys []silence.Key
	rep.Coverage.EachKey(func(k coverage.Key) {
		keys = append(keys, silence.Key{Source: k.Source, Subscription: k.Subscription})
	})
	return p.opts.Silence.Observe(ctx, now, keys)
}
