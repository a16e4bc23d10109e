package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
)

// TestScanSweepKeepsResults scans the demo (files of different days, out
// of time order), the held-out folder and the normal week twice: once
// without sweeping its state, once sweeping it by event time after every
// chunk. The alerts are the same, and the sweeps deleted entities (the
// normal week spans seven days: its windows expire as it goes).
func TestScanSweepKeepsResults(t *testing.T) {
	defer func(n int) { sweepEveryChunks = n }(sweepEveryChunks)
	lines := func(alerts []alert.Alert) []string {
		var out []string
		for _, a := range alerts { // whole, evidence included
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		slices.Sort(out)
		return out
	}
	for _, dir := range []string{"../testdata/demo", "../testdata/heldout", "../testdata/normal-week"} {
		sweepEveryChunks = 1 << 30
		onSweep = nil
		want, stderr, code := scan(t, "--format", "json", dir)
		if code != exitOK && code != exitAlerts {
			t.Fatalf("%s: exit %d: %s", dir, code, stderr)
		}
		sweepEveryChunks = 1
		swept := 0
		onSweep = func(n int) { swept += n }
		got, _, _ := scan(t, "--format", "json", dir)
		onSweep = nil
		if !slices.Equal(lines(got), lines(want)) {
			t.Errorf("%s: sweeping by event time changed the alerts:\n got %q\nwant %q", dir, lines(got), lines(want))
		}
		t.Logf("%s: %d alerts, %d entities swept", dir, len(want), swept)
		if strings.HasSuffix(dir, "normal-week") && swept == 0 {
			t.Errorf("%s: a week of records swept no entity", dir)
		}
	}
}
