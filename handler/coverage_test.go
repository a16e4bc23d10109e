package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCoverageDemo(t *testing.T) {
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	var stdout, stderr bytes.Buffer
	if code := run([]string{"coverage", "--format", "json", "../testdata/demo"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Records     int `json:"records"`
		Recommended []struct {
			Name    string `json:"name"`
			Present bool   `json:"present"`
			Records int    `json:"records"`
		} `json:"recommended"`
		Subscriptions []struct {
			Subscription string         `json:"subscription"`
			Missing      []string       `json:"missing"`
			ResourceLogs map[string]int `json:"resource_logs"`
		} `json:"subscriptions"`
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	present := map[string]bool{}
	for _, r := range out.Recommended {
		present[r.Name] = r.Present
	}
	for _, name := range []string{"Entra ID interactive sign-ins", "Activity Log: Administrative", "Key Vault AuditEvent",
		"Storage logs (StorageBlobLogs or $logs)", "NSG or VNet flow logs", "Identity Protection (RiskyUsers, UserRiskEvents)"} {
		if !present[name] {
			t.Errorf("%s not present in the demo", name)
		}
	}
	// The demo has no service principal or managed identity sign-ins.
	if !slices.Contains(out.Missing, "Entra ID service principal sign-ins") {
		t.Errorf("missing = %v", out.Missing)
	}
	found := false
	for _, s := range out.Subscriptions {
		if s.Subscription == "3b8e6f21-9a4c-4d7e-b5f2-8c1a0e9d6b47" {
			found = true
			if s.ResourceLogs["keyvault microsoft.keyvault/vaults"] == 0 || s.ResourceLogs["nsgflowlogs microsoft.network/networksecuritygroups"] == 0 {
				t.Errorf("resource logs of the payments subscription: %v", s.ResourceLogs)
			}
		}
	}
	if !found {
		t.Errorf("no per-subscription status for the payments subscription: %+v", out.Subscriptions)
	}
	if !strings.Contains(stderr.String(), "recommended sources missing") {
		t.Errorf("stderr %q lacks the summary", stderr.String())
	}

	stdout.Reset()
	if code := run([]string{"coverage", "--format", "table", "../testdata/demo"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("table: exit %d", code)
	}
	if !strings.Contains(stdout.String(), "MISSING") || !strings.Contains(stdout.String(), "NSG or VNet flow logs") {
		t.Errorf("table output:\n%s", stdout.String())
	}
	if code := run([]string{"coverage"}, nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("no PATH: exit %d, want %d", code, exitUsage)
	}
}
