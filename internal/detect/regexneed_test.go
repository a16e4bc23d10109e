package detect

import (
	"testing"
)

// TestRegexRequiredLiterals checks that refusing a value for a missing
// required literal never changes what the expression matches.
func TestRegexRequiredLiterals(t *testing.T) {
	exprs := []struct {
		expr  string
		flags string
		need  int // at least this many required literals found
	}{
		{`(?i)^/subscriptions/[^/]+/providers/microsoft\.authorization/roleassignments/[^/]+$`, "", 2},
		{`(?i)^/providers/microsoft\.management/managementgroups/[^/]+/providers/microsoft\.authorization/roleassignments/[^/]+$|^/providers/microsoft\.authorization/roleassignments/[^/]+$`, "", 1},
		{`(?i)^microsoft\.(compute|storage|keyvault)/.+/delete$`, "", 2},
		{`^Admin(istrator)? (added|removed)`, "", 1},
		{`kelvin`, "i", 1},
		{`(ab)+c{2,}d?e*`, "", 2},
		{`x|y`, "", 0},
		{`(?i)(foo|xfoo)bar|foo`, "", 1},
		{`abc|(?i)abc`, "", 0},
		{`a b`, "", 0},
		{`\x{FFFD}`, "", 0},
		{`(?s)^.*Ping.*$`, "", 1},
	}
	values := []string{
		"", " ", "/subscriptions/abc/providers/Microsoft.Authorization/roleAssignments/r1",
		"/SUBSCRIPTIONS/abc/PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/r1",
		"/providers/Microsoft.Authorization/roleAssignments/x",
		"/providers/Microsoft.Management/managementGroups/g/providers/Microsoft.Authorization/roleAssignments/x",
		"/subscriptions/abc/providers/Microsoft.Authorization/roleAssignments/r1/extra",
		"Microsoft.Compute/virtualMachines/delete", "MICROSOFT.KEYVAULT/vaults/DELETE", "microsoft.web/delete",
		"Administrator added", "Admin removed x", " Admin added", "admin added",
		"KELVIN", "\u212Aelvin", "kelvin ", "ababccde", "abcc", "x", "a b", "a\tb", "\xff", "\uFFFD",
		"Ping", "FOO", "xfoobar", "ABC", "abc", "one\nPing\ntwo", "PING",
	}
	for _, c := range exprs {
		m, err := compileRegexp(c.expr, compileOpts{reFlags: c.flags})
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		r := m.(regex)
		if len(r.need) < c.need {
			t.Errorf("%s: %d required literals (%v), want at least %d", c.expr, len(r.need), r.need, c.need)
		}
		for _, v := range values {
			s := newSubject(v)
			if got, want := r.match(&s), r.re.MatchString(v); got != want {
				t.Errorf("%s on %q: %v, the expression says %v (required %v)", c.expr, v, got, want, r.need)
			}
		}
	}
}
