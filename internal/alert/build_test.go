package alert

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
)

// Alerts built in a Room are the alerts New builds, and cost a small
// fraction of an allocation each (their evidence, entity lists, keys and
// summaries cut from shared runs): they were four allocations an alert.
func TestRoomNew(t *testing.T) {
	one := diagDelete()
	two := diagDelete()
	two.Time = two.Time.Add(time.Minute)
	two.Actor.IP = "45.137.21.9"
	long := diagDelete()
	long.Resource = event.ParseResourceID("/SUBSCRIPTIONS/" + strings.Repeat("AB\x01\"", 300) + "/PROVIDERS/MICROSOFT.X/Y/Z")
	long.Actor.UPN = strings.Repeat("Ü\x00", 1<<19) // 1 MiB, non-ASCII and control bytes
	cases := []struct {
		name   string
		spec   Spec
		events []*event.Event
	}{
		{"indicator", Spec{RuleID: "r1", Title: "t", Severity: SeverityHigh}, []*event.Event{one}},
		{"two events", Spec{RuleID: "r2", Title: "t", Severity: SeverityHigh}, []*event.Event{one, two}},
		{"stateful", Spec{RuleID: "r3", GroupKey: "g", WindowStart: one.Time, Count: 7, Summary: "seven"}, []*event.Event{two, one}},
		{"hostile", Spec{RuleID: "r4"}, []*event.Event{long, one}},
	}
	var room Room
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := New(tc.spec, tc.events)
			got := room.New(tc.spec, tc.events)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("in a room:\n%+v\nwant\n%+v", got, want)
			}
		})
	}
	// (The rules' alerts have their summaries: Summarise, for a rule
	// without one, still allocates.)
	spec := Spec{RuleID: "r1", Title: "t", Severity: SeverityHigh, Summary: "mallory deleted a diagnostic setting"}
	evs := []*event.Event{one}
	if n := testing.AllocsPerRun(200, func() { room.New(spec, evs) }); n > 0.2 {
		t.Errorf("an alert in a room: %v allocations, want at most 0.2", n)
	}
	// What one alert was cut is its own: a merge copies before it grows.
	a, b := room.New(spec, evs), room.New(spec, []*event.Event{two})
	before := b
	merge(&a, b)
	if !reflect.DeepEqual(b, before) || len(a.Evidence) != 2 || len(a.Entities.IPs) != 2 {
		t.Errorf("merge: %+v into %+v", b, a)
	}
}

// fieldsOf is a flow tuple's FieldReader in miniature.
type fieldsOf map[string]string

func (f fieldsOf) Field(name string) (string, bool) { v, ok := f[name]; return v, ok }

// TestSourceValuesAsNormalised: the source-set names an alert reads give
// what Event.Normalised gives, from Extra, from Fields, from both (Fields
// first), from neither, and from an Extra holding a name twice.
func TestSourceValuesAsNormalised(t *testing.T) {
	names := sourceNames[:]
	var evs []*event.Event
	for i := range 4 {
		ev := &event.Event{Source: "x", Actor: event.Actor{IP: "10.0.0.1"}}
		for j, n := range names {
			if i&1 != 0 && j%2 == 0 {
				ev.Set(n, "extra-"+n)
			}
			ev.Set("z."+n, "other")
		}
		if i&2 != 0 {
			ev.Fields = fieldsOf{"flow.src_ip": "f1", "audit.target_type": "Application", "flow.local_ip": ""}
		}
		evs = append(evs, ev)
	}
	evs = append(evs, &event.Event{Extra: event.ExtraOf(map[string]string{"flow.dst_ip": "1.2.3.4", "audit.target_type": ""})})
	for i, ev := range evs {
		sv := sourceValuesOf(ev)
		for j, n := range names {
			wv, wok := ev.Normalised(n)
			if sv.v[j] != wv || sv.ok[j] != wok {
				t.Errorf("event %d %s: %q %v, want %q %v", i, n, sv.v[j], sv.ok[j], wv, wok)
			}
		}
	}
}

// TestContainsFoldAgrees: containsFold finds what comparing at every
// place finds, for subs beginning with a letter, a non-letter and a byte
// past ASCII, in strings with the sub in any case, cut short, at either
// end, repeated, beside runes that fold to ASCII letters (the Kelvin
// sign, long s) and invalid UTF-8.
func TestContainsFoldAgrees(t *testing.T) {
	every := func(s, sub string) bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(sub)], sub) {
				return true
			}
		}
		return false
	}
	subs := []string{"/roleassignments/", "roleassignments/", "/k", "k/", "-", "\u212a/", "", "/"}
	strs := []string{"", "/", "Microsoft.Authorization/roleAssignments/write", "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
		"x/roleassignments", "/roleassignments/", "//roleassignments//", "/roleassignment/roleassignments/", "/\u212a/", "/K/k",
		"\xff/roleassignments/\xff", "/ro\u017feassignments/", "User Risk Detection", "--", "/kk/", "\u212a/"}
	for _, sub := range subs {
		for _, s := range strs {
			if got, want := containsFold(s, sub), every(s, sub); got != want {
				t.Errorf("containsFold(%q, %q) = %t, want %t", s, sub, got, want)
			}
		}
	}
}
