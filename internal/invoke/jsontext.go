package invoke

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// The host's request is read here by hand: encoding/json validates a value
// in one pass and decodes it in another, and an Event Hubs batch is one
// string holding the JSON array of its bodies (every quote of every record
// escaped twice): through encoding/json that was five passes over a few
// megabytes, most of serve's own CPU per batch. parseObject walks the
// request once, keeping each Data and Metadata value as a slice of the
// body; hostStrings decodes the double-encoded bodies in one more pass.

// maxNesting bounds how deep a request's values nest (encoding/json's own
// limit is 10,000; the host's values nest a few levels).
const maxNesting = 10000

var errNesting = fmt.Errorf("values nest deeper than %d levels", maxNesting)

// syntaxError is where and why a request is not JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

// jsonScan reads one JSON text.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) fail(msg string) error { return &syntaxError{off: s.i, msg: msg} }

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// parseRequestInto reads the host's {"Data":{...},"Metadata":{...}}: the two
// objects' members as slices of b (not copied), the top-level names
// matched without case as encoding/json matches struct fields; other
// members are checked and skipped. Data or Metadata missing or null stays
// nil. A Data value that is the host's double-encoded array of strings (an
// Event Hubs batch) is decoded on the way (hostStrings): finding where it
// ends is most of the work of decoding it.
//
// The host's array of strings is decoded
// into text's memory, or a larger buffer in its place when it is too
// small (the first such value only; text nil: a buffer of its own each);
// the Request keeps the buffer it decoded into (Request.text).
func parseRequestInto(b, text []byte) (Request, error) {
	var req Request
	s := &jsonScan{b: b}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return req, s.fail("not a JSON object")
	}
	err := s.members(func(name []byte) error {
		data := false
		var dst *map[string]json.RawMessage
		switch {
		case bytes.EqualFold(name, []byte("Data")):
			dst, data = &req.Data, true
		case bytes.EqualFold(name, []byte("Metadata")):
			dst = &req.Metadata
		default:
			return s.skip(1)
		}
		if s.i < len(b) && b[s.i] == 'n' {
			return s.literal("null")
		}
		if s.i >= len(b) || b[s.i] != '{' {
			return s.fail("want an object")
		}
		if *dst == nil {
			*dst = map[string]json.RawMessage{}
		}
		m := *dst
		return s.members(func(key []byte) error {
			start := s.i
			if data {
				if strs, ends, end, err := hostStringsInto(b, start, &text); err == nil {
					s.i = end
					if len(strs) > 0 && text != nil {
						req.text, text = text, nil // the elements are its now
					}
					m[string(key)] = json.RawMessage(b[start:end:end])
					if req.strs == nil {
						req.strs = map[string][][]byte{}
						req.ends = map[string][][]int32{}
					}
					req.strs[string(key)] = strs
					req.ends[string(key)] = ends
					return nil
				}
			}
			if err := s.skip(2); err != nil {
				return err
			}
			m[string(key)] = json.RawMessage(b[start:s.i:s.i])
			if data {
				delete(req.strs, string(key)) // a duplicate name: this value
				delete(req.ends, string(key))
			}
			return nil
		})
	})
	if err != nil {
		return Request{}, err
	}
	s.ws()
	if s.i != len(b) {
		return Request{}, s.fail("more after the object")
	}
	return req, nil
}

// members reads the object at s.i, calling member with each member's name
// (decoded) with s.i at its value, which member must read.
func (s *jsonScan) members(member func(name []byte) error) error {
	s.i++ // '{'
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail("want a member name")
		}
		start := s.i
		if err := s.str(); err != nil {
			return err
		}
		name := s.b[start+1 : s.i-1]
		if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) {
			// As encoding/json reads it: escapes undone, bad UTF-8 replaced.
			var n string
			if err := json.Unmarshal(s.b[start:s.i], &n); err != nil {
				return s.fail("bad member name")
			}
			name = []byte(n)
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("want ':'")
		}
		s.i++
		s.ws()
		if err := member(name); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail("object not closed")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return nil
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

