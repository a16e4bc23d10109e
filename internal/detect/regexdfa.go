package detect

import (
	"regexp/syntax"
	"slices"
	"unicode"
	"unsafe"
)

// asciiDFA is a regular expression made, at load, into a deterministic
// automaton over ASCII bytes: MatchString of an ASCII value is one table
// step a byte. Go's regexp runs a backtracker (or an NFA) per call, which
// on the rules' expressions — an alternation of thirty providers under
// (?i), `[^/]+` and `.+` segments — cost tens of thousands of instructions
// a value where the automaton costs a few hundred.
//
// It is built from the program regexp compiles (syntax.Parse with
// syntax.Perl, Simplify, syntax.Compile), so it matches what the
// expression matches: each state is the set of the program's instructions
// threads stand on, a byte steps every one of them (Inst.MatchRune, which
// also folds case), and a search that is not anchored starts again at every
// byte, as MatchString does. A value with a byte of 0x80 or above is left
// to regexp (runes, invalid UTF-8), as is an expression whose program has
// an empty-width assertion other than ^ and $ at the text's ends (\b,
// (?m)^), or whose automaton would pass maxDFAStates.
type asciiDFA struct {
	class  [128]uint8 // byte -> its class: bytes no instruction tells apart share one
	nclass int
	next   []int32 // state*nclass + class -> state
	accept []bool  // state: a match has ended (MatchString is true)
	atEnd  []bool  // state: a match ends at the end of the text
	empty  bool    // the empty text matches
}

// maxDFAStates bounds an automaton; past it, the expression is left to
// regexp.
const maxDFAStates = 2048

// dfaSet is a state under construction: instruction indexes, sorted.
type dfaSet []uint32

