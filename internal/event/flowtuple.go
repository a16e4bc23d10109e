package event

import (
	"math/bits"
	"net/netip"
)

// parseTuple is the tuple walk's fast path: it reads the JSON string el
// starts with (el[0] is its quote) and parses it as a tuple of kind into
// t in one pass over its bytes, each field read as it goes by, where
// splitTuple and parseFields went over the bytes twice (their commas,
// then each field again). It takes the tuples the logs write: IPv4
// addresses, decimal numbers, no escape, the documented field counts.
// ok is false for anything else, t then half-written: the caller parses
// the tuple the long way, which accepts what it does (an IPv6 address)
// and says what is wrong with the rest. On ok, t is what splitTuple and
// parseFields make of el (TestParseTupleAgrees, FuzzParseTupleAgrees),
// and end the index past the string's closing quote.
func parseTuple(el []byte, kind flowKind, t *FlowTuple) (end int, ok bool) {
	ends := &t.ends
	// i is where the next field starts in el; a field's end in the
	// tuple's text (el[1:]) is one less than its comma's index in el.
	stamp, i, ok := tupleUint(el, 1)
	if !ok || i >= len(el) || el[i] != ',' {
		return 0, false
	}
	ends[0] = i - 1
	src, i, ok := tupleIPv4(el, i+1)
	if !ok {
		return 0, false
	}
	ends[1] = i - 1
	dst, i, ok := tupleIPv4(el, i+1)
	if !ok {
		return 0, false
	}
	ends[2] = i - 1
	// plain: no number written with a leading zero, no field longer than
	// 255 bytes (FlowTuple.Plain).
	ns := i + 1
	sport, i, ok := tupleUint(el, ns)
	if !ok || sport > 65535 || i >= len(el) || el[i] != ',' {
		return 0, false
	}
	plain := el[ns] != '0' || i-ns == 1
	ends[3] = i - 1
	ns = i + 1
	dport, i, ok := tupleUint(el, ns)
	if !ok || dport > 65535 || i >= len(el) || el[i] != ',' {
		return 0, false
	}
	plain = plain && (el[ns] != '0' || i-ns == 1)
	ends[4] = i - 1
	ps := i + 1
	if i, ok = tupleWord(el, ps); !ok {
		return 0, false
	}
	ends[5] = i - 1
	proto := el[ps:i]
	plain = plain && len(proto) <= 255
	// The direction and the decision (VNet: the state), a byte each.
	if i+4 >= len(el) || el[i+2] != ',' {
		return 0, false
	}
	dir, decision := el[i+1], el[i+3]
	if dir != FlowInbound && dir != FlowOutbound {
		return 0, false
	}
	ends[6], ends[7] = i+1, i+3
	i += 4 // past the decision
	var allowed bool
	var state byte
	var enc []byte
	switch kind {
	case flowNSG:
		switch decision {
		case 'A':
			allowed = true
		case 'D':
		default:
			return 0, false
		}
		if el[i] == '"' { // version 1: eight fields, no state, no counts
			t.setParsed(el[1:i], 8, stamp, src, dst, sport, dport, proto, dir, allowed, 0, nil, plain)
			t.PacketsOut, t.BytesOut, t.PacketsIn, t.BytesIn, t.HasCounts = 0, 0, 0, 0, false
			return i + 1, true
		}
		if el[i] != ',' || i+2 >= len(el) || !isFlowState(el[i+1]) || el[i+2] != ',' {
			return 0, false
		}
		state = el[i+1]
		ends[8] = i + 1
		i += 2
	case flowVNet:
		if !isFlowState(decision) || el[i] != ',' {
			return 0, false
		}
		state, allowed = decision, decision != FlowDenied
		es := i + 1
		if i, ok = tupleWord(el, es); !ok {
			return 0, false
		}
		ends[8] = i - 1
		enc = el[es:i]
		plain = plain && len(enc) <= 255
	default:
		return 0, false
	}
	// el[i] is the comma before the counts: all four empty, or all four
	// numbers.
	var counts [4]uint64
	written := 0
	for k := range counts {
		j := i + 1
		if j < len(el) && (el[j] == ',' || el[j] == '"') {
			i = j // empty
		} else {
			if counts[k], i, ok = tupleUint(el, j); !ok {
				return 0, false
			}
			plain = plain && (el[j] != '0' || i-j == 1)
			written++
		}
		if i >= len(el) || el[i] != ",,,\""[k] {
			return 0, false
		}
		ends[9+k] = i - 1
	}
	if written != 0 && written != 4 {
		return 0, false
	}
	t.setParsed(el[1:i], 13, stamp, src, dst, sport, dport, proto, dir, allowed, state, enc, plain)
	t.PacketsOut, t.BytesOut, t.PacketsIn, t.BytesIn = counts[0], counts[1], counts[2], counts[3]
	t.HasCounts = written == 4
	return i + 1, true
}

