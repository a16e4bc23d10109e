package detect

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

const goodRule = `title: Conditional Access policy deleted
id: 0d7c3e5a-1b2c-4d5e-8f90-123456789abc
status: stable
description: A CA policy was deleted.
author: azdetect
date: 2026-11-23
tags: [attack.defense-evasion, attack.t1556.009, attack.persistence, attack.t1098, attack.g0016]
logsource: {product: azure, service: auditlogs}
detection:
  selection:
    properties.activityDisplayName: Delete conditional access policy
    event.result: success
  condition: selection
falsepositives: [Planned policy clean-up]
level: medium
severity_field: properties.severity
summary: "{actor} deleted Conditional Access policy {properties.targetResources.displayName} ({{id}})"
tests:
  - name: policy deleted
    match: true
    record:
      time: 2026-11-23T10:00:00Z
      category: AuditLogs
      operationName: Delete conditional access policy
      properties:
        activityDisplayName: Delete conditional access policy
        result: success
        initiatedBy: {user: {userPrincipalName: admin@contoso.com}}
        targetResources: [{displayName: Require MFA, type: Policy}]
  - name: policy added is not this rule
    match: false
    record: '{"category":"AuditLogs","properties":{"activityDisplayName":"Add conditional access policy","result":"success"}}'
`

func TestParseRuleGood(t *testing.T) {
	r := mustRule(t, goodRule)
	if r.ID != "0d7c3e5a-1b2c-4d5e-8f90-123456789abc" || r.Service() != "auditlogs" || r.Level != LevelMedium {
		t.Fatalf("rule = %+v", r)
	}
	if got := strings.Join(r.Techniques(), ","); got != "T1556.009,T1098" {
		t.Errorf("Techniques = %s", got)
	}
	if got := strings.Join(r.Tactics(), ","); got != "defense-evasion,persistence" {
		t.Errorf("Tactics = %s", got)
	}
	if r.Date != "2026-11-23" {
		t.Errorf("Date = %q", r.Date)
	}
	tests := mustTests(t, r)
	if len(tests) != 2 {
		t.Fatalf("Tests = %d", len(tests))
	}
	ev := mustEvent(t, string(tests[0].Record))
	if !r.Match(ev) {
		t.Errorf("the positive test record does not match: %s", tests[0].Record)
	}
	if got, ok := r.Summary(ev); !ok || got != "admin@contoso.com deleted Conditional Access policy Require MFA ({id})" {
		t.Errorf("Summary = %q, %t", got, ok)
	}
	if got := r.Severity(ev); got != LevelMedium {
		t.Errorf("Severity without the field = %s", got)
	}
	ev.Raw = []byte(`{"category":"AuditLogs","properties":{"severity":"High"}}`)
	if got := r.Severity(ev); got != LevelHigh {
		t.Errorf("Severity from the field = %s", got)
	}
	ev.Raw = []byte(`{"category":"AuditLogs","properties":{"severity":"Bogus"}}`)
	if got := r.Severity(ev); got != LevelMedium {
		t.Errorf("Severity from a non-level = %s", got)
	}
	results := RunTests([]*Rule{r}, testParse)
	for _, res := range results {
		if !res.OK() {
			t.Errorf("%s", res)
		}
	}
	if len(results) != 2 {
		t.Errorf("RunTests gave %d results", len(results))
	}
}

func TestRunTestsReportsFailures(t *testing.T) {
	r := mustRule(t, strings.Replace(goodRule, "    match: false", "    match: true", 1))
	results := RunTests([]*Rule{r}, testParse)
	if results[1].OK() || results[1].Want != true || results[1].Got != false || results[1].Case != "policy added is not this rule" {
		t.Errorf("result = %+v", results[1])
	}
	if !strings.Contains(results[1].String(), "test.yml") || !strings.Contains(results[1].String(), r.ID) {
		t.Errorf("String() = %s", results[1])
	}
	bad := mustRule(t, strings.Replace(goodRule, `record: '{"category"`, `record: '{"category":"Nope"`, 1))
	results = RunTests([]*Rule{bad}, testParse)
	if results[1].Err == nil {
		t.Errorf("an unparsable record gives no error: %+v", results[1])
	}
}

