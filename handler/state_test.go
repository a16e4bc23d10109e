package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/azurite"
)

// emulator is Azurite's Table service for the AZDETECT_STATE=table tests
// and its Blob service for the archive tests.
var emulator *azurite.Server

func TestMain(m *testing.M) { azurite.Main(m, azurite.Table|azurite.Blob, &emulator) }

// clearState empties the state tables, so that -count=N starts afresh.
func clearState(t *testing.T, conn string) {
	t.Helper()
	s, err := state.NewTableFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{detect.StateTable, alert.SuppressionTable} {
		if _, err := s.Sweep(context.Background(), table, time.Now().AddDate(100, 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScanTableStateMatchesMemory: the demo scanned with state in Table
// Storage (Azurite) raises the alerts the in-memory scan raises, and a
// second scan of the same files, which finds every count, baseline and
// sent alert in the tables, raises none.
func TestScanTableStateMatchesMemory(t *testing.T) {
	conn := emulator.TableConnectionString(t)
	clearState(t, conn)
	want, stderr, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK {
		t.Fatalf("memory scan: exit %d\n%s", code, stderr)
	}
	t.Setenv("AZDETECT_STATE", "table")
	t.Setenv("AZDETECT_TABLE_CONNECTION_STRING", conn)
	got, stderr, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK {
		t.Fatalf("table scan: exit %d\n%s", code, stderr)
	}
	if g, w := strings.Join(ids(got), " "), strings.Join(ids(want), " "); g != w {
		t.Fatalf("table scan raised %d alerts, memory %d\ntable:  %v\nmemory: %v", len(got), len(want), ids(got), ids(want))
	}
	stateful := 0
	for _, a := range got {
		if a.GroupKey != "" {
			stateful++
		}
	}
	if stateful < 14 {
		t.Errorf("table scan raised %d stateful alerts, want at least 14", stateful)
	}
	again, stderr, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK {
		t.Fatalf("second table scan: exit %d\n%s", code, stderr)
	}
	if len(again) != 0 {
		for _, a := range again {
			t.Errorf("second scan raised %s %q: %s", a.ID, a.Title, a.Summary)
		}
	}
	// "Nothing found" and "already told you" differ: the summary counts
	// what was suppressed as already raised.
	if m := suppressedCount.FindStringSubmatch(lastLine(stderr)); m == nil || m[1] == "0" {
		t.Errorf("second scan's summary does not count the alerts suppressed as already raised: %s", lastLine(stderr))
	}
}

// TestMaintainSweepsExpiredState: the maintenance timer's work deletes
// what is past its expiry from every state table.
func TestMaintainSweepsExpiredState(t *testing.T) {
	store := state.NewMemory()
	ctx := context.Background()
	old := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, table := range []string{detect.StateTable, alert.SuppressionTable} {
		ops := []state.Op{
			{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p", RowKey: "old", Expires: state.StampOf(old)}},
			{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p", RowKey: "live", Expires: state.StampOf(old.AddDate(1, 0, 0))}},
		}
		if err := store.Apply(ctx, table, ops); err != nil {
			t.Fatal(err)
		}
	}
	m := newMaintainer(store, nil)
	m.now = func() time.Time { return old.Add(time.Hour) }
	summary, err := m.Maintain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary, "swept 2 ") {
		t.Errorf("summary %q, want 2 swept", summary)
	}
	for _, table := range []string{detect.StateTable, alert.SuppressionTable} {
		left, err := store.List(ctx, table, "p", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].RowKey != "live" {
			t.Errorf("%s: left %v", table, left)
		}
	}
}

// TestScanNormalDayTableState: a working day with its earlier days, state
// in Table Storage: nothing above low.
func TestScanNormalDayTableState(t *testing.T) {
	conn := emulator.TableConnectionString(t)
	clearState(t, conn)
	t.Setenv("AZDETECT_STATE", "table")
	t.Setenv("AZDETECT_TABLE_CONNECTION_STRING", conn)
	alerts, stderr, code := scan(t, "--format", "json", "--fail-on", "medium", "../testdata/normal-day")
	for _, a := range alerts {
		if alert.AtLeast(a.Severity, alert.SeverityMedium) {
			t.Errorf("normal day raised %s %q: %s", a.Severity, a.Title, a.Summary)
		}
	}
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
}
