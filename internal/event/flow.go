package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"
	"unsafe"
)

// Flow logs (log-schemas §9, §10): one record per NSG or flow log, NIC and
// minute holds many flow tuples, each one comma-separated string. The record
// is one Event; FlowTuples walks its tuples from Event.Raw one at a time,
// splitting each string in place, so a record of thousands of tuples is never
// held as thousands of values. It lives here, not in source, because the
// rules that need per-tuple facts (scans, exfiltration volume) import event
// only.

// Flow protocols, normalised from NSG letters (T, U) and VNet IANA numbers.
const (
	ProtocolTCP    = "tcp"
	ProtocolUDP    = "udp"
	ProtocolICMP   = "icmp"
	ProtocolICMPv6 = "icmpv6"
)

// Flow directions and states, as the logs write them.
const (
	FlowInbound  byte = 'I'
	FlowOutbound byte = 'O'

	FlowBegin      byte = 'B' // NSG v2, VNet: flow opened (NSG: no counts)
	FlowContinuing byte = 'C' // counts every ~5 minutes
	FlowEnd        byte = 'E' // final counts
	FlowDenied     byte = 'D' // VNet only: the flow was denied
)

// FlowTuple is one tuple of a flow-log record.
type FlowTuple struct {
	Time             time.Time // the flow's own time, UTC (epoch seconds or milliseconds by magnitude)
	SrcIP, DstIP     netip.Addr
	SrcPort, DstPort uint16
	Protocol         string // tcp, udp, icmp, icmpv6; another protocol as written
	Direction        byte   // FlowInbound or FlowOutbound, relative to the NIC
	Allowed          bool   // NSG decision A; VNet state other than D
	State            byte   // FlowBegin, FlowContinuing, FlowEnd, FlowDenied; 0 in NSG version 1
	Encryption       string // VNet: X, NX or an NX_* reason; "" for NSG

	// Deltas since the previous tuple of the same flow: source to
	// destination (Out) and destination to source (In). A flow's volume is
	// the sum over its C and E tuples.
	PacketsOut, BytesOut, PacketsIn, BytesIn uint64
	HasCounts                                bool // the four counts were written (NSG v2 B tuples leave them empty; v1 has none)

	Rule  string // NSG rule name (DefaultRule_DenyAllInBound, UserRule_x), VNet rule, PlatformRule
	ACLID string // VNet: the evaluating ACL (an NSG id, an AVNM rule id, a GUID, unspecified); "" for NSG
	MAC   string // the NIC's MAC as written

	// text is the tuple as written, ends the ends of its fields in it
	// (fields of them): what Written reads. Thirteen offsets, not thirteen
	// slices: a tuple's parse stores no pointer per field.
	text   []byte
	ends   [flowFieldCount]int
	fields int
	plain  bool // Plain
}

// Plain reports whether the tuple was read as the logs write it: both
// addresses dotted IPv4, its ports and counts without a leading zero, no
// field longer than 255 bytes, no escape in its string: each field's text is its value's as written, and a
// keeper of tuples (source's) need check none of that again. false says
// nothing: the tuple may still be.
func (t *FlowTuple) Plain() bool { return t.plain }

// Fields returns the tuple as written and the ends of its fields in it
// (field i is text[ends[i-1]+1:ends[i]], the first from 0): what Written
// reads, for a caller that goes through every field.
func (t *FlowTuple) Fields() (text []byte, ends []int) {
	return t.text, t.ends[:t.fields]
}

// Written returns the tuple's comma-separated field i as written, in
// order from 0 (time, source IP, destination IP, source port, destination
// port, protocol, direction, decision or state, ..., the four counts): a
// sub-slice of the record, valid as long as it is, never to be written;
// nil past the tuple's last field. Callers that want the text of a value
// (a port) take it from here instead of formatting the number again.
func (t *FlowTuple) Written(i int) []byte {
	if i < 0 || i >= t.fields {
		return nil
	}
	start := 0
	if i > 0 {
		start = t.ends[i-1] + 1
	}
	return t.text[start:t.ends[i]]
}

