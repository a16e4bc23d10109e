package detect

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// recorder is a store that keeps every write it passes on, to check what
// the kinds write (expiry on every entity).
type recorder struct {
	state.Store
	ops []state.Op
}

func (r *recorder) Apply(ctx context.Context, table string, ops []state.Op) error {
	r.ops = append(r.ops, ops...)
	return r.Store.Apply(ctx, table, ops)
}

const kindRuleHead = `title: t
id: 00000000-0000-4000-8000-0000000000%02d
logsource: {product: azure, service: signinlogs}
detection:
  failed:
    event.result_code: "50126"
  ok:
    event.result_code: "0"
  condition: failed or ok
level: medium
`

func kindRule(t *testing.T, n int, correlation string) *Rule {
	t.Helper()
	r, err := ParseRule("kind.yml", []byte(fmt.Sprintf(kindRuleHead, n)+correlation))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func signIn(id, upn, ip, code, country string, at time.Time) *event.Event {
	return &event.Event{Source: "signinlogs", Time: at, RecordID: id, ResultCode: code,
		Actor: event.Actor{UPN: upn, IP: ip, UserAgent: "Mozilla/5.0 Chrome/131.0"}, Geo: event.Geo{Country: country},
		Raw: []byte(`{"id":"` + id + `"}`)}
}

// fixedClock is far before the events, so expiry follows event time only.
func fixedClock() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }

