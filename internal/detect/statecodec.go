package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// The stateful kinds keep their documents (Entity.Data) in a compact binary
// encoding: a version byte, then the fields in a fixed order as varints,
// length-prefixed strings and 8-byte floats. Written and read once per row
// per batch, it costs a fraction of JSON's time and allocations, and the
// rows are smaller (the hashes of a value_count are their 8 bytes each, not
// base64 in quotes). A document written by an earlier version is JSON
// (first byte '{'): it is still read, and written back in this encoding the
// next time its row changes.
//
// Decoding shares Data: a decoded string or byte slice is a view into the
// stored bytes, which no store changes after a write (state.Entity.Data).
const (
	// stateBinary is the first byte of a binary document, version 1.
	stateBinary = 0x01
	// stateJSON is the first byte of a document written as JSON.
	stateJSON = '{'
)

// errStateCorrupt is what a document that ends early or holds an
// impossible length wraps.
var errStateCorrupt = errors.New("corrupt state document")

// errStateLater is what a document whose first byte is one of those kept
// for later releases' forms (stateLaterMin to stateLaterMax) wraps. Unlike
// a corrupt one (evaluated as holding nothing and rewritten, unreadableRow)
// it fails the batch, which the host redelivers: while a deployment
// settles, an instance of this release must not overwrite the state a
// later one wrote.
var errStateLater = errors.New("state document of a later release")

const (
	stateLaterMin = 0x02
	stateLaterMax = 0x1f
)

// stateEnc appends a document's fields, or, counting, only adds up their
// size: an encoder runs its document's writer twice, to count and then to
// write (c.writer()), so that the document is one allocation of its exact
// size (it is what the store keeps). The writer is called directly, not
// through a func parameter, so that neither encoder leaves the stack.
type stateEnc struct {
	b        []byte
	n        int
	counting bool
}

// writer is the encoder that writes what c counted, into one allocation.
func (c *stateEnc) writer() stateEnc { return c.writerRoom(0) }

// writerRoom is writer with room for room more bytes behind the document
// (a row key and Text packed with it: state.Packed).
func (c *stateEnc) writerRoom(room int) stateEnc {
	e := stateEnc{b: make([]byte, 1, 1+c.n+room)}
	e.b[0] = stateBinary
	return e
}

// writerIn is writerRoom with the document cut from docs' chunks (an
// allocation of its own when docs is nil).
func (c *stateEnc) writerIn(docs *docChunks, room int) stateEnc {
	if docs == nil {
		return c.writerRoom(room)
	}
	e := stateEnc{b: docs.cut(1 + c.n + room)}
	e.b = append(e.b, stateBinary)
	return e
}

// Documents are what the stores keep (state.Entity.Data: kept as given,
// never changed after), one per written row, most of them a few dozen
// bytes: one allocation each was a quarter of a record's allocations.
// The small ones are cut from shared chunks instead, a chunk per kind of
// row, so that the rows sharing a chunk live alike (a window's counters,
// a lookback's baselines): a chunk is garbage once none of its rows is
// kept, and what rewrites leave in it until then is bounded by the chunk.
// A chunk is never written again where it was cut: a document is the
// caller's, its capacity cut at its end (an append cannot reach the next).
type docChunks struct{ pool sync.Pool }

// The chunks of each kind of row.
var thresholdDocs, termDocs, seqDocs, travelDocs docChunks

const (
	// docChunk is a chunk's size.
	docChunk = 4 << 10
	// maxChunkedDoc is the largest document cut from a chunk: a larger one
	// (a distinct count's hashes, a sequence's snapshots) is an allocation
	// of its own, so that a row rewritten as it grows leaves nothing
	// behind in a chunk that a row of its chunk still holds.
	maxChunkedDoc = 256
)

// cut returns an empty slice of capacity n, its own (cut from a chunk
// when n is small).
func (c *docChunks) cut(n int) []byte {
	if n > maxChunkedDoc {
		return make([]byte, 0, n)
	}
	p := c.take()
	d := cutIn(p, n)
	c.give(p)
	return d
}

// take is a chunk of c for a caller that cuts many documents at once (a
// threshold call's rows): one trip to the pool per call, not two per
// document. The caller cuts from it with cutIn and hands it back with
// give; nobody else cuts from it meanwhile.
func (c *docChunks) take() *[]byte {
	p, _ := c.pool.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	return p
}

// give hands back a chunk taken.
func (c *docChunks) give(p *[]byte) { c.pool.Put(p) }

// cutIn is cut from a chunk taken (a new chunk in its place when it has no
// room left).
func cutIn(p *[]byte, n int) []byte {
	if n > maxChunkedDoc {
		return make([]byte, 0, n)
	}
	b := *p
	if cap(b)-len(b) < n {
		b = make([]byte, 0, docChunk)
	}
	d := b[len(b) : len(b) : len(b)+n]
	*p = b[:len(b)+n]
	return d
}

