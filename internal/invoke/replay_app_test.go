package invoke

import (
	"strings"
	"testing"
)

// The host's level rule for handler output (contract §1).
func TestHostLevel(t *testing.T) {
	for _, tc := range []struct {
		stderr bool
		line   string
		want   string
	}{
		{false, `{"level":"error","message":"x"}`, LevelInformation}, // stdout is always Information
		{true, `{"level":"warn","message":"sink failed"}`, LevelWarning},
		{true, `{"level":"error","message":"x"}`, LevelError},
		{true, `panic: FAILED`, LevelError},
		{true, `SEVERE thing`, LevelError},
		{true, `Unhandled exception`, LevelError},
		{true, `{"level":"info","message":"ready"}`, LevelInformation},
	} {
		if got := HostLevel(tc.stderr, tc.line); got != tc.want {
			t.Errorf("HostLevel(stderr %t, %q) = %s, want %s", tc.stderr, tc.line, got, tc.want)
		}
	}
}

// checkAnswer holds a 2xx body to the shape the host reads (contract §3).
func TestCheckAnswer(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"Outputs":{},"Logs":["a"],"ReturnValue":null}`, ""},
		{`{"outputs":null,"logs":null}`, ""},
		{`{}`, ""},
		{`[]`, "not a JSON object"},
		{`{"Logs":"one line"}`, "not an array of strings"},
		{`{"Outputs":[]}`, "not an object"},
		{`{"Outputs":{"alerts":"x"}}`, "have none"},
		{`{"ReturnValue":{"a":1}}`, "spread it into the outputs"},
	} {
		_, err := checkAnswer([]byte(tc.body))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkAnswer(%s) = %v, want %q", tc.body, err, tc.want)
		}
	}
}
