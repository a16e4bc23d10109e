package detect_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
)

// TestSigmaCasesThroughSources runs the hand-written SigmaHQ cases through
// the real source registry, so the field mapping is checked against the
// normalisation the sources actually do (event.result for sign-ins, ...).
func TestSigmaCasesThroughSources(t *testing.T) {
	dir := detect.SigmaDir(t)
	rules, err := detect.LoadFS(os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]*detect.Rule{}
	for _, r := range rules {
		byFile[r.File] = r
	}
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range detect.SigmaCases() {
		t.Run(strings.TrimSuffix(filepath.Base(tc.File), ".yml")+"/"+tc.Name, func(t *testing.T) {
			r := byFile[tc.File]
			raw := tc.Raw
			ev, status, err := reg.Parse([]byte(raw))
			if status != source.Parsed {
				t.Fatalf("parse: %s %v\n%s", status, err, raw)
			}
			if ev.Source != r.Service() {
				t.Fatalf("record parses as %s, rule reads %s", ev.Source, r.Service())
			}
			if got := r.Match(ev); got != tc.Want {
				t.Fatalf("%s (%s) = %t, want %t\n%s", r.Title, r.Condition(), got, tc.Want, raw)
			}
		})
	}
}

// TestBuiltinRules runs the test cases every built-in rule carries, through
// the real source registry.
func TestBuiltinRules(t *testing.T) {
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	parse := func(raw []byte) (*event.Event, error) {
		ev, status, err := reg.Parse(raw)
		if status != source.Parsed {
			return nil, fmt.Errorf("%s: %v", status, err)
		}
		return ev, nil
	}
	results := detect.RunTestsWith(rules, parse, detect.TestOptions{Expand: reg.Expand})
	for _, r := range results {
		if !r.OK() {
			t.Error(r)
		}
	}
	t.Logf("%d rules, %d test cases", len(rules), len(results))
}
