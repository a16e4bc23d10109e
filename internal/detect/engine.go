package detect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// Kind is how a rule turns the events its condition selected into matches.
// MatchKind raises one match per event; the stateful kinds (threshold,
// new-term, spike, sequence) implement the same interface with a state
// store injected at construction, and keep their windows there.
type Kind interface {
	// Name is the kind's name in rule files and alerts ("match").
	Name() string
	// Matches receives, once per batch and in batch order, the events of
	// the batch that the rule's condition selected (never empty), and
	// returns the matches they raise now.
	Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error)
}

// Match is one detection: the rule and the events behind it (one event for
// the match kind; several for thresholds and sequences).
type Match struct {
	Rule   *Rule
	Events []*event.Event

	// Stateful kinds fill these; the match kind leaves them zero.
	// GroupKey and WindowStart make the alert id: the same rule, group and
	// window always raise the same alert, so one raised again (a replayed
	// batch, a later batch of the same window) is a duplicate to drop.
	GroupKey    string
	WindowStart time.Time
	Count       int      // events counted, distinct values, or the window's count
	Values      []string // distinct values (value_count), the new term, the baseline mean
}

// Engine evaluates a fixed set of rules against batches of events. It is
// safe for concurrent use once built.
type Engine struct {
	rules     []*Rule
	kinds     []Kind           // per rule: its kind, stateful ones bound to the store
	byService map[string][]int // service -> indexes into rules
	// bySource indexes a service's rules by the field values they need
	// (ruleindex.go); nil for a service none of whose rules need one.
	bySource map[string]*sourceIndex
	noIndex  bool // evaluate every rule of a source (the tests' reference)
	store    state.Store
	// memoRule, per rule: its kind reuses the condition pass's selection
	// outcomes (selMemo: sequence, new_term with a learn selection). The
	// Picker keeps outcomes for these rules' picks only.
	memoRule []bool
}

// Option configures an Engine.
type Option func(*engineConfig)

type engineConfig struct {
	disabled  map[string]bool
	store     state.Store
	now       func() time.Time
	overrides []string
	// sweptByEventTime: WithEventTimeSweep.
	sweptByEventTime bool
}

// WithStore is where the stateful kinds (threshold, new-term, spike,
// sequence) keep their state, table StateTable. Without it an engine keeps
// its state in a state.Memory of its own.
func WithStore(s state.Store) Option {
	return func(c *engineConfig) { c.store = s }
}

// WithClock sets the wall clock the stateful kinds use for expiry floors
// (windows themselves follow event time). Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *engineConfig) { c.now = now }
}

// WithEventTimeSweep says the caller sweeps the store by event time as it
// goes, behind a watermark that holds its own slack for late records
// (scan): a threshold window's entities then expire at the window's end,
// not a window later (the margin serve keeps for batches delivered late).
// No record at or after such a watermark falls in a window that ended
// before it, so the alerts are the same; the state holds about one window
// of each rule instead of two. Such a caller is the store's only writer,
// evaluating a batch at a time: a threshold group short of its condition
// is not read again after the write (no other instance can have added to
// it meanwhile).
func WithEventTimeSweep() Option {
	return func(c *engineConfig) { c.sweptByEventTime = true }
}

// WithOverrides changes stateful rules' settings: each entry is
// "rule.param=value", rule being the rule's id or name and param one of
// threshold, window, lookback, learning, baseline, factor, min_history
// (AZDETECT_RULE_OVERRIDES). An unknown rule or param is an error.
func WithOverrides(entries ...string) Option {
	return func(c *engineConfig) { c.overrides = append(c.overrides, entries...) }
}

// WithDisabled leaves out the rules with these ids (case-insensitive). An
// id that names no loaded rule is an error, so a typo does not leave a rule
// silently running.
func WithDisabled(ids ...string) Option {
	return func(c *engineConfig) {
		for _, id := range ids {
			if id = strings.TrimSpace(id); id != "" {
				c.disabled[strings.ToLower(id)] = true
			}
		}
	}
}

