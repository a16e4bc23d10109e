package detect

import (
	"reflect"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestGetIntoAgrees: getInto (the alert's summary and severity) finds
// what get without a cache finds, value for value, over first-found,
// union and single-candidate fields, picks, raw paths into strings of
// JSON, arrays and missing members, normalised names set and blank, with
// room to spare, none, and values in the room before.
func TestGetIntoAgrees(t *testing.T) {
	records := []string{
		`{"category":"UserRiskEvents","callerIpAddress":"10.0.0.9","properties":{"riskLevel":"high","riskEventType":" passwordSpray ","userPrincipalName":"Ann@Contoso.com","ipAddress":"","result":"failure","resultReason":"  ","initiatedBy":{"user":{"userPrincipalName":"bob@contoso.com","ipAddress":"192.0.2.7"},"app":{"displayName":"App"}},"targetResources":[{"userPrincipalName":"c@x","displayName":"C","type":"User"},{"displayName":"D","type":"Group"}],"additionalDetails":[{"key":"additionalInfo","value":"v1"},{"key":"additionalInfo","value":"v2"}],"x":["  ","b c",null],"y":"{\"z\":\" in string \"}"}}`,
		`{"properties":{"riskLevel":["low","medium"],"targetResources":[],"initiatedBy":{"app":{"servicePrincipalName":"spn"}},"status":{"failureReason":"Invalid","additionalDetails":"MFA"}}}`,
		`{"properties":"not an object"}`,
		`[1,2]`,
		``,
	}
	fields := []struct{ service, name string }{
		{"riskdetection", "properties.riskLevel"}, {"riskdetection", "properties.riskEventType"},
		{"riskdetection", "properties.userPrincipalName"}, {"riskdetection", "properties.ipAddress"},
		{"riskdetection", "riskLevel"}, {"auditlogs", "status"}, {"auditlogs", "initiatedby"}, {"auditlogs", "target"},
		{"auditlogs", "ipaddress"}, {"auditlogs", "additionaldetails.additionalinfo"}, {"auditlogs", "targetresources.type"},
		{"signinlogs", "status"}, {"signinlogs", "properties.x"}, {"signinlogs", "properties.y.z"}, {"signinlogs", "x"},
		{"signinlogs", "actor.upn"}, {"signinlogs", "event.result"}, {"signinlogs", "callerIpAddress"}, {"signinlogs", "nothing.here"},
	}
	before := event.StringValue("before")
	for ri, raw := range records {
		for _, upn := range []string{"", "   ", "Bob@contoso.com"} {
			for _, f := range fields {
				ev := &event.Event{Source: f.service, Raw: []byte(raw), Actor: event.Actor{UPN: upn, IP: upn},
					Target: upn, Result: event.Result(upn)}
				res := newResolver(f.service, f.name)
				want, wantFound := res.get(ev, nil)
				var room [4]event.Value
				for _, dst := range [][]event.Value{nil, room[:0], room[:1:1], {before}} {
					n := len(dst)
					var first event.Value
					if n > 0 {
						first = dst[0]
					}
					got, found := res.getInto(ev, dst)
					if found != wantFound || len(got)-n != len(want) || len(want) > 0 && !reflect.DeepEqual(got[n:], want) {
						t.Errorf("record %d, upn %q, %s %s, room %d: getInto %v %t, get %v %t", ri, upn, f.service, f.name, n, got[n:], found, want, wantFound)
					}
					if n > 0 && !reflect.DeepEqual(got[0], first) {
						t.Errorf("record %d, %s: the room's value before was written over", ri, f.name)
					}
				}
			}
		}
	}
}

// TestNormaliseLevelAgrees: NormaliseLevel's words as written give what
// the map gives them in any case and with spaces; other words are not
// levels.
func TestNormaliseLevelAgrees(t *testing.T) {
	for word, want := range levels {
		for _, s := range []string{word, strings.ToUpper(word), " " + word + "\t", strings.ToUpper(word[:1]) + word[1:]} {
			if got, ok := NormaliseLevel(s); !ok || got != want {
				t.Errorf("NormaliseLevel(%q) = %q, %t; want %q", s, got, ok, want)
			}
		}
	}
	for _, s := range []string{"", "hi", "highest", "none", "hidden", "\xff", "hIgh2"} {
		if got, ok := NormaliseLevel(s); ok {
			t.Errorf("NormaliseLevel(%q) = %q, a level", s, got)
		}
	}
}

// TestSharedReadsAgain: a path read again on one record (an alert's
// severity field in its summary) finds what event.Lookup finds, copied
// from the shared index's arena, among other paths, other reads into the
// arena (sharedFirst), and other records read between (the index pointed
// elsewhere and back).
func TestSharedReadsAgain(t *testing.T) {
	one := &event.Event{Source: "riskdetection", Raw: []byte(`{"properties":{"riskLevel":"high","riskState":"atRisk","ipAddress":"192.0.2.1","x":["a","b"],"y":"{\"z\":1}"}}`)}
	two := &event.Event{Source: "riskdetection", Raw: []byte(`{"properties":{"riskLevel":"low","riskState":"dismissed","x":["c"]}}`)}
	paths := []string{"properties.riskLevel", "properties.x", "properties.riskLevel", "properties.missing", "properties.y.z",
		"properties.x", "properties.missing", "properties.riskState", "properties.riskLevel"}
	for round := range 3 {
		for i, path := range paths {
			for _, ev := range []*event.Event{one, one, two, one} {
				if round == 1 && i%2 == 0 {
					sharedFirst(ev, "properties.ipAddress", keyID("properties.ipAddress"))
				}
				want, wantFound := event.Lookup(ev.Record(), path)
				got, found := sharedLookupInto(ev, path, keyID(path), nil)
				if found != wantFound || len(got) != len(want) || len(want) > 0 && !reflect.DeepEqual(got, want) {
					t.Fatalf("round %d, %s in %s: %v %t, want %v %t", round, path, ev.Raw, got, found, want, wantFound)
				}
			}
		}
	}
}
