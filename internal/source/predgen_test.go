package source

import (
	"math"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestLearnMemberGenerations: an entry's generation (event.MemberSpan.Gen)
// stays while it learns the name it holds again, goes up when it learns
// another (a name of the same length sharing its slot, the same field
// in another case), and at the last one the entry learns no other name:
// a generation never stands for two names.
func TestLearnMemberGenerations(t *testing.T) {
	// Two names of the same length that are no field, in one slot.
	unknownSlot := func(s string) int {
		return foldHash(len(s)+3, event.Word([]byte(`"`+s+`":1234567`), 1)) & (predUnknown - 1)
	}
	var a, b string
	seen := map[int]string{}
	for i := 0; a == ""; i++ {
		s := string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + "zzzzzzzzzz"
		if o, ok := seen[unknownSlot(s)]; ok {
			a, b = o, s
		}
		seen[unknownSlot(s)] = s
	}
	ops := make([]op, 1)
	ents := make([]predEntry, predFields+len(ops)+predUnknown)
	learn := func(name string, fi int) (int, int32) {
		buf := []byte(`"` + name + `":1234567`)
		x := learnMember(ents, predStart, fi, ops, buf, 0, len(name)+3, event.Word(buf, 1))
		return x, ents[x].gen
	}
	xa, ga := learn(a, -1)
	if xa < predFields+len(ops) || ga != 1 {
		t.Fatalf("first name %q: entry %d generation %d, want an unknown's entry, generation 1", a, xa, ga)
	}
	if x, g := learn(a, -1); x != xa || g != ga {
		t.Fatalf("%q again: entry %d generation %d, want %d %d", a, x, g, xa, ga)
	}
	xb, gb := learn(b, -1)
	if xb != xa || gb != ga+1 {
		t.Fatalf("%q in %q's slot: entry %d generation %d, want %d %d", b, a, xb, gb, xa, ga+1)
	}
	if x, g := learn(a, -1); x != xa || g != gb+1 {
		t.Fatalf("%q back: entry %d generation %d, want %d %d (never an earlier one)", a, x, g, xa, gb+1)
	}
	// A field's entry, in another case: another generation.
	x1, g1 := learn("userPrincipalName", 0)
	if x2, g2 := learn("UserPrincipalName", 0); x2 != x1 || g2 != g1+1 {
		t.Fatalf("field in another case: entry %d generation %d, want %d %d", x2, g2, x1, g1+1)
	}
	// At the last generation: the name it holds still learned, no other.
	ents[xa].gen = math.MaxInt32
	if x, g := learn(a, -1); x != xa || g != math.MaxInt32 {
		t.Fatalf("at the last generation, its own name: entry %d generation %d", x, g)
	}
	if x, _ := learn(b, -1); x != predNowhere || ents[xa].gen != math.MaxInt32 || !ents[xa].sameName([]byte(`"`+a+`":1234567`), 0, len(a)+3) {
		t.Fatalf("at the last generation, another name: entry %d, generation %d (want nothing learned)", x, ents[xa].gen)
	}
}

// TestLayoutEntries: the members the decoder predicted or learned carry
// their entry and generation, those it met escaped carry none (nor do
// those too near the record's end for its inlined scan, not learned),
// and the objects their table's number, one number per table.
func TestLayoutEntries(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"time":"2026-11-20T10:00:00Z","category":"SignInLogs","properties":{"userPrincipalName":"u","app\u0049d":"x","status":{"errorCode":1}}}`)
	for range 3 {
		ev, status, _ := reg.Parse(raw)
		if status != Parsed || ev.Layout == nil {
			t.Fatalf("not parsed: %v", status)
		}
		l := ev.Layout
		if len(l.Tables) != len(l.Objects) {
			t.Fatalf("%d tables for %d objects", len(l.Tables), len(l.Objects))
		}
		tables := map[int32]bool{}
		for k, tab := range l.Tables {
			if tab == 0 || tables[tab] {
				t.Fatalf("object %d: table %d (tables %v)", k, tab, l.Tables)
			}
			tables[tab] = true
		}
		for _, m := range l.Members {
			name := string(raw[m.KeyStart:m.KeyEnd])
			if escaped := name == `app\u0049d`; escaped && m.Entry() != 0 || name == "userPrincipalName" && m.Entry() == 0 || (m.Entry() == 0) != (m.Gen() == 0) {
				t.Fatalf("member %q: entry %d generation %d", name, m.Entry(), m.Gen())
			}
		}
		ev.ReleaseLayout()
	}
}