func (e *stateEnc) raw(p []byte) {
	if e.counting {
		e.n += len(p)
		return
	}
	e.b = append(e.b, p...)
}

func (e *stateEnc) byte(c byte) {
	if e.counting {
		e.n++
		return
	}
	e.b = append(e.b, c)
}

func (e *stateEnc) uvarint(v uint64) {
	if e.counting {
		e.n += (bits.Len64(v|1) + 6) / 7
		return
	}
	e.b = binary.AppendUvarint(e.b, v)
}

func (e *stateEnc) varint(v int64) { e.uvarint(uint64(v<<1) ^ uint64(v>>63)) } // zig-zag, as binary.AppendVarint

func (e *stateEnc) str(s string) {
	e.uvarint(uint64(len(s)))
	if e.counting {
		e.n += len(s)
		return
	}
	e.b = append(e.b, s...)
}

func (e *stateEnc) bytes(p []byte) { e.uvarint(uint64(len(p))); e.raw(p) }

func (e *stateEnc) float(f float64) {
	if e.counting {
		e.n += 8
		return
	}
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
}

// time writes the zero time as one 0 byte; any other as its nanoseconds
// plus one, then its Unix seconds (any year: event times are the log's).
func (e *stateEnc) time(t time.Time) {
	if t.IsZero() {
		e.byte(0)
		return
	}
	e.uvarint(uint64(t.Nanosecond()) + 1)
	e.varint(t.Unix())
}

// stateDec reads a document's fields; the first failure sticks and every
// read after it returns zero values.
type stateDec struct {
	b   []byte
	err error
}

func (d *stateDec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d from the end", errStateCorrupt, what, len(d.b))
	}
	d.b = nil
}

func (d *stateDec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *stateDec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a varint that must fit an int.
func (d *stateDec) int() int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail("integer out of range")
		return 0
	}
	return int(v)
}

// count reads a number of elements of at least min bytes each: no more
// than what is left could hold, so a corrupt count allocates nothing.
func (d *stateDec) count(min int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/min) {
		d.fail("count past the end")
		return 0
	}
	return int(v)
}

// raw reads a length-prefixed byte string: a view into the document,
// capacity cut so that an append copies.
func (d *stateDec) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length past the end")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return p
}

func (d *stateDec) str() string {
	p := d.raw()
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(p), len(p))
}

func (d *stateDec) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *stateDec) float() float64 {
	if len(d.b) < 8 {
		d.fail("float past the end")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return f
}

func (d *stateDec) time() time.Time {
	ns := d.uvarint()
	if ns == 0 {
		return time.Time{}
	}
	if ns > 1e9 {
		d.fail("bad time")
		return time.Time{}
	}
	return time.Unix(d.varint(), int64(ns-1)).UTC()
}

func (d *stateDec) flags() byte {
	if len(d.b) == 0 {
		d.fail("flags past the end")
		return 0
	}
	f := d.b[0]
	d.b = d.b[1:]
	return f
}

// end reports the first failure, or bytes left over.
func (d *stateDec) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// openState checks a stored document's first byte: binary (the decoder
// for the rest), JSON (legacy true), or neither (an error).
func openState(data []byte) (dec stateDec, legacy bool, err error) {
	switch data[0] {
	case stateBinary:
		return stateDec{b: data[1:]}, false, nil
	case stateJSON:
		return stateDec{}, true, nil
	}
	if b := data[0]; b >= stateLaterMin && b <= stateLaterMax {
		return stateDec{}, false, fmt.Errorf("%w: version byte 0x%02x", errStateLater, b)
	}
	return stateDec{}, false, fmt.Errorf("%w: unknown version byte 0x%02x", errStateCorrupt, data[0])
}

// openDoc opens a row's document: binary (ok, read it from d), or JSON as
// an earlier release wrote it, decoded into *into (not ok, done; so is a
// row without a document, which leaves *into as is).
func openDoc[T any](kind string, key state.Key, data []byte, into *T) (d stateDec, ok bool, err error) {
	if len(data) == 0 {
		return stateDec{}, false, nil
	}
	d, legacy, err := openState(data)
	if err != nil {
		return d, false, stateErr(kind, key, err)
	}
	if legacy {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return d, false, stateErr(kind, key, fmt.Errorf("%w: %w", errStateCorrupt, err))
		}
		*into = v
		return d, false, nil
	}
	return d, true, nil
}

// stateErr names the kind and row of a document that did not decode.
func stateErr(kind string, key state.Key, err error) error {
	return fmt.Errorf("%s state %s: %w", kind, key, err)
}

// --- threshold and spike rows --------------------------------------------

const (
	thrMark = 1 << iota
	thrSum
)

func (t *thresholdData) encode() []byte { return t.encodeRoom(0) }

// encodeRoom is encode with room behind the document (stateEnc.writerRoom).
// A row is written once per batch that counts into it: the document's
// size is worked out field by field and the fields appended in one pass,
// the bytes write's (the reference, TestThresholdEncodeAsWrite).
func (t *thresholdData) encodeRoom(room int) []byte { return t.encodeIn(nil, nil, room) }