// setParsed sets t's values but for the counts as parseFields does, the
// pointers (a time's location, an address's zone, a string) written only
// when they change.
func (t *FlowTuple) setParsed(text []byte, n int, stamp uint64, src, dst [4]byte, sport, dport uint64, proto []byte, dir byte, allowed bool, state byte, enc []byte, plain bool) {
	t.text, t.fields, t.plain = text, n, plain
	if tm := flowTime(stamp); tm != t.Time {
		t.Time = tm
	}
	if s := netip.AddrFrom4(src); s != t.SrcIP {
		t.SrcIP = s
	}
	if d := netip.AddrFrom4(dst); d != t.DstIP {
		t.DstIP = d
	}
	t.SrcPort, t.DstPort = uint16(sport), uint16(dport)
	if p := flowProtocol(proto); p != t.Protocol {
		t.Protocol = p
	}
	t.Direction, t.Allowed, t.State = dir, allowed, state
	e := ""
	if n == 13 && enc != nil {
		e = flowEncryption(enc)
	}
	if e != t.Encryption {
		t.Encryption = e
	}
}

// tupleUint reads the decimal number of 1 to 19 digits at el[i] (what
// parseUint reads) and returns it and the index past its last digit.
func tupleUint(el []byte, i int) (n uint64, j int, ok bool) {
	j = i
	for j < len(el) && el[j]-'0' <= 9 {
		n = n*10 + uint64(el[j]-'0')
		j++
	}
	return n, j, j > i && j-i <= 19
}

// tupleIPv4 reads the dotted IPv4 address at el[i] (what parseIPv4
// reads) up to the comma after it, and returns the index of that comma.
func tupleIPv4(el []byte, i int) (ip [4]byte, j int, ok bool) {
	for k := range ip {
		if i >= len(el) || el[i]-'0' > 9 {
			return ip, 0, false
		}
		v := uint(el[i] - '0')
		i++
		if i < len(el) && el[i]-'0' <= 9 {
			if v == 0 {
				return ip, 0, false // a leading zero
			}
			v = v*10 + uint(el[i]-'0')
			i++
			if i < len(el) && el[i]-'0' <= 9 {
				v = v*10 + uint(el[i]-'0')
				i++
				if v > 255 {
					return ip, 0, false
				}
			}
		}
		ip[k] = byte(v)
		sep := byte('.')
		if k == 3 {
			sep = ','
		}
		if i >= len(el) || el[i] != sep {
			return ip, 0, false
		}
		i++
	}
	return ip, i - 1, true
}

// tupleWord reads a field written as text (a protocol, an encryption) at
// el[i] up to its comma, and returns the comma's index: printable ASCII
// but a quote or backslash; anything else goes the long way.
func tupleWord(el []byte, i int) (int, bool) {
	for ; i < len(el); i++ {
		c := el[i]
		if c == ',' {
			return i, true
		}
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return 0, false
		}
	}
	return 0, false
}

// PlainTuple is a tuple as the logs write it (FlowTuple.Plain), read by
// ReadPlainTuple without a FlowTuple: the numbers a keeper of tuples
// (source's) holds, its fields' texts left where they are written.
type PlainTuple struct {
	Stamp     uint64                // the time as written (FlowMillis)
	Src, Dst  [4]byte               // dotted IPv4
	Lens      [flowFieldCount]uint8 // the fields' lengths, 0 past the last
	Fields    int                   // 8 (NSG version 1) or 13
	Protocol  uint8                 // index in PlainProtocols; 0: as written
	Direction byte                  // FlowInbound or FlowOutbound
	State     byte                  // 0 in NSG version 1
	Allowed   bool
	Counts    bool // the four counts were written (FlowTuple.HasCounts)
}