// skip reads one value at s.i.
func (s *jsonScan) skip(depth int) error {
	if depth > maxNesting {
		return errNesting
	}
	if s.i >= len(s.b) {
		return s.fail("want a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.str()
	case c == '{':
		return s.members(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.fail("array not closed")
			}
			switch s.b[s.i] {
			case ',':
				s.i++
				s.ws()
			case ']':
				s.i++
				return nil
			default:
				return s.fail("want ',' or ']'")
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		for s.i < len(s.b) && isNumberByte(s.b[s.i]) {
			s.i++
		}
		if !json.Valid(s.b[start:s.i]) {
			s.i = start
			return s.fail("bad number")
		}
		return nil
	}
	return s.fail("want a value")
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func (s *jsonScan) literal(lit string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return s.fail("want " + lit)
	}
	s.i += len(lit)
	return nil
}

// str steps over the string at s.i: to the first quote not escaped. Its
// escapes and content are left to whoever decodes it.
func (s *jsonScan) str() error {
	open := s.i
	s.i++
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			s.i = open
			return s.fail("string not closed")
		}
		s.i += j + 1
		// Escaped when an odd number of backslashes precede it.
		k := s.i - 2
		for k > open && s.b[k] == '\\' {
			k--
		}
		if (s.i-2-k)%2 == 0 {
			return nil
		}
	}
}

// errNotHostStrings says hostStrings does not take a value: the general
// path (encoding/json) decodes it, or says why it is wrong.
var errNotHostStrings = errors.New("not the host's double-encoded array of strings")

// hostStrings decodes what the Event Hubs trigger sends for a batch: a JSON
// string whose content is a JSON array of JSON strings
// ("[\"{\\\"records\\\":...}\",...]"), starting at b[from] (its opening
// quote). It returns each element's text, decoded into one buffer (the
// elements are slices of it), and the offset after the closing quote. One
// pass undoes both levels of escapes: \\\" is a quote of the body, \" the
// end of an element. It takes what the host writes (its serializer
// escapes quotes, backslashes and control characters only) and returns
// errNotHostStrings on anything else (an element that is not a string, an
// escape it does not know, a \u surrogate pair, a string not closed),
// which the general path then reads. A quote not escaped inside an
// element (the outer string's end, where the host's shape has none) is
// found by counting: every quote between the outer string's quotes must
// be one its escapes took.
//
// ends holds, for each element, where the records of the body end
// (bodyShape): found on the way, at the stops the decoding makes anyway,
// so that the framer need not walk each record for its end; nil for an
// element whose shape was not followed to its end.
func hostStrings(b []byte, from int) (elems [][]byte, ends [][]int32, end int, err error) {
	return hostStringsInto(b, from, nil)
}