// encodeRow is encodeRoom for a row found (rewritten) or not (new): a new
// row's document is cut from the kind's chunks (docChunks).
func (t *thresholdData) encodeRow(found bool, room int) []byte {
	if found {
		return t.encodeIn(nil, nil, room)
	}
	return t.encodeIn(&thresholdDocs, nil, room)
}

// encodeHeld is encodeRow with a new row's document cut from held, a chunk
// of thresholdDocs the caller took (docChunks.take).
func (t *thresholdData) encodeHeld(found bool, held *[]byte, room int) []byte {
	if found {
		return t.encodeIn(nil, nil, room)
	}
	return t.encodeIn(nil, held, room)
}

// encodeIn is encodeRoom with the document cut from held or docs (when not
// nil).
func (t *thresholdData) encodeIn(docs *docChunks, held *[]byte, room int) []byte {
	if held != nil && len(t.Keys) == 0 && len(t.Values) <= 1 {
		// A new row's document (a call's chunk, cut from by nobody else
		// meanwhile: docChunks.take) is written at once in room for the
		// largest it can be, and what it leaves of that room given back to
		// the chunk: no pass to count its size first.
		bound := thrDocMax + len(t.Hashes)
		if len(t.Values) == 1 {
			bound += len(t.Values[0])
		}
		if bound+room <= maxChunkedDoc {
			b := t.appendDoc(cutIn(held, bound+room))
			*held = (*held)[:len(*held)-(bound-len(b))]
			return b[: len(b) : len(b)+room]
		}
	}
	n := 2 // version, flags
	if t.Mark {
		n += uvarintLen(zigzag(t.Seq)) + uvarintLen(zigzag(int64(t.Index))) + uvarintLen(zigzag(int64(t.Sub)))
	}
	n += uvarintLen(uint64(len(t.Keys)))
	for _, k := range t.Keys {
		n += uvarintLen(uint64(len(k))) + len(k)
	}
	n += uvarintLen(uint64(len(t.Hashes))) + len(t.Hashes)
	n += uvarintLen(uint64(len(t.Values)))
	for _, v := range t.Values {
		n += uvarintLen(uint64(len(v))) + len(v)
	}
	if t.Sum != 0 {
		n += 8
	}
	n += timeLen(timeParts(t.First))
	n += timeLen(timeParts(t.Last))

	var b []byte
	switch {
	case held != nil:
		b = cutIn(held, n+room)
	case docs != nil:
		b = docs.cut(n + room)
	default:
		b = make([]byte, 0, n+room)
	}
	return t.appendDoc(b)
}

// thrDocMax is the most a threshold document without keys, with at most
// one shown value, takes besides its hashes' and value's bytes: version
// and flags, the watermark's three varints, the counts of keys, hashes
// and values, the value's length, the sum, and the two times.
const thrDocMax = 2 + 3*binary.MaxVarintLen64 + 1 + binary.MaxVarintLen64 + 1 + binary.MaxVarintLen64 + 8 + 2*(5+binary.MaxVarintLen64)

// appendDoc appends t's document (write's bytes) to b.
func (t *thresholdData) appendDoc(b []byte) []byte {
	var f byte
	if t.Mark {
		f |= thrMark
	}
	if t.Sum != 0 {
		f |= thrSum
	}
	b = append(b, stateBinary, f)
	if t.Mark {
		b = binary.AppendUvarint(b, zigzag(t.Seq))
		b = binary.AppendUvarint(b, zigzag(int64(t.Index)))
		b = binary.AppendUvarint(b, zigzag(int64(t.Sub)))
	}
	b = binary.AppendUvarint(b, uint64(len(t.Keys)))
	for _, k := range t.Keys {
		b = append(binary.AppendUvarint(b, uint64(len(k))), k...)
	}
	b = append(binary.AppendUvarint(b, uint64(len(t.Hashes))), t.Hashes...)
	b = binary.AppendUvarint(b, uint64(len(t.Values)))
	for _, v := range t.Values {
		b = append(binary.AppendUvarint(b, uint64(len(v))), v...)
	}
	if t.Sum != 0 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(t.Sum))
	}
	ns, sec := timeParts(t.First)
	at := len(b)
	b = appendTimeParts(b, ns, sec)
	if t.Last == t.First {
		// A row of one event (most of a flow log's): its last time is
		// its first, the same bytes again.
		return append(b, b[at:]...)
	}
	ns, sec = timeParts(t.Last)
	return appendTimeParts(b, ns, sec)
}

// zigzag is a signed varint's unsigned value (stateEnc.varint).
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// timeParts are what stateEnc.time writes of t: its nanoseconds plus one
// (0: the zero time) and its Unix seconds, zig-zagged.
func timeParts(t time.Time) (ns, sec uint64) {
	if t.IsZero() {
		return 0, 0
	}
	return uint64(t.Nanosecond()) + 1, zigzag(t.Unix())
}

