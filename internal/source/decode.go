package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/azdetect/azdetect/internal/event"
)

// Framing: how a body (an Event Hub message, a PT1H.json blob, an exported
// file) is cut into records. It lives here once, for every source; parsers
// only ever see one record.
//
// Accepted shapes, in any mix, one after another:
//   - an envelope {"records":[...]}: the array is streamed element by element,
//     so a large flow-log blob is never held whole in memory;
//   - a bare JSON array of records;
//   - JSON Lines, and objects concatenated or pretty-printed over many lines;
//   - gzip (by its magic bytes), a UTF-8 byte-order mark, blank lines;
//   - plain text lines (Storage Analytics "1.0;..."), yielded with Text set.
//
// A record that cannot be framed (single-quoted "JSON", a truncated record,
// a raw newline inside a string) is yielded with Err set and its bytes, so
// the caller can dead-letter it, and framing resumes at the next line.

// Record is one framed record of a body.
type Record struct {
	Index  int    // position in the body, from 0, counting every record yielded
	Offset int64  // byte offset of the record in the (decompressed) body
	Length int64  // bytes the record spans in the body: more than len(Bytes) when cut (ErrTooLarge)
	Bytes  []byte // the record; see Records for how long it stays valid
	Text   bool   // a plain text line, not JSON
	Err    error  // the record could not be framed; Bytes holds what was read

	// unchecked: framed by its line end alone (Registry.Records), its JSON
	// not checked yet; parsing it checks it (see lineRecord).
	unchecked bool
}

// MaxRecordBytes bounds one record. A longer one is yielded as malformed
// (first MaxRecordBytes bytes kept) instead of growing memory without end.
const MaxRecordBytes = 32 << 20

// Framing errors, wrapped with detail in Record.Err.
var (
	ErrInvalidJSON = event.ErrSyntax // "invalid JSON"
	ErrTruncated   = errors.New("truncated record")
	ErrTooLarge    = errors.New("record too large")
)

const readBufferSize = 64 << 10

// Decompression caps. A gzip body is read only while it inflates to at
// most MaxInflatedBytes and, past the first inflateRatioAfter bytes, to at
// most MaxInflateRatio times the compressed bytes read so far (Azure's
// JSON logs inflate 10 to 30 times; a bomb hundreds). Past a cap, Records
// returns an error wrapping ErrInflateLimit after the records read so far:
// the rest of the body is not read.
const (
	MaxInflatedBytes  = 4 << 30
	MaxInflateRatio   = 100
	inflateRatioAfter = 64 << 20
)

// ErrInflateLimit is what a body cut short by a decompression cap wraps.
var ErrInflateLimit = errors.New("decompression limit")

// Records reads a body and calls fn once per record, in order. Record.Bytes
// is only valid until fn returns: the buffer is reused for the next record,
// so copy it to keep it (Registry.Parse copies what it keeps). An error from
// fn stops the reading and is returned as is; a read error (including a
// corrupt gzip stream) is returned wrapped with its offset after the partial
// record, if any, was yielded with Err set. Malformed records never stop it.
// Records takes no context: fn returns ctx.Err() to stop on cancellation.
func Records(r io.Reader, fn func(rec Record) error) error {
	return records(r, fn, false)
}

// records is Records; lines lets the framer take a JSON Lines record by its
// line end alone (lineRecord), for a caller that checks it while parsing.
func records(r io.Reader, fn func(rec Record) error, lines bool) error {
	b, err := OpenBody(r)
	if err != nil {
		return err
	}
	defer b.Close()
	f := &framer{br: b.br, off: b.off, fn: fn, lines: lines, cut: -1}
	if re, ok := r.(RecordEnds); ok && b.zr == nil {
		f.ends = re.RecordEnds()
	}
	return f.run()
}

// RecordEnds is a body that knows where its records end: the offsets in
// the body just past the closing brace of each object that an envelope's
// records array (or a bare array) holds, in order. The handler finds them
// while it decodes the host's text, which stops at every quote of a body
// anyway (invoke's hostStrings), so that the framer does not walk each
// record for its end before the parser's strict decoding walks it
// (elementRecord). An end is only a candidate, as elementEnd's is: one
// that is wrong makes the strict decoding refuse the record, which is
// then framed as before, so a wrong end costs time, never a record. A
// gzip'd body's ends are not used (they would be the compressed bytes').
// A body gives no end for a record nested deeper than the framing's own
// check takes (skipValueDepth), which the framing turns down.
type RecordEnds interface {
	RecordEnds() []int32
}