// hostStringsInto is hostStrings decoding into *into's memory when it has
// room for what follows from, and otherwise into a new buffer with room to
// spare that replaces *into (into nil: a buffer of its own). The buffer is
// one the server reuses from batch to batch (2.5 MB for 1,000 records,
// which a new allocation clears and, its pages returned by the collector's
// scavenger between batches, faults in again).
func hostStringsInto(b []byte, from int, into *[]byte) (elems [][]byte, ends [][]int32, end int, err error) {
	if from >= len(b) || b[from] != '"' {
		return nil, nil, 0, errNotHostStrings
	}
	i := from + 1
	i = blanks(b, i)
	if i >= len(b) || b[i] != '[' {
		return nil, nil, 0, errNotHostStrings
	}
	i++
	i = blanks(b, i)
	elems = [][]byte{}
	if i < len(b) && b[i] == ']' {
		i++
		i = blanks(b, i)
		if i >= len(b) || b[i] != '"' {
			return nil, nil, 0, errNotHostStrings
		}
		return elems, nil, i + 1, nil
	}
	if i+1 >= len(b) || b[i] != '\\' || b[i+1] != '"' {
		return nil, nil, 0, errNotHostStrings
	}
	// Decoded text is never longer than its escaped form, and a word is
	// copied 8 bytes at a time ahead of the decoded length: out, as long as
	// what follows from, never grows, so the elements stay put.
	var out []byte
	switch need := len(b) - from; {
	case into == nil:
		out = make([]byte, need)
	case cap(*into) >= need:
		out = (*into)[:need] // never read past what is written: old bytes are harmless
	default:
		// Room for batches a little larger than this one: their sizes vary.
		out = make([]byte, need, need+need/4)
		*into = out[:0]
	}
	n := 0
	var sh bodyShape
	var spans []int32 // per element: its first and last index in sh.ends, or -1
	for {
		if i+1 >= len(b) || b[i] != '\\' || b[i+1] != '"' {
			return nil, nil, 0, errNotHostStrings
		}
		start := n
		lo := len(sh.ends)
		sh.begin(n)
		var ok bool
		sh.quotes++ // the element's opening \"
		if i, n, ok = hostElement(b, i+2, out, n, &sh); !ok {
			return nil, nil, 0, errNotHostStrings
		}
		if sh.finish(out, n) {
			spans = append(spans, int32(lo), int32(len(sh.ends)))
		} else {
			sh.ends = sh.ends[:lo]
			spans = append(spans, -1, -1)
		}
		elems = append(elems, out[start:n:n])
		i = blanks(b, i)
		if i >= len(b) {
			return nil, nil, 0, errNotHostStrings
		}
		switch b[i] {
		case ',':
			i++
			i = blanks(b, i)
		case ']':
			i++
			i = blanks(b, i)
			if i >= len(b) || b[i] != '"' || bytes.Count(b[from+1:i], []byte{'"'}) != sh.quotes {
				return nil, nil, 0, errNotHostStrings
			}
			ends = make([][]int32, len(elems))
			for k := range ends {
				if lo, hi := spans[2*k], spans[2*k+1]; lo >= 0 {
					ends[k] = sh.ends[lo:hi:hi]
				}
			}
			return elems, ends, i + 1, nil
		default:
			return nil, nil, 0, errNotHostStrings
		}
	}
}

// blanks skips the blanks between elements of the host's double-encoded
// array from b[i]: spaces, or \n \r \t escaped once.
func blanks(b []byte, i int) int {
	for i < len(b) {
		switch {
		case b[i] == ' ':
			i++
		case b[i] == '\\' && i+1 < len(b) && (b[i+1] == 'n' || b[i+1] == 'r' || b[i+1] == 't'):
			i += 2
		default:
			return i
		}
	}
	return i
}

// hostElement decodes one element of the host's double-encoded array of
// strings, from b[i] (after its opening \") to out[n:], and returns the
// offsets after its closing \" and after its text, counting the quotes
// of b it took in sh.quotes. Every escape starts with a backslash, so plain
// bytes are copied 16 at a time up to the next backslash (about one in
// 14 bytes of a record); a quote not escaped is copied too, and
// hostStrings tells it by counting. hostRun decodes what most of a body
// is (plain bytes, the quotes of its strings); what it leaves, one escape
// at a time, is decoded here.
//
// sh follows the body's structure at those stops (bodyShape).
func hostElement(b []byte, i int, out []byte, n int, sh *bodyShape) (int, int, bool) {
	// out has room for what is left of b, and keeps it: each step takes at
	// least as many bytes of b as it writes to out (hostRun relies on it).
	if len(out)-n < len(b)-i {
		return i, n, false
	}
	bp, op := unsafe.Pointer(unsafe.SliceData(b)), unsafe.Pointer(unsafe.SliceData(out))
	for {
		if sh.escAt < n {
			// Not right after a backslash of the body: hostRun's.
			i, n = hostRun(bp, op, i, n, len(b), sh)
		}
		if i < len(b) && b[i] != '\\' {
			out[n] = b[i] // near the end of b, or escaped by the body
			i++
			n++
			continue
		}
		if i+4 <= len(b) && binary.LittleEndian.Uint32(b[i:]) == escapedQuote {
			// \\\": a quote of the body, one hostRun left.
			out[n] = '"'
			sh.quote(out, n)
			n++
			i += 4
			sh.quotes++
			continue
		}
		var end, ok bool
		was := n
		if i, n, end, ok = hostEscape(b, i, out, n); !ok {
			return i, n, false
		}
		if n == was+1 {
			// A quote or a backslash of the body, in the rare escapes
			// that make one: four backslashes in the host's text, or a
			// \u escape of '"' or '\'.
			switch out[was] {
			case '"':
				sh.quote(out, was)
			case '\\':
				sh.backslash(was)
			}
		}
		if b[i-1] == '"' {
			sh.quotes++ // the element's closing \" (or a quote of the body)
		}
		if end {
			return i, n, true
		}
	}
}

