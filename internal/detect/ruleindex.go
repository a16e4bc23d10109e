package detect

import (
	"sort"
	"strings"
)

// The rule index. Most rules of a source can only match when one field
// (operationName, category, activityDisplayName) equals one of a few
// literal values: `selection and not filter` where the selection holds
// operationName: [a, b]. At engine build each rule's condition is searched
// for such a necessary condition, worked out only where the condition's
// structure proves it (an equality of plain literals, under and / or / 1 of
// / all of, never under not, and never from wildcards, comparators other
// than equality, null, exists or keywords). A source's rules are grouped by
// such a field; per event the field is read once, and only the rules whose
// values hold one of the event's, and the rules with no such condition,
// are evaluated: in rule order, so the picks are those of every rule.

// fieldNeed is a necessary condition on one field: some value of it,
// trimmed and lower-cased, is one of keys.
type fieldNeed struct {
	res  *resolver
	keys map[string]bool
}

// needs is a conjunction of necessary conditions, by resolver key. nil:
// none known.
type needs map[string]fieldNeed

// fieldKeys is the necessary condition f states: every value a plain
// equality literal (cased or not, after any transform). A subject matches
// such a literal only when its trimmed value, lower-cased, equals the
// literal's want (uncased: want is lower-cased; cased: the trimmed value
// equals want, so their lower cases are equal).
func fieldKeys(f *fieldMatch) (fieldNeed, bool) {
	if f.exists != nil || f.all || len(f.values) == 0 || f.res == nil {
		return fieldNeed{}, false
	}
	keys := make(map[string]bool, len(f.values))
	for i := range f.values {
		v := &f.values[i]
		if v.null || v.lit == nil || v.lit.op != '=' {
			return fieldNeed{}, false
		}
		k := v.lit.want
		if v.lit.cased {
			k = strings.ToLower(k)
		}
		keys[k] = true
	}
	return fieldNeed{res: f.res, keys: keys}, true
}

// andNeeds: both hold; on a common field, the value is in both sets.
func andNeeds(a, b needs) needs {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := make(needs, len(a)+len(b))
	for k, n := range a {
		out[k] = n
	}
	for k, n := range b {
		if m, ok := out[k]; ok {
			keys := make(map[string]bool)
			for v := range m.keys {
				if n.keys[v] {
					keys[v] = true
				}
			}
			out[k] = fieldNeed{res: m.res, keys: keys}
			continue
		}
		out[k] = n
	}
	return out
}

// orNeeds: one holds; only a field both constrain stays, with either's
// values.
func orNeeds(a, b needs) needs {
	if a == nil || b == nil {
		return nil
	}
	var out needs
	for k, m := range a {
		n, ok := b[k]
		if !ok {
			continue
		}
		keys := make(map[string]bool, len(m.keys)+len(n.keys))
		for v := range m.keys {
			keys[v] = true
		}
		for v := range n.keys {
			keys[v] = true
		}
		if out == nil {
			out = needs{}
		}
		out[k] = fieldNeed{res: m.res, keys: keys}
	}
	return out
}

func selectionNeeds(s *selection) needs {
	if s == nil || s.keywords != nil || len(s.anyOf) == 0 {
		return nil
	}
	var out needs
	for gi, group := range s.anyOf {
		var g needs
		for _, f := range group {
			if n, ok := fieldKeys(f); ok {
				g = andNeeds(g, needs{n.res.key: n})
			}
		}
		if gi == 0 {
			out = g
		} else {
			out = orNeeds(out, g)
		}
		if out == nil {
			return nil
		}
	}
	return out
}

func condNeeds(c cond, sels []*selection) needs {
	switch c := c.(type) {
	case condSel:
		if int(c) < 0 || int(c) >= len(sels) {
			return nil
		}
		return selectionNeeds(sels[c])
	case condAnd:
		var out needs
		for _, x := range c {
			out = andNeeds(out, condNeeds(x, sels))
		}
		return out
	case condOr:
		if len(c) == 0 {
			return nil
		}
		out := condNeeds(c[0], sels)
		for _, x := range c[1:] {
			out = orNeeds(out, condNeeds(x, sels))
		}
		return out
	}
	// condNot, or anything else: nothing is known.
	return nil
}

// ruleNeeds is what r.match needs: its condition's needs or, for a
// new_term rule, its learn selection's.
func ruleNeeds(r *Rule) needs {
	n := condNeeds(r.cond, r.sels)
	if r.learn != nil {
		n = orNeeds(n, selectionNeeds(r.learn))
	}
	return n
}

