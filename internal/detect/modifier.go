package detect

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// Modifiers are Sigma's "field|mod1|mod2" suffixes. Each name maps to one
// entry of the registry below: a value transform (applied to the rule's
// value at load, before comparison), a comparator (compiles the value into a
// matcher once, at load), or a flag that changes how the comparator or the
// value list behaves. Nothing here runs per event but the matchers.

type modKind int

const (
	modTransform modKind = iota + 1
	modCompare
	modFlag
)

// compileFunc builds the matcher for one rule value.
type compileFunc func(value string, o compileOpts) (matcher, error)

type modifier struct {
	kind      modKind
	transform func(string) string
	compile   compileFunc
}

// compileOpts are the flags gathered from a field's modifier chain.
type compileOpts struct {
	cased   bool   // "cased": compare case-sensitively
	reFlags string // "i", "m", "s" after "re"
}

// modifiers is the registry: the only list to edit when adding one.
var modifiers = map[string]modifier{
	"contains":   {kind: modCompare, compile: compileContains},
	"startswith": {kind: modCompare, compile: compileStartsWith},
	"endswith":   {kind: modCompare, compile: compileEndsWith},
	"re":         {kind: modCompare, compile: compileRegexp},
	"cidr":       {kind: modCompare, compile: compileCIDR},
	"gt":         {kind: modCompare, compile: compileNumeric("gt")},
	"gte":        {kind: modCompare, compile: compileNumeric("gte")},
	"lt":         {kind: modCompare, compile: compileNumeric("lt")},
	"lte":        {kind: modCompare, compile: compileNumeric("lte")},
	"exists":     {kind: modCompare}, // handled by the field: it tests presence, not values
	"all":        {kind: modFlag},
	"cased":      {kind: modFlag},
	"base64":     {kind: modTransform, transform: func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
}

// reSubModifiers are accepted only right after "re" (Sigma's re|i, re|m, re|s).
var reSubModifiers = map[string]string{"i": "i", "m": "m", "s": "s"}

// fieldSpec is a parsed "name|mod|mod" key.
type fieldSpec struct {
	name      string
	transform []func(string) string
	compare   string // "" = equality (with wildcards)
	all       bool
	opts      compileOpts
}

// parseFieldKey splits a selection key into the field name and its modifiers
// and checks the chain: known names, transforms before the comparator, at
// most one comparator, re's sub-modifiers only after re.
func parseFieldKey(key string) (fieldSpec, error) {
	parts := strings.Split(key, "|")
	fs := fieldSpec{name: parts[0]}
	for _, m := range parts[1:] {
		if fs.compare == "re" {
			if f, ok := reSubModifiers[m]; ok {
				if !strings.Contains(fs.opts.reFlags, f) {
					fs.opts.reFlags += f
				}
				continue
			}
		}
		mod, ok := modifiers[m]
		if !ok {
			return fs, fmt.Errorf("unknown modifier %q", m)
		}
		switch mod.kind {
		case modTransform:
			if fs.compare != "" {
				return fs, fmt.Errorf("modifier %q transforms the value but comes after the comparison %q", m, fs.compare)
			}
			fs.transform = append(fs.transform, mod.transform)
		case modCompare:
			if fs.compare != "" {
				return fs, fmt.Errorf("modifier %q: field already compared with %q", m, fs.compare)
			}
			fs.compare = m
		case modFlag:
			switch m {
			case "all":
				fs.all = true
			case "cased":
				fs.opts.cased = true
			}
		}
	}
	if fs.compare == "exists" && (len(fs.transform) > 0 || fs.all) {
		return fs, fmt.Errorf("modifier exists takes no other modifiers")
	}
	return fs, nil
}

// compileValue builds the matcher for one rule value under a field spec.
func compileValue(fs fieldSpec, v string) (matcher, error) {
	for _, t := range fs.transform {
		v = t(v)
	}
	if fs.compare == "" {
		return compileEquals(v, fs.opts)
	}
	return modifiers[fs.compare].compile(v, fs.opts)
}

// subject is one event value offered to matchers: the value as written, and
// trimmed and, when a comparator first needs it, lower-cased (once) for the
// case-insensitive comparators; equality, prefix and suffix compare an
// ASCII value by folding its bytes, without a lower-cased copy. Azure
// pads some values with blanks ("Update application – Certificates and
// secrets management ", " admin@contoso.com"), so plain comparisons ignore
// surrounding white space; regular expressions see the value as written.
type subject struct {
	raw     string
	trimmed string
	lower   string // valid once lowered
	lowered bool
	ascii   bool        // trimmed is all ASCII
	arena   *lowerArena // where lowerText writes an ASCII value's lower case (nil: allocate)
}

func newSubject(s string) subject {
	var sub subject
	sub.set(s, false, nil)
	return sub
}

// set makes sub newSubject(s) in place, lowering into arena; ascii says
// s is ASCII (no byte of 0x80 or above: not looked at again) or may not
// be (looked at).
func (sub *subject) set(s string, ascii bool, arena *lowerArena) {
	t := s
	// Most values (addresses, ports, names) start and end with a printable
	// ASCII byte: nothing to trim, which TrimSpace would find the long way.
	// A Unicode space ends in a byte >= 0x80, an ASCII one is <= ' '.
	if n := len(t); n == 0 || t[0] <= ' ' || t[0] >= utf8.RuneSelf || t[n-1] <= ' ' || t[n-1] >= utf8.RuneSelf {
		t = strings.TrimSpace(s)
	}
	*sub = subject{raw: s, trimmed: t, ascii: ascii || isASCII(t), arena: arena}
}

// Eight bytes at a time (SWAR): the loops over a value's bytes (is it
// ASCII, has it an upper-case letter, its lower case) read a word where
// they read a byte.
const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x80 * swarOnes
)