// hostRun decodes b[i:end] (b at bp) to out[n:] (out at op, with room for
// what is left of b) for as long as what it meets is plain bytes or a
// quote of the body's JSON (\\\") that ends or starts one of its strings,
// and returns the offsets where it stopped, counting the quotes it took
// in sh.quotes: at any other escape, 16 bytes before end, or a string that starts
// at the first quote of \\\":\\\" or \\\",\\\", for hostElement to decode.
// sh.escAt must be behind n: no quote it meets is escaped by the body.
//
// It is the loop most of a batch's bytes go through, kept small: plain
// bytes are read and written 16 at a time without bounds checks, a quote
// followed by ':' or ',' and another quote (the \\\":\\\" between a name and
// its value, the \\\",\\\" between members: a string ends and the next
// starts) is told by one load compared with the two, and it calls
// nothing, so that its offsets stay in registers (Go saves none across a
// call).
func hostRun(bp, op unsafe.Pointer, i, n, end int, sh *bodyShape) (int, int) {
	all, lo, hi := swarBackslash, swarLo, swarHi
	for {
		for {
			if i+16 > end {
				return i, n
			}
			x := *(*uint64)(unsafe.Add(bp, i))
			y := *(*uint64)(unsafe.Add(bp, i+8))
			*(*uint64)(unsafe.Add(op, n)) = x
			*(*uint64)(unsafe.Add(op, n+8)) = y
			// Backslashes in x or y (swarBackslash), the high bits
			// taken once.
			x ^= all
			y ^= all
			if ((x-lo)&^x|(y-lo)&^y)&hi != 0 {
				var k int
				if mx := (x - lo) &^ x & hi; mx != 0 {
					k = bits.TrailingZeros64(mx) >> 3
				} else {
					// (The top bit set: not zero, no check for it.)
					k = 8 + bits.TrailingZeros64((y-lo)&^y&hi|1<<63)>>3
				}
				i += k
				n += k
				break
			}
			i += 16
			n += 16
		}
		// b[i] is a backslash.
		if i+9 > end {
			return i, n
		}
		w := *(*uint64)(unsafe.Add(bp, i))
		if (w == escapedColon || w == escapedComma) && *(*byte)(unsafe.Add(bp, i+8)) == '"' {
			if sh.seg >= 0 {
				return i, n // a string starts at the first quote
			}
			// A string ends, the next starts: nothing else changes.
			// (The 4th byte written is the next one's to write.)
			*(*uint32)(unsafe.Add(op, n)) = uint32(w>>24)&0xffff | '"'<<16
			n += 3
			i += 9
			sh.quotes += 2
			continue
		}
		if w == escapedEscapedQuote {
			// \\\\\\\": a quote escaped by the body (\") inside one of its
			// strings, which goes on. (Its backslash escapes nothing
			// else: hostRun runs only where no backslash of the body
			// escapes what follows, sh.escAt behind n.)
			if sh.seg >= 0 {
				return i, n // a backslash outside strings: hostElement's
			}
			*(*uint16)(unsafe.Add(op, n)) = '\\' | '"'<<8
			n += 2
			i += 8
			sh.quotes++
			continue
		}
		if uint32(w) != escapedQuote {
			return i, n
		}
		seg := sh.seg
		if seg < 0 {
			sh.seg = n + 1 // a string ends
		} else {
			// A string starts: the bytes outside strings since the last
			// one may hold brackets, each at most one end.
			if cap(sh.ends)-len(sh.ends) < n-seg {
				return i, n // no room for the ends: hostElement grows it
			}
			for k := seg; k < n; k++ {
				if c := *(*byte)(unsafe.Add(op, k)); bracket[c] {
					if c&2 != 0 { // '{' or '['
						sh.open(c)
					} else {
						sh.close(k)
					}
				}
			}
			sh.seg, sh.escAt = -1, -1
		}
		*(*byte)(unsafe.Add(op, n)) = '"'
		n++
		i += 4
		sh.quotes++
	}
}

