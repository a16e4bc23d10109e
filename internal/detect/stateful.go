package detect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
	"github.com/rs/zerolog"
)

// StateTable is the table the stateful kinds keep their entities in. One
// table, partitions prefixed by kind (thr, spk, nt, seq): a batch's calls
// are per rule anyway, so one table costs no extra round trip, is created
// once and swept once.
const StateTable = "azdetectstate"

// Bounds that keep an entity small (Table Storage: 64 KiB per property).
const (
	// maxEventKeys is how many counted event keys a window entity keeps to
	// make a replayed batch count nothing twice. Past it, events are counted
	// without the check: the window has long passed its threshold and its
	// alert id is fixed, so a replay can inflate the count but not raise a
	// second alert.
	maxEventKeys = 400
	// maxConflictRetries is how often a kind re-reads and retries the keys
	// another instance wrote first before failing the batch.
	maxConflictRetries = 12
)

// statefulKind is a kind that needs a store: the engine binds each rule's
// kind to its store, clock and overridden settings.
type statefulKind interface {
	Kind
	bind(r *Rule, c *Correlation, store state.Store, now func() time.Time) Kind
	correlation() *Correlation
}

// unboundKind is what a loaded stateful rule carries until an Engine binds
// it to a store.
type unboundKind struct {
	c *Correlation
}

func (u unboundKind) Name() string { return u.c.Type }

func (u unboundKind) Matches(context.Context, *Rule, []*event.Event) ([]Match, error) {
	return nil, errors.New("stateful rule evaluated without a state store: build it with detect.NewEngine")
}

func (u unboundKind) correlation() *Correlation { return u.c }

func (u unboundKind) bind(r *Rule, c *Correlation, store state.Store, now func() time.Time) Kind {
	b := base{rule: r, c: c, store: store, now: now}
	switch c.Type {
	case CorrEventCount, CorrValueCount, CorrValueSum:
		return &ThresholdKind{base: b, valueCount: c.Type == CorrValueCount, valueSum: c.Type == CorrValueSum}
	case CorrNewTerm:
		b.buckets = bucketPartitions("nt", r.ID)
		return &NewTermKind{base: b}
	case CorrSpike:
		return &SpikeKind{base: b}
	case CorrSequence:
		b.buckets = bucketPartitions("seq", r.ID)
		return &SequenceKind{base: b, lastImplied: orOfSteps(r, c.stepIndex)}
	case CorrTravel:
		b.buckets = bucketPartitions("trv", r.ID)
		return &TravelKind{base: b}
	}
	return u
}

// bucketPartitions are a rule's partition keys of every bucket:
// JoinKey(kind, rule, bucket), built once when the rule is bound.
func bucketPartitions(kind, rule string) *[stateBuckets]string {
	var out [stateBuckets]string
	for i, b := range bucketNames {
		out[i] = state.JoinKey(kind, rule, b)
	}
	return &out
}

var _ statefulKind = unboundKind{}

// base is what every stateful kind holds.
type base struct {
	rule  *Rule
	c     *Correlation
	store state.Store
	now   func() time.Time
	// buckets are the partition keys of the kinds that spread their
	// entities over stateBuckets partitions (bucketPartitions).
	buckets *[stateBuckets]string
}

// bucketPartition is the partition of a group key's bucket (bucketOf).
func (b *base) bucketPartition(group string) string {
	return b.buckets[bucketIndex(group)]
}

// bucketIndex is the index of a group key's bucket (bucketOf).
func bucketIndex(group string) uint8 { return uint8(event.FNV32a(group) % stateBuckets) }

// slab hands out a batch's per-group values from a few chunks that grow
// as groups come: a batch of thousands of events in a few groups
// allocates little (a chunk the batch's size would be mostly zeroes for
// the collector to clear), one of thousands of groups a few chunks, not
// one allocation per group. What it hands out stays where it is.
type slab[T any] struct{ chunk []T }

// maxSlabChunk bounds a chunk's length.
const maxSlabChunk = 1024

// next returns a new zero element.
func (s *slab[T]) next() *T {
	i := s.grow()
	return &s.chunk[i]
}

// one returns a new element as an empty slice of capacity one: the first
// of a group's events, appended without an allocation.
func (s *slab[T]) one() []T {
	i := s.grow()
	return s.chunk[i : i : i+1]
}

// many returns an empty slice of capacity n from the slab (from a chunk
// of its own past maxSlabChunk).
func (s *slab[T]) many(n int) []T {
	if cap(s.chunk)-len(s.chunk) < n {
		s.chunk = make([]T, 0, max(min(max(2*cap(s.chunk), 8), maxSlabChunk), n))
	}
	i := len(s.chunk)
	s.chunk = s.chunk[:i+n]
	return s.chunk[i : i : i+n]
}