// plainProtocol1 is PlainTuple.Protocol of a protocol written in one
// byte: T and 6 (TCP), U (UDP), 1 (ICMP), as flowProtocol reads them.
var plainProtocol1 = [256]uint8{'T': 1, 't': 1, '6': 1, 'U': 2, 'u': 2, '1': 3}

// PlainProtocols are FlowTuple.Protocol by PlainTuple.Protocol's index;
// index 0 is a protocol as written.
var PlainProtocols = [...]string{"", ProtocolTCP, ProtocolUDP, ProtocolICMP, ProtocolICMPv6}

// FlowMillis is the time of a tuple whose time is written stamp, Unix
// milliseconds: FlowTuple.Time.UnixMilli().
func FlowMillis(stamp uint64) int64 {
	if stamp >= 1e11 {
		return int64(min(stamp, 1<<62))
	}
	return int64(stamp) * 1000
}

// ReadPlainTuple reads the JSON string el starts with (el[0] is its
// quote) as a tuple of a VNet (vnet) or NSG record into p, when the walk
// reads it in one pass (parseTuple) and finds it plain: end is the index
// past the string's closing quote. ok is false for any other tuple (p
// then half written): the caller takes the walk's way (parseTuple, then
// the long way). On ok, p holds what a FlowTuple read from el does
// (TestReadPlainTupleAgrees, FuzzReadPlainTupleAgrees). The counts'
// values are not read, only checked (a keeper reads their text).
func ReadPlainTuple(el []byte, vnet bool, p *PlainTuple) (end int, ok bool) {
	// The time: 1 to 19 digits, the first eight read at once when they
	// are digits (a time in seconds has ten).
	i := 1
	var stamp uint64
	if len(el) >= 1+16 {
		if x := load64(el, 1); nonDigits(x) == 0 {
			// Up to seven more, read at once from the word after the
			// first eight: its digits moved to its top bytes, the
			// bytes below them zero (digits 0 to eightDigits).
			y := load64(el, 1+8)
			if n := bits.TrailingZeros64(nonDigits(y)) / 8; n < 8 {
				stamp, i = eightDigits(x)*pow10[n]+eightDigits(y<<(8*(8-uint(n)))), 1+8+n
				// 9 to 16 digits: within el, which has 17 bytes.
				if load8(el, i) != ',' {
					return 0, false
				}
				goto stamped
			}
		}
	}
	for i < len(el) && el[i]-'0' <= 9 {
		stamp = stamp*10 + uint64(el[i]-'0')
		i++
	}
	if i == 1 || i > 20 || i >= len(el) || el[i] != ',' {
		return 0, false
	}
stamped:
	p.Stamp, p.Lens[0] = stamp, uint8(i-1)
	src, j, ok := plainIPv4(el, i+1)
	if !ok {
		return 0, false
	}
	p.Src, p.Lens[1] = src, uint8(j-i-1)
	dst, i, ok := plainIPv4(el, j+1)
	if !ok {
		return 0, false
	}
	p.Dst, p.Lens[2] = dst, uint8(i-j-1)
	// The ports: 1 to 5 digits, no leading zero, at most 65535 (five
	// digits read at once from the word that ends with them: the time
	// and the addresses are before them).
	for f := 3; f <= 4; f++ {
		j = i + 1
		if j+8 <= len(el) {
			// The port and its comma within the word at j.
			x := load64(el, j)
			n := bits.TrailingZeros64(nonDigits(x)) / 8
			if n == 0 || n > 5 || byte(x>>(8*uint(n))) != ',' || (n > 1 && byte(x) == '0') || (n == 5 && eightDigits(x<<24) > 65535) {
				return 0, false
			}
			i = j + n
			p.Lens[f] = uint8(n)
			continue
		}
		i = digitEnd(el, j)
		n := i - j
		if n == 0 || n > 5 || i >= len(el) || el[i] != ',' || (n > 1 && el[j] == '0') || (n == 5 && eightDigits(load64(el, i-8)&^(1<<24-1)) > 65535) {
			return 0, false
		}
		p.Lens[f] = uint8(n)
	}
	// The protocol, as tupleWord reads it, at most 255 bytes.
	ps := i + 1
	if i, ok = tupleWord(el, ps); !ok || i-ps > 255 {
		return 0, false
	}
	p.Lens[5] = uint8(i - ps)
	p.Protocol = 0
	switch proto := el[ps:i]; len(proto) {
	case 1:
		p.Protocol = plainProtocol1[proto[0]]
	case 2:
		switch string(proto) {
		case "17":
			p.Protocol = 2
		case "58":
			p.Protocol = 4
		}
	case 3, 4, 6: // the names themselves, as written
		switch string(proto) {
		case ProtocolTCP:
			p.Protocol = 1
		case ProtocolUDP:
			p.Protocol = 2
		case ProtocolICMP:
			p.Protocol = 3
		case ProtocolICMPv6:
			p.Protocol = 4
		}
	}
	// The direction and the decision (VNet: the state), a byte each.
	if i+4 >= len(el) {
		return 0, false
	}
	x := load32(el, i) // the comma, the direction, a comma, the decision
	if byte(x>>16) != ',' {
		return 0, false
	}
	dir, decision := byte(x>>8), byte(x>>24)
	if dir != FlowInbound && dir != FlowOutbound {
		return 0, false
	}
	p.Direction, p.Lens[6], p.Lens[7] = dir, 1, 1
	i += 4 // past the decision
	if vnet {
		if !isFlowState(decision) || el[i] != ',' {
			return 0, false
		}
		p.State, p.Allowed = decision, decision != FlowDenied
		es := i + 1
		if i, ok = tupleWord(el, es); !ok || i-es > 255 {
			return 0, false
		}
		p.Lens[8] = uint8(i - es)
	} else {
		switch decision {
		case 'A':
			p.Allowed = true
		case 'D':
			p.Allowed = false
		default:
			return 0, false
		}
		if el[i] == '"' { // version 1: eight fields, no state, no counts
			p.Fields, p.State, p.Counts = 8, 0, false
			p.Lens[8], p.Lens[9], p.Lens[10], p.Lens[11], p.Lens[12] = 0, 0, 0, 0, 0
			return i + 1, true
		}
		if el[i] != ',' || i+2 >= len(el) || !isFlowState(el[i+1]) || el[i+2] != ',' {
			return 0, false
		}
		p.State, p.Lens[8] = el[i+1], 1
		i += 2
	}
	// el[i] is the comma before the counts: all four empty (the four
	// commas and the quote read at once), or all four numbers of 1 to 19
	// digits without a leading zero.
	if i+5 <= len(el) && string(el[i:i+5]) == ",,,,\"" {
		p.Lens[9], p.Lens[10], p.Lens[11], p.Lens[12] = 0, 0, 0, 0
		p.Fields, p.Counts = 13, false
		return i + 5, true
	}
	if end, ok := plainCounts(el, i+1, p); ok {
		return end, true
	}
	written := 0
	for k := range 4 {
		j := i + 1
		i = digitEnd(el, j)
		n := i - j
		sep := byte(',')
		if k == 3 {
			sep = '"'
		}
		if n > 19 || (n > 1 && el[j] == '0') || i >= len(el) || el[i] != sep {
			return 0, false
		}
		if n > 0 {
			written++
		}
		p.Lens[9+k] = uint8(n)
	}
	if written != 0 && written != 4 {
		return 0, false
	}
	p.Fields, p.Counts = 13, written == 4
	return i + 1, true
}

