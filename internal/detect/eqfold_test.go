package detect

import (
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestEqFoldAgreesWithMatchers: a field tested with uncased equalities
// only (fieldMatch.eqFold, compared in eval) answers what the rule
// values' own matchers answer (literal.match through matchValue), on
// every combination of field values below: ASCII and not, blanks, case
// folding beyond ASCII (Kelvin sign, long s, dotless and dotted i, final
// sigma), escapes, control bytes, nulls, arrays, an empty array, a
// missing field and a 1 MiB value.
func TestEqFoldAgreesWithMatchers(t *testing.T) {
	wants := []string{"'abc'", "'ABC'", "kelvin", "'KELVIN'", "'\u212aelvin'", "'stop'", "'\u017ftop'", "'id'", "'\u0130d'",
		"'\u0131d'", "'\u03c3\u03c2'", "'\u03a3\u03a3'", "'caf\u00e9'", "'CAF\u00c9'", "''", "'[]'", "'a b'", "' x '", "'50126'", "'\\u0041'", "'a\"b'"}
	var fields []*fieldMatch
	for i := range wants {
		for j := i; j < len(wants) && j < i+3; j++ {
			list := "[" + strings.Join(wants[i:j+1], ", ") + "]"
			r := mustRule(t, ruleWith("signinlogs", "  sel:\n    properties.v: "+list+"\n  condition: sel\n"))
			f := r.sels[0].anyOf[0][0]
			if f.eqFold == nil {
				t.Fatalf("%s: no eqFold", list)
			}
			fields = append(fields, f)
		}
	}
	// Not eligible: cased, a modifier, null, all.
	for _, d := range []string{"properties.v|cased: abc", "properties.v|contains: abc", "properties.v: [abc, null]", "properties.v|all: [abc, abc]"} {
		r := mustRule(t, ruleWith("signinlogs", "  sel:\n    "+d+"\n  condition: sel\n"))
		if f := r.sels[0].anyOf[0][0]; f.eqFold != nil {
			t.Fatalf("%s: eqFold %q", d, f.eqFold)
		}
	}
	values := []string{`"abc"`, `"ABC"`, `" Abc "`, `"aBc\t"`, `"abcd"`, `"KELVIN"`, `"\u212aELVIN"`, "\"\u212aelvin\"", `"kelvin"`,
		`"STOP"`, "\"\u017ftop\"", `"ID"`, "\"\u0130D\"", "\"\u0131d\"", `"id"`, "\"\u03a3\u03a3\"", "\"\u03c3\u03c3\"", "\"CAF\u00c9\"", `"caf\u00e9"`,
		`""`, `"  "`, `null`, `[]`, `["x", "ABC"]`, `[null, "kelvin"]`, `[["abc"]]`, `{"a": "abc"}`, `50126`, `"50126"`, `true`,
		`"\u0041"`, `"a\"b"`, `"A\"B"`, `"a\u0000b"`, "\"\x01abc\"", `"A B"`, `"\u00a0x\u00a0"`, `" x "`, `"x"`}
	big := `"` + strings.Repeat("a", 1<<20) + `"`
	values = append(values, big, `"`+strings.Repeat("A", 1<<20)+`"`)
	cache := newFieldCache()
	checked, matched := 0, 0
	for _, v := range append(values, "") {
		raw := `{"category":"SignInLogs","properties":{"v":` + v + `}}`
		if v == "" {
			raw = `{"category":"SignInLogs","properties":{}}`
		}
		ev := &event.Event{Source: "signinlogs", Raw: []byte(raw)}
		for _, f := range fields {
			slow := *f
			slow.eqFold = nil
			cache.reset(ev)
			fast := (&evalCtx{ev: ev, cache: cache}).eval(f)
			cache.reset(ev)
			want := (&evalCtx{ev: ev, cache: cache}).eval(&slow)
			if fast != want {
				t.Fatalf("value %.60s, wants %q: eqFold %v, matchers %v", v, f.eqFold, fast, want)
			}
			// And without a cache (a fresh resolvedField each time).
			if got := (&evalCtx{ev: ev}).eval(f); got != want {
				t.Fatalf("value %.60s, wants %q without a cache: eqFold %v, matchers %v", v, f.eqFold, got, want)
			}
			checked++
			if want {
				matched++
			}
		}
	}
	cache.release()
	if matched < 50 || matched == checked {
		t.Fatalf("%d of %d field tests matched: the comparison shows little", matched, checked)
	}
	t.Logf("%d field tests over %d values, %d matched", checked, len(values)+1, matched)
}

func (e *evalCtx) eval(f *fieldMatch) bool { return f.eval(e) }
