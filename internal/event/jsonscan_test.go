package event

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
)

// checkScanner holds the strict scanner to encoding/json on raw: the same
// verdict as json.Valid, and every string it meets plain exactly when its
// content is the decoded value as written (no escape, valid UTF-8).
func checkScanner(t *testing.T, raw []byte) {
	t.Helper()
	s := Scanner{B: raw}
	end := s.Skip(0)
	s.End(end)
	if valid := json.Valid(raw); !s.Bad != valid {
		t.Fatalf("%q: scanner valid=%t, json.Valid=%t", raw, !s.Bad, valid)
	}
	if end > len(raw) {
		t.Fatalf("%q: end %d past the input", raw, end)
	}
	if !s.Bad && s.Depth != 0 {
		t.Fatalf("%q: depth %d after a valid text", raw, s.Depth)
	}
	if !s.Bad { // (SkipValue stops at depth maxDepth)
		if lend, err := SkipValue(raw, 0); (err != nil && !strings.Contains(err.Error(), "nested too deep")) || err == nil && lend != SkipSpace(raw, 0)+len(bytes.TrimSpace(raw)) {
			t.Fatalf("%q: SkipValue = %d, %v on valid JSON", raw, lend, err)
		}
	}
	// Every '"' the scanner can start a string at: the same end and plain
	// as a byte-by-byte reading of the grammar.
	for i := range raw {
		if raw[i] != '"' {
			continue
		}
		s := Scanner{B: raw}
		end, plain := s.String(i)
		wantEnd, wantPlain, ok := referenceString(raw, i)
		if s.Bad != !ok || (ok && (end != wantEnd || plain != wantPlain)) {
			t.Fatalf("%q at %d: String = %d, %t (bad %t); want %d, %t (ok %t)", raw, i, end, plain, s.Bad, wantEnd, wantPlain, ok)
		}
		if s.Bad && end != len(raw) {
			t.Fatalf("%q at %d: bad string ends at %d, want len %d", raw, i, end, len(raw))
		}
		if ok && PlainASCII(raw[i+1:wantEnd-1]) != (wantPlain && isASCIIRef(raw[i+1:wantEnd-1])) {
			t.Fatalf("%q at %d: PlainASCII = %t", raw, i, !(wantPlain && isASCIIRef(raw[i+1:wantEnd-1])))
		}
		// PlainStop stops at the first byte a plain ASCII string's
		// content cannot hold, or at the first of the last eight bytes
		// it did not read.
		if e := PlainStop(raw, i+1); e > len(raw) || e < i+1 {
			t.Fatalf("%q at %d: PlainStop = %d", raw, i, e)
		} else {
			for j := i + 1; j < e; j++ {
				if c := raw[j]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
					t.Fatalf("%q at %d: PlainStop = %d, past %q at %d", raw, i, e, c, j)
				}
			}
			if c := raw[min(e, len(raw)-1)]; e < len(raw)-7 && !(c == '"' || c == '\\' || c < 0x20 || c >= 0x80) {
				t.Fatalf("%q at %d: PlainStop = %d at %q", raw, i, e, c)
			}
		}
		// PlainStop16 reads the same words, two a turn: the same stop.
		if e, e16 := PlainStop(raw, i+1), PlainStop16(raw, i+1); e16 != e {
			t.Fatalf("%q at %d: PlainStop16 = %d, PlainStop %d", raw, i, e16, e)
		}
		// PlainString answers only for plain ASCII content, as String.
		if pend, ok := (&Scanner{B: raw}).PlainString(i); ok && (!wantPlain || pend != wantEnd || !isASCIIRef(raw[i+1:wantEnd-1])) {
			t.Fatalf("%q at %d: PlainString = %d, true; want %d, plain %t", raw, i, pend, wantEnd, wantPlain)
		} else if !ok && wantPlain && isASCIIRef(raw[i+1:wantEnd-1]) && wantEnd <= len(raw)-7 {
			t.Fatalf("%q at %d: PlainString turns down a plain ASCII string ending at %d", raw, i, wantEnd)
		}
		// Name reads a member name as Key does, and its first word.
		checkName(t, raw, i)
		// The lenient scanner (SkipValue's) ends a valid string alike.
		if lend, _, err := scanString(raw, i); ok && (err != nil || lend != wantEnd) {
			t.Fatalf("%q at %d: scanString = %d, %v; want %d", raw, i, lend, err, wantEnd)
		}
	}
}

