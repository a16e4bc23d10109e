package detect_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
)

// corpus parses every record of testdata and the reference samples, the
// flow tuples they expand to, and the built-in rules' own test records,
// through the real source registry. It is called twice: a condition pass
// leaves its events without their layouts, so each pass gets its own.
func corpus(t testing.TB, reg *source.Registry, rules []*detect.Rule) []*event.Event {
	t.Helper()
	var out []*event.Event
	add := func(ev *event.Event) {
		out = append(out, ev)
		tuples, err := reg.Expand(ev)
		if err != nil {
			t.Fatalf("expand: %v", err)
		}
		out = append(out, tuples...)
	}
	var dirs []string
	for _, d := range []string{filepath.Join("..", "..", "testdata"), filepath.Join("..", "..", "..", "shared", "reference", "samples")} {
		if _, err := os.Stat(d); err != nil {
			t.Logf("%s is missing (%v): not in the corpus", d, err)
			continue
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			name := de.Name()
			if strings.HasSuffix(name, ".golden.json") || !(strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".log")) {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return reg.Records(f, func(_ source.Record, ev *event.Event, status source.Status, _ error) error {
				if status == source.Parsed && ev != nil {
					add(ev)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rules {
		tests, err := r.Tests()
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			for _, raw := range append([][]byte{tc.Record}, tc.Records...) {
				if len(raw) == 0 {
					continue
				}
				if ev, status, _ := reg.Parse(raw); status == source.Parsed {
					add(ev)
				}
			}
		}
	}
	return out
}

// TestRuleIndexExact: for every built-in rule and every SigmaHQ Azure rule,
// over every record of the corpus, the condition pass through the rule
// index picks exactly the (rule, event) pairs, in the same order, that
// evaluating every rule of the event's source does.
func TestRuleIndexExact(t *testing.T) {
	builtin, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string][]*detect.Rule{"built-in": builtin}
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "reference", "sigma-azure")); err == nil {
		sigma, err := detect.LoadFS(os.DirFS(detect.SigmaDir(t)), ".")
		if err != nil {
			t.Fatal(err)
		}
		sets["sigma"] = sigma
	} else {
		t.Logf("no SigmaHQ reference rules (%v): built-in rules only", err)
	}
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for name, rules := range sets {
		t.Run(name, func(t *testing.T) {
			e, err := detect.NewEngine(rules)
			if err != nil {
				t.Fatal(err)
			}
			indexed, fields := detect.IndexedRules(e)
			if indexed == 0 {
				t.Fatalf("no rule of %d indexed", len(rules))
			}
			all, err := detect.SelectPairs(e, corpus(t, reg, builtin), true)
			if err != nil {
				t.Fatal(err)
			}
			evs := corpus(t, reg, builtin)
			got, err := detect.SelectPairs(e, evs, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) == 0 {
				t.Fatal("no rule selected any event: the comparison shows nothing")
			}
			if !slices.Equal(got, all) {
				for k := 0; k < min(len(got), len(all)); k++ {
					if got[k] != all[k] {
						t.Fatalf("pick %d: indexed %v (%s), every rule %v (%s)", k, got[k], e.Rules()[got[k][0]].ID, all[k], e.Rules()[all[k][0]].ID)
					}
				}
				t.Fatalf("indexed picks %d pairs, every rule %d", len(got), len(all))
			}
			t.Logf("%d rules (%d indexed over %d fields), %d events, %d picks: identical", len(rules), indexed, fields, len(evs), len(got))
		})
	}
}

// BenchmarkRuleIndex is the condition pass of the built-in rules over the
// corpus, through the index and evaluating every rule (count it with
// callgrind: -test.benchtime=1x, GOGC=off).
func BenchmarkRuleIndex(b *testing.B) {
	rules, err := detect.LoadDefault("")
	if err != nil {
		b.Fatal(err)
	}
	e, err := detect.NewEngine(rules)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := source.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		all  bool
	}{{"indexed", false}, {"every-rule", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				evs := corpus(b, reg, rules)
				b.StartTimer()
				if _, err := detect.SelectPairs(e, evs, mode.all); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
