package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
)

// TestHTMLEscapesWhatTheAttackerWrote: every field of a record may be the
// attacker's; in the report it is text, never markup or script.
func TestHTMLEscapesWhatTheAttackerWrote(t *testing.T) {
	evil := `"><img src=x onerror=alert(1)><script>alert(2)</script>`
	a := alert.Alert{
		ID: "1", RuleID: "r1", Title: "rule " + evil, Severity: "high", Summary: "did " + evil,
		FirstSeen: time.Now(), LastSeen: time.Now(), Techniques: []string{"T1110.003"},
		Entities: alert.Entities{Users: []string{"u" + evil}, IPs: []string{"203.0.113.7"}, Resources: []string{"/SUBSCRIPTIONS/X/" + evil}},
		Evidence: []alert.Evidence{{Actor: "mallory@contoso.com", IP: "203.0.113.7", Target: evil}},
	}
	var out bytes.Buffer
	err := WriteHTML(&out, Scan{Alerts: []alert.Alert{a}, Paths: []string{evil}, Rules: map[string]RuleDoc{
		"r1": {ID: "r1", Title: "Rule", Description: evil, FalsePositives: []string{evil}, References: []string{"javascript:alert(3)"}, Techniques: []string{"T1110.003"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, bad := range []string{"<img src=x", "<script>alert(2)", `href="javascript:`} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q unescaped", bad)
		}
	}
	for _, want := range []string{`data-kind="user" data-name="mallory@contoso.com"`, `data-kind="address" data-name="203.0.113.7"`, "https://attack.mitre.org/techniques/T1110/003/"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Count(html, `<tr class="alert"`) != 1 {
		t.Errorf("timeline rows: %d, want 1", strings.Count(html, `<tr class="alert"`))
	}
}
