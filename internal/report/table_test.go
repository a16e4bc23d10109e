package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 512: "512 B", 2048: "2.0 KB", 1185713915: "1.1 GB", 5 << 40: "5.0 TB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := HumanSizes("10.20.1.4 sent 1185713915 bytes to 45.137.21.9, 12 bytes back"); got != "10.20.1.4 sent 1.1 GB to 45.137.21.9, 12 bytes back" {
		t.Errorf("HumanSizes: %q", got)
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		text  string
		width int
		want  []string
	}{
		{"a b c", 3, []string{"a b", "c"}},
		{"mallory@contoso.com", 8, []string{"mallory@", "contoso.", "com"}},
		{"/SUBSCRIPTIONS/3B8E6F21/RESOURCEGROUPS/RG", 20, []string{"/SUBSCRIPTIONS/", "3B8E6F21/", "RESOURCEGROUPS/RG"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"", 5, []string{""}},
		{"one two", 20, []string{"one two"}},
	}
	for _, tc := range tests {
		if got := wrap(tc.text, tc.width); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.text, tc.width, got, tc.want)
		}
	}
}

// TestRowsGroupAndSort: repeated alerts of one rule and entity are one row
// with their count; rows are in time order, or severity then time.
func TestRowsGroupAndSort(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 20, 9, m, 0, 0, time.UTC) }
	mk := func(id, sev string, m int, actor, ip string) alert.Alert {
		return alert.Alert{RuleID: id, Title: "rule " + id, Severity: sev, FirstSeen: at(m), LastSeen: at(m),
			Evidence: []alert.Evidence{{Actor: actor, IP: ip, Country: "DE"}}, Entities: alert.Entities{IPs: []string{ip}}}
	}
	alerts := []alert.Alert{
		mk("b", "low", 30, "bob", "1.1.1.1"),
		mk("a", "high", 10, "mallory", "2.2.2.2"),
		mk("a", "high", 20, "mallory", "2.2.2.2"),
		mk("a", "high", 5, "eve", "2.2.2.2"),
	}
	rows := Rows(alerts, false)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	if rows[0].Who[0] != "eve" || rows[1].Alerts != 2 || !rows[1].Last.Equal(at(20)) || rows[2].RuleID != "b" {
		t.Errorf("rows by time: %+v", rows)
	}
	if rows[1].From[0] != "2.2.2.2 (DE)" {
		t.Errorf("from = %q", rows[1].From)
	}
	rows = Rows([]alert.Alert{mk("b", "low", 1, "x", ""), mk("a", "high", 9, "y", "")}, true)
	if rows[0].RuleID != "a" {
		t.Errorf("by severity: first row %s", rows[0].RuleID)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, alerts, TableOptions{Width: 60}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if len([]rune(l)) > 60 {
			t.Errorf("line over 60: %q", l)
		}
	}
	if !strings.Contains(out.String(), "(×2)") {
		t.Errorf("no count on the repeated row:\n%s", out.String())
	}
}

func TestShortResource(t *testing.T) {
	for in, want := range map[string]string{
		"/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-PAYMENTS-PROD":              "KV-PAYMENTS-PROD",
		"https://kv-payments-prod.vault.azure.net/secrets/sql-admin-password/71aead193b011a1de205d8196f243cc9": "kv-payments-prod/sql-admin-password",
		"https://kv-payments-prod.vault.azure.net/":                                                            "kv-payments-prod",
		"Windows Azure Service Management API":                                                                 "Windows Azure Service Management API",
	} {
		if got := ShortResource(in); got != want {
			t.Errorf("ShortResource(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTableLongActor: one actor longer than the room a narrow terminal
// leaves is broken at its own separators, and the rule's title keeps a
// readable column (it was folded four characters a line).
func TestTableLongActor(t *testing.T) {
	long := "joel.miller@mauriziobrancaoutlook.onmicrosoft.com"
	at := time.Date(2026, 8, 19, 18, 1, 3, 0, time.UTC)
	alerts := []alert.Alert{
		{RuleID: "a", Title: "Inbound flow from the internet allowed to a management port", Severity: "high", FirstSeen: at, LastSeen: at,
			Evidence: []alert.Evidence{{Actor: long, IP: "120.26.45.136", Country: "CN"}}, Entities: alert.Entities{IPs: []string{"120.26.45.136"}},
			Techniques: []string{"T1133", "T1021.001"}},
		{RuleID: "b", Title: "User at risk", Severity: "high", FirstSeen: at.Add(24 * time.Hour), LastSeen: at.Add(24 * time.Hour),
			Evidence: []alert.Evidence{{Actor: "bob@contoso.com"}}},
	}
	for _, width := range []int{80, 100, 120} {
		var out bytes.Buffer
		if err := WriteTable(&out, alerts, TableOptions{Width: width}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(out.String(), "\n")
		head := lines[0]
		rule, who := strings.Index(head, "RULE"), strings.Index(head, "WHO")
		want := 15 // 14 and a space
		if width == 80 {
			want = 11
		}
		if rule < 0 || who < 0 || who-rule < want {
			t.Errorf("width %d: the rule column is %d wide:\n%s", width, who-rule-1, out.String())
		}
		for i, l := range lines {
			if n := len([]rune(l)); n > width {
				t.Errorf("width %d: line %d is %d wide", width, i+1, n)
			}
		}
		if !strings.Contains(out.String(), "joel.miller@") {
			t.Errorf("width %d: the actor is not broken at its '@':\n%s", width, out.String())
		}
	}
	// With room for it, the actor stays whole.
	var out bytes.Buffer
	if err := WriteTable(&out, alerts, TableOptions{Width: 160}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), long+" ") {
		t.Errorf("width 160: the actor is not whole:\n%s", out.String())
	}
}
