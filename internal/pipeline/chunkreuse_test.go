package pipeline

import (
	"fmt"
	"testing"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// TestChunkListsReusedAlike: a run whose chunks fill again the event and
// record lists of chunks evaluated before raises exactly the alerts (ids,
// counts, evidence, order), dead letters, reports and chunks of one that
// makes new lists for each chunk, on one worker and on two, over files of
// several full chunks each; the alerts are marshalled only after the run,
// so an alert, a dead letter or a report pointing into a list filled
// again shows there. Fails too when no list was filled again.
func TestChunkListsReusedAlike(t *testing.T) {
	reg, rules := defaults(t)
	recs := benchcorpus.Generate(3 * chunk * 2)
	var files []file
	for i := range 3 {
		part := recs[i*len(recs)/3 : (i+1)*len(recs)/3]
		files = append(files, file{fmt.Sprintf("PT1H-%d.json", i), benchcorpus.JSONLines(part)})
	}
	defer func(reuse bool) { reuseChunks = reuse }(reuseChunks)
	for _, workers := range []int{1, 2} {
		reuseChunks = false
		before := chunksReused.Load()
		want := runOutcome(t, reg, rules, files, workers)
		if chunksReused.Load() != before {
			t.Fatalf("%d workers: lists filled again with reuse off", workers)
		}
		if len(want.alerts) == 0 || len(want.chunks) < 6 {
			t.Fatalf("%d workers: %d alerts in %d chunks: the comparison would prove little", workers, len(want.alerts), len(want.chunks))
		}
		reuseChunks = true
		got := runOutcome(t, reg, rules, files, workers)
		if chunksReused.Load() == before {
			t.Errorf("%d workers: no chunk's lists were filled again", workers)
		}
		got.diff(t, fmt.Sprintf("%d workers, lists reused", workers), want)
	}
}
