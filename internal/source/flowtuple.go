package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// # Flow tuples as events
//
// A flow-log record (one NSG or flow log, one NIC, one minute) holds many
// tuples, and the flow detections (exfiltration volume, management ports
// open to the internet, scans) are about tuples: who talked to whom, on
// which port, allowed or denied, how many bytes. Rather than a flow-aware
// rule kind, the pipeline turns each tuple into one small event of source
// FlowTupleSource, and the ordinary kinds evaluate them: a threshold's
// value_count of destination ports is a vertical scan, a value_sum of bytes
// is exfiltration volume, a match on port 3389 allowed from the internet is
// exposed management. One source for NSG and VNet tuples, so one rule covers
// both logs (flow.log_type tells them apart).
//
// The record's bytes are walked once: the parse reads every tuple (a
// record with a broken tuple is malformed as a whole) and keeps what it
// read, without a pointer, and ExpandFlow makes one event per tuple from
// that and hands it to the caller, who evaluates the events in chunks (the
// pipeline hands batches on as they fill: a record of thousands of tuples
// is never held as thousands of events). A record of more tuples than the
// parse keeps is walked again. Tuple events are allocated a slab at a
// time; rules read their values from the parsed tuple (event.FieldReader),
// and a tuple event's raw record, a small JSON document of its own (not
// the record), is written only when something asks for it (Event.Record:
// a rule reading it by path or by keyword, a sequence's snapshot).
//
// Every tuple event answers these names (Event.Fields):
//
//	flow.log_type      nsg or vnet
//	flow.src_ip, flow.dst_ip, flow.src_port, flow.dst_port
//	flow.protocol      tcp, udp, icmp, icmpv6, else as written
//	flow.direction     inbound or outbound (relative to the NIC)
//	flow.allowed       true or false (NSG decision, VNet state D)
//	flow.state         B, C, E or D (absent in NSG version 1)
//	flow.bytes_out, flow.bytes_in, flow.packets_out, flow.packets_in   source->destination and back (deltas; absent when not written)
//	flow.src_class, flow.dst_class   private, azure or internet (AZDETECT_PRIVATE_RANGES, AZDETECT_AZURE_SERVICE_RANGES)
//	flow.local_ip, flow.local_port, flow.local_class   the NIC's side (destination of inbound tuples, source of outbound ones)
//	flow.remote_ip, flow.remote_port, flow.remote_class   the other side
//	flow.bytes_sent, flow.bytes_received   local->remote and remote->local bytes (absent when not written)
//	flow.rule, flow.acl_id, flow.mac
//
// The event's Actor.IP is the source address, Target "dst_ip:dst_port",
// Resource the record's, Time the tuple's own time, Result success when
// allowed and failure when denied.

// FlowTupleSource is the Source of the events ExpandFlow makes.
const FlowTupleSource = "flowlogs"

// Address classes of flow.src_class, flow.dst_class and flow.remote_class.
const (
	ClassPrivate  = "private"
	ClassAzure    = "azure"
	ClassInternet = "internet"
)

// DefaultPrivateRanges are AZDETECT_PRIVATE_RANGES's default: RFC 1918,
// shared address space (carrier NAT, RFC 6598), loopback, link-local,
// IPv6 unique-local, link-local and loopback.
var DefaultPrivateRanges = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"fc00::/7", "fe80::/10", "::1/128",
}

// DefaultAzureServiceRanges are AZDETECT_AZURE_SERVICE_RANGES's default:
// the virtual public IP of the Azure platform (DHCP, DNS, health probes,
// VM agent) and the instance metadata service.
var DefaultAzureServiceRanges = []string{"168.63.129.16/32", "169.254.169.254/32"}

// Networks classifies addresses for the flow tuple events. The prefixes
// are parsed once, at start; the IPv4 ones are also kept as masked
// numbers, for the addresses of most tuples.
type Networks struct {
	private, azure   []netip.Prefix
	private4, azure4 []prefix4
	// byOctet is the class+1 of every IPv4 address of a first octet
	// when no prefix holds some of them only, else 0 (class4 goes
	// through the prefixes).
	byOctet [256]uint8
}

// prefix4 is an IPv4 prefix as numbers: a is in it when a&mask == addr.
type prefix4 struct{ addr, mask uint32 }

func prefixes4(list []netip.Prefix) []prefix4 {
	var out []prefix4
	for _, p := range list {
		if p.Addr().Is4() {
			a := p.Addr().As4()
			mask := uint32(0)
			if p.Bits() > 0 {
				mask = ^uint32(0) << (32 - p.Bits())
			}
			out = append(out, prefix4{binary.BigEndian.Uint32(a[:]) & mask, mask})
		}
	}
	return out
}

// ParseNetworks parses the private and Azure service ranges (CIDR, or a
// bare address as a /32 or /128). The Azure ranges win where both hold an
// address (169.254.169.254 is link-local and the metadata service).
func ParseNetworks(private, azure []string) (Networks, error) {
	var n Networks
	var errs []error
	parse := func(list []string, what string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range list {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					errs = append(errs, fmt.Errorf("%s %q: not a CIDR prefix or an address", what, s))
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, p.Masked())
		}
		return out
	}
	n.private = parse(private, "private range")
	n.azure = parse(azure, "Azure service range")
	n.private4, n.azure4 = prefixes4(n.private), prefixes4(n.azure)
	n.byOctet = n.octets()
	return n, errors.Join(errs...)
}

// defaultNetworks is DefaultNetworks, parsed once.
var defaultNetworks = sync.OnceValue(func() *Networks {
	n := DefaultNetworks()
	return &n
})

// DefaultNetworks are the networks of the default ranges.
func DefaultNetworks() Networks {
	n, err := ParseNetworks(DefaultPrivateRanges, DefaultAzureServiceRanges)
	if err != nil {
		panic(err) // the defaults are constants
	}
	return n
}

// Class returns ClassAzure, ClassPrivate or ClassInternet. An IPv4-mapped
// IPv6 address is classified as the IPv4 address it holds.
func (n *Networks) Class(a netip.Addr) string { return classNames[n.class(a)] }

// classNames are the classes by class's index (event.FlowClassNames,
// whose numbers a FlowSieve is asked with).
var classNames = event.FlowClassNames

const (
	classInternet = event.FlowClassInternet
	classPrivate  = event.FlowClassPrivate
	classAzure    = event.FlowClassAzure
)

