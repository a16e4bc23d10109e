// Package sinktest is the one conformance suite every alert.Sink passes:
// stdout and JSON-lines files always, Service Bus on the Proton test peer
// (and on a real namespace or the emulator when one is configured). A sink
// runs Run from its own test.
package sinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
)

// Target is a sink under test and a way to read back what it delivered.
type Target struct {
	Sink alert.Sink
	// Delivered returns the alerts delivered since the previous call, in
	// delivery order.
	Delivered func(t *testing.T) []alert.Alert
	// MaxMessageBytes, when not zero, is the size one alert may take on
	// this sink; bigger alerts are cut (evidence first) but still arrive.
	MaxMessageBytes int
}

// NewTarget returns a fresh target for one test (its own entity or file).
type NewTarget func(t *testing.T) Target

// Run runs the suite against the targets newTarget returns.
func Run(t *testing.T, newTarget NewTarget) {
	tests := []struct {
		name string
		run  func(t *testing.T, tg Target)
	}{
		{"RoundTrip", testRoundTrip},
		{"NothingToPublish", testEmpty},
		{"ManyAlertsArriveOnceInOrder", testMany},
		{"OversizedAlertStillArrives", testOversized},
		{"ConcurrentPublishes", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t)
			tc.run(t, tg)
			if err := tg.Sink.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// run and generation make every generated alert id new: a real namespace
// remembers message ids (duplicate detection) across tests and runs.
var (
	run        = func() string { b := make([]byte, 4); _, _ = rand.Read(b); return hex.EncodeToString(b) }()
	generation atomic.Int64
)

// Alert returns a realistic alert with evidence records; i varies its
// rule and severity. Its id is new on every call.
func Alert(i int, evidence int) alert.Alert {
	return alertIn(fmt.Sprintf("%s-%d", run, generation.Add(1)), i, evidence)
}

func alertIn(salt string, i, evidence int) alert.Alert {
	sevs := alert.Severities()
	first := time.Date(2026, 11, 20, 9, 12, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	a := alert.Alert{
		RuleID:     fmt.Sprintf("azdetect-test-rule-%d", i%3),
		Title:      fmt.Sprintf("Test alert %d", i),
		Severity:   sevs[i%len(sevs)],
		Tactics:    []string{"credential-access"},
		Techniques: []string{"T1110.003", "T1078.004"},
		Summary:    fmt.Sprintf("mallory%d@contoso.com failed to sign in to 12 accounts from 185.220.101.%d", i, i%250),
		SourceType: "signinlogs",
		GroupKey:   fmt.Sprintf("185.220.101.%d|%s", i%250, salt),
		FirstSeen:  first,
		LastSeen:   first.Add(5 * time.Minute),
		Count:      12,
		Entities: alert.Entities{
			Users:         []string{fmt.Sprintf("mallory%d@contoso.com", i)},
			IPs:           []string{fmt.Sprintf("185.220.101.%d", i%250)},
			Subscriptions: []string{"6f2c1d2e-0000-4000-8000-000000000001"},
		},
	}
	a.ID = alert.Fingerprint(a.RuleID, a.GroupKey, first.Add(time.Duration(i)*time.Hour))
	for j := 0; j < evidence; j++ {
		a.Evidence = append(a.Evidence, alert.Evidence{
			Source:        "signinlogs",
			Time:          first.Add(time.Duration(j) * time.Second),
			Operation:     "Sign-in activity",
			Result:        "failure",
			Actor:         fmt.Sprintf("user%d@contoso.com", j),
			IP:            a.Entities.IPs[0],
			Resource:      "Microsoft Azure Portal",
			CorrelationID: fmt.Sprintf("0b6c2a8e-0000-4000-8000-%012d", j),
			RecordID:      fmt.Sprintf("record-%d-%d-%s", i, j, strings.Repeat("x", 200)),
		})
	}
	return a
}

// Alerts returns n alerts, ids distinct and new on every call.
func Alerts(n, evidence int) []alert.Alert {
	salt := fmt.Sprintf("%s-%d", run, generation.Add(1))
	out := make([]alert.Alert, n)
	for i := range out {
		out[i] = alertIn(salt, i, evidence)
	}
	return out
}

func publish(t *testing.T, s alert.Sink, alerts []alert.Alert) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Publish(ctx, alerts); err != nil {
		t.Fatalf("publish %d alert(s): %v", len(alerts), err)
	}
}

// Equal compares two alerts as their JSON documents.
func Equal(a, b alert.Alert) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func testRoundTrip(t *testing.T, tg Target) {
	want := Alerts(3, 2)
	publish(t, tg.Sink, want)
	got := tg.Delivered(t)
	if len(got) != len(want) {
		t.Fatalf("delivered %d alert(s), want %d", len(got), len(want))
	}
	for i := range want {
		if !Equal(got[i], want[i]) {
			t.Errorf("alert %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func testEmpty(t *testing.T, tg Target) {
	publish(t, tg.Sink, nil)
	if got := tg.Delivered(t); len(got) != 0 {
		t.Fatalf("publishing nothing delivered %d alert(s)", len(got))
	}
}

// testMany publishes more than one Service Bus Standard batch holds
// (about 300 KiB), so a batching sink must split.
func testMany(t *testing.T, tg Target) {
	want := Alerts(250, 3)
	publish(t, tg.Sink, want)
	got := tg.Delivered(t)
	if len(got) != len(want) {
		t.Fatalf("delivered %d alert(s), want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("alert %d is %s, want %s: order lost", i, got[i].ID, want[i].ID)
		}
	}
}

// testOversized publishes an alert bigger than a message may be: it
// arrives with its id, rule, severity and summary, its evidence cut if the
// sink must.
func testOversized(t *testing.T, tg Target) {
	big := Alert(7, 2000) // about 700 KB of evidence
	publish(t, tg.Sink, []alert.Alert{big})
	got := tg.Delivered(t)
	if len(got) != 1 {
		t.Fatalf("delivered %d alert(s), want 1", len(got))
	}
	g := got[0]
	if g.ID != big.ID || g.RuleID != big.RuleID || g.Severity != big.Severity || g.Summary != big.Summary {
		t.Fatalf("oversized alert arrived as %s/%s/%s", g.ID, g.RuleID, g.Severity)
	}
	if tg.MaxMessageBytes == 0 && len(g.Evidence) != len(big.Evidence) {
		t.Fatalf("evidence cut to %d of %d on a sink without a size limit", len(g.Evidence), len(big.Evidence))
	}
	if len(g.Evidence) == 0 {
		t.Fatalf("all evidence dropped; half of it should fit")
	}
}

func testConcurrent(t *testing.T, tg Target) {
	all := Alerts(40, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(part []alert.Alert) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := tg.Sink.Publish(ctx, part); err != nil {
				errs <- err
			}
		}(all[w*10 : (w+1)*10])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent publish: %v", err)
	}
	got := tg.Delivered(t)
	seen := map[string]int{}
	for _, a := range got {
		seen[a.ID]++
	}
	for _, a := range all {
		if seen[a.ID] != 1 {
			t.Errorf("alert %s delivered %d time(s)", a.ID, seen[a.ID])
		}
	}
	if len(got) != len(all) {
		t.Errorf("delivered %d alert(s), want %d", len(got), len(all))
	}
}