func TestLoadErrors(t *testing.T) {
	const id = "0d7c3e5a-1b2c-4d5e-8f90-123456789abc"
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"unknown key", func(s string) string { return s + "severity: high\n" }, `unknown key "severity"`},
		{"unknown logsource key", func(s string) string {
			return strings.Replace(s, "{product: azure, service: auditlogs}", "{product: azure, service: auditlogs, sevice: x}", 1)
		}, `unknown key "logsource.sevice"`},
		{"unknown test key", func(s string) string {
			return strings.Replace(s, "    match: false", "    match: false\n    matches: true", 1)
		}, `unknown key "tests.matches"`},
		{"unknown modifier", func(s string) string {
			return strings.Replace(s, "event.result: success", "event.result|contians: success", 1)
		}, `field "event.result|contians": unknown modifier "contians"`},
		{"transform after compare", func(s string) string {
			return strings.Replace(s, "event.result: success", "event.result|contains|base64: success", 1)
		}, `modifier "base64" transforms the value but comes after the comparison "contains"`},
		{"two comparisons", func(s string) string {
			return strings.Replace(s, "event.result: success", "event.result|contains|endswith: success", 1)
		}, `already compared`},
		{"bad regex", func(s string) string {
			return strings.Replace(s, "event.result: success", "event.result|re: '(unclosed'", 1)
		}, `field "event.result|re": value 1: regular expression "(unclosed"`},
		{"bad cidr", func(s string) string {
			return strings.Replace(s, "event.result: success", "actor.ip|cidr: 10.0.0.0/33", 1)
		}, `cidr "10.0.0.0/33"`},
		{"unknown selection", func(s string) string {
			return strings.Replace(s, "condition: selection", "condition: selection and not filter", 1)
		}, `unknown selection "filter"`},
		{"pattern matches nothing", func(s string) string {
			return strings.Replace(s, "condition: selection", "condition: 1 of filter_*", 1)
		}, `"filter_*" matches no selection`},
		{"bad condition", func(s string) string {
			return strings.Replace(s, "condition: selection", "condition: selection and", 1)
		}, `condition:`},
		{"aggregation", func(s string) string {
			return strings.Replace(s, "condition: selection", "condition: selection | count() > 5", 1)
		}, `aggregation`},
		{"no condition", func(s string) string { return strings.Replace(s, "  condition: selection\n", "", 1) }, `condition is required`},
		{"bad level", func(s string) string { return strings.Replace(s, "level: medium", "level: severe", 1) }, `level "severe"`},
		{"bad id", func(s string) string { return strings.Replace(s, "id: "+id, "id: my-rule", 1) }, `id "my-rule" is not a UUID`},
		{"no service", func(s string) string {
			return strings.Replace(s, "{product: azure, service: auditlogs}", "{product: azure}", 1)
		}, `logsource.service is required`},
		{"bad summary", func(s string) string {
			return strings.Replace(s, `summary: "{actor} deleted`, `summary: "{actor deleted`, 1)
		}, `summary`},
		{"exists value", func(s string) string {
			return strings.Replace(s, "event.result: success", "event.result|exists: maybe", 1)
		}, `exists takes true or false`},
		{"gt value", func(s string) string {
			return strings.Replace(s, "event.result: success", "event.result|gt: many", 1)
		}, `needs a number`},
		{"two documents", func(s string) string { return s + "---\ntitle: second\n" }, `more than one YAML document`},
		{"test without record", func(s string) string {
			return strings.Replace(s, "    record: '{\"category\"", "    name2: '{\"category\"", 1)
		}, `unknown key "tests.name2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRule("rules/auditlogs/ca.yml", []byte(tc.edit(goodRule)))
			if err == nil {
				t.Fatal("loaded, want an error")
			}
			msg := err.Error()
			wantID := id
			if tc.name == "bad id" {
				wantID = "my-rule"
			}
			if !strings.HasPrefix(msg, "rules/auditlogs/ca.yml: rule "+wantID+": ") {
				t.Errorf("error does not name file and rule id: %s", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
}

func TestLoadFS(t *testing.T) {
	other := strings.Replace(goodRule, "title: Conditional Access policy deleted", "title: Copy", 1)
	fsys := fstest.MapFS{
		"rules/auditlogs/a.yml":     {Data: []byte(goodRule)},
		"rules/auditlogs/b.yaml":    {Data: []byte(other)}, // same id
		"rules/auditlogs/c.yml":     {Data: []byte(goodRule + "bogus: 1\n")},
		"rules/auditlogs/README.md": {Data: []byte("not a rule")},
	}
	rules, err := LoadFS(fsys, "rules")
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	for _, want := range []string{
		"rule 0d7c3e5a-1b2c-4d5e-8f90-123456789abc: duplicate id in rules/auditlogs/a.yml, rules/auditlogs/b.yaml",
		`rules/auditlogs/c.yml: rule 0d7c3e5a-1b2c-4d5e-8f90-123456789abc: unknown key "bogus"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if len(rules) != 2 {
		t.Errorf("loaded %d rules beside the errors, want 2", len(rules))
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("want one joined error per problem: %v", err)
	}

	delete(fsys, "rules/auditlogs/b.yaml")
	delete(fsys, "rules/auditlogs/c.yml")
	rules, err = LoadFS(fsys, "rules")
	if err != nil || len(rules) != 1 || rules[0].File != "rules/auditlogs/a.yml" {
		t.Fatalf("LoadFS = %v, %v", rules, err)
	}
}

func TestLoadDefault(t *testing.T) {
	// The built-in rules load (another engineer writes them); their own
	// test cases need the source registry and run where it is wired.
	rules, err := LoadDefault("")
	if err != nil {
		t.Fatalf("built-in rules: %v", err)
	}
	dir := t.TempDir()
	if err := writeFile(dir+"/extra.yml", goodRule); err != nil {
		t.Fatal(err)
	}
	all, err := LoadDefault(dir)
	if err != nil {
		t.Fatalf("LoadDefault(%s): %v", dir, err)
	}
	if len(all) != len(rules)+1 || all[len(all)-1].File != dir+"/extra.yml" {
		t.Errorf("LoadDefault(dir) = %d rules, last %q", len(all), all[len(all)-1].File)
	}
}
