package pipeline

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// BenchmarkStateless is BenchmarkPipeline with only the stateless (match)
// rules: framing, validation, decoding, the rules' selection and the alerts
// encoded through the JSON Lines sink, without the stateful kinds' state.
// BENCH_SOURCES (comma-separated source names) narrows the corpus.
func BenchmarkStateless(b *testing.B) {
	recs := benchcorpus.Generate(benchRecords)
	if only := os.Getenv("BENCH_SOURCES"); only != "" {
		var kept []benchcorpus.Record
		for _, r := range recs {
			if strings.Contains(","+only+",", ","+r.Source+",") {
				kept = append(kept, r)
			}
		}
		recs = kept
	}
	data := benchcorpus.JSONLines(recs)
	reg, all := defaults(b)
	var rules []*detect.Rule
	for _, r := range all {
		if _, ok := r.Kind.(detect.MatchKind); ok {
			rules = append(rules, r)
		}
	}
	eng, err := detect.NewEngine(rules)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	p, err := New(Options{Registry: reg, Engine: eng, DeadLetters: discard{}, OmitAlerts: true,
		Sink: alert.Fanout{{Sink: alert.NewJSONLines(io.Discard), Name: "output"}}, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rep Report
	var mallocs uint64
	var ms runtime.MemStats
	for b.Loop() {
		b.StopTimer()
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
		b.StartTimer()
	}
	if rep.Malformed > 0 || rep.Unrecognised > 0 || rep.Rejected > 0 {
		b.Fatalf("corpus not clean: %d malformed, %d rejected, %d unrecognised", rep.Malformed, rep.Rejected, rep.Unrecognised)
	}
	n := float64(b.N) * float64(rep.Records)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(mallocs)/n, "allocs/record")
	b.ReportMetric(float64(rep.AlertCount), "alerts")
	b.ReportMetric(float64(len(rules)), "rules")
}
