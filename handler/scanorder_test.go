package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A container of exports holds each resource's hours under its own
// folder: scan reads them hour by hour across resources, then by path,
// and files whose path names no hour keep their walk order, first.
func TestListFilesByHourInPath(t *testing.T) {
	dir := t.TempDir()
	rel := []string{
		"insights-logs-signinlogs/resourceId=/TENANTS/T/PROVIDERS/MICROSOFT.AADIAM/y=2026/m=12/d=01/h=09/m=00/PT1H.json",
		"insights-logs-signinlogs/resourceId=/TENANTS/T/PROVIDERS/MICROSOFT.AADIAM/y=2026/m=12/d=01/h=10/m=00/PT1H.json",
		"insights-activity-logs/resourceId=/SUBSCRIPTIONS/S/y=2026/m=12/d=01/h=09/m=00/PT1H.json",
		"insights-activity-logs/resourceId=/SUBSCRIPTIONS/S/y=2026/m=12/d=01/h=10/m=00/PT1H.json",
		"insights-activity-logs/resourceId=/SUBSCRIPTIONS/S/y=2026/m=11/d=30/h=23/m=00/PT1H.json",
		"exported/signins.json",
		"exported/activity.json",
	}
	for _, r := range rel {
		p := filepath.Join(dir, filepath.FromSlash(r))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := listFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		r, _ := filepath.Rel(dir, f)
		got = append(got, filepath.ToSlash(r))
	}
	want := []string{
		"exported/activity.json",
		"exported/signins.json",
		rel[4], // 2026-11-30 23:00
		rel[2], // 2026-12-01 09:00, activity before sign-in by path
		rel[0],
		rel[3], // 10:00
		rel[1],
	}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n%q\nwant\n%q", got, want)
	}
	for path, hour := range map[string]string{
		"a/y=2026/m=1/d=2/h=3/PT1H.json":         "2026010203",
		"a/y=2026/m=12/d=01/h=10/m=05/PT1H.json": "202612011005",
		"a/y=2026/m=12/d=01/PT1H.json":           "",
		"a/y=2026/m=x/d=01/h=10/PT1H.json":       "",
		"y=2026/m=12/d=01/h=10":                  "2026120110",
	} {
		if got := pathHour(path); got != hour {
			t.Errorf("pathHour(%q) = %q, want %q", path, got, hour)
		}
	}
}