// checkName holds Scanner.Name to Key at b[i]: the same name, plain, value
// index and verdict; ascii only for a plain ASCII name, with its first
// eight bytes (zero past its end) in word.
func checkName(t *testing.T, raw []byte, i int) {
	t.Helper()
	s1, s2 := Scanner{B: raw}, Scanner{B: raw}
	key, plain, vi := s1.Key(i)
	nkey, nplain, ascii, word, nvi := s2.Name(i)
	if s1.Bad != s2.Bad || vi != nvi || !bytes.Equal(key, nkey) || plain != nplain {
		t.Fatalf("%q at %d: Name = %q, %t, %d (bad %t); Key = %q, %t, %d (bad %t)", raw, i, nkey, nplain, nvi, s2.Bad, key, plain, vi, s1.Bad)
	}
	if !ascii {
		if word != 0 {
			t.Fatalf("%q at %d: word %#x for a name not ascii", raw, i, word)
		}
		return
	}
	content := key[1 : len(key)-1]
	if !plain || !isASCIIRef(content) || bytes.IndexByte(content, '\\') >= 0 {
		t.Fatalf("%q at %d: Name says ascii for %q", raw, i, key)
	}
	var want [8]byte
	copy(want[:], content)
	if w := binary.LittleEndian.Uint64(want[:]); w != word {
		t.Fatalf("%q at %d: word %#x, want %#x", raw, i, word, w)
	}
}

func isASCIIRef(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// referenceString reads the JSON string at b[i] == '"' a byte at a time.
func referenceString(b []byte, i int) (end int, plain, ok bool) {
	plain = true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if plain && !utf8.Valid(b[i+1:j]) {
				plain = false
			}
			return j + 1, plain, true
		case c == '\\':
			plain = false
			if j+1 >= len(b) {
				return 0, false, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if j+6 > len(b) {
					return 0, false, false
				}
				for _, h := range b[j+2 : j+6] {
					if !strings.ContainsRune("0123456789abcdefABCDEF", rune(h)) {
						return 0, false, false
					}
				}
				j += 5
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		}
	}
	return 0, false, false
}

// scannerSeeds are the edges of the grammar and of the eight-byte reading:
// every stop byte at every place of a word, at the end of the input and not.
func scannerSeeds() []string {
	seeds := []string{
		``, ` `, `{}`, `[]`, `{ }`, `[ ]`, ` {"a" : 1 , "b":[ 1 , 2 ] } `, `{"a":1,}`, `{"a":1 "b":2}`, `{"a" 1}`, `{,}`,
		`[1,]`, `[,1]`, `[1 2]`, `{"a":[}`, `{"a":{]}`, `"x"`, `"x`, `"\`, `"\"`, `"\\"`, `"\u00e9"`, `"\u00G9"`, `"\u00e"`,
		`"\q"`, "\"\x01\"", "\"\x7f\"", "\"\xff\"", "\"\xc3\xa9\"", "\"\xc3\"", "\"\xed\xa0\x80\"", `"\ud83d\ude00"`,
		`0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1e+5`, `1E-05`, `.5`, `+1`, `true`, `tru`, `false`, `null`, `nul`,
		`{"a":tru}`, `{"a":nulll}`, `[true,false,null]`, `{"a":"b"}x`, `{"a":"b"} {}`, "{\"a\":\"b\"}\t\r\n",
		"{\"a\":\n\"b\"}", "{\"a\":\"\nb\"}", `{"\u0074ime":1}`, `{"a":{"b":{"c":[[[]]]}}}`,
	}
	for n := 0; n <= 34; n++ {
		for _, stop := range []string{`"`, `\`, `\n`, `\u0041`, "\x1f", "\xc3\xa9", "\xe9"} {
			body := strings.Repeat("a", n)
			for _, tail := range []string{``, `"`, `","b":"c"}`, `"          `} {
				seeds = append(seeds, `{"`+body+stop+`x`+tail, `["`+body+stop+tail)
			}
		}
	}
	return seeds
}

func TestScannerAgreesWithValid(t *testing.T) {
	for _, s := range scannerSeeds() {
		checkScanner(t, []byte(s))
	}
	deep := strings.Repeat("[", MaxStrictDepth) + strings.Repeat("]", MaxStrictDepth)
	checkScanner(t, []byte(deep))
	checkScanner(t, []byte("["+deep+"]"))
	deepObj := strings.Repeat(`{"a":`, MaxStrictDepth-1) + `{"a":1}` + strings.Repeat("}", MaxStrictDepth-1)
	checkScanner(t, []byte(deepObj))
	checkScanner(t, []byte(`{"a":`+deepObj+`}`))
	checkScanner(t, []byte(`[`+deepObj+`]`))
	for _, s := range scannerSeeds() {
		checkSkipInContext(t, []byte(s))
	}
	for _, r := range benchcorpus.Generate(600) {
		checkScanner(t, r.Line)
	}
	samples := 0
	walk := func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		samples++
		checkScanner(t, data)
		for _, line := range bytes.Split(data, []byte("\n")) {
			checkScanner(t, line)
		}
		return nil
	}
	_ = filepath.WalkDir("../../testdata", walk)
	_ = filepath.WalkDir("../../../shared/reference/samples", walk)
	t.Logf("%d files of testdata and reference samples", samples)
}

