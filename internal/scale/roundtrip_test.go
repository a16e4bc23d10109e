package scale

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/azurite"
)

var emulator *azurite.Server

func TestMain(m *testing.M) { azurite.Main(m, azurite.Table, &emulator) }

type discard struct{}

func (discard) Keep(context.Context, []alert.Dead) error { return nil }
func (discard) Close() error                             { return nil }

// demoBatches cuts the demo folder into Event Hub-like batches of one
// partition, in name order: JSON-lines files by 100 lines, other files
// whole, each batch the next sequence number.
func demoBatches(t *testing.T) [][]byte {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "demo")
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out [][]byte
	for _, name := range names {
		if strings.HasSuffix(name, ".md") {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(name, ".jsonl") {
			out = append(out, data)
			continue
		}
		var cur bytes.Buffer
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			cur.Write(sc.Bytes())
			cur.WriteByte('\n')
			if n++; n == 100 {
				out = append(out, slices.Clone(cur.Bytes()))
				cur.Reset()
				n = 0
			}
		}
		if cur.Len() > 0 {
			out = append(out, slices.Clone(cur.Bytes()))
		}
	}
	return out
}

// TestOneRoundTripPerPartition runs the demo through the pipeline with
// every built-in rule on Table Storage (Azurite), batch by batch as one
// Event Hub partition delivers it, and counts the Table requests of each
// batch: at most one read per partition read and one transaction per
// partition written (per 100 operations; an alert claim partition two: claim,
// then mark sent), with no conflict; then the whole
// demo is redelivered and costs only the reads.
func TestOneRoundTripPerPartition(t *testing.T) {
	table, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	store := NewCounting(table)
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine(rules, detect.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	sink := &alert.Collector{}
	p, err := pipeline.New(pipeline.Options{Registry: reg, Engine: eng, Sink: sink, DeadLetters: discard{},
		Suppressor: alert.NewStoreSuppressor(store, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Create the tables first: once per process, not per batch.
	for _, tb := range []string{detect.StateTable, alert.SuppressionTable} {
		if _, err := store.Get(ctx, tb, []state.Key{{PartitionKey: "p", RowKey: "r"}}); err != nil {
			t.Fatal(err)
		}
	}
	batches := demoBatches(t)
	var total Tally
	records := 0
	for pass := 0; pass < 2; pass++ {
		for i, body := range batches {
			store.Reset()
			rep, err := p.Run(ctx, []pipeline.Input{{Origin: "demo", Body: bytes.NewReader(body),
				Writer: "eventhub://sim/hub/0", Seq: int64(i)}})
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			tl := store.Reset()
			records += rep.Records
			if pass == 1 && len(rep.Alerts) > 0 {
				t.Errorf("redelivered batch %d sent %d alerts again (first: %s)", i, len(rep.Alerts), rep.Alerts[0].Title)
			}
			// An alert's claim is written twice by design (claimed
			// before it is sent, marked sent after: exactly one instance
			// sends it, and a crash between the two loses nothing), so
			// each claim partition written costs one more transaction.
			claims := 0
			for _, w := range tl.Written {
				if strings.HasPrefix(w, alert.SuppressionTable+"/") {
					claims++
				}
			}
			if allowed := int64(tl.PartitionsRead + tl.Transactions + claims); tl.RoundTrips > allowed || tl.Conflicts > 0 {
				t.Errorf("pass %d batch %d (%d records): %d round trips for %d partitions read and %d transactions, %d conflicts",
					pass, i, rep.Records, tl.RoundTrips, tl.PartitionsRead, tl.Transactions, tl.Conflicts)
			}
			if pass == 1 && tl.Transactions > 0 {
				t.Errorf("redelivered batch %d wrote %d transactions: %v", i, tl.Transactions, tl.Written)
			}
			total.RoundTrips += tl.RoundTrips
			total.PartitionsRead += tl.PartitionsRead
			total.PartitionsWritten += tl.PartitionsWritten
			total.Transactions += tl.Transactions
		}
		if pass == 0 {
			t.Logf("%d batches, %d records, %d alerts: %d Table requests (%.1f per 1,000 records), %d partitions read, %d written",
				len(batches), records, len(sink.Alerts), total.RoundTrips, float64(total.RoundTrips)*1000/float64(records),
				total.PartitionsRead, total.PartitionsWritten)
		}
	}
	if len(sink.Alerts) == 0 {
		t.Error("the demo raised no alert")
	}
}
