package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
)

func diagDelete() *event.Event {
	return &event.Event{
		Source:        "activitylogs",
		Time:          time.Date(2026, 11, 20, 9, 12, 44, 0, time.UTC),
		Operation:     "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE",
		Result:        event.ResultSuccess,
		CorrelationID: "c0ffee00-0000-4000-8000-000000000001",
		Actor:         event.Actor{UPN: "mallory@contoso.com", IP: "185.220.101.47", Type: event.ActorUser},
		Resource: event.ParseResourceID("/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-000000000001/PROVIDERS/" +
			"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/SEND-TO-SIEM"),
	}
}

func TestSummarise(t *testing.T) {
	got := Summarise(diagDelete())
	want := "mallory@contoso.com deleted diagnostic setting send-to-siem on subscription 6f2c1d2e… from 185.220.101.47"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	ev := diagDelete()
	ev.Result = event.ResultFailure
	ev.ResultCode = "Failure"
	if got := Summarise(ev); !strings.HasSuffix(got, "(failed: Failure)") {
		t.Fatalf("failure not said: %q", got)
	}
	signin := &event.Event{Source: "signinlogs", Operation: "Sign-in activity", Result: event.ResultSuccess,
		Actor: event.Actor{UPN: "bob@contoso.com", AppName: "Azure CLI", IP: "203.0.113.7"}}
	if got := Summarise(signin); got != "bob@contoso.com signed in to Azure CLI from 203.0.113.7" {
		t.Fatalf("sign-in summary %q", got)
	}
}

func TestNewIsDeterministic(t *testing.T) {
	spec := Spec{RuleID: "r1", Title: "t", Severity: SeverityHigh, Techniques: []string{"T1562.008"}}
	a := New(spec, []*event.Event{diagDelete()})
	b := New(spec, []*event.Event{diagDelete()})
	if a.ID != b.ID || a.ID == "" {
		t.Fatalf("ids differ for the same record: %q %q", a.ID, b.ID)
	}
	// The same caller deleting the same setting again that day is the
	// same alert; another caller, resource or day is another.
	again := diagDelete()
	again.CorrelationID = "another"
	again.Time = again.Time.Add(time.Hour)
	if New(spec, []*event.Event{again}).ID != a.ID {
		t.Fatal("the same entity and operation within the day gave another id")
	}
	for name, change := range map[string]func(*event.Event){
		"caller":   func(ev *event.Event) { ev.Actor.UPN = "eve@contoso.com" },
		"resource": func(ev *event.Event) { ev.Resource.ID += "/other" },
		"day":      func(ev *event.Event) { ev.Time = ev.Time.Add(24 * time.Hour) },
		"address":  func(ev *event.Event) { ev.Actor.IP = "203.0.113.9" },
	} {
		other := diagDelete()
		change(other)
		if New(spec, []*event.Event{other}).ID == a.ID {
			t.Fatalf("another %s gave the same id", name)
		}
	}
	spec2 := spec
	spec2.RuleID = "r2"
	if New(spec2, []*event.Event{diagDelete()}).ID == a.ID {
		t.Fatal("a different rule gave the same id")
	}
	if a.Count != 1 || len(a.Evidence) != 1 || a.Entities.Users[0] != "mallory@contoso.com" ||
		a.Entities.IPs[0] != "185.220.101.47" || a.Entities.Subscriptions[0] != "6f2c1d2e-0000-4000-8000-000000000001" {
		t.Fatalf("alert fields: %+v", a)
	}
	if !a.FirstSeen.Equal(diagDelete().Time) || a.SourceType != "activitylogs" {
		t.Fatalf("times/source: %+v", a)
	}
}

func TestFingerprintWindow(t *testing.T) {
	w := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	if Fingerprint("r", "k", w) == Fingerprint("r", "k", w.Add(time.Hour)) {
		t.Fatal("windows not told apart")
	}
	if Fingerprint("R", "k", w) != Fingerprint("r", "k", w) {
		t.Fatal("rule id case changes the id")
	}
}

type failing struct{ n int }

func (f *failing) Publish(context.Context, []Alert) error { f.n++; return errors.New("broker down") }
func (f *failing) Close() error                           { return nil }