// checkSkipInContext holds Skip to encoding/json on raw as a member value
// and as an array element, written compactly and with blanks around it:
// the same verdict as json.Valid on the whole text, and, when valid, every
// object and array it opened closed again (Depth back to 0).
func checkSkipInContext(t *testing.T, raw []byte) {
	t.Helper()
	for _, wrap := range [][2]string{
		{`{"a":`, `}`}, {`{"a":`, `,"b":1}`}, {`[`, `]`}, {`[`, `,1]`}, {`[1,`, `]`},
		{"{ \"a\" : ", " , \"b\" : null }"}, {"[ ", " , [ ] ]"}, {`[[`, `]]`}, {`{"a":[`, `]}`},
	} {
		text := []byte(wrap[0] + string(raw) + wrap[1])
		s := Scanner{B: text}
		s.End(s.Skip(0))
		if valid := json.Valid(text); !s.Bad != valid {
			t.Fatalf("%q: scanner valid=%t, json.Valid=%t", text, !s.Bad, valid)
		}
		if !s.Bad && s.Depth != 0 {
			t.Fatalf("%q: depth %d after a valid text", text, s.Depth)
		}
	}
}

// FuzzSkipAgrees: go test -run '^$' -fuzz FuzzSkipAgrees ./internal/event/
func FuzzSkipAgrees(f *testing.F) {
	for _, s := range scannerSeeds() {
		f.Add([]byte(s))
	}
	for _, s := range []string{`-`, `-0`, `01`, `1.`, `1e5`, `tru`, `nul`, `true `, `[true]`, `{"a":-}`, `{"a":1}`, `[{"a":[1,2,{}]}]`, `{"a":0,"b":-12}`, `[1,]`, `{"a":1,}`, `[,1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkScanner(t, raw)
		checkSkipInContext(t, raw)
	})
}

// FuzzScanner: go test -run '^$' -fuzz FuzzScanner ./internal/event/
func FuzzScanner(f *testing.F) {
	for _, s := range scannerSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkScanner(t, raw) })
}

// BenchmarkScanner walks the benchmark corpus's records strictly, beside
// json.Valid on the same bytes.
func BenchmarkScanner(b *testing.B) {
	var lines [][]byte
	size := 0
	for _, r := range benchcorpus.Generate(3000) {
		if r.Line[0] == '{' {
			lines = append(lines, r.Line)
			size += len(r.Line)
		}
	}
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(size))
		for b.Loop() {
			for _, l := range lines {
				s := Scanner{B: l}
				if s.End(s.Skip(0)); s.Bad {
					b.Fatal("invalid")
				}
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(size))
		for b.Loop() {
			for _, l := range lines {
				if !json.Valid(l) {
					b.Fatal("invalid")
				}
			}
		}
	})
}

// TestStopWord holds stopWord's lowest stop to a byte-by-byte reading:
// every byte value at every place of a word, over fillers that stop and
// do not, and random words.
func TestStopWord(t *testing.T) {
	first := func(w [8]byte) int {
		for i, c := range w {
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		t.Helper()
		got := 8
		if stop := stopWord(binary.LittleEndian.Uint64(w[:])); stop != 0 {
			got = bits.TrailingZeros64(stop) >> 3
		}
		if want := first(w); got != want {
			t.Fatalf("% x: stop at %d, want %d", w, got, want)
		}
	}
	for _, fill := range []byte{'a', ' ', 0x7f, '"', '\\', 0x1f, 0x80, 0xa2, 0xdc, 0xff, 0x21, 0x5b, 0x5d, 0x23} {
		for v := 0; v < 256; v++ {
			for p := 0; p < 8; p++ {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[p] = byte(v)
				check(w)
				for i := p + 1; i < 8; i++ {
					w[i] = 'a'
				}
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		check(w)
	}
	// Plain bytes up to a place, any byte there, any after (borrows
	// and false stops above the first must not hide it).
	for v := range 256 {
		for p := range 8 {
			for range 64 {
				var w [8]byte
				binary.LittleEndian.PutUint64(w[:], r.Uint64())
				for i := range p {
					w[i] = byte(0x20 + r.IntN(0x60))
					if w[i] == '"' || w[i] == '\\' {
						w[i] = 'a'
					}
				}
				w[p] = byte(v)
				check(w)
			}
		}
	}
}

// ArrayEachKnown cuts the elements ArrayEach cuts, whether it is told
// their lengths or not, and stops where ArrayEach stops.
func TestArrayEachKnown(t *testing.T) {
	for _, arr := range []string{`[]`, `[ ]`, `[{}]`, `[ { } , {"a":"}"} ,"]{",7,[{}],null ]`, `[{"a":[{"b":"\"}"}]}, {"c":1}]`, `[1,`, `[{"a":1}`, `{"a":1}`, `[1 2]`} {
		var want []string
		wantErr := ArrayEach([]byte(arr), func(el []byte) bool { want = append(want, string(el)); return true })
		for _, tell := range []bool{false, true} {
			var got []string
			known := func(rest []byte) int {
				if !tell {
					return 0
				}
				end, err := skipValue(rest, 0, 1)
				if err != nil {
					return 0
				}
				return end
			}
			err := ArrayEachKnown([]byte(arr), known, func(el []byte) bool { got = append(got, string(el)); return true })
			if (err == nil) != (wantErr == nil) || strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s (told %t): %q %v, ArrayEach %q %v", arr, tell, got, err, want, wantErr)
			}
		}
	}
}
