package source

import (
	"reflect"
	"strings"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// auditSource is the Entra ID audit log (log-schemas §7).
var auditSource = Source{
	Name:        "auditlogs",
	Description: "Entra ID audit log: directory changes to users, groups, roles, applications, policies, devices",
	Reference:   "https://learn.microsoft.com/entra/identity/monitoring-health/reference-audit-activities",
	Categories:  []string{"AuditLogs"},
	// Other services (Communication Services, Data Explorer...) also have
	// an "AuditLogs" category; Entra's is tenant-scoped on Microsoft.aadiam.
	Recognise: func(c Candidate) bool {
		return containsFold(c.ResourceID, "/providers/microsoft.aadiam")
	},
	Parse:  parseAudit,
	Extras: 5,
}

type auditRecord struct {
	envelope
	Identity   text                      `json:"identity"`
	Properties embedded[auditProperties] `json:"properties"`
}

type auditProperties struct {
	ID                  text `json:"id"`
	CorrelationID       text `json:"correlationId"`
	ActivityDisplayName text `json:"activityDisplayName"`
	Category            text `json:"category"`
	LoggedByService     text `json:"loggedByService"`
	OperationType       text `json:"operationType"`
	Result              text `json:"result"`
	ResultReason        text `json:"resultReason"`
	UserAgent           text `json:"userAgent"`
	InitiatedBy         struct {
		User *struct {
			ID                text `json:"id"`
			UserPrincipalName text `json:"userPrincipalName"`
			DisplayName       text `json:"displayName"`
			IPAddress         text `json:"ipAddress"`
		} `json:"user"`
		App *struct {
			AppID                text `json:"appId"`
			DisplayName          text `json:"displayName"`
			ServicePrincipalID   text `json:"servicePrincipalId"`
			ServicePrincipalName text `json:"servicePrincipalName"`
		} `json:"app"`
	} `json:"initiatedBy"`
	TargetResources []struct {
		ID                text `json:"id"`
		DisplayName       text `json:"displayName"`
		Type              text `json:"type"`
		UserPrincipalName text `json:"userPrincipalName"`
		// Only walked, for the layout: rules read its old and new
		// values (account_disabled.yml, role and group changes).
		ModifiedProperties layoutOnly `json:"modifiedProperties"`
	} `json:"targetResources"`
	AdditionalDetails []keyValue `json:"additionalDetails"`
}

// keyValue is the key/value list Entra uses for extra details.
type keyValue struct {
	Key   text `json:"key"`
	Value text `json:"value"`
}

// lookupKV returns the value of the first entry named key (case-insensitive).
func lookupKV(kvs []keyValue, key string) text {
	for _, kv := range kvs {
		if strings.EqualFold(kv.Key.String(), key) {
			return kv.Value
		}
	}
	return ""
}

var auditPlan = func() *plan {
	customDecoders[reflect.TypeFor[layoutOnly]()] = decodeLayoutOnly
	return planOf(reflect.TypeFor[auditRecord]())
}()

// layoutOnly is a member the one-pass decoder walks only to keep the
// objects of its array in the record's layout (decodeEvent), so that the
// rule engine reads them in place instead of walking them once more.
// Nothing of it is stored, and no value of it is an error: unmarshal,
// the reference decoding, ignores it.
type layoutOnly struct{}

func (*layoutOnly) UnmarshalJSON([]byte) error { return nil }

// layoutOnlyPlan is a struct without fields: every member is checked
// and kept in the layout only.
var layoutOnlyPlan = newPlan(nil, nil)

// decodeLayoutOnly checks the value at vi, keeping it in the layout
// (when there is one) if it is an object, and the objects among its
// elements if it is an array.
func decodeLayoutOnly(d *decoder, _ []byte, _ bool, vi int, _ unsafe.Pointer) int {
	if d.layout == nil || vi >= len(d.B) {
		return d.Skip(vi)
	}
	switch d.B[vi] {
	case '{':
		return d.decodeStruct(vi, layoutOnlyPlan, nil)
	case '[':
	default:
		return d.Skip(vi)
	}
	i, more := d.OpenArray(vi)
	for more {
		var end int
		if i < len(d.B) && d.B[i] == '{' {
			end = d.decodeStruct(i, layoutOnlyPlan, nil)
		} else {
			end = d.Skip(i)
		}
		i, more = d.NextElem(end)
	}
	return i
}

// auditRecords are reused from record to record (see pooled).
var auditRecords pooled[auditRecord]

// putAudit gives r back as auditRecords.put does, but keeps the arrays
// of its lists (cleared) for the next record: decoding into a cleared
// array is decoding into a new one, and their growth was most of a
// record's allocations. Only the lists' lengths are read, so one left
// empty where a record has none reads as the nil it would be.
func putAudit(r *auditRecord) {
	p := &r.Properties.V
	tr, ad := p.TargetResources, p.AdditionalDetails
	clear(tr[:cap(tr)])
	clear(ad[:cap(ad)])
	if cap(tr) > inPlaceSliceLength {
		tr = nil
	}
	if cap(ad) > inPlaceSliceLength {
		ad = nil
	}
	*r = auditRecord{}
	r.Properties.V.TargetResources, r.Properties.V.AdditionalDetails = tr[:0], ad[:0]
	auditRecords.p.Put(r)
}

func parseAudit(raw []byte, ev *event.Event) error {
	r := auditRecords.get()
	defer putAudit(r)
	if err := decodeEvent(raw, ev, auditPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	p := &r.Properties.V
	if ev.Operation == "" {
		ev.Operation = p.ActivityDisplayName.String()
	}
	ev.ResultCode = p.Result.String()
	ev.Result = auditResult(ev.ResultCode)
	ev.ResultReason = first(p.ResultReason, r.ResultDescription)
	ev.RecordID = p.ID.String()
	if ev.CorrelationID == "" {
		ev.CorrelationID = p.CorrelationID.String()
	}

	a := event.Actor{UserAgent: first(p.UserAgent, lookupKV(p.AdditionalDetails, "User-Agent"))}
	switch by := p.InitiatedBy; {
	case by.User != nil && (by.User.UserPrincipalName != "" || by.User.ID != ""):
		a.Type = event.ActorUser
		a.UPN = by.User.UserPrincipalName.String()
		a.ObjectID = by.User.ID.String()
		a.Name = first(by.User.DisplayName, r.Identity)
		a.IP = callerIP(by.User.IPAddress, r.CallerIPAddress)
	case by.App != nil:
		a.Type = event.ActorServicePrincipal
		a.AppID = by.App.AppID.String()
		a.AppName = by.App.DisplayName.String()
		a.ObjectID = by.App.ServicePrincipalID.String()
		a.Name = first(by.App.ServicePrincipalName, by.App.DisplayName, r.Identity)
		a.IP = callerIP(r.CallerIPAddress)
	default:
		a.Name = r.Identity.String()
		a.IP = callerIP(r.CallerIPAddress)
	}
	ev.Actor = a

	if len(p.TargetResources) > 0 {
		t := &p.TargetResources[0]
		ev.Target = first(t.UserPrincipalName, t.DisplayName, t.ID)
		ev.Set("audit.target_type", t.Type.String())
		ev.Set("audit.target_id", t.ID.String())
	}
	ev.Set("audit.service", p.LoggedByService.String())
	ev.Set("audit.category", p.Category.String())
	ev.Set("audit.operation_type", p.OperationType.String())
	return nil
}

// auditResult maps properties.result: success; failure and timeout (the
// change did not happen) to failure.
func auditResult(result string) event.Result {
	var buf [40]byte
	switch string(lowerWord(&buf, result)) {
	case "success":
		return event.ResultSuccess
	case "failure", "timeout":
		return event.ResultFailure
	}
	return event.ResultUnknown
}
