package scale

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/invoke"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/state"
)

// buildAzdetect builds the azdetect binary into dir.
func buildAzdetect(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "azdetect")
	build := exec.Command("go", "build", "-o", bin, "../../handler")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveBatches returns n Event Hubs invocations of one partition, each
// 100 events of 10 records of benchcorpus's mix (every source but the
// $logs lines, which never travel on an Event Hub), in the host's shape.
func serveBatches(t *testing.T, n int) [][]byte {
	t.Helper()
	var recs []string
	for _, r := range benchcorpus.Generate(n * 1000 * 105 / 100) {
		if r.Source != "storageanalytics" {
			recs = append(recs, string(r.Line))
		}
	}
	fn := invoke.Function{Name: invoke.FunctionEventHub, Trigger: invoke.TriggerEventHub, Binding: "events", DataType: invoke.DataTypeString}
	part := invoke.PartitionContext{FullyQualifiedNamespace: "sim.servicebus.windows.net", EventHubName: "azure-logs",
		ConsumerGroup: "azdetect", PartitionID: "0"}
	out := make([][]byte, n)
	for i := range out {
		bodies := make([]string, 100)
		for e := range bodies {
			at := i*1000 + e*10
			bodies[e] = `{"records":[` + strings.Join(recs[at:at+10], ",") + `]}`
		}
		body, err := invoke.EventHubRequest(fn, part, int64(i*100), int64(i*100_000), bodies, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = body
	}
	return out
}

// TestServeTableRoundTrips runs `azdetect serve` with Table state on
// Azurite behind a counting proxy, posts 1,000-record Event Hub batches as
// the host does (the realistic mix: flow records expand to ~2,000 tuple
// events, so a batch is evaluated in more than one chunk), and counts the
// HTTP requests the Table service receives for each batch by the table
// partitions they touch. One instance owns the partition: no write may
// conflict.
//
// It asserts one round trip per partition touched per batch (issue 12,
// item 5): Requests <= Needed (one per partition, or one per
// MaxTransactionOps operations written to it) + one more write per
// alert-claim partition (claimed before the send, marked sent after: by
// design) + two per conflict (a re-read and a re-write). Table answers the
// reads from its views of the partitions, checked by the transactions
// (internal/state/cache.go): before them, one query and one transaction per
// partition, 2.13-2.14 requests per partition touched on this mix.
func TestServeTableRoundTrips(t *testing.T) {
	conn := emulator.TableConnectionString(t)
	dir := t.TempDir()
	bin := buildAzdetect(t, dir)
	functions, err := filepath.Abs("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := emptyTables(ctx, conn); err != nil {
		t.Fatal(err)
	}
	target, err := tableEndpoint(conn)
	if err != nil {
		t.Fatal(err)
	}
	px, err := newProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	defer px.close()
	in := &instance{cfg: Config{Bin: bin, FunctionsDir: functions, WorkDir: dir, TableConnectionString: conn}, proxy: px}
	if err := in.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer in.stop()

	for i, body := range serveBatches(t, 2) {
		before := px.requests.Load()
		px.trace.start()
		if _, err := in.post(ctx, body); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		calls := px.trace.stop()
		tr := TripsOf(calls)
		tables := 0
		for _, c := range calls {
			if c.Kind == CallTable {
				tables++
			}
		}
		// The trace names every request the proxy passed.
		if n := px.requests.Load() - before; n != int64(tr.Requests+tables) {
			t.Errorf("batch %d: the proxy passed %d requests, the trace names %d", i, n, tr.Requests+tables)
		}
		claims := 0
		for p := range tr.PerPartition {
			if strings.HasPrefix(p, alert.SuppressionTable+"/") {
				claims++
			}
		}
		if tr.Partitions == 0 || tr.Transactions == 0 {
			t.Fatalf("batch %d: %d requests: the batch touched no state", i, tr.Requests)
		}
		if tr.Conflicts > 0 {
			t.Errorf("batch %d: %d conflicts with one instance on the partition", i, tr.Conflicts)
		}
		// Always: one read (a query, or the pages of a partition over a
		// thousand entities: a tenth more at most) and one transaction per
		// partition, the alert claims' second write, two per conflict.
		if maxReads := tr.Partitions + tr.Partitions/10 + 2*tr.Conflicts; tr.Reads > maxReads {
			t.Errorf("batch %d: %d reads on %d partitions, want at most %d (one query per partition)", i, tr.Reads, tr.Partitions, maxReads)
		}
		if maxTx := tr.Partitions + 2*claims + 2*tr.Conflicts; tr.Transactions > maxTx {
			t.Errorf("batch %d: %d transactions on %d partitions (%d alert-claim), want at most %d (one per partition)", i, tr.Transactions, tr.Partitions, claims, maxTx)
		}
		// A partition written in more than one transaction may outgrow
		// the view the store keeps of it (a page): its transactions are
		// then not checked by a view, and the threshold kind looks again
		// after its write at the groups that fell short (another instance
		// may have added to them meanwhile): a query of the partition.
		written := map[string]int{}
		for _, c := range calls {
			if c.Kind == CallTransaction && len(c.Partitions) == 1 {
				written[c.Table+"/"+c.Partitions[0]] += c.Ops
			}
		}
		secondLooks := 0
		for _, c := range calls {
			if (c.Kind == CallQuery || c.Kind == CallPointRead) && len(c.Partitions) == 1 &&
				written[c.Table+"/"+c.Partitions[0]] > state.MaxTransactionOps-1 {
				secondLooks++
			}
		}
		allowed := tr.Needed + claims + 2*tr.Conflicts + secondLooks
		type hot struct {
			p string
			n int
		}
		var hots []hot
		for p, n := range tr.PerPartition {
			if n > 1 {
				hots = append(hots, hot{p, n})
			}
		}
		slices.SortFunc(hots, func(a, b hot) int { return b.n - a.n })
		var top []string
		for _, h := range hots[:min(len(hots), 5)] {
			top = append(top, fmt.Sprintf("%s=%d", h.p, h.n))
		}
		line := fmt.Sprintf("batch %d: %d Table requests (%d reads, %d transactions, %d single writes, %d conflicts) "+
			"on %d partitions (%d alert-claim partitions, %d transactions needed, %d second looks at partitions written in more than one transaction): %.2f per partition, %d allowed; %d partitions touched more than once, most: %s",
			i, tr.Requests, tr.Reads, tr.Transactions, tr.Writes, tr.Conflicts, tr.Partitions, claims, tr.Needed, secondLooks,
			float64(tr.Requests)/float64(tr.Partitions), allowed, len(hots), strings.Join(top, " "))
		if tr.Requests > allowed {
			t.Error(line + ": over one round trip per partition")
		} else {
			t.Log(line)
		}
	}
}
