package detect

import (
	"fmt"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
	"gopkg.in/yaml.v3"
)

// A selection (Sigma "search identifier") is one of:
//   - a map: every field must match (AND);
//   - a list of maps: any map must match (OR);
//   - a list of plain values (or one value): keywords, any of which must
//     occur in some string value of the record (case-insensitive).

// evalCtx carries one event through a rule's evaluation.
type evalCtx struct {
	ev    *event.Event
	cache *fieldCache
	// known and hit: the rule's selections (the first 64) the condition
	// evaluated for ev, and of those the ones that matched (condSel sets
	// them; the condition pass clears them before each rule). The
	// stateful kinds reuse them instead of evaluating a step again.
	known, hit uint64
}

// cachedCtx is an evalCtx whose field cache, taken from fieldCaches on
// first use, follows the event asked for (release gives it back).
type cachedCtx struct{ evalCtx }

// at returns the context pointed at ev.
func (c *cachedCtx) at(ev *event.Event) *evalCtx {
	if c.cache == nil {
		c.cache = fieldCaches.Get().(*fieldCache)
	}
	if c.ev != ev {
		c.cache.reset(ev)
		c.ev = ev
	}
	return &c.evalCtx
}

func (c *cachedCtx) release() {
	if c.cache != nil {
		c.cache.release()
		fieldCaches.Put(c.cache)
		c.cache, c.ev = nil, nil
	}
}

type selection struct {
	name     string
	anyOf    [][]*fieldMatch // OR of ANDs
	keywords []matcher       // OR
	// combo, when a group tests names of a flow tuple's combination
	// (flowcombo.go): per group of anyOf, the combinations its tests of
	// those names pass and its other tests, what match evaluates on a
	// tuple that tells its combination.
	combo []comboGroup
}

// comboGroup is a group of fields (AND) split by the tuple's combination.
type comboGroup struct {
	set  flowComboSet  // the combinations the group's combination tests pass
	rest []*fieldMatch // the other tests, in order
}

// setCombos sets s.combo when some group tests a name of the combination.
func (s *selection) setCombos() {
	some := false
	groups := make([]comboGroup, len(s.anyOf))
	for gi, group := range s.anyOf {
		g := &groups[gi]
		for c := range flowCombos {
			g.set.add(c)
		}
		for _, f := range group {
			if !f.comboTest {
				g.rest = append(g.rest, f)
				continue
			}
			some = true
			for w := range g.set {
				g.set[w] &= f.combos[w]
			}
		}
	}
	if some {
		s.combo = groups
	}
}

