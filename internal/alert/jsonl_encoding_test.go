package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
)

// hostileAlert is an alert whose every string is s, with times from ts
// and zone offset off (seconds): the shapes appendJSONLine must write as
// encoding/json does (empty and nil members, omitted and present ones).
func hostileAlert(s string, ts int64, off, n int) Alert {
	zone := time.FixedZone("x", off)
	a := Alert{ID: s, RuleID: s, Title: s, Severity: s, Tactics: []string{s}, Summary: s, SourceType: s, Count: n,
		FirstSeen: time.Unix(ts%1e12, ts%1e9).UTC(), LastSeen: time.Unix(ts%1e12, 0).In(zone),
		Entities: Entities{Users: []string{s, s + "x"}, Apps: []string{s}},
		Evidence: []Evidence{{Source: s, Time: time.Unix(ts%1e12, 5).In(zone), Operation: s},
			{Source: s, Operation: s, Result: s, Actor: s, IP: s, Country: s, Resource: s, Target: s, CorrelationID: s, RecordID: s}}}
	if n%2 == 0 {
		a.GroupKey, a.AlertGroup, a.Techniques = s, s, []string{s, s}
		a.Entities = Entities{IPs: []string{s}, Resources: []string{s}, Subscriptions: []string{s}}
	}
	if n == 1 {
		// One instant throughout, as a single-event alert's (written
		// once, then copied).
		a.LastSeen, a.Evidence[0].Time = a.FirstSeen, a.FirstSeen
	}
	if n%3 == 0 {
		a.Evidence = nil
	}
	if n%5 == 0 {
		a.Evidence = []Evidence{}
	}
	return a
}

// checkJSONLine fails t when appendJSONLine's bytes (or its failing) are
// not encoding/json's and goccy/go-json's for a (HTML left unescaped, as
// the sink has always written).
func checkJSONLine(t *testing.T, a *Alert) {
	t.Helper()
	var std, goccy bytes.Buffer
	e1 := json.NewEncoder(&std)
	e1.SetEscapeHTML(false)
	e2 := gojson.NewEncoder(&goccy)
	e2.SetEscapeHTML(false)
	err1 := e1.Encode(a)
	err2 := e2.Encode(a)
	got, err := appendJSONLine([]byte("prefix"), a)
	if (err1 == nil) != (err == nil) || (err2 == nil) != (err == nil) {
		t.Fatalf("errors differ: std %v, goccy %v, ours %v", err1, err2, err)
	}
	if err != nil {
		if string(got) != "prefix" {
			t.Fatalf("a failed alert left %q", got)
		}
		return
	}
	got = bytes.TrimPrefix(got, []byte("prefix"))
	if !bytes.Equal(got, std.Bytes()) || !bytes.Equal(got, goccy.Bytes()) {
		t.Fatalf("%q\nstd   %s\ngoccy %s\nours  %s", a.ID, std.Bytes(), goccy.Bytes(), got)
	}
	// Through a memo of rule members: written, then copied.
	var heads headMemo
	for i := range 2 {
		if line, _ := appendJSONLineWith(nil, a, &heads); !bytes.Equal(line, std.Bytes()) {
			t.Fatalf("%q through the memo (%d):\nstd   %s\nours  %s", a.ID, i, std.Bytes(), line)
		}
	}
}

func TestJSONLineAgrees(t *testing.T) {
	strs := []string{"", "plain", "a<b>&c", "\u2028\u2029", "\xff", "a\xffb\xc3", "\xe2\x80", "\xed\xa0\x80",
		"\"quoted\\\"", "\x00\x01\x08\x0c\n\r\t\x1f\x7f", "é日本\U0001F600", strings.Repeat("z\x1e", 3000)}
	times := []int64{0, 1700000000, 1700000000123456789 % 1000000000000, 253402300799, 253402300800, -62135596800, -62135596801}
	for _, s := range strs {
		for _, ts := range times {
			for _, off := range []int{0, 3600, -5*3600 - 1800, 23*3600 + 59*60, 24 * 3600, -25 * 3600, 59} {
				for n := range 7 {
					a := hostileAlert(s, ts, off, n-3)
					checkJSONLine(t, &a)
				}
			}
		}
	}
	var zero Alert
	checkJSONLine(t, &zero)
}

func FuzzJSONLine(f *testing.F) {
	f.Add("a<b>&\u2028\u2029\xff\x01\"\\", int64(1700000000), 3600, 3)
	f.Add("", int64(253402300800), 24*3600, 0)
	f.Fuzz(func(t *testing.T, s string, ts int64, off, n int) {
		a := hostileAlert(s, ts, off%(30*3600), n)
		checkJSONLine(t, &a)
	})
}

