package alert

import (
	"crypto/sha256"
	"encoding"
	"hash"
	"hash/maphash"
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
		b = appendRFC3339(b, windowStart)
	}
	var sum [sha256.Size]byte
	midstates.sum(b, &sum)
	var out [fingerprintLen]byte
	encodeHex(&out, (*[fingerprintLen / 2]byte)(sum[:16]))
	return fingerprints.cut(out[:])
}

// encodeHex writes hex.Encode(out, in): a byte's two digits from one
// table (hex.Encode's loop was 0.3k instructions an alert).
func encodeHex(out *[fingerprintLen]byte, in *[fingerprintLen / 2]byte) {
	for i, c := range in {
		out[2*i], out[2*i+1] = hexPairs[2*int(c)], hexPairs[2*int(c)+1]
	}
}

// hexPairs are the bytes 00 to ff, two lower-case digits each.
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for c := range 256 {
		t[2*c], t[2*c+1] = digits[c>>4], digits[c&15]
	}
	return t
}()

// appendRFC3339 appends t in UTC as t.UTC().AppendFormat(b,
// time.RFC3339) does, without its layout machinery for the years of four
// digits (any other year is left to it).
func appendRFC3339(b []byte, t time.Time) []byte {
	t = t.UTC()
	if s, ok := appendStamp(b, t); ok {
		return append(s, 'Z')
	}
	return t.AppendFormat(b, time.RFC3339)
}

// appendStamp appends t's date and clock in UTC as
// "2006-01-02T15:04:05" (its callers' times are in UTC); false (and b as it
// was) for a year that is not four digits, which is left to the caller.
// The date comes from the Unix day by Hinnant's civil_from_days, not from
// t.Date and t.Clock, which each worked out the absolute day again (322
// instructions a call, 3 or 4 calls an alert; now ~110).
func appendStamp(b []byte, t time.Time) ([]byte, bool) {
	sec := t.Unix()
	if sec < minStamp || sec > maxStamp {
		return b, false
	}
	// Days since 0000-03-01 and the second of the day, unsigned (within
	// [minStamp, maxStamp] neither is negative): divisions by constants
	// without a sign's corrections.
	u := uint64(sec - minStamp)
	days, clock := u/86400, u%86400
	era, doe := days/146097, days%146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	year := era*400 + yoe
	if month > 12 {
		month -= 12
		year++
	}
	if year > 9999 {
		return b, false
	}
	hour, minute, s := clock/3600, clock/60%60, clock%60
	y, yy, m := 2*(year/100), 2*(year%100), 2*month
	day, hour, minute, s = 2*day, 2*hour, 2*minute, 2*s
	return append(b, digits2[y], digits2[y+1], digits2[yy], digits2[yy+1], '-',
		digits2[m], digits2[m+1], '-', digits2[day], digits2[day+1], 'T',
		digits2[hour], digits2[hour+1], ':', digits2[minute], digits2[minute+1], ':',
		digits2[s], digits2[s+1]), true
}

// minStamp and maxStamp are the Unix seconds of 0000-03-01T00:00:00Z (the
// start of civil_from_days' era 0) and 9999-12-31T23:59:59Z: appendStamp
// writes the times between them (those before 0000-03-01 in year 0 are
// left to the layout machinery too).
const (
	minStamp = -62162035200
	maxStamp = 253402300799
)

// digits2 are the numbers 00 to 99, two digits each.
const digits2 = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" + "30313233343536373839" +
	"40414243444546474849" + "50515253545556575859" + "60616263646566676869" + "70717273747576777879" +
	"80818283848586878889" + "90919293949596979899"

// midstates remembers the SHA-256 state after the first block of the last
// few fingerprints' bytes: a rule's alerts about single records begin
// with the same 64 bytes (the rule id, then the entity key's source and
// operation: "riskdetection|user risk detection|"), and that block is
// then hashed once, not once per alert. The sum is SHA-256's all the same.
var midstates midstateCache

// midstateCache is a few first blocks and the state after each, and the
// digests that continue from them. A first block is remembered the second
// time it is met while its key is among those of the blocks met and not
// remembered: the flow alerts' first blocks hold their addresses (the
// group key), each its own, and remembering every one cost 1.5k
// instructions an NSG alert for nothing; a block met once is hashed with
// the rest (sha256.Sum256). Both tables are direct-mapped by the block's
// key: one comparison each, not a search.
type midstateCache struct {
	mu      sync.Mutex
	entries [midstateEntries]midstate
	missed  [missedBlocks]uint64 // keys of blocks met and not remembered
	digests sync.Pool
}

