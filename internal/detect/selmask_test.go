package detect

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// plainRule is a match rule over the same sign-ins as reuseRule: its
// picks keep no selection outcomes.
const plainRule = `title: p
id: 00000000-0000-4000-8000-000000000079
logsource: {product: azure, service: signinlogs}
detection:
  some:
    event.result_code: ["0", "50126"]
  condition: some
level: low
`

// TestVerdictsMasksOnlyForReusingRules: the Picker keeps selection
// outcomes for the picks of rules whose kind reuses them (a sequence), not
// for a match rule's; verdicts appended in parts keep each outcome with
// its pick, and the kinds read the same outcomes and raise the same
// matches as from the whole.
func TestVerdictsMasksOnlyForReusingRules(t *testing.T) {
	seq, err := ParseRule("reuse.yml", []byte(reuseRule))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ParseRule("plain.yml", []byte(plainRule))
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for i := range 40 {
		code, ip := "50126", "1.1.1.1"
		if i%3 == 0 {
			code, ip = "0", "2.2.2.2"
		}
		evs = append(evs, signIn(fmt.Sprint(i), fmt.Sprintf("u%d@x", i%4), ip, code, "", t0.Add(time.Duration(i)*time.Minute)))
	}
	newEngine := func() *Engine {
		e, err := NewEngine([]*Rule{plain, seq}, WithStore(state.NewMemory()), WithClock(fixedClock))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := newEngine()
	p := e.NewPicker()
	var whole Verdicts
	for _, ev := range evs {
		p.Pick(ev, &whole, true)
	}
	p.Release()
	seqPicks := 0
	for _, i := range whole.picks {
		if i == 1 {
			seqPicks++
		}
	}
	if !whole.masks() || len(whole.maskAt) != seqPicks || seqPicks == 0 {
		t.Fatalf("%d outcomes kept (masks %v), want one per sequence pick (%d)", len(whole.maskAt), whole.masks(), seqPicks)
	}
	for m, at := range whole.maskAt {
		if whole.picks[at] != 1 {
			t.Fatalf("outcome %d kept for pick %d of rule %d", m, at, whole.picks[at])
		}
	}
	for _, cut := range []int{0, 1, 7, 20, 39, 40} {
		var parts Verdicts
		parts.Append(&whole, 0, cut)
		parts.Append(&whole, cut, len(evs))
		if !slices.Equal(parts.picks, whole.picks) || !slices.Equal(parts.maskAt, whole.maskAt) ||
			!slices.Equal(parts.known, whole.known) || !slices.Equal(parts.hit, whole.hit) || !parts.masks() {
			t.Fatalf("cut at %d: verdicts appended in parts differ from the whole", cut)
		}
		// Each kind's memo is its events' outcomes, one for one.
		selected := make([][]*event.Event, len(e.rules))
		prev := int32(0)
		for j, end := range parts.at {
			for _, i := range parts.picks[prev:end] {
				selected[i] = append(selected[i], evs[j])
			}
			prev = end
		}
		memos := e.selMemos(&parts, selected)
		if memos == nil || memos[0] != nil || memos[1] == nil || len(memos[1].known) != len(selected[1]) {
			t.Fatalf("cut at %d: memos %+v", cut, memos)
		}
		got, _, err := newEngine().EvaluateSelected(context.Background(), evs, &parts)
		if err != nil {
			t.Fatal(err)
		}
		want, err := newEngine().Evaluate(context.Background(), evs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("cut at %d: %d matches from the picked verdicts, %d from Evaluate", cut, len(got), len(want))
		}
		for i := range got {
			if got[i].Rule != want[i].Rule || got[i].GroupKey != want[i].GroupKey || !got[i].WindowStart.Equal(want[i].WindowStart) || len(got[i].Events) != len(want[i].Events) {
				t.Fatalf("cut at %d: match %d %+v, want %+v", cut, i, got[i], want[i])
			}
		}
	}
}