func TestFanoutFiltersAndJoinsErrors(t *testing.T) {
	low, high := &Collector{}, &Collector{}
	bad := &failing{}
	f := Fanout{
		{Sink: low, Name: "low"},
		{Sink: high, MinSeverity: SeverityHigh, Name: "high"},
		{Sink: bad, MinSeverity: SeverityCritical, Name: "critical"},
	}
	alerts := []Alert{{ID: "1", Severity: SeverityLow}, {ID: "2", Severity: SeverityHigh}}
	if err := f.Publish(context.Background(), alerts); err != nil {
		t.Fatalf("no critical alert should reach the failing sink: %v", err)
	}
	if len(low.Alerts) != 2 || len(high.Alerts) != 1 || high.Alerts[0].ID != "2" || bad.n != 0 {
		t.Fatalf("filtering: low %d high %d bad %d", len(low.Alerts), len(high.Alerts), bad.n)
	}
	err := f.Publish(context.Background(), []Alert{{ID: "3", Severity: SeverityCritical}})
	if err == nil || !strings.Contains(err.Error(), "critical") || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("error not joined with the sink's name: %v", err)
	}
}

func TestDeduper(t *testing.T) {
	d := NewDeduper(time.Hour, 100)
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	a := []Alert{{ID: "x"}, {ID: "y"}, {ID: "x"}}
	fresh := d.Fresh(now, a)
	if len(fresh) != 2 {
		t.Fatalf("in-batch duplicate kept: %d", len(fresh))
	}
	// Claimed: a second invocation of the process does not send them too.
	if got := d.Fresh(now, a); len(got) != 0 {
		t.Fatalf("claimed alerts returned again before the first send ended: %v", got)
	}
	// A failed send releases them: the retry sends them.
	d.Release(fresh)
	if fresh = d.Fresh(now, a); len(fresh) != 2 {
		t.Fatal("released alerts suppressed although never delivered")
	}
	d.Mark(now, fresh)
	if got := d.Fresh(now.Add(time.Minute), a); len(got) != 0 {
		t.Fatalf("redelivered alerts raised again: %v", got)
	}
	if got := d.Fresh(now.Add(2*time.Hour), a); len(got) != 2 {
		t.Fatalf("alerts still suppressed after the window: %v", got)
	}
}

