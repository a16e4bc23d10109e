package source

import (
	"reflect"
	"strings"

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

var auditPlan = planOf(reflect.TypeFor[auditRecord]())

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
