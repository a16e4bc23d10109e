package sinktest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/alert/sinktest"
)

// lockedBuffer is stdout for the stdout sink: Publish writes, the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := bytes.Clone(b.buf.Bytes())
	b.buf.Reset()
	return out
}

func decodeLines(t *testing.T, data []byte) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var a alert.Alert
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("line %.80q: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

func TestStdout(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		var out lockedBuffer
		return sinktest.Target{
			Sink:      alert.NewJSONLines(&out),
			Delivered: func(t *testing.T) []alert.Alert { return decodeLines(t, out.take()) },
		}
	})
}

func TestJSONLinesFile(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Target {
		path := filepath.Join(t.TempDir(), "alerts.jsonl")
		j, err := alert.OpenJSONLines(path)
		if err != nil {
			t.Fatal(err)
		}
		read := 0
		return sinktest.Target{
			Sink: j,
			Delivered: func(t *testing.T) []alert.Alert {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				got := decodeLines(t, data[read:])
				read = len(data)
				return got
			},
		}
	})
}