// Errors of FlowTuples, wrapped with detail.
var (
	ErrNotFlowRecord = errors.New("not a flow-log record")
	ErrFlowTuple     = errors.New("malformed flow tuple")
)

// flowKind tells the two tuple layouts apart: field 8 is a decision in NSG
// tuples and a state in VNet tuples, so the container decides, not the count.
type flowKind int

const (
	flowNSG flowKind = iota
	flowVNet
)

// FlowTuples calls fn for each tuple of the flow-log record in ev.Raw, in
// the order written, until fn returns false. An NSG record keeps its tuples
// under properties.flows[].flows[].flowTuples, a VNet record under
// flowRecords.flows[].flowGroups[].flowTuples; anything else returns
// ErrNotFlowRecord. The walk stops at the first malformed tuple and returns
// ErrFlowTuple naming it; the tuples before it were passed to fn.
func FlowTuples(ev *Event, fn func(t FlowTuple) bool) error {
	var t FlowTuple
	return EachFlowTuple(ev, &t, func(t *FlowTuple) bool { return fn(*t) })
}

// EachFlowTuple is FlowTuples reading each tuple into t, which it hands to
// fn: valid until fn returns, never to be written by fn. A tuple is some
// 450 bytes: copied for each of thousands of tuples, it cost more than
// reading it; and the caller's t (a pooled one) spares the walk an
// allocation of its own.
func EachFlowTuple(ev *Event, t *FlowTuple, fn func(t *FlowTuple) bool) error {
	return EachFlowTuplePlain(ev, t, nil, nil, fn)
}

// EachFlowTuplePlain is EachFlowTuple for a caller that takes a plain
// tuple (ReadPlainTuple) as its numbers and its text (the JSON string's
// content, in ev.Raw or in a copy of it): plain is handed each tuple that
// reads so, read into p (the caller's, as t is), with t holding its group's Rule, ACLID and MAC only (the rest
// is an earlier tuple's), and reports whether it took it. A tuple it
// does not take, or that is not plain, is read into t and handed to fn
// as EachFlowTuple does. nil plain: none is taken.
func EachFlowTuplePlain(ev *Event, t *FlowTuple, p *PlainTuple, plain func(p *PlainTuple, text []byte, t *FlowTuple) bool, fn func(t *FlowTuple) bool) error {
	*t = FlowTuple{}
	flows, vnet, mac, err := FlowsValue(ev)
	if err != nil {
		return err
	}
	w := flowWalker{fn: fn, plain: plain, p: p, t: t, mac: mac}
	if vnet {
		w.walkVNet(flows)
	} else {
		w.walkNSG(flows)
	}
	return w.err
}

// FlowsValue is where the walk of ev's tuples (EachFlowTuplePlain)
// starts: the value of the record's flows array (flowRecords.flows in
// VNet's layout, else properties.flows) from its first byte on, up to
// the end of ev.Raw or of the copy of the JSON string that held it, and
// the record's macAddress as the walk reads it (the VNet tuples', NSG's
// when a group has none). The error is the walk's when there is none.
func FlowsValue(ev *Event) (flows []byte, vnet bool, mac string, err error) {
	flows, vnet, macRaw, err := flowsValue(ev)
	return flows, vnet, plainString(macRaw), err
}

// FlowsArray is FlowsValue without the MAC (not read).
func FlowsArray(ev *Event) (flows []byte, vnet bool, err error) {
	flows, vnet, _, err = flowsValue(ev)
	return flows, vnet, err
}

