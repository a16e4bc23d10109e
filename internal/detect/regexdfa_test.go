package detect

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// dfaExprs are the built-in rules' expressions and shapes that try the
// automaton's corners: anchors at either end or in one branch, empty
// matches, (?i) with letters whose case orbit leaves ASCII (k, s), (?s).
var dfaExprs = []string{
	`(?i)^microsoft\.(compute|storage|sql|recoveryservices|dataprotection|keyvault|network|resources|documentdb|web|containerservice|containerregistry|operationalinsights|insights|dbforpostgresql|dbformysql|cache|eventhub|servicebus|cognitiveservices|machinelearningservices|databricks|synapse|datafactory|app|netapp|cdn|search)/.+/delete$`,
	`(?i)^(/subscriptions/[^/]+)?/providers/microsoft\.(insights|aadiam)/diagnosticsettings/[^/]+$`,
	`(?i)^/providers/microsoft\.management/managementgroups/[^/]+/providers/microsoft\.authorization/roleassignments/[^/]+$|^/providers/microsoft\.authorization/roleassignments/[^/]+$`,
	`(?i)^/subscriptions/[^/]+/resourcegroups/[^/]+(/providers/.+)?/providers/microsoft\.authorization/roleassignments/[^/]+$`,
	`(?i)^/subscriptions/[^/]+/providers/microsoft\.authorization/roleassignments/[^/]+$`,
	``, `^$`, `a*`, `^`, `$`, `x$`, `^x|y$`, `a|^b`, `(?i)kelvin`, `(?i)s+`, `(?s)a.b`, `a.b`,
	`[a-f0-9]{4}-x`, `(ab)+c{2,}d?e*`, `^Admin(istrator)? (added|removed)`, `(?i)(foo|xfoo)bar|foo`,
	`abc|(?i)abc`, `a b`, `[^/]+/`, `\x00|\x7f`, `(?U)a+?b`, `^(a|b)*c$`, `[[:upper:]]z`, `\d+\.\d+`,
}

func dfaValues(r *rand.Rand) []string {
	vals := []string{
		"", " ", "\n", "a", "b", "x", "y", "xy", "yx", "ab", "abc", "ABC", "a\nb", "a b", "a\tb",
		"Microsoft.Compute/virtualMachines/delete", "MICROSOFT.KEYVAULT/vaults/DELETE", "microsoft.web/delete",
		"microsoft.web//delete", "microsoft.web/x/delete\n", "microsoft.web/x\n/delete",
		"/subscriptions/abc/providers/Microsoft.Authorization/roleAssignments/r1",
		"/SUBSCRIPTIONS/abc/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.COMPUTE/vm/x/PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/r1",
		"/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/r1/extra",
		"/providers/Microsoft.Management/managementGroups/g/providers/Microsoft.Authorization/roleAssignments/x",
		"/providers/microsoft.insights/diagnosticSettings/d", "/subscriptions/s/providers/microsoft.aadiam/diagnosticsettings/d/",
		"KELVIN", "\u212Aelvin", "ſ", "S", "ababccde", "abcc", "Administrator added", "admin added", "xfoobar", "FOO",
		"0a1b-x", "aab", "c", "abababc", "Zz", "12.5", "\x00", "\x7f", "\xff", "é",
	}
	alphabet := "ab/xyzcdeKkSs .\n-AB"
	for i := 0; i < 300; i++ {
		n := r.IntN(12)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		vals = append(vals, b.String())
	}
	return vals
}

// TestASCIIDFAMatchesRegexp checks the automaton answers as regexp does on
// every ASCII value, and leaves every other value to regexp.
func TestASCIIDFAMatchesRegexp(t *testing.T) {
	vals := dfaValues(rand.New(rand.NewPCG(1, 2)))
	for _, expr := range dfaExprs {
		re := regexp.MustCompile(expr)
		d := newASCIIDFA(expr)
		if d == nil {
			t.Fatalf("%s: no automaton", expr)
		}
		for _, v := range vals {
			got, ok := d.match(v)
			if !ok {
				if isASCIIString(v) {
					t.Errorf("%s on %q: left to regexp, but the value is ASCII", expr, v)
				}
				continue
			}
			if !isASCIIString(v) {
				t.Errorf("%s on %q: answered for a value that is not ASCII", expr, v)
			}
			if want := re.MatchString(v); got != want {
				t.Errorf("%s on %q: %v, regexp says %v", expr, v, got, want)
			}
		}
	}
}

