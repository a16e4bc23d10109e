package detect

import (
	"math"
	"slices"

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
	// What else each combination's tuples need: when every rule a tuple
	// of it may meet needs some flow.bytes_sent (an exfiltration rule's
	// gte) or one of some flow.dst_port values (the management port
	// rule's), a tuple with fewer bytes than the least and none of the
	// ports meets none and is stopped before it is an event. A rule that
	// needs both is held to its bytes only.
	mins := make([]float64, len(idx))
	for p, i := range idx {
		mins[p] = ruleSentMin(e.rules[i])
	}
	for c := range event.FlowCombinations {
		value := func(f event.FlowField) (string, bool) { return event.FlowCombinationValue(c, f) }
		least, some, free := math.Inf(1), false, false
		var ports []string
		bySent, byPort := false, false
		for p, n := range ns {
			if !flowNeedsMet(n, value) {
				continue
			}
			some = true
			if m := mins[p]; m == m {
				bySent, least = true, min(least, m)
				continue
			}
			if keys, ok := dstPortNeed(n); ok {
				byPort = true
				ports = append(ports, keys...)
				continue
			}
			free = true // a rule that needs neither
			break
		}
		if !some || free {
			continue
		}
		if bySent {
			s.SetSentMin(c, least)
		}
		if byPort {
			slices.Sort(ports)
			s.SetPorts(c, ports)
		}
	}
	return s
}

// dstPortNeed is the flow.dst_port values n needs one of, if any.
func dstPortNeed(n needs) ([]string, bool) {
	for _, need := range n {
		if need.res == nil || !need.res.flowKnown || need.res.flowID != event.FlowDstPort {
			continue
		}
		keys := make([]string, 0, len(need.keys))
		for k := range need.keys {
			keys = append(keys, k)
		}
		return keys, true
	}
	return nil, false
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
