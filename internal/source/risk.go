package source

import (
	"reflect"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// riskSource is Entra ID Identity Protection: risky users and service
// principals (state snapshots) and risk detections (log-schemas §8).
var riskSource = Source{
	Name:        "riskdetection",
	Description: "Entra ID Identity Protection: risk detections and risky user / service principal states",
	Reference:   "https://learn.microsoft.com/entra/id-protection/concept-identity-protection-risks",
	Categories:  []string{catRiskyUsers, "UserRiskEvents", catRiskyServicePrincipals, catServicePrincipalRiskEvents},
	Parse:       parseRisk,
	Extras:      7,
}

const (
	catRiskyUsers                 = "RiskyUsers"
	catRiskyServicePrincipals     = "RiskyServicePrincipals"
	catServicePrincipalRiskEvents = "ServicePrincipalRiskEvents"
)

type riskRecord struct {
	envelope
	Identity   text                     `json:"identity"`
	Properties embedded[riskProperties] `json:"properties"`
}

type riskProperties struct {
	ID                      text `json:"id"`
	RiskEventType           text `json:"riskEventType"`
	RiskType                text `json:"riskType"`
	RiskLevel               text `json:"riskLevel"`
	RiskState               text `json:"riskState"`
	RiskDetail              text `json:"riskDetail"`
	Source                  text `json:"source"`
	DetectionTimingType     text `json:"detectionTimingType"`
	Activity                text `json:"activity"`
	IPAddress               text `json:"ipAddress"`
	UserID                  text `json:"userId"`
	UserPrincipalName       text `json:"userPrincipalName"`
	UserDisplayName         text `json:"userDisplayName"`
	AppID                   text `json:"appId"`
	DisplayName             text `json:"displayName"`
	ServicePrincipalID      text `json:"servicePrincipalId"`
	ServicePrincipalName    text `json:"servicePrincipalDisplayName"`
	RiskLastUpdatedDateTime text `json:"riskLastUpdatedDateTime"`
	Location                struct {
		City    text `json:"city"`
		Country text `json:"countryOrRegion"`
	} `json:"location"`
	// A JSON string of [{"Key":"userAgent","Value":"..."}].
	AdditionalInfo embedded[[]keyValue] `json:"additionalInfo"`
}

var riskPlan = planOf(reflect.TypeFor[riskRecord]())

// riskRecords are reused from record to record (see pooled).
var riskRecords pooled[riskRecord]

func parseRisk(raw []byte, ev *event.Event) error {
	r := riskRecords.get()
	defer riskRecords.put(r)
	if err := decodeEvent(raw, ev, riskPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	p := &r.Properties.V
	if ev.Operation == "" {
		ev.Operation = ev.Category
	}
	// A risk record has no success or failure: it is a detection or a
	// state. ResultCode carries the state; Result stays unknown.
	ev.ResultCode = p.RiskState.String()
	if d := p.RiskDetail.String(); d != "" && !strings.EqualFold(d, "none") {
		ev.ResultReason = d
	}
	ev.RecordID = p.ID.String()
	state := strings.EqualFold(ev.Category, catRiskyUsers) || strings.EqualFold(ev.Category, catRiskyServicePrincipals)
	if state && ev.RecordID != "" {
		// A risky-user record is a snapshot keyed by the user's id: each
		// update is a new record, so the id alone would dedupe them away.
		ev.RecordID += "@" + p.RiskLastUpdatedDateTime.String()
	}

	a := event.Actor{IP: callerIP(p.IPAddress, r.CallerIPAddress)}
	switch {
	case strings.EqualFold(ev.Category, catRiskyServicePrincipals):
		a.Type = event.ActorServicePrincipal
		a.ObjectID = p.ID.String()
		a.AppID = p.AppID.String()
		a.Name = first(p.DisplayName, r.Identity)
	case strings.EqualFold(ev.Category, catServicePrincipalRiskEvents):
		a.Type = event.ActorServicePrincipal
		a.ObjectID = p.ServicePrincipalID.String()
		a.AppID = p.AppID.String()
		a.Name = first(p.ServicePrincipalName, p.DisplayName, r.Identity)
	default:
		a.Type = event.ActorUser
		a.UPN = p.UserPrincipalName.String()
		a.ObjectID = p.UserID.String()
		if a.ObjectID == "" && state {
			a.ObjectID = p.ID.String()
		}
		a.Name = first(p.UserDisplayName, r.Identity)
	}
	a.UserAgent = lookupKV(p.AdditionalInfo.V, "userAgent").String()
	ev.Actor = a
	ev.Geo.Country = p.Location.Country.String()
	ev.Geo.City = p.Location.City.String()

	ev.SetAll(
		"risk.event_type", first(p.RiskEventType, p.RiskType),
		"risk.level", p.RiskLevel.String(),
		"risk.state", p.RiskState.String(),
		"risk.detail", p.RiskDetail.String(),
		"risk.source", p.Source.String(),
		"risk.detection_timing", p.DetectionTimingType.String(),
		"risk.activity", p.Activity.String(),
	)
	return nil
}
