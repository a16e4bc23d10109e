package invoke

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// plainArrayAgrees checks plainArray against DecodeValue on raw, for the
// three element types it takes: where it decodes, the same values as
// DecodeValue, which must succeed too; it reports whether it decoded.
func plainArrayAgrees[T any](t *testing.T, raw []byte) bool {
	t.Helper()
	var fast, ref []T
	ok := plainArray(raw, &fast)
	err := DecodeValue(raw, &ref)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("%T %q: plainArray decoded %v; DecodeValue: %v", fast, raw, fast, err)
	}
	if ref == nil {
		ref = []T{}
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%T %q: plainArray %v, DecodeValue %v", fast, raw, fast, ref)
	}
	return true
}

// hostArray is a metadata array as the host double-encodes it.
func hostArray(v any) []byte {
	inner, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	outer, err := json.Marshal(string(inner))
	if err != nil {
		panic(err)
	}
	return outer
}

// The host's metadata arrays of plain strings and integers are decoded
// without encoding/json (plainArray), to what DecodeValue makes of them;
// anything else goes DecodeValue's way.
func TestPlainArrayMatchesDecodeValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		fast bool // plainArray takes it (as strings or as integers)
	}{
		{"times", string(hostArray([]string{"2026-11-20T09:00:02.5", "2026-11-20T09:00:02.6"})), true},
		{"offsets", string(hostArray([]string{"4410231", "-1", ""})), true},
		{"sequence numbers", string(hostArray([]int64{88121, 0, -5, 9223372036854775807, -9223372036854775808})), true},
		{"empty", `"[]"`, true},
		{"blanks around", ` "[1,2]" `, true},
		{"one empty string", `"[\"\"]"`, true},
		{"non-ASCII", string(hostArray([]string{"café 中文 🙂"})), true},
		{"escaped quote in a value", string(hostArray([]string{`a"b`})), false},
		{"backslash in a value", string(hostArray([]string{`a\b`})), false},
		{"NUL in a value", string(hostArray([]string{"a\x00b"})), false},
		{"control escaped", `"[\"a\\u0001\"]"`, false},
		{"unicode escape", `"[\"caf\\u00e9\"]"`, false},
		{"surrogate pair", `"[\"\\ud83d\\ude42\"]"`, false},
		{"lone surrogate", `"[\"\\ud83d\"]"`, false},
		{"bad UTF-8", "\"[\\\"a\xffb\\\"]\"", false},
		{"null elements", `"[null,null]"`, true},
		{"nulls and strings", `"[null,\"a\",null]"`, true},
		{"empty objects", `"[{},{},{}]"`, true},
		{"empty objects and nulls", `"[{},null]"`, true},
		{"objects with members", `"[{\"a\":1}]"`, false},
		{"object with a blank", `"[{ }]"`, false},
		{"null and more", `"[nullx]"`, false},
		{"object and more", `"[{}x]"`, false},
		{"integers and strings", `"[1,\"1\"]"`, true},
		{"true", `"[true]"`, false},
		{"blanks inside", `"[1, 2]"`, false},
		{"blanks inside strings array", `"[\"a\", \"b\"]"`, false},
		{"trailing comma", `"[1,]"`, false},
		{"leading comma", `"[,1]"`, false},
		{"two commas", `"[1,,2]"`, false},
		{"leading zero", `"[01]"`, false},
		{"minus alone", `"[-]"`, false},
		{"plus", `"[+1]"`, false},
		{"float", `"[1.5]"`, false},
		{"exponent", `"[1e3]"`, false},
		{"overflow (taken as json.RawMessage only)", `"[9223372036854775808]"`, true},
		{"underflow (taken as json.RawMessage only)", `"[-9223372036854775809]"`, true},
		{"single-encoded", `[1,2]`, false},
		{"not an array", `"{\"a\":1}"`, false},
		{"string not closed", `"[\"a]"`, false},
		{"quote not escaped", `"[\"a"b\"]"`, false},
		{"outer escape of a quote", `"[\u0022a\u0022]"`, false},
		{"escaped slash", `"[\"a\/b\"]"`, false},
		{"escaped backslash before the quote", `"[\"a\\\\\"]"`, false},
		{"nested", `"[[1]]"`, false},
		{"huge", string(hostArray(strings.Split(strings.Repeat("0123456789abcdef,", 20000), ","))), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			got := plainArrayAgrees[string](t, raw)
			got = plainArrayAgrees[json.RawMessage](t, raw) || got
			got = plainArrayAgrees[int64](t, raw) || got
			got = plainArrayAgrees[*string](t, raw) || got
			got = plainArrayAgrees[map[string]json.RawMessage](t, raw) || got
			if got != tc.fast {
				t.Errorf("plainArray takes %q: %t, want %t", raw, got, tc.fast)
			}
		})
	}
}

// A 1,000-record batch's metadata takes the plain path, and DecodeEventHub
// gives what it gave with encoding/json alone.
func TestPlainArrayTakesABatch(t *testing.T) {
	req, err := ParseRequest(benchEventHubBody(t, DataTypeString))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{metaSequenceNumberArray, metaOffsetStringArray, metaEnqueuedTimeUtcArray, metaOffsetArray,
		metaPartitionKeyArray, metaPropertiesArray} {
		raw, ok := req.Meta(key)
		if !ok {
			continue
		}
		taken := plainArrayAgrees[string](t, raw)
		taken = plainArrayAgrees[int64](t, raw) || taken
		taken = plainArrayAgrees[*string](t, raw) || taken
		taken = plainArrayAgrees[map[string]json.RawMessage](t, raw) || taken
		plainArrayAgrees[json.RawMessage](t, raw)
		if !taken {
			t.Errorf("Metadata.%s %.80q: not taken by plainArray", key, raw)
		}
	}
}

func FuzzPlainArray(f *testing.F) {
	for _, s := range []string{`"[1,2]"`, `"[\"a\",\"b\"]"`, `"[]"`, `"[\"\"]"`, `"[-0]"`, `"[\"a\\u0000\"]"`, `"[null]"`, `"[\"\u00e9\"]"`, `"[null,{}]"`, `"[{},{}]"`, `"[null,\"a\"]"`} {
		f.Add([]byte(s))
	}
	f.Add(hostArray([]string{"2026-11-20T09:00:02.5"}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		plainArrayAgrees[string](t, raw)
		plainArrayAgrees[json.RawMessage](t, raw)
		plainArrayAgrees[int64](t, raw)
		plainArrayAgrees[*string](t, raw)
		plainArrayAgrees[map[string]json.RawMessage](t, raw)
	})
}
