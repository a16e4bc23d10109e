package alert

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// Dead is a record azdetect could not read, kept so that nothing is lost:
// where it came from, why it was refused, and its bytes.
type Dead struct {
	Origin string `json:"origin"`
	Index  int    `json:"index"`
	Offset int64  `json:"offset"`
	Source string `json:"source,omitempty"`
	Reason string `json:"reason"`
	Bytes  []byte `json:"-"`
}

// DeadLetters keeps malformed records.
type DeadLetters interface {
	Keep(ctx context.Context, dead []Dead) error
	Close() error
}

// DeadLetterFile appends malformed records to a JSON-lines file, created on
// the first record (a clean run leaves no file behind). Each line holds the
// record as text when it is valid UTF-8, else base64.
type DeadLetterFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	n    int
}

// NewDeadLetterFile keeps dead letters in the file at path.
func NewDeadLetterFile(path string) *DeadLetterFile { return &DeadLetterFile{path: path} }

type deadLine struct {
	Dead
	Kept         time.Time `json:"kept"`
	Record       string    `json:"record,omitempty"`
	RecordBase64 string    `json:"record_base64,omitempty"`
}

// Keep implements DeadLetters; the file is synced before it returns.
func (d *DeadLetterFile) Keep(_ context.Context, dead []Dead) error {
	if len(dead) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open dead-letter file: %w", err)
		}
		d.f = f
	}
	w := bufio.NewWriter(d.f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	now := time.Now().UTC()
	for _, r := range dead {
		line := deadLine{Dead: r, Kept: now}
		if utf8.Valid(r.Bytes) {
			line.Record = string(r.Bytes)
		} else {
			line.RecordBase64 = base64.StdEncoding.EncodeToString(r.Bytes)
		}
		if err := enc.Encode(&line); err != nil {
			return fmt.Errorf("write dead letter: %w", err)
		}
		d.n++
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write dead letters to %s: %w", d.path, err)
	}
	return d.f.Sync()
}

// Path is the file's path; Count how many records it kept in this run.
func (d *DeadLetterFile) Path() string { return d.path }

// Count returns how many records were kept by this process.
func (d *DeadLetterFile) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// Close implements DeadLetters.
func (d *DeadLetterFile) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

var _ DeadLetters = (*DeadLetterFile)(nil)