// flowsValue is FlowsValue with the macAddress member's raw value.
func flowsValue(ev *Event) (flows []byte, vnet bool, macRaw []byte, err error) {
	if i := SkipSpace(ev.Raw, 0); i >= len(ev.Raw) || ev.Raw[i] != '{' {
		return nil, false, nil, ErrNotFlowRecord // a text line, or not a record at all
	}
	var props, records []byte
	if !topMembers(ev, &props, &records, &macRaw) {
		err := ObjectEach(ev.Raw, func(key, val []byte) bool {
			if to := topSlot(key, &props, &records, &macRaw); to != nil {
				*to = val
			}
			return true
		})
		if err != nil {
			return nil, false, nil, err
		}
	}
	switch {
	case records != nil:
		if flows, ok := memberFrom(embeddedObject(records), "flows"); ok {
			return flows, true, macRaw, nil
		}
		return nil, true, macRaw, fmt.Errorf("%w: no flowRecords.flows", ErrNotFlowRecord)
	case props != nil:
		// The decoder went into properties (NSG's): its members are in
		// the layout, without a walk over the ones before flows.
		if flows, ok := layoutMember(ev, props, "flows"); ok {
			return flows, false, macRaw, nil
		}
		if flows, ok := memberFrom(embeddedObject(props), "flows"); ok {
			return flows, false, macRaw, nil
		}
		return nil, false, macRaw, fmt.Errorf("%w: no properties.flows", ErrNotFlowRecord)
	}
	return nil, false, macRaw, ErrNotFlowRecord
}

// layoutMember is memberFrom(obj, name) read from ev's layout, when obj
// is an object of ev.Raw whose members the layout holds: the value of
// its first member named name (ASCII case-insensitively), up to obj's
// end. ok is false when the layout does not say (memberFrom then reads
// obj).
func layoutMember(ev *Event, obj []byte, name string) ([]byte, bool) {
	l, raw := ev.Layout, ev.Raw
	if l == nil || len(obj) == 0 || obj[0] != '{' || len(raw) == 0 || len(l.First) != len(l.Objects) {
		return nil, false
	}
	base, at := uintptr(unsafe.Pointer(unsafe.SliceData(raw))), uintptr(unsafe.Pointer(unsafe.SliceData(obj)))
	if at < base || at-base >= uintptr(len(raw)) || int(at-base)+len(obj) > len(raw) {
		return nil, false // a copy (properties written as a JSON string)
	}
	off := int(at - base)
	end := off + len(obj)
	for k, o := range l.Objects {
		if int(o) != off {
			continue
		}
		// Its members, chained in document order (each Next after it).
		for i := int(l.First[k]); i >= 0 && i < len(l.Members); {
			m := &l.Members[i]
			if int(m.Object) != k || m.KeyStart < 1 || m.KeyEnd < m.KeyStart || int(m.KeyEnd) >= end || int(m.ValStart) <= off || int(m.ValStart) >= end {
				return nil, false
			}
			if keyIs(raw[m.KeyStart-1:m.KeyEnd+1], name) {
				return raw[m.ValStart:end], true
			}
			if int(m.Next) <= i {
				break
			}
			i = int(m.Next)
		}
		return nil, false
	}
	return nil, false
}

// topMembers finds the record's members from the layout its decoder kept
// (the last of each name, as ObjectEach's walk would), without walking the
// record's bytes once more to find where its tuples end. It reports false
// when there is no layout of the record's own object.
func topMembers(ev *Event, props, records, mac *[]byte) bool {
	l, raw := ev.Layout, ev.Raw
	if l == nil || len(l.Objects) == 0 || int(l.Objects[0]) != SkipSpace(raw, 0) {
		return false
	}
	for i := range l.Members {
		m := &l.Members[i]
		if m.Object != 0 {
			continue
		}
		if m.KeyStart < 1 || m.KeyEnd < m.KeyStart || m.ValEnd < m.ValStart || int(m.ValEnd) > len(raw) || int(m.KeyEnd) >= len(raw) {
			return false
		}
		if n := int(m.KeyEnd - m.KeyStart); n != len("properties") && n != len("flowRecords") && n != len("macAddress") {
			continue // none of the names (most of a record's members)
		}
		key := raw[m.KeyStart-1 : m.KeyEnd+1]
		var to *[]byte
		switch string(key[1 : len(key)-1]) { // the names as the logs write them
		case "properties":
			to = props
		case "flowRecords":
			to = records
		case "macAddress":
			to = mac
		default: // any other case of them
			to = topSlot(key, props, records, mac)
		}
		if to != nil {
			*to = raw[m.ValStart:m.ValEnd]
		}
	}
	return true
}

