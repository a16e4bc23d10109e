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
// order) as sets of their positions: always, the rules evaluated on every
// event; per key field, the rules that need one of its values.
type sourceIndex struct {
	rules  []int
	always []uint64
	fields []keyField
}

type keyField struct {
	res     *resolver
	byValue map[string][]uint64
}

// buildSourceIndex indexes one source's rules; nil when no rule has a
// necessary condition (every rule is evaluated on every event).
func buildSourceIndex(rules []*Rule, idx []int) *sourceIndex {
	words := (len(idx) + 63) / 64
	ns := make([]needs, len(idx))
	count := map[string]int{}
	for p, i := range idx {
		ns[p] = ruleNeeds(rules[i])
		for k := range ns[p] {
			count[k]++
		}
	}
	if len(count) == 0 {
		return nil
	}
	si := &sourceIndex{rules: idx, always: make([]uint64, words)}
	fieldAt := map[string]int{}
	for p := range idx {
		if len(ns[p]) == 0 {
			si.always[p/64] |= 1 << (p % 64)
			continue
		}
		// The field most of the source's rules need: fewest fields to
		// read per event.
		ks := make([]string, 0, len(ns[p]))
		for k := range ns[p] {
			ks = append(ks, k)
		}
		sort.Slice(ks, func(a, b int) bool {
			if count[ks[a]] != count[ks[b]] {
				return count[ks[a]] > count[ks[b]]
			}
			return ks[a] < ks[b]
		})
		n := ns[p][ks[0]]
		fi, ok := fieldAt[ks[0]]
		if !ok {
			fi = len(si.fields)
			fieldAt[ks[0]] = fi
			si.fields = append(si.fields, keyField{res: n.res, byValue: map[string][]uint64{}})
		}
		f := &si.fields[fi]
		for v := range n.keys {
			set := f.byValue[v]
			if set == nil {
				set = make([]uint64, words)
				f.byValue[v] = set
			}
			set[p/64] |= 1 << (p % 64)
		}
	}
	return si
}

// candidates sets allowed (len(si.always) words) to the positions of the
// rules that may match the cache's event.
func (si *sourceIndex) candidates(c *fieldCache, allowed []uint64) {
	copy(allowed, si.always)
	or := func(set []uint64) {
		for w := range set {
			allowed[w] |= set[w]
		}
	}
	for k := range si.fields {
		f := &si.fields[k]
		rf := c.field(c.ev, f.res)
		if !rf.found {
			continue
		}
		if len(rf.vals) == 0 {
			// An empty array reads as [] (fieldMatch.eval).
			if set, ok := f.byValue["[]"]; ok {
				or(set)
			}
			continue
		}
		for j := range rf.vals {
			if rf.vals[j].IsNull() {
				continue
			}
			if set, ok := f.byValue[rf.subjectAt(j).lowerText()]; ok {
				or(set)
			}
		}
	}
}
