package event

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A small JSON scanner over raw bytes: enough to walk a record's members
// and skip the subtrees a rule never reads, without building maps. It checks
// structure (brackets, strings, commas, colons, literals) but not every
// escape or number form; json.Valid is the strict check where one is needed.

// ErrSyntax is returned (wrapped, with an offset) for malformed JSON.
var ErrSyntax = errors.New("invalid JSON")

func syntaxErr(i int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, i, what)
}

// SkipSpace returns the index of the first non-blank byte at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipValue skips one JSON value starting at b[i] (blanks first) and returns
// the index just past it.
func SkipValue(b []byte, i int) (int, error) {
	return skipValue(b, i, 0)
}

const maxDepth = 1000

func skipValue(b []byte, i, depth int) (int, error) {
	i = SkipSpace(b, i)
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; c {
	case '"':
		return skipString(b, i)
	case '{':
		if depth >= maxDepth {
			return i, syntaxErr(i, "nested too deep")
		}
		i = SkipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			i = SkipSpace(b, i)
			if i >= len(b) || b[i] != '"' {
				return i, syntaxErr(i, "expected member name")
			}
			var err error
			if i, err = skipString(b, i); err != nil {
				return i, err
			}
			i = SkipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, syntaxErr(i, "expected ':'")
			}
			// A string value (most of them) without the recursive call.
			if i = SkipSpace(b, i+1); i < len(b) && b[i] == '"' {
				i, _, err = scanString(b, i)
			} else {
				i, err = skipValue(b, i, depth+1)
			}
			if err != nil {
				return i, err
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return i, syntaxErr(i, "unterminated object")
			}
			if b[i] == '}' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, syntaxErr(i, "expected ',' or '}'")
			}
			i++
		}
	case '[':
		if depth >= maxDepth {
			return i, syntaxErr(i, "nested too deep")
		}
		i = SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i < len(b) && b[i] == '"' {
				i, _, err = scanString(b, i)
			} else {
				i, err = skipValue(b, i, depth+1)
			}
			if err != nil {
				return i, err
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return i, syntaxErr(i, "unterminated array")
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, syntaxErr(i, "expected ',' or ']'")
			}
			i++
		}
	case 't':
		return skipLiteral(b, i, "true")
	case 'f':
		return skipLiteral(b, i, "false")
	case 'n':
		return skipLiteral(b, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			j := i + 1
			for j < len(b) {
				d := b[j]
				if (d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-' {
					j++
					continue
				}
				break
			}
			return j, nil
		}
		return i, syntaxErr(i, fmt.Sprintf("unexpected character %q", c))
	}
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, syntaxErr(i, "invalid literal")
}

// skipString skips the string starting at b[i] == '"'. A raw newline in a
// string is an error: the framer relies on it to resume after a broken
// record. Most of a record is string content, so the plain bytes are
// skipped eight at a time (skipStops).
func skipString(b []byte, i int) (int, error) {
	end, _, err := scanString(b, i)
	return end, err
}

// scanString is skipString, also telling whether the string holds an
// escape.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for {
		// Sixteen bytes a turn, then eight (this scanner skips whole
		// values, which run long); the lowest stop bit of a word is
		// exact (a false one only sits above a true one), so the stop
		// byte is found without going back over the word byte by byte.
		for j <= len(b)-16 {
			if sx, sy := skipStops(load64(b, j)), skipStops(load64(b, j+8)); sx|sy != 0 {
				if sx != 0 {
					j += bits.TrailingZeros64(sx) >> 3
				} else {
					j += 8 + bits.TrailingZeros64(sy)>>3
				}
				goto found
			}
			j += 16
		}
		for j <= len(b)-8 {
			if stop := skipStops(load64(b, j)); stop != 0 {
				j += bits.TrailingZeros64(stop) >> 3
				goto found
			}
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] != '\n' {
			j++
		}
	found:
		if j >= len(b) {
			return j, escaped, syntaxErr(i, "unterminated string")
		}
		switch b[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			j += 2
		default:
			return j, escaped, syntaxErr(j, "raw newline in string")
		}
	}
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// skipStops has the top bit of each byte of x that is '"', '\\' or '\n'
// (only the lowest is exact, as in stringStops: a false one only sits above
// a true one, where the subtraction borrowed).
func skipStops(x uint64) uint64 {
	return (((x ^ '"'*lowBits) - lowBits) | ((x ^ '\\'*lowBits) - lowBits) | ((x ^ '\n'*lowBits) - lowBits)) &^ x & highBits
}

