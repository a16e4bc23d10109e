package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
)

// The stateless half of a run: framing, parsing, flow tuples and the
// rules' conditions. A producer turns an input's records into items and
// verdicts (produced batches); the ordered side (run.take) counts them,
// numbers them, gathers the chunks and dead-letters what must be.
//
// With one worker (Options.Workers 0 or 1) the ordered goroutine produces
// each input itself, framing it whole, as it goes (inlineFeed). With
// several, a dispatching goroutine reads the inputs one after another and
// cuts each body that looks like lines (JSON Lines, $logs) into blocks of
// whole lines; the workers frame, parse and select the blocks at once,
// and the ordered goroutine takes their results in order (parallelFeed).
// A block is framed as if the body began there, which is what framing the
// whole body gives unless a value runs over the block's end; the worker
// then says where that value starts (source.FrameBlock's cut), the
// ordered goroutine keeps what came before and frames the rest of the
// body itself, in one piece, from there. Bodies that do not look like
// lines (an envelope, an array) are framed whole by the dispatching
// goroutine, without parsing, and their records parsed by the workers.
// At most a few blocks per worker are read ahead: memory stays bounded.

// Sizes of the parallel feed: a block is about blockSize bytes of lines
// (blockLimit when a line is that long); aheadPerWorker pieces per worker
// may wait for the ordered goroutine; producedEvents and producedBytes
// bound the items of one produced batch of an input framed whole on the
// ordered goroutine.
//
// What is read ahead is memory the collector marks and paces by: scan's
// heap runs at its memory limit, so each megabyte in flight means more
// collections, each marking more. With blocks of 512 KiB (6 in flight,
// their buffers, their events) the collector's work of a scan on two
// cores was twice one core's (callgrind, 20,000 records in 16 files: 718
// M instructions of marking and write barriers against 320 M, the rest
// of the work equal within 1 %; one gzip'd file: 611 M against 341 M).
// Blocks of 128 KiB: 534 M and 408-542 M. Four per worker ahead instead
// of two gave 574 M and 618-716 M: the runs vary by some 20 %, but more
// ahead never marked less.
var (
	blockSize  = 128 << 10
	blockLimit = 4 << 20
)

const (
	aheadPerWorker = 2
	producedEvents = 256
	producedBytes  = 4 << 20
)

// workers returns how many goroutines frame and parse when Options.Workers
// is n: n, or GOMAXPROCS when n is negative.
func workers(n int) int {
	if n < 0 {
		return runtime.GOMAXPROCS(0)
	}
	return max(n, 1)
}

// itemKind is what a produced item is.
type itemKind uint8

const (
	itemParsed       itemKind = iota // a parsed record's event
	itemTuple                        // a flow tuple's event (of the record before it)
	itemUnrecognised                 // a record no source claims (dead)
	itemMalformed                    // a record not framed or not parsed (dead)
	itemRejected                     // a flow record whose tuples could not be expanded (dead)
)

// item is one produced thing, in input order. Records are numbered within
// their produced run (the ordered side adds the records before it); dead
// letters are complete but for their origin and index.
type item struct {
	kind           itemKind
	index          int   // the record's (a tuple's: its flow record's)
	sub            int   // a tuple's number in its record, from 1
	offset, length int64 // the record's place in the body
	ev             *event.Event
	raw            []byte      // a tuple's flow record
	dead           *alert.Dead // the dead letter of an item that is one
}

// produced is a batch of items and the verdicts of their events (in item
// order).
type produced struct {
	items    []item
	verdicts detect.Verdicts
	restart  bool  // the items are numbered from 0 again: a new block
	cut      int64 // a block's cut (source.FrameBlock), or -1
	readErr  error // the input ended with this read error
	fatal    error // what stopped the producing
}

// inputError is an input that could not be read to its end.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// producer turns framed records into produced batches.
type producer struct {
	p     *Pipeline
	ctx   context.Context
	skip  *atomic.Bool // set: stop, nobody wants the rest
	emit  func(*produced) error
	limit int // events per batch before emit (0: one batch)
	cur   *produced
	// picker selects each event as it is produced (its verdict goes in
	// cur's), so that a flow tuple no rule selects is never made into an
	// event of its own; room is where the tuple events are made.
	picker *detect.Picker
	room   source.TupleRoom
	bytes  int // of cur's records
	fatal  error
	// reuse: emit is done with a batch when it returns (inlineFeed).
	reuse bool
	// spare, when set, holds a batch its consumer is done with (emit
	// returned: inlineFeed's consumer takes a batch before it returns),
	// for the next batch to reuse: an input of a few records no longer
	// costs a batch with room for producedEvents items.
	spare *produced

	// The flow record expandFlow is expanding, and what its callback
	// (made once: a closure per record was two allocations) needs.
	flow     *event.Event
	flowRec  source.Record
	emitting bool
	tupleFn  func(*event.Event, int) (bool, error)
}

