package detect

import (
	"fmt"

	"github.com/azdetect/azdetect/internal/event"
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
}

// OK reports whether the case parsed and matched as wanted.
func (t TestResult) OK() bool { return t.Err == nil && t.Want == t.Got }

func (t TestResult) String() string {
	switch {
	case t.Err != nil:
		return fmt.Sprintf("%s: rule %s: test %q: %v", t.File, t.RuleID, t.Case, t.Err)
	case t.OK():
		return fmt.Sprintf("%s: rule %s: test %q: ok", t.File, t.RuleID, t.Case)
	}
	return fmt.Sprintf("%s: rule %s: test %q: want match=%t, got %t (record parsed as %s)",
		t.File, t.RuleID, t.Case, t.Want, t.Got, t.Source)
}

// RunTests runs every rule's own test cases. parse turns a raw record into
// an event (the source registry's parser, injected so that detect does not
// depend on the sources). A rule matches a record only when the record
// parses as the rule's service, as in the engine.
func RunTests(rules []*Rule, parse func(raw []byte) (*event.Event, error)) []TestResult {
	var out []TestResult
	for _, r := range rules {
		for _, tc := range r.Tests {
			res := TestResult{RuleID: r.ID, File: r.File, Case: tc.Name, Want: tc.Match}
			ev, err := parse(tc.Record)
			if err == nil && ev == nil {
				err = fmt.Errorf("parse returned no event")
			}
			if err != nil {
				res.Err = fmt.Errorf("parse record: %w", err)
				out = append(out, res)
				continue
			}
			res.Source = ev.Source
			res.Got = ev.Source == r.service && r.Match(ev)
			out = append(out, res)
		}
	}
	return out
}