func timeLen(ns, sec uint64) int {
	if ns == 0 {
		return 1
	}
	return uvarintLen(ns) + uvarintLen(sec)
}

func appendTimeParts(b []byte, ns, sec uint64) []byte {
	if ns == 0 {
		return append(b, 0)
	}
	return binary.AppendUvarint(binary.AppendUvarint(b, ns), sec)
}

func (t *thresholdData) write(e *stateEnc) {
	var f byte
	if t.Mark {
		f |= thrMark
	}
	if t.Sum != 0 {
		f |= thrSum
	}
	e.byte(f)
	if t.Mark {
		e.varint(t.Seq)
		e.varint(int64(t.Index))
		e.varint(int64(t.Sub))
	}
	e.uvarint(uint64(len(t.Keys)))
	for _, k := range t.Keys {
		e.str(k)
	}
	e.bytes(t.Hashes)
	e.uvarint(uint64(len(t.Values)))
	for _, v := range t.Values {
		e.str(v)
	}
	if t.Sum != 0 {
		e.float(t.Sum)
	}
	e.time(t.First)
	e.time(t.Last)
}

// loadThreshold decodes a threshold or spike row's document into t (zero);
// a row not found, or without a document, leaves it as is.
func loadThreshold(kind string, key state.Key, cur state.Entity, found bool, t *thresholdData) error {
	if !found {
		return nil
	}
	d, ok, err := openDoc(kind, key, cur.Data, t)
	if !ok {
		return err
	}
	f := d.flags()
	if f&thrMark != 0 {
		t.Mark, t.Seq, t.Index, t.Sub = true, d.varint(), d.int(), d.int()
	}
	t.Keys = d.strs()
	t.Hashes = d.raw()
	t.Values = d.strs()
	if f&thrSum != 0 {
		t.Sum = d.float()
	}
	t.First, t.Last = d.time(), d.time()
	if err := d.end(); err != nil {
		*t = thresholdData{}
		return stateErr(kind, key, err)
	}
	return nil
}

// --- new-term rows --------------------------------------------------------

func (t *termData) encode() []byte { return t.encodeRoom(0) }

// encodeRoom is encode with room behind the document (stateEnc.writerRoom).
func (t *termData) encodeRoom(room int) []byte { return t.encodeIn(nil, nil, room) }

// encodeRow is encodeRoom for a row found (rewritten) or not (new): a new
// row's document is cut from the kind's chunks (docChunks).
func (t *termData) encodeRow(found bool, room int) []byte { return t.encodeHeld(found, nil, room) }

// encodeHeld is encodeRow with a new row's document cut from held (when
// not nil), a chunk of termDocs the caller took (docChunks.take): a
// new-term call writes a new row for most events of a batch of new users,
// one trip to the pool per call, not two per row.
func (t *termData) encodeHeld(found bool, held *[]byte, room int) []byte {
	switch {
	case found:
		return t.encodeIn(nil, nil, room)
	case held == nil:
		return t.encodeIn(&termDocs, nil, room)
	}
	return t.encodeIn(nil, held, room)
}

// encodeIn is encodeRoom with the document cut from held or docs (when
// not nil). A term row is written for most events of a batch of new
// users: its size is worked out and its fields appended in one pass, the
// bytes write's (the reference, TestTermEncodeAsWrite).
func (t *termData) encodeIn(docs *docChunks, held *[]byte, room int) []byte {
	var f byte
	if t.IsNew {
		f = 1
	}
	ns, sec := timeParts(t.Last)
	n := 2 + timeLen(ns, sec) + uvarintLen(uint64(len(t.Key))) + len(t.Key) // version, flags
	var b []byte
	switch {
	case held != nil:
		b = cutIn(held, n+room)
	case docs != nil:
		b = docs.cut(n + room)
	default:
		b = make([]byte, 0, n+room)
	}
	b = appendTimeParts(append(b, stateBinary, f), ns, sec)
	return append(binary.AppendUvarint(b, uint64(len(t.Key))), t.Key...)
}

func (t *termData) write(e *stateEnc) {
	var f byte
	if t.IsNew {
		f = 1
	}
	e.byte(f)
	e.time(t.Last)
	e.str(t.Key)
}

func loadTerm(key state.Key, cur state.Entity, found bool, t *termData) error {
	return loadTermData(key, cur.Data, found, t)
}

// loadTermData is loadTerm given the row's document.
func loadTermData(key state.Key, data []byte, found bool, t *termData) error {
	const kind = "new-term"
	if !found {
		return nil
	}
	d, ok, err := openDoc(kind, key, data, t)
	if !ok {
		return err
	}
	t.IsNew = d.flags()&1 != 0
	t.Last = d.time()
	t.Key = d.str()
	if err := d.end(); err != nil {
		*t = termData{}
		return stateErr(kind, key, err)
	}
	return nil
}

