package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// learnRule alerts on sign-ins from 6.6.6.6 (the condition) and learns from
// every successful sign-in (correlation.learn).
const learnRule = `title: t
id: 00000000-0000-4000-8000-000000000077
logsource: {product: azure, service: signinlogs}
detection:
  signin:
    event.result_code: "0"
  odd:
    actor.ip: 6.6.6.6
  condition: signin and odd
level: medium
correlation:
  type: new_term
  group-by: [actor.upn]
  fields: [geo.country]
  learn: signin
  learning: 1d
  lookback: 30d
`

// TestNewTermLearnSelection runs through Evaluate (the kind evaluates the
// condition again) and through the Picker and EvaluateSelected (the kind
// reads the condition pass's outcome): both must learn and alert alike.
func TestNewTermLearnSelection(t *testing.T) {
	t.Run("evaluate", func(t *testing.T) { testNewTermLearnSelection(t, eval) })
	t.Run("picker", func(t *testing.T) {
		testNewTermLearnSelection(t, func(t *testing.T, e *Engine, evs ...*event.Event) []Match {
			ms, _ := pickEval(t, e, evs...)
			return ms
		})
	})
}

func testNewTermLearnSelection(t *testing.T, eval func(*testing.T, *Engine, ...*event.Event) []Match) {
	r, err := ParseRule("learn.yml", []byte(learnRule))
	if err != nil {
		t.Fatal(err)
	}
	e := newKindEngine(t, r, state.NewMemory())
	day := 24 * time.Hour
	// Only ordinary sign-ins so far: they start the learning period and
	// teach US, and a new country among them never alerts.
	if ms := eval(t, e, signIn("1", "u@x", "1.1.1.1", "0", "US", t0)); len(ms) != 0 {
		t.Fatalf("a learn-only event raised %+v", ms)
	}
	if ms := eval(t, e, signIn("2", "u@x", "1.1.1.1", "0", "DE", t0.Add(2*day))); len(ms) != 0 {
		t.Fatalf("a learn-only event from a new country raised %+v", ms)
	}
	// The user's first alerting event is judged against what the learn
	// events taught: known countries are quiet, a new one alerts.
	if ms := eval(t, e, signIn("3", "u@x", "6.6.6.6", "0", "DE", t0.Add(2*day+time.Hour))); len(ms) != 0 {
		t.Fatalf("a country learned from an ordinary sign-in raised %+v", ms)
	}
	ms := eval(t, e, signIn("4", "u@x", "6.6.6.6", "0", "FR", t0.Add(2*day+2*time.Hour)))
	if len(ms) != 1 || ms[0].Values[0] != "FR" {
		t.Fatalf("first alerting event from a new country: %+v", ms)
	}
	if again := eval(t, e, signIn("4", "u@x", "6.6.6.6", "0", "FR", t0.Add(2*day+2*time.Hour))); len(again) != 1 || again[0].GroupKey != ms[0].GroupKey {
		t.Fatalf("replay must raise the same alert identity: %+v", again)
	}
	// In one batch, an ordinary sign-in from a country before the alerting
	// one makes it known; an alerting one first raises.
	if ms := eval(t, e, signIn("5", "u@x", "1.1.1.1", "0", "JP", t0.Add(3*day)), signIn("6", "u@x", "6.6.6.6", "0", "JP", t0.Add(3*day+time.Minute))); len(ms) != 0 {
		t.Fatalf("a country shown first by a learn event raised %+v", ms)
	}
	if ms := eval(t, e, signIn("7", "u@x", "6.6.6.6", "0", "BR", t0.Add(4*day)), signIn("8", "u@x", "1.1.1.1", "0", "BR", t0.Add(4*day+time.Minute))); len(ms) != 1 {
		t.Fatalf("an alerting event before the learn event: %+v", ms)
	}
	// Learning is per entity and counts learn events: a new user alerting
	// within a day of their first ordinary sign-in only learns.
	eval(t, e, signIn("9", "v@x", "1.1.1.1", "0", "US", t0.Add(5*day)))
	if ms := eval(t, e, signIn("10", "v@x", "6.6.6.6", "0", "NL", t0.Add(5*day+time.Hour))); len(ms) != 0 {
		t.Fatalf("learning period raised %+v", ms)
	}
	// A failed sign-in is in neither selection: it teaches nothing.
	eval(t, e, signIn("11", "v@x", "1.1.1.1", "50126", "IT", t0.Add(6*day)))
	if ms := eval(t, e, signIn("12", "v@x", "6.6.6.6", "0", "IT", t0.Add(7*day))); len(ms) != 1 {
		t.Fatalf("a country seen only in a failure must still be new: %+v", ms)
	}
}

func TestNewTermLearnLoadErrors(t *testing.T) {
	for name, tc := range map[string]struct{ from, to, want string }{
		"unknown selection": {"learn: signin", "learn: every", `correlation.learn: no selection named "every"`},
		"a list":            {"learn: signin", "learn: [signin, odd]", "correlation.learn: want one selection name"},
		"empty":             {"learn: signin", "learn: ''", "correlation.learn: want one selection name"},
		"not new_term":      {"type: new_term", "type: event_count\n  condition: {gte: 2}", "correlation.learn: only for new_term"},
	} {
		_, err := ParseRule("rules/signinlogs/learn.yml", []byte(strings.Replace(learnRule, tc.from, tc.to, 1)))
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "rules/signinlogs/learn.yml: rule 00000000-0000-4000-8000-000000000077: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: err = %s, want file, rule and %q", name, msg, tc.want)
		}
	}
}
