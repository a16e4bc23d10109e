package benchcorpus

import (
	"bytes"
	"testing"

	"github.com/azdetect/azdetect/internal/source"
)

// TestCorpusParses checks that every generated record is parsed by the
// source it is generated for: a benchmark over records that fail early
// would measure nothing.
func TestCorpusParses(t *testing.T) {
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	recs := Generate(3000)
	seen := map[string]int{}
	for i, r := range recs {
		ev, status, err := reg.Parse(r.Line)
		if status != source.Parsed {
			t.Fatalf("record %d (%s): %v: %v\n%s", i, r.Source, status, err, r.Line)
		}
		if ev.Source != r.Source {
			t.Fatalf("record %d: parsed by %s, generated for %s", i, ev.Source, r.Source)
		}
		if bytes.IndexByte(r.Line, '\n') >= 0 {
			t.Fatalf("record %d: a newline inside", i)
		}
		seen[r.Source]++
	}
	for _, s := range []string{"activitylogs", "signinlogs", "auditlogs", "riskdetection", "nsgflowlogs", "vnetflowlogs", "keyvault", "storagelogs", "storageanalytics"} {
		if seen[s] == 0 {
			t.Errorf("no %s record in the corpus", s)
		}
	}
	t.Logf("records by source: %v; %d bytes", seen, len(JSONLines(recs)))
	if a, b := JSONLines(Generate(500)), JSONLines(Generate(500)); !bytes.Equal(a, b) {
		t.Error("the corpus is not deterministic")
	}
}
