package invoke

import (
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// benchEventHubBody is a 1,000-record Event Hubs invocation as the host
// posts it: 100 events of 10 records of benchcorpus's mix (its $logs lines
// left out: they never travel on an Event Hub), dataType dt.
func benchEventHubBody(tb testing.TB, dt string) []byte {
	tb.Helper()
	var recs []string
	for _, r := range benchcorpus.Generate(1100) {
		if r.Source != "storageanalytics" {
			recs = append(recs, string(r.Line))
		}
	}
	bodies := make([]string, 100)
	for e := range bodies {
		bodies[e] = `{"records":[` + strings.Join(recs[e*10:e*10+10], ",") + `]}`
	}
	fn := Function{Name: FunctionEventHub, Trigger: TriggerEventHub, Binding: "events", DataType: dt}
	body, err := EventHubRequest(fn, PartitionContext{FullyQualifiedNamespace: "bench.servicebus.windows.net",
		EventHubName: "azure-logs", ConsumerGroup: "azdetect", PartitionID: "0"}, 1000, 5000, bodies, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// BenchmarkDecodeEventHub is the handler's decoding of one 1,000-record
// Event Hubs invocation: the request object, the double-encoded bodies and
// the metadata arrays.
func BenchmarkDecodeEventHub(b *testing.B) {
	for _, dt := range []string{DataTypeString, DataTypeBinary} {
		b.Run(dt, func(b *testing.B) {
			body := benchEventHubBody(b, dt)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := ParseRequest(body)
				if err != nil {
					b.Fatal(err)
				}
				batch, err := DecodeEventHub(req, "events", dt)
				if err != nil {
					b.Fatal(err)
				}
				if len(batch.Events) != 100 {
					b.Fatalf("%d events", len(batch.Events))
				}
			}
		})
	}
}
