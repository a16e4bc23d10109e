package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesListAndTest(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"rules", "list", "--format", "json"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("rules list: exit %d: %s", code, errb.String())
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var row ruleRow
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		if row.ID == "" || row.Title == "" || row.Level == "" || row.Service == "" || len(row.Techniques) == 0 || row.Tests < 2 {
			t.Errorf("rule row lacks id, title, level, service, technique or two tests: %+v", row)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no rules listed")
	}

	out.Reset()
	if code := run([]string{"rules", "test"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("rules test: exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), " passed, 0 failed") {
		t.Fatalf("rules test output: %s", out.String())
	}
}

// A rule in the extra folder whose own test is wrong makes `rules test`
// fail and name the rule and the case.
func TestRulesTestReportsFailures(t *testing.T) {
	dir := t.TempDir()
	rule := `title: Broken expectation
id: 9f1c2b7e-0000-4000-8000-00000000beef
status: test
description: a rule whose test case expects the wrong thing
author: test
date: 2026-11-23
level: low
tags: [attack.t1098]
logsource: {product: azure, service: auditlogs}
detection:
  selection:
    properties.activityDisplayName: Add user
  condition: selection
tests:
  - name: wrong on purpose
    match: true
    record: '{"time":"2026-11-20T09:00:00Z","category":"AuditLogs","operationName":"Delete user","resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","properties":{"activityDisplayName":"Delete user","result":"success"}}'
`
	if err := os.WriteFile(filepath.Join(dir, "broken.yml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZDETECT_RULES_DIR", dir)
	var out, errb bytes.Buffer
	code := run([]string{"rules", "test"}, nil, &out, &errb)
	if code == exitOK || !strings.Contains(out.String(), "9f1c2b7e") || !strings.Contains(out.String(), "wrong on purpose") {
		t.Fatalf("exit %d, output:\n%s%s", code, out.String(), errb.String())
	}
}

// TestRulesListShowsNames: the table shows each rule's name beside its
// id, the name AZDETECT_RULE_OVERRIDES takes.
func TestRulesListShowsNames(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"rules", "list", "--format", "table"}, nil, &out, &errb); code != exitOK {
		t.Fatalf("rules list: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "NAME") {
		t.Fatalf("header %q lacks NAME", lines[0])
	}
	found := false
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 && f[1] == "azure_password_spray" {
			found = true
		}
	}
	if !found {
		t.Errorf("no row shows azure_password_spray in the NAME column:\n%s", out.String())
	}
	// The name listed is one the overrides accept.
	t.Setenv("AZDETECT_RULE_OVERRIDES", "azure_password_spray.threshold=9")
	if code := run([]string{"rules", "list"}, nil, &out, &errb); code != exitOK {
		t.Errorf("override by the listed name: exit %d: %s", code, errb.String())
	}
}