func newProducer(ctx context.Context, p *Pipeline, emit func(*produced) error, limit int) *producer {
	return newProducerWith(ctx, p, emit, limit, nil)
}

// newProducerWith is newProducer starting with spare, a batch its
// consumer is done with, when not nil.
func newProducerWith(ctx context.Context, p *Pipeline, emit func(*produced) error, limit int, spare *produced) *producer {
	pr := &producer{p: p, ctx: ctx, emit: emit, limit: limit, picker: p.opts.Engine.NewPicker(), spare: spare}
	pr.tupleFn = pr.tuple
	pr.room.Sift(p.sieve)
	pr.cur = pr.newProduced()
	pr.cur.restart = true
	return pr
}

// restart readies the producer for another input, its batches handed to
// emit, starting with spare (a batch its consumer is done with) when not
// nil. The picker is kept: the last batch released its last event.
func (pr *producer) restart(ctx context.Context, emit func(*produced) error, spare *produced) {
	pr.ctx, pr.emit, pr.spare = ctx, emit, spare
	pr.bytes, pr.fatal = 0, nil
	pr.cur = pr.newProduced()
	pr.cur.restart = true
}

// again readies the producer for the next piece of the parallel feed
// (skip: its), with spare, when not nil, as the batch it fills: its
// picker and tuple room serve piece after piece.
func (pr *producer) again(skip *atomic.Bool, spare *produced) {
	pr.skip, pr.fatal, pr.bytes, pr.spare = skip, nil, 0, spare
	if pr.cur == nil {
		pr.cur = pr.newProduced()
		pr.cur.restart = true
	}
}

// newProduced returns an empty batch with room for the items of a full one.
func (pr *producer) newProduced() *produced {
	if b := pr.spare; b != nil {
		pr.spare = nil
		clear(b.items) // the events and dead letters taken
		*b = produced{items: b.items[:0], verdicts: b.verdicts, cut: -1}
		b.verdicts.Reset()
		return b
	}
	b := &produced{cut: -1}
	if pr.limit > 0 {
		b.items = make([]item, 0, pr.limit)
	}
	return b
}

// record is the source.Registry callback.
func (pr *producer) record(rec source.Record, ev *event.Event, status source.Status, err error) error {
	if pr.skip != nil && pr.skip.Load() {
		pr.fatal = errStopped
		return errStopped
	}
	if err := pr.ctx.Err(); err != nil {
		pr.fatal = err
		return errStopped
	}
	it := item{index: rec.Index, offset: rec.Offset, length: rec.Length}
	pr.bytes += len(rec.Bytes)
	switch {
	case rec.Err != nil:
		it.kind = itemMalformed
		it.dead = newDead(alert.DeadMalformed, rec, "", rec.Err.Error())
	case status == source.Parsed:
		it.kind, it.ev = itemParsed, ev
		pr.picker.Pick(ev, &pr.cur.verdicts, true)
		pr.cur.items = append(pr.cur.items, it)
		if source.IsFlow(ev) {
			// One event per tuple, evaluated in chunks (flowtuple.go).
			if err := pr.expandFlow(ev, rec); err != nil {
				if pr.fatal == nil {
					pr.fatal = err
				}
				return errStopped
			}
		}
		return pr.full()
	case status == source.Unrecognised:
		it.kind = itemUnrecognised
		it.dead = newDead(alert.DeadUnrecognised, rec, "", reasonUnrecognised)
	default:
		it.kind = itemMalformed
		name := ""
		var perr *source.ParseError
		if errors.As(err, &perr) {
			name = perr.Source
		}
		reason := "malformed record"
		if err != nil {
			reason = err.Error()
		}
		it.dead = newDead(alert.DeadMalformed, rec, name, reason)
	}
	pr.cur.items = append(pr.cur.items, it)
	return pr.full()
}

// newDead is the dead letter of rec, but for its origin and index.
func newDead(kind string, rec source.Record, name, reason string) *alert.Dead {
	d := alert.NewDead(kind, "", rec.Index, rec.Offset, rec.Length, name, reason, rec.Bytes)
	return &d
}

