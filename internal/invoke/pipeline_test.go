package invoke

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// The real pipeline is what serve hands the server.
var _ Processor = (*pipeline.Pipeline)(nil)

type memDeadLetters struct {
	mu   sync.Mutex
	dead []alert.Dead
}

func (m *memDeadLetters) Keep(_ context.Context, d []alert.Dead) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = append(m.dead, d...)
	return nil
}

func (m *memDeadLetters) Close() error { return nil }

// The contract's Event Hubs example through the real pipeline: one
// Activity Log record, answered 200 with a summary naming it.
func TestContractThroughPipeline(t *testing.T) {
	reg, err := source.NewRegistry()
	if err != nil {
		t.Skipf("source registry does not build yet: %v", err)
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Skipf("built-in rules do not load yet: %v", err)
	}
	eng, err := detect.NewEngine(rules)
	if err != nil {
		t.Skipf("rule engine does not build yet: %v", err)
	}
	var alerts bytes.Buffer
	dead := &memDeadLetters{}
	p, err := pipeline.New(pipeline.Options{Registry: reg, Engine: eng, Sink: alert.NewJSONLines(&alerts), DeadLetters: dead})
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := startServer(t, ServerOptions{Processor: p})

	resp, body := post(t, base+"/ingest-eventhub", readInvocation(t, "eventhub.json"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ingest-eventhub: 1 records`) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	t.Logf("answer: %s", body)
	t.Logf("alerts: %s", alerts.String())

	resp, body = post(t, base+"/ingest-eventhub", []byte(`{"Data":{"events":"[\"{\\\"records\\\":[{\\\"broken\\\"\"]"},"Metadata":{"SequenceNumberArray":"[5]","PartitionContext":{"PartitionId":"2"}}}`))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "malformed record: origin=eventhub://-/-/2/5") {
		t.Fatalf("malformed batch: status %d body %s", resp.StatusCode, body)
	}
	if len(dead.dead) == 0 || dead.dead[0].Origin != "eventhub://-/-/2/5" {
		t.Errorf("dead letters = %+v", dead.dead)
	}
}

// summing wraps the pipeline and adds up its reports.
type summing struct {
	p   *pipeline.Pipeline
	mu  sync.Mutex
	sum pipeline.Report
}

func (s *summing) Process(ctx context.Context, in []pipeline.Input) (pipeline.Report, error) {
	rep, err := s.p.Process(ctx, in)
	s.mu.Lock()
	defer s.mu.Unlock()
	addReport(&s.sum, rep)
	return rep, err
}

func addReport(sum *pipeline.Report, rep pipeline.Report) {
	if sum.BySource == nil {
		sum.BySource = map[string]int{}
	}
	sum.Add(rep)
}

func newPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	reg, err := source.NewRegistry()
	if err != nil {
		t.Skipf("source registry does not build yet: %v", err)
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Skipf("built-in rules do not load yet: %v", err)
	}
	eng, err := detect.NewEngine(rules)
	if err != nil {
		t.Skipf("rule engine does not build yet: %v", err)
	}
	p, err := pipeline.New(pipeline.Options{Registry: reg, Engine: eng, Sink: alert.NewJSONLines(io.Discard), DeadLetters: &memDeadLetters{}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Replaying the sample folders through the server gives the pipeline the
// same records as reading the files directly (what scan does).
func TestReplayMatchesDirectRun(t *testing.T) {
	for _, dir := range []string{"demo", "framing"} {
		t.Run(dir, func(t *testing.T) {
			root := filepath.Join("..", "..", "testdata", dir)
			files, err := replayFiles([]string{root})
			if err != nil || len(files) == 0 {
				t.Skipf("no samples in %s: %v", root, err)
			}
			var direct pipeline.Report
			for _, f := range files {
				b, err := os.ReadFile(f.path)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := newPipeline(t).Run(context.Background(), []pipeline.Input{{Origin: f.path, Body: bytes.NewReader(b)}})
				if err != nil {
					t.Fatal(err)
				}
				addReport(&direct, rep)
			}
			if direct.Records == 0 {
				t.Fatalf("the pipeline read no records from %s", root)
			}
			proc := &summing{p: newPipeline(t)}
			base, _, _ := startServer(t, ServerOptions{Processor: proc})
			if _, err := Replay(context.Background(), ReplayOptions{URL: base, Paths: []string{root}}); err != nil {
				t.Fatal(err)
			}
			got := proc.sum
			if got.Records != direct.Records || got.Unrecognised != direct.Unrecognised ||
				got.Malformed != direct.Malformed || fmt.Sprint(got.BySource) != fmt.Sprint(direct.BySource) {
				t.Errorf("replayed: %d records %v, %d unrecognised, %d malformed\ndirect:   %d records %v, %d unrecognised, %d malformed",
					got.Records, got.BySource, got.Unrecognised, got.Malformed,
					direct.Records, direct.BySource, direct.Unrecognised, direct.Malformed)
				for _, m := range got.DeadLetters {
					t.Logf("replayed malformed: %s %d %s", m.Origin, m.Index, m.Reason)
				}
				for _, m := range direct.DeadLetters {
					t.Logf("direct malformed: %s %d %s", m.Origin, m.Index, m.Reason)
				}
			}
		})
	}
}

// The server decodes the host's event bodies into a buffer it reuses for
// the next invocation (Request.text), so the real pipeline must keep
// nothing of a body past Process: what the rules' state, an alert's
// evidence or a dead letter keeps of a record must be a copy, or a later
// batch would change it. Batches posted to the server one after another
// (each decoded over the one before) raise the alerts and keep the dead
// letters that the same batches raise run directly, each from bytes of
// its own that nothing overwrites.
func TestPipelineKeepsNothingOfAReusedBody(t *testing.T) {
	const batches, events, perEvent = 4, 50, 10
	recs := benchcorpus.Generate(batches * events * perEvent * 11 / 10)
	fn := Function{Name: FunctionEventHub, Trigger: TriggerEventHub, Binding: "events", DataType: DataTypeString}
	part := PartitionContext{FullyQualifiedNamespace: "ns", EventHubName: "hub", PartitionID: "0"}
	var bodies [][]byte
	var seq int64
	next := 0
	for b := range batches {
		var evs []string
		for range events {
			var lines []string
			for len(lines) < perEvent {
				if r := recs[next]; r.Source != "storageanalytics" {
					lines = append(lines, string(r.Line))
				}
				next++
			}
			evs = append(evs, `{"records":[`+strings.Join(lines, ",")+`]}`)
		}
		evs = append(evs, `{"records":[{"time":"2026-11-20T09:00:00Z","category":"Administrative","broken`+strings.Repeat("x", b)+`"`)
		if b == batches-1 {
			evs = evs[len(evs)-2:] // a small batch last: it overwrites the start of the buffer alone
		}
		body, err := EventHubRequest(fn, part, seq, seq*1000, evs, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		seq += int64(len(evs))
		bodies = append(bodies, body)
	}
	run := func(viaServer bool) (string, []alert.Dead) {
		reg, err := source.NewRegistry()
		if err != nil {
			t.Fatal(err)
		}
		rules, err := detect.LoadDefault("")
		if err != nil {
			t.Fatal(err)
		}
		eng, err := detect.NewEngine(rules, detect.WithStore(state.NewMemory()))
		if err != nil {
			t.Fatal(err)
		}
		var alerts bytes.Buffer
		dead := &memDeadLetters{}
		p, err := pipeline.New(pipeline.Options{Registry: reg, Engine: eng, Sink: alert.NewJSONLines(&alerts), DeadLetters: dead})
		if err != nil {
			t.Fatal(err)
		}
		if viaServer {
			base, _, _ := startServer(t, ServerOptions{Processor: p})
			for i, body := range bodies {
				if resp, answer := post(t, base+"/"+FunctionEventHub, body); resp.StatusCode != 200 {
					t.Fatalf("batch %d: %d %s", i, resp.StatusCode, answer)
				}
			}
		} else {
			for _, body := range bodies {
				req, err := ParseRequest(bytes.Clone(body))
				if err != nil {
					t.Fatal(err)
				}
				batch, err := DecodeEventHub(req, fn.Binding, fn.DataType)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Run(context.Background(), batch.Inputs()); err != nil {
					t.Fatal(err)
				}
			}
		}
		return alerts.String(), dead.dead
	}
	wantAlerts, wantDead := run(false)
	gotAlerts, gotDead := run(true)
	if strings.Count(wantAlerts, "\n") < 100 || len(wantDead) < batches {
		t.Fatalf("the batches raise %d alerts and %d dead letters: too few to tell", strings.Count(wantAlerts, "\n"), len(wantDead))
	}
	if gotAlerts != wantAlerts {
		t.Errorf("alerts through the server (%d lines) differ from the direct run's (%d lines)", strings.Count(gotAlerts, "\n"), strings.Count(wantAlerts, "\n"))
	}
	if len(gotDead) != len(wantDead) {
		t.Fatalf("%d dead letters through the server, %d direct", len(gotDead), len(wantDead))
	}
	for i := range gotDead {
		g, w := gotDead[i], wantDead[i]
		if g.Origin != w.Origin || g.Reason != w.Reason || !bytes.Equal(g.Bytes, w.Bytes) {
			t.Errorf("dead letter %d: %s %q %.80q\nwant %s %q %.80q", i, g.Origin, g.Reason, g.Bytes, w.Origin, w.Reason, w.Bytes)
		}
	}
}
