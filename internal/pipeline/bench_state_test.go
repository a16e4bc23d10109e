package pipeline

import (
	"bytes"
	"context"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// BenchmarkPipelineState is BenchmarkPipeline with the state store in view:
// the stateful rules keep their windows, baselines and sequences in a
// state.Memory, which counts the round trips Table Storage would make for
// the same calls. It reports them per 1,000 records next to records per
// second (later iterations replay the corpus: the idempotent path).
func BenchmarkPipelineState(b *testing.B) {
	data := corpus(benchRecords)
	reg, err := source.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		b.Fatal(err)
	}
	store := state.NewMemory()
	eng, err := detect.NewEngine(rules, detect.WithStore(store))
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Options{Registry: reg, Engine: eng, Sink: &alert.Collector{}, DeadLetters: discard{},
		Suppressor: alert.NewStoreSuppressor(store, 0)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for b.Loop() {
		rep, err := p.Run(ctx, []Input{{Origin: "bench", Body: bytes.NewReader(data)}})
		if err != nil {
			b.Fatal(err)
		}
		records += rep.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(store.Ops())*1000/float64(records), "stateops/1000rec")
}