// reasonUnrecognised is the reason of an unrecognised record's dead letter.
const reasonUnrecognised = "unrecognised: no source claims this record"

// expandFlow adds the tuples of a flow record, handing batches on as they
// fill: a record of a million tuples is never held as a million events. A
// panic while expanding them dead-letters the record (the tuples before it
// stand).
func (pr *producer) expandFlow(ev *event.Event, rec source.Record) (err error) {
	pr.flow, pr.flowRec, pr.emitting = ev, rec, false
	defer func() {
		p := recover()
		emitting := pr.emitting
		pr.flow, pr.flowRec, pr.emitting = nil, source.Record{}, false
		if p != nil {
			if emitting {
				panic(p) // not the expansion's: the batch's consumer
			}
			d := alert.NewDead(alert.DeadRejected, "", rec.Index, rec.Offset, rec.Length, ev.Source,
				fmt.Sprintf("expand flow tuples: %v: %v", source.ErrParserPanic, p), ev.Raw)
			pr.cur.items = append(pr.cur.items, item{kind: itemRejected, index: rec.Index, offset: rec.Offset, length: rec.Length, dead: &d})
			err = nil
		}
	}()
	return pr.p.opts.Registry.ExpandFlowPicked(ev, &pr.room, pr.tupleFn)
}

// tuple is expandFlow's callback: it adds the tuple event t, the sub-th
// of pr.flow, when some rule selects it (nothing else reads a tuple's
// event: the stateful kinds see the events their rules selected only).
func (pr *producer) tuple(t *event.Event, sub int) (bool, error) {
	if !pr.picker.Pick(t, &pr.cur.verdicts, false) {
		return false, nil
	}
	rec := &pr.flowRec
	pr.cur.items = append(pr.cur.items, item{kind: itemTuple, index: rec.Index, sub: sub, offset: rec.Offset,
		length: rec.Length, ev: t, raw: pr.flow.Raw})
	pr.emitting = true
	err := pr.full()
	pr.emitting = false
	return true, err
}

// full hands the batch on when it holds enough events.
func (pr *producer) full() error {
	if pr.limit == 0 || (len(pr.cur.items) < pr.limit && pr.bytes < producedBytes) {
		return nil
	}
	pr.selectBatch()
	b := pr.cur
	pr.cur, pr.bytes = pr.newProduced(), 0
	if err := pr.emit(b); err != nil {
		pr.fatal = err
		return errStopped
	}
	if pr.reuse {
		pr.spare = b
	}
	return nil
}

// selectBatch ends the selection of the batch's events (each was
// selected as it came): the picker lets go of the last one, which goes to
// another goroutine with the batch.
func (pr *producer) selectBatch() {
	pr.picker.Release()
}

// end closes the last batch after the framing returned err: a read error
// unless the producer stopped it.
func (pr *producer) end(err error) *produced {
	b := pr.cur
	pr.selectBatch()
	switch {
	case pr.fatal != nil:
		b.fatal = pr.fatal
	case pr.ctx.Err() != nil:
		b.fatal = pr.ctx.Err()
	case err != nil:
		b.readErr = err
	}
	return b
}

// result is what a produced batch says of the input's end.
func (b *produced) result() error {
	switch {
	case b.fatal != nil:
		return b.fatal
	case b.readErr != nil:
		return &inputError{b.readErr}
	}
	return nil
}

// feed hands the ordered side the produced batches of each input in turn.
type feed interface {
	// each calls fn with the produced batches of input k of unit u, in
	// order; the error is an *OpenError, an *inputError (read only in
	// part), or what stopped it (fn's error, ctx).
	each(ctx context.Context, u, k int, fn func(*produced) error) error
	// skipUnit drops what is left of unit u (it failed).
	skipUnit(u int)
	// stop ends the feed's goroutines and waits for them.
	stop()
}

func (p *Pipeline) newFeed(ctx context.Context, units [][]Input) feed {
	n := workers(p.opts.Workers)
	if n <= 1 {
		return &inlineFeed{p: p, units: units}
	}
	return newParallelFeed(ctx, p, units, n)
}

// open returns the input's body and what closes it.
func (in Input) open() (io.Reader, func(), error) {
	if in.Open == nil {
		return in.Body, func() {}, nil
	}
	rc, err := in.Open()
	if err != nil {
		return nil, nil, &OpenError{Origin: in.Origin, Err: err}
	}
	return rc, func() { _ = rc.Close() }, nil
}

