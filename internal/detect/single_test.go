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

// TestFieldTestsShared checks that rules testing the same field with the
// same values share one outcome per event, and that the shared outcome is
// the test's own.
func TestFieldTestsShared(t *testing.T) {
	rule := func(id, op string) *Rule {
		return mustRule(t, `title: shared `+id+`
id: `+id+`
logsource: {product: azure, service: activitylogs}
detection:
  selection:
    event.result: success
    event.operation|endswith: `+op+`
  condition: selection
level: low
`)
	}
	a := rule("21111111-2222-4333-8444-555555555555", "/delete")
	b := rule("31111111-2222-4333-8444-555555555555", "/write")
	fa, fb := a.sels[0].anyOf[0], b.sels[0].anyOf[0]
	if fa[0].memo == 0 || fa[0].memo != fb[0].memo {
		t.Errorf("event.result: success numbered %d and %d, want one number", fa[0].memo, fb[0].memo)
	}
	if fa[1].memo == fb[1].memo {
		t.Errorf("different values share number %d", fa[1].memo)
	}
	c := newFieldCache()
	for _, tc := range []struct {
		result, op string
		a, b       bool
	}{
		{"Success", "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE", true, false},
		{"Success", "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", false, true},
		{"Failure", "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", false, false},
	} {
		ev := mustEvent(t, `{"category":"Administrative","operationName":"`+tc.op+`","resultType":"`+tc.result+`","resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm"}`)
		c.reset(ev)
		ec := &evalCtx{ev: ev, cache: c}
		if got := a.match(ec); got != tc.a || got != a.Match(ev) {
			t.Errorf("%s %s: rule a = %t (alone %t), want %t", tc.result, tc.op, got, a.Match(ev), tc.a)
		}
		if got := b.match(ec); got != tc.b || got != b.Match(ev) {
			t.Errorf("%s %s: rule b = %t (alone %t), want %t", tc.result, tc.op, got, b.Match(ev), tc.b)
		}
	}
}
