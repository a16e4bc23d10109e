package detect

import (
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestNormalisedFieldsWithoutSlices checks severities and summaries read
// from normalised fields (resolver.single): the same text as through
// resolver.get, "unknown" for an empty one, and no allocation per field.
func TestNormalisedFieldsWithoutSlices(t *testing.T) {
	r := mustRule(t, `title: normalised fields
id: 11111111-2222-4333-8444-555555555555
logsource: {product: azure, service: activitylogs}
detection:
  selection:
    event.result: success
  condition: selection
level: low
severity_field: event.severity
summary: "{event.operation} on {event.target}"
`)
	ev := &event.Event{Source: "activitylogs", Operation: " MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE ", Severity: "High",
		Raw: []byte(`{"operationName":"x"}`)}
	if got, ok := r.Summary(ev); !ok || got != "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE on unknown" {
		t.Errorf("Summary = %q, %t", got, ok)
	}
	if got := r.Severity(ev); got != LevelHigh {
		t.Errorf("Severity = %s, want high", got)
	}
	ev.Severity = "Bogus"
	if got := r.Severity(ev); got != LevelLow {
		t.Errorf("Severity with no level in the field = %s, want the rule's low", got)
	}
	ev.Severity = ""
	if got := r.Severity(ev); got != LevelLow {
		t.Errorf("Severity without the field = %s, want the rule's low", got)
	}
	for _, p := range r.summary {
		if p.res == nil {
			continue
		}
		s, _, ok := p.res.single(ev)
		vals, _ := p.res.get(ev, nil)
		if !ok || (len(vals) == 1) != (s != "") || (s != "" && vals[0].String() != s) {
			t.Errorf("%s: single = %q, %t; get = %v", p.field, s, ok, vals)
		}
		if n := testing.AllocsPerRun(20, func() { _ = p.render(ev) }); n != 0 {
			t.Errorf("rendering %s allocates %.0f times, want 0", p.field, n)
		}
	}
	if n := testing.AllocsPerRun(20, func() { _ = r.Severity(ev) }); n != 0 {
		t.Errorf("Severity allocates %.0f times, want 0", n)
	}
	// A raw path is not single's: get reads it.
	if _, _, ok := newResolver("activitylogs", "properties.x").single(ev); ok {
		t.Errorf("single answered for a raw path")
	}
}
