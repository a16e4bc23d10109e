package detect

import "github.com/azdetect/azdetect/internal/event"

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
	return event.NewFlowSieve(func(value func(event.FlowField) (string, bool)) bool {
		for _, n := range ns {
			if flowNeedsMet(n, value) {
				return true
			}
		}
		return false
	})
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
