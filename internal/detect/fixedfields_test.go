package detect

import "testing"

// TestFixedFields: only resolvers whose every candidate is one of the
// event's own fields (Normalised's fixed names) are fixed; the kinds then
// point no field cache at the event for their group-by and terms. A name
// an event may answer from its Extra or raw record is not.
func TestFixedFields(t *testing.T) {
	for _, c := range []struct {
		service, name string
		want          bool
	}{
		{"signinlogs", "actor.upn", true},
		{"signinlogs", "geo.country", true},
		{"activitylogs", "event.correlation_id", true},
		{"signinlogs", "ipaddress", false}, // mapped: actor.ip, then raw paths
		{"signinlogs", "properties.location.geoCoordinates.latitude", false},
		{"signinlogs", "signin.authentication_protocol", false}, // an Extra name
		{"auditlogs", "status", false},                          // anyOf
		{"flowlogs", "flow.src_ip", false},
	} {
		if got := newResolver(c.service, c.name).fixed; got != c.want {
			t.Errorf("%s %s: fixed %v, want %v", c.service, c.name, got, c.want)
		}
	}
}