// topSlot is where a flow record's top-level member named key (quoted, any
// case of the names) goes: props, records or mac, else nil.
func topSlot(key []byte, props, records, mac *[]byte) *[]byte {
	switch {
	case keyIs(key, "properties"):
		return props
	case keyIs(key, "flowRecords"):
		return records
	case keyIs(key, "macAddress"):
		return mac
	}
	return nil
}

// flowWalker carries the state of one walk through nested callbacks.
type flowWalker struct {
	fn    func(*FlowTuple) bool
	plain func(*PlainTuple, []byte, *FlowTuple) bool // EachFlowTuplePlain's, or nil
	p     *PlainTuple                                // where plain tuples are read
	t     *FlowTuple                                 // the group's Rule, ACLID and MAC; the rest per tuple
	mac   string                                     // the record's macAddress: VNet tuples' MAC, NSG's when a group has none
	index int                                        // tuples seen, for error messages
	stop  bool
	err   error
}

// The walk goes through the record once: each array is walked element by
// element, each element's members as they come, and the tuples parsed
// where they stand. Walking an element and then skipping it to find the
// next one took as many passes over the tuples as they have levels above
// them.

func (w *flowWalker) walkNSG(flows []byte) {
	w.eachObject(flows, "properties.flows", func(ruleObj []byte) int {
		rule, _ := memberOf(ruleObj, "rule")
		w.t.Rule = plainString(rule)
		return w.container(ruleObj, "flows", func(inner []byte) int {
			return w.eachObject(inner, "properties.flows[].flows", func(macObj []byte) int {
				mac, _ := memberOf(macObj, "mac")
				w.t.MAC = plainString(mac)
				if w.t.MAC == "" {
					w.t.MAC = w.mac
				}
				return w.container(macObj, "flowTuples", func(tuples []byte) int {
					return w.eachTuple(tuples, flowNSG)
				})
			})
		})
	})
}

func (w *flowWalker) walkVNet(flows []byte) {
	w.t.MAC = w.mac
	w.eachObject(flows, "flowRecords.flows", func(aclObj []byte) int {
		acl, _ := memberOf(aclObj, "aclID")
		w.t.ACLID = plainString(acl)
		return w.container(aclObj, "flowGroups", func(groups []byte) int {
			return w.eachObject(groups, "flowRecords.flows[].flowGroups", func(group []byte) int {
				rule, _ := memberOf(group, "rule")
				w.t.Rule = plainString(rule)
				return w.container(group, "flowTuples", func(tuples []byte) int {
					return w.eachTuple(tuples, flowVNet)
				})
			})
		})
	})
}

// The walking functions below take a value from its first byte on, with
// whatever follows it (the walk finds its end), and return its length, or
// -1 when the walk stops: fn asked it to, an error was set in w.err, or the
// JSON is malformed (w.failed sets the error then).

// failed records a syntax error met at the walk's level, unless the walk
// stopped for another reason, and returns -1.
func (w *flowWalker) failed() int {
	if !w.stop && w.err == nil {
		w.err = fmt.Errorf("%w: flow record", ErrSyntax)
	}
	return -1
}

// skipLen is the length of the value v starts with, or -1.
func (w *flowWalker) skipLen(v []byte) int {
	end, err := skipValue(v, 0, 1)
	if err != nil {
		return w.failed()
	}
	return end
}

// container walks the object obj, handing the first member named name
// (ASCII case-insensitively, as memberFrom) to fn and skipping the others.
func (w *flowWalker) container(obj []byte, name string, fn func(val []byte) int) int {
	if len(obj) == 0 || obj[0] != '{' {
		return w.skipLen(obj)
	}
	done := false
	i := SkipSpace(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return i + 1
	}
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return w.failed()
		}
		ks := i
		var err error
		if i, err = skipString(obj, i); err != nil {
			return w.failed()
		}
		key := obj[ks:i]
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return w.failed()
		}
		vs := SkipSpace(obj, i+1)
		if vs >= len(obj) {
			return w.failed()
		}
		var n int
		if !done && keyIs(key, name) {
			done = true
			n = fn(obj[vs:])
		} else {
			n = w.skipLen(obj[vs:])
		}
		if n < 0 {
			return -1
		}
		i = SkipSpace(obj, vs+n)
		if i >= len(obj) {
			return w.failed()
		}
		switch obj[i] {
		case '}':
			return i + 1
		case ',':
			i++
		default:
			return w.failed()
		}
	}
}

