package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// Fingerprint is the alert's deterministic id: the same rule, group key and
// window always give the same id, so a retried publish is a duplicate that
// Service Bus duplicate detection (and our own dedupe) drops. The window
// start is written in UTC at second precision; a zero window (single-event
// rules) leaves it out.
func Fingerprint(ruleID, groupKey string, windowStart time.Time) string {
	// The bytes hashed are put together in one buffer (on the stack for
	// the usual sizes): the same bytes as ever, without a hash object and
	// a copy of each part.
	var room [256]byte
	b := event.AppendLower(room[:0], ruleID)
	b = append(b, 0)
	b = append(b, groupKey...)
	b = append(b, 0)
	if !windowStart.IsZero() {
		b = windowStart.UTC().AppendFormat(b, time.RFC3339)
	}
	sum := sha256.Sum256(b)
	var out [fingerprintLen]byte
	hex.Encode(out[:], sum[:16])
	return fingerprints.cut(out[:])
}

// fingerprintLen is a fingerprint's length: 128 bits in hex.
const fingerprintLen = 32

// fingerprints are cut from shared chunks of fingerprintChunk bytes, not
// allocated one by one: alerts raised together are kept together (by the
// deduper for its window, by a batch until delivered), so a chunk goes
// when they go. A chunk per processor (the pipeline evaluates on both).
var fingerprints = strChunks{size: 4 << 10}

// strChunks cuts strings from shared chunks; bytes once cut are never
// written again.
type strChunks struct {
	size int
	pool sync.Pool
}

// cut returns string(b), cut from a chunk (b is at most a chunk's size).
func (c *strChunks) cut(b []byte) string {
	p, _ := c.pool.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	chunk := *p
	if cap(chunk)-len(chunk) < len(b) {
		chunk = make([]byte, 0, max(c.size, len(b)))
	}
	n := len(chunk)
	chunk = append(chunk, b...)
	*p = chunk
	c.pool.Put(p)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&chunk[n], len(b))
}

// severityRank orders severities; unknown words rank below informational.
var severityRank = map[string]int{
	SeverityInformational: 1,
	SeverityLow:           2,
	SeverityMedium:        3,
	SeverityHigh:          4,
	SeverityCritical:      5,
}

// Rank returns the order of a severity word (0 for unknown words).
func Rank(severity string) int { return severityRank[strings.ToLower(severity)] }

// AtLeast reports whether severity is at or above min.
func AtLeast(severity, min string) bool { return Rank(severity) >= Rank(min) }

// NormaliseSeverity maps the words other products use (Defender's High,
// Medium, Low, Informational; Critical) onto ours; ok is false for words
// it does not know.
func NormaliseSeverity(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "informational", "information", "info":
		return SeverityInformational, true
	case "low":
		return SeverityLow, true
	case "medium", "moderate":
		return SeverityMedium, true
	case "high":
		return SeverityHigh, true
	case "critical":
		return SeverityCritical, true
	}
	return "", false
}

// Severities lists the severity words, lowest first.
func Severities() []string {
	return []string{SeverityInformational, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
}
