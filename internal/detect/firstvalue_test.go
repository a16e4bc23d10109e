package detect

import (
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestFirstValueAsGet checks firstValue (the stateful kinds' group-by and
// term values) against its definition, the first non-blank value of
// resolver.get, trimmed: without a cache (the shared index), through a
// field cache pointed at the event, and through one pointed at another.
func TestFirstValueAsGet(t *testing.T) {
	records := []string{
		`{"resultType":"50126","callerIpAddress":"10.0.0.9","properties":{"userPrincipalName":"  Ann@Contoso.com ","ipAddress":"","status":{"errorCode":50126,"failureReason":" Invalid password "},"appId":"a-1","appDisplayName":"Portal","x":["  ","b c",null],"y":"{\"z\":\" in string \"}","w":{"v":1}}}`,
		`{"properties":{"userPrincipalName":"   ","status":{"additionalDetails":"MFA denied"},"appDisplayName":"  ","x":[],"ipAddress":"192.0.2.1","w":"\u00e9t\u00e9 "}}`,
		`{"callerIpAddress":"198.51.100.7","properties":{}}`,
		`{"properties":"not an object"}`,
		`[1,2]`,
		``,
	}
	names := []string{"username", "userprincipalname", "ipaddress", "status", "resulttype", "resultdescription",
		"appid", "appdisplayname", "properties.x", "properties.y.z", "properties.w", "properties.w.v", "x", "callerIpAddress",
		"actor.upn", "event.result", "nothing.here"}
	upns := []string{"", "   ", "Bob@contoso.com"}
	cache := newFieldCache()
	other := &event.Event{Source: "signinlogs", Raw: []byte(`{"properties":{"x":"other"}}`)}
	for ri, raw := range records {
		for _, upn := range upns {
			ev := &event.Event{Source: "signinlogs", Raw: []byte(raw), Actor: event.Actor{UPN: upn}}
			for _, name := range names {
				res := newResolver("signinlogs", name)
				vals, _ := res.get(ev, nil)
				want := ""
				for _, v := range vals {
					if s := strings.TrimSpace(v.String()); s != "" {
						want = s
						break
					}
				}
				check := func(how, got string, ok bool) {
					t.Helper()
					if got != want || ok != (want != "") {
						t.Errorf("record %d, upn %q, %s: %s = %q, %t; want %q", ri, upn, name, how, got, ok, want)
					}
				}
				got, ok := firstValue(ev, res)
				check("firstValue", got, ok)
				cache.reset(ev)
				got, ok = firstValueIn(ev, res, cache)
				check("firstValueIn (cache)", got, ok)
				cache.reset(other)
				got, ok = firstValueIn(ev, res, cache)
				check("firstValueIn (another event's cache)", got, ok)
			}
		}
	}
}

// TestFirstValueAllocations checks that a field of normalised names and a
// raw path read through a field cache take no slice of values: nothing is
// allocated but the text of a raw value (a copy, as before).
func TestFirstValueAllocations(t *testing.T) {
	ev := &event.Event{Source: "signinlogs", Actor: event.Actor{UPN: "ann@contoso.com", IP: "10.0.0.1"},
		Raw: []byte(`{"properties":{"appId":"a-1","ipAddress":"10.0.0.1"}}`)}
	norm := newResolver("signinlogs", "actor.upn")
	if n := testing.AllocsPerRun(20, func() { _, _ = firstValue(ev, norm) }); n != 0 {
		t.Errorf("firstValue of a normalised name allocates %.0f times, want 0", n)
	}
	mapped := newResolver("signinlogs", "ipaddress") // firstFound: actor.ip first
	if n := testing.AllocsPerRun(20, func() { _, _ = firstValue(ev, mapped) }); n != 0 {
		t.Errorf("firstValue of a mapped normalised field allocates %.0f times, want 0", n)
	}
	rawRes := newResolver("signinlogs", "appid")
	cache := newFieldCache()
	cache.reset(ev)
	if n := testing.AllocsPerRun(20, func() { _, _ = firstValueIn(ev, rawRes, cache) }); n > 1 {
		t.Errorf("firstValueIn of a raw path allocates %.0f times, want at most 1 (the text)", n)
	}
	if n := testing.AllocsPerRun(20, func() { _, _ = firstValue(ev, rawRes) }); n > 1 {
		t.Errorf("firstValue of a raw path allocates %.0f times, want at most 1 (the text)", n)
	}
}