// elements walks the array arr, handing each element to fn.
func (w *flowWalker) elements(arr []byte, fn func(el []byte) int) int {
	i := SkipSpace(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		return i + 1
	}
	for {
		i = SkipSpace(arr, i)
		if i >= len(arr) {
			return w.failed()
		}
		n := fn(arr[i:])
		if n < 0 {
			return -1
		}
		i = SkipSpace(arr, i+n)
		if i >= len(arr) {
			return w.failed()
		}
		switch arr[i] {
		case ']':
			return i + 1
		case ',':
			i++
		default:
			return w.failed()
		}
	}
}

// eachObject calls fn for each element of arr (null: none). An element
// that is not an object, or arr not an array, ends the walk with an error.
func (w *flowWalker) eachObject(arr []byte, path string, fn func(obj []byte) int) int {
	if w.stop || w.err != nil || len(arr) == 0 {
		return -1
	}
	if arr[0] == 'n' {
		return w.skipLen(arr)
	}
	if arr[0] != '[' {
		w.err = fmt.Errorf("%w: %s is not an array", ErrNotFlowRecord, path)
		return -1
	}
	return w.elements(arr, func(el []byte) int {
		if el[0] != '{' {
			if w.err == nil {
				w.err = fmt.Errorf("%w: %s holds a non-object", ErrNotFlowRecord, path)
			}
			return -1
		}
		n := fn(el)
		if n < 0 || w.stop || w.err != nil {
			return -1
		}
		return n
	})
}

func (w *flowWalker) eachTuple(arr []byte, kind flowKind) int {
	if w.stop || w.err != nil || len(arr) == 0 {
		return -1
	}
	if arr[0] == 'n' {
		return w.skipLen(arr)
	}
	if arr[0] != '[' {
		w.err = fmt.Errorf("%w: flowTuples is not an array", ErrNotFlowRecord)
		return -1
	}
	return w.elements(arr, func(el []byte) int {
		if el[0] != '"' {
			if el[0] == '{' || el[0] == '[' || el[0] == 't' || el[0] == 'f' || el[0] == 'n' || el[0] == '-' || ('0' <= el[0] && el[0] <= '9') {
				w.err = fmt.Errorf("%w %d: not a string", ErrFlowTuple, w.index)
				return -1
			}
			return w.failed()
		}
		// A plain tuple its caller takes as it is written (ReadPlainTuple).
		if w.plain != nil {
			if end, ok := ReadPlainTuple(el, kind == flowVNet, w.p); ok && w.plain(w.p, el[1:end-1], w.t) {
				w.index++
				return end
			}
		}
		// The usual tuple read and parsed in one pass (parseTuple); any
		// other goes the long way, which says what is wrong with it: the
		// string's end and its commas first (splitTuple), then its fields;
		// a tuple with an escape, a raw newline or too many fields by
		// scanString and parseFlowTuple.
		if end, ok := parseTuple(el, kind, w.t); ok {
			return w.emitted(end)
		}
		if end, n, ok := splitTuple(el, &w.t.ends); ok {
			if err := parseFields(el[1:end-1], n, kind, w.t); err != nil {
				w.err = fmt.Errorf("%w %d: %s", ErrFlowTuple, w.index, err)
				return -1
			}
			return w.emitted(end)
		}
		end, escaped, err := scanString(el, 0)
		if err != nil {
			return w.failed()
		}
		s := el[1 : end-1]
		if escaped {
			u, ok := Unquote(el[:end])
			if !ok {
				w.err = fmt.Errorf("%w %d: not a string", ErrFlowTuple, w.index)
				return -1
			}
			s = []byte(u)
		}
		if err := parseFlowTuple(s, kind, w.t); err != nil {
			// The reason only: a dead-letter reason never carries the body.
			w.err = fmt.Errorf("%w %d: %s", ErrFlowTuple, w.index, err)
			return -1
		}
		return w.emitted(end)
	})
}

