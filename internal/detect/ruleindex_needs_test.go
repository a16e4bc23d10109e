package detect

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

func mustEvents(t *testing.T, raws []string) []*event.Event {
	out := make([]*event.Event, len(raws))
	for i, raw := range raws {
		out[i] = mustEvent(t, raw)
	}
	return out
}

func needsString(n needs) string {
	var parts []string
	for _, f := range n {
		var keys []string
		for k := range f.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts = append(parts, f.res.name+"="+strings.Join(keys, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// TestRuleNeeds: a necessary condition is derived only where the
// condition's structure proves it.
func TestRuleNeeds(t *testing.T) {
	cases := []struct{ detection, want string }{
		{"  sel: {operationName: [A, b]}\n  condition: sel", "operationName=a,b"},
		{"  sel: {operationName: [A, b], x: 1}\n  filter: {operationName: A}\n  condition: sel and not filter", "operationName=a,b;x=1"},
		{"  sel: {operationName: A}\n  condition: not sel", ""},
		{"  sel: {operationName: A}\n  other: {category: x}\n  condition: sel or other", ""},
		{"  sel: {operationName: A}\n  other: {category: x}\n  condition: sel and other", "category=x;operationName=a"},
		{"  sel1: {operationName: A}\n  sel2: {operationName: [B, c]}\n  condition: sel1 or sel2", "operationName=a,b,c"},
		{"  sel1: {operationName: A}\n  sel2: {operationName: [B, c]}\n  condition: 1 of sel*", "operationName=a,b,c"},
		{"  sel1: {operationName: [a, b]}\n  sel2: {operationName: [B, c]}\n  condition: all of sel*", "operationName=b"},
		{"  sel1: {operationName: a}\n  sel2: {operationName: c}\n  condition: all of sel*", "operationName="},
		{"  sel1: {operationName: A}\n  sel2: {category: x}\n  condition: 1 of them", ""},
		{"  sel: {operationName: 'a*'}\n  condition: sel", ""},
		{"  sel: {operationName: [a, 'b?']}\n  condition: sel", ""},
		{"  sel: {operationName|contains: a}\n  condition: sel", ""},
		{"  sel: {operationName|startswith: a}\n  condition: sel", ""},
		{"  sel: {operationName|re: a}\n  condition: sel", ""},
		{"  sel: {operationName|cased: Foo}\n  condition: sel", "operationName=foo"},
		{"  sel: {operationName|base64: abc}\n  condition: sel", "operationName=ywjj"},
		{"  sel: {operationName: [a, null]}\n  condition: sel", ""},
		{"  sel: {operationName: null}\n  condition: sel", ""},
		{"  sel: {operationName|exists: true}\n  condition: sel", ""},
		{"  sel: {operationName|all: [a, b]}\n  condition: sel", ""},
		{"  sel: {operationName: ''}\n  condition: sel", "operationName="},
		{"  sel: [evil, bad]\n  condition: sel", ""},
		{"  sel:\n    - {operationName: a, x: 1}\n    - {operationName: b}\n  condition: sel", "operationName=a,b"},
		{"  sel:\n    - {operationName: a}\n    - {category: b}\n  condition: sel", ""},
		{"  sel: {operationName: a}\n  other: {category: x}\n  condition: sel and (other or not other)", "operationName=a"},
	}
	for _, c := range cases {
		r := mustRule(t, ruleWith("activitylogs", c.detection))
		got := needsString(ruleNeeds(r))
		if c.want == "operationName=" && got == "operationName=" {
			continue
		}
		if got != c.want {
			t.Errorf("%q: needs %q, want %q", c.detection, got, c.want)
		}
	}
}

// TestRuleIndexValues: the index picks what every rule picks over values
// that are padded, in another case, not ASCII, in arrays (empty too),
// null or missing.
func TestRuleIndexValues(t *testing.T) {
	detections := []string{
		"  sel: {operationName: [Microsoft.Authorization/roleAssignments/write, other]}\n  condition: sel",
		"  sel: {operationName|cased: Microsoft.Authorization/roleAssignments/write}\n  condition: sel",
		"  sel: {operationName: ÄÖ}\n  condition: sel",
		"  sel: {operationName: ''}\n  condition: sel",
		"  sel: {properties.list: b}\n  condition: sel",
		"  sel: {properties.list: '[]'}\n  condition: sel",
		"  sel: {properties.list: ''}\n  condition: sel",
		"  sel: {properties.list: [null]}\n  condition: sel",
		"  sel: {operationName: 'microsoft.*'}\n  condition: sel",
		"  sel: {operationName: other}\n  filter: {category: Administrative}\n  condition: sel and not filter",
	}
	var rules []*Rule
	for i, d := range detections {
		text := strings.Replace(ruleWith("activitylogs", d), "11111111-2222-3333-4444-555555555555", fmt.Sprintf("11111111-2222-3333-4444-%012d", i), 1)
		rules = append(rules, mustRule(t, text))
	}
	e, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := IndexedRules(e); n != 8 {
		t.Fatalf("%d rules indexed, want 8", n)
	}
	var raws []string
	for _, op := range []string{`"Microsoft.Authorization/roleAssignments/write"`, `" microsoft.authorization/ROLEASSIGNMENTS/WRITE "`,
		`"äö"`, `"ÄÖ "`, `""`, `"  "`, `null`, `"OTHER"`, `"unrelated"`} {
		for _, list := range []string{`["a","B "]`, `[]`, `[null]`, `null`, `""`, `"b"`, `[""]`} {
			for _, cat := range []string{"Administrative", "Write"} {
				raws = append(raws, `{"category":"`+cat+`","operationName":`+op+`,"properties":{"list":`+list+`}}`)
			}
		}
	}
	raws = append(raws, `{"category":"Administrative","properties":{}}`)
	all, err := SelectPairs(e, mustEvents(t, raws), true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SelectPairs(e, mustEvents(t, raws), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, all) {
		t.Fatalf("indexed picks\n%v\nevery rule picks\n%v", got, all)
	}
	picked := map[int]bool{}
	for _, p := range all {
		picked[p[0]] = true
	}
	for i := range detections {
		if !picked[i] {
			t.Errorf("rule %d (%s) picked nothing: the comparison shows little", i, detections[i])
		}
	}
}