// TestASCIIDFARefuses checks expressions the automaton does not model are
// left to regexp.
func TestASCIIDFARefuses(t *testing.T) {
	for _, expr := range []string{`\bfoo`, `(?m)^x`, `x(?m)$`, `\B`, `(`} {
		if d := newASCIIDFA(expr); d != nil {
			t.Errorf("%s: built an automaton", expr)
		}
	}
	// Too many states: (a|b)*a(a|b){12} needs 2^13.
	if d := newASCIIDFA(`(a|b)*a(a|b){12}`); d != nil {
		t.Errorf("built an automaton of %d states", len(d.accept))
	}
}

// TestRegexMatcherUsesDFA checks the compiled re matcher agrees with
// regexp through both paths (ASCII and not).
func TestRegexMatcherUsesDFA(t *testing.T) {
	m, err := compileRegexp(dfaExprs[0], compileOpts{})
	if err != nil {
		t.Fatal(err)
	}
	r := m.(regex)
	for _, v := range []string{"Microsoft.Compute/disks/DELETE", "Microsoft.Compute/disks/write", "Microsoft.Compute/dïsks/DELETE", "microsoft.cdn/x/delete"} {
		s := newSubject(v)
		if got, want := r.match(&s), r.re.MatchString(v); got != want {
			t.Errorf("%q: %v, regexp says %v", v, got, want)
		}
	}
	if r.dfa.get() == nil {
		t.Fatal("no automaton for the rule's expression")
	}
}

func FuzzASCIIDFA(f *testing.F) {
	for _, e := range dfaExprs {
		f.Add(e, "Microsoft.Compute/x/delete")
	}
	f.Fuzz(func(t *testing.T, expr, v string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		d := newASCIIDFA(expr)
		if d == nil {
			return
		}
		got, ok := d.match(v)
		if !ok {
			if isASCIIString(v) {
				t.Fatalf("%s on %q: left to regexp, but the value is ASCII", expr, v)
			}
			return
		}
		if want := re.MatchString(v); got != want {
			t.Fatalf("%s on %q: %v, regexp says %v", expr, v, got, want)
		}
	})
}

// BenchmarkNewASCIIDFA is the one-time cost of the built-in rules'
// automata.
func BenchmarkNewASCIIDFA(b *testing.B) {
	for i := 0; i < b.N; i++ {
		for _, e := range dfaExprs[:5] {
			if newASCIIDFA(e) == nil {
				b.Fatal(e)
			}
		}
	}
}

// TestEngineBuildsAutomata: NewEngine builds the automata of its rules'
// expressions, in selections and in a keyword-free selection list alike,
// before any event meets them (lazyDFA.get has run: its once is done).
func TestEngineBuildsAutomata(t *testing.T) {
	r := mustRule(t, ruleWith("activitylogs", `  selection:
    resourceId|re: '(?i)^/subscriptions/[^/]+/providers/microsoft\.testautomata/x/[^/]+$'
  other:
    - operationName|re: 'TESTAUTOMATA/(write|delete)$'
  condition: selection or other
`))
	var lazies []*lazyDFA
	for _, s := range r.sels {
		for _, g := range s.anyOf {
			for _, f := range g {
				for _, v := range f.values {
					if re, ok := v.m.(regex); ok {
						lazies = append(lazies, re.dfa)
					}
				}
			}
		}
	}
	if len(lazies) != 2 {
		t.Fatalf("%d expressions in the rule, want 2", len(lazies))
	}
	if _, err := NewEngine([]*Rule{r}); err != nil {
		t.Fatal(err)
	}
	for _, l := range lazies {
		l.once.Do(func() { t.Errorf("automaton of %q not built by NewEngine", l.expr) })
		if l.d == nil {
			t.Errorf("automaton of %q: none (regexp for every value)", l.expr)
		}
	}
}
