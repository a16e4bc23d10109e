package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/invoke"
)

// scan runs `azdetect scan` in-process and returns its alerts (JSON lines
// on stdout), stderr and exit code.
func scan(t *testing.T, args ...string) ([]alert.Alert, string, int) {
	t.Helper()
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"scan"}, args...), nil, &stdout, &stderr)
	var alerts []alert.Alert
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue
		}
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		alerts = append(alerts, a)
	}
	return alerts, stderr.String(), code
}

func TestScanDemoRaisesEveryIndicator(t *testing.T) {
	alerts, stderr, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	fired, groups := map[string]int{}, map[string]int{}
	for _, a := range alerts {
		fired[a.RuleID]++
		groups[a.AlertGroup]++
		if a.ID == "" || a.Summary == "" || len(a.Techniques) == 0 || len(a.Evidence) == 0 || a.FirstSeen.IsZero() {
			t.Errorf("alert %s (%s) lacks id, summary, technique, evidence or time: %+v", a.RuleID, a.Title, a)
		}
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		// Rules of one alert group (one detection over two exports of a
		// log) raise one alert between them, under either rule's id.
		if fired[r.ID] == 0 && (r.AlertGroup == "" || groups[r.AlertGroup] == 0) {
			t.Errorf("rule %s (%s) raised nothing on testdata/demo", r.ID, r.Title)
		}
	}
	last := lastLine(stderr)
	for _, want := range []string{"activitylogs", "signinlogs", "auditlogs", "riskdetection", "not recognised 0", "malformed 1", "alerts"} {
		if !strings.Contains(last, want) {
			t.Errorf("summary line %q lacks %q", last, want)
		}
	}
}

func TestScanNormalDayIsQuiet(t *testing.T) {
	alerts, stderr, code := scan(t, "--format", "json", "--fail-on", "medium", "../testdata/normal-day")
	for _, a := range alerts {
		if alert.AtLeast(a.Severity, alert.SeverityMedium) {
			t.Errorf("normal day raised %s %q: %s", a.Severity, a.Title, a.Summary)
		}
	}
	if code != exitOK {
		t.Fatalf("exit %d on a normal day, stderr:\n%s", code, stderr)
	}
	if strings.Contains(lastLine(stderr), "malformed 0") == false {
		t.Errorf("normal day has malformed records: %s", lastLine(stderr))
	}
}

// TestScanNormalWeekIsQuiet: two weeks of ordinary activity of a 40-user
// tenant (testdata/normal-week/README.md) raise nothing above low, and the
// rules that should see it do (role grants at resource group scope, consent).
func TestScanNormalWeekIsQuiet(t *testing.T) {
	alerts, stderr, code := scan(t, "--format", "json", "--fail-on", "medium", "../testdata/normal-week")
	titles := map[string]int{}
	for _, a := range alerts {
		titles[a.Title]++
		if alert.AtLeast(a.Severity, alert.SeverityMedium) {
			t.Errorf("normal week raised %s %q: %s", a.Severity, a.Title, a.Summary)
		}
	}
	if code != exitOK {
		t.Fatalf("exit %d on a normal week, stderr:\n%s", code, stderr)
	}
	last := lastLine(stderr)
	for _, want := range []string{"malformed 0", "not recognised 0", "signinlogs 2", "activitylogs 1"} {
		if !strings.Contains(last, want) {
			t.Errorf("summary %q lacks %q", last, want)
		}
	}
	if titles["Privileged role assigned at resource group or resource scope"] == 0 || titles["Consent granted to an application"] == 0 {
		t.Errorf("the week's routine grants and consents raised no low alert: %v", titles)
	}
}

