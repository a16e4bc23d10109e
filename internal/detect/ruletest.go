package detect

import (
	"context"
	"fmt"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// TestResult is the outcome of one of a rule's own test cases.
type TestResult struct {
	RuleID string
	File   string
	Case   string
	Want   bool
	Got    bool
	Source string // the source the record parsed as
	Err    error  // the record did not parse
	// Stateful cases: alerts wanted (-1: at least one when Want) and raised.
	WantAlerts, GotAlerts int
}

// OK reports whether the case parsed and matched as wanted.
func (t TestResult) OK() bool {
	if t.Err != nil || t.Want != t.Got {
		return false
	}
	return t.WantAlerts < 0 || t.WantAlerts == t.GotAlerts
}

func (t TestResult) String() string {
	switch {
	case t.Err != nil:
		return fmt.Sprintf("%s: rule %s: test %q: %v", t.File, t.RuleID, t.Case, t.Err)
	case t.OK():
		return fmt.Sprintf("%s: rule %s: test %q: ok", t.File, t.RuleID, t.Case)
	}
	if t.GotAlerts > 0 || t.WantAlerts > 0 {
		return fmt.Sprintf("%s: rule %s: test %q: want %d alert(s), got %d", t.File, t.RuleID, t.Case, t.WantAlerts, t.GotAlerts)
	}
	return fmt.Sprintf("%s: rule %s: test %q: want match=%t, got %t (record parsed as %s)",
		t.File, t.RuleID, t.Case, t.Want, t.Got, t.Source)
}

// RunTests runs every rule's own test cases. parse turns a raw record into
// an event (the source registry's parser, injected so that detect does not
// depend on the sources). A rule matches a record only when the record
// parses as the rule's service, as in the engine.
func RunTests(rules []*Rule, parse func(raw []byte) (*event.Event, error)) []TestResult {
	return RunTestsWith(rules, parse, TestOptions{})
}

// TestOptions choose how stateful rules' cases run.
type TestOptions struct {
	// NewStore gives each case an empty store (default: a state.Memory).
	NewStore func() (state.Store, error)
	// Batch is how many records go in one batch (0: all in one).
	Batch int
	// Replay feeds the records a second time and requires that no alert
	// the first pass did not raise appears (a redelivered batch).
	Replay bool
	// Expand, when set, gives the events the pipeline derives from a parsed
	// record besides the record itself (one per flow tuple:
	// source.Registry.Expand), evaluated after it.
	Expand func(ev *event.Event) ([]*event.Event, error)
}

// parseAll parses one test record into the events the pipeline would
// evaluate: the record's and those opts.Expand derives from it.
func (opts TestOptions) parseAll(parse func(raw []byte) (*event.Event, error), raw []byte) ([]*event.Event, error) {
	ev, err := parse(raw)
	if err == nil && ev == nil {
		err = fmt.Errorf("parse returned no event")
	}
	if err != nil {
		return nil, err
	}
	evs := []*event.Event{ev}
	if opts.Expand != nil {
		more, err := opts.Expand(ev)
		if err != nil {
			return nil, err
		}
		evs = append(evs, more...)
	}
	return evs, nil
}

// RunTestsWith is RunTests with the stateful cases run as opts say.
func RunTestsWith(rules []*Rule, parse func(raw []byte) (*event.Event, error), opts TestOptions) []TestResult {
	var out []TestResult
	for _, r := range rules {
		tests, err := r.testCases()
		if err != nil {
			// A malformed test case fails the rule's tests, named by file
			// and rule (it fails loading when the rule comes from disk).
			out = append(out, TestResult{RuleID: r.ID, File: r.File, Case: "tests:", Err: err})
			continue
		}
		if _, ok := r.Kind.(statefulKind); ok {
			out = append(out, runStatefulTests(r, parse, opts)...)
			continue
		}
		for _, tc := range tests {
			res := TestResult{RuleID: r.ID, File: r.File, Case: tc.Name, Want: tc.Match}
			evs, err := opts.parseAll(parse, tc.Record)
			if err != nil {
				res.Err = fmt.Errorf("parse record: %w", err)
				out = append(out, res)
				continue
			}
			res.Source = evs[0].Source
			for _, ev := range evs {
				if ev.Source == r.service {
					res.Source = ev.Source
					res.Got = res.Got || r.Match(ev)
				}
			}
			out = append(out, res)
		}
	}
	return out
}

// runStatefulTests feeds each case's records through an engine holding only
// this rule, on an empty store, and counts the distinct alerts (group key
// and window) raised.
func runStatefulTests(r *Rule, parse func(raw []byte) (*event.Event, error), opts TestOptions) []TestResult {
	var out []TestResult
	ctx := context.Background()
	tests, _ := r.testCases() // decoded by RunTestsWith
	for _, tc := range tests {
		res := TestResult{RuleID: r.ID, File: r.File, Case: tc.Name, Want: tc.Match, WantAlerts: tc.Alerts}
		res.Err = func() error {
			var events []*event.Event
			for i, raw := range tc.Records {
				evs, err := opts.parseAll(parse, raw)
				if err != nil {
					return fmt.Errorf("record %d: parse: %w", i+1, err)
				}
				res.Source = evs[len(evs)-1].Source
				events = append(events, evs...)
			}
			var store state.Store = state.NewMemory()
			if opts.NewStore != nil {
				var err error
				if store, err = opts.NewStore(); err != nil {
					return err
				}
			}
			eng, err := NewEngine([]*Rule{r}, WithStore(store))
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			pass := func() (int, error) {
				fresh := 0
				size := opts.Batch
				if size <= 0 {
					size = len(events) + 1
				}
				for i := 0; i < len(events); i += size {
					ms, err := eng.Evaluate(ctx, events[i:min(i+size, len(events))])
					if err != nil {
						return 0, err
					}
					for _, m := range ms {
						id := m.GroupKey + "\x00" + m.WindowStart.UTC().Format(time.RFC3339Nano)
						if !seen[id] {
							seen[id] = true
							fresh++
						}
					}
				}
				return fresh, nil
			}
			n, err := pass()
			if err != nil {
				return err
			}
			res.GotAlerts = n
			res.Got = n > 0
			if opts.Replay {
				again, err := pass()
				if err != nil {
					return err
				}
				if again > 0 {
					return fmt.Errorf("replaying the records raised %d new alert(s)", again)
				}
			}
			return nil
		}()
		out = append(out, res)
	}
	return out
}
