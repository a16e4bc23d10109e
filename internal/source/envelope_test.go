package source

import (
	"bytes"
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" = must fail
	}{
		{"2019-10-18T09:45:48.0729893Z", "2019-10-18T09:45:48.0729893Z"},
		{"2025-10-17T11:50:07.22Z", "2025-10-17T11:50:07.22Z"},
		{"2023-04-11T13:35:20Z", "2023-04-11T13:35:20Z"},
		{"2017-07-21T09:24:13.5Z", "2017-07-21T09:24:13.5Z"},
		{"2022-01-24T04:59:49.2279838+00:00", "2022-01-24T04:59:49.2279838Z"},
		{"2019-10-18T04:45:48.0729893-05:00", "2019-10-18T09:45:48.0729893Z"},
		{"2022-09-09T9:59:27.958Z", "2022-09-09T09:59:27.958Z"},
		{"2023-04-11T13:35:20", "2023-04-11T13:35:20Z"},
		{"8/22/2022 6:11:52 PM", "2022-08-22T18:11:52Z"},
		{"11/14/2025 1:48:53 AM", "2025-11-14T01:48:53Z"},
		{"7/5/2022 12:32:21 PM", "2022-07-05T12:32:21Z"},
		{"12/12/2025 3:03:58 PM", "2025-12-12T15:03:58Z"},
		{"11/3/2020 9:06:42 AM +00:00", "2020-11-03T09:06:42Z"},
		{"11/3/2020 9:06:42 AM +02:00", "2020-11-03T07:06:42Z"},
		{"Fri, 21 Jul 2017 01:00:51 GMT", "2017-07-21T01:00:51Z"},
		{"Thursday, 19-Jun-14 22:58:10 GMT", "2014-06-19T22:58:10Z"},
		{" 2023-04-11T13:35:20Z ", "2023-04-11T13:35:20Z"},
		{"yesterday", ""},
		{"2022-13-01T00:00:00Z", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseTime(tc.in)
			if tc.want == "" {
				if ok {
					t.Fatalf("parsed %q as %v, want failure", tc.in, got)
				}
				return
			}
			if !ok {
				t.Fatalf("cannot parse %q", tc.in)
			}
			if got.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Location())
			}
			if s := got.Format(time.RFC3339Nano); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
		})
	}
	if _, err := eventTime(""); !errors.Is(err, ErrMissingTime) {
		t.Errorf("empty time: %v, want ErrMissingTime", err)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		lower, upper string
		want         string
	}{
		{"Informational", "", event.SeverityInformational},
		{"Information", "", event.SeverityInformational},
		{"", "4", event.SeverityInformational},
		{"4", "", event.SeverityInformational},
		{"Informational", "5", event.SeverityInformational}, // the word wins over the number
		{"", "5", event.SeverityVerbose},
		{"Warning", "", event.SeverityWarning},
		{"ERROR", "", event.SeverityError},
		{"", "1", event.SeverityCritical},
		{"Critical", "", event.SeverityCritical},
		{"odd", "3", event.SeverityWarning},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := severity(tc.lower, tc.upper); got != tc.want {
			t.Errorf("severity(%q, %q) = %q, want %q", tc.lower, tc.upper, got, tc.want)
		}
	}
}

func TestCallerIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"81.2.69.143", "81.2.69.143"},
		{"10.0.0.1:52311", "10.0.0.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"},
		{"::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"},
		{" 1.2.3.4 ", "1.2.3.4"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := callerIP(text(tc.in)); got != tc.want {
			t.Errorf("callerIP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := callerIP("", "5.6.7.8"); got != "5.6.7.8" {
		t.Errorf("fallback: got %q", got)
	}
}

// TestDecoderDrift checks the typed decoding against the type drift Azure
// writes, with the package decoder and encoding/json agreeing.
func TestDecoderDrift(t *testing.T) {
	type rec struct {
		envelope
		Duration   text                       `json:"durationMs"`
		Identity   text                       `json:"identity"`
		Properties embedded[struct{ A text }] `json:"properties"`
	}
	tests := []struct {
		name, in                       string
		upper, lower, dur, identity, a string
	}{
		{"both levels", `{"Level":5,"level":"Informational"}`, "5", "Informational", "", "", ""},
		{"level order reversed", `{"level":"Warning","Level":"3"}`, "3", "Warning", "", "", ""},
		{"duration number", `{"durationMs":78}`, "", "", "78", "", ""},
		{"duration string", `{"durationMs":"78"}`, "", "", "78", "", ""},
		{"identity string", `{"identity":"John Doe"}`, "", "", "", "John Doe", ""},
		{"identity object", `{"identity":{"claims":{}}}`, "", "", "", `{"claims":{}}`, ""},
		{"properties object", `{"properties":{"A":"x"}}`, "", "", "", "", "x"},
		{"properties string", `{"properties":"{\"A\":\"x\"}"}`, "", "", "", "", "x"},
		{"properties pseudo JSON", `{"properties":"{'A':'x'}"}`, "", "", "", "", ""},
		{"properties null", `{"properties":null}`, "", "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for dec, fn := range map[string]func([]byte, any) error{"unmarshal": unmarshal, "encoding/json": stdjson.Unmarshal} {
				var r rec
				if err := fn([]byte(tc.in), &r); err != nil {
					t.Fatalf("%s: %v", dec, err)
				}
				got := [5]string{string(r.LevelUpper), string(r.LevelLower), string(r.Duration), string(r.Identity), string(r.Properties.V.A)}
				want := [5]string{tc.upper, tc.lower, tc.dur, tc.identity, tc.a}
				if got != want {
					t.Errorf("%s: got %q, want %q", dec, got, want)
				}
			}
		})
	}
}

// The one-pass decoder (decodeInto) replaced unmarshal, the typed decoding
// by goccy/go-json, for the hottest sources. These tests hold the two to
// the same results on any input: the same error text, and when there is
// none the same decoded record. unmarshal stays in the package for the
// other sources, so the comparison stays runnable.

// decodeCase is one record type decoded both ways.
type decodeCase struct {
	name    string
	compare func(raw []byte) (oldErr, newErr error, oldV, newV any)
}

func decodeBoth[T any](name string, pl *plan) decodeCase {
	// The flow logs' flows keep where they are in the layout when there
	// is one (flowsRead): their records are compared without.
	sameWithLayout := !strings.Contains(name, "flow")
	return decodeCase{name, func(raw []byte) (error, error, any, any) {
		var o, n, nl T
		oe := unmarshal(bytes.Clone(raw), &o)
		ne := decodeInto(raw, pl, &n)
		// Decoded again keeping the layout, as a record's own parse is
		// (decodeEvent): predictedRun only takes part then. Both ways
		// must agree, and the layout with the objects' members.
		l := event.NewLayout()
		defer event.ReleaseLayout(l)
		le := decodeRecordLayout(raw, l, func(d *decoder, vi int) int { return d.decodeStruct(vi, pl, unsafe.Pointer(&nl)) })
		if (le == nil) != (ne == nil) || le != nil && le.Error() != ne.Error() || le == nil && sameWithLayout && !reflect.DeepEqual(n, nl) {
			return oe, fmt.Errorf("decoded with a layout: %v %+v; without: %v %+v", le, nl, ne, n), &o, &n
		}
		// (event.ObjectEach, the layout's reference, takes records
		// nested as deep as event.SkipValue does.)
		if _, serr := event.SkipValue(raw, 0); le == nil && serr == nil {
			if err := layoutAgrees(raw, l); err != nil {
				return oe, err, &o, &n
			}
		}
		return oe, ne, &o, &n
	}}
}

