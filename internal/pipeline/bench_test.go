package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/state"
)

// benchRecords is the size of the benchmark corpus: a realistic mix of
// every source (benchcorpus), about 2 KB a record.
const benchRecords = 10000

// BenchmarkPipeline runs the whole pipeline as `azdetect scan --format json`
// does (frame, recognise, normalise, evaluate every embedded rule, the
// stateful ones against a state.Memory, suppress as scan does, encode the alerts through
// the JSON Lines sink) over the benchmark corpus. Every iteration starts
// from fresh state: a new store, engine and suppressor, built with the
// timer stopped. `make bench` prints it beside BenchmarkJSONValid on the
// same bytes. Reported: records/s, allocations per record, storage
// operations per 1,000 records (the round trips Table Storage would take
// for the same calls), alerts per iteration.
func BenchmarkPipeline(b *testing.B) {
	data := benchcorpus.JSONLines(benchcorpus.Generate(benchRecords))
	reg, rules := defaults(b)
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rep Report
	var mallocs, ops uint64
	var ms runtime.MemStats
	for b.Loop() {
		b.StopTimer()
		store := state.NewMemory()
		eng, err := detect.NewEngine(rules, detect.WithStore(store), detect.WithClock(func() time.Time { return now }))
		if err != nil {
			b.Fatal(err)
		}
		p, err := New(Options{Registry: reg, Engine: eng, DeadLetters: discard{},
			Sink:       alert.Fanout{{Sink: alert.NewJSONLines(io.Discard), Name: "output"}},
			Suppressor: alert.MemorySuppressor{Deduper: alert.NewDeduper(time.Hour, 1<<20)}, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		b.StartTimer()
		rep, err = p.Run(ctx, []Input{{Origin: "bench", Body: bytes.NewReader(data)}})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		ops += uint64(store.Ops())
		b.StartTimer()
	}
	if rep.Malformed > 0 || rep.Unrecognised > 0 || rep.Rejected > 0 {
		b.Fatalf("corpus not clean: %d malformed, %d rejected (%v), %d unrecognised", rep.Malformed, rep.Rejected, rep.DeadLetters, rep.Unrecognised)
	}
	n := float64(b.N) * float64(rep.Records)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(mallocs)/n, "allocs/record")
	b.ReportMetric(float64(ops)*1000/n, "storeops/1000rec")
	b.ReportMetric(float64(len(rep.Alerts)), "alerts")
	b.ReportMetric(float64(len(rules)), "rules")
}

// BenchmarkJSONValid is the baseline: the standard library merely
// validating the same bytes, line by line (the $logs lines are not JSON:
// json.Valid still reads them).
func BenchmarkJSONValid(b *testing.B) {
	data := benchcorpus.JSONLines(benchcorpus.Generate(benchRecords))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = 0
		rest := data
		for len(rest) > 0 {
			j := bytes.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			_ = json.Valid(rest[:j])
			n++
			rest = rest[min(j+1, len(rest)):]
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

type discard struct{}

func (discard) Keep(context.Context, []alert.Dead) error { return nil }
func (discard) Close() error                             { return nil }