// word8 is the eight bytes of s at i, the first in the low byte.
func word8(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
}

// isASCII reports whether s has no byte of 0x80 or above.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if word8(s, i)&swarHigh != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// upperBytes has the high bit of each byte of x (ASCII: each byte below
// 0x80) that is an upper-case letter: b+0x3f reaches 0x80 from 'A' on,
// b+0x25 from past 'Z' on, and neither carries into the next byte.
func upperBytes(x uint64) uint64 {
	return ((x + swarOnes*(0x80-'A')) ^ (x + swarOnes*(0x80-'Z'-1))) & swarHigh
}

// lowerText returns the trimmed value lower-cased, computed on first use.
func (s *subject) lowerText() string {
	if !s.lowered {
		if s.ascii && s.arena != nil {
			s.lower = s.arena.lower(s.trimmed)
		} else {
			s.lower = strings.ToLower(s.trimmed)
		}
		s.lowered = true
	}
	return s.lower
}

// lowerArena holds the lower-cased copies of one event's ASCII values, in
// one buffer reused from event to event (the field cache resets it): a
// string of its bytes is valid until then.
type lowerArena struct{ b []byte }

// lower returns ASCII t lower-cased: t itself when it has no upper case.
func (a *lowerArena) lower(t string) string {
	i := 0
	for ; i+8 <= len(t); i += 8 {
		if upperBytes(word8(t, i)) != 0 {
			break
		}
	}
	for i < len(t) && !('A' <= t[i] && t[i] <= 'Z') {
		i++
	}
	if i == len(t) {
		return t
	}
	start := len(a.b)
	a.b = append(a.b, t...)
	b := a.b[start:]
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		binary.LittleEndian.PutUint64(b[i:], x|upperBytes(x)>>2) // 0x80>>2: the case bit
	}
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return unsafe.String(&b[0], len(b))
}

// matcher is a compiled rule value.
type matcher interface {
	match(s *subject) bool
}

// literal compares a whole value (no wildcards).
type literal struct {
	want  string // lower-cased unless cased
	cased bool
	op    byte // '=', 'c' contains, 's' startswith, 'e' endswith
}