// hostEscape decodes the escape at b[i] within an element (any but \\\"):
// end says it was the element's closing \".
func hostEscape(b []byte, i int, out []byte, n int) (int, int, bool, bool) {
	// A quote not escaped ends the outer string inside an element; a
	// backslash at the end leaves it open.
	if i+1 >= len(b) || b[i] == '"' {
		return i, n, false, false
	}
	switch b[i+1] {
	case '"': // \" : the element ends
		return i + 2, n, true, true
	case '/':
		out[n] = '/'
		return i + 2, n + 1, false, true
	case '\\': // \\ : an escape of the element's own
	default:
		return i, n, false, false
	}
	if i+2 >= len(b) {
		return i, n, false, false
	}
	switch c := b[i+2]; c {
	case '\\': // \\\\ a backslash (\\\" is hostElement's)
		if i+3 >= len(b) || (b[i+3] != '"' && b[i+3] != '\\') {
			return i, n, false, false
		}
		out[n] = b[i+3]
		return i + 4, n + 1, false, true
	case 'n', 't', 'r', 'b', 'f', '/':
		out[n] = unescapeByte(c)
		return i + 3, n + 1, false, true
	case 'u':
		if i+7 > len(b) {
			return i, n, false, false
		}
		r, err := strconv.ParseUint(string(b[i+3:i+7]), 16, 16)
		if err != nil || utf16IsSurrogate(rune(r)) {
			return i, n, false, false
		}
		return i + 7, n + utf8.EncodeRune(out[n:], rune(r)), false, true
	}
	return i, n, false, false
}

// bodyShape follows the JSON structure of one body while hostElement
// decodes it, to find where its records end: the ends of the objects an
// envelope's array holds ({"records":[{...},{...}]}: the closes that leave
// two brackets open), or of a bare array's elements ([{...},{...}]: one
// left open), as offsets in the body just past each closing bracket.
// Every quote of a body is an escape of the host's text, where
// hostElement stops anyway: at each, the bytes since the last string's
// end (outside strings: a ':' or ',' mostly) are searched for brackets.
// It checks nothing: an end it gives is only a candidate, which the
// framer hands to the strict decoding as it would elementEnd's
// (source.RecordEnds); what is not JSON, or a shape it does not follow,
// may give wrong ends (or none), which costs a reframing, never a
// record.
type bodyShape struct {
	start int  // out offset of the body's first byte
	seg   int  // out offset where the bytes outside strings began; -1 inside a string
	escAt int  // inside a string: the offset after a backslash that escapes what follows; else -1
	depth int  // brackets open
	at    int  // the depth a record's close leaves: 2 (an envelope), 1 (a bare array); 0 before the first bracket
	bad   bool // a backslash outside strings, a close too many
	// quotes counts the quotes of the host's text its escapes took, for
	// hostStrings (kept here with the rest of the decoding's state: a
	// field is one register fewer in hostRun's loop).
	quotes int
	ends   []int32 // every body's, in order
}

// recordDepth is how deep a record may nest for the framing to take it
// (source's skipValueDepth): a body holding a deeper one gives no ends.
const recordDepth = 1000

// begin starts a body at out offset n.
func (sh *bodyShape) begin(n int) {
	sh.start, sh.seg, sh.escAt, sh.depth, sh.at, sh.bad = n, n, -1, 0, 0, false
}

// quote takes the body's quote at out[q]. A string's end, the common
// case, is inlined at hostElement's stops.
func (sh *bodyShape) quote(out []byte, q int) {
	if sh.seg < 0 && sh.escAt != q {
		sh.seg = q + 1 // the string ends
		return
	}
	sh.quoteSlow(out, q)
}

