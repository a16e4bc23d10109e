package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/source"
)

// TestRunExpandsFlowTuples: a flow record of more tuples than one chunk is
// evaluated tuple by tuple, the tuples of one scan are counted across
// chunks, and the record counts once in the report.
func TestRunExpandsFlowTuples(t *testing.T) {
	const n = 3*chunk + 17
	var b strings.Builder
	b.WriteString(`{"records":[{"time":"2026-11-20T10:33:00.2210000Z","systemId":"c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f","macAddress":"000D3A2B4C6E","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"mac":"000D3A2B4C6E","flowTuples":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d,10.20.1.4,10.20.2.5,%d,%d,T,I,D,B,,,,"`, 1795170600+i%300, 40000+i%20000, 1+i)
	}
	b.WriteString(`]}]}]}}]}`)

	var sink alert.Collector
	p := newPipeline(t, &sink, &keep{})
	rep, err := p.Run(context.Background(), []Input{{Origin: "flow.json", Body: strings.NewReader(b.String())}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 1 || rep.BySource["nsgflowlogs"] != 1 || rep.Malformed != 0 {
		t.Errorf("report %+v", rep)
	}
	if got := rep.Coverage.ByCategory()["nsgflowlogs/NetworkSecurityGroupFlowEvent"]; got != 1 {
		t.Errorf("coverage counts %d flow records, want 1", got)
	}
	scans := 0
	for _, a := range rep.Alerts {
		if strings.Contains(a.Title, "Port scan from a private address") {
			scans++
		}
	}
	if scans != 1 {
		var titles []string
		for _, a := range rep.Alerts {
			titles = append(titles, a.Title)
		}
		t.Errorf("%d port-scan alerts, want 1 (alerts: %v)", scans, titles)
	}
}

// TestExpandFlowHandsBatchesOn: the tuples of one record are handed on in
// batches of the producer's size as they are made, not held until the
// record ends (a record of millions of tuples would hold millions of
// events), numbered from 1 across the batches.
func TestExpandFlowHandsBatchesOn(t *testing.T) {
	const n = 20*producedEvents + 7
	var b strings.Builder
	b.WriteString(`{"time":"2026-11-20T10:33:00.2210000Z","systemId":"c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f","macAddress":"000D3A2B4C6E","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"mac":"000D3A2B4C6E","flowTuples":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d,10.20.1.4,10.20.2.5,%d,%d,T,I,D,B,,,,"`, 1795170600+i%300, 40000+i%20000, 1+i%60000)
	}
	b.WriteString(`]}]}]}}`)
	raw := []byte(b.String())

	p := newPipeline(t, &alert.Collector{}, &keep{})
	ev, status, err := p.opts.Registry.Parse(raw)
	if status != source.Parsed {
		t.Fatal(status, err)
	}
	var batches, tuples, most int
	emit := func(b *produced) error {
		batches++
		most = max(most, len(b.items))
		for _, it := range b.items {
			if it.kind == itemTuple {
				tuples++
				if it.sub != tuples {
					t.Fatalf("tuple %d numbered %d", tuples, it.sub)
				}
			}
		}
		return nil
	}
	pr := newProducer(context.Background(), p, emit, producedEvents)
	if err := pr.record(source.Record{Bytes: raw, Length: int64(len(raw))}, ev, status, nil); err != nil {
		t.Fatal(err)
	}
	if err := emit(pr.end(nil)); err != nil {
		t.Fatal(err)
	}
	if tuples != n || batches < n/producedEvents || most > producedEvents+1 {
		t.Errorf("%d tuples in %d batches of at most %d items, want %d in batches of at most %d", tuples, batches, most, n, producedEvents+1)
	}
}