// inlineFeed produces each input on the ordered goroutine, framing it
// whole.
type inlineFeed struct {
	p     *Pipeline
	units [][]Input
	spare *produced // the last input's last batch, taken: the next input's first
	// The producer, and the reader making the events, of the inputs of
	// unit u: an input of a few records (an Event Hub message) no longer
	// costs a producer, a picker, a run of events per size and a chunk of
	// raw bytes (the unit's events are dropped together).
	u  int
	pr *producer
	rd *source.Reader
}

func (f *inlineFeed) each(ctx context.Context, u, k int, fn func(*produced) error) error {
	body, closeBody, err := f.units[u][k].open()
	if err != nil {
		return err
	}
	defer closeBody()
	pr := f.producer(ctx, u, fn)
	err = f.rd.Read(body)
	b := pr.end(err)
	if b.fatal == nil {
		if err := fn(b); err != nil {
			return err
		}
	}
	err = b.result()
	if b.fatal == nil {
		f.spare = b // fn took it
	}
	return err
}

// producer returns the producer of an input of unit u, handing its
// batches to fn.
func (f *inlineFeed) producer(ctx context.Context, u int, fn func(*produced) error) *producer {
	if f.pr == nil || f.u != u {
		f.u = u
		f.pr = newProducerWith(ctx, f.p, fn, producedEvents, f.spare)
		f.pr.reuse = true
		f.rd = f.p.opts.Registry.NewReader(f.pr.record)
	} else {
		f.pr.restart(ctx, fn, f.spare)
	}
	f.spare = nil
	return f.pr
}

func (f *inlineFeed) skipUnit(int) {}
func (f *inlineFeed) stop()        {}

// piece is one job of the parallel feed: a block of an input's lines,
// records of an input framed whole (an envelope), or an input that could
// not be opened.
type piece struct {
	unit, input int
	openErr     error // the input could not be opened (no work)
	readErr     error // its body could not be opened, or (records) read to its end
	block       source.Block
	records     []source.Record // framed, not parsed (their Bytes copied)
	last        bool            // records: the input's last piece
	out         chan *produced  // the result; closed after it
	skip        atomic.Bool     // nobody wants the result
}

func (pc *piece) work() bool { return pc.out != nil }

// parallelFeed frames, parses and selects on several goroutines.
type parallelFeed struct {
	p      *Pipeline
	cancel context.CancelFunc
	wg     sync.WaitGroup
	order  chan *piece // every piece, in order
	held   *piece      // taken from order, not yet used
	// spare holds the bytes of blocks the ordered side is done with, for
	// the dispatching goroutine to read the next blocks into: a block is
	// otherwise a fresh allocation of blockSize and more, which on two
	// cores doubles what the collector is paced by (the records' events
	// own copies of their bytes: nothing points into a block once it was
	// framed).
	spare chan []byte
	// batches holds the produced batches the ordered side is done with,
	// for the workers to fill again (getBatch, putBatch).
	batches chan *produced
}

// getBlock returns a buffer for the next block (empty: Next makes one).
func (f *parallelFeed) getBlock() []byte {
	select {
	case b := <-f.spare:
		blocksReused.Add(1)
		return b
	default:
		return nil
	}
}

// blocksReused counts the blocks read into a spare buffer (for the tests).
var blocksReused atomic.Int64

// putBlock gives back the bytes of a block that was framed, whose result
// the ordered side took (no goroutine reads them any more). A buffer
// grown for a long line is left to the collector.
func (f *parallelFeed) putBlock(pc *piece) {
	b := pc.block.Bytes
	pc.block.Bytes = nil
	if cap(b) == 0 || cap(b) > 4*blockSize {
		return
	}
	select {
	case f.spare <- b[:0]:
	default:
	}
}

func newParallelFeed(ctx context.Context, p *Pipeline, units [][]Input, workers int) *parallelFeed {
	ctx, cancel := context.WithCancel(ctx)
	f := &parallelFeed{p: p, cancel: cancel, order: make(chan *piece, aheadPerWorker*workers)}
	// The blocks in flight: in order's buffer, one the dispatcher holds,
	// one the ordered side takes; their batches: in order's buffer, one
	// each worker fills, one the ordered side takes.
	f.spare = make(chan []byte, aheadPerWorker*workers+2)
	f.batches = make(chan *produced, aheadPerWorker*workers+workers+1)
	jobs := make(chan *piece, workers)
	f.wg.Add(1 + workers)
	go func() {
		defer f.wg.Done()
		defer close(f.order)
		defer close(jobs)
		labelStage(ctx, "dispatch")
		f.dispatch(ctx, units, jobs)
	}()
	for range workers {
		go func() {
			defer f.wg.Done()
			labelStage(ctx, "work")
			f.work(ctx, jobs)
		}()
	}
	return f
}