func (l literal) match(s *subject) bool {
	var v string
	switch {
	case l.cased:
		v = s.trimmed
	case s.ascii && l.op != 'c':
		// ToLower keeps an ASCII value's length: fold in place.
		t := s.trimmed
		switch l.op {
		case 's':
			return len(t) >= len(l.want) && event.EqualFoldASCII(t[:len(l.want)], l.want)
		case 'e':
			return len(t) >= len(l.want) && event.EqualFoldASCII(t[len(t)-len(l.want):], l.want)
		default:
			return event.EqualFoldASCII(t, l.want)
		}
	default:
		v = s.lowerText()
	}
	switch l.op {
	case 'c':
		return strings.Contains(v, l.want)
	case 's':
		return strings.HasPrefix(v, l.want)
	case 'e':
		return strings.HasSuffix(v, l.want)
	default:
		return v == l.want
	}
}

// glob is a value with unescaped * or ? wildcards, matched against the whole
// value.
type glob struct {
	pat   []globToken
	cased bool
}

type globToken struct {
	lit  string // literal text (lower-cased unless cased)
	star bool   // '*'
	one  bool   // '?'
}

func (g glob) match(s *subject) bool {
	v := s.lowerText()
	if g.cased {
		v = s.trimmed
	}
	return globMatch(g.pat, v)
}

// globMatch matches tokens against v with the usual backtracking on the last
// star: linear for patterns with one star, O(len(v)*stars) at worst.
func globMatch(pat []globToken, v string) bool {
	pi, vi := 0, 0
	starPi, starVi := -1, 0
	for {
		if pi < len(pat) {
			t := pat[pi]
			switch {
			case t.star:
				starPi, starVi = pi, vi
				pi++
				continue
			case t.one:
				if vi < len(v) {
					_, n := utf8.DecodeRuneInString(v[vi:])
					vi += n
					pi++
					continue
				}
			default:
				if strings.HasPrefix(v[vi:], t.lit) {
					vi += len(t.lit)
					pi++
					continue
				}
			}
		} else if vi == len(v) {
			return true
		}
		// Mismatch: let the last star swallow one more rune.
		if starPi < 0 || starVi >= len(v) {
			return false
		}
		_, n := utf8.DecodeRuneInString(v[starVi:])
		starVi += n
		pi, vi = starPi+1, starVi
	}
}

// parseWildcards splits a Sigma value into literal runs and wildcards.
// A backslash escapes *, ? and itself; before any other character it is a
// plain backslash (Sigma's rule, so Windows paths need no doubling).
func parseWildcards(v string) (toks []globToken, hasWild bool) {
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			toks = append(toks, globToken{lit: b.String()})
			b.Reset()
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 < len(v) && (v[i+1] == '*' || v[i+1] == '?' || v[i+1] == '\\') {
				b.WriteByte(v[i+1])
				i++
				continue
			}
			b.WriteByte(c)
		case '*':
			flush()
			hasWild = true
			if len(toks) == 0 || !toks[len(toks)-1].star {
				toks = append(toks, globToken{star: true})
			}
		case '?':
			flush()
			hasWild = true
			toks = append(toks, globToken{one: true})
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return toks, hasWild
}

// compilePattern builds a literal or glob matcher for v wrapped in optional
// leading/trailing stars (contains, startswith, endswith).
func compilePattern(v string, o compileOpts, lead, trail bool) matcher {
	toks, wild := parseWildcards(v)
	fold := func(s string) string {
		if o.cased {
			return s
		}
		return strings.ToLower(s)
	}
	if !wild {
		var lit string
		for _, t := range toks {
			lit += t.lit
		}
		lit = fold(lit)
		op := byte('=')
		switch {
		case lead && trail:
			op = 'c'
		case trail:
			op = 's'
		case lead:
			op = 'e'
		}
		return literal{want: lit, cased: o.cased, op: op}
	}
	var pat []globToken
	if lead {
		pat = append(pat, globToken{star: true})
	}
	for _, t := range toks {
		if t.star && len(pat) > 0 && pat[len(pat)-1].star {
			continue
		}
		if t.lit != "" {
			t.lit = fold(t.lit)
		}
		pat = append(pat, t)
	}
	if trail && (len(pat) == 0 || !pat[len(pat)-1].star) {
		pat = append(pat, globToken{star: true})
	}
	return glob{pat: pat, cased: o.cased}
}

