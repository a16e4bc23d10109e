package event

import "net/netip"

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
