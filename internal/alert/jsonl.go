package alert

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

// JSONLines writes one alert per line as JSON to a writer (stdout) or a file
// opened for appending; each Publish is flushed (and synced for files)
// before it returns.
type JSONLines struct {
	mu   sync.Mutex
	w    *bufio.Writer
	f    *os.File // nil for a plain writer
	name string
}

// NewJSONLines writes to w (not closed by Close).
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: bufio.NewWriter(w), name: "stdout"}
}

// OpenJSONLines appends to the file at path, creating it.
func OpenJSONLines(path string) (*JSONLines, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open alert file: %w", err)
	}
	return &JSONLines{w: bufio.NewWriter(f), f: f, name: path}, nil
}

// Publish implements Sink.
func (j *JSONLines) Publish(_ context.Context, alerts []Alert) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := range alerts {
		// The line is put together in the writer's free room (grown
		// past it for a huge alert) and written from there.
		line, err := appendJSONLine(j.w.AvailableBuffer(), &alerts[i])
		if err == nil {
			_, err = j.w.Write(line)
		}
		if err != nil {
			return fmt.Errorf("write alert to %s: %w", j.name, err)
		}
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("write alerts to %s: %w", j.name, err)
	}
	if j.f != nil {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", j.name, err)
		}
	}
	return nil
}

// Close implements Sink.
func (j *JSONLines) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.w.Flush()
	if j.f != nil {
		if cerr := j.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

var _ Sink = (*JSONLines)(nil)