// layoutAgrees checks that each object of layout l chains the members
// event.ObjectEach finds in it, in order, with their names and values.
func layoutAgrees(raw []byte, l *event.Layout) error {
	if len(l.First) != len(l.Objects) {
		return fmt.Errorf("layout: %d objects, %d first members", len(l.Objects), len(l.First))
	}
	for k, at := range l.Objects {
		var want []string
		if err := event.ObjectEach(raw[at:], func(key, val []byte) bool {
			want = append(want, string(key[1:len(key)-1])+"="+string(val))
			return true
		}); err != nil {
			return fmt.Errorf("layout: object %d at %d: %v", k, at, err)
		}
		var got []string
		for m := l.First[k]; m >= 0; m = l.Members[m].Next {
			ms := l.Members[m]
			if int(ms.Object) != k || m >= int32(len(l.Members)) || len(got) > len(raw) {
				return fmt.Errorf("layout: object %d at %d: member %d is of object %d", k, at, m, ms.Object)
			}
			got = append(got, string(raw[ms.KeyStart:ms.KeyEnd])+"="+string(raw[ms.ValStart:ms.ValEnd]))
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("layout: object %d at %d: members %q, want %q", k, at, got, want)
		}
	}
	return nil
}

func decodeCases() []decodeCase {
	return []decodeCase{
		decodeBoth[signInRecord]("signin", signInPlan),
		decodeBoth[activityRecord]("activity", activityPlan),
		decodeBoth[auditRecord]("audit", auditPlan),
		decodeBoth[riskRecord]("risk", riskPlan),
		decodeBoth[keyVaultRecord]("keyvault", keyVaultPlan),
		decodeBoth[storageBlobRecord]("storageblob", storageBlobPlan),
		decodeBoth[nsgFlowRecord]("nsgflow", nsgFlowPlan),
		decodeBoth[vnetFlowRecord]("vnetflow", vnetFlowPlan),
	}
}

func checkDecodeEqual(t *testing.T, raw []byte) {
	t.Helper()
	for _, c := range decodeCases() {
		oe, ne, o, n := c.compare(raw)
		if (oe == nil) != (ne == nil) || (oe != nil && oe.Error() != ne.Error()) {
			t.Fatalf("%s: %q\nunmarshal error: %v\ndecoder error:   %v", c.name, raw, oe, ne)
		}
		if oe == nil && !reflect.DeepEqual(o, n) {
			t.Fatalf("%s: %q\nunmarshal: %+v\ndecoder:   %+v", c.name, raw, o, n)
		}
	}
}