// NewEngine indexes rules by their logsource service: a rule sees only the
// events whose Source equals its service.
func NewEngine(rules []*Rule, opts ...Option) (*Engine, error) {
	cfg := engineConfig{disabled: map[string]bool{}, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.store == nil {
		cfg.store = state.NewMemory()
	}
	for i, r := range rules {
		if r == nil || r.cond == nil {
			return nil, fmt.Errorf("rule %d: not loaded by ParseRule/LoadFS", i)
		}
	}
	if err := checkUniqueIDs(rules); err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(rules))
	for _, r := range rules {
		known[strings.ToLower(r.ID)] = true
	}
	var errs []error
	for id := range cfg.disabled {
		if !known[id] {
			errs = append(errs, fmt.Errorf("disable rule %s: no such rule", id))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	kinds, err := bindKinds(rules, cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{byService: make(map[string][]int), store: cfg.store}
	for i, r := range rules {
		if cfg.disabled[strings.ToLower(r.ID)] {
			continue
		}
		e.byService[r.service] = append(e.byService[r.service], len(e.rules))
		e.rules = append(e.rules, r)
		e.kinds = append(e.kinds, kinds[i])
		e.memoRule = append(e.memoRule, reusesOutcomes(r, kinds[i]))
	}
	// The enabled rules' regular expressions get their automata now, not
	// on the first value each meets (lazyDFA): that build was a scan's
	// cost after its first record, as much as half a thousand
	// instructions a record over 3000 of a mix.
	for _, r := range e.rules {
		buildAutomata(r)
	}
	// The raw paths each source's rules read: their objects are indexed
	// from the decoders' layouts for those paths only (pathtable.go).
	publishPathTables(sortedKeys(e.byService))
	e.bySource = make(map[string]*sourceIndex, len(e.byService))
	for svc, idx := range e.byService {
		if si := buildSourceIndex(e.rules, idx); si != nil {
			e.bySource[svc] = si
		}
	}
	return e, nil
}

// Rules returns the enabled rules, in load order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Evaluate runs every enabled rule over the events of one batch. Matches
// come in rule order, then event order within a rule. It stops at the first
// error from a kind or when ctx is done. An error that is only RecordErrors
// (records whose content the state store refused, see RecordError) comes
// with the complete matches: the caller dead-letters those records.
func (e *Engine) Evaluate(ctx context.Context, events []*event.Event) ([]Match, error) {
	out, _, err := e.evaluate(ctx, events, false)
	return out, err
}

// EvaluateIsolated is Evaluate for input that may be hostile: a failure
// caused by one event's content (ContentFault) is that event's alone. The
// rule that failed is evaluated again without the events behind the fault,
// which come back as Rejected (each rule, and every other rule, still sees
// them); the matches are those of everything else. The error is only a
// dependency failure (the store unreachable) or ctx being done.
func (e *Engine) EvaluateIsolated(ctx context.Context, events []*event.Event) ([]Match, []Rejected, error) {
	return e.evaluate(ctx, events, true)
}

func (e *Engine) evaluate(ctx context.Context, events []*event.Event, isolate bool) ([]Match, []Rejected, error) {
	// The selected events' layouts serve the kinds; the matches returned
	// (evidence) keep none.
	defer event.ReleaseLayouts(events)
	selected, rejected, err := e.selectEvents(ctx, events, isolate)
	if err != nil {
		return nil, nil, err
	}
	return e.stage(ctx, events, selected, rejected, isolate, nil).run()
}

// Verdicts is the stateless half of EvaluateIsolated over a run of events:
// which rules' conditions selected each event, and the conditions that
// panicked on it. Select computes it, on any goroutine: the conditions
// hold no state, so the events of a batch can be selected in parts at
// once; EvaluateSelected then runs the kinds over a batch, in batch order.
type Verdicts struct {
	at    []int32 // per event: the end of its rules in picks
	picks []int32 // the selecting rules' indexes, event after event
	// rejected: the conditions that panicked, in event order; rejAt the
	// index of each one's event.
	rejected []Rejected
	rejAt    []int32
	// known and hit, per pick of a rule whose kind reuses them
	// (Engine.memoRule; the Picker's), the pick's index in maskAt, in
	// pick order: which of the rule's selections its condition evaluated
	// for the event, and which of those matched (evalCtx). noMasks: some
	// picks have none (Select's), so none are used.
	known, hit []uint64
	maskAt     []int32
	noMasks    bool
}

// masks reports whether every pick of a rule reusing outcomes has them.
func (v *Verdicts) masks() bool { return !v.noMasks && len(v.known) == len(v.maskAt) }

// reusesOutcomes reports whether the rule's kind reads the condition
// pass's selection outcomes (selMemos).
func reusesOutcomes(r *Rule, k Kind) bool {
	switch k.(type) {
	case *SequenceKind:
		return true
	case *NewTermKind:
		return r.learn != nil
	}
	return false
}

// Len is the number of events judged.
func (v *Verdicts) Len() int { return len(v.at) }

// Append adds the verdicts of o's events [from, to) after v's.
func (v *Verdicts) Append(o *Verdicts, from, to int) {
	if from >= to {
		return
	}
	start := int32(0)
	if from > 0 {
		start = o.at[from-1]
	}
	base := int32(len(v.picks)) - start
	if v.masks() && o.masks() {
		// o's outcomes of the picks [start, end), in pick order.
		end := o.at[to-1]
		lo, _ := slices.BinarySearch(o.maskAt, start)
		hi, _ := slices.BinarySearch(o.maskAt, end)
		v.known = append(v.known, o.known[lo:hi]...)
		v.hit = append(v.hit, o.hit[lo:hi]...)
		for _, p := range o.maskAt[lo:hi] {
			v.maskAt = append(v.maskAt, p+base)
		}
	} else {
		v.noMasks = true
	}
	v.picks = append(v.picks, o.picks[start:o.at[to-1]]...)
	n := int32(len(v.at))
	for _, end := range o.at[from:to] {
		v.at = append(v.at, end+base)
	}
	for j, at := range o.rejAt {
		if int(at) >= from && int(at) < to {
			v.rejected = append(v.rejected, o.rejected[j])
			v.rejAt = append(v.rejAt, at-int32(from)+n)
		}
	}
}

// Reset empties v, keeping its memory.
func (v *Verdicts) Reset() {
	v.at, v.picks, v.rejected, v.rejAt = v.at[:0], v.picks[:0], v.rejected[:0], v.rejAt[:0]
	v.known, v.hit, v.maskAt, v.noMasks = v.known[:0], v.hit[:0], v.maskAt[:0], false
}

// Select runs every rule's condition over events, as EvaluateIsolated
// does (a panic in a condition rejects that event for that rule alone),
// and adds the verdicts to v. It is safe to call on several goroutines at
// once, each with its own events and Verdicts.
func (e *Engine) Select(ctx context.Context, events []*event.Event, v *Verdicts) error {
	base := len(v.at)
	start := len(v.picks)
	v.noMasks = true                    // Select keeps no selection outcomes
	at := make([]int32, 0, len(events)) // per event: the end of its picks
	pick := func(i, j int) {
		for len(at) <= j {
			at = append(at, int32(len(v.picks)))
		}
		v.picks = append(v.picks, int32(i))
		at[j] = int32(len(v.picks))
	}
	reset := func() { v.picks, at = v.picks[:start], at[:0] }
	rejected, err := e.selectIsolated(ctx, events, pick, reset)
	if err != nil {
		return err
	}
	for len(at) < len(events) {
		at = append(at, int32(len(v.picks)))
	}
	v.at = append(v.at, at...)
	for _, rj := range rejected {
		j := slices.Index(events, rj.Event)
		v.rejected = append(v.rejected, rj)
		v.rejAt = append(v.rejAt, int32(base+j))
	}
	return nil
}

// EvaluateSelected is EvaluateIsolated over events whose verdicts Select
// gave (v holds exactly theirs, in the same order): the kinds' half, which
// keeps state and so runs one batch after another. The selected events
// keep the layouts their decoder made (Select leaves them for the kinds,
// and for the severities and summaries of their alerts to read): the
// caller releases them once its last read of the events is done
// (event.ReleaseLayouts), before it keeps any of them longer.
func (e *Engine) EvaluateSelected(ctx context.Context, events []*event.Event, v *Verdicts) ([]Match, []Rejected, error) {
	s, err := e.Stage(ctx, events, v)
	if err != nil {
		return nil, nil, err
	}
	return s.run()
}

// Stage is EvaluateSelected in parts, for a caller that evaluates batch
// after batch and lets each stateful rule go on to the next batch while
// the others finish this one: a rule's state is its own (its partitions
// are named by its id), so what rule i raises for a batch depends on the
// batches before that rule alone saw, never on when the other rules
// evaluate. Stage returns the batch's parts; the caller calls Stateless
// once and Run once for each rule of Stateful, then Result. The same
// contract as EvaluateSelected holds for the layouts of the events.
func (e *Engine) Stage(ctx context.Context, events []*event.Event, v *Verdicts) (*Staged, error) {
	if v.Len() != len(events) {
		return nil, fmt.Errorf("evaluate: %d verdicts for %d events", v.Len(), len(events))
	}
	// Each rule's events are a part of one list: counted, then placed.
	selected := make([][]*event.Event, len(e.rules))
	total := 0
	if len(v.at) > 0 {
		total = int(v.at[len(v.at)-1])
	}
	counts := make([]int32, len(e.rules))
	for _, i := range v.picks[:total] {
		counts[i]++
	}
	flat := make([]*event.Event, 0, total)
	for i, n := range counts {
		if n > 0 {
			selected[i] = flat[len(flat) : len(flat) : len(flat)+int(n)]
			flat = flat[:len(flat)+int(n)]
		}
	}
	prev := int32(0)
	for j, end := range v.at {
		for _, i := range v.picks[prev:end] {
			selected[i] = append(selected[i], events[j])
		}
		prev = end
	}
	rejected := slices.Clone(v.rejected)
	return e.stage(ctx, events, selected, rejected, true, e.selMemos(v, selected)), nil
}

// Staged is one batch's evaluation in parts (Engine.Stage): the rules
// that keep no state, each stateful rule on its own, then the result.
type Staged struct {
	e        *Engine
	ctx      context.Context
	events   []*event.Event
	selected [][]*event.Event
	rejected []Rejected
	isolate  bool
	memos    []*selMemo
	stateful []int // the rules with events whose kinds keep state
	results  [][]Match
	rejects  [][]Rejected
	errs     []error
}

func (e *Engine) stage(ctx context.Context, events []*event.Event, selected [][]*event.Event, rejected []Rejected, isolate bool, memos []*selMemo) *Staged {
	s := &Staged{e: e, ctx: e.shareSnapshots(ctx, selected), events: events, selected: selected, rejected: rejected,
		isolate: isolate, memos: memos, results: make([][]Match, len(selected)), rejects: make([][]Rejected, len(selected)),
		errs: make([]error, len(selected))}
	for i, evs := range selected {
		if len(evs) == 0 {
			continue
		}
		if _, stateless := e.kinds[i].(MatchKind); !stateless {
			s.stateful = append(s.stateful, i)
		}
	}
	return s
}

// Stateful returns the rules Run must evaluate, in rule order: those with
// events in the batch whose kinds keep state.
func (s *Staged) Stateful() []int { return s.stateful }

// Stateless evaluates the batch's rules whose kinds keep no state (match).
func (s *Staged) Stateless() {
	for i, evs := range s.selected {
		if len(evs) == 0 {
			continue
		}
		if _, stateless := s.e.kinds[i].(MatchKind); stateless {
			s.results[i], s.rejects[i], s.errs[i] = s.e.matchesOf(s.ctx, i, evs, s.isolate)
		}
	}
}

// Run evaluates stateful rule i over its events of the batch. The Runs of
// one batch may run at once, on any goroutines, and at once with other
// rules' Runs of other batches; rule i's Run of a batch must return
// before its Run of the next batch starts (its state follows the batches
// in order).
func (s *Staged) Run(i int) {
	ctx := s.ctx
	if s.memos != nil && s.memos[i] != nil {
		ctx = context.WithValue(ctx, selMemoKey{}, s.memos[i])
	}
	s.results[i], s.rejects[i], s.errs[i] = s.e.matchesOf(ctx, i, s.selected[i], s.isolate)
}

// run is every part at once (each stateful rule on a goroutine of its
// own, at most maxStatefulParallel at a time), then the result.
func (s *Staged) run() ([]Match, []Rejected, error) {
	// Stateful kinds wait on the store: run them at once (each still reads
	// and writes its state once), then gather every rule's matches in rule
	// order.
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxStatefulParallel)
	for _, i := range s.stateful {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.Run(i)
		}()
	}
	s.Stateless()
	wg.Wait()
	return s.Result()
}

// Result gathers the matches and rejected events of every rule, in rule
// order, once Stateless and every Run returned; its error is the first
// rule's failure (EvaluateSelected's).
func (s *Staged) Result() ([]Match, []Rejected, error) {
	e, rejected := s.e, s.rejected
	var out []Match
	var refused RecordErrors
	for i := range s.selected {
		if re, ok := AsRecordErrors(s.errs[i]); ok && !s.isolate {
			// Evaluate: the matches are complete; the caller
			// dead-letters the refused records.
			refused = append(refused, re...)
		} else if s.errs[i] != nil {
			return out, rejected, fmt.Errorf("rule %s (%s): %w", e.rules[i].ID, e.kinds[i].Name(), s.errs[i])
		}
		out = append(out, s.results[i]...)
		rejected = append(rejected, s.rejects[i]...)
	}
	if len(refused) > 0 {
		// Name each refused record by its place in this batch.
		at := make(map[*event.Event]int, len(s.events))
		for i, ev := range s.events {
			at[ev] = i
		}
		for _, r := range refused {
			if i, ok := at[r.Event]; ok {
				r.Index = i
			}
		}
		return out, rejected, refused
	}
	return out, rejected, nil
}

// selMemo is what the condition pass learnt of one rule's selected
// events: per event (events[j]), the selections it evaluated (known) and
// those that matched (hit), bit n for the rule's selection n.
type selMemo struct {
	events     []*event.Event
	known, hit []uint64
}

// outcome returns the memo's known and hit of ev, at j of the events the
// kind was given: none unless the memo's event at j is ev (the kind may
// be given a part of the list, when a fault is isolated).
func (m *selMemo) outcome(j int, ev *event.Event) (known, hit uint64) {
	if m == nil || j >= len(m.events) || m.events[j] != ev {
		return 0, 0
	}
	return m.known[j], m.hit[j]
}

type selMemoKey struct{}

func selMemoOf(ctx context.Context) *selMemo {
	m, _ := ctx.Value(selMemoKey{}).(*selMemo)
	return m
}

// selMemos returns, per rule whose kind reuses them (sequence, new_term
// with a learn selection), the
// selection outcomes of its selected events, when v kept them.
func (e *Engine) selMemos(v *Verdicts, selected [][]*event.Event) []*selMemo {
	if !v.masks() {
		return nil
	}
	var memos []*selMemo
	for i, evs := range selected {
		if !e.memoRule[i] || len(evs) == 0 {
			continue
		}
		if memos == nil {
			memos = make([]*selMemo, len(selected))
		}
		memos[i] = &selMemo{events: evs, known: make([]uint64, 0, len(evs)), hit: make([]uint64, 0, len(evs))}
	}
	if memos == nil {
		return nil
	}
	for m, p := range v.maskAt {
		if int(p) >= len(v.picks) {
			continue
		}
		if memo := memos[v.picks[p]]; memo != nil {
			memo.known, memo.hit = append(memo.known, v.known[m]), append(memo.hit, v.hit[m])
		}
	}
	// A rule's outcomes are its events', one for one, or none are used.
	for i, memo := range memos {
		if memo != nil && len(memo.known) != len(memo.events) {
			memos[i] = nil
		}
	}
	return memos
}

// shareSnapshots returns ctx with a snapShare for the batch when two or
// more sequence rules have events in it (they may snapshot the same ones).
func (e *Engine) shareSnapshots(ctx context.Context, selected [][]*event.Event) context.Context {
	n := 0
	for i, evs := range selected {
		if _, seq := e.kinds[i].(*SequenceKind); seq && len(evs) > 0 {
			if n++; n == 2 {
				return withSnapShare(ctx)
			}
		}
	}
	return ctx
}

// maxStatefulParallel bounds the stateful rules evaluated at once for one
// batch (each holds a few storage round trips in flight).
const maxStatefulParallel = 8

// Store returns the store the engine's stateful kinds use.
func (e *Engine) Store() state.Store { return e.store }

// bindKinds gives each rule its kind for one engine: match rules keep
// theirs; stateful rules get their kind bound to the store, with the
// overrides applied to a copy of their settings.
func bindKinds(rules []*Rule, cfg engineConfig) ([]Kind, error) {
	ov, err := ParseOverrides(cfg.overrides)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	var errs []error
	kinds := make([]Kind, len(rules))
	for i, r := range rules {
		sk, ok := r.Kind.(statefulKind)
		if !ok {
			kinds[i] = r.Kind
			continue
		}
		c := sk.correlation().clone()
		for _, name := range []string{strings.ToLower(r.ID), strings.ToLower(r.Name)} {
			if name == "" || ov[name] == nil {
				continue
			}
			used[name] = true
			for _, p := range sortedKeys(ov[name]) {
				if err := c.Override(p, ov[name][p]); err != nil {
					errs = append(errs, fmt.Errorf("override rule %s: %w", name, err))
				}
			}
		}
		kinds[i] = sk.bind(r, c, cfg.store, cfg.now)
		if t, ok := kinds[i].(*ThresholdKind); ok {
			t.expireAtEnd = cfg.sweptByEventTime
		}
	}
	for _, name := range sortedKeys(ov) {
		if !used[name] {
			errs = append(errs, fmt.Errorf("override rule %s: no such stateful rule", name))
		}
	}
	return kinds, errors.Join(errs...)
}
