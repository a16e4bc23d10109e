package source

import (
	"reflect"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// signInSource is the Entra ID sign-in logs, every kind (log-schemas §6).
var signInSource = Source{
	Name:        "signinlogs",
	Description: "Entra ID sign-ins: interactive and non-interactive users, service principals, managed identities, Microsoft first-party apps, AD FS",
	Reference:   "https://learn.microsoft.com/entra/identity/monitoring-health/reference-azure-monitor-sign-ins-log-schema",
	Categories: []string{
		catSignIn, "NonInteractiveUserSignInLogs", catServicePrincipalSignIn,
		catManagedIdentitySignIn, catMicrosoftServicePrincipalSignIn, "ADFSSignInLogs",
	},
	Parse:  parseSignIn,
	Extras: 17,
}

const (
	catSignIn                          = "SignInLogs"
	catServicePrincipalSignIn          = "ServicePrincipalSignInLogs"
	catManagedIdentitySignIn           = "ManagedIdentitySignInLogs"
	catMicrosoftServicePrincipalSignIn = "MicrosoftServicePrincipalSignInLogs"
)

type signInRecord struct {
	envelope
	Identity   text                       `json:"identity"`
	Properties embedded[signInProperties] `json:"properties"`
}

type signInProperties struct {
	ID                        text `json:"id"`
	CorrelationID             text `json:"correlationId"`
	UserPrincipalName         text `json:"userPrincipalName"`
	UserID                    text `json:"userId"`
	UserDisplayName           text `json:"userDisplayName"`
	UserType                  text `json:"userType"`
	AppID                     text `json:"appId"`
	AppDisplayName            text `json:"appDisplayName"`
	ServicePrincipalID        text `json:"servicePrincipalId"`
	ServicePrincipalName      text `json:"servicePrincipalName"`
	ResourceID                text `json:"resourceId"`
	ResourceDisplayName       text `json:"resourceDisplayName"`
	IPAddress                 text `json:"ipAddress"`
	UserAgent                 text `json:"userAgent"`
	ClientAppUsed             text `json:"clientAppUsed"`
	AuthenticationRequirement text `json:"authenticationRequirement"`
	AuthenticationProtocol    text `json:"authenticationProtocol"`
	ConditionalAccessStatus   text `json:"conditionalAccessStatus"`
	RiskLevelDuringSignIn     text `json:"riskLevelDuringSignIn"`
	RiskLevelAggregated       text `json:"riskLevelAggregated"`
	RiskState                 text `json:"riskState"`
	IsInteractive             text `json:"isInteractive"`
	CrossTenantAccessType     text `json:"crossTenantAccessType"`
	TokenIssuerType           text `json:"tokenIssuerType"`
	Status                    struct {
		ErrorCode     text `json:"errorCode"`
		FailureReason text `json:"failureReason"`
	} `json:"status"`
	Location struct {
		City    text `json:"city"`
		Country text `json:"countryOrRegion"`
	} `json:"location"`
	DeviceDetail struct {
		DeviceID        text `json:"deviceId"`
		OperatingSystem text `json:"operatingSystem"`
		Browser         text `json:"browser"`
		TrustType       text `json:"trustType"`
	} `json:"deviceDetail"`
	MFADetail struct {
		AuthMethod text `json:"authMethod"`
	} `json:"mfaDetail"`
}

var signInPlan = planOf(reflect.TypeFor[signInRecord]())

// signInRecords are reused from record to record (see pooled).
var signInRecords pooled[signInRecord]

func parseSignIn(raw []byte, ev *event.Event) error {
	r := signInRecords.get()
	defer signInRecords.put(r)
	if err := decodeEvent(raw, ev, signInPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	p := &r.Properties.V

	// status.errorCode is the outcome; resultType repeats it as text.
	ev.ResultCode = first(p.Status.ErrorCode, r.ResultType)
	switch ev.ResultCode {
	case "":
	case "0":
		ev.Result = event.ResultSuccess
	default:
		ev.Result = event.ResultFailure
		ev.ResultReason = first(p.Status.FailureReason, r.ResultDescription)
	}
	ev.RecordID = p.ID.String()
	if ev.CorrelationID == "" {
		ev.CorrelationID = p.CorrelationID.String()
	}
	ev.Actor = signInActor(ev.Category, r, p)
	ev.Target = first(p.ResourceDisplayName, p.ResourceID)
	ev.Geo.Country = first(p.Location.Country, r.Location)
	ev.Geo.City = p.Location.City.String()

	ev.SetAll(
		"signin.authentication_requirement", p.AuthenticationRequirement.String(),
		"signin.authentication_protocol", p.AuthenticationProtocol.String(),
		"signin.client_app", p.ClientAppUsed.String(),
		"signin.conditional_access_status", p.ConditionalAccessStatus.String(),
		"signin.risk_level_during_signin", p.RiskLevelDuringSignIn.String(),
		"signin.risk_level_aggregated", p.RiskLevelAggregated.String(),
		"signin.risk_state", p.RiskState.String(),
		"signin.is_interactive", p.IsInteractive.String(),
		"signin.user_type", p.UserType.String(),
		"signin.cross_tenant_access_type", p.CrossTenantAccessType.String(),
		"signin.token_issuer_type", p.TokenIssuerType.String(),
		"signin.resource_id", p.ResourceID.String(),
		"signin.device_id", p.DeviceDetail.DeviceID.String(),
		"signin.device_os", p.DeviceDetail.OperatingSystem.String(),
		"signin.device_browser", p.DeviceDetail.Browser.String(),
		"signin.device_trust_type", p.DeviceDetail.TrustType.String(),
		"signin.mfa_method", p.MFADetail.AuthMethod.String(),
	)
	return nil
}

// signInActor: users for the user categories; the service principal (or
// managed identity) for the app categories, where user fields are empty.
func signInActor(category string, r *signInRecord, p *signInProperties) event.Actor {
	a := event.Actor{
		AppID:     p.AppID.String(),
		AppName:   p.AppDisplayName.String(),
		IP:        callerIP(p.IPAddress, r.CallerIPAddress),
		UserAgent: p.UserAgent.String(),
	}
	switch {
	case strings.EqualFold(category, catManagedIdentitySignIn):
		a.Type = event.ActorManagedIdentity
	case strings.EqualFold(category, catServicePrincipalSignIn),
		strings.EqualFold(category, catMicrosoftServicePrincipalSignIn):
		a.Type = event.ActorServicePrincipal
	default:
		a.Type = event.ActorUser
	}
	if a.Type == event.ActorUser {
		a.UPN = p.UserPrincipalName.String()
		a.ObjectID = p.UserID.String()
		a.Name = first(p.UserDisplayName, r.Identity)
		return a
	}
	a.Name = first(p.ServicePrincipalName, p.AppDisplayName, r.Identity)
	a.ObjectID = p.ServicePrincipalID.String()
	if a.AppName == "" {
		a.AppName = p.ServicePrincipalName.String()
	}
	return a
}
