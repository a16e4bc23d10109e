package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

const activityRecord = `{
 "time": "2026-11-20T09:12:44.1234567Z",
 "resourceId": "/SUBSCRIPTIONS/6F2C/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/SEND-TO-SIEM",
 "operationName": "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE",
 "Level": 4, "level": "Informational",
 "identity": {"claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "mallory@contoso.com", "appid": "04b07795"}},
 "properties": {
   "statusCode": "OK",
   "requestbody": "{\"properties\":{\"roleDefinitionId\":\"/providers/x/8e3af657\",\"principalType\":\"User\"}}",
   "targetResources": [
     {"type": "User", "modifiedProperties": [{"displayName": "Role.DisplayName", "newValue": "\"Global Administrator\""}]},
     {"type": "Role", "modifiedProperties": [{"displayName": "Role.TemplateId", "newValue": "\"62e90394\""}, {"displayName": "X", "newValue": null}]}
   ],
   "empty": [],
   "n": 12.5, "t": true, "esc": "caf\u00e9 \"q\""
 }
}`

func strs(vals []Value) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.String()
	}
	return out
}

func TestLookup(t *testing.T) {
	tests := []struct {
		path  string
		want  []string
		found bool
	}{
		{"operationName", []string{"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE"}, true},
		{"OPERATIONNAME", []string{"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE"}, true},
		// Exact case wins over folded case when both members exist.
		{"Level", []string{"4"}, true},
		{"level", []string{"Informational"}, true},
		// Member names containing dots.
		{"identity.claims.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", []string{"mallory@contoso.com"}, true},
		{"identity.claims.appid", []string{"04b07795"}, true},
		// JSON inside a string is followed.
		{"properties.requestbody.properties.roleDefinitionId", []string{"/providers/x/8e3af657"}, true},
		{"properties.requestBody.Properties.principaltype", []string{"User"}, true},
		// Arrays fan out.
		{"properties.targetResources.type", []string{"User", "Role"}, true},
		{"properties.targetResources.modifiedProperties.displayName", []string{"Role.DisplayName", "Role.TemplateId", "X"}, true},
		{"properties.targetResources.modifiedProperties.newValue", []string{`"Global Administrator"`, `"62e90394"`, ""}, true},
		{"properties.empty", []string{}, true},
		{"properties.n", []string{"12.5"}, true},
		{"properties.t", []string{"true"}, true},
		{"properties.esc", []string{`café "q"`}, true},
		{"properties.missing", nil, false},
		{"properties.statusCode.deeper", nil, false},
		{"nothing", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			vals, found := Lookup([]byte(activityRecord), tc.path)
			if found != tc.found {
				t.Fatalf("found = %v, want %v", found, tc.found)
			}
			got := strs(vals)
			if tc.want == nil {
				tc.want = []string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLookupNull(t *testing.T) {
	vals, found := Lookup([]byte(`{"a":null}`), "a")
	if !found || len(vals) != 1 || !vals[0].IsNull() {
		t.Fatalf("null member: got %v %v", vals, found)
	}
}

func TestGetNormalisedBeforeRaw(t *testing.T) {
	ev := &Event{Source: "activitylogs", Actor: Actor{UPN: "a@b.c", IP: "203.0.113.9"}, Raw: []byte(`{"actor":{"upn":"raw"}}`)}
	vals, ok := ev.Get(FieldActorUPN)
	if !ok || vals[0].String() != "a@b.c" {
		t.Fatalf("actor.upn = %v %v", vals, ok)
	}
	if _, ok := ev.Get(FieldCountry); ok {
		t.Fatal("empty normalised field reported as found")
	}
	ev.Set("signin.client_app", "IMAP4")
	if vals, ok := ev.Get("signin.client_app"); !ok || vals[0].String() != "IMAP4" {
		t.Fatalf("extra = %v %v", vals, ok)
	}
}

func TestSkipValueAgreesWithValid(t *testing.T) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":[1,2,{"b":null}],"c":"x\"y"}`, `"\\"`, `-1.5e+10`, `true`,
		`{'a':1}`, `{"a":}`, `[1,]`, `{"a" 1}`, `"open`, `{"a":"b"`, `[1 2]`, `nul`,
	} {
		end, err := SkipValue([]byte(s), 0)
		ok := err == nil && SkipSpace([]byte(s), end) == len(s)
		if ok != json.Valid([]byte(s)) {
			t.Errorf("%s: SkipValue ok=%v, json.Valid=%v", s, ok, json.Valid([]byte(s)))
		}
	}
}

func FuzzLookup(f *testing.F) {
	f.Add([]byte(activityRecord), "properties.targetResources.modifiedProperties.newValue")
	f.Add([]byte(`{"a":"{\"b\":[1,{\"c\":2}]}"}`), "a.b.c")
	f.Add([]byte(`[[[[`), "a")
	f.Fuzz(func(t *testing.T, raw []byte, path string) {
		vals, found := Lookup(raw, path)
		if !found && len(vals) > 0 {
			t.Fatal("values without found")
		}
		for _, v := range vals {
			_ = v.String()
		}
		if end, err := SkipValue(raw, 0); err == nil && end > len(raw) {
			t.Fatalf("SkipValue end %d past input %d", end, len(raw))
		}
	})
}

func TestKeyStable(t *testing.T) {
	// Keys are persisted: these values must never change between builds.
	byID := &Event{Source: "signinlogs", RecordID: "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b"}
	byRaw := &Event{Source: "activitylogs", Raw: []byte(`{"time":"2026-11-20T08:00:00Z","category":"Administrative","operationName":"X"}`)}
	if got, want := byID.Key(), "7b7d7e518fd7891f"; got != want {
		t.Errorf("key by id = %s, want %s", got, want)
	}
	if got, want := byRaw.Key(), "8fd244d7447877b8"; got != want {
		t.Errorf("key by raw = %s, want %s", got, want)
	}
	other := &Event{Source: "activitylogs", Raw: []byte(`{"time":"2026-11-20T08:00:00Z","category":"Administrative","operationName":"Y"}`)}
	if byRaw.Key() == other.Key() {
		t.Error("two records, one key")
	}
	before := byRaw.Key()
	byRaw.SetKey()
	if byRaw.Key() != before {
		t.Error("SetKey changed the key")
	}
}

// TestValueStringOfBrokenStrings: JSONValue takes any bytes; a value that
// opens a string and does not close it (one quote, a cut escape) reads as
// its content, neither panicking nor losing a byte of it.
func TestValueStringOfBrokenStrings(t *testing.T) {
	for raw, want := range map[string]string{
		`"`:      ``,
		`""`:     ``,
		`"ab`:    `ab`,
		`"a\`:    `a\`,
		`"a\"`:   `a\`,
		`"\u12"`: `\u12`,
		`"ok"`:   `ok`,
	} {
		v := JSONValue([]byte(raw))
		if got := v.String(); got != want {
			t.Errorf("String(%q) = %q, want %q", raw, got, want)
		}
		if got := v.Text(); got != want {
			t.Errorf("Text(%q) = %q, want %q", raw, got, want)
		}
	}
}

// Value.Text takes a string's bytes as they stand when PlainASCII (eight
// bytes at a time) passes them: it answers as the byte loop plainASCIIBytes
// for every byte at every place of strings around the word size, and
// Text as String.
func TestTextPlainASCII(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for at := 0; at < max(n, 1); at++ {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte("a"), n)
				if n > 0 {
					b[at] = byte(c)
				}
				if got, want := PlainASCII(b), plainASCIIBytes(b); got != want {
					t.Fatalf("PlainASCII(%q) = %t, byte loop %t", b, got, want)
				}
				raw := append(append([]byte(`"`), b...), '"')
				v := Value{raw: raw}
				if s, ok := Unquote(raw); ok && v.Text() != s {
					t.Fatalf("Text(%q) = %q, want %q", raw, v.Text(), s)
				}
			}
		}
	}
}
