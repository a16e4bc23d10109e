package detect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

func engineRules(t testing.TB) []*Rule {
	t.Helper()
	audit := mustRule(t, goodRule)
	signin := mustRule(t, `title: single factor
id: 22222222-2222-3333-4444-555555555555
level: low
logsource: {product: azure, service: signinlogs}
detection:
  selection:
    event.result: success
    signin.authentication_requirement: singleFactorAuthentication
  condition: selection
`)
	return []*Rule{audit, signin}
}

func TestEngineEvaluate(t *testing.T) {
	rules := engineRules(t)
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	caDeleted := mustEvent(t, string(mustTests(t, rules[0])[0].Record))
	caAdded := mustEvent(t, string(mustTests(t, rules[0])[1].Record))
	sf := mustEvent(t, `{"category":"SignInLogs","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication"}}`)
	// The same record with another source: the audit rule must not see it.
	wrongSource := *caDeleted
	wrongSource.Source = "activitylogs"
	events := []*event.Event{sf, caAdded, caDeleted, &wrongSource, nil, sf}

	matches, err := eng.Evaluate(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range matches {
		got = append(got, m.Rule.ID[:8]+":"+m.Events[0].Source)
	}
	want := "0d7c3e5a:auditlogs 22222222:signinlogs 22222222:signinlogs"
	if strings.Join(got, " ") != want {
		t.Errorf("matches = %v, want %s", got, want)
	}

	eng, err = NewEngine(rules, WithDisabled("22222222-2222-3333-4444-555555555555"))
	if err != nil {
		t.Fatal(err)
	}
	matches, _ = eng.Evaluate(context.Background(), events)
	if len(matches) != 1 || len(eng.Rules()) != 1 {
		t.Errorf("with the sign-in rule disabled: %d matches, %d rules", len(matches), len(eng.Rules()))
	}

	if _, err := NewEngine(rules, WithDisabled("99999999-2222-3333-4444-555555555555")); err == nil ||
		!strings.Contains(err.Error(), "no such rule") {
		t.Errorf("disabling an unknown id: %v", err)
	}
	if _, err := NewEngine(append(rules, mustRule(t, goodRule))); err == nil || !strings.Contains(err.Error(), "duplicate id") {
		t.Errorf("duplicate ids: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eng.Evaluate(ctx, events); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// countKind is a stand-in stateful kind: one match per batch holding every
// selected event.
type countKind struct{ calls int }

func (*countKind) Name() string { return "count" }
func (k *countKind) Matches(_ context.Context, r *Rule, evs []*event.Event) ([]Match, error) {
	k.calls++
	return []Match{{Rule: r, Events: evs}}, nil
}

func TestEngineKindSeam(t *testing.T) {
	rules := engineRules(t)
	k := &countKind{}
	rules[1].Kind = k
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	sf := mustEvent(t, `{"category":"SignInLogs","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication"}}`)
	matches, err := eng.Evaluate(context.Background(), []*event.Event{sf, sf, sf})
	if err != nil {
		t.Fatal(err)
	}
	if k.calls != 1 || len(matches) != 1 || len(matches[0].Events) != 3 {
		t.Errorf("kind called %d times, %d matches", k.calls, len(matches))
	}
}

func BenchmarkEvaluate(b *testing.B) {
	rules := loadSigma(b)
	own, err := LoadDefault("")
	if err != nil {
		b.Fatal(err)
	}
	rules = append(rules, own...)
	eng, err := NewEngine(rules)
	if err != nil {
		b.Fatal(err)
	}
	var events []*event.Event
	for _, tc := range sigmaCases {
		events = append(events, mustEvent(b, withEnvelope(tc.raw)))
	}
	events = append(events, sampleEvents(b)...)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := eng.Evaluate(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(eng.Rules())), "rules")
}

func TestEngineConcurrent(t *testing.T) {
	eng, err := NewEngine(loadSigma(t))
	if err != nil {
		t.Fatal(err)
	}
	var events []*event.Event
	for _, tc := range sigmaCases {
		events = append(events, mustEvent(t, withEnvelope(tc.raw)))
	}
	want, err := eng.Evaluate(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := eng.Evaluate(context.Background(), events)
			if err == nil && len(got) != len(want) {
				err = fmt.Errorf("%d matches, want %d", len(got), len(want))
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
