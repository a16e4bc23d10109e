package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/silence"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// TestRunAlertsOnSilentSource: a source that sent records and then sends
// none for longer than the silence raises one alert, from a later batch of
// other sources.
func TestRunAlertsOnSilentSource(t *testing.T) {
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(nil)
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewMemory()
	tr, err := silence.New(store, 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var sink alert.Collector
	p, err := New(Options{Registry: reg, Engine: eng, Sink: &sink, DeadLetters: &keep{}, Silence: tr,
		Deduper: alert.NewDeduper(24*time.Hour, 100), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	kv := `{"time":"2026-11-20T07:59:00Z","category":"AuditEvent","operationName":"SecretGet","resultType":"Success","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"}`
	run := func(body string) Report {
		t.Helper()
		rep, err := p.Run(context.Background(), []Input{{Origin: "batch", Body: strings.NewReader(body)}})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(kv + "\n" + diagDelete); len(rep.Alerts) != 0 {
		t.Fatalf("first batch raised %d alerts", len(rep.Alerts))
	}
	now = now.Add(7 * time.Hour)
	rep := run(diagDelete)
	var silent []alert.Alert
	for _, a := range rep.Alerts {
		if a.RuleID == silence.RuleID {
			silent = append(silent, a)
		}
	}
	if len(silent) != 1 || !strings.Contains(silent[0].Summary, "keyvault") {
		t.Fatalf("silent-source alerts %+v", silent)
	}
	now = now.Add(time.Hour)
	if rep := run(diagDelete); len(rep.Alerts) != 0 {
		t.Errorf("the same silence alerted again: %+v", rep.Alerts)
	}
}

// When every source stops at once no batch arrives; the maintenance
// timer's CheckSilence still raises the silence, once.
func TestCheckSilenceWithoutBatches(t *testing.T) {
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := silence.New(state.NewMemory(), 6*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var sink alert.Collector
	p, err := New(Options{Registry: reg, Engine: eng, Sink: &sink, DeadLetters: &keep{}, Silence: tr,
		Deduper: alert.NewDeduper(24*time.Hour, 100), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(context.Background(), []Input{{Origin: "batch", Body: strings.NewReader(diagDelete)}}); err != nil {
		t.Fatal(err)
	}
	if n, err := p.CheckSilence(context.Background()); err != nil || n != 0 {
		t.Fatalf("check while flowing: %d, %v", n, err)
	}
	now = now.Add(7 * time.Hour)
	if n, err := p.CheckSilence(context.Background()); err != nil || n != 1 {
		t.Fatalf("check after 7 quiet hours: %d alerts, %v; want 1", n, err)
	}
	if len(sink.Alerts) != 1 || sink.Alerts[0].RuleID != silence.RuleID {
		t.Fatalf("published %+v", sink.Alerts)
	}
	if n, _ := p.CheckSilence(context.Background()); n != 0 {
		t.Fatal("the same silence was raised twice")
	}
}
