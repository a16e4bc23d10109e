package source

import (
	"bytes"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// BenchmarkRecordsCorpus frames and parses the benchmark corpus's mix (and
// each source's records of it) through Registry.Records, the path scan and
// serve take: framing, recognition and the one-pass decoding, without the
// rule engine.
func BenchmarkRecordsCorpus(b *testing.B) {
	recs := benchcorpus.Generate(3000)
	bodies := map[string][]byte{"mix": benchcorpus.JSONLines(recs)}
	for name, group := range benchcorpus.BySource(recs) {
		bodies[name] = benchcorpus.JSONLines(group)
	}
	reg := newTestRegistry(b)
	for _, name := range []string{"mix", "activitylogs", "signinlogs", "auditlogs", "riskdetection", "keyvault", "storagelogs", "storageanalytics", "nsgflowlogs", "vnetflowlogs"} {
		body, ok := bodies[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			records := 0
			for b.Loop() {
				err := reg.Records(bytes.NewReader(body), func(rec Record, ev *event.Event, status Status, err error) error {
					if status != Parsed {
						b.Fatalf("record %d: %v: %v", rec.Index, status, err)
					}
					records++
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		})
	}
}
