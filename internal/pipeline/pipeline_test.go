package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/source"
)

type keep struct{ dead []alert.Dead }

func (k *keep) Keep(_ context.Context, d []alert.Dead) error {
	k.dead = append(k.dead, d...)
	return nil
}
func (k *keep) Close() error { return nil }

type brokenSink struct{}

func (brokenSink) Publish(context.Context, []alert.Alert) error {
	return errors.New("service bus unreachable")
}
func (brokenSink) Close() error { return nil }

func newPipeline(t *testing.T, sink alert.Sink, dead alert.DeadLetters) *Pipeline {
	t.Helper()
	return newPipelineWorkers(t, sink, dead, 1)
}

// eachWorkers runs a test with one worker (each input framed whole) and
// with two (blocks of lines framed at once).
func eachWorkers(t *testing.T, test func(t *testing.T, workers int)) {
	for _, w := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) { test(t, w) })
	}
}

func newPipelineWorkers(t *testing.T, sink alert.Sink, dead alert.DeadLetters, workers int) *Pipeline {
	t.Helper()
	reg, rules := defaults(t)
	eng, err := detect.NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Registry: reg, Engine: eng, Sink: sink, DeadLetters: dead, Deduper: alert.NewDeduper(3600e9, 100), Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const diagDelete = `{"time":"2026-11-20T09:12:44.1234567Z","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-000000000001/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/SEND-TO-SIEM","operationName":"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE","category":"Administrative","resultType":"Success","resultSignature":"Succeeded.OK","callerIpAddress":"185.220.101.47","correlationId":"0b6c2a8e-0000-4000-8000-000000000001","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@contoso.com"}},"level":"Informational","properties":{"statusCode":"OK"}}`

func TestRunKeepsMalformedAndGoesOn(t *testing.T) {
	eachWorkers(t, func(t *testing.T, workers int) {
		var got alert.Collector
		dead := &keep{}
		p := newPipelineWorkers(t, &got, dead, workers)
		body := `{"records":[` + diagDelete + `,{"category":"FunctionAppLogs","time":"2026-11-20T09:00:00Z"},{"category":"Administrative"}]}` + "\n{'bad': json}\n"
		rep, err := p.Run(context.Background(), []Input{{Origin: "eventhub://ns/hub/0/42", Body: strings.NewReader(body)}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Records != 4 || rep.BySource["activitylogs"] != 1 || rep.Unrecognised != 1 || rep.Malformed != 2 {
			t.Fatalf("report: %+v", rep)
		}
		// Unrecognised records are kept too (count it, keep it).
		kinds := []string{alert.DeadUnrecognised, alert.DeadMalformed, alert.DeadMalformed}
		if len(dead.dead) != 3 {
			t.Fatalf("dead letters: %+v", dead.dead)
		}
		for i, d := range dead.dead {
			if d.Origin != "eventhub://ns/hub/0/42" || d.Kind != kinds[i] || len(d.Bytes) == 0 || d.Length != int64(len(d.Bytes)) || d.Truncated {
				t.Errorf("dead letter %d: %+v", i, d)
			}
		}
		if len(rep.DeadLetters) != 2 || rep.DeadLetters[0].Bytes != nil {
			t.Errorf("listed dead letters: %+v", rep.DeadLetters)
		}
		if len(got.Alerts) == 0 || len(rep.Alerts) != len(got.Alerts) {
			t.Fatalf("alerts published %d, reported %d", len(got.Alerts), len(rep.Alerts))
		}
		// Redelivery of the same batch raises nothing new.
		rep2, err := p.Run(context.Background(), []Input{{Origin: "eventhub://ns/hub/0/42", Body: strings.NewReader(body)}})
		if err != nil || len(rep2.Alerts) != 0 {
			t.Fatalf("redelivered batch: %d alerts, err %v", len(rep2.Alerts), err)
		}
	})
}

func TestRunFailsWhenTheSinkFails(t *testing.T) {
	eachWorkers(t, func(t *testing.T, workers int) {
		p := newPipelineWorkers(t, brokenSink{}, &keep{}, workers)
		_, err := p.Run(context.Background(), []Input{{Origin: "f", Body: strings.NewReader(diagDelete)}})
		if err == nil || !strings.Contains(err.Error(), "service bus unreachable") {
			t.Fatalf("a failing sink must fail the run: %v", err)
		}
	})
}

func TestRunStopsOnCancel(t *testing.T) {
	eachWorkers(t, func(t *testing.T, workers int) {
		p := newPipelineWorkers(t, &alert.Collector{}, &keep{}, workers)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Run(ctx, []Input{{Origin: "f", Body: strings.NewReader(diagDelete)}}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled run: %v", err)
		}
	})
}

// failingReader returns its bytes, then an error.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestRunReportsAnInputReadInPart: an input that cannot be read to its end
// (a disk error, a corrupt or capped gzip stream) keeps what was read,
// names the input and the reason in the report and the dead letters, and
// the next input goes on.
func TestRunReportsAnInputReadInPart(t *testing.T) {
	eachWorkers(t, func(t *testing.T, workers int) {
		var got alert.Collector
		dead := &keep{}
		p := newPipelineWorkers(t, &got, dead, workers)
		broken := &failingReader{r: strings.NewReader(diagDelete + "\n"), err: errors.New("disk on fire")}
		rep, err := p.Run(context.Background(), []Input{
			{Origin: "a.json", Body: broken},
			{Origin: "b.json", Body: strings.NewReader(strings.Replace(diagDelete, "0001\",\"identity", "0002\",\"identity", 1))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Records != 2 || rep.BySource["activitylogs"] != 2 || rep.Malformed != 0 {
			t.Fatalf("report: %+v", rep)
		}
		if len(rep.ReadErrors) != 1 || rep.ReadErrors[0].Origin != "a.json" || !strings.Contains(rep.ReadErrors[0].Reason, "disk on fire") {
			t.Fatalf("read errors: %+v", rep.ReadErrors)
		}
		if len(dead.dead) != 1 || dead.dead[0].Kind != alert.DeadUnread || dead.dead[0].Index != -1 {
			t.Fatalf("dead letters: %+v", dead.dead)
		}
		// One alert per rule and entity and day: both records count in it.
		n := 0
		for _, a := range got.Alerts {
			n += a.Count
		}
		if n < 2 {
			t.Fatalf("%d alert(s) counting %d record(s), want the records of both inputs", len(got.Alerts), n)
		}
	})
}

type panickySink struct{}

func (panickySink) Publish(context.Context, []alert.Alert) error { panic("sink bug") }
func (panickySink) Close() error                                 { return nil }

// TestRunFailsOnAPanicWhileDelivering: a panic on the evaluating goroutine
// fails the run (the host retries), as net/http's recovery would have on the
// caller's goroutine, instead of taking the process down.
func TestRunFailsOnAPanicWhileDelivering(t *testing.T) {
	eachWorkers(t, func(t *testing.T, workers int) {
		p := newPipelineWorkers(t, panickySink{}, &keep{}, workers)
		_, err := p.Run(context.Background(), []Input{{Origin: "f", Body: strings.NewReader(diagDelete + "\n" + diagDelete)}})
		if err == nil || !strings.Contains(err.Error(), "sink bug") {
			t.Fatalf("err = %v, want the panic as an error", err)
		}
	})
}

// defaults is the registry of every source and the built-in rules.
func defaults(tb testing.TB) (*source.Registry, []*detect.Rule) {
	tb.Helper()
	reg, err := source.NewRegistry()
	if err != nil {
		tb.Fatal(err)
	}
	rules, err := detect.LoadDefault("")
	if err != nil {
		tb.Fatal(err)
	}
	return reg, rules
}
