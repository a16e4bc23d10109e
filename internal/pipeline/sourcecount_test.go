package pipeline

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// The source counts folded into the report are a map's, in runs or
// interleaved, for a few names or more than run.sources holds, and across
// folds (a unit's report already holding counts).
func TestCountSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, names := range []int{1, 3, maxSourceCounts, maxSourceCounts + 1, 3 * maxSourceCounts} {
		shared := make([]string, names)
		for i := range shared {
			shared[i] = fmt.Sprint("src", i)
		}
		for _, runs := range []bool{false, true} {
			r := &run{rep: Report{BySource: map[string]int{"pre": 2}}}
			want := map[string]int{"pre": 2}
			for fold := range 3 {
				name := ""
				for range 500 {
					if !runs || rng.IntN(8) == 0 {
						// A name's bytes shared, or fresh ones of the
						// same name now and then.
						name = shared[rng.IntN(names)]
						if rng.IntN(16) == 0 {
							name = fmt.Sprint("src", rng.IntN(names))
						}
					}
					r.countSource(name)
					want[name]++
				}
				r.foldSources()
				if !maps.Equal(r.rep.BySource, want) {
					t.Fatalf("%d names, runs %v, fold %d: %v, want %v", names, runs, fold, r.rep.BySource, want)
				}
			}
		}
	}
}
