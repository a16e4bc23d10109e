package source

import (
	"testing"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

func TestActivityGolden(t *testing.T) { runGolden(t, "activitylogs") }

func TestActivityResult(t *testing.T) {
	tests := []struct {
		resultType, signature string
		want                  event.Result
	}{
		{"Start", "Started.", event.ResultInProgress},
		{"Accept", "Accepted.Created", event.ResultInProgress},
		{"In Progress", "", event.ResultInProgress},
		{"Started", "", event.ResultInProgress},
		{"Success", "Succeeded.OK", event.ResultSuccess},
		{"Succeeded", "", event.ResultSuccess},
		{"Active", "", event.ResultSuccess},
		{"Activated", "", event.ResultSuccess},
		{"Resolved", "", event.ResultSuccess},
		{"Updated", "", event.ResultSuccess},
		{"Failure", "Failed.Forbidden", event.ResultFailure},
		{"Failed", "", event.ResultFailure},
		{"", "Failed.Conflict", event.ResultFailure},
		{"", "Succeeded.NoContent", event.ResultSuccess},
		{"", "Started.", event.ResultInProgress},
		{"Odd", "", event.ResultUnknown},
	}
	for _, tc := range tests {
		if got := activityResult(tc.resultType, tc.signature); got != tc.want {
			t.Errorf("activityResult(%q, %q) = %q, want %q", tc.resultType, tc.signature, got, tc.want)
		}
	}
}

func TestActivityActor(t *testing.T) {
	tests := []struct {
		name     string
		identity string
		caller   string
		platform bool
		want     event.Actor
	}{
		{
			name:     "user with upn, trimmed",
			identity: `{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":" admin@contoso.com ","name":"John Smith","appid":"app","http://schemas.microsoft.com/identity/claims/objectidentifier":"oid"}}`,
			caller:   "81.2.69.143",
			want:     event.Actor{UPN: "admin@contoso.com", Name: "John Smith", AppID: "app", ObjectID: "oid", Type: event.ActorUser, IP: "81.2.69.143"},
		},
		{
			name:     "name claim when no upn",
			identity: `{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":" guest@fabrikam.com"}}`,
			want:     event.Actor{UPN: "guest@fabrikam.com", Type: event.ActorUser},
		},
		{
			name:     "email claim for an MSA user",
			identity: `{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress":"live@outlook.com","idtyp":"user"}}`,
			want:     event.Actor{UPN: "live@outlook.com", Type: event.ActorUser},
		},
		{
			name:     "service principal by idtyp, ip from claims with port stripped",
			identity: `{"claims":{"appid":"app","idtyp":"app","ipaddr":"10.1.2.3"}}`,
			caller:   "",
			want:     event.Actor{AppID: "app", Type: event.ActorServicePrincipal, IP: "10.1.2.3"},
		},
		{
			name:     "service principal by evidence",
			identity: `{"authorization":{"evidence":{"principalId":"pid","principalType":"ServicePrincipal"}},"claims":{"appid":"app"}}`,
			caller:   "1.2.3.4:5678",
			want:     event.Actor{AppID: "app", ObjectID: "pid", Type: event.ActorServicePrincipal, IP: "1.2.3.4"},
		},
		{
			name:     "managed identity",
			identity: `{"claims":{"appid":"app","idtyp":"app","xms_mirid":"/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"}}`,
			want:     event.Actor{AppID: "app", Type: event.ActorManagedIdentity},
		},
		{
			name:     "platform spn",
			identity: `{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/spn":"Microsoft.Insights/alertRules"}}`,
			platform: true,
			want:     event.Actor{Name: "Microsoft.Insights/alertRules", Type: event.ActorPlatform},
		},
		{
			name:     "platform e-mail is a name",
			identity: `{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress":"AcmClient@microsoft.com"}}`,
			platform: true,
			want:     event.Actor{Name: "AcmClient@microsoft.com", Type: event.ActorPlatform},
		},
		{
			name:     "identity as a string",
			identity: `"John Doe"`,
			want:     event.Actor{Name: "John Doe"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var id activityIdentity
			err := decodeRecord([]byte(tc.identity), func(d *decoder, vi int) int {
				return decodeActivityIdentity(d, nil, false, vi, unsafe.Pointer(&id))
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := activityActor(&id, text(tc.caller), tc.platform); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
func FuzzParseActivity(f *testing.F) { fuzzSource(f, activitySource, "activitylogs") }

// The typed decoding by goccy/go-json that parseActivity used before the
// one-pass decoder (decodeActivityIdentity, decodeStatusMessage): kept as
// the methods unmarshal calls, in the tests only, so that
// TestDecodeEquivalence and FuzzDecodeEquivalence compare the two.

// UnmarshalJSON: null leaves it, a string is the Name, anything else an
// object of its own.
func (a *activityIdentity) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	if b[0] == '"' {
		var t text
		if err := t.UnmarshalJSON(b); err != nil {
			return err
		}
		a.Name = t.String()
		return nil
	}
	var obj activityIdentityJSON
	if err := unmarshal(b, &obj); err != nil {
		return err
	}
	a.Claims = obj.Claims.V
	a.Evidence = obj.Authorization.V.Evidence
	return nil
}

// UnmarshalJSON: the text, or "code: message" of a JSON body.
func (m *statusMessage) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	*m = statusMessage(t.String())
	var body embedded[statusBody]
	if err := body.UnmarshalJSON(b); err == nil {
		body.V.message(m)
	}
	return nil
}