func newKindEngine(t *testing.T, r *Rule, store state.Store) *Engine {
	t.Helper()
	e, err := NewEngine([]*Rule{r}, WithStore(store), WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func eval(t *testing.T, e *Engine, evs ...*event.Event) []Match {
	t.Helper()
	ms, err := e.Evaluate(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

const countRule = `correlation:
  type: event_count
  group-by: [actor.upn]
  timespan: 10m
  condition: {gte: 3}
`

func TestThresholdWindowBoundaries(t *testing.T) {
	e := newKindEngine(t, kindRule(t, 1, countRule), state.NewMemory())
	ms := eval(t, e,
		signIn("a", "u@x", "1.1.1.1", "50126", "US", t0.Add(-time.Second)), // 09:59:59, the window before
		signIn("b", "u@x", "1.1.1.1", "50126", "US", t0),
		signIn("c", "u@x", "1.1.1.1", "50126", "US", t0.Add(9*time.Minute+59*time.Second)),
		signIn("d", "u@x", "1.1.1.1", "50126", "US", t0.Add(10*time.Minute)), // the window after
	)
	if len(ms) != 0 {
		t.Fatalf("two events per window raised %d matches", len(ms))
	}
	ms = eval(t, e, signIn("e", "u@x", "1.1.1.1", "50126", "US", t0.Add(5*time.Minute)))
	if len(ms) != 1 || !ms[0].WindowStart.Equal(t0) || ms[0].Count != 3 || ms[0].GroupKey != "u@x" {
		t.Fatalf("third event of the 10:00 window: %+v", ms)
	}
}

func TestThresholdLateRecordCountsInItsWindow(t *testing.T) {
	e := newKindEngine(t, kindRule(t, 2, countRule), state.NewMemory())
	eval(t, e, signIn("a", "u@x", "", "50126", "", t0.Add(time.Minute)), signIn("b", "u@x", "", "50126", "", t0.Add(2*time.Minute)))
	// Later windows go on meanwhile.
	if ms := eval(t, e, signIn("c", "u@x", "", "50126", "", t0.Add(25*time.Minute))); len(ms) != 0 {
		t.Fatalf("later window: %+v", ms)
	}
	// The late record belongs to 10:00 and completes it.
	ms := eval(t, e, signIn("late", "u@x", "", "50126", "", t0.Add(3*time.Minute)))
	if len(ms) != 1 || !ms[0].WindowStart.Equal(t0) {
		t.Fatalf("late record: %+v", ms)
	}
}

func TestThresholdReplayChangesNothing(t *testing.T) {
	store := state.NewMemory()
	r := kindRule(t, 3, countRule)
	e := newKindEngine(t, r, store)
	batch := []*event.Event{
		signIn("a", "u@x", "", "50126", "", t0), signIn("b", "u@x", "", "50126", "", t0.Add(time.Second)),
		signIn("c", "u@x", "", "50126", "", t0.Add(2*time.Second)),
	}
	first := eval(t, e, batch...)
	row, _ := thresholdRow("u@x", "")
	key := state.Key{PartitionKey: state.JoinKey("thr", r.ID, state.TimeKey(t0)), RowKey: row}
	before, _ := store.Get(context.Background(), StateTable, []state.Key{key})
	again := eval(t, e, batch...)
	after, _ := store.Get(context.Background(), StateTable, []state.Key{key})
	if before[key].Count != 3 || after[key].Count != 3 || before[key].ETag != after[key].ETag {
		t.Fatalf("replay changed the counter: %d (%s) -> %d (%s)", before[key].Count, before[key].ETag, after[key].Count, after[key].ETag)
	}
	if len(first) != 1 || len(again) != 1 || first[0].GroupKey != again[0].GroupKey || !first[0].WindowStart.Equal(again[0].WindowStart) {
		t.Fatalf("replay must raise the same alert identity (suppressed downstream): %+v / %+v", first, again)
	}
}

func TestValueCountCountsDistinctValues(t *testing.T) {
	r := kindRule(t, 4, `correlation:
  type: value_count
  group-by: [actor.ip]
  timespan: 30m
  condition: {gte: 3, field: actor.upn}
`)
	e := newKindEngine(t, r, state.NewMemory())
	ms := eval(t, e,
		signIn("1", "a@x", "9.9.9.9", "50126", "", t0), signIn("2", "A@x", "9.9.9.9", "50126", "", t0),
		signIn("3", "b@x", "9.9.9.9", "50126", "", t0),
	)
	if len(ms) != 0 {
		t.Fatalf("two users (case-folded) raised %+v", ms)
	}
	ms = eval(t, e, signIn("4", "c@x", "9.9.9.9", "50126", "", t0.Add(time.Minute)))
	if len(ms) != 1 || ms[0].Count != 3 || len(ms[0].Values) != 3 {
		t.Fatalf("third user: %+v", ms)
	}
}

// TestEveryEntityExpires: each kind sets Expires on what it writes, by
// event time: window end plus the kept span.
func TestEveryEntityExpires(t *testing.T) {
	rules := map[string]string{
		"threshold": countRule,
		"new_term":  "correlation:\n  type: new_term\n  group-by: [actor.upn]\n  fields: [geo.country]\n  learning: 0s\n  lookback: 30d\n",
		"spike":     "correlation:\n  type: spike\n  group-by: [actor.upn]\n  timespan: 1h\n  baseline: 3\n  condition: {gte: 1}\n",
		"sequence":  "correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [failed, ok]\n",
	}
	n := 10
	for name, corr := range rules {
		t.Run(name, func(t *testing.T) {
			n++
			rec := &recorder{Store: state.NewMemory()}
			e := newKindEngine(t, kindRule(t, n, corr), rec)
			eval(t, e, signIn("a", "u@x", "1.1.1.1", "50126", "US", t0), signIn("b", "u@x", "1.1.1.1", "0", "US", t0.Add(time.Minute)))
			if len(rec.ops) == 0 {
				t.Fatal("nothing written")
			}
			for _, op := range rec.ops {
				exp := op.Entity.Expires.Time()
				if exp.IsZero() || !exp.After(t0) || exp.After(t0.Add(31*24*time.Hour)) {
					t.Errorf("%s/%s expires %v", op.Entity.PartitionKey, op.Entity.RowKey, exp)
				}
			}
		})
	}
}

func TestNewTermLearningAndLookback(t *testing.T) {
	r := kindRule(t, 20, "correlation:\n  type: new_term\n  group-by: [actor.upn]\n  fields: [geo.country]\n  learning: 1d\n  lookback: 30d\n")
	e := newKindEngine(t, r, state.NewMemory())
	day := 24 * time.Hour
	if ms := eval(t, e, signIn("1", "u@x", "", "0", "US", t0), signIn("2", "u@x", "", "0", "DE", t0.Add(time.Hour))); len(ms) != 0 {
		t.Fatalf("learning period raised %+v", ms)
	}
	if ms := eval(t, e, signIn("3", "u@x", "", "0", "DE", t0.Add(2*day))); len(ms) != 0 {
		t.Fatalf("a country learned raised %+v", ms)
	}
	ms := eval(t, e, signIn("4", "u@x", "", "0", "FR", t0.Add(2*day)))
	if len(ms) != 1 || ms[0].Values[0] != "FR" {
		t.Fatalf("a new country after learning: %+v", ms)
	}
	if again := eval(t, e, signIn("4", "u@x", "", "0", "FR", t0.Add(2*day))); len(again) != 1 || again[0].GroupKey != ms[0].GroupKey || !again[0].WindowStart.Equal(ms[0].WindowStart) {
		t.Fatalf("replay must raise the same alert identity: %+v", again)
	}
	if ms := eval(t, e, signIn("5", "u@x", "", "0", "FR", t0.Add(3*day))); len(ms) != 0 {
		t.Fatalf("a country seen yesterday raised %+v", ms)
	}
	// US last seen on day 0; 40 days later it is new again (the user stayed active).
	eval(t, e, signIn("6", "u@x", "", "0", "FR", t0.Add(20*day)))
	if ms := eval(t, e, signIn("7", "u@x", "", "0", "US", t0.Add(40*day))); len(ms) != 1 {
		t.Fatalf("a country not seen within the lookback: %+v", ms)
	}
}

func TestSequenceKeepsTheFirstStepAcrossBatches(t *testing.T) {
	r := kindRule(t, 21, "correlation:\n  type: sequence\n  group-by: [event.correlation_id]\n  timespan: 1h\n  steps: [failed, ok]\n")
	store := state.NewMemory()
	e := newKindEngine(t, r, store)
	start := signIn("s", "u@x", "1.1.1.1", "50126", "", t0)
	start.CorrelationID = "op-1"
	start.Raw = []byte(`{"properties":{"requestbody":"{\"access\":\"Allow\"}"}}`)
	if ms := eval(t, e, start); len(ms) != 0 {
		t.Fatalf("first step alone: %+v", ms)
	}
	// Another instance (a new engine on the same store) gets the outcome.
	end := signIn("e", "u@x", "1.1.1.1", "0", "", t0.Add(5*time.Second))
	end.CorrelationID = "op-1"
	ms := eval(t, newKindEngine(t, r, store), end)
	if len(ms) != 1 || len(ms[0].Events) != 2 {
		t.Fatalf("second step: %+v", ms)
	}
	vals, _ := ms[0].Events[0].Get("properties.requestbody.access")
	if len(vals) != 1 || vals[0].String() != "Allow" || ms[0].Events[0].Actor.UPN != "u@x" {
		t.Fatalf("the first step's record did not travel: %+v", ms[0].Events[0])
	}
}

func TestSpikeNeedsHistoryAndAFactor(t *testing.T) {
	r := kindRule(t, 22, "correlation:\n  type: spike\n  group-by: [actor.upn]\n  timespan: 1h\n  baseline: 4\n  min_history: 2\n  factor: 3\n  condition: {gte: 4}\n")
	e := newKindEngine(t, r, state.NewMemory())
	burst := func(at time.Time, n int, tag string) []*event.Event {
		var out []*event.Event
		for i := 0; i < n; i++ {
			out = append(out, signIn(fmt.Sprintf("%s-%d", tag, i), "u@x", "", "50126", "", at.Add(time.Duration(i)*time.Second)))
		}
		return out
	}
	if ms := eval(t, e, burst(t0, 6, "fresh")...); len(ms) != 0 {
		t.Fatalf("no history: %+v", ms)
	}
	// Two quiet hours of history (the burst hour counts as history too: 6, 0).
	if ms := eval(t, e, burst(t0.Add(2*time.Hour), 5, "h2")...); len(ms) != 0 {
		t.Fatalf("5 against a mean of 3: %+v", ms)
	}
	if ms := eval(t, e, burst(t0.Add(5*time.Hour), 5, "h5")...); len(ms) != 1 {
		t.Fatalf("5 against a mean of 1.25: %+v", ms)
	}
}

func TestOverrides(t *testing.T) {
	r := kindRule(t, 23, countRule)
	r.Name = "my_rule"
	if _, err := NewEngine([]*Rule{r}, WithOverrides("my_rule.threshold=2", "my_rule.window=1h")); err != nil {
		t.Fatal(err)
	}
	e, _ := NewEngine([]*Rule{r}, WithOverrides("my_rule.threshold=2"))
	if ms := eval(t, e, signIn("a", "u@x", "", "50126", "", t0), signIn("b", "u@x", "", "50126", "", t0)); len(ms) != 1 {
		t.Fatalf("threshold overridden to 2: %+v", ms)
	}
	if r.Correlation().Threshold != 3 {
		t.Fatal("the override changed the loaded rule")
	}
	for _, bad := range []string{"nope.threshold=2", "my_rule.colour=red", "my_rule.window=soon", "my_rule.threshold"} {
		if _, err := NewEngine([]*Rule{r}, WithOverrides(bad)); err == nil {
			t.Errorf("override %q accepted", bad)
		}
	}
}

func TestCorrelationLoadErrors(t *testing.T) {
	for name, corr := range map[string]string{
		"unknown type":       "correlation:\n  type: temporal\n",
		"rules not accepted": "correlation:\n  type: event_count\n  rules: [a]\n  condition: {gte: 1}\n",
		"value_count field":  "correlation:\n  type: value_count\n  condition: {gte: 1}\n",
		"value_sum field":    "correlation:\n  type: value_sum\n  condition: {gte: 1}\n",
		"unknown key":        "correlation:\n  type: event_count\n  colour: red\n",
		"no such step":       "correlation:\n  type: sequence\n  steps: [failed, nope]\n",
		"two conditions":     "correlation:\n  type: event_count\n  condition: {gte: 1, lt: 5}\n",
		"new_term fields":    "correlation:\n  type: new_term\n",
		"bad timespan":       "correlation:\n  type: event_count\n  timespan: soon\n",
	} {
		if _, err := ParseRule("bad.yml", []byte(fmt.Sprintf(kindRuleHead, 30)+corr)); err == nil || !strings.Contains(err.Error(), "correlation") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestStatefulTestsNeedRecords(t *testing.T) {
	_, err := ParseRule("bad.yml", []byte(fmt.Sprintf(kindRuleHead, 31)+countRule+"tests:\n  - name: one\n    match: true\n    record: '{}'\n"))
	if err == nil || !strings.Contains(err.Error(), "records") {
		t.Fatalf("err = %v", err)
	}
}

func TestAgentFamily(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86": "Edge",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15":                "Safari",
		"python-requests/2.32.3": "python-requests",
		"azurehound/v2.1.0":      "AzureHound",
		"MyTool/1.0 (linux)":     "MyTool",
		"":                       "",
	} {
		if got := AgentFamily(ua); got != want {
			t.Errorf("AgentFamily(%q) = %q, want %q", ua, got, want)
		}
	}
}

// agentFamilyRef is AgentFamily as first written: a scan of the
// lower-cased agent per marker.
func agentFamilyRef(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return ""
	}
	low := strings.ToLower(ua)
	for _, f := range agentFamilies {
		if strings.Contains(low, f.marker) {
			return f.family
		}
	}
	tok, _, _ := strings.Cut(ua, " ")
	tok, _, _ = strings.Cut(tok, "/")
	return tok
}

// TestAgentFamilyOnePass: the one-pass scan finds the family the scan per
// marker finds: every marker alone, at the start, the end and behind
// another, markers overlapping, cut short, upper-cased, behind non-ASCII
// letters (the Kelvin sign lower-cases to an ASCII k), long agents, control
// bytes and invalid UTF-8.
func TestAgentFamilyOnePass(t *testing.T) {
	uas := []string{"", " ", "x", "Mozilla/5.0", "OKHTTP/4", "o\u212ahttp/4.9", "\u0130nternet", "edg", "edge", "chrom", "ChRoMe/1 EDG/2",
		"curl", "CURL/8 wget/1", "\xff\xfe python-requests/2", "\x00\x1bazurehound\x00", strings.Repeat("Mozilla/5.0 ", 2000) + "roadtools",
		strings.Repeat("é", 300) + " Safari/605", "firefox/chrome/", "node-fetchaxios", "microsoft officeoutlook", "msal.net/4 (java/17)", "AZURE-CL\u0130 x", "Chrome/1 o\u212aHTTP", "\xc3"}
	for _, f := range agentFamilies {
		m := f.marker
		uas = append(uas, m, strings.ToUpper(m), "pre "+m, m+" post", m[:len(m)-1], "x"+m[:len(m)-1]+"edg/")
		for _, g := range agentFamilies {
			uas = append(uas, g.marker+m, m+g.marker)
		}
	}
	for _, ua := range uas {
		if got, want := AgentFamily(ua), agentFamilyRef(ua); got != want {
			t.Errorf("AgentFamily(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestSequenceStartsOverAfterItsTimespan(t *testing.T) {
	r := kindRule(t, 24, "correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [failed, ok]\n  condition: {gte: 2}\n")
	e := newKindEngine(t, r, state.NewMemory())
	eval(t, e, signIn("old1", "a@x", "9.9.9.9", "50126", "", t0), signIn("old2", "b@x", "9.9.9.9", "50126", "", t0))
	// A day later: two fresh failures and a success within the hour.
	day := t0.Add(24 * time.Hour)
	ms := eval(t, e, signIn("n1", "a@x", "9.9.9.9", "50126", "", day), signIn("n2", "b@x", "9.9.9.9", "50126", "", day.Add(time.Minute)),
		signIn("ok", "a@x", "9.9.9.9", "0", "", day.Add(2*time.Minute)))
	if len(ms) != 1 || !ms[0].WindowStart.Equal(day) || ms[0].Count != 2 {
		t.Fatalf("fresh sequence: %+v", ms)
	}
}

// TestSequenceLastStepImplied: a sequence whose condition is the OR of its
// steps takes an event that matches no earlier step as the last step
// without evaluating it; any other condition evaluates every step. The
// matches are those of evaluating every step.
func TestSequenceLastStepImplied(t *testing.T) {
	const corr = "correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [%s]\n  condition: {gte: 2}\n"
	for _, tc := range []struct {
		cond, steps string
		implied     bool
	}{
		{"failed or ok", "failed, ok", true},
		{"ok or failed", "failed, ok", true},
		{"failed and ok", "failed, ok", false},
		{"failed or not ok", "failed, ok", false},
		{"failed or ok", "ok, ok", false},
	} {
		head := strings.Replace(kindRuleHead, "condition: failed or ok", "condition: "+tc.cond, 1)
		r, err := ParseRule("kind.yml", []byte(fmt.Sprintf(head, 41)+fmt.Sprintf(corr, tc.steps)))
		if err != nil {
			t.Fatalf("%s / %s: %v", tc.cond, tc.steps, err)
		}
		e := newKindEngine(t, r, state.NewMemory())
		k := e.kinds[0].(*SequenceKind)
		if k.lastImplied != tc.implied {
			t.Errorf("%s / steps %s: implied %v, want %v", tc.cond, tc.steps, k.lastImplied, tc.implied)
		}
	}
	// The same batches through a kind that evaluates every step.
	r := kindRule(t, 42, fmt.Sprintf(corr, "failed, ok"))
	implied, full := newKindEngine(t, r, state.NewMemory()), newKindEngine(t, r, state.NewMemory())
	full.kinds[0].(*SequenceKind).lastImplied = false
	if !implied.kinds[0].(*SequenceKind).lastImplied {
		t.Fatal("failed or ok: last step not implied")
	}
	batches := [][]*event.Event{
		{signIn("f1", "a@x", "9.9.9.9", "50126", "", t0), signIn("s0", "b@x", "8.8.8.8", "0", "", t0)},
		{signIn("f2", "b@x", "9.9.9.9", "50126", "", t0.Add(time.Minute)), signIn("s1", "a@x", "9.9.9.9", "0", "", t0.Add(2*time.Minute)),
			signIn("f3", "c@x", "8.8.8.8", "50126", "", t0.Add(-time.Minute)), signIn("f4", "c@x", "8.8.8.8", "50126", "", t0.Add(-2*time.Minute))},
	}
	total := 0
	for i, b := range batches {
		got, want := eval(t, implied, b...), eval(t, full, b...)
		total += len(want)
		if len(got) != len(want) {
			t.Fatalf("batch %d: %d matches, want %d", i, len(got), len(want))
		}
		for j := range got {
			if got[j].GroupKey != want[j].GroupKey || got[j].Count != want[j].Count || !got[j].WindowStart.Equal(want[j].WindowStart) || len(got[j].Events) != len(want[j].Events) {
				t.Errorf("batch %d match %d: %+v, want %+v", i, j, got[j], want[j])
			}
		}
	}
	if total != 2 {
		t.Errorf("%d matches in all, want 2 (9.9.9.9 and 8.8.8.8)", total)
	}
}

// TestAgentCache: a call's remembered families are AgentFamily's, for an
// agent seen again and past the bound.
func TestAgentCache(t *testing.T) {
	var c agentCache
	for i := range maxAgentCache + 10 {
		for _, ua := range []string{"python-requests/2.31", fmt.Sprintf("Tool%d/1.0 (x)", i), "Mozilla/5.0 Chrome/1 Edg/2"} {
			if got, want := c.family(ua), AgentFamily(ua); got != want {
				t.Fatalf("family(%q) = %q, want %q", ua, got, want)
			}
		}
	}
	if len(c.m) != maxAgentCache {
		t.Errorf("%d agents remembered, want %d", len(c.m), maxAgentCache)
	}
}

// refuseFirst refuses a call's first Apply as a conflict on every key
// (as another instance writing first would), naming them last first, then
// applies.
type refuseFirst struct {
	state.Store
	refused int
}

func (s *refuseFirst) Apply(ctx context.Context, table string, ops []state.Op) error {
	if s.refused == 0 {
		s.refused++
		ce := &state.ConflictError{Table: table}
		for i := range ops {
			ce.Uncommitted = append(ce.Uncommitted, ops[len(ops)-1-i].Entity.Key())
		}
		return ce
	}
	return s.Store.Apply(ctx, table, ops)
}

// TestNewTermRetriedRows: rows stepped again after a conflict (found by
// key, not by their place in the call) raise what a first attempt raises.
func TestNewTermRetriedRows(t *testing.T) {
	r := kindRule(t, 43, "correlation:\n  type: new_term\n  group-by: [actor.upn]\n  fields: [geo.country]\n  learning: 0s\n  lookback: 30d\n")
	store := &refuseFirst{Store: state.NewMemory()}
	retried, plain := newKindEngine(t, r, store), newKindEngine(t, r, state.NewMemory())
	batch := []*event.Event{signIn("a", "a@x", "1.1.1.1", "0", "FR", t0), signIn("b", "b@x", "1.1.1.1", "0", "DE", t0.Add(time.Minute)),
		signIn("c", "a@x", "1.1.1.1", "0", "US", t0.Add(2*time.Minute))}
	got, want := eval(t, retried, batch...), eval(t, plain, batch...)
	if store.refused != 1 || len(want) != 3 || len(got) != len(want) {
		t.Fatalf("refused %d; %d matches, want %d (3)", store.refused, len(got), len(want))
	}
	for i := range got {
		if got[i].GroupKey != want[i].GroupKey || got[i].Values[0] != want[i].Values[0] {
			t.Errorf("match %d: %s %v, want %s %v", i, got[i].GroupKey, got[i].Values, want[i].GroupKey, want[i].Values)
		}
	}
	// And the same rows stored.
	gotRows, wantRows := bucketRows(t, store.Store, "nt", r.ID), bucketRows(t, plain.Store(), "nt", r.ID)
	if len(wantRows) != 5 || !maps.Equal(gotRows, wantRows) {
		t.Errorf("rows after a retry:\n%v\nwant\n%v", gotRows, wantRows)
	}
}

// bucketRows returns what a rule's bucket partitions of a kind hold, by
// partition and row key.
func bucketRows(t *testing.T, s state.Store, kind, rule string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range bucketNames {
		es, err := s.List(context.Background(), StateTable, state.JoinKey(kind, rule, b), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out[e.PartitionKey+" "+e.RowKey] = fmt.Sprintf("%s %s %x", e.Text, e.Time, e.Data)
		}
	}
	return out
}

// TestTravelRetriedRows: impossible travel's rows stepped again after a
// conflict (found by key, not by their place) raise what a first attempt
// raises.
func TestTravelRetriedRows(t *testing.T) {
	r := kindRule(t, 44, "correlation:\n  type: impossible_travel\n  group-by: [actor.upn]\n  fields: [properties.location.geoCoordinates.latitude, properties.location.geoCoordinates.longitude]\n  timespan: 24h\n  condition: {gte: 900}\n")
	at := func(id, upn string, lat, lon float64, when time.Time) *event.Event {
		ev := signIn(id, upn, "1.1.1.1", "0", "", when)
		ev.Raw = fmt.Appendf(nil, `{"id":%q,"properties":{"location":{"geoCoordinates":{"latitude":%v,"longitude":%v}}}}`, id, lat, lon)
		return ev
	}
	batch := []*event.Event{at("a1", "a@x", 52.37, 4.89, t0), at("b1", "b@x", 48.85, 2.35, t0), at("a2", "a@x", 40.71, -74.0, t0.Add(time.Hour)),
		at("b2", "b@x", 35.68, 139.69, t0.Add(30*time.Minute)), at("c1", "c@x", 1, 1, t0)}
	store := &refuseFirst{Store: state.NewMemory()}
	got, want := eval(t, newKindEngine(t, r, store), batch...), eval(t, newKindEngine(t, r, state.NewMemory()), batch...)
	if store.refused != 1 || len(want) != 2 || len(got) != len(want) {
		t.Fatalf("refused %d; %d matches, want %d (2)", store.refused, len(got), len(want))
	}
	for i := range got {
		if got[i].GroupKey != want[i].GroupKey || got[i].Values[0] != want[i].Values[0] {
			t.Errorf("match %d: %s %v, want %s %v", i, got[i].GroupKey, got[i].Values, want[i].GroupKey, want[i].Values)
		}
	}
}

// TestSequenceRetriedRows: sequence rows stepped again after a conflict
// (found by key, not by their place) raise what a first attempt raises.
func TestSequenceRetriedRows(t *testing.T) {
	r := kindRule(t, 45, "correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [failed, ok]\n  condition: {gte: 2}\n")
	batch := []*event.Event{signIn("f1", "a@x", "9.9.9.9", "50126", "", t0), signIn("f2", "b@x", "9.9.9.9", "50126", "", t0.Add(time.Minute)),
		signIn("g1", "c@x", "8.8.8.8", "50126", "", t0), signIn("s1", "a@x", "9.9.9.9", "0", "", t0.Add(2*time.Minute)),
		signIn("g2", "d@x", "8.8.8.8", "50126", "", t0.Add(time.Minute)), signIn("s2", "c@x", "8.8.8.8", "0", "", t0.Add(3*time.Minute)),
		signIn("s3", "e@x", "7.7.7.7", "0", "", t0)}
	store, plain := &refuseFirst{Store: state.NewMemory()}, state.NewMemory()
	got, want := eval(t, newKindEngine(t, r, store), batch...), eval(t, newKindEngine(t, r, plain), batch...)
	if store.refused != 1 || len(want) != 2 || len(got) != len(want) {
		t.Fatalf("refused %d; %d matches, want %d (2)", store.refused, len(got), len(want))
	}
	if g, w := bucketRows(t, store.Store, "seq", r.ID), bucketRows(t, plain, "seq", r.ID); len(w) != 3 || !maps.Equal(g, w) {
		t.Errorf("rows after a retry:\n%v\nwant\n%v", g, w)
	}
	for i := range got {
		if got[i].GroupKey != want[i].GroupKey || got[i].Count != want[i].Count || !got[i].WindowStart.Equal(want[i].WindowStart) {
			t.Errorf("match %d: %s %d %s, want %s %d %s", i, got[i].GroupKey, got[i].Count, got[i].WindowStart, want[i].GroupKey, want[i].Count, want[i].WindowStart)
		}
	}
}