// midstateEntries is how many first blocks are remembered: a few rules
// raise most single-record alerts at once.
const midstateEntries = 16

// missedBlocks is how many first blocks met once are kept (their keys)
// for a second meeting.
const missedBlocks = 32

type midstate struct {
	block [sha256.BlockSize]byte
	key   uint64            // blockKey(block)
	state [midstateLen]byte // the digest's binary form after block
	n     int               // state's length; 0: the entry is empty
}

// midstateLen is room for a SHA-256 digest's binary form (108 bytes).
const midstateLen = 128

// blockSeed keys first blocks (blockKey) within this process.
var blockSeed = maphash.MakeSeed()

// blockKey is a first block's key: equal blocks have equal keys (the
// blocks are compared as well).
func blockKey(first *[sha256.BlockSize]byte) uint64 { return maphash.Bytes(blockSeed, first[:]) }

// digest is a SHA-256 digest that saves and restores its state.
type digest interface {
	hash.Hash
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// hashing is a pooled digest and what it reads and writes: the bytes and
// the sum are copied through it, so that the caller's stay on its stack
// (what an interface's method is given escapes).
type hashing struct {
	d     digest
	in    []byte
	state [midstateLen]byte
	sum   [sha256.Size]byte
}

// sum writes sha256.Sum256(b) to out.
func (c *midstateCache) sum(b []byte, out *[sha256.Size]byte) {
	if len(b) <= sha256.BlockSize {
		*out = sha256.Sum256(b)
		return
	}
	first := (*[sha256.BlockSize]byte)(b[:sha256.BlockSize])
	key := blockKey(first)
	var state [midstateLen]byte
	n, again := c.find(first, key, &state)
	if n == 0 && !again {
		*out = sha256.Sum256(b)
		return
	}
	h, _ := c.digests.Get().(*hashing)
	if h == nil {
		d, ok := sha256.New().(digest)
		if !ok {
			*out = sha256.Sum256(b)
			return
		}
		h = &hashing{d: d}
	}
	defer c.digests.Put(h)
	h.in = append(h.in[:0], b...)
	h.state = state
	if n == 0 || h.d.UnmarshalBinary(h.state[:n]) != nil {
		h.d.Reset()
		h.d.Write(h.in[:sha256.BlockSize])
		c.remember(h.d, (*[sha256.BlockSize]byte)(h.in[:sha256.BlockSize]), key)
	}
	h.d.Write(h.in[sha256.BlockSize:])
	h.d.Sum(h.sum[:0])
	*out = h.sum
	if cap(h.in) > maxPooledInput {
		h.in = nil // a huge key's copy is not kept
	}
}

// maxPooledInput bounds the copy of a fingerprint's bytes a pooled digest
// keeps for the next.
const maxPooledInput = 4 << 10

// find copies the state after first to state and returns its length when
// first is remembered; otherwise 0, and again is whether first's key is
// in its slot of the blocks met and not remembered (it is put there).
func (c *midstateCache) find(first *[sha256.BlockSize]byte, key uint64, state *[midstateLen]byte) (n int, again bool) {
	c.mu.Lock()
	if e := &c.entries[key%midstateEntries]; e.n > 0 && e.key == key && e.block == *first {
		*state, n = e.state, e.n
		c.mu.Unlock()
		return n, false
	}
	m := &c.missed[key%missedBlocks]
	again, *m = *m == key, key
	c.mu.Unlock()
	return 0, again
}

// remember keeps d's state, after first, in first's entry.
func (c *midstateCache) remember(d digest, first *[sha256.BlockSize]byte, key uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &c.entries[key%midstateEntries]
	st, err := d.AppendBinary(e.state[:0])
	if err != nil || len(st) == 0 || len(st) > midstateLen || &st[0] != &e.state[0] {
		e.n = 0
		return
	}
	e.block, e.key, e.n = *first, key, len(st)
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
func Rank(severity string) int {
	// The words as written (all an alert's severities are) without
	// ToLower and the map: AtLeast is asked for every alert.
	switch severity {
	case SeverityInformational:
		return 1
	case SeverityLow:
		return 2
	case SeverityMedium:
		return 3
	case SeverityHigh:
		return 4
	case SeverityCritical:
		return 5
	}
	return severityRank[strings.ToLower(severity)]
}

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