// emitted counts the tuple just parsed and hands it on: the offset past
// it, or -1 when the callback stops the walk.
func (w *flowWalker) emitted(end int) int {
	w.index++
	if !w.fn(w.t) {
		w.stop = true
		return -1
	}
	return end
}

// flowFieldCount is the widest tuple: NSG v2 and VNet.
const flowFieldCount = 13

// splitTuple reads the JSON string el starts with (el[0] is its quote) in
// one pass: its end, and the ends of its comma-separated fields within its
// content (el[1:end-1]), n of them. ok is false, and the caller takes the
// long way (scanString, Unquote, parseFlowTuple), when the string holds an
// escape or a raw newline, is not terminated, or has more than
// flowFieldCount fields.
func splitTuple(el []byte, ends *[flowFieldCount]int) (end, n int, ok bool) {
	j := 1
	for j+8 <= len(el) {
		x := binary.LittleEndian.Uint64(el[j:])
		stop := skipStops(x)
		// The commas, exactly: the top bit of each zero byte of c, with no
		// borrow from one byte into the next.
		c := x ^ (',' * lowBits)
		const low7 = ^uint64(highBits)
		commas := ^((c&low7 + low7) | c | low7)
		if stop != 0 {
			commas &= (stop & -stop) - 1 // the commas before the string's end
		}
		for commas != 0 {
			if n >= flowFieldCount-1 {
				return 0, 0, false
			}
			ends[n] = j + bits.TrailingZeros64(commas)/8 - 1
			n++
			commas &= commas - 1
		}
		if stop != 0 {
			j += bits.TrailingZeros64(stop) / 8
			goto found
		}
		j += 8
	}
	for ; j < len(el); j++ {
		c := el[j]
		if c == '"' || c == '\\' || c == '\n' {
			break
		}
		if c == ',' {
			if n == flowFieldCount-1 {
				return 0, 0, false
			}
			ends[n] = j - 1
			n++
		}
	}
found:
	if j >= len(el) || el[j] != '"' {
		return 0, 0, false
	}
	ends[n] = j - 1
	return j + 1, n + 1, true
}

// parseFlowTuple splits s in place into t (keeping t's Rule, ACLID, MAC).
func parseFlowTuple(s []byte, kind flowKind, t *FlowTuple) error {
	// The fields' ends first (one pass over the bytes), then t's fields
	// from them.
	ends := &t.ends
	n := 0
	for i, c := range s {
		if c != ',' {
			continue
		}
		if n == flowFieldCount-1 {
			return errors.New("more than 13 fields")
		}
		ends[n] = i
		n++
	}
	ends[n] = len(s)
	return parseFields(s, n+1, kind, t)
}

