package detect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
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
}

// Engine evaluates a fixed set of rules against batches of events. It is
// safe for concurrent use once built.
type Engine struct {
	rules     []*Rule
	byService map[string][]int // service -> indexes into rules
}

// Option configures an Engine.
type Option func(*engineConfig)

type engineConfig struct {
	disabled map[string]bool
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
	cfg := engineConfig{disabled: map[string]bool{}}
	for _, o := range opts {
		o(&cfg)
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
	e := &Engine{byService: make(map[string][]int)}
	for _, r := range rules {
		if cfg.disabled[strings.ToLower(r.ID)] {
			continue
		}
		e.byService[r.service] = append(e.byService[r.service], len(e.rules))
		e.rules = append(e.rules, r)
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
			continue
		}
		cache.reset(ev)
		ec.ev = ev
		for _, i := range idx {
			if e.rules[i].match(&ec) {
				selected[i] = append(selected[i], ev)
			}
		}
	}
	var out []Match
	for i, evs := range selected {
		if len(evs) == 0 {
			continue
		}
		r := e.rules[i]
		ms, err := r.Kind.Matches(ctx, r, evs)
		if err != nil {
			return out, fmt.Errorf("rule %s (%s): %w", r.ID, r.Kind.Name(), err)
		}
		out = append(out, ms...)
	}
	return out, nil
}
