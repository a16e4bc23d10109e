package source

import (
	"reflect"
	"strings"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// activitySource is the Azure Activity Log in its diagnostic-settings shape
// (log-schemas §4), Defender for Cloud alerts included (category Security, §5).
var activitySource = Source{
	Name:        "activitylogs",
	Description: "Azure Activity Log (control plane: Administrative, Security/Defender alerts, Policy, health, alerts, Advisor, Autoscale; legacy Write/Delete/Action)",
	Reference:   "https://learn.microsoft.com/azure/azure-monitor/essentials/activity-log-schema",
	Categories: []string{
		"Administrative", "Security", "ServiceHealth", "ResourceHealth", "Alert",
		"Recommendation", "Policy", "Autoscale",
		// Written by the retired log profiles, still in old archives.
		"Write", "Delete", "Action",
	},
	Parse:  parseActivity,
	Extras: 9,
}

type activityRecord struct {
	envelope
	EventDataID text                         `json:"eventDataId"`
	Identity    activityIdentity             `json:"identity"`
	Properties  embedded[activityProperties] `json:"properties"`
}

// activityIdentity is an object (claims, authorization) in the Activity Log;
// a plain name string has been seen on other categories and is kept as Name.
type activityIdentity struct {
	Name     string
	Claims   claims
	Evidence evidence
}

// evidence is identity.authorization.evidence: the role assignment that let
// the caller act. Its principalType tells user from app when claims are thin.
type evidence struct {
	Role          text `json:"role"`
	PrincipalID   text `json:"principalId"`
	PrincipalType text `json:"principalType"`
}

// activityIdentityJSON is an identity written as an object.
type activityIdentityJSON struct {
	Claims        embedded[claims]                `json:"claims"`
	Authorization embedded[activityAuthorization] `json:"authorization"`
}

type activityAuthorization struct {
	Evidence evidence `json:"evidence"`
}

// decodeActivityIdentity decodes an identity (as the typed decoding did,
// see activity_test.go): null
// leaves it, a string is the Name, anything else decodes as an object of
// its own (whose first type error is the identity's) that replaces Claims
// and Evidence.
func decodeActivityIdentity(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int {
	a := (*activityIdentity)(p)
	if vi >= len(d.B) {
		return d.Skip(vi)
	}
	switch d.B[vi] {
	case 'n':
		return d.Skip(vi)
	case '"':
		var t text
		end := d.text(vi, &t)
		if !d.Bad {
			a.Name = t.String()
		}
		return end
	}
	obj := identityRecords.get()
	defer identityRecords.put(obj)
	err, saved := d.err, d.root()
	d.err = nil
	end := d.decodeStruct(vi, identityPlan, unsafe.Pointer(obj))
	d.path = saved
	if d.err == nil {
		a.Claims = obj.Claims.V
		a.Evidence = obj.Authorization.V.Evidence
	}
	if err != nil {
		d.err = err
	}
	return end
}

// identityRecords are reused (see pooled).
var identityRecords pooled[activityIdentityJSON]

// claims are the caller's token claims that tell who (log-schemas §4.2).
type claims struct {
	UPN           text `json:"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"`
	NameURI       text `json:"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"`
	Email         text `json:"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"`
	SPN           text `json:"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/spn"`
	ObjectID      text `json:"http://schemas.microsoft.com/identity/claims/objectidentifier"`
	TenantID      text `json:"http://schemas.microsoft.com/identity/claims/tenantid"`
	AuthnMethods  text `json:"http://schemas.microsoft.com/claims/authnmethodsreferences"`
	Name          text `json:"name"`
	AppID         text `json:"appid"`
	IDType        text `json:"idtyp"`
	IPAddr        text `json:"ipaddr"`
	ManagedIDPath text `json:"xms_mirid"`
}

type activityProperties struct {
	StatusCode        text          `json:"statusCode"`
	StatusMessage     statusMessage `json:"statusMessage"`
	EventName         text          `json:"eventName"`
	AlertDisplayName  text          `json:"AlertDisplayName"`
	SeverityUpper     text          `json:"Severity"`
	SeverityLower     text          `json:"severity"`
	CompromisedEntity text          `json:"compromisedEntity"`
}

var activityPlan, identityPlan, statusBodyPlan *plan

func init() {
	statusBodyPlan = planOf(reflect.TypeFor[statusBody]())
	identityPlan = planOf(reflect.TypeFor[activityIdentityJSON]())
	customDecoders[reflect.TypeFor[activityIdentity]()] = decodeActivityIdentity
	customDecoders[reflect.TypeFor[statusMessage]()] = decodeStatusMessage
	activityPlan = planOf(reflect.TypeFor[activityRecord]())
}

// activityRecords are reused from record to record (see pooled).
var activityRecords pooled[activityRecord]

func parseActivity(raw []byte, ev *event.Event) error {
	r := activityRecords.get()
	defer activityRecords.put(r)
	if err := decodeEvent(raw, ev, activityPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	p := &r.Properties.V
	ev.ResultCode = r.ResultType.String()
	ev.Result = activityResult(ev.ResultCode, r.ResultSignature.String())
	if ev.Result == event.ResultFailure {
		ev.ResultReason = first(r.ResultDescription, text(p.StatusMessage), r.ResultSignature)
	}
	ev.RecordID = r.EventDataID.String()
	ev.Actor = activityActor(&r.Identity, r.CallerIPAddress, isPlatformCategory(ev.Category))
	if ev.TenantID == "" {
		ev.TenantID = r.Identity.Claims.TenantID.String()
	}
	ev.Target = ev.Resource.Name
	ev.Geo.Region = r.Location.String()

	ev.SetAll(
		"activity.status_code", p.StatusCode.String(),
		"activity.result_signature", r.ResultSignature.String(),
		"activity.event_name", p.EventName.String(),
		"activity.principal_type", r.Identity.Evidence.PrincipalType.String(),
		"activity.role", r.Identity.Evidence.Role.String(),
		"activity.authn_methods", r.Identity.Claims.AuthnMethods.String(),
	)

	if isDefenderAlert(ev.Category, ev.Operation) {
		// The alert id is the last resourceId segment (log-schemas §5). The
		// Active and the Resolved record of one alert both carry it: the
		// status keeps them two records while a redelivery stays one.
		ev.RecordID = ev.Resource.Name + "/" + strings.ToLower(ev.ResultCode)
		if ce := p.CompromisedEntity.String(); ce != "" {
			ev.Target = ce
		}
		ev.Set("defender.severity", lowerAs(first(p.SeverityUpper, p.SeverityLower), "high", "medium", "low", "informational"))
		ev.Set("defender.alert_name", first(p.AlertDisplayName, p.EventName))
		ev.Set("defender.compromised_entity", p.CompromisedEntity.String())
	}
	return nil
}

// isDefenderAlert tells a Defender for Cloud alert among Security records.
func isDefenderAlert(category, operation string) bool {
	return strings.EqualFold(category, "Security") &&
		hasPrefixFold(operation, "microsoft.security/")
}

// activityResult maps resultType, the vocabularies of every category
// (log-schemas §4.4), falling back to the resultSignature status.
//
//	Start, Started, Accept, Accepted, In Progress      -> inprogress
//	Success, Succeeded, Active, Activated, Resolved,
//	Updated                                            -> success (the event happened: a health event, alert or recommendation raised or closed)
//	Failure, Failed                                    -> failure
func activityResult(resultType, signature string) event.Result {
	var buf [40]byte
	if strings.IndexByte(resultType, ' ') >= 0 {
		resultType = strings.ReplaceAll(resultType, " ", "")
	}
	switch string(lowerWord(&buf, resultType)) {
	case "start", "started", "accept", "accepted", "inprogress":
		return event.ResultInProgress
	case "success", "succeeded", "active", "activated", "resolved", "updated":
		return event.ResultSuccess
	case "failure", "failed":
		return event.ResultFailure
	}
	status, _, _ := strings.Cut(signature, ".")
	switch string(lowerWord(&buf, status)) {
	case "started", "accepted":
		return event.ResultInProgress
	case "succeeded":
		return event.ResultSuccess
	case "failed":
		return event.ResultFailure
	}
	return event.ResultUnknown
}

// activityActor derives who from the claims: UPN claim, then the name URI
// claim, then an e-mail address claim for the UPN; the display name, or a
// platform caller's name (emailaddress "Microsoft.Advisor", spn) for Name;
// then app id and object id (event.Actor.ID keeps that order).
//
// Platform categories (health, alerts, Advisor, Autoscale) have no human
// caller: the e-mail claim there names a service (AcmClient@microsoft.com)
// and goes to Name with the platform type.
func activityActor(id *activityIdentity, caller text, platform bool) event.Actor {
	c := &id.Claims
	ev := id.Evidence
	a := event.Actor{
		ObjectID: first(c.ObjectID, ev.PrincipalID),
		AppID:    c.AppID.String(),
		IP:       callerIP(caller, c.IPAddr),
	}
	email := c.Email.String()
	a.UPN = first(c.UPN, c.NameURI)
	if a.UPN == "" && !platform && strings.Contains(email, "@") {
		a.UPN = email
	}
	a.Name = first(c.Name)
	if a.Name == "" && a.UPN == "" {
		if email != "" && (platform || !strings.Contains(email, "@")) {
			a.Name = email
		} else {
			a.Name = first(c.SPN)
		}
		if a.Name == "" {
			a.Name = id.Name
		}
	}
	a.Type = activityActorType(c, ev.PrincipalType.String(), a)
	if platform && a.Type == "" && a.Name != "" {
		a.Type = event.ActorPlatform
	}
	return a
}

// isPlatformCategory tells the Activity categories written by Azure itself.
func isPlatformCategory(category string) bool {
	var buf [40]byte
	switch string(lowerWord(&buf, category)) {
	case "servicehealth", "resourcehealth", "alert", "recommendation", "autoscale":
		return true
	}
	return false
}

// activityActorType: the token's idtyp, else the role evidence's
// principalType, else what the claims present say.
func activityActorType(c *claims, principalType string, a event.Actor) string {
	var buf [40]byte
	switch string(lowerWord(&buf, c.IDType.String())) {
	case "user":
		return event.ActorUser
	case "app":
		if c.ManagedIDPath.String() != "" {
			return event.ActorManagedIdentity
		}
		return event.ActorServicePrincipal
	}
	switch string(lowerWord(&buf, principalType)) {
	case "user":
		return event.ActorUser
	case "serviceprincipal":
		if c.ManagedIDPath.String() != "" {
			return event.ActorManagedIdentity
		}
		return event.ActorServicePrincipal
	}
	switch {
	case c.ManagedIDPath.String() != "":
		return event.ActorManagedIdentity
	case a.UPN != "":
		return event.ActorUser
	case c.SPN.String() != "" || (c.Email.String() != "" && a.AppID == "" && a.ObjectID == ""):
		return event.ActorPlatform
	case a.AppID != "" || a.ObjectID != "":
		// An app token with no user in it: a confidential client.
		return event.ActorServicePrincipal
	}
	return ""
}

// statusMessage is the RP's answer on a failure: a JSON string holding
// {"error":{"code","message"}}, or plain text. It reads as "code: message".
type statusMessage string

// statusBody is a statusMessage that holds JSON.
type statusBody struct {
	Error struct {
		Code    text `json:"code"`
		Message text `json:"message"`
	} `json:"error"`
}

// message sets m to "code: message" when the body has either.
func (b *statusBody) message(m *statusMessage) {
	if e := b.Error; e.Code != "" || e.Message != "" {
		*m = statusMessage(strings.TrimPrefix(e.Code.String()+": "+e.Message.String(), ": "))
	}
}

// decodeStatusMessage decodes a statusMessage: its text, or "code:
// message" when it is (or holds) a JSON body with either.
func decodeStatusMessage(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int {
	m := (*statusMessage)(p)
	var t text
	end := d.text(vi, &t)
	if d.Bad {
		return end
	}
	*m = statusMessage(t.String())
	// The body is decoded on its own: its errors are not the record's.
	var body statusBody
	sub := decoder{Scanner: event.Scanner{B: d.B[vi:end]}}
	sub.End(sub.embedded(0, func(d *decoder, vi int) int {
		return d.decodeStruct(vi, statusBodyPlan, unsafe.Pointer(&body))
	}))
	if sub.err == nil && !sub.Bad {
		body.message(m)
	}
	return end
}
