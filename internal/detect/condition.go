package detect

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// The condition of a rule is a small tree. ParseCondition builds it from
// Sigma's condition text; bindCondition resolves its names against the
// rule's selections into the evaluable form.
//
// Grammar (keywords case-insensitive), precedence not > and > or:
//
//	expr    = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | primary
//	primary = "(" expr ")" | quant "of" (pattern | "them") | identifier
//	quant   = "1" | "any" | "all"

// Node is a condition tree node: Ident, And, Or, Not, OneOf or AllOf.
type Node interface {
	node()
	String() string
}

// Ident names one selection.
type Ident string

// And is true when every child is.
type And []Node

// Or is true when any child is.
type Or []Node

// Not negates its child.
type Not struct{ X Node }

// OneOf is "1 of pattern" (also "any of"): any selection whose name
// matches the glob pattern; the pattern "them" means every selection.
type OneOf struct{ Pattern string }

// AllOf is "all of pattern": every selection whose name matches.
type AllOf struct{ Pattern string }

func (Ident) node() {}
func (And) node()   {}
func (Or) node()    {}
func (Not) node()   {}
func (OneOf) node() {}
func (AllOf) node() {}

func (i Ident) String() string { return string(i) }
func (a And) String() string   { return joinNodes([]Node(a), " and ") }
func (o Or) String() string    { return joinNodes([]Node(o), " or ") }
func (n Not) String() string   { return "not " + group(n.X) }
func (o OneOf) String() string { return "1 of " + o.Pattern }
func (a AllOf) String() string { return "all of " + a.Pattern }

func joinNodes(ns []Node, sep string) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = group(n)
	}
	return strings.Join(parts, sep)
}

// group parenthesises compound children so String round-trips.
func group(n Node) string {
	switch n.(type) {
	case And, Or:
		return "(" + n.String() + ")"
	}
	return n.String()
}

const maxConditionDepth = 64

// ParseCondition parses a Sigma condition.
func ParseCondition(s string) (Node, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	p := &condParser{toks: toks}
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("condition: unexpected %q at offset %d", p.toks[p.pos].text, p.toks[p.pos].off)
	}
	return n, nil
}

type condToken struct {
	text string
	off  int
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '*' || c == '?' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func tokenize(s string) ([]condToken, error) {
	var toks []condToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, condToken{string(c), i})
			i++
		case isIdentByte(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			toks = append(toks, condToken{s[i:j], i})
			i = j
		case c == '|':
			return nil, fmt.Errorf("condition: aggregation after '|' at offset %d is not supported (use a correlation rule)", i)
		default:
			return nil, fmt.Errorf("condition: unexpected character %q at offset %d", c, i)
		}
	}
	return toks, nil
}

type condParser struct {
	toks []condToken
	pos  int
}

func (p *condParser) peekKeyword(kw string) bool {
	return p.pos < len(p.toks) && strings.EqualFold(p.toks[p.pos].text, kw)
}

func (p *condParser) errorf(format string, args ...any) error {
	off := -1
	what := "end of condition"
	if p.pos < len(p.toks) {
		off = p.toks[p.pos].off
		what = fmt.Sprintf("%q", p.toks[p.pos].text)
	}
	msg := fmt.Sprintf(format, args...)
	if off >= 0 {
		return fmt.Errorf("condition: %s, found %s at offset %d", msg, what, off)
	}
	return fmt.Errorf("condition: %s, found %s", msg, what)
}

func (p *condParser) or(depth int) (Node, error) {
	first, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	out := Or{first}
	for p.peekKeyword("or") {
		p.pos++
		n, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 1 {
		return first, nil
	}
	return out, nil
}

func (p *condParser) and(depth int) (Node, error) {
	first, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	out := And{first}
	for p.peekKeyword("and") {
		p.pos++
		n, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 1 {
		return first, nil
	}
	return out, nil
}

func (p *condParser) unary(depth int) (Node, error) {
	if depth > maxConditionDepth {
		return nil, p.errorf("nested more than %d deep", maxConditionDepth)
	}
	if p.peekKeyword("not") {
		p.pos++
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	}
	return p.primary(depth)
}

func isKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "of", "them", "all", "any", "1":
		return true
	}
	return false
}

