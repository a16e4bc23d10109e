package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// TestParallelIsExact: however many workers frame, parse and select, and
// however the inputs are cut into blocks, a run raises exactly the alerts
// of one worker framing each input whole (same ids, counts, evidence, in
// the same order), keeps the same dead letters, reports the same counts,
// and hands the stateful kinds the same chunks (the scan's event-time
// sweep runs after each): on the demo, the held-out and normal-day
// folders, every sample and framing case, and a large generated mix,
// plain, gzip'd, cut short, and with records that run over many lines
// (the buffers of blocks taken being read into again).
func TestParallelIsExact(t *testing.T) {
	reg, rules := defaults(t)
	mix := benchcorpus.JSONLines(benchcorpus.Generate(2500))
	// A mix with a pretty-printed record and junk in the middle: the
	// blocks that cut them must be framed again.
	lines := bytes.SplitAfter(mix, []byte("\n"))
	var odd bytes.Buffer
	for i, l := range lines {
		switch i {
		case 1000:
			var v any
			if err := json.Unmarshal(l, &v); err != nil {
				t.Fatal(err)
			}
			pretty, _ := json.MarshalIndent(v, "", "  ")
			odd.Write(pretty)
			odd.WriteString("\n")
			continue
		case 1500:
			odd.WriteString("{\"records\": [\n")
			odd.Write(bytes.TrimSpace(l))
			odd.WriteString(",\n")
			odd.Write(bytes.TrimSpace(lines[i+1]))
			odd.WriteString("\n]}\n")
			continue
		case 2000:
			odd.WriteString(`{"time":"2026-11-20T10:00:00Z","category":"Administrative", "truncated` + "\n")
			odd.WriteString("not json at all\n\n\r\n")
		}
		odd.Write(l)
	}
	gz := gzipped(t, mix)
	// Flow logs as Network Watcher writes them: one envelope.
	var env bytes.Buffer
	env.WriteString(`{"records":[`)
	for _, r := range benchcorpus.Generate(2500) {
		if r.Source == "nsgflowlogs" || r.Source == "vnetflowlogs" {
			if env.Len() > len(`{"records":[`) {
				env.WriteString(",")
			}
			env.Write(r.Line)
		}
	}
	env.WriteString("]}")
	cutShort := gz[:len(gz)*2/3] // a corrupt gzip stream: read in part
	// A first line longer than the read buffer (not framed in blocks) that
	// never closes its string: its dead letter keeps the first
	// MaxDeadBytes and says how long it was, whoever frames it.
	long := `{"time":"2026-11-20T08:00:00Z","category":"SignInLogs","properties":{"userAgent":"` +
		strings.Repeat("A", 3<<20) + "\n" + string(lines[0])

	corpora := []struct {
		name  string
		files []file
	}{
		{"demo", folder(t, "demo")},
		{"heldout and normal-day", append(folder(t, "heldout"), folder(t, "normal-day")...)},
		{"samples and framing", samples(t)},
		{"generated", []file{
			{"mix.jsonl", mix},
			{"PT1H.json.gz", gz},
			{"flow-PT1H.json.gz", gzipped(t, env.Bytes())},
			{"odd.jsonl", odd.Bytes()},
			{"cut.json.gz", cutShort},
			{"long-malformed.json", []byte(long)},
			{"missing.json", nil},
		}},
	}
	defer func(size, limit int) { blockSize, blockLimit = size, limit }(blockSize, blockLimit)
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			blockSize, blockLimit = 1<<20, 4<<20
			want := runOutcome(t, reg, rules, c.files, 1)
			if len(want.alerts) == 0 && c.name != "samples and framing" {
				t.Fatal("no alert raised: the comparison would prove little")
			}
			for _, v := range []struct{ workers, size, limit int }{
				{2, 512 << 10, 4 << 20}, {2, 4096, 8192}, {3, 64, 64},
			} {
				blockSize, blockLimit = v.size, v.limit
				before, reused, batches := reframed.Load(), blocksReused.Load(), batchesReused.Load()
				got := runOutcome(t, reg, rules, c.files, v.workers)
				if c.name == "generated" && v.size <= 4096 && reframed.Load() == before {
					t.Errorf("%d workers, blocks of %d: no block was framed again", v.workers, v.size)
				}
				// The buffers of blocks taken are read into again: the
				// comparison proves none was while a goroutine still read it.
				if c.name == "generated" && v.size >= 4096 && blocksReused.Load() == reused {
					t.Errorf("%d workers, blocks of %d: no block's buffer was used again", v.workers, v.size)
				}
				// So are the batches of the pieces taken, and the events
				// of every block are made from one slab per worker.
				if c.name == "generated" && batchesReused.Load() == batches {
					t.Errorf("%d workers, blocks of %d: no produced batch was filled again", v.workers, v.size)
				}
				got.diff(t, fmt.Sprintf("%d workers, blocks of %d", v.workers, v.size), want)
			}
		})
	}
}