func (s *slab[T]) grow() int {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]T, 0, min(max(2*cap(s.chunk), 8), maxSlabChunk))
	}
	s.chunk = s.chunk[:len(s.chunk)+1]
	return len(s.chunk) - 1
}

// writerKey escapes writers for row keys, remembering the last: a batch's
// events mostly come from one writer, escaped once, not per group.
type writerKey struct {
	raw, esc string
	set      bool
}

func (w *writerKey) of(writer string) string {
	if !w.set || w.raw != writer {
		w.raw, w.esc, w.set = writer, state.Escape(writer), true
	}
	return w.esc
}

// groupRow is the row key Escape(group) + "|" + tail (tail a key part
// already) built in one allocation, and its prefix up to the '|': a
// group's rows of every writer share it.
func groupRow(group, tail string) (row, prefix string) {
	var a keyArena
	return a.groupRow(group, tail)
}

// keyArena builds one call's row keys in a few shared chunks, not an
// allocation each. A key lives as long as the call: the stores keep
// copies of their own of what they store (or the key packed behind its
// document: state.Packed), and a match's identity is its group, not a row
// key.
type keyArena struct{ chunk []byte }

// maxKeyChunk bounds a chunk of a keyArena.
const maxKeyChunk = 32 << 10

// room returns the arena's chunk with room for n more bytes: chunks start
// at 2 KB and grow fourfold (a call's keys in a chunk or two, not five).
func (a *keyArena) room(n int) []byte {
	if cap(a.chunk)-len(a.chunk) < n {
		a.chunk = make([]byte, 0, max(n, min(4*cap(a.chunk), maxKeyChunk), 2048))
	}
	return a.chunk
}

// take returns the bytes appended to the chunk from start as a string,
// and keeps them.
func (a *keyArena) take(b []byte, start int) string {
	a.chunk = b
	return unsafe.String(&b[start], len(b)-start)
}

// groupRow is the package's groupRow, in the arena.
func (a *keyArena) groupRow(group, tail string) (row, prefix string) {
	// Room for every byte escaped, not EscapeRoom's exact count: the
	// group is read once, by AppendEscape.
	b := a.room(3*len(group) + 1 + len(tail))
	start := len(b)
	b = state.AppendEscape(b, group)
	n := len(b) + 1 - start
	b = append(append(b, '|'), tail...)
	row = a.take(b, start)
	return row, row[:n]
}

// spikeRow is a spike row key of a window and a writer already escaped
// (state.TimeKey(window) + "|" + writer), and the window's prefix, in the arena.
func (a *keyArena) spikeRow(window time.Time, writer string) (row, prefix string) {
	b := a.room(len(timeKeyLayout) + 1 + len(writer))
	start := len(b)
	b = append(appendTimeKey(b, window), '|')
	n := len(b) - start
	b = append(b, writer...)
	row = a.take(b, start)
	return row, row[:n]
}

// timeKeyLayout is state.TimeKey's.
const timeKeyLayout = "20060102T1504Z"

// appendTimeKey appends t as t.UTC().AppendFormat(b, timeKeyLayout) does,
// without its layout machinery for the years of four digits (any other
// year is left to it; FuzzAppendTimeKey).
func appendTimeKey(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeKeyLayout)
	}
	hour, minute, _ := t.Clock()
	m := int(month)
	return append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10),
		byte('0'+m/10), byte('0'+m%10), byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), byte('0'+minute/10), byte('0'+minute%10), 'Z')
}

// lower is strings.ToLower(s), in the arena.
func (a *keyArena) lower(s string) string {
	b := a.room(len(s))
	start := len(b)
	b = event.AppendLower(b, s)
	if len(b) == start {
		return ""
	}
	return a.take(b, start)
}

// joinKey is state.JoinKey(parts...), in the arena.
func (a *keyArena) joinKey(parts ...string) string {
	b := a.room(state.JoinKeyRoom(parts...))
	start := len(b)
	b = state.AppendJoinKey(b, parts...)
	if len(b) == start {
		return ""
	}
	return a.take(b, start)
}

// Correlation returns the kind's settings (after overrides).
func (b *base) Correlation() *Correlation { return b.c }

// fixedFields reports whether the rule's group-by and term fields are
// all the event's own (resolver.fixed): groupKeyIn and term then read no
// record and no field cache, and a kind need not point one at the event.
func (b *base) fixedFields() bool {
	for _, r := range b.c.groupRes {
		if !r.fixed {
			return false
		}
	}
	for _, f := range b.c.termRes {
		if !f.res.fixed {
			return false
		}
	}
	return true
}

