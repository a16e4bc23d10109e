package detect

import "github.com/azdetect/azdetect/internal/event"

// Flow combinations. A flow tuple's log type, direction, decision and two
// address classes (the names event.FlowSieve sorts tuples by) take 72
// combinations of values, and the seven names that read them
// (flow.log_type, flow.direction, flow.allowed, flow.src_class,
// flow.dst_class, flow.local_class, flow.remote_class) answer a text that
// depends on the combination alone. A test of such a name (fieldMatch) is
// worked out at rule build for each combination, and the rule index's
// candidates on those names likewise: per tuple, a bit and a copy instead
// of a field read and string compares for each.

// flowCombos is the number of combinations.
const flowCombos = event.FlowCombinations

// flowValuesReader is a flow tuple's event fields that tell their
// combination's values (source's tuple events do): log type (VNet, else
// NSG), direction (outbound, else inbound), decision (allowed, else
// denied), address classes (event.FlowClassNames' numbers).
type flowValuesReader interface {
	FlowValues() (vnet, outbound, allowed bool, src, dst uint8)
}

// tupleFields is a tuple's fields as the field cache reads them.
type tupleFields interface {
	event.CanonicalReader
	flowValuesReader
}

// flowCombo numbers a combination; -1 for a class out of range (that
// tuple is read field by field).
func flowCombo(vnet, outbound, allowed bool, src, dst uint8) int {
	const classes = uint8(len(event.FlowClassNames))
	if src >= classes || dst >= classes {
		return -1
	}
	return int(event.FlowCombination(vnet, outbound, allowed, src, dst))
}

// flowComboValue is the text a tuple of combination c answers for f, and
// whether f is one of the combination's names.
func flowComboValue(c int, f event.FlowField) (string, bool) {
	return event.FlowCombinationValue(c, f)
}

// flowComboField reports whether f is one of the combination's names.
func flowComboField(f event.FlowField) bool {
	_, ok := flowComboValue(0, f)
	return ok
}

// flowComboSet is a set of combinations.
type flowComboSet [(flowCombos + 63) / 64]uint64

func (s *flowComboSet) add(c int)      { s[c/64] |= 1 << (c % 64) }
func (s *flowComboSet) has(c int) bool { return s[c/64]&(1<<(c%64)) != 0 }

// setCombos works out f's outcome for each combination when f is a test
// of one of the combination's names on its values (flowTest): what
// match would give on a tuple of that combination.
func (f *fieldMatch) setCombos() {
	if !f.flowTest || !flowComboField(f.res.flowID) {
		return
	}
	var c fieldCache // evalCanonical's room for a subject
	for combo := range flowCombos {
		v, _ := flowComboValue(combo, f.res.flowID)
		if f.evalCanonical(&c, v) {
			f.combos.add(combo)
		}
	}
	f.comboTest = true
}

// comboVerdict is a rule's outcome on a tuple of one combination: whether
// it matches, and the selection masks its evaluation leaves (evalCtx's
// known and hit).
type comboVerdict struct {
	match      bool
	known, hit uint64
}

// comboDecided reports whether r's outcome on a tuple is its
// combination's: every selection it may evaluate (the condition's, the
// learn selection) tests names of the combination only (comboTest), with
// no keywords.
func comboDecided(r *Rule) bool {
	sels := append([]*selection(nil), r.sels...)
	if r.learn != nil {
		sels = append(sels, r.learn)
	}
	for _, s := range sels {
		if s == nil || s.keywords != nil || len(s.anyOf) == 0 {
			return false
		}
		for _, group := range s.anyOf {
			for _, f := range group {
				if !f.comboTest {
					return false
				}
			}
		}
	}
	return len(sels) > 0
}

// comboVerdicts is r.match on a tuple of each combination, nil when r's
// outcome is not its combination's (comboDecided).
func comboVerdicts(r *Rule) *[flowCombos]comboVerdict {
	if !comboDecided(r) {
		return nil
	}
	out := new([flowCombos]comboVerdict)
	ev := &event.Event{Source: flowService}
	for combo := range flowCombos {
		// Every test reads the combination alone (fieldMatch.match).
		c := &fieldCache{ev: ev, flow: comboOnly{}, combo: combo}
		e := evalCtx{ev: ev, cache: c}
		m := r.match(&e)
		out[combo] = comboVerdict{m, e.known, e.hit}
	}
	return out
}

// comboOnly is the fields of a tuple known by its combination only: what
// comboVerdicts evaluates rules with, whose tests never read a field.
type comboOnly struct{}

func (comboOnly) Field(string) (string, bool) { panic("comboOnly: a field read") }
func (comboOnly) CanonicalField(event.FlowField) (string, bool, bool) {
	panic("comboOnly: a field read")
}