// newASCIIDFA builds the automaton of expr, or returns nil when it cannot.
func newASCIIDFA(expr string) *asciiDFA {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	b := &dfaBuilder{prog: prog, seen: make([]uint32, len(prog.Inst)), masks: make([]asciiMask, len(prog.Inst))}
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		if in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
			return nil
		}
		b.masks[pc] = maskOf(in)
	}
	d := &asciiDFA{}
	rep := b.classes(d)
	d.empty = b.closureHasMatch([]uint32{uint32(prog.Start)}, true, true)
	// restart is where an unanchored search begins again past the first
	// byte (empty when the expression starts with ^).
	restart := b.closure(nil, []uint32{uint32(prog.Start)}, false)
	start := b.closure(nil, []uint32{uint32(prog.Start)}, true)
	index := make(map[string]int32, 64)
	var sets []dfaSet
	// add returns the state of s, kept (a copy) when new: s may be a
	// scratch buffer.
	add := func(s dfaSet) int32 {
		k := unsafe.String((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
		if id, ok := index[k]; ok {
			return id
		}
		s = slices.Clone(s)
		k = unsafe.String((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
		id := int32(len(sets))
		index[k] = id
		sets = append(sets, s)
		return id
	}
	add(start)
	// Where a byte that no thread takes leads: the search started
	// again (nowhere, under ^). Most bytes of most states go there.
	restartID := int32(-1)
	var stepped []uint32
	var scratch dfaSet
	for i := 0; i < len(sets); i++ {
		if len(sets) > maxDFAStates {
			return nil
		}
		s := sets[i]
		d.accept = append(d.accept, b.hasMatch(s))
		d.atEnd = append(d.atEnd, b.closureHasMatch(s, false, true))
		// The bytes any thread of s steps on: a class none does (most,
		// in most states) restarts without a look at each thread.
		var any asciiMask
		for _, pc := range s {
			any[0] |= b.masks[pc][0]
			any[1] |= b.masks[pc][1]
		}
		for _, c := range rep {
			stepped = stepped[:0]
			if any.has(c) {
				for _, pc := range s {
					if b.masks[pc].has(c) {
						stepped = append(stepped, b.prog.Inst[pc].Out)
					}
				}
			}
			if len(stepped) == 0 {
				if restartID < 0 {
					restartID = add(restart)
				}
				d.next = append(d.next, restartID)
				continue
			}
			stepped = append(stepped, restart...)
			scratch = b.closure(scratch[:0], stepped, false)
			d.next = append(d.next, add(scratch))
		}
	}
	return d
}

// match reports whether the expression matches s; ok is false when s is
// not ASCII (regexp decides).
func (d *asciiDFA) match(s string) (matched, ok bool) {
	if len(s) == 0 {
		return d.empty, true
	}
	st := int32(0)
	if d.accept[0] {
		return true, isASCIIString(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return false, false
		}
		st = d.next[int(st)*d.nclass+int(d.class[c])]
		if d.accept[st] {
			// A non-ASCII value is regexp's, also past the match.
			return true, isASCIIString(s[i:])
		}
	}
	return d.atEnd[st], true
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiMask is a set of ASCII bytes.
type asciiMask [2]uint64

func (m *asciiMask) set(c rune) {
	if c >= 0 && c < 128 {
		m[c>>6] |= 1 << (c & 63)
	}
}

func (m *asciiMask) has(c byte) bool { return m[c>>6]&(1<<(c&63)) != 0 }

// maskOf is the ASCII bytes a consuming instruction matches, as
// Inst.MatchRune (and, for any byte, InstRuneAny and InstRuneAnyNotNL)
// tells them; nothing for the others.
func maskOf(in *syntax.Inst) asciiMask {
	var m asciiMask
	switch in.Op {
	case syntax.InstRuneAny:
		m = asciiMask{^uint64(0), ^uint64(0)}
	case syntax.InstRuneAnyNotNL:
		m = asciiMask{^uint64(0) &^ (1 << '\n'), ^uint64(0)}
	case syntax.InstRune, syntax.InstRune1:
		if len(in.Rune) == 1 {
			// A literal: the rune, and its case orbit under (?i).
			r0 := in.Rune[0]
			m.set(r0)
			if in.Op == syntax.InstRune && syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
				for r := unicode.SimpleFold(r0); r != r0; r = unicode.SimpleFold(r) {
					m.set(r)
				}
			}
			break
		}
		for i := 0; i+1 < len(in.Rune); i += 2 {
			for r := in.Rune[i]; r <= in.Rune[i+1] && r < 128; r++ {
				m.set(r)
			}
		}
	}
	return m
}

// classes splits the ASCII bytes into classes that every consuming
// instruction treats alike, and returns a byte of each.
func (b *dfaBuilder) classes(d *asciiDFA) []byte {
	distinct := map[asciiMask]bool{}
	for pc := range b.prog.Inst {
		if consumes(&b.prog.Inst[pc]) {
			distinct[b.masks[pc]] = true
		}
	}
	// Refine one partition by each mask: bytes stay together while every
	// mask has both or neither.
	var cls [128]int
	var split [256]int // (class, in the mask) -> the class it becomes, +1
	n := 1
	for m := range distinct {
		clear(split[:2*n])
		next := 0
		for c := 0; c < 128; c++ {
			k := 2 * cls[c]
			if m.has(byte(c)) {
				k++
			}
			if split[k] == 0 {
				next++
				split[k] = next
			}
			cls[c] = split[k] - 1
		}
		n = next
	}
	rep := make([]byte, n)
	for c := 127; c >= 0; c-- {
		d.class[c] = uint8(cls[c])
		rep[cls[c]] = byte(c)
	}
	d.nclass = n
	return rep
}

func consumes(in *syntax.Inst) bool {
	switch in.Op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

type dfaBuilder struct {
	prog  *syntax.Prog
	masks []asciiMask // by instruction: the bytes it consumes
	seen  []uint32    // closure marks, by generation
	gen   uint32
	stack []uint32
}

// closure adds to dst (sorted) the instructions reached from pcs without
// consuming a byte: the consuming ones, Match, and the $ assertions not yet
// at the end (kept, to be passed at the end of the text). atStart: at the
// start of the text (^ passes).
func (b *dfaBuilder) closure(dst dfaSet, pcs []uint32, atStart bool) dfaSet {
	b.gen++
	for _, pc := range dst {
		b.seen[pc] = b.gen
	}
	b.stack = append(b.stack[:0], pcs...)
	for len(b.stack) > 0 {
		pc := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if b.seen[pc] == b.gen {
			continue
		}
		b.seen[pc] = b.gen
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			b.stack = append(b.stack, in.Arg, in.Out)
		case syntax.InstCapture, syntax.InstNop:
			b.stack = append(b.stack, in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&syntax.EmptyBeginText != 0 && !atStart {
				continue
			}
			if op&syntax.EmptyEndText != 0 {
				dst = append(dst, pc) // passes at the end only
				continue
			}
			b.stack = append(b.stack, in.Out)
		case syntax.InstMatch:
			dst = append(dst, pc)
		case syntax.InstFail:
		default:
			dst = append(dst, pc)
		}
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

func (b *dfaBuilder) hasMatch(s dfaSet) bool {
	for _, pc := range s {
		if b.prog.Inst[pc].Op == syntax.InstMatch {
			return true
		}
	}
	return false
}

// closureHasMatch reports whether, at the end of the text, a thread at pcs
// reaches Match (passing $, and ^ when atStart).
func (b *dfaBuilder) closureHasMatch(pcs []uint32, atStart, atEnd bool) bool {
	b.gen++
	b.stack = append(b.stack[:0], pcs...)
	for len(b.stack) > 0 {
		pc := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if b.seen[pc] == b.gen {
			continue
		}
		b.seen[pc] = b.gen
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			b.stack = append(b.stack, in.Arg, in.Out)
		case syntax.InstCapture, syntax.InstNop:
			b.stack = append(b.stack, in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&syntax.EmptyBeginText != 0 && !atStart || op&syntax.EmptyEndText != 0 && !atEnd {
				continue
			}
			b.stack = append(b.stack, in.Out)
		case syntax.InstMatch:
			return true
		}
	}
	return false
}
