package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
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
	other := diagDelete()
	other.CorrelationID = "another"
	if New(spec, []*event.Event{other}).ID == a.ID {
		t.Fatal("a different record gave the same id")
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