// Body is a body opened for reading: decompressed when gzip'd (within the
// decompression caps), its byte-order mark skipped. Records frames one
// whole; the pipeline cuts one into blocks (Next) to frame them on several
// goroutines at once (Registry.FrameBlock).
type Body struct {
	br    *bufio.Reader
	off   int64 // offset of the next unread byte in the decompressed body
	zr    *gzip.Reader
	outer *bufio.Reader // the compressed body's reader, when gzip'd
}

// OpenBody opens r for reading; Close gives its buffers back. An error is
// a gzip body whose header cannot be read.
func OpenBody(r io.Reader) (*Body, error) {
	b := &Body{br: getReader(r)}
	if magic, _ := b.br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		in := &countingReader{r: b.br}
		zr, err := gzip.NewReader(in)
		if err != nil {
			putReader(b.br)
			return nil, fmt.Errorf("open gzip body: %w", err)
		}
		b.zr, b.outer = zr, b.br
		b.br = getReader(&inflateLimit{r: zr, in: in, max: MaxInflatedBytes, ratio: MaxInflateRatio, after: inflateRatioAfter})
	}
	if bom, _ := b.br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = b.br.Discard(3)
		b.off = 3
	}
	return b, nil
}

// Close gives the body's buffers back.
func (b *Body) Close() {
	if b.br == nil {
		return
	}
	putReader(b.br)
	if b.zr != nil {
		b.zr.Close()
		putReader(b.outer)
	}
	b.br, b.zr, b.outer = nil, nil, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// inflateLimit stops a decompressed stream at the caps (MaxInflatedBytes,
// MaxInflateRatio).
type inflateLimit struct {
	r     io.Reader
	in    *countingReader // the compressed bytes read
	n     int64           // inflated bytes returned
	max   int64
	ratio int64
	after int64 // the ratio is checked past this many inflated bytes
}

func (l *inflateLimit) Read(p []byte) (int, error) {
	if l.n >= l.max {
		return 0, fmt.Errorf("%w: gzip body inflates past %d bytes (decompress it first to read it all)", ErrInflateLimit, l.max)
	}
	if l.n >= l.after && l.n > l.ratio*l.in.n {
		return 0, fmt.Errorf("%w: gzip body inflates over %d times its size (%d bytes from %d; a decompression bomb?)",
			ErrInflateLimit, l.ratio, l.n, l.in.n)
	}
	if rest := l.max - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// readers are reused across bodies: an Event Hub batch is many small
// bodies, and a fresh 64 KiB buffer each would dominate allocations.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil) // drop the body's reader
	readers.Put(br)
}

// framer holds the reading state of one body.
type framer struct {
	br    *bufio.Reader
	fn    func(Record) error
	off   int64  // offset of the next unread byte
	buf   []byte // the record being framed, reused
	index int
	rerr  error // read error other than io.EOF
	// peekErr is a read error lineRecord's look ahead met (bufio hands
	// an error out once): it becomes rerr when the bytes read before it
	// are used up, as window would have met it.
	peekErr error
	// trimmed is how many line-end bytes the record being emitted lost
	// to trimming: they are not part of its Length.
	trimmed int
	lines   bool // lineRecord may frame top-level objects (Registry.Records)

	// For framing a block of a body on its own (block.go): top is where
	// the top-level value being framed starts, inValue whether one is,
	// and cut the top of the first value the block's end cut short (-1:
	// none), from which on what was yielded depends on the bytes after
	// the block.
	top     int64
	inValue bool
	cut     int64

	// ends are the body's record ends when it knows them (RecordEnds);
	// nextEnd is the first of them not yet passed.
	ends    []int32
	nextEnd int
}

// window returns the unread buffered bytes, reading more when none are
// buffered; it is empty at the end of the body.
func (f *framer) window() []byte {
	if f.br.Buffered() == 0 {
		if _, err := f.br.Peek(1); err != nil {
			if f.peekErr != nil && f.rerr == nil {
				f.rerr = f.peekErr
			}
			if !errors.Is(err, io.EOF) && f.rerr == nil {
				f.rerr = err
			}
			if f.inValue && f.cut < 0 {
				f.cut = f.top
			}
			return nil
		}
	}
	p, _ := f.br.Peek(f.br.Buffered())
	return p
}

func (f *framer) consume(n int) {
	_, _ = f.br.Discard(n)
	f.off += int64(n)
}

// peekByte returns the next unread byte.
func (f *framer) peekByte() (byte, bool) {
	p := f.window()
	if len(p) == 0 {
		return 0, false
	}
	return p[0], true
}

// skipBlank consumes blanks (and commas between array elements when
// commas is set).
func (f *framer) skipBlank(commas bool) {
	for {
		p := f.window()
		if len(p) == 0 {
			return
		}
		i := 0
		for i < len(p) && (isBlank(p[i]) || (commas && p[i] == ',')) {
			i++
		}
		f.consume(i)
		if i < len(p) {
			return
		}
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (f *framer) emit(rec Record) error {
	if rec.Length == 0 {
		rec.Length = max(f.off-rec.Offset-int64(f.trimmed), int64(len(rec.Bytes)))
	}
	f.trimmed = 0
	rec.Index = f.index
	f.index++
	return f.fn(rec)
}

func (f *framer) readErr() error {
	if f.rerr != nil {
		return fmt.Errorf("read body at offset %d: %w", f.off, f.rerr)
	}
	return nil
}

// run frames the top level of the body.
func (f *framer) run() error {
	for {
		f.inValue = false
		f.skipBlank(false)
		c, ok := f.peekByte()
		if !ok {
			return f.readErr()
		}
		f.top, f.inValue = f.off, true
		var err error
		switch c {
		case '{':
			err = f.topObject()
		case '[':
			f.consume(1)
			err = f.array()
		default:
			err = f.textLine()
		}
		if err != nil {
			return err
		}
		if f.rerr != nil {
			return f.readErr()
		}
	}
}

// textLine yields one plain text line (without its line end).
func (f *framer) textLine() error {
	start := f.off
	line, tooLarge := f.readLine(f.buf[:0])
	f.buf = line
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil
	}
	f.trimmed = len(f.buf) - len(line)
	rec := Record{Offset: start, Bytes: line, Text: true}
	if tooLarge {
		rec.Err = fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, MaxRecordBytes)
	}
	return f.emit(rec)
}

// readLine appends bytes up to and including the next newline to dst (at
// most MaxRecordBytes; the rest of an overlong line is consumed and dropped).
func (f *framer) readLine(dst []byte) (line []byte, tooLarge bool) {
	for {
		p := f.window()
		if len(p) == 0 {
			return dst, tooLarge
		}
		n := bytes.IndexByte(p, '\n') + 1
		if n == 0 {
			n = len(p)
		}
		if room := MaxRecordBytes - len(dst); room < n {
			dst = append(dst, p[:max(room, 0)]...)
			tooLarge = true
		} else {
			dst = append(dst, p[:n]...)
		}
		f.consume(n)
		if p[n-1] == '\n' {
			return dst, tooLarge
		}
	}
}

// envelopePrefix reports whether p starts with `{"records":[` (blanks
// allowed between tokens) and how many bytes that prefix takes. more is
// true when p is too short to tell.
func envelopePrefix(p []byte) (n int, ok, more bool) {
	i := 0
	for _, tok := range []string{"{", `"records"`, ":", "["} {
		i = event.SkipSpace(p, i)
		if len(p)-i < len(tok) {
			return 0, false, bytes.HasPrefix([]byte(tok), p[i:])
		}
		if string(p[i:i+len(tok)]) != tok {
			return 0, false, false
		}
		i += len(tok)
	}
	return i, true, false
}

// topObject frames an object at the top level: an envelope whose first
// member is "records" is streamed; anything else is framed whole.
func (f *framer) topObject() error {
	if f.lines {
		if done, err := f.lineRecord(); done {
			return err
		}
	}
	p := f.window()
	n, ok, more := envelopePrefix(p)
	if more {
		// The prefix straddles the buffered bytes: ask for more, within
		// what the buffer can hold (pretty-printing adds a few blanks).
		p, _ = f.br.Peek(256)
		n, ok, _ = envelopePrefix(p)
	}
	if ok {
		f.consume(n)
		if err := f.array(); err != nil {
			return err
		}
		f.skipEnvelopeTail()
		return nil
	}
	start := f.off
	val, ferr := f.frameValue(true)
	if ferr != nil {
		return f.emit(Record{Offset: start, Bytes: val, Err: ferr})
	}
	// An envelope whose "records" member is not the first: rare, and the
	// object is already in memory, so walk its array there.
	if !containsRecordsName(val) {
		return f.emit(Record{Offset: start, Bytes: val})
	}
	if recs, ok := event.Member(val, "records"); ok && len(recs) > 0 && recs[0] == '[' {
		if _, hasTime := event.Member(val, "time"); !hasTime {
			return f.emitElements(val, recs, start)
		}
	}
	return f.emit(Record{Offset: start, Bytes: val})
}

// errReframe is what Registry.Records' parsing answers for an unchecked
// record that is not one valid JSON value, or that it did not parse and
// may be an envelope: lineRecord then leaves the line to the byte-by-byte
// framing, which decides what it is.
var errReframe = errors.New("reframe")

// lineRecord is the fast path of JSON Lines, the shape of exported logs:
// a top-level object that ends its line is yielded as it stands in the
// read buffer, unchecked. Framing, checking and decoding are then one walk
// over its bytes (the parser's strict decoder), where the byte-by-byte
// framing walked them once more. When the parser finds the line is not one
// valid JSON value (two objects on a line, a record cut short whose line
// ends in "}"), it answers errReframe, nothing was yielded, and framing
// goes on as it would have: frameValue decides what the bytes are. done
// is false when the line is not for the fast path, or was refused.
func (f *framer) lineRecord() (done bool, err error) {
	p := f.window()
	j := bytes.IndexByte(p, '\n')
	for j < 0 && len(p) < f.br.Size() && f.peekErr == nil {
		// The line straddles the buffered bytes: read on, as bytes come
		// (a read's worth at a time), within what the buffer holds.
		n := len(p)
		q, ok := f.readOn(n)
		if !ok {
			break // the end of the body
		}
		p = q
		if k := bytes.IndexByte(p[n:], '\n'); k >= 0 {
			j = n + k
		}
	}
	if j < 0 {
		return false, nil // longer than the buffer (or the last line, unterminated)
	}
	end := j
	for end > 0 && isBlank(p[end-1]) {
		end--
	}
	if end == 0 || p[end-1] != '}' {
		return false, nil
	}
	if _, ok, _ := envelopePrefix(p[:end]); ok {
		return false, nil // an envelope is streamed by topObject
	}
	// An envelope whose "records" member is not the first is not
	// looked for here: it has no time, so no parser takes it, and the
	// parsing answers errReframe for a line holding "records" that it
	// did not parse (Registry.parsing).
	err = f.fn(Record{Index: f.index, Offset: f.off, Length: int64(end), Bytes: p[:end], unchecked: true})
	if errors.Is(err, errReframe) {
		return false, nil
	}
	f.index++
	f.consume(j + 1)
	return true, err
}

// readOn asks the reader for more than the n bytes buffered, as bytes
// come (a read's worth at a time), and returns what is buffered then, or
// false at the end of the body. A read error is kept in f.peekErr.
func (f *framer) readOn(n int) ([]byte, bool) {
	q, err := f.br.Peek(n + 1)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		f.peekErr = err
	}
	if len(q) <= n {
		return nil, false
	}
	p, _ := f.br.Peek(f.br.Buffered())
	return p, true
}