// --- sequence rows --------------------------------------------------------

func (s *seqData) encode() []byte { return s.encodeRoom(0) }

// encodeRoom is encode with room behind the document (stateEnc.writerRoom).
func (s *seqData) encodeRoom(room int) []byte { return s.encodeIn(nil, room) }

// encodeRow is encodeRoom for a row found (rewritten) or not (new): a new
// row's document is cut from the kind's chunks (docChunks).
func (s *seqData) encodeRow(found bool, room int) []byte {
	if found {
		return s.encodeIn(nil, room)
	}
	return s.encodeIn(&seqDocs, room)
}

// encodeIn is encodeRoom with the document cut from docs (when not nil).
// Its size is worked out field by field and the fields appended in one
// pass, the bytes write's (the reference, TestSeqEncodeAsWrite): a row
// holds its steps' snapshots, copied once.
func (s *seqData) encodeIn(docs *docChunks, room int) []byte {
	// In step and writer order: the same document for the same state.
	steps := 0
	n := 1 // version
	for i := range s.Steps {
		st := &s.Steps[i]
		if !st.ok {
			continue
		}
		steps++
		ns, sec := timeParts(st.T)
		n += uvarintLen(uint64(i)) + strLen(st.Key) + timeLen(ns, sec) + strLen(unsafe.String(unsafe.SliceData(st.Snap), len(st.Snap)))
		n += uvarintLen(uint64(len(st.Keys)))
		for _, k := range st.Keys {
			n += strLen(k)
		}
		n += uvarintLen(zigzag(int64(st.N)))
	}
	n += uvarintLen(uint64(steps)) + uvarintLen(uint64(len(s.W)))
	for _, w := range s.W {
		m := w.mark
		n += strLen(w.name) + uvarintLen(zigzag(m.Seq)) + uvarintLen(zigzag(int64(m.Index))) + uvarintLen(zigzag(int64(m.Sub)))
	}
	var b []byte
	if docs != nil {
		b = docs.cut(n + room)
	} else {
		b = make([]byte, 0, n+room)
	}
	b = binary.AppendUvarint(append(b, stateBinary), uint64(steps))
	for i := range s.Steps {
		st := &s.Steps[i]
		if !st.ok {
			continue
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = appendStr(b, st.Key)
		ns, sec := timeParts(st.T)
		b = appendTimeParts(b, ns, sec)
		b = append(binary.AppendUvarint(b, uint64(len(st.Snap))), st.Snap...)
		b = binary.AppendUvarint(b, uint64(len(st.Keys)))
		for _, k := range st.Keys {
			b = appendStr(b, k)
		}
		b = binary.AppendUvarint(b, zigzag(int64(st.N)))
	}
	b = binary.AppendUvarint(b, uint64(len(s.W)))
	for _, w := range s.W { // sorted by name
		m := w.mark
		b = appendStr(b, w.name)
		b = binary.AppendUvarint(b, zigzag(m.Seq))
		b = binary.AppendUvarint(b, zigzag(int64(m.Index)))
		b = binary.AppendUvarint(b, zigzag(int64(m.Sub)))
	}
	return b
}

// write is the reference writer of a sequence row (stateEnc, counted
// then written): encodeIn writes its bytes.
func (s *seqData) write(e *stateEnc) {
	e.uvarint(uint64(s.Steps.count()))
	for i, st := range s.Steps {
		if !st.ok {
			continue
		}
		e.uvarint(uint64(i))
		e.str(st.Key)
		e.time(st.T)
		e.bytes(st.Snap)
		e.uvarint(uint64(len(st.Keys)))
		for _, k := range st.Keys {
			e.str(k)
		}
		e.varint(int64(st.N))
	}
	e.uvarint(uint64(len(s.W)))
	for _, w := range s.W { // sorted by name
		m := w.mark
		e.str(w.name)
		e.varint(m.Seq)
		e.varint(int64(m.Index))
		e.varint(int64(m.Sub))
	}
}

// strLen is the length of s written length-prefixed (stateEnc.str).
func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// appendStr appends s length-prefixed (stateEnc.str).
func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// maxSeqStep bounds a stored step index (a rule has a handful of steps).
const maxSeqStep = 1 << 10

// loadSeq decodes a sequence row into s (its Steps all absent, grown as
// needed; W nil).
func loadSeq(key state.Key, data []byte, s *seqData) error { return loadSeqIn(key, data, s, nil) }

// loadSeqIn is loadSeq with the steps' keys and the writers from sc's
// slabs (when not nil).
func loadSeqIn(key state.Key, data []byte, s *seqData, sc *seqScratch) error {
	const kind = "sequence"
	if len(data) == 0 {
		return nil
	}
	d, ok, err := openDoc(kind, key, data, s)
	if !ok {
		return err
	}
	n := d.count(5)
	for range n {
		i := d.uvarint()
		if i >= maxSeqStep {
			d.fail("step index out of range")
			break
		}
		st := seqStep{Key: d.str(), T: d.time(), Snap: d.raw(), Keys: d.strsIn(sc), N: d.int()}
		if d.err != nil {
			break
		}
		s.Steps.put(int(i), st)
	}
	if n := d.count(4); n > 0 {
		if sc != nil {
			s.W = sc.writers.many(n)
		} else {
			s.W = make(seqWriters, 0, n)
		}
		for range n {
			w := d.str()
			s.W.set(w, seqMark{Seq: d.varint(), Index: d.int(), Sub: d.int()}, nil)
		}
	}
	if err := d.end(); err != nil {
		s.Steps.reset()
		s.W = nil
		return stateErr(kind, key, err)
	}
	return nil
}

// strsIn is strs, the list from sc's slab when sc is not nil.
func (d *stateDec) strsIn(sc *seqScratch) []string {
	if sc == nil {
		return d.strs()
	}
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := sc.keys.many(n)[:n]
	for i := range out {
		out[i] = d.str()
	}
	return out
}

// A snapshot's optional fields, by flag bit.
const (
	snapExtra = 1 << iota
	snapRaw
)

// encodeSnapshot writes a snapshot in the binary encoding (it is a step's
// Snap, read back by decodeSnapshot).
func encodeSnapshot(s *snapshot) []byte {
	var buf [maxSnapshotExtra]string
	names := buf[:0]
	for n := range s.Extra {
		names = append(names, n)
	}
	slices.Sort(names)
	write := func(e *stateEnc) {
		var f byte
		if len(names) > 0 {
			f |= snapExtra
		}
		if len(s.Raw) > 0 {
			f |= snapRaw
		}
		e.byte(f)
		e.time(s.Time)
		for _, f := range s.fields() {
			e.str(*f)
		}
		if len(names) > 0 {
			e.uvarint(uint64(len(names)))
			for _, n := range names {
				e.str(n)
				e.str(s.Extra[n])
			}
		}
		if len(s.Raw) > 0 {
			e.bytes(s.Raw)
		}
	}
	c := stateEnc{counting: true}
	write(&c)
	e := c.writer()
	write(&e)
	return e.b
}

// encodeEventSnapshot is encodeSnapshot(snapshotOf(ev, withRaw)) written
// straight from the event: no snapshot, map or sorted copy of its Extra.
// It is written in one pass into room for at most its size (each value's
// length and the longest prefix it can have: every value is Bounded), the
// room it did not use given back to the arena (a snapshot is taken for
// most sign-ins: a success starts a sequence row).
func encodeEventSnapshot(ev *event.Event, withRaw bool, arena *snapArena) []byte {
	a, g := &ev.Actor, &ev.Geo
	fields := [22]string{ev.Source, ev.Category, ev.Operation, string(ev.Result), ev.ResultCode, ev.Severity,
		ev.CorrelationID, ev.TenantID, ev.RecordID, a.UPN, a.Name, a.ObjectID, a.AppID, a.AppName,
		a.Type, a.IP, a.UserAgent, ev.Target, ev.Resource.ID, g.Region, g.Country, g.City}
	rec := ev.Record() // a flow tuple's is written when asked
	// A record its source's strict decoder parsed is valid JSON already
	// (RawValid; rec is then ev.Raw): not checked a second time.
	raw := withRaw && len(rec) <= maxSnapshotRaw && len(rec) > 0 && (ev.RawValid() || json.Valid(rec))
	// Room: version, flags, the time, and per field its length's prefix
	// (2 bytes: a Bounded value is shorter than 1<<14) and its bytes.
	n := 2 + maxTimeSize + boundedPrefix*len(fields)
	for i := range fields {
		if len(fields[i]) > MaxKeptValue {
			fields[i] = Bounded(fields[i])
		}
		n += len(fields[i])
	}
	// The first maxSnapshotExtra names in order, Bounded, sorted again
	// (a bounded name may sort elsewhere), the later of two alike kept.
	// An Extra holds each name once (Event.Set replaces), so it is read
	// in name order by position (extra.At(order[i]) the i-th), without a
	// look-up per name or a copy; the order is worked out once for names
	// a source sets record after record in the same order (the arena
	// remembers a few).
	var obuf [maxSnapshotExtra]uint8
	var order []uint8
	x := ev.Extra
	if x.Len() > 0 {
		long := x.Len() > maxSnapshotExtra
		extra := 0
		if !long {
			order = arena.nameOrder(x, obuf[:])
			for _, j := range order {
				name, v := x.At(int(j))
				long = long || len(name) > MaxKeptValue || len(v) > MaxKeptValue
				extra += len(name) + len(v)
			}
		}
		if long {
			x = boundedExtra(x)
			order = identityOrder(obuf[:], x.Len())
			extra = 0
			for j := range x.Len() {
				name, v := x.At(j)
				extra += len(name) + len(v)
			}
		}
		n += 1 + extra + 2*boundedPrefix*len(order) // the count (at most maxSnapshotExtra), then name and value
	}
	var f byte
	if len(order) > 0 {
		f |= snapExtra
	}
	if raw {
		f |= snapRaw
		n += rawPrefix + len(rec)
	}
	// Appended within the room (an append past it, were the room
	// miscounted, would move b, not write past it).
	b := append(arena.take(n), stateBinary, f)
	ns, sec := timeParts(ev.Time)
	b = appendTimeParts(b, ns, sec)
	for k := range fields { // by index: ranging over the array copies it
		b = appendSized(b, fields[k])
	}
	if len(order) > 0 {
		b = append(b, byte(len(order)))
		for _, j := range order {
			name, v := x.At(int(j))
			b = appendSized(appendSized(b, name), v)
		}
	}
	if raw {
		b = appendStr(b, unsafe.String(unsafe.SliceData(rec), len(rec)))
	}
	return arena.trim(b, len(b))
}

// Bounds of encodeEventSnapshot's room: a time's encoding (a uvarint of
// at most 1e9 and a zig-zag varint of 64 bits), the length prefix of a
// Bounded value (below 1<<14) and of a raw record (below 1<<21).
const (
	maxTimeSize   = 5 + binary.MaxVarintLen64
	boundedPrefix = 2
	rawPrefix     = 3
)

// appendSized is appendStr for a value most often short or empty (a
// snapshot's fields): a one-byte prefix, and no copy of an empty value.
func appendSized(b []byte, s string) []byte {
	if len(s) < 0x80 {
		b = append(b, byte(len(s)))
		if len(s) == 0 {
			return b
		}
		return append(b, s...)
	}
	return appendStr(b, s)
}

// boundedExtra returns the first maxSnapshotExtra values of x by name,
// each name and value Bounded, in name order, the later of two names alike
// once Bounded kept: the Extra a snapshot keeps, when x holds more than
// that or a long name or value (rare: a source's names are its own).
func boundedExtra(x event.Extra) event.Extra {
	type pair struct{ n, v string }
	ps := make([]pair, 0, x.Len())
	for n, v := range x.All() {
		ps = append(ps, pair{n, v})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return strings.Compare(a.n, b.n) })
	ps = ps[:min(len(ps), maxSnapshotExtra)]
	for i := range ps {
		ps[i] = pair{Bounded(ps[i].n), Bounded(ps[i].v)}
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return strings.Compare(a.n, b.n) })
	var out event.Event
	for i, p := range ps {
		if i+1 < len(ps) && ps[i+1].n == p.n {
			continue
		}
		out.Set(p.n, p.v)
	}
	return out.Extra
}

