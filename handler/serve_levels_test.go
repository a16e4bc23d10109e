package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
)

// azureLevel is the level a zerolog line was logged at, as Application
// Insights should show it.
func azureLevel(level string) string {
	switch level {
	case "warn":
		return invoke.LevelWarning
	case "error", "fatal", "panic":
		return invoke.LevelError
	}
	return invoke.LevelInformation
}

// checkHostLevels runs the contract's level rule (invoke.HostLevel, done by
// whoever captured the lines) against the level each line was logged at:
// every log line must reach Application Insights at its own level. Lines
// that are not log lines (alerts on stdout) are Information.
func checkHostLevels(t *testing.T, lines []invoke.AppLine) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range lines {
		var rec struct {
			Level *string `json:"level"`
		}
		isLog := json.Unmarshal([]byte(l.Text), &rec) == nil && rec.Level != nil
		want := invoke.LevelInformation
		if isLog {
			want = azureLevel(*rec.Level)
		} else if l.Stderr {
			t.Errorf("stderr line that is not a log line (the host levels it %s by its words): %.300s", l.Level, l.Text)
			continue
		}
		if l.Level != want {
			t.Errorf("logged at %s but the host shows it as %s (stderr %t): %.300s", want, l.Level, l.Stderr, l.Text)
		}
		if isLog && l.Stderr != (want != invoke.LevelInformation) {
			t.Errorf("%s line on the wrong stream (stderr %t): %.300s", want, l.Stderr, l.Text)
		}
		seen[l.Level]++
	}
	if seen[invoke.LevelInformation] == 0 {
		t.Error("no Information line at all")
	}
}

// hostLines splits what serve wrote into lines levelled by the host's rule.
func hostLines(stdout, stderr string) []invoke.AppLine {
	var out []invoke.AppLine
	for _, s := range []struct {
		text   string
		stderr bool
	}{{stdout, false}, {stderr, true}} {
		sc := bufio.NewScanner(strings.NewReader(s.text))
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			out = append(out, invoke.AppLine{Stderr: s.stderr, Level: invoke.HostLevel(s.stderr, sc.Text()), Text: sc.Text()})
		}
	}
	return out
}

// TestServeLogsAtAzureLevels: what serve prints for a normal batch and for
// a failing one (the alert sink cannot write), levelled by the host's rule,
// is the level it was logged at: info on stdout, warnings and errors on
// stderr, no info line on stderr where an "error" word would make it one.
func TestServeLogsAtAzureLevels(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("the failing batch writes its alerts to /dev/full (ENOSPC): %v", err)
	}
	for _, tc := range []struct {
		name      string
		alertFile string
		fails     bool
	}{
		{"normal batch", filepath.Join(t.TempDir(), "alerts.jsonl"), false},
		{"failing batch", "/dev/full", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AZDETECT_ALERT_SINK", "jsonl")
			t.Setenv("AZDETECT_ALERT_FILE", tc.alertFile)
			t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
			t.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
			t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
			s, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr syncBuffer
			log := hostLogger(zerolog.New(&stderr).Level(zerolog.DebugLevel).With().Timestamp().Logger(), &stdout, &stderr)
			ctx, cancel := context.WithCancel(log.WithContext(context.Background()))
			ready := make(chan net.Addr, 1)
			done := make(chan error, 1)
			go func() { done <- serve(ctx, s, &stdout, ready) }()
			var addr net.Addr
			select {
			case addr = <-ready:
			case err := <-done:
				t.Fatalf("serve: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not listen")
			}
			_, rerr := invoke.Replay(context.Background(), invoke.ReplayOptions{
				URL: "http://" + addr.String(), Function: invoke.FunctionEventHub, FunctionsDir: "../functions",
				Paths: []string{"../testdata/demo"},
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
			if tc.fails != (rerr != nil) {
				t.Fatalf("replay: %v (want failure: %t)", rerr, tc.fails)
			}
			lines := hostLines(stdout.String(), stderr.String())
			checkHostLevels(t, lines)
			var levels []string
			for _, l := range lines {
				levels = append(levels, l.Level)
			}
			joined := strings.Join(levels, " ")
			if tc.fails && (!strings.Contains(joined, invoke.LevelError) || !strings.Contains(joined, invoke.LevelWarning)) {
				t.Errorf("failing batch: levels %s, want an Error (the failure) and a Warning (the 500 answer)", joined)
			}
			// The demo's one truncated record is a Warning; nothing failed.
			if !tc.fails && strings.Contains(joined, invoke.LevelError) {
				t.Errorf("normal batch: levels %s, want no Error", joined)
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}