// containsRecordsName is bytes.Contains(b, `"records"`), twice as fast on
// records: it pivots on the pattern's one 'c', where bytes.Index pivots on
// its '"', which every member name of a record starts with.
func containsRecordsName(b []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], 'c')
		if j < 0 {
			return false
		}
		i += j
		if i >= 3 && i+6 <= len(b) && string(b[i-3:i]) == `"re` && string(b[i+1:i+6]) == `ords"` {
			return true
		}
	}
}

// emitElements yields the elements of arr, a sub-slice of body framed at
// offset base.
func (f *framer) emitElements(body, arr []byte, base int64) error {
	var ferr error
	_ = event.ArrayEach(arr, func(el []byte) bool {
		// el is a sub-slice of body: the capacity difference is its index.
		at := base + int64(cap(body)-cap(el))
		ferr = f.emit(Record{Offset: at, Length: int64(len(el)), Bytes: el})
		return ferr == nil
	})
	return ferr
}

// skipEnvelopeTail consumes what follows the records array of an envelope
// up to the envelope's closing brace (normally just "}").
func (f *framer) skipEnvelopeTail() {
	s := scanner{depth: 1, open: 1}
	for {
		p := f.window()
		if len(p) == 0 {
			return
		}
		for i, c := range p {
			if s.step(c) == stepDone {
				f.consume(i + 1)
				return
			}
		}
		f.consume(len(p))
	}
}