func (p *condParser) primary(depth int) (Node, error) {
	if p.pos >= len(p.toks) {
		return nil, p.errorf("expected a selection, '(' or 'not'")
	}
	t := p.toks[p.pos]
	switch {
	case t.text == "(":
		p.pos++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].text != ")" {
			return nil, p.errorf("expected ')'")
		}
		p.pos++
		return n, nil
	case t.text == "1" || strings.EqualFold(t.text, "all") || strings.EqualFold(t.text, "any"):
		if p.pos+1 >= len(p.toks) || !strings.EqualFold(p.toks[p.pos+1].text, "of") {
			if t.text == "1" {
				return nil, p.errorf("expected '1 of'")
			}
			break // "all"/"any" as plain names are refused below
		}
		p.pos += 2
		if p.pos >= len(p.toks) {
			return nil, p.errorf("expected a pattern or 'them' after 'of'")
		}
		pt := p.toks[p.pos]
		if pt.text == "(" || pt.text == ")" || (isKeyword(pt.text) && !strings.EqualFold(pt.text, "them")) {
			return nil, p.errorf("expected a pattern or 'them' after 'of'")
		}
		p.pos++
		pat := pt.text
		if strings.EqualFold(pat, "them") {
			pat = "them"
		}
		if strings.EqualFold(t.text, "all") {
			return AllOf{Pattern: pat}, nil
		}
		return OneOf{Pattern: pat}, nil
	}
	if t.text == ")" || isKeyword(t.text) {
		return nil, p.errorf("expected a selection, '(' or 'not'")
	}
	if strings.ContainsAny(t.text, "*?") {
		return nil, p.errorf("a wildcard name needs '1 of' or 'all of'")
	}
	p.pos++
	return Ident(t.text), nil
}

// cond is the bound, evaluable condition.
type cond interface {
	eval(sels []*selection, ev *evalCtx) bool
}

type condSel int
type condAnd []cond
type condOr []cond
type condNot struct{ x cond }

func (c condSel) eval(s []*selection, e *evalCtx) bool {
	m := s[c].match(e)
	if c < 63 { // bit 63: the condition's own outcome (condBit)
		bit := uint64(1) << c
		e.known |= bit
		if m {
			e.hit |= bit
		}
	}
	return m
}
func (c condNot) eval(s []*selection, e *evalCtx) bool { return !c.x.eval(s, e) }
func (c condAnd) eval(s []*selection, e *evalCtx) bool {
	for _, x := range c {
		if !x.eval(s, e) {
			return false
		}
	}
	return true
}
func (c condOr) eval(s []*selection, e *evalCtx) bool {
	for _, x := range c {
		if x.eval(s, e) {
			return true
		}
	}
	return false
}

// bindCondition resolves names in n against the selection names (index
// order); an unknown name or a pattern that matches nothing is an error.
func bindCondition(n Node, names []string) (cond, error) {
	index := make(map[string]int, len(names))
	for i, nm := range names {
		index[nm] = i
	}
	var bind func(n Node) (cond, error)
	expand := func(pattern string) ([]cond, error) {
		var out []cond
		for i, nm := range names {
			ok := false
			if pattern == "them" {
				ok = !strings.HasPrefix(nm, "_")
			} else {
				ok, _ = path.Match(pattern, nm)
			}
			if ok {
				out = append(out, condSel(i))
			}
		}
		if len(out) == 0 {
			known := append([]string(nil), names...)
			sort.Strings(known)
			return nil, fmt.Errorf("condition: %q matches no selection (have %s)", pattern, strings.Join(known, ", "))
		}
		return out, nil
	}
	bind = func(n Node) (cond, error) {
		switch n := n.(type) {
		case Ident:
			i, ok := index[string(n)]
			if !ok {
				known := append([]string(nil), names...)
				sort.Strings(known)
				return nil, fmt.Errorf("condition names unknown selection %q (have %s)", string(n), strings.Join(known, ", "))
			}
			return condSel(i), nil
		case Not:
			x, err := bind(n.X)
			if err != nil {
				return nil, err
			}
			return condNot{x}, nil
		case And:
			out := make(condAnd, 0, len(n))
			for _, c := range n {
				x, err := bind(c)
				if err != nil {
					return nil, err
				}
				out = append(out, x)
			}
			return out, nil
		case Or:
			out := make(condOr, 0, len(n))
			for _, c := range n {
				x, err := bind(c)
				if err != nil {
					return nil, err
				}
				out = append(out, x)
			}
			return out, nil
		case OneOf:
			xs, err := expand(n.Pattern)
			if err != nil {
				return nil, err
			}
			return condOr(xs), nil
		case AllOf:
			xs, err := expand(n.Pattern)
			if err != nil {
				return nil, err
			}
			return condAnd(xs), nil
		}
		return nil, fmt.Errorf("condition: unknown node %T", n)
	}
	return bind(n)
}