// TestPlainJSON: the word-at-a-time test agrees with a byte-by-byte one
// for every byte at every place of strings of 1 to 20 bytes, beside any
// other byte (carries between neighbours).
func TestPlainJSON(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	for n := 1; n <= 20; n++ {
		for at := 0; at < n; at++ {
			for c := range 256 {
				for _, next := range []byte{'a', 0, 0x1f, 0x20, 0x21, 0x22, 0x5b, 0x5c, 0x7f, 0x80, 0xff} {
					b := []byte(strings.Repeat("a", n))
					b[at] = byte(c)
					if at+1 < n {
						b[at+1] = next
					}
					if s := string(b); plainJSON(s) != plain(s) {
						t.Fatalf("%q: plainJSON %v", s, plainJSON(s))
					}
				}
			}
		}
	}
}

// appendJSONTime writes what time.Time.MarshalJSON writes, and fails when
// it fails, whatever the zone, year or fraction (the UTC times go the
// hand-written way).
func FuzzAppendJSONTime(f *testing.F) {
	for _, c := range []struct{ sec, nsec int64 }{{0, 0}, {1795161600, 291000000}, {1795161600, 1}, {1795161600, 999999999},
		{1795161600, 100000000}, {1795161600, 120}, {-62135596800, 0}, {-62135596801, 999999999},
		{253402300799, 999999999}, {253402300800, 0}, {-1 << 40, 5}, {1 << 40, 7}, {951782400, 0}} {
		f.Add(c.sec, c.nsec, int32(0), true)
		f.Add(c.sec, c.nsec, int32(3600), false)
	}
	f.Fuzz(func(t *testing.T, sec, nsec int64, zone int32, utc bool) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", int(zone%(26*3600))))
		if utc {
			tm = tm.UTC()
		}
		want, err := tm.MarshalJSON()
		got, ok := appendJSONTime([]byte("p|"), tm, true)
		if ok != (err == nil) || ok && string(got) != "p|"+string(want) {
			t.Fatalf("%v: %q %v, want %q %v", tm, got, ok, want, err)
		}
	})
}

// JSONLines writes each alert's line, in order, whatever their lengths
// next to the buffer's (lines put together in its free room, flushed
// first when they would not fit, or grown past it), batch after batch.
func TestJSONLinesWritesEveryLine(t *testing.T) {
	var out, want bytes.Buffer
	j := NewJSONLines(&out)
	for batch, sizes := range [][]int{{10, 1000, 30000, 5}, {70000, 3, 40000, 40000}, {1, 2, 3}, nil, {33000, 33000, 33000}} {
		var alerts []Alert
		for i, n := range sizes {
			a := hostileAlert(strings.Repeat(string(rune('a'+i)), n), 1700000000, 0, batch)
			alerts = append(alerts, a)
			line, err := appendJSONLine(nil, &a)
			if err != nil {
				t.Fatal(err)
			}
			want.Write(line)
		}
		if err := j.Publish(context.Background(), alerts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatalf("batch %d: %d bytes written, want %d", batch, out.Len(), want.Len())
		}
	}
}

// TestHeadMemoAgrees: lines written through one headMemo are
// encoding/json's, alert after alert, where alerts share a rule id (the
// same string, as a rule's alerts do) and differ in title, severity,
// tactics or techniques (nil, empty, hostile, changed in place after
// being written), and where rules' ids collide in a slot.
func TestHeadMemoAgrees(t *testing.T) {
	var heads headMemo
	check := func(a *Alert) {
		t.Helper()
		var std bytes.Buffer
		enc := json.NewEncoder(&std)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
		got, err := appendJSONLineWith([]byte("p"), a, &heads)
		if err != nil || string(got) != "p"+std.String() {
			t.Fatalf("through the memo:\n%s\nwant\n%s", got, std.Bytes())
		}
	}
	rule := "fbad3b1d-9276-49fc-a1cc-e304bdec1631"
	tactics := []string{"initial-access", "lateral-movement"}
	strs := []string{"", "plain", "a<b>&c", "\u2028", "\xff", "\"q\\", "\x00\n", "é日本", strings.Repeat("z\x1e", 700)}
	for round := range 2 {
		for i, s := range strs {
			for _, sev := range []string{SeverityHigh, SeverityLow, s} {
				a := hostileAlert(s, 1700000000, 0, i)
				a.RuleID, a.Severity = rule, sev
				check(&a)
				a.Title = "Identity Protection risk detection"
				check(&a)
				a.Tactics, a.Techniques = tactics, []string{s, "T1078"}
				check(&a)
				a.Tactics, a.Techniques = nil, []string{}
				check(&a)
				a.Tactics = tactics[:1]
				check(&a)
				other := a
				other.RuleID = strings.Clone(rule) // the same id in another string
				check(&other)
				other.RuleID = rule[:len(rule)-1] + "0" // another id, maybe the slot
				check(&other)
			}
		}
		// A rule's tactics changed in place after their alert was written.
		a := hostileAlert("x", 1700000000, 0, 1)
		a.RuleID, a.Tactics = rule, tactics
		check(&a)
		tactics[0] = []string{"credential-access", "initial-access"}[round]
		check(&a)
	}
	for n := range 3 * headSlots { // many rules: slots shared and replaced
		a := hostileAlert("x", 1700000000, 0, n)
		a.RuleID, a.Title = strings.Repeat("r", n), strings.Repeat("t", n%7)
		check(&a)
	}
}
