package source

import (
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

func TestSignInGolden(t *testing.T) { runGolden(t, "signinlogs") }

func TestSignInResult(t *testing.T) {
	reg := newTestRegistry(t)
	tests := []struct {
		name, props, resultType string
		want                    event.Result
		code                    string
	}{
		{"error code 0 number", `{"status":{"errorCode":0}}`, `"0"`, event.ResultSuccess, "0"},
		{"error code as string", `{"status":{"errorCode":"50126"}}`, `"50126"`, event.ResultFailure, "50126"},
		{"only resultType", `{}`, `"50053"`, event.ResultFailure, "50053"},
		{"nothing", `{}`, `null`, event.ResultUnknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := `{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","resultType":` + tc.resultType + `,"properties":` + tc.props + `}`
			ev, status, err := reg.Parse([]byte(raw))
			if status != Parsed {
				t.Fatalf("%v: %v", status, err)
			}
			if ev.Result != tc.want || ev.ResultCode != tc.code {
				t.Errorf("result %q code %q, want %q %q", ev.Result, ev.ResultCode, tc.want, tc.code)
			}
		})
	}
}
func FuzzParseSignIn(f *testing.F) { fuzzSource(f, signInSource, "signinlogs") }