// array frames the elements of an array whose '[' was consumed, up to and
// including its ']'.
func (f *framer) array() error {
	for {
		f.skipBlank(true)
		c, ok := f.peekByte()
		if !ok {
			return nil // truncated array: every complete element was yielded
		}
		if c == ']' {
			f.consume(1)
			return nil
		}
		if f.lines && c == '{' {
			if done, err := f.elementRecord(); done {
				if err != nil {
					return err
				}
				continue
			}
		}
		start := f.off
		val, ferr := f.frameValue(false)
		if err := f.emit(Record{Offset: start, Bytes: val, Err: ferr}); err != nil {
			return err
		}
	}
}

// elementRecord is lineRecord's fast path for an object element of an
// array (an Event Hub body's envelope, a PT1H.json blob): its end is found
// by its brackets alone (elementEnd, which checks nothing), and it is
// yielded as it stands in the read buffer, unchecked, so that the parser's
// strict decoding is the one walk that checks and decodes it. Only an
// element that a strict decoding would pass can be parsed, and then its
// end is the one frameValue would have found; anything else comes back as
// errReframe, nothing was yielded, and frameValue frames the element as
// before (a malformed element alone, a value cut short, an element longer
// than the buffer). done is false when the element is not for the fast
// path (not in the buffer, nested deeper than frameValue's check takes),
// or was refused.
func (f *framer) elementRecord() (done bool, err error) {
	p := f.window()
	if end, ok := f.knownEnd(p); ok {
		err = f.fn(Record{Index: f.index, Offset: f.off, Length: int64(end), Bytes: p[:end], unchecked: true})
		if !errors.Is(err, errReframe) {
			f.index++
			f.consume(end)
			return true, err
		}
		// A wrong end: the element's own brackets decide.
	}
	var e elementEnd
	end := e.scan(p)
	for end < 0 && !e.deep && len(p) < f.br.Size() && f.peekErr == nil {
		// The element straddles the buffered bytes: read on, as bytes
		// come, within what the buffer holds (as lineRecord does).
		n := len(p)
		q, ok := f.readOn(n)
		if !ok {
			break // the end of the body
		}
		p = q
		end = e.scan(p)
	}
	if end < 0 {
		return false, nil
	}
	err = f.fn(Record{Index: f.index, Offset: f.off, Length: int64(end), Bytes: p[:end], unchecked: true})
	if errors.Is(err, errReframe) {
		return false, nil
	}
	f.index++
	f.consume(end)
	return true, err
}

