package source

import (
	"slices"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

func TestAuditGolden(t *testing.T) { runGolden(t, "auditlogs") }

func TestAuditResult(t *testing.T) {
	tests := map[string]event.Result{
		"success": event.ResultSuccess, "Success": event.ResultSuccess,
		"failure": event.ResultFailure, "timeout": event.ResultFailure,
		"": event.ResultUnknown, "other": event.ResultUnknown,
	}
	for in, want := range tests {
		if got := auditResult(in); got != want {
			t.Errorf("auditResult(%q) = %q, want %q", in, got, want)
		}
	}
}
func FuzzParseAudit(f *testing.F) { fuzzSource(f, auditSource, "auditlogs") }

// TestAuditLayoutModifiedProperties: the objects of every
// targetResources[].modifiedProperties are in the record's layout (the
// rule engine reads them in place), in ascending order with the rest,
// whatever the array holds; and a record whose modifiedProperties is no
// array of objects parses as before (unmarshal ignores the member).
func TestAuditLayoutModifiedProperties(t *testing.T) {
	reg := newTestRegistry(t)
	const head = `{"time":"2026-11-20T10:05:00Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Update user","category":"AuditLogs","properties":{"result":"success","targetResources":[`
	for _, tr := range []string{
		`{"id":"u1","modifiedProperties":[{"displayName":"AccountEnabled","oldValue":"[true]","newValue":"[false]"},{"displayName":"X"}]},{"id":"u2","modifiedProperties":[]}`,
		`{"id":"u1","modifiedProperties":[1,"s",null,{"displayName":"A"},[{"b":1}],{}]}`,
		`{"id":"u1","modifiedProperties":"[{\"displayName\":\"A\"}]"}`,
		`{"id":"u1","modifiedProperties":{"displayName":"A"}}`,
		`{"id":"u1","modifiedProperties":null},{"modifiedProperties":7}`,
	} {
		raw := []byte(head + tr + `]}}`)
		ev, status, err := reg.Parse(raw)
		if status != Parsed {
			t.Fatalf("%s: %v %v", tr, status, err)
		}
		var want []int32
		for _, v := range mustLookup(ev.Raw, "properties.targetResources.modifiedProperties") {
			if off := cap(ev.Raw) - cap(v); len(v) > 0 && v[0] == '{' && off < len(ev.Raw) && &ev.Raw[off] == &v[0] {
				want = append(want, int32(off))
			}
		}
		objs := ev.Layout.Objects
		for i := 1; i < len(objs); i++ {
			if objs[i] <= objs[i-1] {
				t.Fatalf("%s: layout objects not ascending: %v", tr, objs)
			}
		}
		for _, off := range want {
			if !slices.Contains(objs, off) {
				t.Errorf("%s: modifiedProperties object at %d not in the layout %v", tr, off, objs)
			}
		}
	}
}

// mustLookup returns the raw values at path in raw, each a sub-slice of
// raw where it is one there (the elements of arrays on the way).
func mustLookup(raw []byte, path string) [][]byte {
	var out [][]byte
	vals, _ := event.Lookup(raw, path)
	for _, v := range vals {
		out = append(out, v.Raw())
	}
	return out
}
