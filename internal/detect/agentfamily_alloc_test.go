package detect

import (
	"strings"
	"testing"
)

// AgentFamily folds an ASCII agent's case as it searches, without a
// lower-cased copy, and finds what searching strings.ToLower's finds; a
// non-ASCII agent is lowered whole (the Kelvin sign lowers to 'k').
func TestAgentFamilyFoldsWithoutCopy(t *testing.T) {
	reference := func(ua string) string {
		low := strings.ToLower(strings.TrimSpace(ua))
		for _, f := range agentFamilies {
			if strings.Contains(low, f.marker) {
				return f.family
			}
		}
		return "(none)"
	}
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) CHROME/131.0 SAFARI/537.36 EDG/131.0",
		"PYTHON-Requests/2.32", "AzureHound/2.1", "Microsoft Office/16.0", "microsoft  office", "curl", "CURL/8.1",
		"MSAL.NET/4.6", "ROADtools", "\u212Aubectl roadTOOLS", "Ünïcode FireFox/1", "Go-Http-Client/1.1", "xedg/", "ed", "",
	}
	for _, ua := range agents {
		want := reference(ua)
		got := AgentFamily(ua)
		if want != "(none)" && got != want {
			t.Errorf("AgentFamily(%q) = %q, want %q", ua, got, want)
		}
		if want == "(none)" {
			for _, f := range agentFamilies {
				if got == f.family && ua != "" && !strings.HasPrefix(ua, f.family) {
					t.Errorf("AgentFamily(%q) = %q, a family no marker of it names", ua, got)
				}
			}
		}
	}
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	if n := testing.AllocsPerRun(20, func() { _ = AgentFamily(ua) }); n != 0 {
		t.Errorf("AgentFamily of a mixed-case ASCII agent: %.0f allocations, want 0", n)
	}
}