// knownEnd is the end of the element at f.off that the body gave
// (RecordEnds), when it gave one within the n bytes buffered, just past
// a '}' (so that a candidate cannot take a blank after the element: the
// strict decoding would take that too).
func (f *framer) knownEnd(p []byte) (int, bool) {
	for f.nextEnd < len(f.ends) && int64(f.ends[f.nextEnd]) <= f.off {
		f.nextEnd++
	}
	if f.nextEnd == len(f.ends) {
		return 0, false
	}
	end := int64(f.ends[f.nextEnd]) - f.off
	if end > int64(len(p)) || p[end-1] != '}' {
		return 0, false
	}
	return int(end), true
}

// skipValueDepth is how deep event.SkipValue, frameValue's check, lets
// values nest (event's maxDepth): the 1001st open object or array is an
// error there, where the strict decoding takes 10,000.
const skipValueDepth = 1000

// elementEnd finds where the object at the start of a buffer ends by
// counting its brackets outside strings, resumable as the buffer grows.
// It checks nothing: what it finds is only a candidate for the strict
// decoding. Most of a record is string content: a string's closing quote
// is found with bytes.IndexByte, and an escaped one (a backslash before
// it, rare) by counting the backslashes before it.
type elementEnd struct {
	i     int  // the next byte to look at
	depth int  // objects and arrays open
	str   int  // inside a string: 1 + where its content starts; 0 outside strings
	deep  bool // nested deeper than skipValueDepth: give up
}

