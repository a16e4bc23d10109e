package detect

import (
	"context"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/source"
)

// TestWalksPerRecord counts how much of each record the engine walks
// again after its decoder (walkedBytes), over the benchmark's realistic
// records, with the built-in rules, the way the pipeline reads them:
// conditions (Select), kinds (EvaluateSelected), then each match's
// severity and summary, and only then the layouts released. Every read
// goes through the offsets the decoder kept: what is left is the few
// small objects no decoder goes into. The same events with their layouts
// released after the condition pass (the engine's old order) are walked
// again (sign-ins most: their stateful rules read them), which shows the
// counter counts.
func TestWalksPerRecord(t *testing.T) {
	rules, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	bySource := benchcorpus.BySource(benchcorpus.Generate(3000))
	for _, src := range []string{"signinlogs", "activitylogs", "auditlogs"} {
		nm := 0
		walks := func(early bool) float64 {
			eng, err := NewEngine(rules)
			if err != nil {
				t.Fatal(err)
			}
			var events []*event.Event
			total := 0
			for _, r := range bySource[src] {
				ev, status, err := reg.Parse(r.Line)
				if status != source.Parsed || ev.Layout == nil {
					t.Fatalf("%s: %v %v: no layout", src, status, err)
				}
				events = append(events, ev)
				total += len(ev.Raw)
			}
			ctx := context.Background()
			before := walkedBytes.Load()
			var v Verdicts
			if err := eng.Select(ctx, events, &v); err != nil {
				t.Fatal(err)
			}
			if early {
				event.ReleaseLayouts(events)
			}
			matches, _, err := eng.EvaluateSelected(ctx, events, &v)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range matches {
				_ = m.Rule.Severity(m.Events[0])
				_, _ = m.Summary()
			}
			event.ReleaseLayouts(events)
			nm = len(matches)
			for _, ev := range events {
				if ev.Layout != nil {
					t.Fatalf("%s: an event keeps its layout after release", src)
				}
			}
			return float64(walkedBytes.Load()-before) / float64(total)
		}
		now, old := walks(false), walks(true)
		t.Logf("%s: record walks after decoding: %.3f per record (layouts released after the conditions: %.3f); %d matches", src, now, old, nm)
		if now > 0.15 {
			t.Errorf("%s: %.3f walks per record after decoding, want at most 0.15", src, now)
		}
		if src == "signinlogs" && old < now+0.5 {
			// The travel and new-term rules read the sign-in's location
			// and client after the conditions.
			t.Errorf("%s: releasing the layouts early walks %.3f, not clearly more than %.3f: the counter does not count", src, old, now)
		}
	}
}
