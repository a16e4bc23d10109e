package pipeline

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/state"
)

// allocRun runs the pipeline as BenchmarkPipeline does (fresh state, the
// alerts through the JSON Lines sink) over inputs, four times (the first
// fills the process's caches), and returns the fewest allocations of the
// other three, and the records: the count moves with the collector's
// timing (the pools it empties) and the stateful kinds' goroutines.
func allocRun(t *testing.T, inputs func() []Input) (mallocs uint64, records int) {
	t.Helper()
	reg, rules := defaults(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var ms runtime.MemStats
	for run := range 4 {
		eng, err := detect.NewEngine(rules, detect.WithStore(state.NewMemory()), detect.WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(Options{Registry: reg, Engine: eng, DeadLetters: discard{},
			Sink:       alert.Fanout{{Sink: alert.NewJSONLines(io.Discard), Name: "output"}},
			Suppressor: alert.MemorySuppressor{Deduper: alert.NewDeduper(time.Hour, 1<<20)}, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		in := inputs()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		rep, err := p.Run(context.Background(), in)
		runtime.ReadMemStats(&ms)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Malformed > 0 || rep.Unrecognised > 0 || rep.Rejected > 0 {
			t.Fatalf("corpus not clean: %+v", rep)
		}
		if n := ms.Mallocs - before; run == 1 || run > 1 && n < mallocs {
			mallocs = n
		}
		records = rep.Records
	}
	return mallocs, records
}

// TestInputAllocations bounds what an input costs beyond its records: an
// Event Hub batch is hundreds of bodies of a few records each, and each
// body's producer, picker, event slab and callbacks were two allocations a
// record in serve.
func TestInputAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline over 2,000 records eight times")
	}
	const records, perInput = 2000, 2
	recs := benchcorpus.Generate(records)
	whole := benchcorpus.JSONLines(recs)
	var parts [][]byte
	for i := 0; i < len(recs); i += perInput {
		parts = append(parts, benchcorpus.JSONLines(recs[i:min(i+perInput, len(recs))]))
	}
	one, n1 := allocRun(t, func() []Input { return []Input{{Origin: "bench", Body: bytes.NewReader(whole)}} })
	many, n2 := allocRun(t, func() []Input {
		in := make([]Input, len(parts))
		for i, b := range parts {
			in[i] = Input{Origin: "bench", Body: bytes.NewReader(b)}
		}
		return in
	})
	if n1 != records || n2 != records {
		t.Fatalf("records: %d whole, %d in parts; want %d", n1, n2, records)
	}
	perIn := (float64(many) - float64(one)) / float64(len(parts))
	t.Logf("%d allocations in one input, %d in %d: %.2f an input more", one, many, len(parts), perIn)
	// Left per input: the body's reader and framer (source.OpenBody).
	if perIn > 4 {
		t.Errorf("an input costs %.2f allocations beyond its records; want at most 4", perIn)
	}
}

// TestPipelineAllocations bounds the pipeline's allocations a record on a
// fixed slice of the benchmark corpus (every source, fresh state, alerts
// through the JSON Lines sink), with a margin: 7.9-8.1 a record at
// 612232c, 7.1-7.3 since the alerts' rooms, the layouts' single
// allocation, the coverage chunks and the child types kept; 6.5 since the
// threshold and spike calls reuse their room.
func TestPipelineAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline over 2,000 records four times")
	}
	data := benchcorpus.JSONLines(benchcorpus.Generate(2000))
	mallocs, records := allocRun(t, func() []Input { return []Input{{Origin: "bench", Body: bytes.NewReader(data)}} })
	per := float64(mallocs) / float64(records)
	t.Logf("%d allocations, %d records: %.2f a record", mallocs, records, per)
	if per > 6.3 {
		t.Errorf("%.2f allocations a record; want at most 6.3", per)
	}
}