func (sh *bodyShape) quoteSlow(out []byte, q int) {
	if sh.seg < 0 {
		sh.escAt = -1 // \" inside a string
		return
	}
	sh.outside(out[sh.seg:q], sh.seg)
	sh.seg, sh.escAt = -1, -1 // a string starts
}

// backslash takes the body's backslash at out[at].
func (sh *bodyShape) backslash(at int) {
	switch {
	case sh.seg >= 0:
		sh.bad = true
	case sh.escAt == at:
		sh.escAt = -1 // \\ inside a string
	default:
		sh.escAt = at + 1
	}
}

// outside reads p, bytes outside strings at out offset base, for brackets:
// a ':' or ',' mostly, a number, a few blanks.
func (sh *bodyShape) outside(p []byte, base int) {
	for k, c := range p {
		if bracket[c] {
			sh.bracket(c, base+k)
		}
	}
}

// bracket takes the body's bracket c at out[at].
func (sh *bodyShape) bracket(c byte, at int) {
	if len(sh.ends) == cap(sh.ends) {
		sh.ends = slices.Grow(sh.ends, 1)
	}
	if c&2 != 0 { // '{' or '[', not '}' nor ']'
		sh.open(c)
	} else {
		sh.close(at)
	}
}

// open takes an opening bracket ('{' or '['); close a closing one at
// out[at], with room for an end in sh.ends. Both are small enough to be
// inlined in hostRun, which calls nothing.
func (sh *bodyShape) open(c byte) {
	if sh.at == 0 {
		sh.at = 1 + int(c>>5&1) // '{': 2, '[': 1
	}
	if sh.depth-sh.at >= recordDepth {
		sh.bad = true // the framing turns such a record down
	}
	sh.depth++
}

func (sh *bodyShape) close(at int) {
	sh.depth--
	if sh.depth == sh.at {
		l := len(sh.ends)
		sh.ends = sh.ends[:l+1]
		sh.ends[l] = int32(at + 1 - sh.start)
	} else if sh.depth < 0 {
		sh.bad = true
	}
}

var bracket = [256]bool{'{': true, '[': true, '}': true, ']': true}

// finish ends the body at out offset n and reports whether its ends were
// followed to its end.
func (sh *bodyShape) finish(out []byte, n int) bool {
	if sh.seg < 0 || n-sh.start > math.MaxInt32 {
		return false // a string not closed
	}
	sh.outside(out[sh.seg:n], sh.seg)
	return !sh.bad
}

// escapedQuote is \\\" read as a little-endian uint32: a quote in a body of
// the host's double-encoded array.
const escapedQuote = '\\' | '\\'<<8 | '\\'<<16 | '"'<<24

// escapedColon and escapedComma are the first 8 bytes of \\\":\\\" and
// \\\",\\\" read as a little-endian uint64 (their 9th is the quote).
const (
	escapedColon = escapedQuote | ':'<<32 | escapedQuote&0xffffff<<40
	escapedComma = escapedQuote | ','<<32 | escapedQuote&0xffffff<<40
)

// escapedEscapedQuote is \\\\\\\" read as a little-endian uint64: the \" of a
// body (a quote inside one of its strings) in the host's text.
const escapedEscapedQuote = 0x5c5c5c5c5c5c5c | '"'<<56

// swarBackslash, swarLo and swarHi find backslashes in a word x (hostRun):
// with s = x ^ swarBackslash, (s - swarLo) &^ s & swarHi marks the bytes
// of x that are '\\', the lowest marked byte being the first backslash
// (marks above it may be false, where the subtraction borrowed). They are
// variables, not constants: the compiler keeps them in registers across
// hostRun's loop, where it would load constants again at every turn.
var swarBackslash, swarLo, swarHi uint64 = '\\' * 0x0101010101010101, 0x0101010101010101, 0x8080808080808080

func unescapeByte(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	}
	return c
}

func utf16IsSurrogate(r rune) bool { return r >= 0xd800 && r < 0xe000 }
