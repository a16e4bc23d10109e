package alert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// Dead is a record azdetect could not read or evaluate, kept so that
// nothing is lost: where it came from, why it was refused, and its bytes
// (the first MaxDeadBytes of them; Length says how long it was).
type Dead struct {
	Origin    string `json:"origin"`
	Index     int    `json:"index"`  // position of the record in its input; -1 for the input as a whole
	Offset    int64  `json:"offset"` // byte offset of the record in the (decompressed) input
	Length    int64  `json:"length"` // bytes the record spanned in the input
	Truncated bool   `json:"truncated,omitempty"`
	Kind      string `json:"kind,omitempty"` // DeadMalformed, DeadUnrecognised, DeadRejected, DeadUnread
	Source    string `json:"source,omitempty"`
	Reason    string `json:"reason"`
	Bytes     []byte `json:"-"`
}

// Kinds of dead letters.
const (
	DeadMalformed    = "malformed"    // not framed or not parsed
	DeadUnrecognised = "unrecognised" // no source claims it
	DeadRejected     = "rejected"     // parsed, but a rule could not evaluate it (the other rules did)
	DeadUnread       = "unread"       // an input read only in part (Index -1, no bytes)
)

// Bounds of one dead letter: every field of a record may be the
// attacker's, so neither its bytes nor the reason (which may quote them) is
// kept whole. A dead-letter line stays well under 1 MiB.
const (
	MaxDeadBytes  = 64 << 10
	MaxReasonSize = 1 << 10
)

// NewDead is a dead letter for a record: it copies at most MaxDeadBytes of
// raw (raw may be reused once it returns) and at most MaxReasonSize bytes
// of the reason. length is the record's length in its input (0: len(raw)).
func NewDead(kind, origin string, index int, offset, length int64, source, reason string, raw []byte) Dead {
	if length < int64(len(raw)) {
		length = int64(len(raw))
	}
	d := Dead{Kind: kind, Origin: origin, Index: index, Offset: offset, Length: length, Source: source, Reason: reason}
	if len(raw) > MaxDeadBytes {
		raw = raw[:MaxDeadBytes]
	}
	d.Bytes = bytes.Clone(raw)
	d.Truncated = int64(len(d.Bytes)) < length
	if len(d.Reason) > MaxReasonSize {
		cut := MaxReasonSize
		for cut > 0 && !utf8.RuneStart(d.Reason[cut]) {
			cut--
		}
		d.Reason = d.Reason[:cut] + "..."
	}
	return d
}

// DeadLetters keeps dead letters: malformed records (not framed or not
// parsed), unrecognised records (no source claims them) and records a rule
// could not evaluate because of their content.
//
// The pipeline calls Keep as it reads, many times per run, with a few
// hundred dead letters at most each time, each built by NewDead (Bytes at
// most MaxDeadBytes). Keep returns only once they are stored (written and
// synced, accepted by the storage service): an error fails the invocation,
// so the host delivers the batch again. Keep must not retain Bytes after it
// returns. Close releases what the sink holds; Keep is not called after it.
type DeadLetters interface {
	Keep(ctx context.Context, dead []Dead) error
	Close() error
}

// DeadLetterFile appends dead letters to a JSON-lines file, created on the
// first one (a clean run leaves no file behind). Each line holds the record
// as text when it is valid UTF-8 without control characters, else base64
// (JSON would escape each control byte into six), so a line is at most
// about twice MaxDeadBytes.
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
		if len(r.Bytes) > MaxDeadBytes || len(r.Reason) > MaxReasonSize {
			r = NewDead(r.Kind, r.Origin, r.Index, r.Offset, r.Length, r.Source, r.Reason, r.Bytes)
		}
		line := deadLine{Dead: r, Kept: now}
		if plainText(r.Bytes) {
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

// plainText reports whether b reads well as a JSON string: valid UTF-8
// with no control characters but tab, newline and carriage return.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
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