// parseFields is parseFlowTuple once s is split: its n fields end at
// t.ends.
func parseFields(s []byte, n int, kind flowKind, t *FlowTuple) error {
	t.text, t.fields, t.plain = s, n, false
	ends := &t.ends
	// field i, taken where it is read, in order (n of them, each ending
	// at ends[i] <= len(s), the next starting past its comma): a slice of
	// each made first cost more than the reading.
	start := 0
	f := func(i int) []byte {
		b := s[start:ends[i]]
		start = ends[i] + 1
		return b
	}
	switch {
	case kind == flowNSG && n != 8 && n != 13:
		return fmt.Errorf("%d fields, want 8 (version 1) or 13 (version 2)", n)
	case kind == flowVNet && n != 13:
		return fmt.Errorf("%d fields, want 13", n)
	}

	stamp, ok := parseUint(f(0))
	if !ok {
		return errors.New("bad time")
	}
	// t is the walker's, from tuple to tuple (often a pooled one, in the
	// heap): a value with a pointer (a time's location, an address's
	// zone, a string) is written only when it changes, since each write
	// of a pointer costs a barrier while the collector marks.
	if tm := flowTime(stamp); tm != t.Time {
		t.Time = tm
	}
	src, err := parseAddr(f(1))
	if err != nil {
		return errors.New("bad source IP")
	}
	dst, err := parseAddr(f(2))
	if err != nil {
		return errors.New("bad destination IP")
	}
	if src != t.SrcIP {
		t.SrcIP = src
	}
	if dst != t.DstIP {
		t.DstIP = dst
	}
	if t.SrcPort, ok = parsePort(f(3)); !ok {
		return errors.New("bad source port")
	}
	if t.DstPort, ok = parsePort(f(4)); !ok {
		return errors.New("bad destination port")
	}
	if proto := flowProtocol(f(5)); proto != t.Protocol {
		t.Protocol = proto
	}
	dir, decision := f(6), f(7)
	if len(dir) != 1 || (dir[0] != FlowInbound && dir[0] != FlowOutbound) {
		return errors.New("direction is not I or O")
	}
	t.Direction = dir[0]
	if len(decision) != 1 {
		return errors.New("bad decision or state")
	}

	t.State, t.HasCounts = 0, false
	if t.Encryption != "" {
		t.Encryption = ""
	}
	t.PacketsOut, t.BytesOut, t.PacketsIn, t.BytesIn = 0, 0, 0, 0
	switch kind {
	case flowNSG:
		switch decision[0] {
		case 'A':
			t.Allowed = true
		case 'D':
			t.Allowed = false
		default:
			return errors.New("decision is not A or D")
		}
		if n == 8 {
			return nil // version 1: no state, no counts
		}
		state := f(8)
		if len(state) != 1 || !isFlowState(state[0]) {
			return errors.New("bad flow state")
		}
		t.State = state[0]
	case flowVNet:
		if !isFlowState(decision[0]) {
			return errors.New("bad flow state")
		}
		t.State = decision[0]
		t.Allowed = t.State != FlowDenied
		if enc := flowEncryption(f(8)); enc != t.Encryption {
			t.Encryption = enc
		}
	}
	return parseCounts([4][]byte{f(9), f(10), f(11), f(12)}, t)
}

func isFlowState(c byte) bool {
	return c == FlowBegin || c == FlowContinuing || c == FlowEnd || c == FlowDenied
}

// parseCounts reads the four counts: all empty (none written) or all numbers.
func parseCounts(f [4][]byte, t *FlowTuple) error {
	if len(f[0]) == 0 && len(f[1]) == 0 && len(f[2]) == 0 && len(f[3]) == 0 {
		return nil
	}
	var v [4]uint64
	for i, b := range f {
		n, ok := parseUint(b)
		if !ok {
			return errors.New("bad packet or byte count")
		}
		v[i] = n
	}
	t.PacketsOut, t.BytesOut, t.PacketsIn, t.BytesIn = v[0], v[1], v[2], v[3]
	t.HasCounts = true
	return nil
}

// flowProtocol normalises NSG letters and IANA numbers.
func flowProtocol(b []byte) string {
	switch string(b) {
	case "T", "t", "6":
		return ProtocolTCP
	case "U", "u", "17":
		return ProtocolUDP
	case "1":
		return ProtocolICMP
	case "58":
		return ProtocolICMPv6
	}
	return string(b)
}

// flowEncryption returns the documented values without allocating.
func flowEncryption(b []byte) string {
	switch string(b) {
	case "X":
		return "X"
	case "NX":
		return "NX"
	case "NX_HW_NOT_SUPPORTED":
		return "NX_HW_NOT_SUPPORTED"
	case "NX_SW_NOT_READY":
		return "NX_SW_NOT_READY"
	case "NX_NOT_ACCEPTED":
		return "NX_NOT_ACCEPTED"
	case "NX_NOT_SUPPORTED":
		return "NX_NOT_SUPPORTED"
	case "NX_LOCAL_DST":
		return "NX_LOCAL_DST"
	case "NX_FALLBACK":
		return "NX_FALLBACK"
	}
	return string(b)
}

