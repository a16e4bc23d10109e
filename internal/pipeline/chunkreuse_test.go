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

// TestChunkListsReusedAcrossUnits: with chunks larger than a unit, as
// serve runs (an invocation is one chunk: ChunkEvents 32,768, a
// 1,000-record batch a few thousand events), the lists of one unit's
// chunk are filled again by the next unit's, and the alerts, dead
// letters, reports and chunks are those of a run that makes new lists
// each time. Fails too when no list was filled again (before, lists
// without room for a full chunk were left to the collector).
func TestChunkListsReusedAcrossUnits(t *testing.T) {
	reg, rules := defaults(t)
	const units, perUnit, serveChunk = 6, 1000, 32768
	recs := benchcorpus.Generate(units * perUnit)
	var files []file
	for i := range units {
		files = append(files, file{fmt.Sprintf("batch-%d.json", i), benchcorpus.JSONLines(recs[i*perUnit : (i+1)*perUnit])})
	}
	defer func(reuse bool) { reuseChunks = reuse }(reuseChunks)
	reuseChunks = false
	before := chunksReused.Load()
	want := runOutcomeChunks(t, reg, rules, files, 1, serveChunk)
	if chunksReused.Load() != before {
		t.Fatal("lists filled again with reuse off")
	}
	if len(want.alerts) == 0 || len(want.chunks) != units {
		t.Fatalf("%d alerts in %d chunks, want one chunk a unit: the comparison would prove little", len(want.alerts), len(want.chunks))
	}
	reuseChunks = true
	got := runOutcomeChunks(t, reg, rules, files, 1, serveChunk)
	if n := chunksReused.Load() - before; n < units-2 {
		t.Errorf("lists filled again for %d chunks of %d, want all but the first (or two, read ahead)", n, units)
	}
	got.diff(t, "one chunk a unit, lists reused", want)
}
