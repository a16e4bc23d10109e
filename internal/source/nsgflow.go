package source

import (
	"reflect"
	"strconv"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// nsgFlowSource is the NSG flow log, versions 1 and 2 (log-schemas §9): one
// record per NSG, NIC and minute. The event is the record; its tuples are
// read with event.FlowTuples.
var nsgFlowSource = Source{
	Name:        "nsgflowlogs",
	Description: "Network Watcher NSG flow logs, versions 1 and 2 (one event per NSG, NIC and minute; tuples through event.FlowTuples)",
	Reference:   "https://learn.microsoft.com/azure/network-watcher/nsg-flow-logs-overview",
	Categories:  []string{"NetworkSecurityGroupFlowEvent"},
	Parse:       parseNSGFlow,
	Extras:      4,
}

type nsgFlowRecord struct {
	envelope
	SystemID   text `json:"systemId"`
	MACAddress text `json:"macAddress"`
	Properties embedded[struct {
		Version text       `json:"Version"`
		Flows   flowsArray `json:"flows"` // read as it is met (flowsRead)
	}] `json:"properties"`
}

var nsgFlowPlan = flowPlanOf(reflect.TypeFor[nsgFlowRecord]())

// nsgFlowRecords are reused from record to record (see pooled).
var nsgFlowRecords pooled[nsgFlowRecord]

func parseNSGFlow(raw []byte, ev *event.Event) error {
	r := nsgFlowRecords.get()
	defer nsgFlowRecords.put(r)
	defer r.Properties.V.Flows.drop()
	if err := decodeEvent(raw, ev, nsgFlowPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	ev.Geo.Region = r.Location.String()
	return fillFlow(ev, r.SystemID.String(), r.MACAddress.String(), false, &r.Properties.V.Flows.flowsRead, "flow.version", r.Properties.V.Version.String())
}

// fillFlow walks the tuples once, so a record with a broken tuple is
// malformed here rather than surprising a rule later, and sets what is
// known of the record as a whole: a dedupe id (the hourly blob is rewritten
// every minute, so a record is read again) and the counts. The tuples it
// read are kept for ExpandFlow (keepTuples), which then does not read the
// record again. The tuples the decoder read (read) are taken as they are
// when they are those the walk would read (flowsRead.take).
func fillFlow(ev *event.Event, id, mac string, vnet bool, read *flowsRead, extra ...string) error {
	k := read.take(ev)
	defer func() { k.release(); tupleKeepers.Put(k) }()
	if k == nil {
		k = tupleKeepers.Get().(*tupleKeeper)
		k.reset(ev.Raw, vnet)
		if err := k.walk(ev); err != nil {
			return err
		}
	}
	if mac == "" {
		mac = k.firstMAC
	}
	k.hand(ev)
	// The counts and the dedupe id are written in one allocation (the
	// fraction of the time is written whole, then trimmed).
	b := make([]byte, 0, 2*20+len(id)+len(mac)+len(flowIDStamp)+4)
	b = strconv.AppendInt(b, int64(k.tuples), 10)
	nt := len(b)
	b = strconv.AppendInt(b, int64(k.denied), 10)
	nd := len(b)
	if id != "" {
		b = append(append(append(append(b, id...), '/'), mac...), '/')
		b = appendFlowStamp(b, ev.Time)
	}
	all := unsafe.String(unsafe.SliceData(b), len(b))
	var kv [10]string
	n := copy(kv[:], extra)
	n += copy(kv[n:], []string{"flow.mac", mac, "flow.tuples", all[:nt], "flow.denied", all[nt:nd]})
	ev.SetAll(kv[:n]...)
	if id != "" {
		ev.RecordID = all[nd:]
	}
	return nil
}

// flowIDStamp is the layout of the time in a flow record's dedupe id.
const flowIDStamp = "2006-01-02T15:04:05.9999999Z"

// appendFlowStamp appends t as t.AppendFormat(b, flowIDStamp) does,
// without its layout machinery for the years of four digits (any other
// year is left to it; TestAppendFlowStamp, FuzzAppendFlowStamp): the
// fields in t's location, the fraction's seven digits truncated and its
// trailing zeros dropped, with its dot when none is left.
func appendFlowStamp(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, flowIDStamp)
	}
	hour, minute, sec := t.Clock()
	m := int(month)
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if frac := t.Nanosecond() / 100; frac != 0 {
		n := 7
		for frac%10 == 0 {
			frac /= 10
			n--
		}
		b = append(b, '.')
		for i := n - 1; i >= 0; i-- {
			b = append(b, byte('0'+frac/pow10i[i]%10))
		}
	}
	return append(b, 'Z')
}

// pow10i are the powers of ten below 1e7.
var pow10i = [...]int{1, 10, 100, 1e3, 1e4, 1e5, 1e6}
