package source

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

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
// ExpandFlow walks Raw with event.FlowTuples one tuple at a time and hands
// each event to the caller, who evaluates them in chunks: a record of
// thousands of tuples is never held as thousands of events. A tuple event's
// Raw is a small JSON document of its own (the alert evidence), not the
// record.
//
// Every tuple event sets these Extra values:
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
// are parsed once, at start.
type Networks struct {
	private, azure []netip.Prefix
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
	return n, errors.Join(errs...)
}

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
func (n Networks) Class(a netip.Addr) string {
	a = a.Unmap()
	for _, p := range n.azure {
		if p.Contains(a) {
			return ClassAzure
		}
	}
	for _, p := range n.private {
		if p.Contains(a) {
			return ClassPrivate
		}
	}
	return ClassInternet
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
// events share nothing with each other and may be kept.
func (r *Registry) ExpandFlow(ev *event.Event, fn func(*event.Event) error) error {
	nets := r.nets
	if nets == nil {
		d := DefaultNetworks()
		nets = &d
	}
	logType := "nsg"
	if ev.Source == vnetFlowSource.Name {
		logType = "vnet"
	}
	var ferr error
	i := 0
	err := event.FlowTuples(ev, func(t event.FlowTuple) bool {
		te := tupleEvent(ev, &t, nets, logType, i)
		i++
		ferr = fn(te)
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

func tupleEvent(rec *event.Event, t *event.FlowTuple, nets *Networks, logType string, i int) *event.Event {
	ev := &event.Event{
		Source:   FlowTupleSource,
		Category: rec.Category,
		Time:     t.Time,
		Resource: rec.Resource,
		Geo:      rec.Geo,
		TenantID: rec.TenantID,
		Extra:    make(map[string]string, 28),
	}
	if ev.Time.IsZero() || ev.Time.Unix() <= 0 {
		ev.Time = rec.Time
	}
	src, dst := t.SrcIP.String(), t.DstIP.String()
	sport, dport := strconv.Itoa(int(t.SrcPort)), strconv.Itoa(int(t.DstPort))
	srcClass, dstClass := nets.Class(t.SrcIP), nets.Class(t.DstIP)
	dir := "outbound"
	if t.Direction == event.FlowInbound {
		dir = "inbound"
	}
	decision := "D"
	ev.Operation = "FlowTuple"
	ev.Result = event.ResultFailure
	if t.Allowed {
		decision = "A"
		ev.Result = event.ResultSuccess
	}
	ev.ResultCode = decision
	ev.Actor.IP = src
	ev.Target = dst + ":" + dport
	// The tuple's identity is the flow's, not the record's: when NSG and
	// VNet flow logs both cover a NIC, the same observation (second,
	// 5-tuple, state, decision) is counted once by the stateful kinds.
	ev.RecordID = "flow|" + strconv.FormatInt(ev.Time.Unix(), 10) + "|" + t.Protocol + "|" + src + ":" + sport +
		">" + dst + ":" + dport + "|" + string(rune(t.State)) + "|" + decision

	x := ev.Extra
	x["flow.log_type"] = logType
	x["flow.src_ip"], x["flow.dst_ip"] = src, dst
	x["flow.src_port"], x["flow.dst_port"] = sport, dport
	x["flow.protocol"] = t.Protocol
	x["flow.direction"] = dir
	x["flow.allowed"] = strconv.FormatBool(t.Allowed)
	x["flow.src_class"], x["flow.dst_class"] = srcClass, dstClass
	local, lport, remote, rport, rclass := dst, dport, src, sport, srcClass
	if t.Direction == event.FlowOutbound {
		local, lport, remote, rport, rclass = src, sport, dst, dport, dstClass
	}
	x["flow.local_ip"], x["flow.local_port"] = local, lport
	x["flow.remote_ip"], x["flow.remote_port"], x["flow.remote_class"] = remote, rport, rclass
	x["flow.local_class"] = dstClass
	if t.Direction == event.FlowOutbound {
		x["flow.local_class"] = srcClass
	}
	if t.State != 0 {
		x["flow.state"] = string(t.State)
	}
	if t.HasCounts {
		x["flow.bytes_out"] = strconv.FormatUint(t.BytesOut, 10)
		x["flow.bytes_in"] = strconv.FormatUint(t.BytesIn, 10)
		x["flow.packets_out"] = strconv.FormatUint(t.PacketsOut, 10)
		x["flow.packets_in"] = strconv.FormatUint(t.PacketsIn, 10)
		sent, recv := t.BytesIn, t.BytesOut
		if t.Direction == event.FlowOutbound {
			sent, recv = t.BytesOut, t.BytesIn
		}
		x["flow.bytes_sent"] = strconv.FormatUint(sent, 10)
		x["flow.bytes_received"] = strconv.FormatUint(recv, 10)
	}
	if t.Rule != "" {
		x["flow.rule"] = t.Rule
	}
	if t.ACLID != "" {
		x["flow.acl_id"] = t.ACLID
	}
	if t.MAC != "" {
		x["flow.mac"] = t.MAC
	}
	ev.Raw = tupleRaw(ev, rec, t)
	return ev
}

// tupleRaw is the tuple event's own record: what an alert shows as
// evidence, and what a rule reads by path (the same names as Extra, without
// the flow. prefix).
func tupleRaw(ev, rec *event.Event, t *event.FlowTuple) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"time":`...)
	b = strconv.AppendQuote(b, ev.Time.Format(time.RFC3339Nano))
	b = append(b, `,"category":`...)
	b = strconv.AppendQuote(b, rec.Category)
	b = append(b, `,"resourceId":`...)
	b = strconv.AppendQuote(b, rec.Resource.ID)
	b = append(b, `,"recordTime":`...)
	b = strconv.AppendQuote(b, rec.Time.Format(time.RFC3339Nano))
	keys := []string{"log_type", "rule", "acl_id", "mac", "src_ip", "src_port", "dst_ip", "dst_port", "protocol",
		"direction", "allowed", "state", "packets_out", "bytes_out", "packets_in", "bytes_in", "src_class", "dst_class"}
	for _, k := range keys {
		v, ok := ev.Extra["flow."+k]
		if !ok {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		b = strconv.AppendQuote(b, v)
	}
	return append(b, '}')
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
