package source

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Member prediction (predEntry) decides a member's field from bytes that
// equal a name learned before: these tests decode records right after
// the decoder learned them (the tests run on one goroutine, so the
// pooled decoder is the same one) with every byte changed in turn, a
// blank put in at every place and every cut, and check the decodings
// still agree with unmarshal.

// predictRecords are a corpus record of each decoded source, with a
// long member name and one that differs from another by case only.
func predictRecords(t testing.TB) [][]byte {
	out := [][]byte{
		[]byte(`{"time":"t","category":"c","properties":{"appliedConditionalAccessPolicies":[{"id":"1","displayName":"p"}],"userPrincipalName":"u","USERPRINCIPALNAME":"v","aVeryLongMemberNameThatIsNoFieldAtAllReally":1,"status":{"errorCode":0}}}`),
		[]byte(`{"Level":5,"level":"Informational","resultSignature":"OK","correlationId":"c","identity":{"claims":{"name":"n"}}}`),
		// Scalars in text fields and in names that are no field
		// (predictedRun's scalarEnd): integers, literals, and values
		// it leaves to the scanner.
		// Objects and arrays in names that are no field (predictedRun's
		// scanner), after and before text fields.
		[]byte(`{"time":"t","properties":{"authenticationDetails":[{"authenticationMethod":"Password","succeeded":true},{"x":[1,{"y":{}}]}],"userPrincipalName":"u","deviceDetail2":{"a":{"b":[]}},"mfaDetail2":[],"n":{},"ipAddress":"1.2.3.4"}}`),
		[]byte(`{"time":0,"resultType":-12,"category":null,"location":true,"level":false,"n":90,"t":true,"f":false,"z":null,"resultSignature":1.5,"callerIpAddress":-0,"correlationId":7e3,"tenantId":""}`),
	}
	seen := map[byte]bool{}
	for _, raw := range decodeCorpus(t) {
		// One record of each first name letter: a spread of sources,
		// kept short so that every cut of each is decoded.
		if i := bytes.IndexByte(raw, '"'); i >= 0 && i+1 < len(raw) && !seen[raw[i+1]] && len(raw) < 3000 {
			seen[raw[i+1]] = true
			out = append(out, raw)
		}
	}
	return out
}

func TestDecodePredictedChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes every variant of several records (-short)")
	}
	for _, raw := range predictRecords(t) {
		for k := range raw {
			checkDecodeEqual(t, raw) // learned
			// Letters change case (the same field, folded), or become
			// another letter (another field, or none); quotes, colons
			// and blanks break.
			for _, flip := range []byte{0x20, 0x01} {
				v := bytes.Clone(raw)
				v[k] ^= flip
				checkDecodeEqual(t, v)
				checkDecodeEqual(t, raw)
			}
			checkDecodeEqual(t, append(append(bytes.Clone(raw[:k]), ' '), raw[k:]...))
			checkDecodeEqual(t, raw)
			checkDecodeEqual(t, raw[:k])
		}
	}
}

// FuzzDecodePredicted decodes a, then b with what a taught, then a again.
func FuzzDecodePredicted(f *testing.F) {
	recs := predictRecords(f)
	for i, raw := range recs {
		f.Add(raw, recs[(i+1)%len(recs)])
		f.Add(raw, bytes.ReplaceAll(raw, []byte(`":`), []byte(`": `)))
		f.Add(raw, bytes.ToUpper(raw))
		f.Add(raw, bytes.ReplaceAll(raw, []byte(`"c"`), []byte(`01`)))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		checkDecodeEqual(t, a)
		checkDecodeEqual(t, b)
		checkDecodeEqual(t, a)
	})
}