// class is Class's index in classNames.
func (n *Networks) class(a netip.Addr) uint8 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return n.class4(binary.BigEndian.Uint32(b[:]))
	}
	for _, p := range n.azure {
		if p.Contains(a) {
			return classAzure
		}
	}
	for _, p := range n.private {
		if p.Contains(a) {
			return classPrivate
		}
	}
	return classInternet
}

// class4 is class of the IPv4 address v: by its first octet for most
// addresses (byOctet), else as the prefixes say (prefixClass4).
func (n *Networks) class4(v uint32) uint8 {
	if c := n.byOctet[v>>24]; c != 0 {
		return c - 1
	}
	return n.prefixClass4(v)
}

// octets is byOctet of n's prefixes.
func (n *Networks) octets() (by [256]uint8) {
	for o := range uint32(256) {
		whole := true // every prefix holds all of the octet's addresses or none
		for _, p := range slices.Concat(n.azure4, n.private4) {
			if p.mask&0x00ffffff != 0 && p.addr>>24 == o {
				whole = false
			}
		}
		if whole {
			by[o] = n.prefixClass4(o<<24) + 1
		}
	}
	return by
}

// prefixClass4 is class4 read from the prefixes.
func (n *Networks) prefixClass4(v uint32) uint8 {
	for _, p := range n.azure4 {
		if v&p.mask == p.addr {
			return classAzure
		}
	}
	for _, p := range n.private4 {
		if v&p.mask == p.addr {
			return classPrivate
		}
	}
	return classInternet
}

// classKept is class of a kept tuple's address (keptAddr).
func (n *Networks) classKept(a *[16]byte, is4 bool) uint8 {
	if is4 {
		return n.class4(binary.BigEndian.Uint32(a[12:]))
	}
	return n.class(netip.AddrFrom16(*a))
}

// SetNetworks sets the ranges the flow tuple events are classified with
// (the registry starts with DefaultNetworks).
func (r *Registry) SetNetworks(n Networks) { r.nets = &n }

// IsFlow reports whether ev is a flow-log record whose tuples ExpandFlow
// turns into events.
func IsFlow(ev *event.Event) bool {
	return ev.Source == nsgFlowSource.Name || ev.Source == vnetFlowSource.Name
}

// ExpandFlow calls fn with one event per tuple of the flow-log record ev,
// in the order written, until fn returns an error, which it returns. The
// events share nothing with each other and may be kept (their values are
// taken from ev.Raw, which is never written). The tuples come from the
// parse's walk when it kept them (a record of up to maxKeptTuples), else
// from a walk of ev.Raw.
func (r *Registry) ExpandFlow(ev *event.Event, fn func(*event.Event) error) error {
	return r.ExpandFlowPicked(ev, nil, func(t *event.Event, _ int) (bool, error) { return true, fn(t) })
}

// TupleRoom is where ExpandFlowPicked makes tuple events, from record to
// record: a slab of them at a time, so that the tuples a caller drops
// cost no memory of their own. One caller's (a goroutine's); the zero
// value is ready.
type TupleRoom struct {
	slab  []tupleEvent // allocated and not yet handed out
	sieve *event.FlowSieve
}

// Sift makes ExpandFlowPicked hand on only the tuples s lets through
// (nil: all of them): a tuple it stops is never made into an event, and
// fn is not called for it (its number is skipped).
func (r *TupleRoom) Sift(s *event.FlowSieve) {
	if s.All() {
		s = nil
	}
	r.sieve = s
}

// ExpandFlowPicked is ExpandFlow for a caller that keeps some tuples
// only: fn gets each tuple's event and its number in the record (from 1)
// and reports whether it keeps the event. An event not kept is made
// again into the next tuple's (fn must hold nothing of it); kept ones
// are as ExpandFlow's. room, when not nil, is where the events are made
// (a record's tuples otherwise get a slab of their own).
func (r *Registry) ExpandFlowPicked(ev *event.Event, room *TupleRoom, fn func(t *event.Event, sub int) (bool, error)) error {
	nets := r.nets
	if nets == nil {
		nets = defaultNetworks()
	}
	// x stays on the stack: the walk, whose closure holds it, takes a
	// copy of its own (with the room, when the caller has none).
	x := tupleExpansion{rec: ev, nets: nets, room: room}
	var sieve *event.FlowSieve
	if room == nil {
		x.left, _ = strconv.Atoi(ev.Extra.Value("flow.tuples"))
	} else {
		sieve = room.sieve
	}
	vnet := ev.Source == vnetFlowSource.Name
	kept, ok := ev.Fields.(*keptTuples)
	if !ok {
		w := &struct {
			x   tupleExpansion
			own TupleRoom
		}{x: x}
		if room == nil {
			w.x.room = &w.own
		}
		return walkFlow(&w.x, vnet, sieve, fn)
	}
	if room == nil {
		x.room = new(TupleRoom)
	}
	list, groups, raw := kept.list, kept.groups, ev.Raw // held in registers, not read again after each call
	for i := range list {
		kt := &list[i]
		var sc, dc uint8
		if kt.src4 && kt.dst4 { // class4 inlined, without classKept's call
			sc, dc = nets.class4(binary.BigEndian.Uint32(kt.src[12:])), nets.class4(binary.BigEndian.Uint32(kt.dst[12:]))
		} else {
			sc, dc = nets.classKept(&kt.src, kt.src4), nets.classKept(&kt.dst, kt.dst4)
		}
		if c, known := event.Combination(vnet, kt.outbound, kt.allowed, sc, dc); sieve != nil && known {
			if !sieve.MayCombination(c) {
				continue // no rule can select it: no event
			}
			if sieve.Bounded(c) {
				// The port found only when read: two fifths of the
				// tuples asked in NSG's corpus (inbound, allowed).
				var port string
				if sieve.ByPort(c) {
					port = kt.dstPort(raw)
				}
				if !sieve.Lets(c, kt.sent(raw), true, port) {
					continue // too few bytes sent, or another port, for any rule that may select it
				}
			}
		}
		keep, err := fn(x.keptEvent(kt, &groups[kt.group], raw, vnet, sc, dc), i+1)
		if err != nil {
			return err
		}
		if keep {
			x.commit()
		}
	}
	return nil
}

