package event

// Address classes of a flow tuple's event (flow.src_class,
// flow.dst_class, flow.local_class, flow.remote_class), numbered as in
// FlowClassNames.
const (
	FlowClassInternet uint8 = iota
	FlowClassPrivate
	FlowClassAzure
)

// FlowClassNames are the address classes' names, by number.
var FlowClassNames = [...]string{"internet", "private", "azure"}

// FlowSieve tells the flow tuples some rule may select from those no rule
// can, by the few values of a few names every tuple event has: its log
// type, direction, decision and address classes (flow.log_type,
// flow.direction, flow.allowed and the four flow.*_class). A rule engine
// works it out once from what its rules need of those names (a scan rule
// wants flow.allowed false); the tuple walk asks it with the values it
// parsed, before it makes an event, so that a tuple no rule can select
// costs no event and no condition. A nil sieve lets every tuple through.
type FlowSieve struct {
	may [(FlowCombinations + 63) / 64]uint64 // by FlowCombination
}

// FlowCombinations is the number of the values' combinations: log type
// (2), direction (2), decision (2), source and destination class (3 each).
const FlowCombinations = 2 * 2 * 2 * 3 * 3

// FlowCombination numbers a tuple's combination of log type, direction,
// decision and address classes (each class below len(FlowClassNames)):
// 0 to 71, the sieve's bit and the rule engine's per-combination tables.
func FlowCombination(vnet, outbound, allowed bool, src, dst uint8) uint {
	b := uint(src)*3 + uint(dst)
	if vnet {
		b += 9
	}
	if outbound {
		b += 18
	}
	if allowed {
		b += 36
	}
	return b
}

// NewFlowSieve returns the sieve that lets a tuple through when may
// reports true for its values. may is asked once for each combination of
// them, with value: the text of field f for that combination (as the
// tuple's event answers it: "vnet", "outbound", "true", "private"...),
// and false for a field that is not one of the sieve's (its value is not
// known: may must let it be anything).
func NewFlowSieve(may func(value func(f FlowField) (string, bool)) bool) *FlowSieve {
	s := new(FlowSieve)
	for c := range FlowCombinations {
		if may(func(f FlowField) (string, bool) { return FlowCombinationValue(c, f) }) {
			s.may[c/64] |= 1 << (c % 64)
		}
	}
	return s
}

// FlowCombinationValue is the text a tuple of combination c (numbered by
// FlowCombination) answers for f, as the tuple's event answers it
// ("vnet", "outbound", "true", "private"...), and whether f is one of the
// combination's names.
func FlowCombinationValue(c int, f FlowField) (string, bool) {
	src, dst := uint8(c%9/3), uint8(c%3)
	vnet, outbound, allowed := c/9%2 == 1, c/18%2 == 1, c/36%2 == 1
	local, remote := dst, src
	if outbound {
		local, remote = src, dst
	}
	switch f {
	case FlowLogType:
		return FlowLogTypeText(vnet), true
	case FlowDirection:
		return FlowDirectionText(outbound), true
	case FlowAllowed:
		return FlowAllowedText(allowed), true
	case FlowSrcClass:
		return FlowClassNames[src], true
	case FlowDstClass:
		return FlowClassNames[dst], true
	case FlowLocalClass:
		return FlowClassNames[local], true
	case FlowRemoteClass:
		return FlowClassNames[remote], true
	}
	return "", false
}

func pickText(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// FlowLogTypeText, FlowDirectionText and FlowAllowedText are what a flow
// tuple's event answers for flow.log_type, flow.direction and
// flow.allowed: the tuple walk's values and the sieve's combinations
// read the same texts.
func FlowLogTypeText(vnet bool) string       { return pickText(vnet, "vnet", "nsg") }
func FlowDirectionText(outbound bool) string { return pickText(outbound, "outbound", "inbound") }
func FlowAllowedText(allowed bool) string    { return pickText(allowed, "true", "false") }

// May reports whether some rule may select a tuple of these values: a
// VNet tuple (else NSG), outbound (else inbound), allowed (else denied),
// from an address of class src to one of class dst (FlowClassInternet,
// FlowClassPrivate, FlowClassAzure). A nil sieve reports true.
func (s *FlowSieve) May(vnet, outbound, allowed bool, src, dst uint8) bool {
	if s == nil {
		return true
	}
	if src >= uint8(len(FlowClassNames)) || dst >= uint8(len(FlowClassNames)) {
		return true
	}
	b := FlowCombination(vnet, outbound, allowed, src, dst)
	return s.may[b/64]&(1<<(b%64)) != 0
}

// All reports whether the sieve lets every tuple through (nil, or may
// true for every combination): a walk need not ask it.
func (s *FlowSieve) All() bool {
	if s == nil {
		return true
	}
	for b := uint(0); b < FlowCombinations; b++ {
		if s.may[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}