// groupKey joins the event's group-by values (trimmed, lower-cased: UPNs,
// IPs and resource ids compare case-insensitively). ok is false when a
// group-by field is missing: such an event cannot be grouped.
//
// The key is built in the call's arena (a value already lower-case is
// returned as it is): it lives as long as the call, and what outlives it
// takes a copy (a match's GroupKey: strings.Clone; a row's Text: the
// stores' own or packed copy).
func (b *base) groupKey(ev *event.Event, a *keyArena) (string, bool) {
	return b.groupKeyIn(ev, a, nil)
}

// groupKeyIn is groupKey reading through c when c is pointed at ev.
// A flow tuple's canonical value (printable ASCII, no blank, no upper
// case: groupValue) goes in as it stands, neither trimmed nor lowered
// again (TestGroupKeyAgrees holds it to the general reading).
func (b *base) groupKeyIn(ev *event.Event, a *keyArena, c *fieldCache) (string, bool) {
	switch len(b.c.groupRes) {
	case 0:
		return "", true
	case 1:
		v, canonical, ok := groupValue(ev, b.c.groupRes[0], c)
		if !ok {
			return "", false
		}
		if canonical && len(v) <= MaxKeptValue {
			return v, true
		}
		if len(v) > MaxKeptValue {
			return BoundedLower(v), true
		}
		if !hasUpper(v) {
			return v, true // strings.ToLower's, without reading it again
		}
		return a.lower(v), true
	}
	var parts [8]string
	var lowered [8]bool
	vals := parts[:0]
	n := len(b.c.groupRes) - 1
	all := true // every part canonical: copied as it stands
	for i, res := range b.c.groupRes {
		v, canonical, ok := groupValue(ev, res, c)
		if !ok {
			return "", false
		}
		if len(v) > MaxKeptValue {
			v, canonical = BoundedLower(v), false // lowered again below, as before
		}
		if i < len(lowered) {
			lowered[i] = canonical
		}
		all = all && canonical
		vals = append(vals, v)
		n += len(v)
	}
	buf := a.room(n)
	start := len(buf)
	if all {
		// A flow tuple's key: its parts joined, no test per part.
		buf = append(buf, vals[0]...)
		for _, v := range vals[1:] {
			buf = append(append(buf, '|'), v...)
		}
		return a.take(buf, start), true
	}
	for i, v := range vals {
		if i > 0 {
			buf = append(buf, '|')
		}
		if i < len(lowered) && lowered[i] {
			buf = append(buf, v...)
			continue
		}
		buf = event.AppendLower(buf, v)
	}
	return a.take(buf, start), true
}

// groupValue is firstValueIn(ev, res, c) for a group key: a flow tuple's
// canonical value read by its number (resolver.canonicalField), canonical
// true, as it stands (firstValueIn's trim and the key's lower-casing
// leave it as it is); any other value firstValueIn's.
func groupValue(ev *event.Event, res *resolver, c *fieldCache) (v string, canonical, ok bool) {
	if v, ok := res.canonicalField(ev); ok {
		return v, true, v != ""
	}
	v, ok = firstValueIn(ev, res, c)
	return v, false, ok
}

// hasUpper reports whether lower-casing s may change it: a byte of
// 'A'..'Z' or of 0x80 and above. Eight bytes at a time (word8): it reads
// every group key and term of a stateful call.
func hasUpper(s string) bool {
	upper := func(x uint64) bool { return x&swarHigh != 0 || upperBytes(x) != 0 }
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(s)-8; i += 8 {
		if upper(word8(s, i)) {
			return true
		}
	}
	return upper(word8(s, len(s)-8)) // the last eight, read again in part
}

// MaxKeptValue bounds every value a stateful kind keeps in state or puts in
// a match's identity: a group key part, a term, a distinct value, a
// snapshot's field. Every field of a record may be the attacker's (a user
// agent of 40,000 characters, a UPN of 20 MB); none may make an entity
// outgrow the store's limits or an alert's identity grow with it.
const MaxKeptValue = 200

// Bounded returns s when it is at most MaxKeptValue bytes; otherwise a
// readable prefix of it (cut on a character boundary), "…#" and 96 bits of
// SHA-256 of the whole, MaxKeptValue bytes at most. Two values that differ
// anywhere stay different (up to the hash), the same value always gives the
// same result (alert ids stay deterministic), and an analyst still reads
// what the value began with.
func Bounded(s string) string {
	if len(s) <= MaxKeptValue {
		return s
	}
	return boundedTo(s, MaxKeptValue)
}

// boundedTo is Bounded with a smaller bound n (more than 27 bytes: the
// "…#" and the hash), for values kept many times in one entity.
func boundedTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return boundedWith(s, n, func(b []byte, chunk string) []byte { return append(b, chunk...) })
}

