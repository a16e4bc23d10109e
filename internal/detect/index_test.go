package detect

import (
	"reflect"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// The index must answer exactly what event.Lookup answers.
func TestRecordIndexAgreesWithLookup(t *testing.T) {
	paths := []string{
		"category", "CATEGORY", "operationName", "resultType", "properties", "properties.message",
		"properties.activityDisplayName", "properties.category", "properties.targetResources",
		"properties.targetResources.modifiedProperties", "properties.targetResources.modifiedProperties.newValue",
		"properties.targetResources.modifiedProperties.newValue.State", "properties.status.errorCode",
		"properties.deviceDetail.trustType", "PROPERTIES.DEVICEDETAIL.TRUSTTYPE", "properties.networkLocationDetails",
		"properties.requestbody.Properties.RoleDefinitionId", "properties.additionalDetails.value",
		"identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "identity.claims.appid",
		"properties.riskEventType", "a.b", "a.b.c", "x", "missing", "properties.missing.deep",
	}
	events := sampleEvents(t)
	for _, tc := range sigmaCases {
		events = append(events, mustEvent(t, withEnvelope(tc.raw)))
	}
	extra := [][]byte{
		[]byte(`{"a.b":{"c":1},"a":{"b":{"c":2}},"A":{"B":3},"x":"[{\"y\":1}]"}`),
		[]byte(`{"a":{"b":1},"A":{"b":2}}`),
		[]byte(`{"properties":"{\"message\":\"in a string\",\"targetResources\":[{\"modifiedProperties\":[{\"newValue\":\"[{\\\"State\\\":0}]\"}]}]}"}`),
		[]byte(`[{"category":"one"},{"category":"two"}]`),
		[]byte(`{"K\u00e9y":1,"kÉy":2}`),
	}
	for _, raw := range extra {
		events = append(events, &event.Event{Raw: raw})
	}
	for _, ev := range events {
		x := newFieldCache()
		x.reset(ev)
		for _, p := range paths {
			want, wantFound := event.Lookup(ev.Raw, p)
			got, gotFound := x.idx.lookup(ev.Raw, p)
			if wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(got)) {
				t.Errorf("path %q in %.200s:\nindex  %t %q\nLookup %t %q", p, ev.Raw, gotFound, texts(got), wantFound, texts(want))
			}
		}
	}
}

func texts(vs []event.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v.Raw())
	}
	return out
}

func FuzzRecordIndex(f *testing.F) {
	f.Add([]byte(`{"a.b":{"c":1},"a":{"b":{"c":2}},"A":{"B":3},"x":"[{\"y\":1}]"}`), "a.b.c")
	f.Add([]byte(`{"properties":{"targetResources":[{"modifiedProperties":[{"newValue":"x"}]}]}}`), "properties.targetResources.modifiedProperties.newValue")
	f.Fuzz(func(t *testing.T, raw []byte, path string) {
		want, wantFound := event.Lookup(raw, path)
		x := newFieldCache()
		x.reset(&event.Event{Raw: raw})
		got, gotFound := x.idx.lookup(raw, path)
		if wantFound != gotFound || !reflect.DeepEqual(texts(want), texts(got)) {
			t.Fatalf("path %q in %q: index %t %q, Lookup %t %q", path, raw, gotFound, texts(got), wantFound, texts(want))
		}
	})
}