// sourceIndex is one source's rules (indexes into Engine.rules, in rule
// order) and the fields they are indexed by. A rule may be evaluated on an
// event when, for every index field, it needs nothing of the field or the
// event's field holds one of the values it needs.
type sourceIndex struct {
	rules  []int
	full   []uint64 // every position
	fields []keyField
	// byCombo, when some fields are of a flow tuple's combination
	// (flowcombo.go): per combination (len(full) words each), the
	// positions those fields leave; rest are the other fields.
	byCombo []uint64
	rest    []keyField
	// decided, by position: the rule's verdict on a tuple of each
	// combination, when its outcome is the combination's (nil
	// otherwise; nil for all when none is).
	decided []*[flowCombos]comboVerdict
}

type keyField struct {
	res     *resolver
	free    []uint64 // the rules that need nothing of the field
	byValue map[string][]uint64
	// small is byValue as a list when it holds few values (a flow
	// tuple's allowed and classes): compared one by one, cheaper than
	// hashing the value. nil: read byValue.
	small []keyValue
	// lens are the lengths of its ASCII values: an ASCII subject's lower
	// case is as long as it, so one of another length holds none of the
	// values (mayHold: not lowered, not looked up).
	lens lenSet
}

// lenSet is a set of lengths, each by its value modulo 256: a filter (a
// length not in it is not of the lengths added; one in it may be).
type lenSet [4]uint64

func (l *lenSet) add(n int)      { l[n>>6&3] |= 1 << (n & 63) }
func (l *lenSet) has(n int) bool { return l[n>>6&3]&(1<<(n&63)) != 0 }

// mayHold is false when rulesOf(s.lowerText()) finds nothing for certain:
// s is ASCII and no ASCII value of the field has its length (a value
// beyond ASCII is no ASCII text's lower case). Then s is not lowered.
func (f *keyField) mayHold(s *subject) bool {
	return !s.ascii || f.lens.has(len(s.trimmed))
}

// keyValue is one value of a keyField and the rules that need it.
type keyValue struct {
	v   string
	set []uint64
}

// smallValues is the most values a keyField lists in small.
const smallValues = 8

// rulesOf returns the rules that need the value v of the field.
func (f *keyField) rulesOf(v string) ([]uint64, bool) {
	if f.small == nil {
		set, ok := f.byValue[v]
		return set, ok
	}
	for i := range f.small {
		if f.small[i].v == v {
			return f.small[i].set, true
		}
	}
	return nil, false
}

// buildSourceIndex indexes one source's rules; nil when no rule has a
// necessary condition (every rule is evaluated on every event).
//
// The fields: each rule's most selective one, the one whose values it
// needs are the smallest share of the values the source's rules need of
// it (operationName: 2 of 40, not event.result: 1 of 2); the rule is then
// also held to what it needs of the other fields chosen so.
func buildSourceIndex(rules []*Rule, idx []int) *sourceIndex {
	words := (len(idx) + 63) / 64
	ns := make([]needs, len(idx))
	distinct := map[string]map[string]bool{}
	count := map[string]int{}
	for p, i := range idx {
		ns[p] = ruleNeeds(rules[i])
		for k, n := range ns[p] {
			if distinct[k] == nil {
				distinct[k] = map[string]bool{}
			}
			for v := range n.keys {
				distinct[k][v] = true
			}
			count[k]++
		}
	}
	if len(count) == 0 {
		return nil
	}
	share := func(k string, n fieldNeed) float64 {
		return float64(len(n.keys)) / float64(len(distinct[k]))
	}
	chosen := map[string]bool{}
	for p := range idx {
		best := ""
		for k, n := range ns[p] {
			if best == "" {
				best = k
				continue
			}
			b, c := share(best, ns[p][best]), share(k, n)
			if c < b || (c == b && (count[k] > count[best] || (count[k] == count[best] && k < best))) {
				best = k
			}
		}
		if best == "" {
			continue
		}
		chosen[best] = true
		// A field as selective as the best is indexed too: a denied flow
		// tuple needs flow.allowed false and flow.src_class private (or
		// internet), each half of what the source's rules need of it;
		// by both, half of the scan rules are left. (Not at share 1: a
		// field whose one value every rule needs filters little.)
		b := share(best, ns[p][best])
		for k, n := range ns[p] {
			if b < 1 && share(k, n) == b {
				chosen[k] = true
			}
		}
	}
	keys := make([]string, 0, len(chosen))
	for k := range chosen {
		keys = append(keys, k)
	}
	// The field most rules need first: an event whose value none of them
	// needs leaves the fewest rules for the next fields.
	sort.Slice(keys, func(a, b int) bool {
		if count[keys[a]] != count[keys[b]] {
			return count[keys[a]] > count[keys[b]]
		}
		return keys[a] < keys[b]
	})
	si := &sourceIndex{rules: idx, full: make([]uint64, words)}
	for p := range idx {
		si.full[p/64] |= 1 << (p % 64)
	}
	for _, k := range keys {
		f := keyField{free: make([]uint64, words), byValue: map[string][]uint64{}}
		for p := range idx {
			n, ok := ns[p][k]
			if !ok {
				f.free[p/64] |= 1 << (p % 64)
				continue
			}
			f.res = n.res
			for v := range n.keys {
				if isASCII(v) {
					f.lens.add(len(v))
				}
				set := f.byValue[v]
				if set == nil {
					set = make([]uint64, words)
					f.byValue[v] = set
				}
				set[p/64] |= 1 << (p % 64)
			}
		}
		if len(f.byValue) <= smallValues {
			f.small = make([]keyValue, 0, len(f.byValue))
			for v, set := range f.byValue {
				f.small = append(f.small, keyValue{v, set})
			}
			sort.Slice(f.small, func(a, b int) bool { return f.small[a].v < f.small[b].v })
		}
		si.fields = append(si.fields, f)
	}
	si.comboSets()
	for p, i := range idx {
		if v := comboVerdicts(rules[i]); v != nil {
			if si.decided == nil {
				si.decided = make([]*[flowCombos]comboVerdict, len(idx))
			}
			si.decided[p] = v
		}
	}
	return si
}

