package source

import (
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

func TestAuditGolden(t *testing.T) { runGolden(t, "auditlogs") }

func TestAuditResult(t *testing.T) {
	tests := map[string]event.Result{
		"success": event.ResultSuccess, "Success": event.ResultSuccess,
		"failure": event.ResultFailure, "timeout": event.ResultFailure,
		"": event.ResultUnknown, "other": event.ResultUnknown,
	}
	for in, want := range tests {
		if got := auditResult(in); got != want {
			t.Errorf("auditResult(%q) = %q, want %q", in, got, want)
		}
	}
}
func FuzzParseAudit(f *testing.F) { fuzzSource(f, auditSource, "auditlogs") }
