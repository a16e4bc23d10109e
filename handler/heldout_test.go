package main

import (
	"github.com/azdetect/azdetect/internal/detect"
	"sort"
	"testing"
)

// TestScanHeldOutNetworkStorageKeyVault: flow-log blobs (VNet, as Network
// Watcher writes PT1H.json), Storage Analytics $logs 2.0 lines,
// StorageBlobLogs and Key Vault AuditEvent records written apart from the
// rules' own tests and the demo (another tenant, addresses, ports, claim
// shapes) raise every network, storage and Key Vault detection.
func TestScanHeldOutNetworkStorageKeyVault(t *testing.T) {
	alerts, stderr, code := scan(t, "--format", "json", "../testdata/heldout")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	fired, groups := map[string]int{}, map[string]int{}
	for _, a := range alerts {
		fired[a.RuleID]++
		groups[a.AlertGroup]++
	}
	want := map[string]string{
		"6e0b1f7c-3c2a-4d55-9a8e-1f4b7d2c9e31": "exfiltration volume",
		"2b7d4e91-0c6f-4a3e-b8d2-5f1e9c7a4b60": "management port from the internet",
		"8f3a2c61-7d4e-4b1f-9e05-3c6a1d2b7e48": "horizontal scan (internal)",
		"4c9e1b27-5a3d-4f86-a0b2-7e1d9c3f5a64": "vertical scan (internal)",
		"d2e7a9b3-1f64-4c0e-8b5a-6a3f2e1d9c87": "horizontal scan (internet)",
		"71b5c3e8-9a2d-4e6f-b1c4-0d8e7f6a5b39": "vertical scan (internet)",
		"0a7c3e59-2b18-4d6f-9e41-c5b3a2d1f087": "anonymous/SAS bulk read ($logs)",
		"e5b2d8f4-6c1a-4397-8f0e-2d9a7b3c6e15": "anonymous/SAS bulk read (StorageBlobLogs)",
		"93d1f6a2-4e7b-4c58-b0a9-1f2e3d4c5b6a": "new client address ($logs)",
		"b8e4c7a1-5d2f-4a63-9c80-7e6f5d4c3b2a": "new client address (StorageBlobLogs)",
		"d5c8c8cb-16c8-49d9-bfff-28c83a6e2013": "Key Vault mass retrieval (keys, certificates)",
		"3f8a1d6c-9b2e-4e57-a0c3-6d5b4a3e2f19": "Key Vault deleted or purged",
		"5c2e9a7b-1d4f-4b83-96e0-8a7f6e5d4c3b": "Key Vault access policy changed",
		"8d4b6f2e-7a1c-4e95-b3d0-2c9e8f7a6b51": "Key Vault 403 burst",
	}
	// Rules of one alert group (the same detection over $logs and
	// StorageBlobLogs) raise one alert between them.
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.AlertGroup != "" && groups[r.AlertGroup] > 0 {
			fired[r.ID]++
		}
	}
	var missing []string
	for id, what := range want {
		if fired[id] == 0 {
			missing = append(missing, what+" ("+id+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("held-out logs raised no %s", m)
	}
}
