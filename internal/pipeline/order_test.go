package pipeline

import (
	"bytes"
	"context"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// TestRunIsExactWithTwoGoroutines: Run reads on one goroutine and evaluates
// on another; the rules must still see the chunks in read order, so the
// stateful rules (event-time windows, baselines, sequences) raise exactly
// the alerts of the same chunks read and evaluated on one goroutine. On
// the demo, the held-out files and a generated mix.
func TestRunIsExactWithTwoGoroutines(t *testing.T) {
	reg, rules := defaults(t)
	newRun := func() (*Pipeline, *alert.Collector) {
		eng, err := detect.NewEngine(rules, detect.WithStore(state.NewMemory()))
		if err != nil {
			t.Fatal(err)
		}
		got := &alert.Collector{}
		p, err := New(Options{Registry: reg, Engine: eng, Sink: got, DeadLetters: discard{}, Deduper: alert.NewDeduper(1<<62, 1<<20)})
		if err != nil {
			t.Fatal(err)
		}
		return p, got
	}
	files := func(dir string) [][]byte {
		paths, _ := filepath.Glob(filepath.Join("../../testdata", dir, "*"))
		var out [][]byte
		for _, p := range paths {
			if strings.HasSuffix(p, ".md") {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		bodies [][]byte
	}{
		{"demo", files("demo")},
		{"heldout", files("heldout")},
		{"generated", [][]byte{benchcorpus.JSONLines(benchcorpus.Generate(3000))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole, all := newRun()
			var inputs []Input
			for i, b := range tc.bodies {
				inputs = append(inputs, Input{Origin: string(rune('a' + i)), Body: bytes.NewReader(b)})
			}
			if _, err := whole.Run(context.Background(), inputs); err != nil {
				t.Fatal(err)
			}
			one := sequential(t, reg, rules, tc.bodies)
			g, w := alertIDs(all.Alerts), alertIDs(one)
			if len(w) == 0 {
				t.Fatal("no alert raised")
			}
			if !slices.Equal(g, w) {
				t.Fatalf("%d alerts from Run, %d from one goroutine\nrun:        %v\nsequential: %v", len(g), len(w), g, w)
			}
		})
	}
}

func alertIDs(alerts []alert.Alert) []string {
	out := make([]string, 0, len(alerts))
	for _, a := range alerts {
		out = append(out, a.RuleID+"/"+a.ID)
	}
	slices.Sort(out)
	return out
}

// sequential is Run without its second goroutine: it frames, parses and
// expands the records into the chunks Run makes, evaluates each in turn and
// dedupes the alerts as Run does.
func sequential(t *testing.T, reg *source.Registry, rules []*detect.Rule, bodies [][]byte) []alert.Alert {
	t.Helper()
	eng, err := detect.NewEngine(rules, detect.WithStore(state.NewMemory()))
	if err != nil {
		t.Fatal(err)
	}
	dedupe := alert.NewDeduper(1<<62, 1<<20)
	var out []alert.Alert
	var batch []*event.Event
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		matches, _, err := eng.EvaluateIsolated(context.Background(), batch)
		if err != nil {
			return err
		}
		var alerts []alert.Alert
		for _, m := range matches {
			alerts = append(alerts, AlertOf(m))
		}
		fresh := dedupe.Fresh(time.Time{}, alerts)
		dedupe.Mark(time.Time{}, fresh)
		out = append(out, fresh...)
		batch, size = nil, 0
		return nil
	}
	add := func(ev *event.Event) error {
		batch = append(batch, ev)
		size += len(ev.Raw)
		if len(batch) >= chunk || size >= chunkBytes {
			return flush()
		}
		return nil
	}
	for _, b := range bodies {
		err := source.Records(bytes.NewReader(b), func(rec source.Record) error {
			if rec.Err != nil {
				return nil
			}
			ev, status, _ := reg.Parse(rec.Bytes)
			if status != source.Parsed {
				return nil
			}
			if err := add(ev); err != nil {
				return err
			}
			if source.IsFlow(ev) {
				return reg.ExpandFlow(ev, add)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	return out
}
