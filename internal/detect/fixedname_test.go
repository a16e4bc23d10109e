package detect

import (
	"slices"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// A resolver reads its names by the numbers newGetName gave them
// (getFixed, single through normalisedAt): what event.Get finds for each
// name, for the mapped fields of every service, names that are fixed,
// Extra's, raw paths, and names that look like them in another case.
func TestResolverNamesAgreeWithGet(t *testing.T) {
	records := []string{
		`{"category":"SignInLogs","resultType":"0","properties":{"userPrincipalName":"a@b.c","status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication","userAgent":"UA","ipAddress":"1.2.3.4","appId":"app"}}`,
		`{"category":"AuditLogs","operationName":"Add member","properties":{"result":"success","activityDisplayName":"Add member","initiatedBy":{"user":{"userPrincipalName":"x@y"}},"targetResources":[{"userPrincipalName":"t@y","modifiedProperties":[{"displayName":"ConsentContext.IsAdminConsent","newValue":"\"True\""}]}]}}`,
		`{"category":"Administrative","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE","resultType":"Success","resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v","properties":{"message":"m","eventCategory":"Administrative"}}`,
		`{"category":"UserRiskEvents","properties":{"riskEventType":"leakedCredentials","userPrincipalName":"r@s"}}`,
	}
	var names []string
	for _, m := range fieldMaps {
		for n := range m {
			names = append(names, n)
		}
	}
	names = append(names, "actor.upn", "event.result", "Event.Result", "geo.country",
		"signin.authentication_requirement", "properties.userAgent", "ResultType", "resultType",
		"operationName", "source", "flow.src_ip", "none.such")
	slices.Sort(names)
	c := newFieldCache()
	for _, raw := range records {
		ev := mustEvent(t, raw)
		ev.Set("flow.src_ip", "10.0.0.9") // an Extra name like a flow name
		for service := range fieldMaps {
			for _, name := range names {
				r := newResolver(service, name)
				// Each name candidate, read by its number (getFixed),
				// with the cache and without.
				for i, cand := range r.cands {
					g, ok := cand.(getName)
					if !ok {
						continue
					}
					want, wantFound := ev.Get(g.name)
					for _, cache := range []*fieldCache{nil, c} {
						if cache != nil {
							cache.reset(ev)
						}
						got, found := cand.get(ev, cache, r.ids[i])
						if found != wantFound || !sameValues(got, want) {
							t.Fatalf("%s %q: %q (cache %v): %v %v, Get %v %v", service, name, g, cache != nil, got, found, want, wantFound)
						}
					}
				}
				// single, where it answers, is the first value get finds.
				if s, found, ok := r.single(ev); ok {
					vals, f2 := r.get(ev, nil)
					if found != f2 || found && (len(vals) != 1 || vals[0].String() != s) {
						t.Fatalf("%s %q: single %q %v, get %v %v", service, name, s, found, vals, f2)
					}
				}
			}
		}
	}
}

func sameValues(a, b []event.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() || a[i].IsNull() != b[i].IsNull() {
			return false
		}
	}
	return true
}