type file struct {
	name string
	body []byte // nil: the file cannot be opened
}

func folder(t *testing.T, dir string) []file {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("../../testdata", dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []file
	for _, p := range paths {
		if strings.HasSuffix(p, ".md") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, file{p, b})
	}
	return out
}

// samples is every source's samples (golden outputs left out) and the
// framing cases.
func samples(t *testing.T) []file {
	var out []file
	for _, dir := range []string{"activitylogs", "auditlogs", "keyvault", "nsgflowlogs", "riskdetection", "signinlogs",
		"storageanalytics", "storagelogs", "vnetflowlogs", "framing"} {
		for _, f := range folder(t, dir) {
			if !strings.HasSuffix(f.name, ".golden.json") {
				out = append(out, f)
			}
		}
	}
	return out
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// outcome is everything a run shows: alerts and dead letters in the
// order delivered, each file's report, and the chunks the kinds saw.
type outcome struct {
	alerts, dead, reports, chunks []string
}

func (o outcome) diff(t *testing.T, name string, want outcome) {
	t.Helper()
	for _, part := range []struct {
		what      string
		got, want []string
	}{
		{"alerts", o.alerts, want.alerts}, {"dead letters", o.dead, want.dead},
		{"reports", o.reports, want.reports}, {"chunks", o.chunks, want.chunks},
	} {
		if len(part.got) != len(part.want) {
			t.Errorf("%s: %d %s, want %d", name, len(part.got), part.what, len(part.want))
			continue
		}
		for i := range part.got {
			if part.got[i] != part.want[i] {
				t.Errorf("%s: %s %d differ:\ngot  %.600s\nwant %.600s", name, part.what, i, part.got[i], part.want[i])
				break
			}
		}
	}
}

// runOutcome scans files as `azdetect scan` does: one engine on memory
// state across them, one RunEach unit per file, the state swept by event
// time after every second chunk.
func runOutcome(t *testing.T, reg *source.Registry, rules []*detect.Rule, files []file, workers int) outcome {
	t.Helper()
	return runOutcomeChunks(t, reg, rules, files, workers, 0)
}

// runOutcomeChunks is runOutcome with Options.ChunkEvents chunkEvents.
func runOutcomeChunks(t *testing.T, reg *source.Registry, rules []*detect.Rule, files []file, workers, chunkEvents int) outcome {
	t.Helper()
	store := state.NewMemory()
	eng, err := detect.NewEngine(rules, detect.WithStore(store), detect.WithClock(func() time.Time { return time.Time{} }), detect.WithEventTimeSweep())
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	sink := &alert.Collector{}
	dead := &deadCollector{}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	chunks := 0
	p, err := New(Options{Registry: reg, Engine: eng, Sink: sink, DeadLetters: dead, Workers: workers,
		Suppressor: alert.MemorySuppressor{Deduper: alert.NewDeduper(time.Hour, 1<<20)}, Now: func() time.Time { return now },
		OmitAlerts: true, ChunkEvents: chunkEvents,
		// The rules of a chunk after an odd one start while it is finished.
		AfterChunkChanges: func(n int) bool { return n%2 == 0 },
		AfterChunk: func(ctx context.Context, n int, events []*event.Event) error {
			var b strings.Builder
			var low time.Time
			for _, ev := range events {
				fmt.Fprintf(&b, "%s %s/%d/%d/%d %s;", ev.Source, ev.Pos.Writer, ev.Pos.Seq, ev.Pos.Index, ev.Pos.Sub, ev.Key())
				if !ev.Time.IsZero() && (low.IsZero() || ev.Time.Before(low)) {
					low = ev.Time
				}
			}
			o.chunks = append(o.chunks, b.String())
			if chunks++; chunks != n {
				return fmt.Errorf("chunk %d numbered %d", chunks, n)
			}
			if n%2 == 0 && !low.IsZero() {
				_, err := store.Sweep(ctx, detect.StateTable, low.Add(-15*time.Minute))
				return err
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]Input, len(files))
	for i, f := range files {
		inputs[i] = Input{Origin: f.name, Open: func() (io.ReadCloser, error) {
			if f.body == nil {
				return nil, os.ErrNotExist
			}
			return io.NopCloser(bytes.NewReader(f.body)), nil
		}}
	}
	err = p.RunEach(context.Background(), inputs, func(i int, rep Report, err error) error {
		var oe *OpenError
		if err != nil && !errors.As(err, &oe) {
			t.Fatalf("%s: %v", files[i].name, err)
		}
		rep.Duration = 0
		b, jerr := json.Marshal(struct {
			Report
			Coverage any
			Err      string
		}{rep, rep.Coverage.Rows(), fmt.Sprint(err)})
		if jerr != nil {
			t.Fatal(jerr)
		}
		o.reports = append(o.reports, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range sink.Alerts {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		o.alerts = append(o.alerts, string(b))
	}
	o.dead = dead.lines
	return o
}

type deadCollector struct{ lines []string }

func (d *deadCollector) Keep(_ context.Context, dead []alert.Dead) error {
	for _, x := range dead {
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		d.lines = append(d.lines, string(b)+" "+string(x.Bytes))
	}
	d.lines = append(d.lines, "--") // where each Keep ends
	return nil
}

func (d *deadCollector) Close() error { return nil }

// onceBroken fails its first Publish only.
type onceBroken struct {
	alert.Collector
	failed bool
}

func (o *onceBroken) Publish(ctx context.Context, alerts []alert.Alert) error {
	if !o.failed {
		o.failed = true
		return errors.New("service bus unreachable")
	}
	return o.Collector.Publish(ctx, alerts)
}

// TestRunEachGoesOnAfterAFailedInput: an input whose alerts could not be
// delivered fails alone, as a Run of its own would; the inputs after it
// (already read ahead) are evaluated; a cancelled context stops RunEach
// mid-input and leaves no goroutine behind.
func TestRunEachGoesOnAfterAFailedInput(t *testing.T) {
	eachWorkers(t, func(t *testing.T, workers int) {
		sink := &onceBroken{}
		p := newPipelineWorkers(t, sink, &keep{}, workers)
		second := strings.Replace(diagDelete, "0001\",\"identity", "0002\",\"identity", 1)
		var errs []error
		var reps []Report
		err := p.RunEach(context.Background(), []Input{
			{Origin: "a.json", Body: strings.NewReader(diagDelete + "\n")},
			{Origin: "missing.json", Open: func() (io.ReadCloser, error) { return nil, os.ErrNotExist }},
			{Origin: "b.json", Body: strings.NewReader(second + "\n")},
		}, func(i int, rep Report, err error) error {
			errs, reps = append(errs, err), append(reps, rep)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var oe *OpenError
		if len(errs) != 3 || errs[0] == nil || !strings.Contains(errs[0].Error(), "unreachable") ||
			!errors.As(errs[1], &oe) || oe.Origin != "missing.json" || errs[2] != nil {
			t.Fatalf("errors: %v", errs)
		}
		if reps[2].Records != 1 || len(sink.Alerts) == 0 {
			t.Fatalf("the input after the failed one: %+v, %d alerts", reps[2], len(sink.Alerts))
		}

		before := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		big := benchcorpus.JSONLines(benchcorpus.Generate(3000))
		n := 0
		p = newPipelineWorkers(t, &alert.Collector{}, &keep{}, workers)
		err = p.RunEach(ctx, []Input{{Origin: "big", Body: &cancelAfter{r: bytes.NewReader(big), n: len(big) / 3, cancel: cancel}},
			{Origin: "next", Body: bytes.NewReader(big)}}, func(int, Report, error) error { n++; return nil })
		if !errors.Is(err, context.Canceled) || n > 1 {
			t.Fatalf("cancelled: %v after %d input(s)", err, n)
		}
		for range 100 {
			if runtime.NumGoroutine() <= before {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if g := runtime.NumGoroutine(); g > before {
			t.Fatalf("%d goroutines after a cancelled RunEach, %d before", g, before)
		}
	})
}

// cancelAfter cancels once n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}
