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
			// Built into a slot holding another alert (merged: its
			// unexported fields set), nothing of that one is left.
			slot := room.New(Spec{RuleID: "old", Summary: "s", Group: "grp"}, []*event.Event{two})
			merge(&slot, room.New(Spec{RuleID: "old", Title: "t"}, []*event.Event{one}))
			if slot.ops == nil {
				t.Fatal("the used slot has no operations merged")
			}
			room.Build(&slot, tc.spec, tc.events)
			if !reflect.DeepEqual(slot, want) {
				t.Errorf("built into a used slot:\n%+v\nwant\n%+v", slot, want)
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

// TestRoomLowerAgrees: a room's lowered strings are strings.ToLower's,
// whatever the order they come in (the same word again, in another
// string, another case, more words than the room keeps, non-ASCII,
// empty, longer than a room's string), and an entity key built in a room
// is the one built without.
func TestRoomLowerAgrees(t *testing.T) {
	words := []string{"User Risk Detection", "/TENANTS/72F988BF/PROVIDERS/MICROSOFT.AADIAM", "user risk detection", "",
		"ÜBER", "İstanbul", "\xffA", strings.Repeat("AbC", 300), "FlowTuple", "6F2C1D2E-0000-4000-8000-000000000008", "x"}
	var room Room
	for round := range 3 {
		for i := range words {
			s := words[(i*7+round)%len(words)]
			if round == 2 {
				s = strings.Clone(s) // the same word in another string
			}
			if got, want := room.lower(s), strings.ToLower(s); got != want {
				t.Fatalf("lower(%q) = %q, want %q", s, got, want)
			}
		}
	}
	for _, op := range []string{"User Risk Detection", "USER RISK DETECTION", "Microsoft.Authorization/roleAssignments/write"} {
		ev := diagDelete()
		ev.Operation = op
		ev.Resource = event.ParseResourceID("/SUBSCRIPTIONS/AB/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.X/Y/" + op)
		for range 2 {
			if got, want := entityKeyIn(&room, ev), EntityKey(ev); got != want {
				t.Fatalf("entity key in a room %q, want %q", got, want)
			}
		}
	}
}
