package detect

import (
	"context"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// A sequence whose condition is not just the OR of its steps: the kind
// reads its steps' outcomes from the condition pass (Picker's verdicts)
// where that pass evaluated them, and evaluates the others.
const reuseRule = `title: t
id: 00000000-0000-4000-8000-000000000077
logsource: {product: azure, service: signinlogs}
detection:
  first:
    event.result_code: "50126"
  second:
    actor.ip: "2.2.2.2"
  noise:
    actor.upn: "nobody@x"
  condition: first or second or noise
correlation:
  type: sequence
  group-by: [actor.upn]
  timespan: 1h
  steps: [first, second]
level: medium
`

// pickEval runs evs through the Picker and EvaluateSelected, the
// pipeline's path, and checks the verdicts kept the selection outcomes.
func pickEval(t *testing.T, e *Engine, evs ...*event.Event) ([]Match, *Verdicts) {
	t.Helper()
	p := e.NewPicker()
	defer p.Release()
	var v Verdicts
	for _, ev := range evs {
		p.Pick(ev, &v, true)
	}
	if !v.masks() {
		t.Fatalf("the Picker kept no selection outcomes: %d picks, %d masks", len(v.picks), len(v.known))
	}
	ms, rej, err := e.EvaluateSelected(context.Background(), evs, &v)
	if err != nil || len(rej) != 0 {
		t.Fatalf("evaluate: %v %v", err, rej)
	}
	return ms, &v
}

func TestSequenceReusesTheConditionsSelections(t *testing.T) {
	r, err := ParseRule("reuse.yml", []byte(reuseRule))
	if err != nil {
		t.Fatal(err)
	}
	// step 1 only (second unknown to the condition pass: short-circuited),
	// step 2 only (first known false, second known true).
	s1 := func(id string, at time.Time) *event.Event { return signIn(id, "u@x", "1.1.1.1", "50126", "", at) }
	s2 := func(id string, at time.Time) *event.Event { return signIn(id, "u@x", "2.2.2.2", "0", "", at) }

	t.Run("step 1 then step 2", func(t *testing.T) {
		e := newKindEngine(t, r, state.NewMemory())
		a, b := s1("a", t0), s2("b", t0.Add(time.Minute))
		ms, v := pickEval(t, e, a, b)
		if len(ms) != 1 || len(ms[0].Events) != 2 || ms[0].Events[0] != a || ms[0].Events[1] != b {
			t.Fatalf("step 1 then step 2 raised %+v", ms)
		}
		// The outcomes the kind read: a's first (true) alone; b's first
		// (false) and second (true).
		if v.known[0] != 1|condBit || v.hit[0] != 1|condBit || v.known[1] != 3|condBit || v.hit[1] != 2|condBit {
			t.Fatalf("kept outcomes known %b hit %b", v.known, v.hit)
		}
		if ref := eval(t, newKindEngine(t, r, state.NewMemory()), s1("a", t0), s2("b", t0.Add(time.Minute))); len(ref) != 1 {
			t.Fatalf("Evaluate (no outcomes kept) raised %+v", ref)
		}
	})
	t.Run("step 2 then step 1", func(t *testing.T) {
		e := newKindEngine(t, r, state.NewMemory())
		if ms, _ := pickEval(t, e, s2("b", t0), s1("a", t0.Add(time.Minute))); len(ms) != 0 {
			t.Fatalf("step 2 before step 1 raised %+v", ms)
		}
	})
	t.Run("step 2 only", func(t *testing.T) {
		e := newKindEngine(t, r, state.NewMemory())
		if ms, _ := pickEval(t, e, s2("b", t0), s2("c", t0.Add(time.Minute))); len(ms) != 0 {
			t.Fatalf("step 2 alone raised %+v", ms)
		}
	})
	t.Run("one event both steps, then step 2", func(t *testing.T) {
		e := newKindEngine(t, r, state.NewMemory())
		both := signIn("a", "u@x", "2.2.2.2", "50126", "", t0)
		if ms, _ := pickEval(t, e, both, s2("c", t0.Add(time.Minute))); len(ms) != 1 {
			t.Fatalf("an event of both steps then step 2 raised %+v", ms)
		}
	})
}
