package archive

import (
	"bytes"
	"io"
)

// Framing is how the bytes of an archive blob are cut into units that a
// cursor can stop between.
type Framing string

const (
	// FramingUnknown: the blob's first bytes were not read yet.
	FramingUnknown Framing = ""
	// FramingLines: JSON Lines (Activity and resource logs since 2018) or
	// text lines (Storage Analytics $logs); a unit ends at '\n'.
	FramingLines Framing = "lines"
	// FramingRecords: one {"records":[...]} document (NSG and VNet flow
	// logs, resource logs before 2018); a unit is one element of the array.
	FramingRecords Framing = "records"
)

// readChunk is how much frontier asks its source for at a time.
const readChunk = 64 << 10

// frontier passes on only the complete units of a range of a blob, so that
// the records the pipeline sees end exactly where the cursor will move to:
//
//   - lines: everything up to and including the last '\n'; a line still
//     being written is held back (and read again, whole, by the next range);
//   - records: the elements of the records array, as a JSON array fragment
//     "[" + elements + "]": the document's {"records":[ prefix (at the
//     blob's start), the ',' separators, an element still incomplete and the
//     closing ]} are left out.
//
// It streams: at most one incomplete unit and one chunk are held in memory.
// Consumed is the number of bytes of the range the units passed on (plus
// the document prefix) cover: where the cursor moves once they were
// evaluated.
type frontier struct {
	src     io.Reader
	framing Framing
	atStart bool // the range starts at the blob's first byte

	buf  []byte // bytes read from src and not yet released
	out  []byte // released bytes not yet read by the consumer
	outN int    // bytes of out already read
	base int64  // offset in the range of buf[0]
	eof  bool
	err  error

	consumed int64 // offset in the range just after the last complete unit

	// records framing
	state     recState
	scan      int // bytes of buf already scanned
	depth     int
	inStr     bool
	esc       bool
	scalar    bool
	opened    bool // "[" emitted
	closedOut bool // "]" emitted
}

type recState uint8

const (
	recPrefix recState = iota // before the {"records":[ prefix (range at the blob's start)
	recBetween
	recElement
	recClosed // the records array ended
)

// newFrontier frames a range read from src. framing is what the cursor
// knows; atStart says the range begins at the blob's first byte, where an
// unknown framing is decided from the content.
func newFrontier(src io.Reader, framing Framing, atStart bool) *frontier {
	f := &frontier{src: src, framing: framing, atStart: atStart}
	if framing == FramingUnknown && !atStart {
		f.framing = FramingLines
	}
	if f.framing == FramingRecords && !atStart {
		f.state = recBetween
	}
	return f
}

// Framing is the framing in use, FramingUnknown while the start of the blob
// has not been seen whole enough to decide.
func (f *frontier) Framing() Framing { return f.framing }

// Consumed is how many bytes of the range the released units cover.
func (f *frontier) Consumed() int64 { return f.consumed }

// Read implements io.Reader.
func (f *frontier) Read(p []byte) (int, error) {
	for f.outN == len(f.out) {
		f.out, f.outN = f.out[:0], 0
		if err := f.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.out[f.outN:])
	f.outN += n
	return n, nil
}

// fill reads a chunk and releases the complete units in it; it returns
// io.EOF once everything complete was released.
func (f *frontier) fill() error {
	if f.eof {
		if f.framing == FramingRecords && f.opened && !f.closedOut {
			f.closedOut = true
			f.out = append(f.out, ']')
			return nil
		}
		if f.err != nil {
			return f.err
		}
		return io.EOF
	}
	if len(f.buf) == cap(f.buf) {
		f.buf = append(f.buf, make([]byte, readChunk)...)[:len(f.buf)]
	}
	n, err := f.src.Read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if err != nil {
		f.eof = true
		if err != io.EOF {
			f.err = err
		}
	}
	f.process()
	return nil
}

