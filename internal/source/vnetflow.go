package source

import (
	"reflect"

	"github.com/azdetect/azdetect/internal/event"
)

// vnetFlowSource is the VNet flow log, the NSG flow log's successor
// (log-schemas §10): one record per flow log, NIC and minute. The event is
// the record; its tuples are read with event.FlowTuples.
var vnetFlowSource = Source{
	Name:        "vnetflowlogs",
	Description: "Network Watcher VNet flow logs (one event per flow log, NIC and minute; tuples through event.FlowTuples)",
	Reference:   "https://learn.microsoft.com/azure/network-watcher/vnet-flow-logs-overview",
	Categories:  []string{"FlowLogFlowEvent"},
	Parse:       parseVNetFlow,
	Extras:      5,
}

type vnetFlowRecord struct {
	envelope
	FlowLogVersion    text             `json:"flowLogVersion"`
	FlowLogGUID       text             `json:"flowLogGUID"`
	MACAddress        text             `json:"macAddress"`
	FlowLogResourceID text             `json:"flowLogResourceID"`
	TargetResourceID  text             `json:"targetResourceID"`
	FlowRecords       flowRecordsValue `json:"flowRecords"` // its tuples read as they are met (flowsRead)
}

var vnetFlowPlan = flowPlanOf(reflect.TypeFor[vnetFlowRecord]())

// vnetFlowRecords are reused from record to record (see pooled).
var vnetFlowRecords pooled[vnetFlowRecord]

func parseVNetFlow(raw []byte, ev *event.Event) error {
	r := vnetFlowRecords.get()
	defer vnetFlowRecords.put(r)
	defer r.FlowRecords.drop()
	if err := decodeEvent(raw, ev, vnetFlowPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	// What the flow log watches (a virtual network, subnet or NIC), else
	// the flow log itself.
	ev.Resource = event.ParseResourceID(first(r.TargetResourceID, r.ResourceID, r.FlowLogResourceID))
	ev.Geo.Region = r.Location.String()
	return fillFlow(ev, r.FlowLogGUID.String(), r.MACAddress.String(), true, &r.FlowRecords.flowsRead,
		"flow.version", r.FlowLogVersion.String(), "flow.log_resource_id", r.FlowLogResourceID.String())
}
