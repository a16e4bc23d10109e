package detect

import (
	"math"

	"github.com/azdetect/azdetect/internal/event"
)

// FlowSieve returns the sieve of the flow tuple events (service
// flowlogs): a tuple passes when some rule of the service may select it
// by what the rule needs of the sieve's names (ruleNeeds: the necessary
// conditions the rule index is built from, so a tuple the sieve stops is
// one no rule selects). nil when the engine evaluates every rule of a
// source (noIndex, the tests' reference): then every tuple is evaluated.
func (e *Engine) FlowSieve() *event.FlowSieve {
	if e.noIndex {
		return nil
	}
	idx := e.byService[flowService]
	ns := make([]needs, len(idx))
	for p, i := range idx {
		ns[p] = ruleNeeds(e.rules[i])
	}
	s := event.NewFlowSieve(func(value func(event.FlowField) (string, bool)) bool {
		for _, n := range ns {
			if flowNeedsMet(n, value) {
				return true
			}
		}
		return false
	})
	// The least flow.bytes_sent of each combination: when every rule a
	// tuple of it may meet needs one (an exfiltration rule's gte), a
	// tuple with less meets none and is stopped before it is an event.
	mins := make([]float64, len(idx))
	for p, i := range idx {
		mins[p] = ruleSentMin(e.rules[i])
	}
	for c := range event.FlowCombinations {
		value := func(f event.FlowField) (string, bool) { return event.FlowCombinationValue(c, f) }
		least, some := math.Inf(1), false
		for p, n := range ns {
			if !flowNeedsMet(n, value) {
				continue
			}
			some = true
			if least = min(least, mins[p]); least != least {
				break // a rule that needs none (NaN)
			}
		}
		if some && least == least {
			s.SetSentMin(c, least)
		}
	}
	return s
}

// ruleSentMin is the least flow.bytes_sent r's condition needs (a gte or
// gt on it that every way of meeting the condition holds: under and, or
// and 1 of, never under not), else NaN. A new_term rule's learning
// selection needs none.
func ruleSentMin(r *Rule) float64 {
	if r.learn != nil {
		return math.NaN()
	}
	return condSentMin(r.cond, r.sels)
}

// condSentMin is ruleSentMin of a condition: and needs the most of its
// terms' (any term's need holds), or the least (each term's may be the
// one met); NaN for none.
func condSentMin(c cond, sels []*selection) float64 {
	switch c := c.(type) {
	case condSel:
		if int(c) < 0 || int(c) >= len(sels) {
			return math.NaN()
		}
		return selectionSentMin(sels[c])
	case condAnd:
		out := math.NaN()
		for _, x := range c {
			out = maxKnown(out, condSentMin(x, sels))
		}
		return out
	case condOr:
		if len(c) == 0 {
			return math.NaN()
		}
		out := math.Inf(1)
		for _, x := range c {
			m := condSentMin(x, sels)
			if m != m {
				return m
			}
			out = min(out, m)
		}
		return out
	}
	return math.NaN() // condNot, or anything else: nothing is known
}

// selectionSentMin: each group (and of fields) needs the most of its
// fields'; the selection (or of groups) the least of its groups'.
func selectionSentMin(s *selection) float64 {
	if s == nil || s.keywords != nil || len(s.anyOf) == 0 {
		return math.NaN()
	}
	out := math.Inf(1)
	for _, group := range s.anyOf {
		g := math.NaN()
		for _, f := range group {
			g = maxKnown(g, fieldSentMin(f))
		}
		if g != g {
			return g
		}
		out = min(out, g)
	}
	return out
}

// fieldSentMin is the least flow.bytes_sent f needs: f compares it with
// gte or gt only (a missing value or one not a number meets neither), the
// least of their numbers (all: the most); else NaN.
func fieldSentMin(f *fieldMatch) float64 {
	if f.res == nil || !f.res.flowKnown || f.res.flowID != event.FlowBytesSent || f.exists != nil || len(f.values) == 0 {
		return math.NaN()
	}
	out := math.NaN()
	for i := range f.values {
		rv := &f.values[i]
		n, ok := rv.m.(numeric)
		if rv.null || rv.lit != nil || !ok || (n.op != "gte" && n.op != "gt") || n.want != n.want {
			if f.all {
				continue // another value's need holds still
			}
			return math.NaN()
		}
		switch {
		case out != out:
			out = n.want
		case f.all:
			out = max(out, n.want)
		default:
			out = min(out, n.want)
		}
	}
	return out
}

// maxKnown is the larger of a and b, either NaN (none known) giving the
// other.
func maxKnown(a, b float64) float64 {
	switch {
	case a != a:
		return b
	case b != b:
		return a
	}
	return max(a, b)
}

// flowNeedsMet reports whether a tuple of the sieve's values may meet n:
// every need on one of the sieve's names holds one of its values.
func flowNeedsMet(n needs, value func(event.FlowField) (string, bool)) bool {
	for _, need := range n {
		if need.res == nil || !need.res.flowKnown {
			continue
		}
		if v, known := value(need.res.flowID); known && !need.keys[v] {
			return false
		}
	}
	return true
}