func (f *parallelFeed) stop() {
	f.cancel()
	for pc := range f.order {
		pc.skip.Store(true)
	}
	f.wg.Wait()
}

// dispatch reads the inputs in order and hands their pieces on.
func (f *parallelFeed) dispatch(ctx context.Context, units [][]Input, jobs chan<- *piece) {
	send := func(pc *piece) bool {
		select {
		case f.order <- pc:
		case <-ctx.Done():
			return false
		}
		if !pc.work() {
			return true
		}
		select {
		case jobs <- pc:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for u, inputs := range units {
		for k, in := range inputs {
			rd, closeBody, err := in.open()
			if err != nil {
				if !send(&piece{unit: u, input: k, openErr: err}) {
					return
				}
				continue
			}
			body, err := source.OpenBody(rd)
			if err != nil {
				closeBody()
				if !send(&piece{unit: u, input: k, readErr: err}) {
					return
				}
				continue
			}
			if !body.LineShaped() {
				ok := f.frameRecords(u, k, body, send)
				body.Close()
				closeBody()
				if !ok {
					return
				}
				continue
			}
			for {
				blk := body.Next(f.getBlock(), blockSize, blockLimit)
				if !send(&piece{unit: u, input: k, block: blk, out: make(chan *produced, 1)}) {
					body.Close()
					closeBody()
					return
				}
				if blk.Last {
					break
				}
			}
			body.Close()
			closeBody()
		}
	}
}

// frameRecords frames a body that is not lines whole, handing its
// records on in pieces of about blockSize bytes to parse; false when the
// feed stopped.
func (f *parallelFeed) frameRecords(u, k int, body *source.Body, send func(*piece) bool) bool {
	pc := &piece{unit: u, input: k, out: make(chan *produced, 1)}
	size := 0
	stopped := false
	err := body.FrameRecords(func(rec source.Record) error {
		if rec.Err != nil {
			// Not parsed: its dead letter keeps the first MaxDeadBytes
			// (rec.Length says how long it was), so no more is copied. A
			// line of tens of megabytes is otherwise held whole by each
			// piece read ahead.
			rec.Bytes = rec.Bytes[:min(len(rec.Bytes), alert.MaxDeadBytes)]
		}
		rec.Bytes = bytes.Clone(rec.Bytes)
		pc.records = append(pc.records, rec)
		if size += len(rec.Bytes); size >= blockSize {
			if !send(pc) {
				stopped = true
				return errStopped
			}
			pc, size = &piece{unit: u, input: k, out: make(chan *produced, 1)}, 0
		}
		return nil
	})
	if stopped {
		return false
	}
	pc.last, pc.readErr = true, err
	return send(pc)
}

// work produces the pieces it is handed. One producer, and one slab the
// events are made from, serve all of them: a piece's own picker, tuple
// room, slab and batch were each made for a block of some fifty records
// and left partly used (on two cores a fifth more allocated, and so
// collected, than on one: 313 MB against 264 MB for 20,000 records in 16
// files); the batches come back from the ordered side (putBatch).
func (f *parallelFeed) work(ctx context.Context, jobs <-chan *piece) {
	pr := newProducer(ctx, f.p, nil, 0)
	var slab event.Slab
	for pc := range jobs {
		if pc.skip.Load() {
			close(pc.out)
			continue
		}
		pr.again(&pc.skip, f.getBatch())
		var b *produced
		if pc.records != nil || pc.last {
			for _, rec := range pc.records {
				ev, status, err := f.p.opts.Registry.ParseRecord(rec, &slab)
				if pr.record(rec, ev, status, err) != nil {
					break
				}
			}
			b = pr.end(nil)
			b.restart = false // numbered by the one framing of the input
		} else {
			cut, err := f.p.opts.Registry.FrameBlock(pc.block, &slab, pr.record)
			b = pr.end(err)
			b.cut = cut
		}
		pr.cur = nil // b is the ordered side's
		pc.out <- b  // room for one
		close(pc.out)
	}
}

// getBatch returns a batch the ordered side is done with, or nil.
func (f *parallelFeed) getBatch() *produced {
	select {
	case b := <-f.batches:
		batchesReused.Add(1)
		return b
	default:
		return nil
	}
}

// batchesReused counts the batches filled again (for the tests).
var batchesReused atomic.Int64

// putBatch gives back a batch the ordered side took (fn returned: it
// keeps nothing of it), emptied so that it holds no event while it
// waits.
func (f *parallelFeed) putBatch(b *produced) {
	clear(b.items)
	b.items = b.items[:0]
	b.verdicts.Reset()
	select {
	case f.batches <- b:
	default:
	}
}

// next takes the next piece in order.
func (f *parallelFeed) next(ctx context.Context) (*piece, error) {
	if pc := f.held; pc != nil {
		f.held = nil
		return pc, nil
	}
	select {
	case pc, ok := <-f.order:
		if !ok {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("pipeline: input feed ended early")
		}
		return pc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// results waits for a piece's next produced batch; nil at its end.
func results(ctx context.Context, pc *piece) (*produced, error) {
	select {
	case b := <-pc.out:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *parallelFeed) each(ctx context.Context, u, k int, fn func(*produced) error) error {
	for {
		pc, err := f.next(ctx)
		if err != nil {
			return err
		}
		if pc.unit != u || pc.input != k {
			return fmt.Errorf("pipeline: input %d.%d fed where %d.%d was due", pc.unit, pc.input, u, k)
		}
		switch {
		case pc.openErr != nil:
			return pc.openErr
		case !pc.work(): // its body could not be opened
			return &inputError{pc.readErr}
		}
		b, err := results(ctx, pc)
		if err != nil {
			return err
		}
		if b == nil || b.fatal != nil {
			if b != nil {
				return b.fatal
			}
			return errors.New("pipeline: no result for a block")
		}
		if b.cut >= 0 {
			return f.reframe(ctx, pc, b, fn)
		}
		if err := fn(b); err != nil {
			return err
		}
		// What the batch says of the input's end, read before a worker
		// may fill it again (putBatch).
		end := b.result()
		f.putBlock(pc) // framed (its result came after), and taken
		f.putBatch(b)

		switch {
		case pc.last && pc.readErr != nil:
			return &inputError{pc.readErr}
		case pc.last, pc.block.Last:
			return end
		}
	}
}

// reframe takes the records of pc's block before its cut, then frames
// the rest of the input in one piece from there (the blocks after pc
// are read, their results dropped).
func (f *parallelFeed) reframe(ctx context.Context, pc *piece, b *produced, fn func(*produced) error) error {
	reframed.Add(1)
	n := 0
	for n < len(b.items) && b.items[n].offset < b.cut {
		n++
	}
	b.items = b.items[:n]
	if err := fn(b); err != nil {
		return err
	}
	rd := &blockReader{f: f, ctx: ctx, cur: pc, pos: int(b.cut - pc.block.Offset)}
	pr := newProducer(ctx, f.p, fn, producedEvents)
	err := f.p.opts.Registry.FrameFrom(rd, b.cut, pr.record)
	if rd.err != nil && pr.fatal == nil {
		return rd.err
	}
	last := pr.end(err)
	if last.fatal == nil {
		if err := fn(last); err != nil {
			return err
		}
	}
	return last.result()
}

// reframed counts the blocks framed again (for the tests).
var reframed atomic.Int64

// blockReader reads the bytes of an input's blocks in order from a place
// in one, taking the next blocks of the input from the feed.
type blockReader struct {
	f   *parallelFeed
	ctx context.Context
	cur *piece
	pos int
	err error // the feed failed (not the body)
}

func (r *blockReader) Read(p []byte) (int, error) {
	for r.pos >= len(r.cur.block.Bytes) {
		if r.cur.block.Last {
			if r.cur.block.Err != nil {
				return 0, r.cur.block.Err
			}
			return 0, io.EOF
		}
		next, err := r.f.next(r.ctx)
		if err == nil && (next.unit != r.cur.unit || next.input != r.cur.input || !next.work() || next.records != nil || next.last) {
			err = errors.New("pipeline: blocks of an input out of order")
		}
		if err != nil {
			r.err = err
			return 0, err
		}
		next.skip.Store(true)
		r.cur, r.pos = next, 0
	}
	n := copy(p, r.cur.block.Bytes[r.pos:])
	r.pos += n
	return n, nil
}

func (f *parallelFeed) skipUnit(u int) {
	for {
		var pc *piece
		if f.held != nil {
			pc, f.held = f.held, nil
		} else {
			var ok bool
			if pc, ok = <-f.order; !ok {
				return
			}
		}
		if pc.unit != u {
			f.held = pc
			return
		}
		pc.skip.Store(true)
	}
}
