package detect_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// BenchmarkStatefulRules evaluates every embedded rule over the demo and
// normal-day records in batches, on a fresh in-memory store per pass, and
// reports records per second next to state round trips per 1,000 records
// (the Memory store counts the round trips Table Storage would make).
func BenchmarkStatefulRules(b *testing.B) {
	reg, err := source.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	var events []*event.Event
	for _, dir := range []string{"../../testdata/normal-day", "../../testdata/demo"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<24)
			for sc.Scan() {
				if ev, status, _ := reg.Parse(append([]byte(nil), sc.Bytes()...)); status == source.Parsed {
					events = append(events, ev)
				}
			}
			fh.Close()
		}
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		b.Fatal(err)
	}
	const batch = 500
	b.ReportAllocs()
	b.ResetTimer()
	var ops int64
	for b.Loop() {
		store := state.NewMemory()
		eng, err := detect.NewEngine(rules, detect.WithStore(store))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(events); i += batch {
			if _, err := eng.Evaluate(context.Background(), events[i:min(i+batch, len(events))]); err != nil {
				b.Fatal(err)
			}
		}
		ops += store.Ops()
	}
	n := float64(b.N) * float64(len(events))
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ops)*1000/n, "stateops/1000rec")
}

// BenchmarkStatefulSignIns is a busy hour of one tenant's sign-ins, 10,000
// records from 500 users and 200 IPs (5% bad passwords), evaluated in
// batches of 2,048 as the pipeline does: records per second and state
// round trips per 1,000 records for every sign-in rule at once.
func BenchmarkStatefulSignIns(b *testing.B) {
	rules, err := detect.LoadDefault("")
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	const n = 10000
	events := make([]*event.Event, n)
	countries := []string{"US", "US", "US", "CA", "GB"}
	for i := range events {
		u := i % 500
		code := "0"
		if i%20 == 0 {
			code = "50126"
		}
		events[i] = &event.Event{
			Source: "signinlogs", Category: "SignInLogs", Time: t0.Add(time.Duration(i) * 360 * time.Millisecond),
			RecordID: fmt.Sprintf("r%d", i), ResultCode: code,
			Actor: event.Actor{UPN: fmt.Sprintf("user%d@contoso.com", u), IP: fmt.Sprintf("203.0.113.%d", u%200), Type: event.ActorUser,
				UserAgent: "Mozilla/5.0 Chrome/131.0"},
			Geo: event.Geo{Country: countries[u%len(countries)]},
		}
		if code == "0" {
			events[i].Result = event.ResultSuccess
		} else {
			events[i].Result = event.ResultFailure
		}
	}
	const batch = 2048
	b.ReportAllocs()
	b.ResetTimer()
	var ops int64
	for b.Loop() {
		store := state.NewMemory()
		eng, err := detect.NewEngine(rules, detect.WithStore(store))
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += batch {
			if _, err := eng.Evaluate(context.Background(), events[i:min(i+batch, n)]); err != nil {
				b.Fatal(err)
			}
		}
		ops += store.Ops()
	}
	total := float64(b.N) * n
	b.ReportMetric(total/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ops)*1000/total, "stateops/1000rec")
}
