package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/state"
)

// deadCount is a dead-letter sink that checks each dead letter's bounds
// and counts them by kind.
type deadCount struct {
	t      *testing.T
	byKind map[string]int
}

func (d *deadCount) Keep(_ context.Context, dead []alert.Dead) error {
	for _, x := range dead {
		if len(x.Bytes) > alert.MaxDeadBytes || len(x.Reason) > alert.MaxReasonSize+3 || x.Length < int64(len(x.Bytes)) {
			d.t.Fatalf("dead letter over its bounds: %d bytes, reason %d bytes, length %d", len(x.Bytes), len(x.Reason), x.Length)
		}
		d.byKind[x.Kind]++
	}
	return nil
}

func (d *deadCount) Close() error { return nil }

// maxSeed bounds a seed: the fuzzer minimises every input that finds new
// coverage, running the whole pipeline once per byte it tries to drop, and
// mutations of rich records often find some; small seeds keep each run and
// each minimisation short (make fuzz also bounds minimisation by count).
const maxSeed = 4 << 10

// seedHead is b's first lines within maxSeed (b itself when it is not
// text, e.g. gzip, and small enough; its first maxSeed bytes otherwise).
func seedHead(b []byte) []byte {
	if len(b) <= maxSeed {
		return b
	}
	if i := bytes.LastIndexByte(b[:maxSeed], '\n'); i > 0 {
		return b[:i+1]
	}
	return b[:maxSeed]
}

// maxFuzzSys bounds the memory the process holds (runtime.MemStats.Sys)
// after any input: records are cut at source.MaxRecordBytes, gzip bodies
// at the inflate ratio, dead letters at alert.MaxDeadBytes.
const maxFuzzSys = 1 << 30

// FuzzPipeline runs the whole pipeline (framing, decompression,
// recognition, parsing, every embedded rule on a fresh memory store,
// alerts, dead letters) over arbitrary bytes: no panic, no error (nothing
// here can fail but the input), every record accounted for once (parsed +
// unrecognised + malformed = read), every dead letter within its bounds
// and every one kept, and the process within maxFuzzSys. Seeds: the demo
// files, a gzip'd record, broken shapes.
func FuzzPipeline(f *testing.F) {
	for _, dir := range []string{"../../testdata/demo", "../../testdata/normal-day"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil && filepath.Ext(p) != ".md" {
				f.Add(seedHead(b))
			}
		}
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write([]byte(diagDelete + "\n{'bad': json}\n"))
	_ = zw.Close()
	f.Add(z.Bytes())
	f.Add([]byte(`{"records":[` + diagDelete + `,{"category":"FunctionAppLogs"},"x",[1]` + "\n"))
	f.Add([]byte("1.0;2026-11-20T09:00:00.0000000Z;PutBlob;Success;201;\n\x00\x01\xff\n"))

	reg, rules := defaults(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		eng, err := detect.NewEngine(rules, detect.WithStore(state.NewMemory()))
		if err != nil {
			t.Fatal(err)
		}
		dead := &deadCount{t: t, byKind: map[string]int{}}
		p, err := New(Options{Registry: reg, Engine: eng, Sink: &alert.Collector{}, DeadLetters: dead})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := p.Run(context.Background(), []Input{{Origin: "fuzz", Body: bytes.NewReader(data)}})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		parsed := 0
		for _, n := range rep.BySource {
			parsed += n
		}
		if parsed+rep.Unrecognised+rep.Malformed != rep.Records {
			t.Fatalf("%d parsed + %d unrecognised + %d malformed != %d records read", parsed, rep.Unrecognised, rep.Malformed, rep.Records)
		}
		if dead.byKind[alert.DeadMalformed] != rep.Malformed || dead.byKind[alert.DeadUnrecognised] != rep.Unrecognised ||
			dead.byKind[alert.DeadRejected] != rep.Rejected || dead.byKind[alert.DeadUnread] != len(rep.ReadErrors) {
			t.Fatalf("dead letters %v for %d malformed, %d unrecognised, %d rejected, %d cut", dead.byKind,
				rep.Malformed, rep.Unrecognised, rep.Rejected, len(rep.ReadErrors))
		}
		if rep.AlertCount != len(rep.Alerts) {
			t.Fatalf("%d alerts counted, %d listed", rep.AlertCount, len(rep.Alerts))
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.Sys > maxFuzzSys {
			t.Fatalf("the process holds %d MB", ms.Sys>>20)
		}
	})
}