// identityOrder returns the positions 0..n-1 in buf.
func identityOrder(buf []uint8, n int) []uint8 {
	order := buf[:n]
	for i := range order {
		order[i] = uint8(i)
	}
	return order
}

// nameOrder returns the positions of x's values (at most
// maxSnapshotExtra, distinct names) in name order, stably, in buf or the
// arena's memory. The orders of the last few name lists sorted are
// remembered (a nil arena remembers none): the same names in the same
// order need no comparison.
func (a *snapArena) nameOrder(x event.Extra, buf []uint8) []uint8 {
	nameAt := func(i uint8) string { n, _ := x.At(int(i)); return n }
	if a != nil {
		// The list last met first: a source's records mostly set the
		// same names, record after record.
		for t := range len(a.orders) {
			k := (a.lastOrder + t) % len(a.orders)
			o := &a.orders[k]
			if len(o.names) == x.Len() && o.names != nil && sameNames(o.names, x) {
				a.lastOrder = k
				return o.order
			}
		}
	}
	order := identityOrder(buf, x.Len())
	// Insertion sort of the positions, stable: a dozen or so names.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && nameAt(order[j]) < nameAt(order[j-1]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	if a != nil {
		o := &a.orders[a.nextOrder]
		a.lastOrder = a.nextOrder
		a.nextOrder = (a.nextOrder + 1) % len(a.orders)
		o.names = o.names[:0]
		for i := range order {
			o.names = append(o.names, nameAt(uint8(i)))
		}
		o.order = append(o.order[:0], order...)
	}
	return order
}

