package detect

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// Per-record isolation. Every field of a record may be the attacker's, so
// no record's content may fail a batch: what one record causes is that
// record's failure alone. A kind that knows which events made it fail says
// so with a *RecordError; a store that refuses an entity before any I/O
// (state.ErrInvalid, state.ErrEntityTooLarge) or a panic while evaluating
// tells the engine only that some event did, and the engine narrows it down
// by evaluating the rule over halves of the events. Either way the events
// behind the fault come back as Rejected (for the pipeline's dead letters)
// and the rule's matches over the others stand.

// Rejected is an event one rule could not evaluate because of the event's
// own content. Only that rule skipped it; every other rule saw it.
type Rejected struct {
	Event  *event.Event
	RuleID string
	Kind   string // the rule's kind name
	Err    error
}

func (r Rejected) Error() string {
	return fmt.Sprintf("rule %s (%s): %v", r.RuleID, r.Kind, r.Err)
}

func (r Rejected) Unwrap() error { return r.Err }

// A kind that knows which events' content made it fail (an entity built
// from their values over the store's limits) returns its complete matches
// with RecordErrors (stateful.go): those events come back as Rejected and
// nothing is evaluated again.

// ErrPanic is what a panic recovered while evaluating a rule wraps.
var ErrPanic = errors.New("panic while evaluating")

// ContentFault reports whether err was caused by what the evaluated events
// hold rather than by a dependency: a *RecordError, a request the store
// refused before any I/O (state.ErrInvalid, which state.ErrEntityTooLarge
// is), or a panic while evaluating. A cancelled context never is.
func ContentFault(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *RecordError
	return errors.As(err, &re) || errors.Is(err, state.ErrInvalid) || errors.Is(err, ErrPanic)
}

// maxIsolationCalls bounds how often one rule's kind is called for one
// batch while narrowing a fault down (each call may cost storage round
// trips). Past it, every event of a part that still fails is rejected
// whole: kept in the dead letters, and still seen by every other rule.
const maxIsolationCalls = 256

// matchesOf runs rule i's kind over its selected events. Without isolate
// it is the kind's Matches (a panic becomes an error, not a crash of the
// process: stateful kinds run on goroutines of their own).
func (e *Engine) matchesOf(ctx context.Context, i int, evs []*event.Event, isolate bool) ([]Match, []Rejected, error) {
	r, k := e.rules[i], e.kinds[i]
	if !isolate {
		m, err := safeMatches(ctx, k, r, evs)
		return m, nil, err
	}
	iso := isolator{ctx: ctx, rule: r, kind: k}
	m, err := iso.run(evs)
	return m, iso.rejected, err
}

func safeMatches(ctx context.Context, k Kind, r *Rule, evs []*event.Event) (m []Match, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return k.Matches(ctx, r, evs)
}

// isolator narrows one rule's content faults down to the events behind
// them.
type isolator struct {
	ctx      context.Context
	rule     *Rule
	kind     Kind
	calls    int
	rejected []Rejected
}

func (s *isolator) reject(evs []*event.Event, err error) {
	for _, ev := range evs {
		s.rejected = append(s.rejected, Rejected{Event: ev, RuleID: s.rule.ID, Kind: s.kind.Name(), Err: err})
	}
}