func compileEquals(v string, o compileOpts) (matcher, error) {
	return compilePattern(v, o, false, false), nil
}

func compileContains(v string, o compileOpts) (matcher, error) {
	return compilePattern(v, o, true, true), nil
}

func compileStartsWith(v string, o compileOpts) (matcher, error) {
	return compilePattern(v, o, false, true), nil
}

func compileEndsWith(v string, o compileOpts) (matcher, error) {
	return compilePattern(v, o, true, false), nil
}

// regex is Sigma's re: Go syntax (RE2), case-sensitive unless the rule says
// (?i) or re|i, matched against the value as written (not trimmed).
//
// need holds literals every match contains (worked out from the parsed
// expression at load): a value lacking one cannot match, and is refused
// without running the expression. Most values are refused that way
// (resourceId|re: '(?i)^/subscriptions/.../roleassignments/[^/]+$' over
// every Activity record's resource id).
type regex struct {
	re   *regexp.Regexp
	need []needLit
	dfa  *lazyDFA // the expression's automaton, for ASCII values (regexdfa.go)
}

// lazyDFA builds an expression's automaton on its first use: a rule whose
// expression never meets a value costs nothing at start-up.
type lazyDFA struct {
	once sync.Once
	expr string
	d    *asciiDFA // nil: regexp matches every value
}

// dfas holds one lazyDFA an expression: rules repeat theirs in several
// selections, and an automaton is read-only once built.
var dfas struct {
	sync.Mutex
	m map[string]*lazyDFA
}

func sharedDFA(expr string) *lazyDFA {
	dfas.Lock()
	defer dfas.Unlock()
	if dfas.m == nil {
		dfas.m = map[string]*lazyDFA{}
	}
	l := dfas.m[expr]
	if l == nil {
		l = &lazyDFA{expr: expr}
		dfas.m[expr] = l
	}
	return l
}

// buildAutomata builds the automata of r's regular expressions
// (lazyDFA.get), in its selections' values and keywords.
func buildAutomata(r *Rule) {
	build := func(m matcher) {
		if re, ok := m.(regex); ok && re.dfa != nil {
			re.dfa.get()
		}
	}
	for _, s := range append(slices.Clip(r.sels), r.learn) {
		if s == nil {
			continue
		}
		for _, m := range s.keywords {
			build(m)
		}
		for _, group := range s.anyOf {
			for _, f := range group {
				for i := range f.values {
					build(f.values[i].m)
				}
			}
		}
	}
}

func (l *lazyDFA) get() *asciiDFA {
	l.once.Do(func() { l.d = newASCIIDFA(l.expr) })
	return l.d
}

// needLit is a literal a regular expression's matches contain. fold: it
// matches case-insensitively ((?i)), and lit is lower-cased ASCII.
type needLit struct {
	lit  string
	fold bool
}

func (r regex) match(s *subject) bool {
	for _, n := range r.need {
		if !n.fold {
			if !strings.Contains(s.raw, n.lit) {
				return false
			}
			continue
		}
		// Unicode folding matches more than ASCII lower case does (the
		// Kelvin sign folds to k): only an ASCII value is refused.
		// lit has no white space, so it lies within the trimmed value.
		if s.ascii && !strings.Contains(s.lowerText(), n.lit) {
			return false
		}
	}
	if d := r.dfa.get(); d != nil {
		if m, ok := d.match(s.raw); ok {
			return m
		}
	}
	return r.re.MatchString(s.raw)
}

