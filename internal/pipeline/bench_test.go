package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/source"
)

const benchRecords = 20000

// BenchmarkPipeline runs the whole pipeline (frame, recognise, normalise,
// evaluate every embedded rule, build alerts) over a generated corpus.
// `make bench` prints it beside BenchmarkJSONValid on the same bytes.
func BenchmarkPipeline(b *testing.B) {
	data := corpus(benchRecords)
	reg, err := source.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		b.Fatal(err)
	}
	eng, err := detect.NewEngine(rules)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Options{Registry: reg, Engine: eng, Sink: &alert.Collector{}, DeadLetters: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var rep Report
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < b.N; i++ {
		rep, err = p.Run(ctx, []Input{{Origin: "bench", Body: bytes.NewReader(data)}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if rep.Malformed > 0 || rep.Unrecognised > 0 || rep.Rejected > 0 {
		b.Fatalf("corpus not clean: %d malformed, %d rejected (%v), %d unrecognised", rep.Malformed, rep.Rejected, rep.DeadLetters, rep.Unrecognised)
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(rep.Records)/perOp, "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*rep.Records), "allocs/record")
	b.ReportMetric(float64(len(rules)), "rules")
}

// BenchmarkJSONValid is the baseline: the standard library merely
// validating the same bytes, line by line.
func BenchmarkJSONValid(b *testing.B) {
	data := corpus(benchRecords)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		n = 0
		rest := data
		for len(rest) > 0 {
			j := bytes.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			if !json.Valid(rest[:j]) {
				b.Fatal("invalid corpus line")
			}
			n++
			rest = rest[min(j+1, len(rest)):]
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(n)/perOp, "records/s")
}

type discard struct{}

func (discard) Keep(context.Context, []alert.Dead) error { return nil }
func (discard) Close() error                             { return nil }