// run evaluates evs, in order; the matches of parts evaluated separately
// keep that order. Evaluating a part again after a failed attempt is what
// a redelivered batch does: the kinds are idempotent under it.
func (s *isolator) run(evs []*event.Event) ([]Match, error) {
	s.calls++
	m, err := safeMatches(s.ctx, s.kind, s.rule, evs)
	if err == nil || !ContentFault(err) || s.ctx.Err() != nil {
		return m, err
	}
	if res, ok := AsRecordErrors(err); ok {
		// The matches are complete; only these events' share of
		// state was not kept.
		for _, re := range res {
			if re.Event != nil {
				s.reject([]*event.Event{re.Event}, re.Err)
			}
		}
		return m, nil
	}
	if len(evs) == 1 || s.calls >= maxIsolationCalls {
		s.reject(evs, err)
		return nil, nil
	}
	mid := len(evs) / 2
	first, err := s.run(evs[:mid])
	if err != nil {
		return nil, err
	}
	second, err := s.run(evs[mid:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}

// selectEvents runs every rule's condition over every event and returns,
// per rule, the events it selected. With isolate, a panic in a condition
// rejects that event for that rule alone.
func (e *Engine) selectEvents(ctx context.Context, events []*event.Event, isolate bool) ([][]*event.Event, []Rejected, error) {
	selected := make([][]*event.Event, len(e.rules))
	pick := func(i, at int) { selected[i] = append(selected[i], events[at]) }
	if !isolate {
		err := e.selectEach(ctx, events, pick, nil)
		return selected, nil, err
	}
	rejected, err := e.selectIsolated(ctx, events, pick, func() { clear(selected) })
	return selected, rejected, err
}

// selectIsolated is the condition pass of EvaluateIsolated: a panic in a
// condition rejects that event for that rule alone. reset forgets what
// pick was told before a pass that panicked.
func (e *Engine) selectIsolated(ctx context.Context, events []*event.Event, pick func(i, at int), reset func()) ([]Rejected, error) {
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: %v", ErrPanic, p)
			}
		}()
		return e.selectEach(ctx, events, pick, nil)
	}()
	if !errors.Is(err, ErrPanic) {
		return nil, err
	}
	// Some condition panicked: go again, one rule and event at a time.
	reset()
	var rejected []Rejected
	err = e.selectEach(ctx, events, pick, func(i int, ev *event.Event, p any) {
		rejected = append(rejected, Rejected{Event: ev, RuleID: e.rules[i].ID, Kind: e.kinds[i].Name(),
			Err: fmt.Errorf("%w: condition: %v", ErrPanic, p)})
	})
	return rejected, err
}

// selectEach is the condition pass: pick(i, at) for each rule i whose
// condition selects events[at], in event order, then rule order. With
// onPanic set, each condition runs under recover and a panic calls onPanic
// instead of selecting the event.
//
// An event some rule selected keeps its layout (event.Layout) for the
// kinds, severities and summaries that read it next: whoever evaluates
// the selected events releases it after them (Evaluate does;
// EvaluateSelected's caller, with event.ReleaseLayouts). An event no rule
// selected has no reader left, and lets it go here.
func (e *Engine) selectEach(ctx context.Context, events []*event.Event, pick func(i, at int), onPanic func(i int, ev *event.Event, p any)) error {
	s := selector{e: e}
	defer s.release()
	for at, ev := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ev != nil {
			s.one(ev, at, pick, onPanic)
		}
	}
	return nil
}

// selector is the condition pass's state from event to event: the field
// cache, and the source's rules and index, looked up again only when the
// source changes (a flow record's tuples come by the dozen).
type selector struct {
	e          *Engine
	cache      *fieldCache
	ec         evalCtx
	buf        [4]uint64
	allowed    []uint64
	lastSource string
	idx        []int
	si         *sourceIndex
	looked     bool
	// seen are the sources looked up before, the last ones first met
	// overwriting the oldest: a flow record's tuples and the record
	// itself, and a mix's sources, take turns.
	seen  [16]seenSource
	nseen int
}

// seenSource is one source's rules and index (Engine.byService,
// Engine.bySource).
type seenSource struct {
	source string
	idx    []int
	si     *sourceIndex
}

// lookSource points s at ev's source's rules and index: from seen when
// looked up before, else from the engine's maps.
func (s *selector) lookSource(source string) {
	n := min(s.nseen, len(s.seen))
	for k := range n {
		if h := &s.seen[k]; h.source == source {
			s.lastSource, s.idx, s.si, s.looked = source, h.idx, h.si, true
			return
		}
	}
	idx, si := s.e.byService[source], s.e.bySource[source]
	s.seen[s.nseen%len(s.seen)] = seenSource{source, idx, si}
	s.nseen++
	s.lastSource, s.idx, s.si, s.looked = source, idx, si, true
}

// release gives the field cache back.
func (s *selector) release() {
	if s.cache != nil {
		s.cache.release()
		fieldCaches.Put(s.cache)
		s.cache, s.ec = nil, evalCtx{}
	}
}