// Predictions are a plan's own even when two plans share an id (a plan
// not made by newPlan): what one learned never names the other's fields.
func TestDecodePredictedSharedID(t *testing.T) {
	type two struct {
		X text `json:"x"`
		Y text `json:"y"`
	}
	type one struct {
		Y text `json:"y"`
	}
	plTwo, plOne := planOf(reflect.TypeFor[two]()), planOf(reflect.TypeFor[one]())
	plOne.id = plTwo.id
	raw := []byte(`{"y":"2","x":"1","z":"long enough for every name to be learned"}`)
	for range 3 {
		var a two
		if err := decodeInto(raw, plTwo, &a); err != nil || a != (two{"1", "2"}) {
			t.Fatalf("two: %+v %v", a, err)
		}
		var b one
		if err := decodeInto(raw, plOne, &b); err != nil || b != (one{"2"}) {
			t.Fatalf("one: %+v %v", b, err)
		}
	}
}

// scalarEnd only ends values the grammar ends there: what it takes is
// one JSON value, and a ',' or '}' follows it.
func TestScalarEnd(t *testing.T) {
	vals := []string{"0", "-0", "7", "-12", "1234567890123", "true", "false", "null",
		"01", "-", "--1", "1.5", "1e3", "0x1", "tru", "nul", "fals", "truex", "nullx", "TRUE", "- 1", "", "\"s\"", "+1", "1 "}
	for _, v := range vals {
		for _, tail := range []string{",", "}", " ,", "]", "x", "", ",\"padding\":1}", "}         "} {
			b := []byte(`{"a":` + v + tail)
			end := scalarEnd(b, 5)
			if end < 0 {
				if ok := stdjson.Valid([]byte(v)) && v[0] != '"' && !strings.ContainsAny(v, ".eE ") && len(b) >= 5+8 && (tail != "" && (tail[0] == ',' || tail[0] == '}')); ok {
					t.Errorf("%q: scalarEnd turns down %q", b, v)
				}
				continue
			}
			if !stdjson.Valid(b[5:end]) || string(b[5:end]) != v || b[end] != ',' && b[end] != '}' {
				t.Errorf("%q: scalarEnd = %d (%q)", b, end, b[5:end])
			}
		}
	}
}

func FuzzScalarEnd(f *testing.F) {
	f.Add([]byte(`-120,"padding"`))
	f.Add([]byte(`false}xxxxxxx`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if end := scalarEnd(b, 0); end >= 0 && (!stdjson.Valid(b[:end]) || b[end] != ',' && b[end] != '}' || b[0] == '"') {
			t.Fatalf("%q: scalarEnd = %d", b, end)
		}
	})
}

// TestDecodePredictedAlternate: records of two member orders taking
// turns, so that the member before each predicts it by its second guess
// (predEntry.alt), and then one of them changed at every byte, given a
// blank and cut, decoded right after both orders were learned.
func TestDecodePredictedAlternate(t *testing.T) {
	a := []byte(`{"time":"t","category":"SignInLogs","properties":{"userPrincipalName":"u","appId":"a","ipAddress":"1.2.3.4","aVeryLongMemberNameThatIsNoFieldAtAllReally":{"x":[1]},"status":{"errorCode":0},"userId":"i"}}`)
	b := []byte(`{"category":"ServicePrincipalSignInLogs","time":"t","properties":{"userPrincipalName":"u","ipAddress":"1.2.3.4","appId":"a","aVeryLongMemberNameThatIsNoFieldAtAllReally":[],"userId":null,"status":{"errorCode":0}}}`)
	learn := func() {
		for range 2 {
			checkDecodeEqual(t, a)
			checkDecodeEqual(t, b)
		}
	}
	for k := range a {
		for _, flip := range []byte{0x20, 0x01, 0x80} {
			v := bytes.Clone(a)
			v[k] ^= flip
			learn()
			checkDecodeEqual(t, v)
		}
		learn()
		checkDecodeEqual(t, append(append(bytes.Clone(a[:k]), ' '), a[k:]...))
		learn()
		checkDecodeEqual(t, a[:k])
	}
}
