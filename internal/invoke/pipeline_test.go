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

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/source"
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