// scan goes on over p, which holds the bytes scanned before, and returns
// the offset just past the value's closing bracket, or -1 when p ends
// first (or deep).
func (e *elementEnd) scan(p []byte) int {
	i := e.i
	for {
		if e.str > 0 {
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				e.i = len(p)
				return -1
			}
			i += j + 1
			// p[i-2] is at worst the opening quote.
			if p[i-2] == '\\' && escaped(p[e.str-1:i-1]) {
				continue
			}
			e.str = 0
		}
		for i < len(p) && !bracketOrQuote[p[i]] {
			i++
		}
		if i >= len(p) {
			e.i = i
			return -1
		}
		switch p[i] {
		case '"':
			e.str = i + 2
		case '{', '[':
			if e.depth >= skipValueDepth {
				e.deep = true
				return -1
			}
			e.depth++
		default: // '}', ']'
			e.depth--
			if e.depth <= 0 {
				return i + 1
			}
		}
		i++
	}
}

// bracketOrQuote marks the bytes elementEnd stops at outside strings.
var bracketOrQuote = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// escaped reports whether a quote after s, the content of a string before
// it, is escaped: an odd number of backslashes end s.
func escaped(s []byte) bool {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// frameValue reads one JSON value into f.buf and checks it. At the top
// level (topLevel), a malformed value takes the rest of its line with it and
// framing resumes on the next line; inside an array the element alone.
func (f *framer) frameValue(topLevel bool) ([]byte, error) {
	buf := f.buf[:0]
	defer func() { f.buf = buf[:0] }()
	c, _ := f.peekByte()
	if c != '{' && c != '[' {
		// A scalar element (only inside arrays): up to the next delimiter.
		return f.frameScalar(buf)
	}
	// Fast path: the whole value is in the buffer and well formed. One
	// structural pass (event.SkipValue, the check below) both finds its end
	// and validates it; a valid value never trips the scanner's truncation
	// or raw-newline rules. A value that straddles the buffer or fails
	// the check is framed byte by byte below, which decides what it is.
	if p := f.window(); len(p) > 0 {
		if end, err := event.SkipValue(p, 0); err == nil {
			buf = append(buf, p[:end]...)
			f.consume(end)
			return buf, nil
		}
	}
	s := scanner{}
	for {
		p := f.window()
		if len(p) == 0 {
			if f.rerr != nil {
				return buf, fmt.Errorf("%w: %w", ErrTruncated, f.rerr)
			}
			return buf, fmt.Errorf("%w: body ends inside a record", ErrTruncated)
		}
		for i := 0; i < len(p); i++ {
			if s.inStr && !s.esc {
				// Jump over the plain bytes of a string in one go: most of
				// a record is string content.
				j := stringStop(p[i:])
				if j < 0 {
					i = len(p) - 1
					continue
				}
				i += j
			}
			switch s.step(p[i]) {
			case stepDone:
				buf = append(buf, p[:i+1]...)
				f.consume(i + 1)
				return f.check(buf, topLevel)
			case stepNewRecord:
				// A line opening a new object where none can start: the
				// record before it was cut short. Leave the line unread.
				buf = append(buf, p[:i]...)
				f.consume(i)
				return buf, fmt.Errorf("%w: a new record starts at offset %d", ErrTruncated, f.off)
			case stepRawNewline:
				buf = append(buf, p[:i+1]...)
				f.consume(i + 1)
				return buf, fmt.Errorf("%w: raw newline inside a string", ErrInvalidJSON)
			}
		}
		if len(buf)+len(p) > MaxRecordBytes {
			buf = append(buf, p[:MaxRecordBytes-len(buf)]...)
			f.consume(len(p))
			f.dropLine()
			return buf, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxRecordBytes)
		}
		buf = append(buf, p...)
		f.consume(len(p))
	}
}

// stringStop returns the index of the first '"', '\\' or newline in p, or -1:
// where the scanner must look again inside a string. bytes.IndexAny builds
// a set on every call; three IndexByte runs over ever shorter spans do not.
func stringStop(p []byte) int {
	end := bytes.IndexByte(p, '"')
	if end < 0 {
		end = len(p)
	}
	if j := bytes.IndexByte(p[:end], '\\'); j >= 0 {
		end = j
	}
	if j := bytes.IndexByte(p[:end], '\n'); j >= 0 {
		end = j
	}
	if end == len(p) {
		return -1
	}
	return end
}