func TestJSONLinesAndDeadLetters(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJSONLines(filepath.Join(dir, "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Publish(context.Background(), []Alert{{ID: "1", Summary: "a <b> & c"}, {ID: "2"}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	lines := readLines(t, filepath.Join(dir, "alerts.jsonl"))
	if len(lines) != 2 || !strings.Contains(lines[0], `"a <b> & c"`) {
		t.Fatalf("alert lines: %q", lines)
	}

	path := filepath.Join(dir, "dead.jsonl")
	d := NewDeadLetterFile(path)
	if err := d.Keep(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("dead-letter file created with nothing to keep")
	}
	dead := []Dead{
		{Origin: "f.json", Index: 3, Offset: 120, Reason: "invalid JSON", Bytes: []byte(`{'a': 1}`)},
		{Origin: "f.json", Index: 4, Offset: 130, Reason: "bad bytes", Bytes: []byte{0xff, 0xfe}},
	}
	if err := d.Keep(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	d.Close()
	lines = readLines(t, path)
	var first, second map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first["record"] != `{'a': 1}` || first["index"] != 3.0 || first["reason"] != "invalid JSON" {
		t.Fatalf("first dead letter: %v", first)
	}
	if second["record_base64"] != "//4=" {
		t.Fatalf("binary dead letter: %v", second)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestDeduperMergesAnEntitysRepeats(t *testing.T) {
	spec := Spec{RuleID: "r1", Title: "t", Severity: SeverityHigh, Summary: "risky sign-in by mallory"}
	var alerts []Alert
	for i := 0; i < 5; i++ {
		ev := diagDelete()
		ev.CorrelationID = fmt.Sprintf("c%d", i)
		ev.Time = ev.Time.Add(time.Duration(i) * 10 * time.Minute)
		alerts = append(alerts, New(spec, []*event.Event{ev}))
	}
	// The Start record of the first operation (its correlation id) adds
	// no operation.
	start := diagDelete()
	start.CorrelationID, start.Result = "c0", event.ResultInProgress
	start.Time = start.Time.Add(-time.Second)
	alerts = append(alerts, New(spec, []*event.Event{start}))
	other := diagDelete()
	other.Actor.IP = "45.137.21.9"
	alerts = append(alerts, New(spec, []*event.Event{other}))
	got := NewDeduper(time.Hour, 100).Fresh(diagDelete().Time, alerts)
	if len(got) != 2 {
		t.Fatalf("want one alert per entity, got %d", len(got))
	}
	a := got[0]
	if a.Count != 5 || !a.FirstSeen.Equal(diagDelete().Time.Add(-time.Second)) || !a.LastSeen.Equal(diagDelete().Time.Add(40*time.Minute)) ||
		len(a.Evidence) != 5 || !strings.Contains(a.Summary, "5 times") {
		t.Fatalf("merged alert: count %d first %v last %v evidence %d summary %q", a.Count, a.FirstSeen, a.LastSeen, len(a.Evidence), a.Summary)
	}
	if got[1].Count != 1 || got[1].Summary != "risky sign-in by mallory" {
		t.Fatalf("the other address's alert: %+v", got[1])
	}
	// A stateful rule's duplicate keeps its own count (the window's total).
	st := Spec{RuleID: "r2", Title: "t", Severity: SeverityHigh, GroupKey: "g", WindowStart: diagDelete().Time, Count: 12}
	two := NewDeduper(time.Hour, 100).Fresh(diagDelete().Time, []Alert{New(st, []*event.Event{diagDelete()}), New(st, []*event.Event{diagDelete()})})
	if len(two) != 1 || two[0].Count != 12 {
		t.Fatalf("stateful duplicate: %+v", two)
	}
}

func TestAlertGroupSharesIDs(t *testing.T) {
	w := time.Date(2026, 11, 20, 10, 40, 0, 0, time.UTC)
	a := New(Spec{RuleID: "r-logs", Group: "g", GroupKey: "acct|45.137.21.9", WindowStart: w, Count: 30}, []*event.Event{diagDelete()})
	b := New(Spec{RuleID: "r-blob", Group: "g", GroupKey: "acct|45.137.21.9", WindowStart: w.Add(time.Minute), Count: 30}, []*event.Event{diagDelete()})
	if a.ID != b.ID {
		t.Fatal("the two exports of one request raised two alerts")
	}
	c := New(Spec{RuleID: "r-blob", GroupKey: "acct|45.137.21.9", WindowStart: w, Count: 30}, []*event.Event{diagDelete()})
	if c.ID == a.ID {
		t.Fatal("a rule without the group shares its ids")
	}
}

func TestEntitiesNameEveryParty(t *testing.T) {
	grant := diagDelete()
	grant.Operation = "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"
	grant.Raw = []byte(`{"properties":{"requestbody":"{\"Properties\":{\"PrincipalId\":\"69dfc2c0-ba87-5d7c-9881-74dbceb1ab33\",\"PrincipalType\":\"User\"}}"}}`)
	a := New(Spec{RuleID: "r", GroupKey: "g", WindowStart: grant.Time}, []*event.Event{grant})
	if !slices.Contains(a.Entities.Users, "69dfc2c0-ba87-5d7c-9881-74dbceb1ab33") || !slices.Contains(a.Entities.Users, "mallory@contoso.com") {
		t.Errorf("role grant: the grantee and the caller are parties: %+v", a.Entities)
	}
	flow := &event.Event{Source: "flowlogs", Time: grant.Time, Actor: event.Actor{IP: "10.20.2.5"}, Target: "45.137.21.9:443"}
	flow.Set("flow.src_ip", "10.20.2.5")
	flow.Set("flow.dst_ip", "45.137.21.9")
	b := New(Spec{RuleID: "r", GroupKey: "g", WindowStart: grant.Time}, []*event.Event{flow})
	if !slices.Equal(b.Entities.IPs, []string{"10.20.2.5", "45.137.21.9"}) {
		t.Errorf("flow: both addresses are parties: %+v", b.Entities)
	}
}

// TestNewAllocations bounds what building an alert allocates: the id, the
// entity key, the evidence, the entities (one slice for every kind) and
// the lower-cased subscription; the summary is given. Before: 12 and 14.
func TestNewAllocations(t *testing.T) {
	spec := Spec{RuleID: "r1", Title: "t", Severity: SeverityHigh, Summary: "given"}
	evs := []*event.Event{diagDelete()}
	var a Alert
	got := testing.AllocsPerRun(100, func() { a = New(spec, evs) })
	if got > 5 {
		t.Errorf("New allocates %.0f times for a one-event alert, want at most 5", got)
	}
	st := Spec{RuleID: "r2", Title: "t", Severity: SeverityHigh, GroupKey: "g", WindowStart: diagDelete().Time, Count: 7, Summary: "given"}
	three := []*event.Event{diagDelete(), diagDelete(), diagDelete()}
	if got := testing.AllocsPerRun(100, func() { a = New(st, three) }); got > 4 {
		t.Errorf("New allocates %.0f times for a three-event stateful alert, want at most 4", got)
	}
	// The entity lists share one slice's memory: appending to one must
	// not write over the next.
	a = New(spec, evs)
	users := append(a.Entities.Users, "eve@contoso.com")
	if len(a.Entities.IPs) != 1 || a.Entities.IPs[0] != "185.220.101.47" || users[0] != "mallory@contoso.com" {
		t.Fatalf("an append to the users changed the addresses: %+v", a.Entities)
	}
}