// process decides the framing if needed and releases what is complete.
func (f *frontier) process() {
	if f.framing == FramingUnknown || (f.framing == FramingRecords && f.state == recPrefix) {
		n, fr, decided := sniff(f.buf)
		if !decided {
			return
		}
		f.framing = fr
		if fr == FramingRecords {
			f.state = recBetween
			f.release(n, false) // the prefix: consumed, never passed on
		}
	}
	switch f.framing {
	case FramingLines:
		if i := bytes.LastIndexByte(f.buf, '\n'); i >= 0 {
			f.release(i+1, true)
		}
	case FramingRecords:
		f.scanRecords()
	}
}

// release moves buf[:n] out of the pending bytes: passed on when emit is
// set, and counted as consumed either way.
func (f *frontier) release(n int, emit bool) {
	if n <= 0 {
		return
	}
	if emit {
		if f.framing == FramingRecords && !f.opened {
			f.opened = true
			f.out = append(f.out, '[')
		}
		f.out = append(f.out, f.buf[:n]...)
	}
	f.consumed = f.base + int64(n)
	f.base += int64(n)
	rest := copy(f.buf, f.buf[n:])
	f.buf = f.buf[:rest]
	f.scan -= n
	if f.scan < 0 {
		f.scan = 0
	}
}

// scanRecords walks the records array and releases every complete element
// (with the separators before it).
func (f *frontier) scanRecords() {
	done := 0 // end of the last complete element in buf
	for i := f.scan; i < len(f.buf) && f.state != recClosed; i++ {
		c := f.buf[i]
		switch f.state {
		case recBetween:
			switch c {
			case ' ', '\t', '\r', '\n', ',':
			case ']':
				f.state = recClosed
			default:
				f.state = recElement
				f.depth, f.inStr, f.esc, f.scalar = 0, false, false, false
				switch c {
				case '{', '[':
					f.depth = 1
				case '"':
					f.inStr = true
				default:
					f.scalar = true
				}
			}
		case recElement:
			switch {
			case f.inStr:
				switch {
				case f.esc:
					f.esc = false
				case c == '\\':
					f.esc = true
				case c == '"':
					f.inStr = false
					if f.depth == 0 {
						f.state, done = recBetween, i+1
					}
				}
			case f.scalar:
				switch c {
				case ' ', '\t', '\r', '\n', ',', ']':
					f.state, done = recBetween, i
					i-- // the delimiter belongs to what follows
				}
			default:
				switch c {
				case '"':
					f.inStr = true
				case '{', '[':
					f.depth++
				case '}', ']':
					f.depth--
					if f.depth == 0 {
						f.state, done = recBetween, i+1
					}
				}
			}
		}
		f.scan = i + 1
	}
	if f.state == recClosed {
		f.scan = len(f.buf)
	}
	f.release(done, true)
	if f.state == recClosed && len(f.buf) > 0 {
		// The closing ]} and anything after: not records, never consumed.
		f.base += int64(len(f.buf))
		f.buf, f.scan = f.buf[:0], 0
	}
}

// sniff decides the framing from the first bytes of a blob: a document
// that opens with {"records":[ is FramingRecords (n is the prefix's length,
// byte-order mark and blanks included); anything else is FramingLines.
// decided is false while the bytes are a prefix of that opening: the blob
// holds too little yet to tell.
func sniff(b []byte) (n int, framing Framing, decided bool) {
	i := 0
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		i = 3
	} else if len(b) < 3 && bytes.HasPrefix([]byte("\xef\xbb\xbf"), b) {
		return 0, "", false
	}
	for _, want := range []string{"{", `"records"`, ":", "["} {
		for i < len(b) && isBlank(b[i]) {
			i++
		}
		rest := b[i:]
		switch {
		case bytes.HasPrefix(rest, []byte(want)):
			i += len(want)
		case len(rest) < len(want) && bytes.HasPrefix([]byte(want), rest):
			return 0, "", false // need more bytes
		default:
			return 0, FramingLines, true
		}
	}
	return i, FramingRecords, true
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
