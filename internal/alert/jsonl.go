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
	// longest is the longest line written so far (up to half the
	// buffer): a line is put together in the buffer's free room when
	// that holds it, the buffer flushed first if not.
	longest int
	// heads are the rules' members of the lines written (appendHead).
	heads headMemo
}

// jsonLinesBuffer is the size of a JSONLines' buffer: lines are about a
// kilobyte; in 4 KB, every third one outgrew the free room, and was
// copied to a slice of its own (growslice and its copies, a tenth of the
// line's instructions).
const jsonLinesBuffer = 64 << 10

// NewJSONLines writes to w (not closed by Close).
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, jsonLinesBuffer), name: "stdout"}
}

// OpenJSONLines appends to the file at path, creating it.
func OpenJSONLines(path string) (*JSONLines, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open alert file: %w", err)
	}
	return &JSONLines{w: bufio.NewWriterSize(f, jsonLinesBuffer), f: f, name: path}, nil
}

// Publish implements Sink.
func (j *JSONLines) Publish(_ context.Context, alerts []Alert) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := range alerts {
		// The line is put together in the writer's free room (grown
		// past it for a huge alert) and written from there.
		if j.w.Available() < j.longest && j.w.Buffered() > 0 {
			if err := j.w.Flush(); err != nil {
				return fmt.Errorf("write alert to %s: %w", j.name, err)
			}
		}
		line, err := appendJSONLineWith(j.w.AvailableBuffer(), &alerts[i], &j.heads)
		if err == nil {
			j.longest = max(j.longest, min(len(line), jsonLinesBuffer/2))
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