// requiredLiterals returns literals that every match of re contains: the
// literal runs that a match must go through (the concatenations at the top
// of the expression, through groups and repetitions of at least one, and
// those every branch of an alternation has).
// Literals with white space or (case-folded) non-ASCII text are left out,
// so that the check above stays exact.
func requiredLiterals(re *syntax.Regexp, depth int, out []needLit) []needLit {
	if depth > 32 {
		return out
	}
	switch re.Op {
	case syntax.OpLiteral:
		lit := string(re.Rune)
		fold := re.Flags&syntax.FoldCase != 0
		for _, r := range lit {
			if unicode.IsSpace(r) || r == utf8.RuneError || (fold && r >= utf8.RuneSelf) {
				return out
			}
		}
		if fold {
			lit = strings.ToLower(lit)
		}
		if lit != "" {
			out = append(out, needLit{lit: lit, fold: fold})
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			out = requiredLiterals(sub, depth+1, out)
		}
	case syntax.OpAlternate:
		// A literal of the first branch is required when every other
		// branch requires it too (inside one of its own).
		if len(re.Sub) == 0 {
			return out
		}
		first := requiredLiterals(re.Sub[0], depth+1, nil)
		others := make([][]needLit, len(re.Sub)-1)
		for i, sub := range re.Sub[1:] {
			others[i] = requiredLiterals(sub, depth+1, nil)
		}
		for _, n := range first {
			all := true
			for _, o := range others {
				if !slices.ContainsFunc(o, func(m needLit) bool { return m.fold == n.fold && strings.Contains(m.lit, n.lit) }) {
					all = false
					break
				}
			}
			if all {
				out = append(out, n)
			}
		}
	case syntax.OpCapture, syntax.OpPlus:
		out = requiredLiterals(re.Sub[0], depth+1, out)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			out = requiredLiterals(re.Sub[0], depth+1, out)
		}
	}
	return out
}

func compileRegexp(v string, o compileOpts) (matcher, error) {
	expr := v
	if o.reFlags != "" {
		expr = "(?" + o.reFlags + ")" + v
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", v, err)
	}
	r := regex{re: re, dfa: sharedDFA(expr)}
	if tree, err := syntax.Parse(expr, syntax.Perl); err == nil {
		r.need = requiredLiterals(tree, 0, nil)
		// The longest first: the likeliest to be missing.
		slices.SortStableFunc(r.need, func(a, b needLit) int { return len(b.lit) - len(a.lit) })
	}
	return r, nil
}

// cidr matches IP values inside a prefix. The value is parsed leniently:
// blanks, brackets, a port and an IPv6 zone are stripped; IPv4-mapped IPv6
// addresses compare as IPv4.
type cidr struct{ prefix netip.Prefix }

func (c cidr) match(s *subject) bool {
	a, ok := parseIP(s.trimmed)
	return ok && c.prefix.Contains(a)
}

func compileCIDR(v string, _ compileOpts) (matcher, error) {
	v = strings.TrimSpace(v)
	p, err := netip.ParsePrefix(v)
	if err != nil {
		a, aerr := netip.ParseAddr(v)
		if aerr != nil {
			return nil, fmt.Errorf("cidr %q: %w", v, err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return cidr{prefix: p}, nil
}

// parseIP reads an IP address the way Azure logs write them: possibly with a
// port ("10.0.0.1:443", "[2001:db8::1]:443"), brackets, a zone, or blanks.
func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	s = strings.TrimPrefix(s, "[")
	if i := strings.IndexByte(s, ']'); i >= 0 {
		s = s[:i]
	} else if strings.Count(s, ":") == 1 {
		s = s[:strings.IndexByte(s, ':')] // IPv4 with a port the parsers refused
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// numeric compares numbers; values that are not numbers never match.
type numeric struct {
	op   string
	want float64
}

func (n numeric) match(s *subject) bool {
	f, ok := smallUint(s.trimmed)
	if !ok {
		var err error
		if f, err = strconv.ParseFloat(s.trimmed, 64); err != nil {
			return false
		}
	}
	switch n.op {
	case "gt":
		return f > n.want
	case "gte":
		return f >= n.want
	case "lt":
		return f < n.want
	default:
		return f <= n.want
	}
}

// smallUint reads a plain decimal number of at most 15 digits (byte
// counts, ports): exactly the float64 strconv.ParseFloat gives it, without
// its general parse. ok is false for anything else.
func smallUint(t string) (float64, bool) {
	if len(t) == 0 || len(t) > 15 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(t); i++ {
		c := t[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	return float64(n), true
}

func compileNumeric(op string) compileFunc {
	return func(v string, _ compileOpts) (matcher, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("modifier %s needs a number, got %q", op, v)
		}
		return numeric{op: op, want: f}, nil
	}
}
