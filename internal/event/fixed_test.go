package event

import (
	"testing"
)

// fixedEvent is an event whose every fixed name has a value of its own.
func fixedEvent() *Event {
	return &Event{
		Source: "v-source", Category: "v-category", Operation: "v-operation", Result: "v-result",
		ResultCode: "v-result_code", ResultReason: "v-result_reason", Severity: "v-severity",
		CorrelationID: "v-correlation_id", TenantID: "v-tenant_id", RecordID: "v-id", Target: "v-target",
		Actor: Actor{UPN: "v-upn", Name: "v-name", ObjectID: "v-object_id", AppID: "v-app_id",
			AppName: "v-app_name", Type: "v-type", IP: "v-ip", UserAgent: "v-user_agent"},
		Resource: Resource{ID: "v-resource.id", Subscription: "v-subscription", Group: "v-group",
			Provider: "v-provider", Type: "v-resource.type", Name: "v-resource.name"},
		Geo: Geo{Region: "v-region", Country: "v-country", City: "v-city"},
	}
}

// Each fixed name reads its own field by number: the field the name's
// suffix names (actor.id is the actor's summary, its UPN here).
func TestFixedFieldReadsItsField(t *testing.T) {
	ev := fixedEvent()
	want := map[string]string{
		FieldSource: "v-source", FieldCategory: "v-category", FieldOperation: "v-operation",
		FieldResult: "v-result", FieldResultCode: "v-result_code", FieldResultReason: "v-result_reason",
		FieldSeverity: "v-severity", FieldCorrelationID: "v-correlation_id", FieldTenantID: "v-tenant_id",
		FieldRecordID: "v-id", FieldTarget: "v-target", FieldActorID: "v-upn", FieldActorUPN: "v-upn",
		FieldActorName: "v-name", FieldActorObjectID: "v-object_id", FieldActorAppID: "v-app_id",
		FieldActorAppName: "v-app_name", FieldActorType: "v-type", FieldActorIP: "v-ip",
		FieldActorAgent: "v-user_agent", FieldResourceID: "v-resource.id", FieldSubscription: "v-subscription",
		FieldResourceGroup: "v-group", FieldProvider: "v-provider", FieldResourceType: "v-resource.type",
		FieldResourceName: "v-resource.name", FieldRegion: "v-region", FieldCountry: "v-country", FieldCity: "v-city",
	}
	if len(want) != len(fixedFieldNames) {
		t.Fatalf("%d fixed names, the test knows %d", len(fixedFieldNames), len(want))
	}
	for i, name := range fixedFieldNames {
		f, ok := FixedFieldOf(name)
		if !ok || int(f) != i {
			t.Fatalf("FixedFieldOf(%q) = %d, %v; want %d", name, f, ok, i)
		}
		if got := ev.Fixed(f); got != want[name] {
			t.Errorf("Fixed(%q) = %q, want %q", name, got, want[name])
		}
		if got, ok := ev.Normalised(name); !ok || got != want[name] {
			t.Errorf("Normalised(%q) = %q, %v", name, got, ok)
		}
	}
}

// Names that are not fixed (other case, a prefix, Extra's, Fields',
// raw paths) are not numbered, and Normalised answers them as
// NormalisedOther does: Fields first, then Extra.
func TestFixedFieldOthers(t *testing.T) {
	ev := fixedEvent()
	ev.Set("signin.client_app", "browser")
	ev.Set("flow.src_ip", "extra-ip")
	ev.Fields = mapFields{"flow.src_ip": "10.0.0.1", "flow.none": ""}
	for _, name := range []string{"", "Source", "event.Result", "actor", "actor.upn ", "geo.city.x",
		"signin.client_app", "flow.src_ip", "flow.none", "properties.x", "event.result\x00"} {
		if _, ok := FixedFieldOf(name); ok {
			t.Errorf("FixedFieldOf(%q) numbered", name)
		}
		v1, ok1 := ev.Normalised(name)
		v2, ok2 := ev.NormalisedOther(name)
		if v1 != v2 || ok1 != ok2 {
			t.Errorf("%q: Normalised %q,%v; NormalisedOther %q,%v", name, v1, ok1, v2, ok2)
		}
	}
	if v, _ := ev.Normalised("flow.src_ip"); v != "10.0.0.1" {
		t.Errorf("flow.src_ip = %q, want the Fields' value first", v)
	}
	if v, ok := ev.Normalised("flow.none"); v != "" || !ok {
		t.Errorf("flow.none = %q, %v: a known name with no value", v, ok)
	}
	if v, _ := ev.Normalised("signin.client_app"); v != "browser" {
		t.Errorf("signin.client_app = %q", v)
	}
}

type mapFields map[string]string

func (m mapFields) Field(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// FuzzFixedField: a name is numbered exactly when it is a fixed name.
func FuzzFixedField(f *testing.F) {
	for _, n := range fixedFieldNames {
		f.Add(n)
	}
	f.Add("event.resul")
	f.Fuzz(func(t *testing.T, name string) {
		fx, ok := FixedFieldOf(name)
		known := -1
		for i, n := range fixedFieldNames {
			if n == name {
				known = i
			}
		}
		if ok != (known >= 0) || ok && int(fx) != known {
			t.Fatalf("FixedFieldOf(%q) = %d, %v; the names say %d", name, fx, ok, known)
		}
	})
}

// fixedFieldNames are the FixedFields' names, by number.
var fixedFieldNames = [...]string{
	FieldSource,
	FieldCategory,
	FieldOperation,
	FieldResult,
	FieldResultCode,
	FieldResultReason,
	FieldSeverity,
	FieldCorrelationID,
	FieldTenantID,
	FieldRecordID,
	FieldTarget,
	FieldActorID,
	FieldActorUPN,
	FieldActorName,
	FieldActorObjectID,
	FieldActorAppID,
	FieldActorAppName,
	FieldActorType,
	FieldActorIP,
	FieldActorAgent,
	FieldResourceID,
	FieldSubscription,
	FieldResourceGroup,
	FieldProvider,
	FieldResourceType,
	FieldResourceName,
	FieldRegion,
	FieldCountry,
	FieldCity,
}
