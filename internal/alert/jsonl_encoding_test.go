package alert

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
)

// The JSON Lines sink encodes with goccy/go-json: its bytes must be
// encoding/json's, whatever the alert's strings hold.
func FuzzJSONLinesEncoding(f *testing.F) {
	f.Add("a<b>&\u2028\u2029\xff\x01\"\\", int64(1700000000), 3)
	f.Fuzz(func(t *testing.T, s string, ts int64, n int) {
		a := Alert{ID: s, RuleID: s, Title: s, Severity: s, Tactics: []string{s}, Summary: s, Count: n,
			FirstSeen: time.Unix(ts%1e10, ts%1e9).UTC(), LastSeen: time.Unix(ts%1e10, 0).In(time.FixedZone("x", 3600)),
			Entities: Entities{Users: []string{s, s + "x"}}, Evidence: []Evidence{{Source: s, Time: time.Unix(ts%1e10, 5), Operation: s}}}
		var b1, b2 bytes.Buffer
		e1 := json.NewEncoder(&b1)
		e1.SetEscapeHTML(false)
		e2 := gojson.NewEncoder(&b2)
		e2.SetEscapeHTML(false)
		err1 := e1.Encode(&a)
		err2 := e2.Encode(&a)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(b1.Bytes(), b2.Bytes()) {
			t.Fatalf("%q\nstd   %s\ngoccy %s", s, b1.Bytes(), b2.Bytes())
		}
	})
}