// ObjectEach calls fn for each member of the JSON object obj, with the raw
// (still quoted) member name and the raw value. fn returns false to stop.
func ObjectEach(obj []byte, fn func(key, val []byte) bool) error {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return syntaxErr(i, "expected object")
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return syntaxErr(i, "expected member name")
		}
		ks := i
		var err error
		if i, err = skipString(obj, i); err != nil {
			return err
		}
		key := obj[ks:i]
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return syntaxErr(i, "expected ':'")
		}
		vs := SkipSpace(obj, i+1)
		if i, err = skipValue(obj, vs, 1); err != nil {
			return err
		}
		if !fn(key, obj[vs:i]) {
			return nil
		}
		i = SkipSpace(obj, i)
		if i >= len(obj) {
			return syntaxErr(i, "unterminated object")
		}
		if obj[i] == '}' {
			return nil
		}
		if obj[i] != ',' {
			return syntaxErr(i, "expected ',' or '}'")
		}
		i++
	}
}

// ArrayEach calls fn for each element of the JSON array arr. fn returns
// false to stop.
func ArrayEach(arr []byte, fn func(val []byte) bool) error {
	return ArrayEachKnown(arr, nil, fn)
}

// ArrayEachKnown is ArrayEach where known may tell an element's length
// without a scan of it: given the bytes from the element's first byte to
// the array's end, it returns the element's length, or 0 when it does not
// know it (the element is then scanned). A length it gives must be the
// one a scan would find (the caller knows where the element ends: the
// rule engine, an object of the record's layout). A nil known scans
// every element.
func ArrayEachKnown(arr []byte, known func(rest []byte) int, fn func(val []byte) bool) error {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return syntaxErr(i, "expected array")
	}
	i = SkipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for {
		vs := SkipSpace(arr, i)
		if n := knownLen(known, arr[vs:]); n > 0 && n <= len(arr)-vs {
			i = vs + n
		} else {
			var err error
			if i, err = skipValue(arr, vs, 1); err != nil {
				return err
			}
		}
		if !fn(arr[vs:i]) {
			return nil
		}
		i = SkipSpace(arr, i)
		if i >= len(arr) {
			return syntaxErr(i, "unterminated array")
		}
		if arr[i] == ']' {
			return nil
		}
		if arr[i] != ',' {
			return syntaxErr(i, "expected ',' or ']'")
		}
		i++
	}
}

// Unquote decodes the raw JSON string raw (with its quotes). ok is false
// when raw is not a valid JSON string.
func Unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if i := plainPrefix(body, 0); i < len(body) {
		return unquoteEscaped(body, i)
	}
	return string(body), true
}