// one is selectEach for the event ev, events[at]: whether some rule
// selected it.
func (s *selector) one(ev *event.Event, at int, pick func(i, at int), onPanic func(i int, ev *event.Event, p any)) bool {
	e := s.e
	if s.cache == nil {
		s.cache = fieldCaches.Get().(*fieldCache)
		s.ec.cache = s.cache
		s.allowed = s.buf[:]
	}
	if !s.looked || ev.Source != s.lastSource {
		s.lookSource(ev.Source)
	}
	idx, si, cache := s.idx, s.si, s.cache
	if len(idx) == 0 {
		ev.ReleaseLayout()
		return false
	}
	cache.reset(ev)
	s.ec.ev = ev
	picked := false
	if si != nil && onPanic == nil && !e.noIndex {
		// Only the rules that may match, in rule order (ruleindex.go).
		if len(si.full) > len(s.allowed) {
			s.allowed = make([]uint64, len(si.full))
		}
		set := s.allowed[:len(si.full)]
		si.candidates(cache, set)
		for w, word := range set {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				p := w*64 + b
				i := si.rules[p]
				var ok bool
				if si.decided != nil && cache.combo >= 0 && si.decided[p] != nil {
					// Its outcome is the tuple's combination's (flowcombo.go).
					d := &si.decided[p][cache.combo]
					ok, s.ec.known, s.ec.hit = d.match, d.known, d.hit
				} else {
					s.ec.known, s.ec.hit = 0, 0
					ok = e.rules[i].match(&s.ec)
				}
				if ok {
					pick(i, at)
					picked = true
				}
			}
		}
	} else {
		for _, i := range idx {
			s.ec.known, s.ec.hit = 0, 0
			if onPanic == nil {
				if e.rules[i].match(&s.ec) {
					pick(i, at)
					picked = true
				}
				continue
			}
			ok, p := safeMatch(e.rules[i], &s.ec)
			if p != nil {
				onPanic(i, ev, p)
				cache.reset(ev) // the cache may hold half a lookup
				continue
			}
			if ok {
				pick(i, at)
				picked = true
			}
		}
	}
	if !picked {
		ev.ReleaseLayout()
	} else {
		cache.idx.keep() // for the kinds and alerts reading it next
	}
	return picked
}

// Picker is Select one event at a time, for a caller that decides by an
// event's verdict whether to keep it: a flow tuple no rule selects is
// never handed on (source.Registry.ExpandFlowPicked). The verdicts it
// adds are Select's for the same events; a panic in a condition rejects
// the event for that rule alone, as EvaluateIsolated's does. A Picker is
// for one goroutine; Release gives back what it holds between runs.
type Picker struct{ s selector }

// NewPicker returns a Picker of e's rules.
func (e *Engine) NewPicker() *Picker { return &Picker{s: selector{e: e}} }

// Pick adds ev's verdict to v, as Select over ev alone would, and reports
// true; unless always, an event no rule selected nor rejected gets no
// verdict and Pick reports false (the caller drops it).
func (p *Picker) Pick(ev *event.Event, v *Verdicts, always bool) bool {
	start, mstart := len(v.picks), len(v.maskAt)
	memoRule := p.s.e.memoRule
	pick := func(i, _ int) {
		v.picks = append(v.picks, int32(i))
		if memoRule[i] && !v.noMasks {
			v.known, v.hit = append(v.known, p.s.ec.known), append(v.hit, p.s.ec.hit)
			v.maskAt = append(v.maskAt, int32(len(v.picks)-1))
		}
	}
	picked, panicked := p.safeOne(ev, pick)
	rejected := false
	if panicked {
		// Go again, one rule at a time under recover.
		v.picks = v.picks[:start]
		if !v.noMasks {
			v.known, v.hit, v.maskAt = v.known[:mstart], v.hit[:mstart], v.maskAt[:mstart]
		}
		at := int32(len(v.at))
		picked = p.s.one(ev, 0, pick, func(i int, ev *event.Event, q any) {
			v.rejected = append(v.rejected, Rejected{Event: ev, RuleID: p.s.e.rules[i].ID, Kind: p.s.e.kinds[i].Name(),
				Err: fmt.Errorf("%w: condition: %v", ErrPanic, q)})
			v.rejAt = append(v.rejAt, at)
			rejected = true
		})
	}
	if !picked && !rejected && !always {
		return false
	}
	v.at = append(v.at, int32(len(v.picks)))
	return true
}

func (p *Picker) safeOne(ev *event.Event, pick func(i, at int)) (picked, panicked bool) {
	defer func() {
		if q := recover(); q != nil {
			picked, panicked = false, true
		}
	}()
	return p.s.one(ev, 0, pick, nil), false
}

// Release gives back the field cache the Picker holds (it takes one again
// when next used): call it when the events picked so far go to another
// goroutine.
func (p *Picker) Release() { p.s.release() }

// fieldCaches are reused from batch to batch: a cache's tables are as
// long as the number of rule fields loaded.
var fieldCaches = sync.Pool{New: func() any { return newFieldCache() }}

func safeMatch(r *Rule, ec *evalCtx) (ok bool, p any) {
	defer func() {
		if q := recover(); q != nil {
			ok, p = false, q
		}
	}()
	return r.match(ec), nil
}