// BoundedLower is Bounded(strings.ToLower(s)) in spirit, without a lowered
// copy of a huge s: the prefix is lowered, the hash is of the lowered
// value, read a chunk at a time. Group keys and values compare by it.
func BoundedLower(s string) string {
	if len(s) <= MaxKeptValue {
		return strings.ToLower(s)
	}
	return boundedWith(s, MaxKeptValue, event.AppendLower)
}

// boundedWith builds a long value's bounded form, at most n bytes; conv
// maps each chunk (cut on character boundaries) before it is hashed and
// kept as the prefix.
func boundedWith(s string, n int, conv func(b []byte, chunk string) []byte) string {
	const tail = len("…#") + 24
	h := sha256.New()
	var buf []byte
	var prefix string
	for i := 0; i < len(s); {
		j := min(i+32<<10, len(s))
		for j < len(s) && !utf8.RuneStart(s[j]) {
			j++
		}
		buf = conv(buf[:0], s[i:j])
		if i == 0 {
			cut := min(len(buf), n-tail)
			for cut > 0 && cut < len(buf) && !utf8.RuneStart(buf[cut]) {
				cut--
			}
			prefix = string(buf[:cut])
		}
		h.Write(buf)
		i = j
	}
	var sum [sha256.Size]byte
	return prefix + "…#" + hex.EncodeToString(h.Sum(sum[:0])[:12])
}

// firstValue is the field's first value that is not blank, trimmed: the
// first of res.get's values, read without building their slice. A field
// of normalised names is read from the event; a raw path from the shared
// record index (sharedFirst).
func firstValue(ev *event.Event, res *resolver) (string, bool) {
	return firstValueIn(ev, res, nil)
}

// firstValueIn is firstValue reading through c (its memoised values and
// record index) when c is pointed at ev.
func firstValueIn(ev *event.Event, res *resolver, c *fieldCache) (string, bool) {
	if s, _, ok := res.single(ev); ok {
		s = strings.TrimSpace(s)
		return s, s != ""
	}
	if c != nil && c.ev == ev {
		vals, _ := res.get(ev, c)
		s := firstText(vals)
		return s, s != ""
	}
	// res.get's values in order: the first found candidate's
	// (firstFound) or every found candidate's in turn (union).
	for i, cand := range res.cands {
		s, found := candFirst(ev, cand, res.ids[i])
		if s != "" {
			return s, true
		}
		if found && res.mode == firstFound {
			return "", false
		}
	}
	return "", false
}

// candFirst is the first non-blank value (trimmed) of cand.get(ev, nil,
// id), and whether the event has the candidate.
func candFirst(ev *event.Event, cand candidate, id int32) (string, bool) {
	g, isName := cand.(getName)
	if !isName {
		vals, found := cand.get(ev, nil, id)
		return firstText(vals), found
	}
	if s, ok := normalisedAt(ev, g.name, g.fixed); ok {
		return strings.TrimSpace(s), s != ""
	}
	return sharedFirst(ev, g.name, id)
}

// firstText is the first of vals that is not blank, trimmed.
func firstText(vals []event.Value) string {
	for _, v := range vals {
		if s := strings.TrimSpace(v.String()); s != "" {
			return s
		}
	}
	return ""
}

// expires is when an entity of a window ending at end may go: end plus
// keep in event time, but never sooner than the wall clock plus keep, so a
// batch of old records scanned today stays idempotent while it can be
// redelivered.
func (b *base) expires(end time.Time, keep time.Duration) time.Time {
	return b.laterOfNow(end).Add(keep).UTC()
}

// laterOfNow is the later of end and now: plus keep, the later of
// end+keep and now+keep (they order as end and now do), one Add.
func (b *base) laterOfNow(end time.Time) time.Time {
	if now := b.now(); now.After(end) {
		return now
	}
	return end
}

// expiry is expires as an entity's Expires, stamped without making the
// time (state.StampAfter), as many as the rows a call writes.
func (b *base) expiry(end time.Time, keep time.Duration) state.Stamp {
	return state.StampAfter(b.laterOfNow(end), keep)
}

// stateBuckets is how many partitions per rule spread the entities of the
// kinds with one entity per user or IP (new-term, sequence): enough for
// Table Storage to spread the load, few enough that a batch of thousands
// of users costs a few dozen round trips, not thousands.
const stateBuckets = 16

// bucketOf is the partition bucket of a group key: two hex digits of FNV-1a.
func bucketOf(group string) string {
	return bucketNames[event.FNV32a(group)%stateBuckets]
}

