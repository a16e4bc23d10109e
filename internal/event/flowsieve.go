package event

import (
	"math"
	"slices"
	"strconv"
)

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
// flow.direction, flow.allowed and the four flow.*_class), and within a
// combination of those by its bytes sent and destination port. A rule
// engine works it out once from what its rules need of those names (a
// scan rule wants flow.allowed false, the management port rule one of
// four ports); the tuple walk asks it with the values it parsed, before it
// makes an event, so that a tuple no rule can select costs no event and
// no condition. A nil sieve lets every tuple through.
type FlowSieve struct {
	may [(FlowCombinations + 63) / 64]uint64 // by FlowCombination
	// bounded: the combinations whose tuples need some flow.bytes_sent
	// (SetSentMin) or one of some flow.dst_port values (SetPorts); need:
	// what each of them needs.
	bounded [(FlowCombinations + 63) / 64]uint64
	need    *[FlowCombinations]tupleNeed
}

// tupleNeed is what a bounded combination's tuples need, one of:
// flow.bytes_sent of at least min (bySent), flow.dst_port one of ports
// (byPort).
type tupleNeed struct {
	bySent, byPort bool
	// min, and digits, when min is below 1e15, the decimal text of the
	// least whole number at least min (and at least 0): a number written
	// in digits without a leading zero compares with it by its length,
	// then its bytes.
	min    float64
	digits string
	ports  []string // decimal digits each
}

// needOf is combination c's need, c made bounded.
func (s *FlowSieve) needOf(c int) *tupleNeed {
	if s.need == nil {
		s.need = new([FlowCombinations]tupleNeed)
	}
	s.bounded[c/64] |= 1 << (c % 64)
	return &s.need[c]
}

// SetSentMin makes the sieve stop the tuples of combination c (numbered
// by FlowCombination) whose flow.bytes_sent is missing, not a number or
// below min, unless their port lets them through (SetPorts): a rule
// engine's, when every rule that may select such a tuple needs
// flow.bytes_sent of at least min (NaN: none) or one of those ports.
func (s *FlowSieve) SetSentMin(c int, min float64) {
	if c < 0 || c >= FlowCombinations || min != min {
		return
	}
	n := s.needOf(c)
	n.bySent, n.min, n.digits = true, min, ""
	if min < 1e15 {
		n.digits = strconv.FormatFloat(math.Ceil(max(min, 0)), 'f', 0, 64)
	}
}

// SetPorts makes the sieve stop the tuples of combination c whose
// flow.dst_port is written in digits (which a rule's trimmed, lower-cased
// compare leaves as they are) and is none of ports, unless their bytes
// sent let them through (SetSentMin): a rule engine's, when every rule
// that may select such a tuple needs flow.dst_port to equal one of ports,
// or some bytes sent. Ports not in digits are left out: a port in digits
// is none of them, and a tuple's port not in digits is let through.
func (s *FlowSieve) SetPorts(c int, ports []string) {
	if c < 0 || c >= FlowCombinations {
		return
	}
	n := s.needOf(c)
	n.byPort, n.ports = true, nil
	for _, p := range ports {
		if allDigits(p) && !slices.Contains(n.ports, p) {
			n.ports = append(n.ports, p)
		}
	}
}

// allDigits reports whether s is the digits 0 to 9 only (or empty).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// Combination is FlowCombination of a tuple's values, and whether they
// are of the sieve's (each class below len(FlowClassNames)).
func Combination(vnet, outbound, allowed bool, src, dst uint8) (uint, bool) {
	return FlowCombination(vnet, outbound, allowed, src, dst), src < uint8(len(FlowClassNames)) && dst < uint8(len(FlowClassNames))
}

// MayCombination is May of a tuple of combination c (Combination's).
func (s *FlowSieve) MayCombination(c uint) bool {
	return s == nil || s.may[c/64&1]&(1<<(c%64)) != 0
}

// Bounded reports whether the tuples of combination c need some
// flow.bytes_sent or flow.dst_port (Lets then tells).
func (s *FlowSieve) Bounded(c uint) bool {
	return s != nil && c < FlowCombinations && s.bounded[c/64&1]&(1<<(c%64)) != 0
}

// ByPort reports whether a tuple of combination c may be let through by
// its flow.dst_port (SetPorts): Lets reads port only then, so a caller
// may pass "" otherwise and need not find the port.
func (s *FlowSieve) ByPort(c uint) bool {
	return s.Bounded(c) && s.need[c].byPort
}

// Lets reports whether a tuple of combination c whose flow.bytes_sent is
// sent and flow.dst_port is port, as its event answers them ("" when
// missing; port is read only when ByPort), has what the sieve needs of
// it: a port of SetPorts' or one not in digits; or bytes sent that
// compare as at least the least (SetSentMin) the way a rule's gte does
// (SentAtLeast). digits says sent is a decimal number without a leading
// zero, or "": compared as text then.
func (s *FlowSieve) Lets(c uint, sent string, digits bool, port string) bool {
	if !s.Bounded(c) {
		return true
	}
	// The bytes first: most tuples with counts have enough, told by their
	// length, and their port is not looked at.
	n := &s.need[c]
	if n.bySent {
		if digits && n.digits != "" {
			if len(sent) > len(n.digits) || (len(sent) == len(n.digits) && sent >= n.digits) {
				return true
			}
		} else if SentAtLeast(sent, n.min) {
			return true
		}
	}
	return n.byPort && (slices.Contains(n.ports, port) || !allDigits(port))
}

// SentAtLeast reports whether sent, a tuple's flow.bytes_sent as its
// event answers it ("" when missing), compares as at least min the way a
// rule's gte does (a number of up to 15 digits read exactly, anything
// else as strconv.ParseFloat reads it; missing or not a number: false).
func SentAtLeast(sent string, min float64) bool {
	if sent == "" {
		return false
	}
	if len(sent) <= 15 {
		var n uint64
		i := 0
		for ; i < len(sent) && sent[i]-'0' <= 9; i++ {
			n = n*10 + uint64(sent[i]-'0')
		}
		if i == len(sent) {
			return float64(n) >= min
		}
	}
	f, err := strconv.ParseFloat(sent, 64)
	return err == nil && f >= min
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
	if s.bounded != [len(s.bounded)]uint64{} {
		return false // some tuples stopped by their bytes
	}
	for b := uint(0); b < FlowCombinations; b++ {
		if s.may[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}