func (s *selection) match(e *evalCtx) bool {
	if s.keywords != nil {
		return matchKeywords(s.keywords, e)
	}
	if c := e.cache; s.combo != nil && c != nil && c.flow != nil && c.combo >= 0 && c.ev == e.ev {
		// The combination's tests are one bit (fieldMatch.match would
		// read each from the combination); the others as they come.
		for gi := range s.combo {
			g := &s.combo[gi]
			if !g.set.has(c.combo) {
				continue
			}
			ok := true
			for _, f := range g.rest {
				if !f.match(e) {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, group := range s.anyOf {
		ok := true
		for _, f := range group {
			if !f.match(e) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// ruleValue is one compiled value of a field: a matcher, or null (the field
// is missing or null). lit is m when m is a literal (most values): called
// directly, not through the interface.
type ruleValue struct {
	null bool
	m    matcher
	lit  *literal
}

type fieldMatch struct {
	key    string // as written in the rule, for messages
	res    *resolver
	all    bool
	exists *bool // "exists": presence test instead of values
	values []ruleValue
	// memo is 1 + the number (keyID) of the field, its modifiers and
	// values as written for the service: rules that test the same thing
	// (event.result: success) share the outcome for an event. 0: none.
	memo int32
	// flowEq, for a flow field (res.flowKnown) compared with plain
	// equalities only (no null, exists or all): their values as a
	// canonical value is compared (evalCanonical). match reads such a
	// field from the tuple directly, without the memo or a subject: a
	// tuple's test is a few string compares, memoising it cost more.
	flowEq []string
	// flowTest: a flow field tested on its values (not exists), which
	// match evaluates on a canonical value directly (evalCanonical).
	flowTest bool
	// eqFold, for a field compared with uncased plain equalities only
	// (no null, exists or all): their values, lower-cased. eval compares
	// each of the field's values with them as literal.match does,
	// without going through each rule value's matcher.
	eqFold []string
	// eqLens are the lengths of eqFold's values: an ASCII value of
	// another length equals none of them.
	eqLens lenSet
	// comboTest: a flow field of the tuple's combination (flowcombo.go)
	// tested on its values, whose outcome for each combination is in
	// combos (setCombos).
	comboTest bool
	combos    flowComboSet
}

// match reports whether the event satisfies the field, once per event for
// all the rules that test the same thing.
func (f *fieldMatch) match(e *evalCtx) bool {
	c := e.cache
	if f.flowTest && c != nil && c.flow != nil && c.ev == e.ev {
		if f.comboTest && c.combo >= 0 {
			return f.combos.has(c.combo) // worked out at build
		}
		// evalCanonical when the value is canonical; of plain
		// equalities here.
		if v, canonical, known := c.flow.CanonicalField(f.res.flowID); known && (canonical || v == "") {
			if f.flowEq == nil {
				return f.evalCanonical(c, v)
			}
			if v == "" {
				return false // missing: no equality holds
			}
			for _, w := range f.flowEq {
				if v == w {
					return true
				}
			}
			return false
		}
	}
	if f.memo == 0 || c == nil || c.ev != e.ev {
		return f.eval(e)
	}
	if int(f.memo) >= len(c.memo) {
		c.memo = append(c.memo, make([]matchMemo, int(f.memo)+1-len(c.memo))...)
	}
	if m := c.memo[f.memo]; m.gen == c.gen {
		return m.ok
	}
	ok := f.eval(e)
	c.memo[f.memo] = matchMemo{gen: c.gen, ok: ok}
	return ok
}

// matchMemo is a field test's outcome for the event of gen.
type matchMemo struct {
	gen uint32
	ok  bool
}

func (f *fieldMatch) eval(e *evalCtx) bool {
	// (flowKnown: only a flow field may be canonical; the call is not
	// inlined, and most fields are not.)
	if f.exists == nil && f.res.flowKnown && e.cache != nil && e.cache.ev == e.ev {
		if v, ok := e.cache.canonical(f.res); ok {
			return f.evalCanonical(e.cache, v)
		}
	}
	rf := e.cache.field(e.ev, f.res)
	vals, found := rf.vals, rf.found
	if f.exists != nil {
		present := found && (len(vals) == 0 || !allNull(vals))
		return present == *f.exists
	}
	if found && len(vals) == 0 {
		// An empty array: its text is [] (Sigma's NetworkLocationDetails: '[]').
		rf = emptyArrayField
	}
	if f.eqFold != nil {
		// literal.match of uncased equalities, any value against any.
		for i := range rf.vals {
			if rf.vals[i].IsNull() {
				continue
			}
			sub := rf.subjectAt(i)
			if sub.ascii && !f.eqLens.has(len(sub.trimmed)) {
				continue // (EqualFoldASCII: of equal lengths only)
			}
			for _, w := range f.eqFold {
				if sub.ascii {
					if event.EqualFoldASCII(sub.trimmed, w) {
						return true
					}
				} else if sub.lowerText() == w {
					return true
				}
			}
		}
		return false
	}
	if f.all {
		for i := range f.values {
			if !rf.matchValue(&f.values[i]) {
				return false
			}
		}
		return true
	}
	for i := range f.values {
		if rf.matchValue(&f.values[i]) {
			return true
		}
	}
	return false
}

// evalCanonical is eval for a field whose one value v is canonical, or
// which is absent (v ""): what eval gives, without the field's values and
// subjects made.
func (f *fieldMatch) evalCanonical(c *fieldCache, v string) bool {
	var sub *subject
	for i := range f.values {
		rv := &f.values[i]
		var ok bool
		switch {
		case rv.null:
			ok = v == "" // missing (one value, not null, otherwise)
		case v == "":
			ok = false
		case rv.lit != nil && rv.lit.op == '=':
			ok = v == rv.lit.want // v is its trimmed and its lower-cased self
		default:
			if sub == nil {
				sub = c.canonicalSubject(v)
			}
			if rv.lit != nil {
				ok = rv.lit.match(sub)
			} else {
				ok = rv.m.match(sub)
			}
		}
		if ok != f.all {
			return ok // one matched (any), or one did not (all)
		}
	}
	return f.all
}

// matchValue reports whether one of the field's values matches rv (for
// null: the field is missing or null).
func (rf *resolvedField) matchValue(rv *ruleValue) bool {
	vals := rf.vals
	if rv.null {
		return !rf.found || allNull(vals)
	}
	for i := range vals {
		if vals[i].IsNull() {
			continue
		}
		if rv.lit != nil {
			if rv.lit.match(rf.subjectAt(i)) {
				return true
			}
		} else if rv.m.match(rf.subjectAt(i)) {
			return true
		}
	}
	return false
}

// emptyArrayField is read-only once its subjects are built (at init).
var emptyArrayField = func() *resolvedField {
	f := &resolvedField{vals: []event.Value{event.JSONValue([]byte("[]"))}, found: true}
	f.subjectAt(0)
	return f
}()

func allNull(vals []event.Value) bool {
	for _, v := range vals {
		if !v.IsNull() {
			return false
		}
	}
	return len(vals) > 0
}

// matchKeywords reports whether any keyword occurs in a string value of the
// record (or anywhere in a record that is not JSON).
func matchKeywords(kws []matcher, e *evalCtx) bool {
	subs := e.cache.keywordSubjects(e.ev)
	for i := range subs {
		for _, k := range kws {
			if k.match(&subs[i]) {
				return true
			}
		}
	}
	return false
}

// walkStrings calls fn with every string value (not member names) in the
// JSON value v, depth first; fn returns false to stop. It returns false once
// stopped.
func walkStrings(v []byte, depth int, fn func(string) bool) bool {
	if depth > 64 {
		return true
	}
	i := event.SkipSpace(v, 0)
	if i >= len(v) {
		return true
	}
	cont := true
	switch v[i] {
	case '{':
		_ = event.ObjectEach(v[i:], func(_, val []byte) bool {
			cont = walkStrings(val, depth+1, fn)
			return cont
		})
	case '[':
		_ = event.ArrayEach(v[i:], func(el []byte) bool {
			cont = walkStrings(el, depth+1, fn)
			return cont
		})
	case '"':
		if s, ok := event.Unquote(v[i:]); ok {
			cont = fn(s)
		}
	}
	return cont
}

// compileSelection builds a selection from its YAML node.
func compileSelection(name string, n *yaml.Node, service string) (*selection, error) {
	s := &selection{name: name}
	switch n.Kind {
	case yaml.MappingNode:
		group, err := compileFieldMap(n, service)
		if err != nil {
			return nil, err
		}
		s.anyOf = [][]*fieldMatch{group}
		s.setCombos()
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, fmt.Errorf("empty list")
		}
		if n.Content[0].Kind == yaml.MappingNode {
			for i, el := range n.Content {
				if el.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("item %d: a list of maps cannot hold a %s", i+1, kindName(el))
				}
				group, err := compileFieldMap(el, service)
				if err != nil {
					return nil, err
				}
				s.anyOf = append(s.anyOf, group)
			}
			s.setCombos()
			return s, nil
		}
		for i, el := range n.Content {
			if el.Kind != yaml.ScalarNode || isNull(el) {
				return nil, fmt.Errorf("keyword %d: want a plain value, got %s", i+1, kindName(el))
			}
			s.keywords = append(s.keywords, compilePattern(el.Value, compileOpts{}, true, true))
		}
	case yaml.ScalarNode:
		if isNull(n) {
			return nil, fmt.Errorf("empty selection")
		}
		s.keywords = []matcher{compilePattern(n.Value, compileOpts{}, true, true)}
	default:
		return nil, fmt.Errorf("want a map, a list of maps or a list of keywords, got %s", kindName(n))
	}
	return s, nil
}

func compileFieldMap(n *yaml.Node, service string) ([]*fieldMatch, error) {
	if len(n.Content) == 0 {
		return nil, fmt.Errorf("empty map")
	}
	var out []*fieldMatch
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, err := compileField(k.Value, v, service)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k.Value, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func compileField(key string, v *yaml.Node, service string) (*fieldMatch, error) {
	spec, err := parseFieldKey(key)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(spec.name) == "" {
		return nil, fmt.Errorf("no field name (keyword searches are lists of values)")
	}
	f := &fieldMatch{key: key, res: newResolver(service, spec.name), all: spec.all}
	var items []*yaml.Node
	defer func() {
		// The same service, key and values compile to the same test.
		var b strings.Builder
		b.WriteString("test\x00" + service + "\x00" + key)
		for _, it := range items {
			b.WriteString("\x00" + it.ShortTag() + "\x00" + it.Value)
		}
		f.memo = keyID(b.String()) + 1
	}()
	switch v.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{v}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, fmt.Errorf("empty list of values")
		}
		items = v.Content
	default:
		return nil, fmt.Errorf("want a value or a list of values, got %s", kindName(v))
	}
	if spec.compare == "exists" {
		if len(items) != 1 || items[0].Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("exists takes one value, true or false")
		}
		switch strings.ToLower(items[0].Value) {
		case "true", "yes":
			t := true
			f.exists = &t
		case "false", "no":
			b := false
			f.exists = &b
		default:
			return nil, fmt.Errorf("exists takes true or false, got %q", items[0].Value)
		}
		return f, nil
	}
	for i, it := range items {
		if it.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("value %d: want a plain value, got %s", i+1, kindName(it))
		}
		if isNull(it) {
			if spec.compare != "" || len(spec.transform) > 0 {
				return nil, fmt.Errorf("value %d: null cannot be used with modifiers", i+1)
			}
			f.values = append(f.values, ruleValue{null: true})
			continue
		}
		m, err := compileValue(spec, it.Value)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i+1, err)
		}
		rv := ruleValue{m: m}
		if l, ok := m.(literal); ok {
			rv.lit = &l
		}
		f.values = append(f.values, rv)
	}
	f.flowEq = flowEqualities(f)
	f.flowTest = f.res.flowKnown && f.exists == nil
	f.eqFold = foldEqualities(f)
	for _, w := range f.eqFold {
		f.eqLens.add(len(w))
	}
	f.setCombos()
	return f, nil
}

// foldEqualities is f.eqFold: the wanted values when f is tested with
// uncased plain equalities only, nil otherwise.
func foldEqualities(f *fieldMatch) []string {
	if f.exists != nil || f.all || len(f.values) == 0 {
		return nil
	}
	wants := make([]string, 0, len(f.values))
	for _, rv := range f.values {
		if rv.null || rv.lit == nil || rv.lit.op != '=' || rv.lit.cased {
			return nil
		}
		wants = append(wants, rv.lit.want)
	}
	return wants
}

// flowEqualities is f.flowEq: the wanted values when f is a flow field
// tested with plain equalities only (cased or not: a canonical value is
// its own trimmed and lower-cased form), nil otherwise.
func flowEqualities(f *fieldMatch) []string {
	if f.res == nil || !f.res.flowKnown || f.exists != nil || f.all || len(f.values) == 0 {
		return nil
	}
	wants := make([]string, 0, len(f.values))
	for _, rv := range f.values {
		if rv.null || rv.lit == nil || rv.lit.op != '=' {
			return nil
		}
		wants = append(wants, rv.lit.want)
	}
	return wants
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return "a value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}