// sameNames reports whether x's names are names, in order (x holds as
// many). A source's names are most often its constants, the same strings
// record after record: told alike by where their bytes are before the
// bytes are compared.
func sameNames(names []string, x event.Extra) bool {
	for i, name := range names {
		n, _ := x.At(i)
		if len(n) != len(name) || unsafe.StringData(n) != unsafe.StringData(name) && n != name {
			return false
		}
	}
	return true
}

// snapArena hands out a call's snapshots from shared chunks, not one
// allocation each: a snapshot is exactly its size (no room behind it) and
// its bytes are never written again. A nil arena allocates each. It also
// remembers the order of the last Extra names it sorted (nameOrder).
type snapArena struct {
	chunk []byte
	// orders are the last Extra name lists sorted (nameOrder), as they
	// were set, with their positions in name order; nextOrder is the
	// one to replace next, lastOrder the one last met (looked at first).
	orders [4]struct {
		names []string
		order []uint8
	}
	nextOrder, lastOrder int
}

// maxSnapChunk bounds a chunk's size; a snapshot past half a chunk has its
// own allocation.
const maxSnapChunk = 64 << 10

// take returns an empty slice of capacity n.
func (a *snapArena) take(n int) []byte {
	if a == nil {
		return make([]byte, 0, n)
	}
	if cap(a.chunk)-len(a.chunk) < n {
		size := min(max(2*cap(a.chunk), 4<<10), maxSnapChunk)
		if n > size/2 {
			return make([]byte, 0, n)
		}
		a.chunk = make([]byte, 0, size)
	}
	i := len(a.chunk)
	a.chunk = a.chunk[:i+n]
	return a.chunk[i : i : i+n]
}