// parseUint reads a non-empty decimal number.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func parsePort(b []byte) (uint16, bool) {
	n, ok := parseUint(b)
	if !ok || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// parseAddr parses dotted IPv4 without allocating, anything else with netip.
func parseAddr(b []byte) (netip.Addr, error) {
	if ip, ok := parseIPv4(b); ok {
		return netip.AddrFrom4(ip), nil
	}
	return netip.ParseAddr(string(b))
}

// parseIPv4 reads four decimal octets without leading zeros (what netip
// accepts of dotted IPv4); ok is false for anything else.
func parseIPv4(b []byte) (ip [4]byte, ok bool) {
	i := 0
	for k := range ip {
		if k > 0 {
			if i >= len(b) || b[i] != '.' {
				return ip, false
			}
			i++
		}
		if i >= len(b) || b[i]-'0' > 9 {
			return ip, false
		}
		v := uint(b[i] - '0')
		i++
		if i < len(b) && b[i]-'0' <= 9 {
			if v == 0 {
				return ip, false // a leading zero (netip rejects those too)
			}
			v = v*10 + uint(b[i]-'0')
			i++
			if i < len(b) && b[i]-'0' <= 9 {
				v = v*10 + uint(b[i]-'0')
				i++
				if v > 255 {
					return ip, false
				}
			}
		}
		ip[k] = byte(v)
	}
	return ip, i == len(b)
}

// keyIs compares a raw quoted member name with name, ASCII case-insensitively,
// without allocating.
func keyIs(rawKey []byte, name string) bool {
	if len(rawKey) != len(name)+2 {
		return false
	}
	for i := 0; i < len(name); i++ {
		a, b := rawKey[i+1], name[i]
		if a == b {
			continue
		}
		if a|0x20 != b|0x20 || a|0x20 < 'a' || a|0x20 > 'z' {
			return false
		}
	}
	return true
}

// memberOf returns the raw value of obj's member name (ASCII case-insensitive,
// first match), without allocating.
func memberOf(obj []byte, name string) ([]byte, bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, false
	}
	var out []byte
	_ = ObjectEach(obj, func(key, val []byte) bool {
		if keyIs(key, name) {
			out = val
			return false
		}
		return true
	})
	return out, out != nil
}

// memberFrom is memberOf for a container member (an array the walk goes
// into): it returns obj from the member's value on, unbounded, without
// skipping the value to find its end first (the walk that follows finds
// it). Each level of the tuples' nesting was skipped once more per level.
func memberFrom(obj []byte, name string) ([]byte, bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, false
	}
	i := SkipSpace(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false
	}
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil, false
		}
		ks := i
		var err error
		if i, err = skipString(obj, i); err != nil {
			return nil, false
		}
		key := obj[ks:i]
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		vs := SkipSpace(obj, i+1)
		if keyIs(key, name) {
			return obj[vs:], vs < len(obj)
		}
		if i, err = skipValue(obj, vs, 1); err != nil {
			return nil, false
		}
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != ',' {
			return nil, false
		}
		i++
	}
}

// plainString returns a raw JSON string's content, or "" for anything else.
// Content that needs no decoding shares the record's bytes, as the tuples'
// other values do (FlowTuple.Written).
func plainString(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && PlainASCII(raw[1:len(raw)-1]) {
		return unsafe.String(&raw[1], len(raw)-2)
	}
	s, ok := Unquote(raw)
	if !ok {
		return ""
	}
	return s
}

// embeddedObject returns an object held in a JSON string as the object
// (properties is sometimes written as a string); anything else as is.
func embeddedObject(raw []byte) []byte {
	if len(raw) > 0 && raw[0] == '"' {
		if s, ok := Unquote(raw); ok {
			return []byte(s)
		}
	}
	return raw
}

// flowTime is a tuple's time stamp: seconds until the year 5138, anything
// larger milliseconds (VNet writes milliseconds, Microsoft's worked
// example seconds), in UTC.
func flowTime(stamp uint64) time.Time {
	if stamp >= 1e11 {
		return time.UnixMilli(int64(min(stamp, 1<<62))).UTC()
	}
	return time.Unix(int64(stamp), 0).UTC()
}