// comboSets sets byCombo and rest when some of the fields are of a flow
// tuple's combination: what candidates' loop leaves of full after those
// fields, for each combination.
func (si *sourceIndex) comboSets() {
	words := len(si.full)
	var combo []keyField
	for _, f := range si.fields {
		if f.res != nil && f.res.flowKnown && flowComboField(f.res.flowID) {
			combo = append(combo, f)
		} else {
			si.rest = append(si.rest, f)
		}
	}
	if len(combo) == 0 {
		si.rest = nil
		return
	}
	si.byCombo = make([]uint64, flowCombos*words)
	for c := range flowCombos {
		set := si.byCombo[c*words : (c+1)*words]
		copy(set, si.full)
		for k := range combo {
			f := &combo[k]
			v, _ := flowComboValue(c, f.res.flowID)
			in, _ := f.rulesOf(v)
			for w := range set {
				pass := f.free[w]
				if in != nil {
					pass |= in[w]
				}
				set[w] &= pass
			}
		}
	}
}

// candidates sets allowed (len(si.full) words) to the positions of the
// rules that may match the cache's event.
func (si *sourceIndex) candidates(c *fieldCache, allowed []uint64) {
	fields := si.fields
	if si.byCombo != nil && c.flow != nil && c.combo >= 0 {
		// The combination's fields, worked out at build (comboSets).
		words := len(allowed)
		any := uint64(0)
		for w, set := range si.byCombo[c.combo*words : (c.combo+1)*words] {
			allowed[w] = set
			any |= set
		}
		if any == 0 {
			return
		}
		fields = si.rest
	} else {
		copy(allowed, si.full)
	}
	var buf [4][]uint64
	for k := range fields {
		f := &fields[k]
		if f.res.flowKnown && c.flow != nil {
			// A flow tuple's canonical value: one set at most, read
			// from the tuple directly (fieldCache.canonical).
			if v, canonical, known := c.flow.CanonicalField(f.res.flowID); known && (canonical || v == "") {
				var set []uint64
				if v != "" {
					set, _ = f.rulesOf(v)
				}
				any := uint64(0)
				for w := range allowed {
					pass := f.free[w]
					if set != nil {
						pass |= set[w]
					}
					allowed[w] &= pass
					any |= allowed[w]
				}
				if any == 0 {
					return
				}
				continue
			}
		}
		sets := buf[:0]
		v, ok := "", false
		if f.res.flowKnown { // (only a flow field may be canonical)
			v, ok = c.canonical(f.res)
		}
		if ok {
			if set, found := f.rulesOf(v); found && v != "" {
				sets = append(sets, set)
			}
		} else if rf := c.field(c.ev, f.res); rf.found {
			if len(rf.vals) == 0 {
				// An empty array reads as [] (fieldMatch.eval).
				if set, ok := f.rulesOf("[]"); ok {
					sets = append(sets, set)
				}
			}
			for j := range rf.vals {
				if rf.vals[j].IsNull() {
					continue
				}
				if sub := rf.subjectAt(j); !f.mayHold(sub) {
					continue
				} else if set, ok := f.rulesOf(sub.lowerText()); ok {
					sets = append(sets, set)
				}
			}
		}
		any := uint64(0)
		for w := range allowed {
			pass := f.free[w]
			for _, set := range sets {
				pass |= set[w]
			}
			allowed[w] &= pass
			any |= allowed[w]
		}
		if any == 0 {
			return
		}
	}
}
