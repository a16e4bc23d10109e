package detect

import (
	"context"
	"errors"
	"fmt"
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
	store     state.Store
}

// Option configures an Engine.
type Option func(*engineConfig)

type engineConfig struct {
	disabled  map[string]bool
	store     state.Store
	now       func() time.Time
	overrides []string
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
	}
	return e, nil
}

// Rules returns the enabled rules, in load order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Evaluate runs every enabled rule over the events of one batch. Matches
// come in rule order, then event order within a rule. It stops at the first
// error from a kind or when ctx is done.
func (e *Engine) Evaluate(ctx context.Context, events []*event.Event) ([]Match, error) {
	selected := make([][]*event.Event, len(e.rules))
	cache := newFieldCache()
	ec := evalCtx{cache: cache}
	for _, ev := range events {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ev == nil {
			continue
		}
		idx := e.byService[ev.Source]
		if len(idx) == 0 {
			ev.ReleaseLayout()
			continue
		}
		cache.reset(ev)
		ec.ev = ev
		for _, i := range idx {
			if e.rules[i].match(&ec) {
				selected[i] = append(selected[i], ev)
			}
		}
		// Read once: an event kept (evidence, a sequence) keeps no layout.
		ev.ReleaseLayout()
	}
	// Stateful kinds wait on the store: run them at once (each still reads
	// and writes its state once), then gather every rule's matches in rule
	// order.
	results := make([][]Match, len(selected))
	errs := make([]error, len(selected))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxStatefulParallel)
	for i, evs := range selected {
		if len(evs) == 0 {
			continue
		}
		r, k := e.rules[i], e.kinds[i]
		if _, stateless := k.(MatchKind); stateless {
			results[i], errs[i] = k.Matches(ctx, r, evs)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = k.Matches(ctx, r, evs)
		}()
	}
	wg.Wait()
	var out []Match
	for i := range selected {
		if errs[i] != nil {
			return out, fmt.Errorf("rule %s (%s): %w", e.rules[i].ID, e.kinds[i].Name(), errs[i])
		}
		out = append(out, results[i]...)
	}
	return out, nil
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
	}
	for _, name := range sortedKeys(ov) {
		if !used[name] {
			errs = append(errs, fmt.Errorf("override rule %s: no such stateful rule", name))
		}
	}
	return kinds, errors.Join(errs...)
}