// decodeSeeds are the edge cases of the decoding rules, beside every
// golden input and public sample.
var decodeSeeds = []string{
	// Nesting at and past the limit in a member that is no field (taken
	// by predictedRun's scanner once the name is learned).
	`{"properties":{"zz":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `,"zz":` + strings.Repeat("[", 9997) + strings.Repeat("]", 9997) + `}}`,
	`{"properties":{"zz":[],"zz":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}}`,
	`{"properties":{"zz":[],"zz":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}}`,
	`{"properties":{"zz":{},"zz":{"a":{"b":[1,]}}}}`,
	`{"time":"2024-01-01T00:00:00Z","category":"SignInLogs","properties":{"status":"x","id":"1"}}`,
	`{"properties":"{\"status\":\"x\",\"id\":\"1\"}"}`,
	`{"properties":"{\"id\":\"1\",\"status\":{\"errorCode\":5}, bad"}`,
	`{"properties":"  [1,2]"}`, `{"properties":[1]}`, `{"properties":5}`, `{"properties":"x"}`,
	`{"properties":{"STATUS":7}}`, `{"properties":{"sta\u0074us":[]}}`, `{"properties":{"status":{"errorCode":1},"status":{"failureReason":"r"}}}`,
	`{"properties":{"status":true}}`, `{"properties":{"status":null}}`, `{"properties":{"status":{"errorCode":null}}}`,
	`{"Level":5,"level":"Informational","LEVEL":"x","lEvel":"y"}`, `{"TIME":"a","time":"b","Time":"c"}`,
	`{"\u0074ime":"x"}`, `{"tim\u212a":"x"}`, `{"ſtatus":1}`, `{"properties":{"\u017ftatus":1}}`, `{"properties":{"mfadetail":{"AUTHMETHOD":"sms"}}}`,
	`{"time":"\u00e9\ud83d\ude00","category":"caf\u00e9","location":"\xff"}`, "{\"location\":\"\xff\xfe\"}",
	`{"time":1.5e3,"category":true,"resultType":-0,"location":{"a":[1,{"b":null}]}}`,
	`{"identity":"John"}`, `{"identity":5}`, `{"identity":[1]}`, `{"identity":{"claims":[1]}}`, `{"identity":{"claims":"x","authorization":"{\"evidence\":{\"role\":\"Owner\"}}"}}`,
	`{"identity":{"authorization":{"evidence":"x"}}}`, `{"identity":{"authorization":[]}}`, `{"identity":"A","identity":{"claims":{"name":"n"}}}`,
	`{"identity":{"claims":{"name":"n"}},"identity":{}}`, `{"identity":{"claims":{"name":"n"}},"identity":null}`, `{"identity":{"claims":{"name":"n"}},"identity":"s"}`,
	`{"identity":{"authorization":{"evidence":1}},"properties":[]}`, `{"properties":[],"identity":{"authorization":{"evidence":1}}}`,
	`{"properties":{"statusMessage":"{\"error\":{\"code\":\"C\",\"message\":\"M\"}}"}}`,
	`{"properties":{"statusMessage":{"error":{"code":"C"}}}}`, `{"properties":{"statusMessage":{"error":"x"}}}`, `{"properties":{"statusMessage":null}}`,
	`{"properties":{"statusMessage":"{\"error\":\"x\"}"}}`, `{"properties":{"statusMessage":"{\"error\":{\"code\":1}} x"}}`,
	`{"properties":{"Severity":"High","severity":"low","SEVERITY":"m"}}`,
	`{"properties":{"initiatedBy":{"user":5}}}`, `{"properties":"{\"initiatedBy\":{\"app\":5}}"}`, `{"properties":"{\"initiatedBy\":{\"app\":x"}`,
	`{"properties":{"initiatedBy":{"user":{"id":"1"},"user":{"displayName":"d"}}}}`, `{"properties":{"initiatedBy":{"user":{"id":"1"},"user":null}}}`,
	`{"properties":{"targetResources":[{"id":"1","type":"x"},{"id":"2"}],"targetResources":[{"type":"3"}]}}`,
	`{"properties":{"targetResources":[{"id":"1"},{"id":"2"}],"targetResources":[{"type":"3"}],"targetResources":[{"displayName":"4"},{"displayName":"5"}]}}`,
	`{"properties":{"targetResources":[{"id":"1"}],"targetResources":[]}}`, `{"properties":{"targetResources":[]}}`, `{"properties":{"targetResources":null}}`,
	`{"properties":{"targetResources":[1,{"id":"2"}]}}`, `{"properties":{"targetResources":{}}}`, `{"properties":{"targetResources":"x"}}`,
	`{"properties":{"targetResources":[{"id":"1","modifiedProperties":[{"displayName":"a","newValue":5},1,"x",[],{"MODIFIEDPROPERTIES":{}}]},{"modifiedProperties":{"a":{}}},{"modifiedProperties":"s"}]}}`,
	`{"properties":{"targetResources":[{"modifiedProperties":[{"a":}]}]}}`, `{"properties":{"targetResources":[{"ModifiedProperties":[{"displayName":{}}],"initiatedBy":5}]}}`,
	`{"properties":{"targetResources":[{"modifiedProperties":[{"x":1}],"modifiedProperties":null}],"initiatedBy":[]}}`,
	`{"properties":"{\"targetResources\":[{\"id\":\"1\"},{\"id\":2}, x"}`, `{"properties":"{\"targetResources\":[{\"id\":\"1\"},"}`,
	`{"properties":{"additionalDetails":[{"key":"User-Agent","value":"A"}],"additionalDetails":[{"value":"B"}]}}`,
	`{"properties":{"additionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"ua\"}]"}}`, `{"properties":{"additionalInfo":{}}}`, `{"properties":{"additionalInfo":[{"Key":"a"},5]}}`,
	`{"properties":{"additionalInfo":"[{\"Key\":\"a\"},5,{\"Key\":\"b\"}]"}}`, `{"properties":{"location":"x","additionalInfo":[]}}`,
	`{"a":01}`, `{"a":1.}`, `{"a":"\q"}`, "{\"a\":\"\x01\"}", `{"a":tru}`, `{"a":1,}`, `{"a":1} x`, `{"a":[1,]}`, ``, ` `, `null`, `[]`, `"x"`, `5`, `{`, `{"a"`, `{"a":`,
	`{"properties":{"status":"x"},"a":-}`, `{"identity":{"claims":{}}}  `, "\t{\"time\":\"x\"}\r\n",
	`{"properties":{"addedAccessPolicy":{"ObjectId":"o","Permissions":{"keys":["Get",5,"list",{}],"secrets":"all"}}}}`,
	`{"properties":"{\"addedAccessPolicy\":{\"Permissions\":{\"keys\":[\"get\"]}}}"}`, `{"properties":{"removedAccessPolicy":{"Permissions":{"keys":null,"keys":["a"]}}}}`,
	`{"identity":{"claim":"{\"upn\":\"u\"}"}}`, `{"identity":{"claim":{"upn":5,"oid":[1]}}}`, `{"identity":{"requester":{"upn":5}}}`, `{"identity":{"requester":"x","type":"SAS"}}`,
	`{"properties":{"Version":2,"flows":[]},"macAddress":"00","systemId":null}`, `{"flowLogVersion":4,"targetResourceID":{}}`,
	// An embedded value cut short or malformed inside an embedded text:
	// unmarshal decodes none of it (it hands UnmarshalJSON whole values).
	`{"properties":"{\"addedAccessPolicy\":{\"Permissions\":{\"keys\":[0], x"}`, `{"properties":"{\"addedAccessPolicy\":{\"ObjectId\":\"o\",\"Permissions\":{\"keys\":[\"a\",\"b\"]}"}`, `{"properties":"{\"id\":\"i\",\"addedAccessPolicy\":{\"ObjectId\":\"o\""}`,
	`{"properties":"{\"addedAccessPolicy\":{\"ObjectId\":\"o\",},\"id\":\"i\"}"}`, `{"properties":"{\"addedAccessPolicy\":{\"ObjectId\":\"o\",\"x\":tru},\"id\":\"i\"}"}`, `{"properties":"{\"addedAccessPolicy\":{\"ObjectId\":\"o\"},\"id\":\"i\",}"}`,
}

func TestDecodeEquivalence(t *testing.T) {
	for _, s := range decodeSeeds {
		checkDecodeEqual(t, []byte(s))
	}
	deep := strings.Repeat(`{"properties":`, event.MaxStrictDepth-1)
	for _, tail := range []string{`1`, `{}`, `{"a":1}`, `[]`} {
		raw := deep + tail + strings.Repeat("}", event.MaxStrictDepth-1)
		checkDecodeEqual(t, []byte(raw))
	}
	for _, raw := range decodeCorpus(t) {
		checkDecodeEqual(t, raw)
	}
	// Long arrays: past the elements decoded in place.
	for _, n := range []int{63, 64, 65, 130} {
		els := make([]string, n)
		for i := range els {
			els[i] = fmt.Sprintf(`{"id":"%d"}`, i)
		}
		arr := "[" + strings.Join(els, ",") + "]"
		checkDecodeEqual(t, []byte(`{"properties":{"targetResources":`+arr+`}}`))
		checkDecodeEqual(t, []byte(`{"properties":{"targetResources":[{"type":"t"},{"type":"u"}],"targetResources":`+arr+`,"targetResources":[{"type":"v"}]}}`))
		checkDecodeEqual(t, []byte(`{"properties":{"targetResources":`+arr+`,"targetResources":`+arr[:len(arr)-1]+`,{"type":"w"}]}}`))
		checkDecodeEqual(t, []byte(`{"properties":"{\"targetResources\":`+strings.ReplaceAll(arr, `"`, `\"`)+`, x"}`))
	}
}

// decodeCorpus is every record of the golden inputs and public samples.
func decodeCorpus(t testing.TB) [][]byte {
	var out [][]byte
	add := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_ = Records(bytes.NewReader(data), func(rec Record) error {
			out = append(out, bytes.Clone(rec.Bytes))
			return nil
		})
	}
	for _, dir := range goldenDirs {
		for _, in := range goldenInputs(t, dir) {
			add(in)
		}
	}
	_ = filepath.WalkDir(samplesDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".md") {
			add(path)
		}
		return nil
	})
	return out
}

// FuzzDecodeEquivalence: go test -run '^$' -fuzz FuzzDecodeEquivalence ./internal/source/
func FuzzDecodeEquivalence(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	for _, raw := range decodeCorpus(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkDecodeEqual(t, raw) })
}

// fieldSet.find answers as the rules of decoder (an exact name first,
// else the first folded one in struct order) read with strings.EqualFold:
// every byte value at every place of names of every length around the
// word sizes, with the key's array ending right after it or running on.
func TestFieldSetFind(t *testing.T) {
	names := []string{"a", "time", "Level", "level", "category", "resourceId", "properties", "requestbody.properties",
		"abcdefghijklmnop", "abcdefghijklmnopq", "Severity", "severity", "SEVERITY", "operation", "abcdefghi", "abcdefghijklmno",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/spn",
		"http://schemas.microsoft.com/identity/claims/objectidentifier", "kelvin",
		"authenticationRequirement", "riskLevelDuringSignIn", "abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwxyz012345",
		"abcdefghijklmnopqrstuvwxyz0123456"}
	f := newFieldSet(names...)
	ref := func(k string) int {
		for i, n := range names {
			if n == k {
				return i
			}
		}
		for i, n := range names {
			if strings.EqualFold(n, k) {
				return i
			}
		}
		return -1
	}
	check := func(k []byte) {
		t.Helper()
		want := ref(string(k))
		for _, room := range []int{0, 1, 9} {
			key := make([]byte, 0, len(k)+2+room)
			key = append(append(append(key, '"'), k...), '"')
			if got := f.find(key, true); got != want {
				t.Fatalf("find(%q) with %d bytes after = %d, want %d", key, room, got, want)
			}
			// findASCII takes the names Scanner.Name finds plain ASCII.
			if !event.PlainASCII(k) {
				continue
			}
			var w [8]byte
			copy(w[:], k)
			if got := f.findASCII(key, binary.LittleEndian.Uint64(w[:])); got != want {
				t.Fatalf("findASCII(%q) with %d bytes after = %d, want %d", key, room, got, want)
			}
		}
	}
	for _, n := range names {
		for _, k := range []string{n, strings.ToUpper(n), strings.ToLower(n), n + "x", "x" + n, n[:len(n)-1]} {
			check([]byte(k))
		}
		for at := 0; at < len(n); at++ {
			for c := 0; c < 256; c++ {
				for _, as := range []string{strings.ToUpper(n), n} {
					k := []byte(as)
					k[at] = byte(c)
					check(k)
				}
			}
		}
	}
	check([]byte("\xe2\x84\xaaelvin")) // the Kelvin sign folds to k
	check([]byte("ſeverity"))
	check([]byte("http://schemas.xmlsoap.org/ws/2005/05/\xe2\x84\xaa/claims/upn"))
}

// equalFoldASCII, eight bytes at a time, answers as folding each byte
// does: every byte value at every place of a long name.
func TestEqualFoldASCII(t *testing.T) {
	ref := func(k []byte, lower string) bool {
		if len(k) != len(lower) {
			return false
		}
		for i, c := range k {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[i] {
				return false
			}
		}
		return true
	}
	const lower = "requestbody.properties"
	for at := 0; at < len(lower); at++ {
		for c := 0; c < 256; c++ {
			k := []byte(strings.ToUpper(lower))
			k[at] = byte(c)
			if got, want := equalFoldASCII(k, lower), ref(k, lower); got != want {
				t.Fatalf("equalFoldASCII(%q, %q) = %t, want %t", k, lower, got, want)
			}
		}
	}
}

// parseUTCStamp answers as time.Parse with RFC3339Nano wherever it
// answers, and answers for the stamps records write.
func TestParseUTCStamp(t *testing.T) {
	for _, s := range []string{"2026-11-20T08:00:00.2910000Z", "2026-11-20T08:00:00Z", "2026-11-20T08:00:00.1Z",
		"2026-11-20T08:00:00.123456789Z", "2024-02-29T23:59:59.999Z", "0000-01-01T00:00:00Z"} {
		if _, ok := parseUTCStamp(s); !ok {
			t.Errorf("parseUTCStamp(%q) turned down", s)
		}
		checkUTCStamp(t, s)
	}
	for _, s := range []string{"2026-02-29T08:00:00Z", "2026-11-31T08:00:00Z", "2026-11-20T24:00:00Z", "2026-11-20T08:60:00Z",
		"2026-11-20T08:00:60Z", "2026-13-20T08:00:00Z", "2026-00-20T08:00:00Z", "2026-11-00T08:00:00Z", "2026-11-20T08:00:00.Z",
		"2026-11-20T08:00:00.1234567890Z", "2026-11-20t08:00:00Z", "2026-11-20T08:00:00z", "2026-11-20T08:00:00+00:00",
		"2026-11-20T8:00:00Z", "+026-11-20T08:00:00Z", "2026-11-20T08:00:00.-1Z", "2026-11-20T08:00:0aZ"} {
		checkUTCStamp(t, s)
	}
}

func checkUTCStamp(t *testing.T, s string) {
	t.Helper()
	got, ok := parseUTCStamp(s)
	if !ok {
		return
	}
	want, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || got != want.UTC() {
		t.Fatalf("parseUTCStamp(%q) = %v, time.Parse %v, %v", s, got, want.UTC(), err)
	}
}

// FuzzParseUTCStamp: go test -run '^$' -fuzz FuzzParseUTCStamp ./internal/source/
func FuzzParseUTCStamp(f *testing.F) {
	f.Add("2026-11-20T08:00:00.2910000Z")
	f.Add("2024-02-29T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) { checkUTCStamp(t, s) })
}

// TestParseUTCStampDays: every day of every month of years of each kind
// (leap by four, by 400, not by 100; year 0; the ends of the range), with
// the day after the month's last: parseUTCStamp takes exactly the dates
// time.Parse takes, as the same Time.
func TestParseUTCStampDays(t *testing.T) {
	for _, year := range []int{0, 1, 3, 4, 99, 100, 400, 1600, 1700, 1900, 1969, 1970, 1971, 2000, 2023, 2024, 2100, 2400, 9999} {
		for month := 1; month <= 12; month++ {
			for day := 1; day <= 32; day++ {
				for _, clock := range []string{"00:00:00Z", "23:59:59.999999999Z"} {
					s := fmt.Sprintf("%04d-%02d-%02dT%s", year, month, day, clock)
					got, ok := parseUTCStamp(s)
					want, err := time.Parse(time.RFC3339Nano, s)
					if ok != (err == nil) || ok && got != want.UTC() {
						t.Fatalf("parseUTCStamp(%q) = %v %v, time.Parse %v %v", s, got, ok, want.UTC(), err)
					}
				}
			}
		}
	}
}