// walkFlow is ExpandFlow for a record whose tuples the parse did not keep.
func walkFlow(x *tupleExpansion, vnet bool, sieve *event.FlowSieve, fn func(*event.Event, int) (bool, error)) error {
	var ferr error
	var p parsedTuple
	var ft event.FlowTuple
	err := event.EachFlowTuple(x.rec, &ft, func(t *event.FlowTuple) bool {
		x.sub++
		sc, dc := x.nets.class(t.SrcIP), x.nets.class(t.DstIP)
		if sieve != nil && !sieve.May(vnet, t.Direction != event.FlowInbound, t.Allowed, sc, dc) {
			return true // no rule can select it: no event
		}
		p.set(t, vnet)
		if c, known := event.Combination(vnet, p.outbound, t.Allowed, sc, dc); known && sieve.Bounded(c) && !sieve.Lets(c, pick(p.outbound, p.bytesOut, p.bytesIn), false, p.dstPort) {
			return true // too few bytes sent, or another port, for any rule that may select it
		}
		var keep bool
		keep, ferr = fn(x.event(&p, sc, dc), x.sub)
		if keep {
			x.commit()
		}
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// parsedTuple is one tuple as read from its record: what its event is
// made of, but for what depends on the registry (the address classes).
type parsedTuple struct {
	tupleValues
	time time.Time
}

// tupleValues are what a tuple's event keeps of it: the texts (sharing the
// record's bytes where the record wrote them as they read) and the flags.
type tupleValues struct {
	srcIP, dstIP, srcPort, dstPort, protocol string
	packetsOut, bytesOut, packetsIn, bytesIn string // "" when not written
	rule, aclID, mac                         string
	vnet, outbound, allowed                  bool
	state                                    byte  // 0 in NSG version 1
	srcClass, dstClass                       uint8 // in classNames
}

// setFrom sets v, zero, to p's values, field by field (see
// tupleExpansion.event).
func (v *tupleValues) setFrom(p *tupleValues) {
	v.srcIP, v.dstIP, v.srcPort, v.dstPort, v.protocol = p.srcIP, p.dstIP, p.srcPort, p.dstPort, p.protocol
	if p.packetsOut != "" || p.bytesOut != "" || p.packetsIn != "" || p.bytesIn != "" {
		v.packetsOut, v.bytesOut, v.packetsIn, v.bytesIn = p.packetsOut, p.bytesOut, p.packetsIn, p.bytesIn
	}
	v.rule, v.aclID, v.mac = p.rule, p.aclID, p.mac
	v.vnet, v.outbound, v.allowed, v.state = p.vnet, p.outbound, p.allowed, p.state
	v.srcClass, v.dstClass = p.srcClass, p.dstClass
}

func (p *parsedTuple) set(t *event.FlowTuple, vnet bool) {
	*p = parsedTuple{time: t.Time, tupleValues: tupleValues{
		srcIP: writtenAddr(t.SrcIP, t.Written(1)), dstIP: writtenAddr(t.DstIP, t.Written(2)),
		srcPort: writtenUint(uint64(t.SrcPort), t.Written(3)), dstPort: writtenUint(uint64(t.DstPort), t.Written(4)),
		protocol: t.Protocol,
		rule:     t.Rule, aclID: t.ACLID, mac: t.MAC,
		vnet: vnet, outbound: t.Direction != event.FlowInbound, allowed: t.Allowed, state: t.State,
	}}
	if t.HasCounts {
		p.packetsOut = writtenUint(t.PacketsOut, t.Written(9))
		p.bytesOut = writtenUint(t.BytesOut, t.Written(10))
		p.packetsIn = writtenUint(t.PacketsIn, t.Written(11))
		p.bytesIn = writtenUint(t.BytesIn, t.Written(12))
	}
}

// maxKeptTuples is how many tuples of one record the parse keeps for
// ExpandFlow (some 70 bytes each); a record of more is walked again.
const maxKeptTuples = 1 << 14

// keptTuples are the tuples the parse read, held by the record's event
// (its Fields, which answers no name) until ExpandFlow makes their events.
// A kept tuple holds no pointer (where its text is in the record, and the
// values parsed from it): the garbage collector neither scans the list
// nor pays a write barrier for filling it.
type keptTuples struct {
	list   []keptTuple
	groups []flowGroup
	few    [4]flowGroup // groups, when a record has no more
}

// Field implements event.FieldReader: a flow record's names are in Extra.
func (*keptTuples) Field(string) (string, bool) { return "", false }

// flowGroup is what the tuples of one group share.
type flowGroup struct{ rule, aclID, mac string }

// keptTuple is a tuple the parse read: its text is ev.Raw[start:], its
// fields' lengths lens.
type keptTuple struct {
	ms         int64 // the tuple's time, Unix milliseconds
	src, dst   [16]byte
	start      uint32
	group      uint32
	size       uint16 // the text's length
	lens       [13]uint8
	proto      uint8 // index in keptProtocols; 0: as written
	state      byte
	src4, dst4 bool
	outbound   bool
	allowed    bool
	counts     bool
}

// keptProtocols are the protocols' words by a kept tuple's proto (the
// order of event.PlainProtocols), each in a slot of 16 bytes of one
// constant: 16 bytes can be read from the start of any (tupleEvent.ids).
var keptProtocols = [...]string{"", protocolSlots[0:3], protocolSlots[16:19], protocolSlots[32:36], protocolSlots[48:54]}

const protocolSlots = "tcp             udp             icmp            icmpv6          "

// sameString reports whether a and b are the same string header: the same
// bytes in the same place.
func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// tupleKeeper is the parse's walk over a record's tuples: it counts them
// and keeps them (up to maxKeptTuples) in buffers reused from record to
// record.
type tupleKeeper struct {
	raw            []byte
	vnet           bool
	tuples, denied int
	firstMAC       string
	keeping        bool
	grouped        bool // the last of groups is the tuples' being kept (keepPlain)
	list           []keptTuple
	groups         []flowGroup
	addFn          func(*event.FlowTuple) bool                            // add
	plainFn        func(*event.PlainTuple, []byte, *event.FlowTuple) bool // addPlain
	t              event.FlowTuple                                        // where the walk reads each tuple
	p              event.PlainTuple                                       // where it reads a plain one
}

var tupleKeepers = sync.Pool{New: func() any {
	k := new(tupleKeeper)
	k.addFn, k.plainFn = k.add, k.addPlain // made once: a method value handed on escapes
	return k
}}

// walk walks the record's tuples (event.EachFlowTuplePlain): the plain
// ones kept as they are read (addPlain), any other read whole (add).
func (k *tupleKeeper) walk(ev *event.Event) error {
	return event.EachFlowTuplePlain(ev, &k.t, &k.p, k.plainFn, k.addFn)
}

func (k *tupleKeeper) reset(raw []byte, vnet bool) {
	clear(k.groups) // drop the last record's strings
	k.raw, k.vnet, k.tuples, k.denied, k.firstMAC, k.keeping = raw, vnet, 0, 0, "", true
	k.grouped = false
	k.list, k.groups = k.list[:0], k.groups[:0]
	// Not the whole keeper written afresh (t and p are some 400 bytes):
	// the walk reads each tuple into t and p from nothing, and the
	// decoder's read (flowsRead) sets t's group names as it meets them;
	// none is left from an earlier read.
	k.t.Rule, k.t.ACLID, k.t.MAC = "", "", ""
}

// release drops what the keeper holds of the record before it is pooled.
func (k *tupleKeeper) release() {
	clear(k.groups)
	k.raw, k.firstMAC, k.groups = nil, "", k.groups[:0]
	k.t = event.FlowTuple{} // it points into the record
}

func (k *tupleKeeper) add(t *event.FlowTuple) bool {
	k.tuples++
	if !t.Allowed {
		k.denied++
	}
	if k.firstMAC == "" {
		k.firstMAC = t.MAC
	}
	if k.keeping {
		k.keeping = k.tuples <= maxKeptTuples && k.keep(t)
	}
	return true
}

// addPlain is add for a plain tuple p whose text is text, of t's group
// (t's Rule, ACLID and MAC): it keeps p as keep keeps the tuple read
// from text, without the tuple (TestKeeperPlainAgrees,
// FuzzKeeperPlainAgrees). It takes nothing add would not keep: the
// walk then reads the tuple and hands it to add.
func (k *tupleKeeper) addPlain(p *event.PlainTuple, text []byte, t *event.FlowTuple) bool {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(k.raw)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(text)))
	if at < base || at >= base+uintptr(len(k.raw)) || int(at-base)+len(text) > len(k.raw) {
		return false
	}
	g := len(k.groups) - 1
	k.grouped = g >= 0 && k.groups[g].is(t)
	return k.keepPlain(p, int(at-base), len(text), t)
}

// keepPlain is addPlain for the tuple whose text is k.raw[start:][:size]
// (flowsRead's, which knows where it is): of the last group kept when
// k.grouped, else of a new one, t's.
func (k *tupleKeeper) keepPlain(p *event.PlainTuple, start, size int, t *event.FlowTuple) bool {
	if !k.keeping || k.tuples >= maxKeptTuples || size > 0xffff {
		return false
	}
	k.tuples++
	if !p.Allowed {
		k.denied++
	}
	if k.firstMAC == "" {
		k.firstMAC = t.MAC
	}
	if !k.grouped {
		k.newGroup(t)
		k.grouped = true
	}
	// Written where it is kept: no copy of it made first.
	k.list = append(k.list, keptTuple{})
	kt := &k.list[len(k.list)-1]
	kt.ms, kt.start, kt.size, kt.group = event.FlowMillis(p.Stamp), uint32(start), uint16(size), uint32(len(k.groups)-1)
	kt.lens, kt.proto, kt.state = p.Lens, p.Protocol, p.State
	kt.src4, kt.dst4, kt.outbound, kt.allowed, kt.counts = true, true, p.Direction != event.FlowInbound, p.Allowed, p.Counts
	*(*[4]byte)(kt.src[12:]) = p.Src
	*(*[4]byte)(kt.dst[12:]) = p.Dst
	return true
}

// is reports whether g is t's group (its Rule, ACLID and MAC). A group's
// tuples share its strings (the walk sets them once per group): compared
// by where they are, not byte by byte. A group met again with strings of
// its own is kept twice, which is harmless.
func (g *flowGroup) is(t *event.FlowTuple) bool {
	return sameString(g.rule, t.Rule) && sameString(g.aclID, t.ACLID) && sameString(g.mac, t.MAC)
}

// newGroup makes t's group the last of k.groups.
func (k *tupleKeeper) newGroup(t *event.FlowTuple) {
	k.groups = append(k.groups, flowGroup{t.Rule, t.ACLID, t.MAC})
}

// keep adds t to the list when it can be made again from the record's
// bytes and the numbers: its text is the record's own (no escape), its
// fields are short, its numbers written without leading zeros and its
// addresses have no zone. Anything else (never seen in a real log) and
// the record's tuples are walked again by ExpandFlow instead.
func (k *tupleKeeper) keep(t *event.FlowTuple) bool {
	text, ends := t.Fields()
	base := uintptr(unsafe.Pointer(unsafe.SliceData(k.raw)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(text)))
	plain := t.Plain()
	if len(ends) == 0 || ends[0] == 0 || at < base || at >= base+uintptr(len(k.raw)) || (!plain && (t.SrcIP.Zone() != "" || t.DstIP.Zone() != "")) {
		return false
	}
	if len(ends) > len(keptTuple{}.lens) || ends[len(ends)-1] > len(text) || int(at-base)+len(text) > len(k.raw) || len(text) > 0xffff {
		return false
	}
	kt := keptTuple{
		ms: t.Time.UnixMilli(), start: uint32(at - base), size: uint16(len(text)),
		state: t.State, outbound: t.Direction != event.FlowInbound, allowed: t.Allowed, counts: t.HasCounts,
	}
	// The fields' lengths (a field past the tuple's last is empty): the
	// time and addresses' as they are, the numbers' without a leading zero.
	if plain {
		// Checked as it was read (FlowTuple.Plain).
		kt.src4, kt.dst4 = true, true
		s4, d4 := t.SrcIP.As4(), t.DstIP.As4()
		copy(kt.src[12:], s4[:])
		copy(kt.dst[12:], d4[:])
		prev := -1
		for i, e := range ends {
			kt.lens[i] = uint8(e - prev - 1)
			prev = e
		}
	} else {
		kt.src, kt.dst, kt.src4, kt.dst4 = t.SrcIP.As16(), t.DstIP.As16(), t.SrcIP.Is4(), t.DstIP.Is4()
		from := 0 // field i's start in text
		for i, e := range ends {
			n := e - from
			if n > 255 || (i >= 3 && n > 1 && text[from] == '0') {
				return false
			}
			kt.lens[i] = uint8(n)
			from = e + 1
		}
	}
	switch t.Protocol {
	case event.ProtocolTCP:
		kt.proto = 1
	case event.ProtocolUDP:
		kt.proto = 2
	case event.ProtocolICMP:
		kt.proto = 3
	case event.ProtocolICMPv6:
		kt.proto = 4
	default:
		if t.Protocol != string(t.Written(5)) {
			return false
		}
	}
	if g := len(k.groups) - 1; g < 0 || !k.groups[g].is(t) {
		k.newGroup(t)
	}
	kt.group = uint32(len(k.groups) - 1)
	k.list = append(k.list, kt)
	return true
}

// hand gives ev the tuples kept, when they are all there.
func (k *tupleKeeper) hand(ev *event.Event) {
	if !k.keeping || k.tuples == 0 || ev.Fields != nil {
		return
	}
	// make and copy (the runtime's makeslicecopy: no zeroing), not
	// slices.Clone, which grows a nil slice to it.
	list := make([]keptTuple, len(k.list))
	copy(list, k.list)
	kept := &keptTuples{list: list}
	if len(k.groups) <= len(kept.few) {
		kept.groups = kept.few[:copy(kept.few[:], k.groups)]
	} else {
		kept.groups = slices.Clone(k.groups)
	}
	ev.Fields = kept
}

// keptEvent is the event of the kept tuple kt, of group g, of the
// record raw: its values written in the event's room as they are read,
// with no parsedTuple between (event).
func (x *tupleExpansion) keptEvent(kt *keptTuple, g *flowGroup, raw []byte, vnet bool, srcClass, dstClass uint8) *event.Event {
	// The fields in order, each where the one before ended: within the
	// tuple's text (keep made the lengths from its commas), whose bounds
	// are checked once here, not once a field.
	text := raw[kt.start : int(kt.start)+int(kt.size)]
	base := unsafe.Pointer(unsafe.SliceData(text))
	at := 0
	field := func(j int) string {
		s := unsafe.String((*byte)(unsafe.Add(base, at)), int(kt.lens[j]))
		at += int(kt.lens[j]) + 1
		return s
	}
	skip := func(j int) { at += int(kt.lens[j]) + 1 }
	// The slab's next event, when never made (the one after a kept
	// event), without next's call: most tuples are kept.
	var te *tupleEvent
	if s := x.room.slab; len(s) > 0 && len(s[0].ev.Source) == 0 {
		te = &s[0]
	} else {
		te = x.next()
	}
	v := &te.tupleValues
	// The tuple's second as written, for its RecordID: the seconds of
	// NSG, the milliseconds of VNet less their last three digits. Not
	// with a leading zero (parseUint reads those; the decimal form has
	// none) nor past what the parse reads as milliseconds as written.
	sec := field(0)
	switch {
	case len(sec) == 0 || sec[0] == '0' || len(sec) > 18:
		sec = ""
	case len(sec) > 11: // 1e11 and above: milliseconds
		sec = sec[:len(sec)-3]
	}
	if srcIP := field(1); kt.src4 {
		v.srcIP = srcIP
	} else {
		v.srcIP = keptAddr(kt.src, false).String()
	}
	if dstIP := field(2); kt.dst4 {
		v.dstIP = dstIP
	} else {
		v.dstIP = keptAddr(kt.dst, false).String()
	}
	v.srcPort = field(3)
	v.dstPort = field(4)
	// The strings a tuple shares with the one made here before (a
	// group's, a protocol's word) are written when they change only: each
	// write of a pointer costs a barrier while the collector marks.
	proto := field(5)
	// The texts read so far are the record's, within its bounds from
	// the tuple's start: 16 bytes can be read from each when they can be
	// from the protocol's, read last (finish's padded; a protocol not
	// as written is a word of keptProtocols).
	padded := kt.src4 && kt.dst4 && int(kt.start)+at-len(proto)-1+16 <= len(raw)
	if kt.proto == 0 {
		v.protocol = proto
	} else if w := keptProtocols[kt.proto]; !sameString(v.protocol, w) {
		v.protocol = w
	}
	if kt.counts {
		skip(6)
		skip(7)
		skip(8)
		v.packetsOut = field(9)
		v.bytesOut = field(10)
		v.packetsIn = field(11)
		v.bytesIn = field(12)
	}
	if !sameString(v.rule, g.rule) || !sameString(v.aclID, g.aclID) || !sameString(v.mac, g.mac) {
		v.rule, v.aclID, v.mac = g.rule, g.aclID, g.mac
	}
	v.vnet, v.outbound, v.allowed, v.state = vnet, kt.outbound, kt.allowed, kt.state
	v.srcClass, v.dstClass = srcClass, dstClass
	te.addrsCanonical = true
	// The tuple's time, unless not after 1970's first second (as event:
	// time.UnixMilli(ms).Unix() <= 0 is ms < 1000, zero time included).
	t := x.rec.Time
	if kt.ms >= 1000 {
		t = time.UnixMilli(kt.ms).UTC()
	} else {
		sec = ""
	}
	return x.finish(te, t, sec, padded)
}

// sent is the kept tuple's flow.bytes_sent as its event answers it: the
// bytes from the local side to the remote (the count of field 10, else
// 12, of the record raw), "" when the tuple has no counts. A tuple with
// counts has 13 fields, the last ending with its text: read from there.
// Digits without a leading zero (keep and addPlain keep no other).
func (kt *keptTuple) sent(raw []byte) string {
	if !kt.counts {
		return ""
	}
	end := int(kt.start) + int(kt.size) // field 12's end: bytes in
	if kt.outbound {
		end -= int(kt.lens[12]) + int(kt.lens[11]) + 2 // field 10's: bytes out
		return shared(raw[end-int(kt.lens[10]) : end])
	}
	return shared(raw[end-int(kt.lens[12]) : end])
}

// dstPort is the kept tuple's flow.dst_port as its event answers it: its
// fifth field of the record raw, as written (keptEvent's).
func (kt *keptTuple) dstPort(raw []byte) string {
	at := int(kt.start) + int(kt.lens[0]) + int(kt.lens[1]) + int(kt.lens[2]) + int(kt.lens[3]) + 4
	return shared(raw[at : at+int(kt.lens[4])])
}

func keptAddr(a [16]byte, is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

// tupleSlab is how many tuple events are allocated together at most: the
// tuples of a usual record (a few dozen) are one allocation, and a record
// of millions of tuples never holds more than one slab unused.
const tupleSlab = 64

// tupleExpansion is what the tuple events of one record share.
type tupleExpansion struct {
	rec  *event.Event
	nets *Networks
	room *TupleRoom
	left int // tuples of the record (flow.tuples) no slab was allocated for yet
	sub  int // tuples walked (walkFlow)

	// filled is the event finish made last, not kept (next hands it out
	// again): its values of the record (resource, geo, tenant...) are
	// this record's already, and are not written again. Each write of a
	// pointer costs a barrier while the collector marks.
	filled *tupleEvent
}

// next returns the room's next tuple event: zeroed, or the last one made
// and not kept, made ready to be made again.
func (x *tupleExpansion) next() *tupleEvent {
	r := x.room
	if len(r.slab) == 0 {
		n := tupleSlab
		if x.left > 0 {
			n = min(x.left, tupleSlab)
			x.left -= n
		}
		r.slab = make([]tupleEvent, n)
	}
	te := &r.slab[0]
	te.reuse()
	return te
}

// commit keeps the event next returned last: the next one is another.
func (x *tupleExpansion) commit() { x.room.slab, x.filled = x.room.slab[1:], nil }

// reuse readies te, made for a tuple and not kept, to be made again: what
// a tuple's making leaves as it is (the counts of a tuple without them,
// a raw record written when asked) set back to zero. The making
// writes every other value.
func (te *tupleEvent) reuse() {
	if te.ev.Source == "" {
		return // never made
	}
	te.packetsOut, te.bytesOut, te.packetsIn, te.bytesIn = "", "", "", ""
	if te.raw.Load() != nil {
		te.raw.Store(nil)
	}
	// Nothing but the making writes a tuple event before it is kept (the
	// conditions read it); should something have, it starts afresh.
	if ev := &te.ev; ev.Fields != event.FieldReader(te) || ev.Extra.Len() != 0 || ev.Layout != nil || ev.Raw != nil || ev.Pos != (event.Position{}) {
		te.ev = event.Event{}
	}
}

// tupleEvent is a tuple's event and its flow.* values (it is the event's
// Fields: event.FieldReader and event.RawRecorder), with the room of its
// Target and RecordID. Its raw record, a small JSON document of the
// tuple's values (alert evidence of a sequence, or a rule reading a tuple
// by path), is written the first time it is asked for: most tuples are
// never asked.
type tupleEvent struct {
	ev event.Event
	tupleValues
	recordTime time.Time
	raw        atomic.Pointer[[]byte]
	buf        [idRoom]byte
	// addrsCanonical: srcIP and dstIP are canonical (event.IsCanonical)
	// by how they were made: a kept tuple's IPv4 as written (the tuple
	// parser reads dotted digits only) or an address without a zone
	// formatted (keptEvent). False says nothing: CanonicalField looks.
	addrsCanonical bool
}

// Field implements event.FieldReader for the flow.* names: a struct, not
// a map, because tuples come by the thousand. The names that depend on the
// direction (local, remote, sent, received) are worked out when read.
func (te *tupleEvent) Field(name string) (string, bool) {
	if len(name) < 6 || name[:5] != "flow." {
		return "", false
	}
	var f event.FlowField
	switch name[5:] {
	case "log_type":
		f = event.FlowLogType
	case "src_ip":
		f = event.FlowSrcIP
	case "dst_ip":
		f = event.FlowDstIP
	case "src_port":
		f = event.FlowSrcPort
	case "dst_port":
		f = event.FlowDstPort
	case "protocol":
		f = event.FlowProtocol
	case "direction":
		f = event.FlowDirection
	case "allowed":
		f = event.FlowAllowed
	case "src_class":
		f = event.FlowSrcClass
	case "dst_class":
		f = event.FlowDstClass
	case "local_ip":
		f = event.FlowLocalIP
	case "local_port":
		f = event.FlowLocalPort
	case "local_class":
		f = event.FlowLocalClass
	case "remote_ip":
		f = event.FlowRemoteIP
	case "remote_port":
		f = event.FlowRemotePort
	case "remote_class":
		f = event.FlowRemoteClass
	case "state":
		f = event.FlowState
	case "bytes_out":
		f = event.FlowBytesOut
	case "bytes_in":
		f = event.FlowBytesIn
	case "packets_out":
		f = event.FlowPacketsOut
	case "packets_in":
		f = event.FlowPacketsIn
	case "bytes_sent":
		f = event.FlowBytesSent
	case "bytes_received":
		f = event.FlowBytesReceived
	case "rule":
		f = event.FlowRule
	case "acl_id":
		f = event.FlowACLID
	case "mac":
		f = event.FlowMAC
	default:
		return "", false
	}
	v, _ := te.value(f)
	return v, true
}

// CanonicalField implements event.CanonicalReader: the words, ports and
// counts (digits) are canonical when written; the other values are looked
// at.
func (te *tupleEvent) CanonicalField(f event.FlowField) (string, bool, bool) {
	// The names the stateful rules group and count by, read a few times
	// a tuple, first: value's answers without the call (TestExpandFlowPicked
	// holds them to Field's).
	p := &te.tupleValues
	switch f {
	case event.FlowSrcIP:
		return p.srcIP, te.addrCanonical(p.srcIP), true
	case event.FlowDstIP:
		return p.dstIP, te.addrCanonical(p.dstIP), true
	case event.FlowLocalIP:
		v := pick(p.outbound, p.srcIP, p.dstIP)
		return v, te.addrCanonical(v), true
	case event.FlowRemoteIP:
		v := pick(p.outbound, p.dstIP, p.srcIP)
		return v, te.addrCanonical(v), true
	case event.FlowDstPort:
		return p.dstPort, p.dstPort != "", true
	case event.FlowBytesSent:
		v := pick(p.outbound, p.bytesOut, p.bytesIn)
		return v, v != "", true
	}
	if f >= event.FlowField(len(event.FlowFieldNames)) {
		return "", false, false
	}
	v, canonical := te.value(f)
	switch f {
	case event.FlowProtocol, event.FlowRule, event.FlowACLID, event.FlowMAC:
		canonical = event.IsCanonical(v)
	}
	return v, canonical, true
}

// addrCanonical reports whether v, one of the tuple's addresses, is
// canonical: as made (addrsCanonical), else looked at (an IPv6 zone is
// as written).
func (te *tupleEvent) addrCanonical(v string) bool {
	return (te.addrsCanonical && v != "") || event.IsCanonical(v)
}

// FlowValues is what a rule engine sorts a tuple by before reading any
// of its fields (detect's flow combinations, as event.FlowSieve's): its
// log type (VNet, else NSG), direction (outbound, else inbound),
// decision (allowed, else denied) and address classes (classNames).
func (te *tupleEvent) FlowValues() (vnet, outbound, allowed bool, src, dst uint8) {
	p := &te.tupleValues
	return p.vnet, p.outbound, p.allowed, p.srcClass, p.dstClass
}

// value is the value of f, and whether it is canonical by its kind (a
// word, a number), without looking at the values written in the record.
func (te *tupleEvent) value(f event.FlowField) (string, bool) {
	p := &te.tupleValues
	var v string
	switch f {
	case event.FlowLogType:
		v = p.logType()
	case event.FlowSrcIP:
		return p.srcIP, false
	case event.FlowDstIP:
		return p.dstIP, false
	case event.FlowSrcPort:
		v = p.srcPort
	case event.FlowDstPort:
		v = p.dstPort
	case event.FlowProtocol:
		return p.protocol, false
	case event.FlowDirection:
		v = p.direction()
	case event.FlowAllowed:
		v = p.allowedText()
	case event.FlowSrcClass:
		v = classNames[p.srcClass]
	case event.FlowDstClass:
		v = classNames[p.dstClass]
	case event.FlowLocalIP:
		return pick(p.outbound, p.srcIP, p.dstIP), false
	case event.FlowLocalPort:
		v = pick(p.outbound, p.srcPort, p.dstPort)
	case event.FlowLocalClass:
		v = classNames[pick(p.outbound, p.srcClass, p.dstClass)]
	case event.FlowRemoteIP:
		return pick(p.outbound, p.dstIP, p.srcIP), false
	case event.FlowRemotePort:
		v = pick(p.outbound, p.dstPort, p.srcPort)
	case event.FlowRemoteClass:
		v = classNames[pick(p.outbound, p.dstClass, p.srcClass)]
	case event.FlowState:
		return p.stateText(), false // upper case
	case event.FlowBytesOut:
		v = p.bytesOut
	case event.FlowBytesIn:
		v = p.bytesIn
	case event.FlowPacketsOut:
		v = p.packetsOut
	case event.FlowPacketsIn:
		v = p.packetsIn
	case event.FlowBytesSent: // local to remote
		v = pick(p.outbound, p.bytesOut, p.bytesIn)
	case event.FlowBytesReceived:
		v = pick(p.outbound, p.bytesIn, p.bytesOut)
	case event.FlowRule:
		return p.rule, false
	case event.FlowACLID:
		return p.aclID, false
	case event.FlowMAC:
		return p.mac, false
	}
	return v, v != ""
}

// pick is a when cond, else b.
func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

func (p *tupleValues) logType() string     { return event.FlowLogTypeText(p.vnet) }
func (p *tupleValues) direction() string   { return event.FlowDirectionText(p.outbound) }
func (p *tupleValues) allowedText() string { return event.FlowAllowedText(p.allowed) }

func (p *tupleValues) stateText() string {
	if p.state == 0 {
		return ""
	}
	return flowStates[p.state&0x7f]
}

// flowStates are the one-letter state strings, made once.
var flowStates = func() (s [128]string) {
	for c := range s {
		s[c] = string(rune(c))
	}
	return s
}()

// writtenAddr is the text of an address: as written when the record wrote
// it in its canonical form (dotted IPv4: the tuple parser accepts no other
// IPv4 spelling), else formatted.
func writtenAddr(a netip.Addr, written []byte) string {
	if a.Is4() && len(written) > 0 {
		return shared(written)
	}
	return a.String()
}

// writtenUint is the decimal text of n: as written unless written with
// leading zeros.
func writtenUint(n uint64, written []byte) string {
	if len(written) > 0 && (written[0] != '0' || len(written) == 1) {
		return shared(written)
	}
	return strconv.FormatUint(n, 10)
}

func (x *tupleExpansion) event(p *parsedTuple, srcClass, dstClass uint8) *event.Event {
	te := x.next()
	// te is zeroed (a new slab's): its fields are set one by one, not
	// copied as whole structs, which while the collector marks costs a
	// barrier over every pointer of the struct (an Event has dozens).
	te.tupleValues.setFrom(&p.tupleValues)
	te.srcClass, te.dstClass = srcClass, dstClass
	te.addrsCanonical = false
	t := p.time
	if t.IsZero() || t.Unix() <= 0 {
		t = x.rec.Time // a tuple without a time of its own: the record's
	}
	return x.finish(te, t, "", false)
}

// finish makes te, its tupleValues set (the address classes too), the
// event of a tuple of time t (the record's for a tuple whose own time is
// not after 1970's first second); sec, when not "", is t.Unix() in
// decimal.
// padded: 16 bytes can be read from the start of sec and of each of te's
// addresses, ports and protocol (ids).
func (x *tupleExpansion) finish(te *tupleEvent, t time.Time, sec string, padded bool) *event.Event {
	rec := x.rec
	p := &te.tupleValues
	ev := &te.ev
	if te != x.filled || ev.Source != FlowTupleSource {
		// A new event (or one reuse started afresh): the record's values.
		te.recordTime = rec.Time
		ev.Source = FlowTupleSource
		ev.Category = rec.Category
		ev.Operation = "FlowTuple"
		ev.Resource = rec.Resource // a struct of strings only: copied whole
		ev.Geo = rec.Geo
		ev.TenantID = rec.TenantID
		ev.Fields = te
		x.filled = te
	}
	ev.Time = t
	decision := byte('D')
	if p.allowed {
		decision = 'A'
	}
	if len(ev.ResultCode) != 1 || ev.ResultCode[0] != decision {
		ev.Result, ev.ResultCode = event.ResultFailure, "D"
		if p.allowed {
			ev.Result, ev.ResultCode = event.ResultSuccess, "A"
		}
	}
	ev.Actor.IP = p.srcIP
	// Target ("dst_ip:dst_port") and RecordID share the event's
	// allocation: they are written in its room once, never again. The
	// tuple's identity is the flow's, not the record's: when NSG and VNet
	// flow logs both cover a NIC, the same observation (second, 5-tuple,
	// state, decision) is counted once by the stateful kinds. Addresses
	// and ports in their canonical form, whatever the log wrote.
	if padded && sec != "" && (len(sec)|len(p.protocol)|len(p.srcIP)|len(p.srcPort)|len(p.dstIP)|len(p.dstPort)) < 16 {
		ev.Target, ev.RecordID = te.ids(sec, decision)
	} else {
		ev.Target, ev.RecordID = te.idsAppended(sec, ev.Time.Unix(), decision)
	}
	// No SetKey: most tuples are selected by no stateful rule, and Key
	// computes the key of those that are (from RecordID) when asked.
	return ev
}

// idsAppended writes the tuple's Target and RecordID in te's room (on
// the heap when they are longer), appended one text after the other;
// sec is the tuple's second in decimal, else "" and unix is it.
func (te *tupleEvent) idsAppended(sec string, unix int64, decision byte) (target, recordID string) {
	p := &te.tupleValues
	b := append(te.buf[:0], p.dstIP...)
	b = append(b, ':')
	b = append(b, p.dstPort...)
	nt := len(b)
	b = append(b, "flow|"...)
	if sec != "" {
		b = append(b, sec...)
	} else {
		b = appendDecimal(b, unix)
	}
	b = append(b, '|')
	b = append(b, p.protocol...)
	// The texts are canonical already: an IPv4 address as written (the
	// tuple parser reads no other spelling), any other formatted; ports
	// without leading zeros.
	b = append(b, '|')
	b = append(b, p.srcIP...)
	b = append(b, ':')
	b = append(b, p.srcPort...)
	b = append(b, '>')
	b = append(b, p.dstIP...)
	b = append(b, ':')
	b = append(b, p.dstPort...)
	b = append(b, '|')
	if p.state != 0 {
		b = append(b, p.state)
	}
	b = append(b, '|', decision)
	both := unsafe.String(&b[0], len(b))
	return both[:nt], both[nt:]
}

// ids is idsAppended, for sec not "", in te's room: RecordID's fields copied 16 bytes at a time (no append, no
// memmove call), and Target the "dst_ip:dst_port" within it. The
// caller has checked that 16 bytes can be read from the start of sec and
// of each of te's texts, and that each is shorter than 16 bytes: what
// it writes is within idRoom.
// TestTupleIDsAgree and FuzzTupleIDsAgree hold them to finish's appends.
func (te *tupleEvent) ids(sec string, decision byte) (target, recordID string) {
	p := &te.tupleValues
	b := unsafe.Pointer(&te.buf)
	at := copy16(b, 0, idHead[:5])
	at = copy16(b, at, sec)
	at = putByte(b, at, '|')
	at = copy16(b, at, p.protocol)
	at = putByte(b, at, '|')
	at = copy16(b, at, p.srcIP)
	at = putByte(b, at, ':')
	at = copy16(b, at, p.srcPort)
	at = putByte(b, at, '>')
	t := at
	at = copy16(b, at, p.dstIP)
	at = putByte(b, at, ':')
	at = copy16(b, at, p.dstPort)
	end := at
	at = putByte(b, at, '|')
	if p.state != 0 {
		at = putByte(b, at, p.state)
	}
	at = putByte(b, at, '|')
	at = putByte(b, at, decision)
	return unsafe.String((*byte)(unsafe.Add(b, t)), end-t), unsafe.String((*byte)(b), at)
}

// idHead is RecordID's start, in 16 bytes (ids copies 16).
const idHead = "flow|           "

// idRoom is a tuple event's room, where ids writes: dst_port starts at
// most idPort bytes in (each text under 16 bytes), and ids writes the 16
// bytes copied from there, or dst_port and "|B|A" after it.
const idRoom = idPort + 15 + 4

const idPort = len("flow|") + 15 + 1 + 15 + 1 + 15 + 1 + 15 + 1 + 15 + 1

// copy16 copies the 16 bytes from s's start to b+at and returns at
// moved past s.
func copy16(b unsafe.Pointer, at int, s string) int {
	*(*[16]byte)(unsafe.Add(b, at)) = *(*[16]byte)(unsafe.Pointer(unsafe.StringData(s)))
	return at + len(s)
}

// putByte writes c at b+at and returns at+1.
func putByte(b unsafe.Pointer, at int, c byte) int {
	*(*byte)(unsafe.Add(b, at)) = c
	return at + 1
}

// appendDecimal is strconv.AppendInt(b, n, 10), a digit at a time from
// the end: for the ten digits of a tuple's second it is some half of
// AppendInt's work, which goes through its general case.
func appendDecimal(b []byte, n int64) []byte {
	if n < 0 {
		return strconv.AppendInt(b, n, 10)
	}
	var d [20]byte
	i := len(d) - 1
	for n >= 10 {
		q := n / 10
		d[i] = byte('0' + n - q*10)
		n = q
		i--
	}
	d[i] = byte('0' + n)
	return append(b, d[i:]...)
}

// RawRecord implements event.RawRecorder: the tuple event's own record,
// what a rule reads by path (the flow.* names without the prefix) and
// what a sequence's snapshot keeps. Written once, when first asked.
func (te *tupleEvent) RawRecord() []byte {
	if p := te.raw.Load(); p != nil {
		return *p
	}
	b := te.appendRaw(make([]byte, 0, 640))
	te.raw.CompareAndSwap(nil, &b)
	return *te.raw.Load()
}

func (te *tupleEvent) appendRaw(b []byte) []byte {
	ev, f := &te.ev, te
	b = append(b, `{"time":"`...)
	b = ev.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","category":`...)
	b = appendJSONString(b, ev.Category)
	b = append(b, `,"resourceId":`...)
	b = appendJSONString(b, ev.Resource.ID)
	b = append(b, `,"recordTime":"`...)
	b = f.recordTime.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	for _, kv := range [...]struct {
		k, v   string
		escape bool // a name from the record; the others are numbers, addresses (netip's, or dotted digits as written) and our own words
	}{
		{"log_type", f.logType(), false}, {"rule", f.rule, true}, {"acl_id", f.aclID, true}, {"mac", f.mac, true},
		{"src_ip", f.srcIP, false}, {"src_port", f.srcPort, false}, {"dst_ip", f.dstIP, false}, {"dst_port", f.dstPort, false},
		{"protocol", f.protocol, true}, {"direction", f.direction(), false}, {"allowed", f.allowedText(), false}, {"state", f.stateText(), false},
		{"packets_out", f.packetsOut, false}, {"bytes_out", f.bytesOut, false}, {"packets_in", f.packetsIn, false}, {"bytes_in", f.bytesIn, false},
		{"src_class", classNames[f.srcClass], false}, {"dst_class", classNames[f.dstClass], false},
	} {
		if kv.v == "" {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, kv.k...)
		b = append(b, '"', ':')
		if kv.escape {
			b = appendJSONString(b, kv.v)
		} else {
			b = append(b, '"')
			b = append(b, kv.v...)
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, everything else as it is (the values are
// addresses, numbers, names: rarely anything to escape).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Expand returns the events the pipeline derives from a parsed record: one
// per tuple of a flow-log record, none for any other record. It holds them
// all; the pipeline streams with ExpandFlow instead. For tests and tools.
func (r *Registry) Expand(ev *event.Event) ([]*event.Event, error) {
	if !IsFlow(ev) {
		return nil, nil
	}
	var out []*event.Event
	err := r.ExpandFlow(ev, func(t *event.Event) error {
		out = append(out, t)
		return nil
	})
	return out, err
}