func TestScanExitCodes(t *testing.T) {
	if _, _, code := scan(t, "--format", "json", "--fail-on", "high", "../testdata/demo"); code != exitAlerts {
		t.Errorf("--fail-on high over the demo: exit %d, want %d", code, exitAlerts)
	}
	if _, _, code := scan(t, "--format", "json", "does-not-exist"); code != exitUsage {
		t.Errorf("missing path: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := scan(t, "--format", "yaml", "../testdata/demo"); code != exitUsage {
		t.Errorf("bad format: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := scan(t, "--fail-on", "urgent", "../testdata/demo"); code != exitUsage {
		t.Errorf("bad severity: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := scan(t); code != exitUsage {
		t.Errorf("no path: exit %d, want %d", code, exitUsage)
	}
}

func TestScanKeepsMalformedRecords(t *testing.T) {
	dir := t.TempDir()
	good := `{"time":"2026-11-20T09:12:44.1234567Z","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-000000000001/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/SEND-TO-SIEM","operationName":"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE","category":"Administrative","resultType":"Success","resultSignature":"Succeeded.OK","callerIpAddress":"185.220.101.47","correlationId":"0b6c2a8e-0000-4000-8000-000000000001","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@contoso.com"}},"level":"Informational","properties":{"statusCode":"OK"}}`
	// The second record is another caller's (the same caller's repeat would
	// be counted in the first alert).
	second := strings.Replace(strings.Replace(good, "0001\",\"identity", "0002\",\"identity", 1), "185.220.101.47", "45.137.21.9", 1)
	body := good + "\n{'category': 'Administrative', 'broken': true}\n" + second + "\n"
	path := filepath.Join(dir, "mixed.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, "dead.jsonl")
	var stdout, stderr bytes.Buffer
	code := run([]string{"scan", "--format", "json", "--dead-letter", dead, path}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n < 2 {
		t.Errorf("the records around the malformed one raised %d alert(s), want at least 2", n)
	}
	kept, err := os.ReadFile(dead)
	if err != nil {
		t.Fatalf("dead-letter file: %v", err)
	}
	var line struct {
		Origin string `json:"origin"`
		Index  int    `json:"index"`
		Reason string `json:"reason"`
		Record string `json:"record"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(kept), &line); err != nil {
		t.Fatalf("dead letter %q: %v", kept, err)
	}
	if line.Index != 1 || line.Origin != path || !strings.Contains(line.Record, "'broken': true") || line.Reason == "" {
		t.Errorf("dead letter %+v", line)
	}
	if !strings.Contains(lastLine(stderr.String()), "malformed 1") {
		t.Errorf("summary: %s", lastLine(stderr.String()))
	}
}

// TestServeMatchesScan starts the handler over real HTTP, replays the demo
// as Event Hub batches and as blobs, and expects the alerts scan raises.
func TestServeMatchesScan(t *testing.T) {
	want, _, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(want) == 0 {
		t.Fatalf("scan: exit %d, %d alerts", code, len(want))
	}
	for _, function := range []string{"ingest-eventhub", "ingest-blob"} {
		t.Run(function, func(t *testing.T) {
			got := serveAndReplay(t, function, "../testdata/demo")
			if g, w := ids(got), ids(want); strings.Join(g, " ") != strings.Join(w, " ") {
				t.Fatalf("serve raised %d alerts, scan %d\nserve: %v\nscan:  %v", len(g), len(w), g, w)
			}
		})
	}
}

func serveAndReplay(t *testing.T, function string, paths ...string) []alert.Alert {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AZDETECT_ALERT_SINK", "jsonl")
	t.Setenv("AZDETECT_ALERT_FILE", filepath.Join(dir, "alerts.jsonl"))
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(dir, "dead.jsonl"))
	t.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(zerolog.Nop().WithContext(context.Background()))
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, os.Stdout, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen")
	}
	_, err = invoke.Replay(context.Background(), invoke.ReplayOptions{
		URL: "http://" + addr.String(), Function: function, FunctionsDir: "../functions", Paths: paths,
	})
	cancel()
	if serr := <-done; serr != nil {
		t.Fatalf("serve: %v", serr)
	}
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var alerts []alert.Alert
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var a alert.Alert
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		alerts = append(alerts, a)
	}
	return alerts
}

func ids(alerts []alert.Alert) []string {
	out := make([]string, 0, len(alerts))
	for _, a := range alerts {
		out = append(out, a.ID)
	}
	sort.Strings(out)
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