// plainCounts is ReadPlainTuple's read of the four counts at el[c] when
// all four are written and the 32 bytes from c hold them and the closing
// quote: the separators found at once, as the first four bytes that are
// not digits (nonDigits of four words), not a count at a time. ok false
// says nothing (p untouched): the loop reads them then. On ok, p's
// counts are what the loop makes of them, and end the index past the
// quote (TestReadPlainTupleAgrees, FuzzReadPlainTupleAgrees).
func plainCounts(el []byte, c int, p *PlainTuple) (end int, ok bool) {
	if c < 0 || c+32 > len(el) {
		return 0, false
	}
	m := flags(nonDigits(load64(el, c))) | flags(nonDigits(load64(el, c+8)))<<8 |
		flags(nonDigits(load64(el, c+16)))<<16 | flags(nonDigits(load64(el, c+24)))<<24
	p1 := bits.TrailingZeros64(m)
	m &= m - 1
	p2 := bits.TrailingZeros64(m)
	m &= m - 1
	p3 := bits.TrailingZeros64(m)
	m &= m - 1
	p4 := bits.TrailingZeros64(m) // 64 when fewer than four
	n1, n2, n3, n4 := p1, p2-p1-1, p3-p2-1, p4-p3-1
	// Each of 1 to 19 digits, none with a leading zero, the separators
	// three commas and the quote.
	if p4 >= 32 || n1 == 0 || n2 == 0 || n3 == 0 || n4 == 0 || max(n1, n2, n3, n4) > 19 ||
		load8(el, c+p1) != ',' || load8(el, c+p2) != ',' || load8(el, c+p3) != ',' || load8(el, c+p4) != '"' ||
		(n1 > 1 && load8(el, c) == '0') || (n2 > 1 && load8(el, c+p1+1) == '0') ||
		(n3 > 1 && load8(el, c+p2+1) == '0') || (n4 > 1 && load8(el, c+p3+1) == '0') {
		return 0, false
	}
	p.Lens[9], p.Lens[10], p.Lens[11], p.Lens[12] = uint8(n1), uint8(n2), uint8(n3), uint8(n4)
	p.Fields, p.Counts = 13, true
	return c + p4 + 1, true
}

