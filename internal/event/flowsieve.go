package event

import (
	"math"
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
// flow.direction, flow.allowed and the four flow.*_class). A rule engine
// works it out once from what its rules need of those names (a scan rule
// wants flow.allowed false); the tuple walk asks it with the values it
// parsed, before it makes an event, so that a tuple no rule can select
// costs no event and no condition. A nil sieve lets every tuple through.
type FlowSieve struct {
	may [(FlowCombinations + 63) / 64]uint64 // by FlowCombination
	// bounded: the combinations whose tuples need some flow.bytes_sent
	// (SetSentMin), and sent its least for each.
	bounded [(FlowCombinations + 63) / 64]uint64
	sent    *[FlowCombinations]sentNeed
}

// sentNeed is the least flow.bytes_sent of a combination's tuples: min,
// and digits, when min is below 1e15, the decimal text of the least whole
// number at least min (and at least 0): a number written in digits without
// a leading zero compares with it by its length, then its bytes.
type sentNeed struct {
	min    float64
	digits string
}

// SetSentMin makes the sieve stop the tuples of combination c (numbered
// by FlowCombination) whose flow.bytes_sent is missing, not a number or
// below min (SentLets): a rule engine's, when every rule that may select
// such a tuple needs flow.bytes_sent of at least min (NaN: none).
func (s *FlowSieve) SetSentMin(c int, min float64) {
	if c < 0 || c >= FlowCombinations || min != min {
		return
	}
	if s.sent == nil {
		s.sent = new([FlowCombinations]sentNeed)
	}
	n := sentNeed{min: min}
	if min < 1e15 {
		n.digits = strconv.FormatFloat(math.Ceil(max(min, 0)), 'f', 0, 64)
	}
	s.sent[c] = n
	s.bounded[c/64] |= 1 << (c % 64)
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
// flow.bytes_sent (SentLets then tells).
func (s *FlowSieve) Bounded(c uint) bool {
	return s != nil && s.bounded[c/64&1]&(1<<(c%64)) != 0
}

// SentLets reports whether a tuple of combination c whose flow.bytes_sent
// is sent, as its event answers it ("" when missing), has the bytes the
// sieve needs of it: sent compares as at least the least (SetSentMin)
// the way a rule's gte does (SentAtLeast). digits says sent is a decimal
// number without a leading zero, or "": compared as text then.
func (s *FlowSieve) SentLets(c uint, sent string, digits bool) bool {
	if !s.Bounded(c) {
		return true
	}
	n := &s.sent[c%FlowCombinations]
	if digits && n.digits != "" {
		return len(sent) > len(n.digits) || (len(sent) == len(n.digits) && sent >= n.digits)
	}
	return SentAtLeast(sent, n.min)
}

// SentMin is the least flow.bytes_sent the sieve lets a tuple of these
// values through with (SetSentMin); ok is false when it lets any through.
func (s *FlowSieve) SentMin(vnet, outbound, allowed bool, src, dst uint8) (min float64, ok bool) {
	c, known := Combination(vnet, outbound, allowed, src, dst)
	if !known || !s.Bounded(c) {
		return 0, false
	}
	return s.sent[c].min, true
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