// check validates a framed value; a malformed one at the top level takes the
// rest of its line.
func (f *framer) check(buf []byte, topLevel bool) ([]byte, error) {
	end, err := event.SkipValue(buf, 0)
	if err == nil && end == len(buf) {
		return buf, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: trailing bytes at offset %d", ErrInvalidJSON, end)
	}
	if topLevel {
		full, _ := f.readLine(buf)
		buf = bytes.TrimRight(full, "\r\n")
		f.trimmed = len(full) - len(buf)
	}
	return buf, err
}

// dropLine consumes the rest of the current line.
func (f *framer) dropLine() {
	for {
		p := f.window()
		if len(p) == 0 {
			return
		}
		if n := bytes.IndexByte(p, '\n'); n >= 0 {
			f.consume(n + 1)
			return
		}
		f.consume(len(p))
	}
}

// frameScalar reads a string, number or literal array element.
func (f *framer) frameScalar(buf []byte) ([]byte, error) {
	inStr, esc := false, false
	for {
		p := f.window()
		if len(p) == 0 {
			return f.check(buf, false)
		}
		for i, c := range p {
			if len(buf) == 0 && i == 0 && c == '"' {
				inStr = true
				continue
			}
			if inStr {
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					buf = append(buf, p[:i+1]...)
					f.consume(i + 1)
					return f.check(buf, false)
				case c == '\n':
					buf = append(buf, p[:i+1]...)
					f.consume(i + 1)
					return buf, fmt.Errorf("%w: raw newline inside a string", ErrInvalidJSON)
				}
				continue
			}
			if c == ',' || c == ']' || c == '}' || isBlank(c) {
				if len(buf) == 0 && i == 0 {
					// A stray delimiter: take it, so framing moves on.
					f.consume(1)
					return append(buf, c), fmt.Errorf("%w: unexpected %q", ErrInvalidJSON, c)
				}
				buf = append(buf, p[:i]...)
				f.consume(i)
				return f.check(buf, false)
			}
		}
		if len(buf)+len(p) > MaxRecordBytes {
			f.consume(len(p))
			return buf, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxRecordBytes)
		}
		buf = append(buf, p...)
		f.consume(len(p))
	}
}

// scanner tracks just enough JSON structure, byte by byte, to find where a
// value ends: nesting depth and whether it is inside a string. It does not
// validate; event.SkipValue checks the framed value once it is complete.
type scanner struct {
	depth     int
	inStr     bool
	esc       bool
	last      byte   // last significant byte outside strings
	lineStart bool   // only blanks since the last newline
	open      uint64 // bit d set: the container at depth d+1 is an object (first 64 levels)
}

type stepResult int

const (
	stepMore       stepResult = iota
	stepDone                  // the value ended with this byte
	stepNewRecord             // this byte opens a record; the current one was cut short
	stepRawNewline            // a newline inside a string: not JSON
)

func (s *scanner) step(c byte) stepResult {
	if s.inStr {
		switch {
		case s.esc:
			s.esc = false
		case c == '\\':
			s.esc = true
		case c == '"':
			s.inStr = false
			s.last = '"'
		case c == '\n':
			return stepRawNewline
		}
		return stepMore
	}
	if isBlank(c) {
		if c == '\n' {
			s.lineStart = true
		}
		return stepMore
	}
	atLineStart := s.lineStart
	s.lineStart = false
	switch c {
	case '"':
		s.inStr = true
	case '{', '[':
		// Inside an object a value follows ':'; inside an array '[' or
		// ','. A line that opens an object anywhere else is the next JSON
		// Lines record, and the current record was truncated.
		if c == '{' && atLineStart && s.depth > 0 && !s.valueExpected() {
			return stepNewRecord
		}
		if s.depth < 64 {
			if c == '{' {
				s.open |= 1 << s.depth
			} else {
				s.open &^= 1 << s.depth
			}
		}
		s.depth++
	case '}', ']':
		s.depth--
		if s.depth <= 0 {
			return stepDone
		}
	}
	s.last = c
	return stepMore
}

// valueExpected reports whether a value may start here.
func (s *scanner) valueExpected() bool {
	if s.depth > 64 {
		return true // too deep to know: never split there
	}
	if s.open&(1<<(s.depth-1)) != 0 {
		return s.last == ':'
	}
	return s.last == '[' || s.last == ','
}