// flags packs the top bits of x's bytes (nonDigits's) into its low
// eight bits, byte k's in bit k.
func flags(x uint64) uint64 {
	return (x >> 7) * 0x0102040810204080 >> 56
}

// digitEnd is the index of the first byte of el from i on (i >= 0) that
// is not an ASCII digit, or len(el): read eight bytes at a time.
func digitEnd(el []byte, i int) int {
	for i+8 <= len(el) {
		if m := nonDigits(load64(el, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(el) && el[i]-'0' <= 9 {
		i++
	}
	return i
}

// pow10 are the powers of ten up to 1e8.
var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// nonDigits has the top bit of each byte of x that is not an ASCII
// digit, and no other bit.
func nonDigits(x uint64) uint64 {
	a := x &^ highBits // each byte's low seven bits: no carry between bytes below
	return (x | (a + 0x46*lowBits) | ^(a + 0x50*lowBits)) & highBits
}

// eightDigits is the number the eight ASCII digits of x write, the
// first in its low byte.
func eightDigits(x uint64) uint64 {
	x = (x & 0x0f0f0f0f0f0f0f0f) * (10<<8 + 1) >> 8
	x = (x & 0x00ff00ff00ff00ff) * (100<<16 + 1) >> 16
	return (x & 0x0000ffff0000ffff) * (10000<<32 + 1) >> 32 & 0xffffffff
}

// plainIPv4 is tupleIPv4 reading el without a bounds check a byte when
// el has room for the longest address and its comma behind i (an
// address is followed by the tuple's other fields).
func plainIPv4(el []byte, i int) (ip [4]byte, j int, ok bool) {
	if i < 0 || i+16 > len(el) {
		return tupleIPv4(el, i)
	}
	// Each octet reads at most four bytes (three digits and what
	// follows them): 16 in all.
	for k := range ip {
		v := uint(load8(el, i) - '0')
		if v > 9 {
			return ip, 0, false
		}
		if d := uint(load8(el, i+1) - '0'); d > 9 {
			i++
		} else if v == 0 {
			return ip, 0, false // a leading zero
		} else if e := uint(load8(el, i+2) - '0'); e > 9 {
			v = v*10 + d
			i += 2
		} else {
			v = v*100 + d*10 + e
			i += 3
			if v > 255 {
				return ip, 0, false
			}
		}
		sep := byte('.')
		if k == 3 {
			sep = ','
		}
		if load8(el, i) != sep {
			return ip, 0, false
		}
		ip[k] = byte(v)
		i++
	}
	return ip, i - 1, true
}