// plainPrefix returns the index of the first byte of body at or after i
// that is a '"', a '\\', a control character or of 0x80 and above
// (len(body) when none is): PlainStop, eight bytes at a time, then its
// last bytes one by one.
func plainPrefix(body []byte, i int) int {
	i = PlainStop(body, i)
	for ; i < len(body); i++ {
		if c := body[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

// unquoteEscaped decodes string content as encoding/json does: the
// escapes, a \u surrogate pair as one rune and a lone surrogate as
// U+FFFD, invalid UTF-8 bytes each as U+FFFD; a raw quote, a control
// character or a bad escape make it invalid. (json.Unmarshal into a
// string did this at the cost of a decoder and reflection per value.)
// body[:i] is plain printable ASCII (plainPrefix): copied as it is, as
// is each run of such bytes between the escapes.
func unquoteEscaped(body []byte, i int) (string, bool) {
	out := make([]byte, 0, len(body)+8)
	out = append(out, body[:i]...)
	for i < len(body) {
		c := body[i]
		switch {
		case c == '\\':
			if i+1 >= len(body) {
				return "", false
			}
			switch body[i+1] {
			case '"', '\\', '/':
				out = append(out, body[i+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(body[i+2:])
				if !ok {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(body[min(i+2, len(body)):]); ok && i+1 < len(body) && body[i] == '\\' && body[i+1] == 'u' {
						if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c == '"' || c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			// A run of plain bytes, copied at once.
			j := plainPrefix(body, i+1)
			out = append(out, body[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, unicode.ReplacementChar)
			} else {
				out = append(out, body[i:i+size]...)
			}
			i += size
		}
	}
	// out is this string's alone and never written again.
	return unsafe.String(unsafe.SliceData(out), len(out)), true
}

// hex4 reads the four hex digits b starts with.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// keyEqualFold compares a raw quoted member name with name, ignoring case.
func keyEqualFold(rawKey []byte, name string) bool {
	if len(rawKey) >= 2 && len(rawKey)-2 == len(name) {
		k := rawKey[1 : len(rawKey)-1]
		if strings.EqualFold(string(k), name) {
			return true
		}
	}
	if k, ok := Unquote(rawKey); ok && len(k) != len(rawKey)-2 {
		return strings.EqualFold(k, name)
	}
	return false
}

// Member returns the raw value of the member of obj named name (compared
// case-insensitively; an exact-case match wins over a folded one).
func Member(obj []byte, name string) ([]byte, bool) {
	var folded []byte
	var exact []byte
	_ = ObjectEach(obj, func(key, val []byte) bool {
		if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
			exact = val
			return false
		}
		if folded == nil && keyEqualFold(key, name) {
			folded = val
		}
		return true
	})
	if exact != nil {
		return exact, true
	}
	return folded, folded != nil
}

// Lookup resolves a dotted path in the raw JSON record. Member names are
// compared case-insensitively (Azure writes Level and level, DeviceDetail
// and deviceDetail) and may themselves contain dots (claim URIs). Arrays on
// the way fan out: every element is followed. A string that holds JSON
// (requestbody, modifiedProperties[].newValue) is decoded and followed when
// the path goes on into it. A final array yields its elements. found is
// false when the path leads nowhere.
func Lookup(raw []byte, path string) (vals []Value, found bool) {
	if len(raw) == 0 || path == "" {
		return nil, false
	}
	lookup(raw, path, &vals, &found, 0)
	return vals, found
}

// lookupCand is a member lookup follows: its value and the rest of the path.
type lookupCand struct {
	val  []byte
	rest string
}

func lookup(v []byte, path string, out *[]Value, found *bool, depth int) {
	if depth > 64 {
		return
	}
	i := SkipSpace(v, 0)
	if i >= len(v) {
		return
	}
	if path == "" {
		*found = true
		if v[i] == '[' {
			_ = ArrayEach(v[i:], func(el []byte) bool {
				*out = append(*out, JSONValue(el))
				return true
			})
			return
		}
		*out = append(*out, JSONValue(v[i:]))
		return
	}
	switch v[i] {
	case '{':
		// Collect candidates: exact-case members first, then folded. The
		// members are walked here rather than through ObjectEach, and the
		// candidates (nearly always one) kept on the stack: a closure
		// capturing them made both slices escape, on every object of
		// every path looked up.
		var exactBuf, foldedBuf [2]lookupCand
		exact, folded := exactBuf[:0], foldedBuf[:0]
		obj := v[i:]
		j := SkipSpace(obj, 1)
		if j < len(obj) && obj[j] == '}' {
			return
		}
		for {
			j = SkipSpace(obj, j)
			if j >= len(obj) || obj[j] != '"' {
				break
			}
			ks := j
			var err error
			if j, err = skipString(obj, j); err != nil {
				break
			}
			k := obj[ks+1 : j-1]
			j = SkipSpace(obj, j)
			if j >= len(obj) || obj[j] != ':' {
				break
			}
			vs := SkipSpace(obj, j+1)
			if j, err = skipValue(obj, vs, 1); err != nil {
				break
			}
			if len(k) <= len(path) && (len(k) == len(path) || path[len(k)] == '.') {
				rest := path[len(k):]
				if len(rest) > 0 {
					rest = rest[1:]
				}
				if string(k) == path[:len(k)] {
					exact = append(exact, lookupCand{obj[vs:j], rest})
				} else if strings.EqualFold(string(k), path[:len(k)]) {
					folded = append(folded, lookupCand{obj[vs:j], rest})
				}
			}
			j = SkipSpace(obj, j)
			if j >= len(obj) || obj[j] != ',' {
				break // '}', or the end of what parses
			}
			j++
		}
		cands := exact
		if len(cands) == 0 {
			cands = folded
		}
		for _, c := range cands {
			lookup(c.val, c.rest, out, found, depth+1)
		}
	case '[':
		_ = ArrayEach(v[i:], func(el []byte) bool {
			lookup(el, path, out, found, depth+1)
			return true
		})
	case '"':
		s, ok := Unquote(v[i:])
		if !ok {
			return
		}
		t := strings.TrimSpace(s)
		if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			lookup([]byte(t), path, out, found, depth+1)
		}
	}
}

// Strict scanning: the grammar encoding/json accepts (json.Valid), for
// parsers that decode a record in one pass and must reject exactly what the
// standard library rejects. Scanner walks one JSON text by index; a syntax
// error sets Bad, after which every method returns len(B) at once, so a
// caller checks Bad once per member. Which error it is, is not kept:
// callers that report one ask encoding/json (the error path is rare).

// MaxStrictDepth is encoding/json's nesting limit: the 10001st open object
// or array is a syntax error.
const MaxStrictDepth = 10000

// Scanner is a strict JSON walker over B.
type Scanner struct {
	B     []byte
	Depth int  // objects and arrays open
	Bad   bool // a syntax error was met
}

func (s *Scanner) fail() int {
	s.Bad = true
	return len(s.B)
}

// ws returns the index of the first non-blank byte at or after i.
func (s *Scanner) ws(i int) int {
	b := s.B
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// WS returns the index of the first non-blank byte at or after i.
func (s *Scanner) WS(i int) int { return s.ws(i) }

// stringStops has the top bit of each byte of x that is '"', '\\' or a
// control character (bytes of 0x80 and above are none of them). Only the
// first such byte is exact: a false one only sits above a true one, where
// a subtraction borrowed. Each test is the zero-byte test (v-1)&^v&0x80 of
// a byte v made zero (or, for v-0x20, below zero) by the byte sought; the
// three share one &^x, as x^'"' and x^'\\' have the top bits of x.
func stringStops(x uint64) uint64 {
	return (((x ^ '"'*lowBits) - lowBits) | ((x ^ '\\'*lowBits) - lowBits) | (x - 0x20*lowBits)) &^ x & highBits
}

// PlainASCII reports whether b, the content of a JSON string, is its own
// value and ASCII: no '"', '\\', control character or byte of 0x80 and
// above. It reads eight bytes at a time.
func PlainASCII(b []byte) bool {
	i := 0
	for ; i <= len(b)-8; i += 8 {
		if x := load64(b, i); stringStops(x)|x&highBits != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// String scans the string at B[i] == '"' and returns the index past its
// closing quote. plain is true when its content is the decoded value as it
// stands: no escape and valid UTF-8.
//
// Most of a record is short ASCII strings, so the loop is the test of
// stopWords, eight bytes a turn, with its constants in registers (see
// swarConsts); a stop at a byte of 0x80 and above (rare) goes on in
// stringRest, which checks the UTF-8 of the content once at its end.
func (s *Scanner) String(i int) (end int, plain bool) {
	b := s.B
	if s.Bad {
		return len(b), false
	}
	quoteCtl, below, backslash, low, high := swar.quoteCtl, swar.below, swar.backslash, swar.low, swar.high
	j := i + 1
	for last := len(b) - 8; j <= last; {
		x := load64(b, j)
		stop := (((x ^ quoteCtl) - below) | ((x ^ backslash) - low)) & high
		if stop == 0 {
			j += 8
			continue
		}
		j += bits.TrailingZeros64(stop) >> 3
		if b[j] == '"' {
			return j + 1, true
		}
		break
	}
	return s.stringRest(i, j)
}

// stopWord (written out where it is used, with swar's words in
// registers) has the top bit of each byte of x that is '"', '\\', a
// control character or of 0x80 and above; as in stringStops, only the
// lowest is exact (below it no subtraction borrows). In two tests, not
// stringStops' three: x^0x02 maps '"' and the control characters, and no
// other byte below 0x80, below 0x21; x^'\\' maps '\\' to 0 and every byte
// of 0x80 and above to 0x80 and above, where taking 1 leaves the top bit
// set but for 0xdc (0x80), which the first test catches (0xde-0x21).
func stopWord(x uint64) uint64 {
	return (((x ^ 0x02*lowBits) - 0x21*lowBits) | ((x ^ '\\'*lowBits) - lowBits)) & highBits
}

// StopWord is stopWord, for the decoders' own member loops (source's
// predictedRun), which scan values with it written out.
func StopWord(x uint64) uint64 { return stopWord(x) }

// PlainString is String for a caller that tries the usual string first:
// for a string at B[i] == '"' whose content is plain ASCII (no escape,
// control character or byte of 0x80 and above), ok is true and end is
// past its closing quote, as String would answer with plain true. For
// any other string, or one ending within the last eight bytes of B, or
// with Bad set, ok is false and the caller asks String. It calls nothing
// (not even a bounds check's panic), so it runs without a frame.
func (s *Scanner) PlainString(i int) (end int, ok bool) {
	b := s.B
	if s.Bad {
		return 0, false
	}
	quoteCtl, below, backslash, low, high := swar.quoteCtl, swar.below, swar.backslash, swar.low, swar.high
	for j, last := i+1, len(b)-8; j <= last; j += 8 {
		x := load64(b, j)
		if stop := (((x ^ quoteCtl) - below) | ((x ^ backslash) - low)) & high; stop != 0 {
			j += bits.TrailingZeros64(stop) >> 3
			return j + 1, load8(b, j) == '"'
		}
	}
	return 0, false
}

// PlainStop returns the index of the first byte at or after j (j >= 0)
// that is a '"', a '\\', a control character or of 0x80 and above,
// reading eight bytes at a time (stopWord); within the last eight bytes
// of b it stops at the first byte it did not read. Every byte from j to
// the index returned is printable ASCII other than '"' and '\\': when the
// byte there is a '"', a string whose content starts at j ends there and
// is plain (String's plain, and ASCII). Small enough to be inlined: a
// decoder's member loop scans names and values with it without a call.
func PlainStop(b []byte, j int) int {
	for ; j <= len(b)-8; j += 8 {
		if stop := stopWord(load64(b, j)); stop != 0 {
			return j + bits.TrailingZeros64(stop)>>3
		}
	}
	return j
}

// PlainStop16 is PlainStop reading sixteen bytes a turn, with swar's
// words in registers (a function of its own: inlined in a loop that
// holds many values, they would be written again on every turn).
func PlainStop16(b []byte, j int) int {
	quoteCtl, below, backslash, low, high := swar.quoteCtl, swar.below, swar.backslash, swar.low, swar.high
	for ; j <= len(b)-16; j += 16 {
		x, y := load64(b, j), load64(b, j+8)
		lo := (((x ^ quoteCtl) - below) | ((x ^ backslash) - low)) & high
		hi := (((y ^ quoteCtl) - below) | ((y ^ backslash) - low)) & high
		if lo|hi != 0 {
			if lo != 0 {
				return j + bits.TrailingZeros64(lo)>>3
			}
			return j + 8 + bits.TrailingZeros64(hi)>>3
		}
	}
	return PlainStop(b, j)
}

// Word returns the eight bytes of b at i as a little-endian word; i >= 0
// and i+8 <= len(b) are the caller's to check (no bounds check is made
// where the processor loads from any address).
func Word(b []byte, i int) uint64 { return load64(b, i) }

// swarConsts are the words stopWord tests with. String reads them from
// swar, a variable: as constants, the compiler writes each into a register
// again on every turn of the loop.
type swarConsts struct{ quoteCtl, below, backslash, low, high uint64 }

var swar = swarConsts{0x02 * lowBits, 0x21 * lowBits, '\\' * lowBits, lowBits, highBits}

// stringRest goes on with the string at B[i] from j, where String stopped
// (or the last eight bytes of B begin): every content byte before j is
// ASCII, and neither a quote, a backslash nor a control character.
func (s *Scanner) stringRest(i, j int) (end int, plain bool) {
	b := s.B
	// acc ORs the words read: a top bit set means a byte of 0x80 or
	// above, in the string or just past it (the last word runs on past
	// the stop), and only then is the content checked for UTF-8.
	var acc uint64
	plain = true
	for {
		for j <= len(b)-8 {
			x := load64(b, j)
			acc |= x
			if stop := stringStops(x); stop != 0 {
				j += bits.TrailingZeros64(stop) >> 3
				goto stop
			}
			j += 8
		}
		for ; j < len(b); j++ {
			c := b[j]
			if c == '"' || c == '\\' || c < 0x20 {
				goto stop
			}
			acc |= uint64(c)
		}
		return s.fail(), false
	stop:
		switch c := b[j]; {
		case c == '"':
			if plain && acc&highBits != 0 && !utf8.Valid(b[i+1:j]) {
				plain = false
			}
			return j + 1, plain
		case c == '\\':
			plain = false
			if j+1 >= len(b) {
				return s.fail(), false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !isHex4(b[j+2:j+6]) {
					return s.fail(), false
				}
				j += 6
			default:
				return s.fail(), false
			}
		default: // a control character
			return s.fail(), false
		}
	}
}

func isHex4(h []byte) bool {
	for _, c := range h[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number scans the number at B[i] (a '-' or a digit).
func (s *Scanner) number(i int) int {
	b := s.B
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j++; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
	default:
		return s.fail()
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return s.fail()
		}
		for j++; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return s.fail()
		}
		for j++; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		}
	}
	return j
}

func (s *Scanner) literal(i int, lit string) int {
	if len(s.B)-i >= len(lit) && string(s.B[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return s.fail()
}

// Skip checks the value at i (blanks first) and returns the index past it.
func (s *Scanner) Skip(i int) int {
	if s.Bad {
		return len(s.B)
	}
	b := s.B
	i = s.ws(i)
	if i >= len(b) {
		return s.fail()
	}
	switch c := b[i]; c {
	case '"':
		end, ok := s.PlainString(i)
		if !ok {
			end, _ = s.String(i)
		}
		return end
	case '{':
		// The usual member, "name":value written compactly with a plain
		// ASCII name and a plain ASCII string, an integer, true, false or
		// null for value, is scanned here (names and strings with
		// PlainStop, inlined, as the decoders' member loops do), and so
		// is the usual end of a member, ," or }; anything else by Key,
		// String, Skip and Next, which decide it as before.
		if i+1 < len(b) && b[i+1] == '"' && s.Depth < MaxStrictDepth {
			s.Depth++ // Open's usual case
			i++
		} else {
			var more bool
			if i, more = s.Open(i); !more {
				return i
			}
		}
		for {
			var vi, end int
			if e := PlainStop(b, i+1); e+2 < len(b) && i < len(b) && b[i] == '"' && b[e] == '"' && b[e+1] == ':' && b[e+2] > ' ' {
				vi = e + 2
			} else {
				_, _, vi = s.Key(i)
			}
			if vi < len(b) && b[vi] == '"' {
				if e := PlainStop(b, vi+1); e < len(b) && b[e] == '"' {
					end = e + 1
				} else {
					end, _ = s.String(vi) // Key skipped the blanks
				}
			} else if end = compactScalar(b, vi); end < 0 {
				end = s.Skip(vi)
			}
			if end+1 < len(b) {
				if c := b[end]; c == ',' && b[end+1] == '"' {
					i = end + 1
					continue
				} else if c == '}' {
					s.Depth--
					return end + 1
				}
			}
			var more bool
			if i, more = s.Next(end); !more {
				return i
			}
		}
	case '[':
		// OpenArray's usual cases: an element or the closing bracket
		// right after the opening one.
		var more bool
		if i+1 < len(b) && b[i+1] > ' ' && s.Depth < MaxStrictDepth {
			if b[i+1] == ']' {
				return i + 2
			}
			s.Depth++
			i, more = i+1, true
		} else {
			i, more = s.OpenArray(i)
		}
		for more {
			end := s.Skip(i)
			if end+1 < len(b) {
				// NextElem's compact cases: a value (Skip decides it)
				// right after the comma, or the closing bracket.
				if c := b[end]; c == ',' && b[end+1] > ' ' {
					i = end + 1
					continue
				} else if c == ']' {
					s.Depth--
					return end + 1
				}
			}
			i, more = s.NextElem(end)
		}
		return i
	case 't':
		return s.literal(i, "true")
	case 'f':
		return s.literal(i, "false")
	case 'n':
		return s.literal(i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.number(i)
		}
		return s.fail()
	}
}

// compactScalar returns the end of the integer, true, false or null at
// b[i] when a ',', '}' or ']' follows it, else -1: anything else (a
// fraction, an exponent, a blank, a malformed value, one at the end of b)
// is left to Skip.
func compactScalar(b []byte, i int) int {
	if i+5 > len(b) {
		return -1
	}
	end := -1
	switch c := b[i]; c {
	case 't':
		if string(b[i:i+4]) == "true" {
			end = i + 4
		}
	case 'f':
		if string(b[i:i+5]) == "false" {
			end = i + 5
		}
	case 'n':
		if string(b[i:i+4]) == "null" {
			end = i + 4
		}
	default:
		k := i
		if c == '-' {
			k++
		}
		if b[k] == '0' {
			end = k + 1
		} else if b[k]-'1' < 9 {
			for k++; k < len(b) && b[k]-'0' < 10; k++ {
			}
			end = k
		}
	}
	if end < 0 || end >= len(b) || b[end] != ',' && b[end] != '}' && b[end] != ']' {
		return -1
	}
	return end
}

// Open enters the object at B[i] == '{'. more is false for an empty object,
// and i is then past its '}'; otherwise i is at its first member name.
func (s *Scanner) Open(i int) (int, bool) {
	if s.Bad {
		return len(s.B), false
	}
	if s.Depth >= MaxStrictDepth {
		return s.fail(), false
	}
	s.Depth++
	i = s.ws(i + 1)
	if i < len(s.B) && s.B[i] == '}' {
		s.Depth--
		return i + 1, false
	}
	return i, true
}

// Key reads the member name at i and its colon. key is the raw quoted name;
// plain tells it needs no decoding (see String); vi is where the value
// starts (blanks skipped).
func (s *Scanner) Key(i int) (key []byte, plain bool, vi int) {
	b := s.B
	if s.Bad || i >= len(b) || b[i] != '"' {
		return nil, false, s.fail()
	}
	end, plain := s.PlainString(i)
	if !plain {
		end, plain = s.String(i) // len(b) when bad: the colon is then missing
	}
	j := end
	if j >= len(b) || b[j] != ':' {
		if j = s.ws(j); j >= len(b) || b[j] != ':' {
			return nil, false, s.fail()
		}
	}
	if j++; j < len(b) && b[j] > ' ' {
		return b[i:end], plain, j
	}
	return b[i:end], plain, s.ws(j)
}

// Name is Key for a decoder that looks member names up in a table: ascii
// tells that the name is plain ASCII (no escape, no byte of 0x80 and
// above), and then word holds its first eight bytes as a little-endian
// word, zero past its end (what the table hashes). ascii may be false for
// such a name near the end of B; plain is then as Key's.
func (s *Scanner) Name(i int) (key []byte, plain, ascii bool, word uint64, vi int) {
	b := s.B
	if s.Bad || i >= len(b) || b[i] != '"' {
		return nil, false, false, 0, s.fail()
	}
	// String's loop, with the first word kept.
	quoteCtl, below, backslash, low, high := swar.quoteCtl, swar.below, swar.backslash, swar.low, swar.high
	end := 0
	if j, last := i+1, len(b)-8; j <= last {
		x := load64(b, j)
		stop := (((x ^ quoteCtl) - below) | ((x ^ backslash) - low)) & high
		if stop != 0 {
			n := bits.TrailingZeros64(stop) >> 3
			if b[j+n] == '"' {
				word = x & (1<<(8*uint(n)) - 1)
				end, ascii = j+n+1, true
			}
		} else {
			word = x
			for j += 8; j <= last; j += 8 {
				x := load64(b, j)
				if stop := (((x ^ quoteCtl) - below) | ((x ^ backslash) - low)) & high; stop != 0 {
					j += bits.TrailingZeros64(stop) >> 3
					if b[j] == '"' {
						end, ascii = j+1, true
					}
					break
				}
			}
		}
	}
	if ascii {
		plain = true
	} else {
		word = 0
		end, plain = s.String(i) // len(b) when bad: the colon is then missing
	}
	j := end
	if j >= len(b) || b[j] != ':' {
		if j = s.ws(j); j >= len(b) || b[j] != ':' {
			return nil, false, false, 0, s.fail()
		}
	}
	if j++; j < len(b) && b[j] > ' ' {
		return b[i:end], plain, ascii, word, j
	}
	return b[i:end], plain, ascii, word, s.ws(j)
}

// Next moves on after a member value ending at i: more is true and i at
// the next member name after a ','; false and i past the '}' at the end.
func (s *Scanner) Next(i int) (int, bool) {
	if s.Bad {
		return len(s.B), false
	}
	b := s.B
	if i < len(b) && b[i] == ',' && i+1 < len(b) && b[i+1] == '"' {
		return i + 1, true // written compactly
	}
	i = s.ws(i)
	if i < len(b) {
		switch b[i] {
		case ',':
			return s.ws(i + 1), true
		case '}':
			s.Depth--
			return i + 1, false
		}
	}
	return s.fail(), false
}

// OpenArray enters the array at B[i] == '['; more is false for an empty
// array (i past its ']'), else i is at its first element.
func (s *Scanner) OpenArray(i int) (int, bool) {
	if s.Bad {
		return len(s.B), false
	}
	if s.Depth >= MaxStrictDepth {
		return s.fail(), false
	}
	s.Depth++
	i = s.ws(i + 1)
	if i < len(s.B) && s.B[i] == ']' {
		s.Depth--
		return i + 1, false
	}
	return i, true
}

// NextElem moves on after an element ending at i (see Next).
func (s *Scanner) NextElem(i int) (int, bool) {
	if s.Bad {
		return len(s.B), false
	}
	i = s.ws(i)
	if i < len(s.B) {
		switch s.B[i] {
		case ',':
			return s.ws(i + 1), true
		case ']':
			s.Depth--
			return i + 1, false
		}
	}
	return s.fail(), false
}

// End checks that only blanks follow the top-level value ending at i.
func (s *Scanner) End(i int) {
	if !s.Bad && s.ws(i) != len(s.B) {
		s.fail()
	}
}

// knownLen is known(rest), or 0 when known is nil.
func knownLen(known func(rest []byte) int, rest []byte) int {
	if known == nil {
		return 0
	}
	return known(rest)
}
