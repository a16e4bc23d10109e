package event

import (
	"reflect"
	"strings"
	"testing"
)

// refLookup is Lookup as it was written over ObjectEach, kept as the
// reference the walk without a closure must agree with.
func refLookup(raw []byte, path string) (vals []Value, found bool) {
	if len(raw) == 0 || path == "" {
		return nil, false
	}
	refLookupAt(raw, path, &vals, &found, 0)
	return vals, found
}

func refLookupAt(v []byte, path string, out *[]Value, found *bool, depth int) {
	if depth > 64 {
		return
	}
	i := SkipSpace(v, 0)
	if i >= len(v) {
		return
	}
	if path == "" {
		*found = true
		if v[i] == '[' {
			_ = ArrayEach(v[i:], func(el []byte) bool {
				*out = append(*out, JSONValue(el))
				return true
			})
			return
		}
		*out = append(*out, JSONValue(v[i:]))
		return
	}
	switch v[i] {
	case '{':
		var exact, folded []lookupCand
		_ = ObjectEach(v[i:], func(key, val []byte) bool {
			k := key[1 : len(key)-1]
			if len(k) > len(path) || len(k) < len(path) && path[len(k)] != '.' {
				return true
			}
			rest := path[len(k):]
			if len(rest) > 0 {
				rest = rest[1:]
			}
			if string(k) == path[:len(k)] {
				exact = append(exact, lookupCand{val, rest})
			} else if strings.EqualFold(string(k), path[:len(k)]) {
				folded = append(folded, lookupCand{val, rest})
			}
			return true
		})
		cands := exact
		if len(cands) == 0 {
			cands = folded
		}
		for _, c := range cands {
			refLookupAt(c.val, c.rest, out, found, depth+1)
		}
	case '[':
		_ = ArrayEach(v[i:], func(el []byte) bool {
			refLookupAt(el, path, out, found, depth+1)
			return true
		})
	case '"':
		s, ok := Unquote(v[i:])
		if !ok {
			return
		}
		t := strings.TrimSpace(s)
		if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			refLookupAt([]byte(t), path, out, found, depth+1)
		}
	}
}

// TestLookupAgreesWithReference: on records, every prefix of them (cut
// short, malformed) and a few broken shapes, Lookup finds what the
// ObjectEach-based walk found, for paths exact, folded, dotted and absent.
func TestLookupAgreesWithReference(t *testing.T) {
	records := []string{
		`{"time":"t","Level":"Warning","level":"x","properties":{"a.b":{"c":1},"a":{"b":{"c":2}},"Arr":[{"n":"1"},{"n":"2"},3],"s":"{\"in\":[1,2]}"}, "e" : { } ,"esc\"k":"v"}`,
		` { "A" : 1 , "a" : [ ] , "b" : { "c" : null } } `,
		`{"a":1,,"b":2}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":"x\ny"}`, `[{"a":1},{"A":2}]`, `"{\"a\":3}"`,
	}
	paths := []string{"time", "level", "Level", "LEVEL", "properties.a.b.c", "properties.a.b", "properties.arr.n",
		"properties.Arr", "properties.s.in", "e", "esc\\\"k", "a", "A", "b.c", "b", "missing", "properties.missing.x"}
	checked := 0
	for _, r := range records {
		for n := 0; n <= len(r); n++ {
			raw := []byte(r[:n])
			for _, p := range paths {
				gv, gf := Lookup(raw, p)
				wv, wf := refLookup(raw, p)
				if gf != wf || !reflect.DeepEqual(gv, wv) {
					t.Fatalf("Lookup(%q, %q) = %v, %v; reference %v, %v", raw, p, gv, gf, wv, wf)
				}
				if wf {
					checked++
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d lookups found something: the cases do not exercise the walk", checked)
	}
}

var benchRecord = []byte(`{"time":"2026-11-30T10:00:00Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs","resultType":"0","callerIpAddress":"203.0.113.7","Level":4,"properties":{"id":"a","createdDateTime":"2026-11-30T10:00:00Z","userPrincipalName":"a@b.example","appDisplayName":"Azure Portal","ipAddress":"203.0.113.7","clientAppUsed":"Browser","status":{"errorCode":0,"failureReason":"Other."},"deviceDetail":{"deviceId":"","operatingSystem":"Windows10","browser":"Edge"},"location":{"city":"Oslo","countryOrRegion":"NO"},"authenticationDetails":[{"authenticationMethod":"Password","succeeded":true}],"riskLevelDuringSignIn":"none","conditionalAccessStatus":"success"}}`)

var benchPaths = []string{"properties.status.errorCode", "properties.deviceDetail.browser", "properties.userPrincipalName", "Level", "properties.authenticationDetails.authenticationMethod"}

func BenchmarkLookup(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		for _, p := range benchPaths {
			Lookup(benchRecord, p)
		}
	}
}

func BenchmarkLookupReference(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		for _, p := range benchPaths {
			refLookup(benchRecord, p)
		}
	}
}