// bucketNames are the buckets' partition-key parts: two hex digits.
var bucketNames = func() (names [stateBuckets]string) {
	for i := range names {
		names[i] = fmt.Sprintf("%02x", i)
	}
	return names
}()

// eventKey identifies one record for idempotent counting: event.Key (its
// own id when the log has one, else a fast stable hash of the raw record).
func eventKey(ev *event.Event) string { return ev.Key() }

// ErrEntityTooLarge is what a RecordError wraps when a record's content
// would make a state entity exceed Table Storage's limits even after every
// value was Bounded (state.CheckEntity said so before anything was written).
var ErrEntityTooLarge = state.ErrEntityTooLarge

// RecordError is a failure caused by one record's content, not by a
// dependency: the record goes to the dead letters with Err as the reason and
// the rest of the batch is evaluated and delivered. Engine.Evaluate returns
// the record errors of a batch as RecordErrors, beside complete matches.
type RecordError struct {
	// Index is the record's position in the events given to
	// Engine.Evaluate (-1 when it is not one of them).
	Index int
	Event *event.Event
	Rule  string // the rule whose state refused it
	Err   error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d: rule %s: %v", e.Index, e.Rule, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// RecordErrors is every record error of one evaluation. As an error it
// unwraps to each of them (errors.Is(err, ErrEntityTooLarge) holds).
// Engine.Evaluate returns it only when nothing else failed: its matches are
// then complete, and only the listed records' share of state was not kept.
type RecordErrors []*RecordError

func (e RecordErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%d records refused, first: %v", len(e), e[0])
}

func (e RecordErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, r := range e {
		out[i] = r
	}
	return out
}

// AsRecordErrors returns the record errors err holds and whether err is
// nothing but record errors (then the batch's matches are complete).
func AsRecordErrors(err error) (RecordErrors, bool) {
	if err == nil {
		return nil, false // without asRecordErrors' allocation (errors.As takes its target's address)
	}
	return asRecordErrors(err)
}

// asConflict is the ConflictError err holds: a function of its own, so
// that errors.As's target escapes only on a write's error, not on every
// transaction.
func asConflict(err error) (*state.ConflictError, bool) {
	var ce *state.ConflictError
	if !errors.As(err, &ce) {
		return nil, false
	}
	return ce, true
}

func asRecordErrors(err error) (RecordErrors, bool) {
	var re RecordErrors
	if !errors.As(err, &re) {
		return nil, false
	}
	return re, true
}

// orNil returns e as an error, or a nil error when it is empty.
func (e RecordErrors) orNil() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// txn is one batch's read-compute-write of a kind: one Get of every key,
// one Apply of every change, and on a conflict a re-read of exactly the
// keys not applied, a recompute of those and another Apply.
type txn struct {
	store state.Store
	table string
	// step computes the new entity of key k from what is stored (found is
	// false when nothing is). It returns write=false when nothing changes.
	step func(k state.Key, cur state.Entity, found bool) (op state.Op, write bool, err error)
	// stepAt, when set, is called instead of step with k's index in the
	// keys given to run (-1 when the key is one retried after a
	// conflict): a kind holding its rows in the keys' order finds k's
	// without a look-up by key. It reads what is stored through cur and
	// writes the operation into op (the transaction's slot for it,
	// written whole when write is true): not an entity and an operation
	// of 128 bytes and more copied in and out per row.
	stepAt func(i int, k state.Key, cur *state.Entity, found bool, op *state.Op) (write bool, err error)
	// rule and blame attribute an entity over the store's limits to the
	// records of this batch that went into it: their RecordErrors come back
	// and the entity is not written; every other key is.
	rule  string
	blame func(k state.Key) []*event.Event
	// prefixes, when set, are the row prefixes the kind read with
	// findRows (every writer's rows of its groups, by partition). After a
	// conflict, the partitions of the keys not applied are read again
	// whole that way, into the map the loop was given: what was read of
	// them may be stale, other writers' rows included (a read for update
	// may have been answered from the store's cache, state.ForUpdate).
	prefixes map[string][]string
}

// run reads, computes and writes keys. It returns nil, RecordErrors (every
// other key was written), or another error.
func (t txn) run(ctx context.Context, keys []state.Key) error {
	_, err := t.runWith(ctx, keys, nil)
	return err
}

// runWith is run that also reads readOnly in its first Get (one round
// trip per partition for both) and returns what it found of them.
func (t txn) runWith(ctx context.Context, keys, readOnly []state.Key) (map[state.Key]state.Entity, error) {
	ctx = state.ForUpdate(ctx) // its read and its writes are: derived once, not per Get and loop
	all := keys
	if len(readOnly) > 0 {
		all = append(slices.Clone(keys), readOnly...)
	}
	first, err := t.read(ctx, all)
	if err != nil {
		return nil, err
	}
	return first, t.loop(ctx, keys, first)
}

func (t txn) loop(ctx context.Context, keys []state.Key, got map[state.Key]state.Entity) error {
	return t.loopRows(ctx, &mapRows{t: &t, keys: keys, got: got}, len(keys))
}

// txnRows are the keys one txn loop writes, by index (0 to n-1): their
// steps, the records behind each, and how to read them again after a
// conflict. The kinds that keep what they read in a map use mapRows; the
// threshold kind keeps its rows in flat slices (thresholdCall).
type txnRows interface {
	key(i int) state.Key
	// step computes row i's write from what was read of it into op (the
	// transaction's slot for it: written whole when write is true).
	step(i int, op *state.Op) (write bool, err error)
	// blame is the records that went into row i; blaming says whether
	// rows are blamed at all (a refused entity fails the call otherwise).
	blame(i int) []*event.Event
	blaming() bool
	// index is the index of key k, or -1.
	index(k state.Key) int
	// reread reads the pending rows again after a conflict.
	reread(ctx context.Context, pending []int) error
	// forget drops the document read of row i, which did not decode
	// (errStateCorrupt): its next step starts from the row as found
	// without one (its ETag and columns kept), and rewrites it.
	forget(i int)
}

// unreadableRow reports a state row whose document did not decode
// (errStateCorrupt: damaged, or written by a release that wrote another
// format) and reports whether err was that. Such a row is evaluated as
// holding nothing and rewritten: it costs the state it held, not every
// later batch that touches it, which would fail as long as the row lives
// (nothing in a redelivery could ever read it). The log line names the
// rule and the row.
func unreadableRow(ctx context.Context, rule string, err error) bool {
	if !errors.Is(err, errStateCorrupt) {
		return false
	}
	zerolog.Ctx(ctx).Error().Str("rule", rule).Err(err).
		Msg("a state row did not decode: evaluated as holding nothing, and rewritten when written")
	return true
}

// mapRows are keys read into a map (txn.read or findRows), stepped by
// txn.step.
type mapRows struct {
	t    *txn
	keys []state.Key
	got  map[state.Key]state.Entity
	at   map[state.Key]int // made on a conflict
	// retried is set once the rows are read again after a conflict:
	// stepAt is then given -1, not the key's place.
	retried bool
	// cur is the row stepAt is given, read from got: here, not in a
	// local whose address, given to a func value, would move it to the
	// heap.
	cur state.Entity
}

func (m *mapRows) key(i int) state.Key { return m.keys[i] }

func (m *mapRows) step(i int, op *state.Op) (write bool, err error) {
	k := m.keys[i]
	if m.t.stepAt == nil {
		cur, found := m.got[k]
		*op, write, err = m.t.step(k, cur, found)
		return write, err
	}
	if m.retried {
		i = -1 // the kind finds a retried key's row by key
	}
	var found bool
	m.cur, found = m.got[k] // as got holds it (the store's)
	return m.t.stepAt(i, k, &m.cur, found, op)
}

func (m *mapRows) forget(i int) {
	k := m.keys[i]
	if e, ok := m.got[k]; ok {
		e.Data = nil
		m.got[k] = e
	}
	// The kind finds the row by key, as a retried one: what it counted
	// of this call's rows read (the first step) is not counted again.
	m.retried = true
}

func (m *mapRows) blame(i int) []*event.Event { return m.t.blame(m.keys[i]) }

func (m *mapRows) blaming() bool { return m.t.blame != nil }

func (m *mapRows) index(k state.Key) int {
	if m.at == nil {
		m.at = make(map[state.Key]int, len(m.keys))
		for i, k := range m.keys {
			m.at[k] = i
		}
	}
	if i, ok := m.at[k]; ok {
		return i
	}
	return -1
}

func (m *mapRows) reread(ctx context.Context, pending []int) error {
	m.retried = true
	keys := make([]state.Key, len(pending))
	for j, i := range pending {
		keys[j] = m.keys[i]
	}
	if m.t.prefixes != nil {
		return m.t.refind(ctx, m.got, keys)
	}
	got, err := m.t.read(ctx, keys)
	if err != nil {
		return err
	}
	m.got = got
	return nil
}

// txnScratch is a transaction's operations and their rows, reused by
// the next transaction.
type txnScratch struct {
	ops []state.Op
	at  []int
}

var txnScratchPool = sync.Pool{New: func() any { return new(txnScratch) }}

// maxTxnScratch bounds the operations a pooled scratch keeps room for.
const maxTxnScratch = 1 << 12

// release clears the operations written, at most used (their entities'
// data is the store's or the caller's, not the pool's to keep alive), and
// pools sc.
func (sc *txnScratch) release(used int) {
	if cap(sc.ops) > maxTxnScratch || cap(sc.at) > maxTxnScratch {
		return
	}
	clear(sc.ops[:min(used, cap(sc.ops))])
	sc.ops, sc.at = sc.ops[:0], sc.at[:0]
	txnScratchPool.Put(sc)
}

// loopRows computes and writes rows 0 to n-1 (what was read of them
// already in rows), and on a conflict reads again, recomputes and writes
// exactly the rows not applied.
func (t txn) loopRows(ctx context.Context, rows txnRows, n int) error {
	// Every read and write of the transaction is for update: the context
	// is derived once, not per Apply and re-read.
	ctx = state.ForUpdate(ctx)
	var all []int // made on a conflict
	var pending []int
	var refused RecordErrors
	var blamed map[int]bool // made when an entity is over the limits
	// ops and at come from the pool (Apply keeps no reference to ops: it
	// copies what it stores) and go back emptied.
	sc := txnScratchPool.Get().(*txnScratch)
	ops, at := sc.ops[:0], sc.at[:0] // at: ops' rows
	used := 0                        // the most operations written
	defer func() { sc.ops, sc.at = ops, at; sc.release(used) }()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := rows.reread(ctx, pending); err != nil {
				return err
			}
		}
		count := n
		if attempt > 0 {
			count = len(pending)
		}
		ops, at = slices.Grow(ops[:0], count), slices.Grow(at[:0], count)
		for j := range count {
			i := j
			if attempt > 0 {
				i = pending[j]
			}
			// The operation is built in its slot (ops has room for
			// count), not returned and copied into it.
			ops = ops[:len(ops)+1]
			used = max(used, len(ops)) // cleared at the end, written or not
			write, err := rows.step(i, &ops[len(ops)-1])
			if err != nil && unreadableRow(ctx, t.rule, err) {
				rows.forget(i)
				write, err = rows.step(i, &ops[len(ops)-1])
			}
			if err != nil {
				return err
			}
			if !write {
				ops = ops[:len(ops)-1]
				continue
			}
			at = append(at, i)
		}
		if len(ops) == 0 {
			return refused.orNil()
		}
		// Apply checks every entity before any I/O: only when it refuses
		// one as too large are they checked here, one by one, to blame the
		// records that went into it and write the others.
		err := t.store.Apply(ctx, t.table, ops)
		if errors.Is(err, state.ErrEntityTooLarge) && rows.blaming() {
			kept, keptAt := ops[:0], at[:0]
			for j, op := range ops {
				cerr := state.CheckEntity(op.Entity)
				if cerr == nil {
					kept, keptAt = append(kept, op), append(keptAt, at[j])
					continue
				}
				if !errors.Is(cerr, state.ErrEntityTooLarge) {
					return fmt.Errorf("write state: %w", cerr)
				}
				if i := at[j]; !blamed[i] {
					if blamed == nil {
						blamed = map[int]bool{}
					}
					blamed[i] = true
					for _, ev := range rows.blame(i) {
						refused = append(refused, &RecordError{Index: -1, Event: ev, Rule: t.rule, Err: cerr})
					}
				}
			}
			if ops, at = kept, keptAt; len(ops) == 0 {
				return refused.orNil()
			}
			err = t.store.Apply(ctx, t.table, ops)
		}
		if err == nil {
			return refused.orNil()
		}
		ce, ok := asConflict(err)
		if !ok {
			return fmt.Errorf("write state: %w", err)
		}
		if attempt >= maxConflictRetries {
			return fmt.Errorf("write state: still conflicting after %d retries: %w", attempt, err)
		}
		pending = pending[:0]
		for _, k := range ce.Uncommitted {
			if i := rows.index(k); i >= 0 {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 { // the service did not say which: retry them all
			if all == nil {
				all = make([]int, n)
				for i := range all {
					all[i] = i
				}
			}
			pending = append(pending, all...)
		}
		if err := conflictPause(ctx, attempt); err != nil {
			return err
		}
	}
}

// conflictPause waits before retry attempt+1 after a conflict: a jittered
// pause that doubles per attempt from 5 ms up to 500 ms, so that writers
// of one hot row do not collide in step, and a store slow to answer (a
// loaded emulator, a throttled account) is not out-raced by 12 retries in
// a few tens of milliseconds. Twelve attempts wait about 3 s at most.
func conflictPause(ctx context.Context, attempt int) error {
	limit := 5 * time.Millisecond << min(attempt, 7)
	limit = min(limit, 500*time.Millisecond)
	t := time.NewTimer(limit/2 + rand.N(limit/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// refind reads again every writer's rows of the groups in the
// partitions of keys (t.prefixes), replacing what got held of them.
func (t txn) refind(ctx context.Context, got map[state.Key]state.Entity, keys []state.Key) error {
	seen := map[string]bool{}
	var parts []string
	for _, k := range keys {
		if !seen[k.PartitionKey] {
			seen[k.PartitionKey] = true
			parts = append(parts, k.PartitionKey)
		}
	}
	fresh, err := findRows(ctx, t.store, parts, t.prefixes)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	for k := range got {
		if seen[k.PartitionKey] {
			delete(got, k)
		}
	}
	for k, e := range fresh {
		got[k] = e
	}
	return nil
}

// read fetches keys in one Get: the store reads each partition in one
// query while it holds at most a page (state.Store.Get), so a batch reads
// each partition it touches once. It reads for update (state.ForUpdate):
// what it reads is written back, guarded, and read again on a conflict.
func (t txn) read(ctx context.Context, keys []state.Key) (map[state.Key]state.Entity, error) {
	out, err := t.store.Get(state.ForUpdate(ctx), t.table, keys)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return out, nil
}

// writeOp is the conditional write of a computed entity: Replace guarded
// by the ETag read, or Insert when nothing was found.
func writeOp(e state.Entity, cur state.Entity, found bool) state.Op {
	if found {
		e.ETag = cur.ETag
		return state.Op{Kind: state.Replace, Entity: e}
	}
	return state.Op{Kind: state.Insert, Entity: e}
}

// snapshot is an event kept in the store (a sequence's earlier record):
// the normalised fields and, when small enough, the raw record, so the
// alert raised in a later batch reads it as if it had arrived with it.
type snapshot struct {
	Source        string            `json:"src"`
	Category      string            `json:"cat,omitempty"`
	Time          time.Time         `json:"t"`
	Operation     string            `json:"op,omitempty"`
	Result        string            `json:"res,omitempty"`
	ResultCode    string            `json:"rc,omitempty"`
	Severity      string            `json:"sev,omitempty"`
	CorrelationID string            `json:"cid,omitempty"`
	TenantID      string            `json:"tid,omitempty"`
	RecordID      string            `json:"rid,omitempty"`
	Actor         event.Actor       `json:"actor"`
	Target        string            `json:"target,omitempty"`
	ResourceID    string            `json:"rsc,omitempty"`
	Geo           event.Geo         `json:"geo"`
	Extra         map[string]string `json:"extra,omitempty"`
	Raw           json.RawMessage   `json:"raw,omitempty"`
}

// maxSnapshotRaw leaves room in Data for the rest of a sequence entity.
const maxSnapshotRaw = 20 << 10

// maxSnapshotExtra bounds the source-specific values a snapshot keeps:
// encodeEventSnapshot keeps ev's normalised fields, each Bounded, at most
// maxSnapshotExtra of its Extra values (by name order), and its raw record
// when it is at most maxSnapshotRaw and wanted: a snapshot is at most
// about 20 KiB of raw record and 14 KiB of fields, whatever the record holds.
const maxSnapshotExtra = 32

func (s snapshot) event() *event.Event {
	ev := &event.Event{
		Source: s.Source, Category: s.Category, Time: s.Time, Operation: s.Operation,
		Result: event.Result(s.Result), ResultCode: s.ResultCode, Severity: s.Severity,
		CorrelationID: s.CorrelationID, TenantID: s.TenantID, RecordID: s.RecordID,
		Actor: s.Actor, Target: s.Target, Resource: event.ParseResourceID(s.ResourceID), Geo: s.Geo,
		Extra: event.ExtraOf(s.Extra), Raw: []byte(s.Raw),
	}
	return ev
}

// addKey appends k to keys unless present; it reports whether k is new.
// Past maxEventKeys the key is not kept and the event counts as new.
func addKey(keys []string, k string) ([]string, bool) {
	for _, have := range keys {
		if have == k {
			return keys, false
		}
	}
	if len(keys) >= maxEventKeys {
		return keys, true
	}
	return append(keys, k), true
}

func hasKey(keys []string, k string) bool {
	for _, have := range keys {
		if have == k {
			return true
		}
	}
	return false
}

// lazyByKey finds list[i] by order[i] (the zero T for a key not in
// order), through a map made on the first look-up: a call's rows are
// stepped by place, and found by key only after a refusal, a retry or
// another writer's row (new-term, sequence).
func lazyByKey[T any](order []state.Key, list []T) func(state.Key) T {
	var byKey map[state.Key]T
	return func(key state.Key) T {
		if byKey == nil {
			byKey = make(map[state.Key]T, len(order))
			for i, k := range order {
				byKey[k] = list[i]
			}
		}
		return byKey[key]
	}
}