// trim returns b[:used], cut to its length, and gives the arena back the
// room after it when b is the last room taken (take).
func (a *snapArena) trim(b []byte, used int) []byte {
	if n := cap(b); a != nil && n > 0 && len(a.chunk) >= n && unsafe.SliceData(a.chunk[len(a.chunk)-n:]) == unsafe.SliceData(b) {
		a.chunk = a.chunk[:len(a.chunk)-(n-used)]
	}
	return b[:used:used]
}

// fields are the snapshot's string fields in their encoded order (append
// only: a new field goes last, behind a flag).
func (s *snapshot) fields() [22]*string {
	a, g := &s.Actor, &s.Geo
	return [22]*string{&s.Source, &s.Category, &s.Operation, &s.Result, &s.ResultCode, &s.Severity,
		&s.CorrelationID, &s.TenantID, &s.RecordID, &a.UPN, &a.Name, &a.ObjectID, &a.AppID, &a.AppName,
		&a.Type, &a.IP, &a.UserAgent, &s.Target, &s.ResourceID, &g.Region, &g.Country, &g.City}
}

// decodeSnapshot reads a step's snapshot: binary, or JSON as written by
// an earlier version.
func decodeSnapshot(data []byte) (snapshot, error) {
	var s snapshot
	if len(data) == 0 {
		return s, fmt.Errorf("%w: empty snapshot", errStateCorrupt)
	}
	d, legacy, err := openState(data)
	if err != nil {
		return s, err
	}
	if legacy {
		var v snapshot
		if err := json.Unmarshal(data, &v); err != nil {
			return snapshot{}, fmt.Errorf("%w: %w", errStateCorrupt, err)
		}
		return v, nil
	}
	f := d.flags()
	s.Time = d.time()
	for _, p := range s.fields() {
		*p = d.str()
	}
	if f&snapExtra != 0 {
		n := d.count(2)
		s.Extra = make(map[string]string, n)
		for range n {
			k := d.str()
			s.Extra[k] = d.str()
		}
	}
	if f&snapRaw != 0 {
		s.Raw = d.raw()
	}
	if err := d.end(); err != nil {
		return snapshot{}, err
	}
	return s, nil
}

// --- impossible-travel rows -----------------------------------------------

func (t *travelData) encode() []byte { return t.encodeRoom(0) }

// encodeRoom is encode with room behind the document (stateEnc.writerRoom).
func (t *travelData) encodeRoom(room int) []byte { return t.encodeIn(nil, room) }

// encodeRow is encodeRoom for a row found (rewritten) or not (new): a new
// row's document is cut from the kind's chunks (docChunks).
func (t *travelData) encodeRow(found bool, room int) []byte {
	if found {
		return t.encodeIn(nil, room)
	}
	return t.encodeIn(&travelDocs, room)
}

// encodeIn is encodeRoom with the document cut from docs (when not nil).
func (t *travelData) encodeIn(docs *docChunks, room int) []byte {
	write := func(e *stateEnc) {
		e.uvarint(uint64(len(t.Points)))
		for _, p := range t.Points {
			e.str(p.Key)
			e.time(p.T)
			e.float(p.Lat)
			e.float(p.Lon)
			e.str(p.IP)
			e.str(p.Place)
		}
	}
	c := stateEnc{counting: true}
	write(&c)
	e := c.writerIn(docs, room)
	write(&e)
	return e.b
}

func loadTravel(key state.Key, cur state.Entity, found bool, t *travelData) error {
	const kind = "impossible_travel"
	if !found {
		return nil
	}
	d, ok, err := openDoc(kind, key, cur.Data, t)
	if !ok {
		return err
	}
	n := d.count(20)
	if n > 0 {
		t.Points = make([]travelPoint, n)
		for i := range t.Points {
			t.Points[i] = travelPoint{Key: d.str(), T: d.time(), Lat: d.float(), Lon: d.float(), IP: d.str(), Place: d.str()}
		}
	}
	if err := d.end(); err != nil {
		*t = travelData{}
		return stateErr(kind, key, err)
	}
	return nil
}
