package detect

import (
	"strconv"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// matchOne builds a one-selection rule "sel: {key: value}" and runs it over
// a raw JSON record.
func matchOne(t *testing.T, key, value, raw string) bool {
	t.Helper()
	r := mustRule(t, ruleWith("testsvc", "  sel:\n    "+key+": "+value+"\n  condition: sel\n"))
	return r.Match(&event.Event{Source: "testsvc", Raw: []byte(raw)})
}

func TestModifiers(t *testing.T) {
	const rec = `{"op":"MICROSOFT.KEYVAULT/VAULTS/WRITE","name":"Update application – Certificates and secrets management ",
		"n":50053,"s":"50053","b":false,"nul":null,"empty":"","arr":["alpha","Beta"],"emptyArr":[],
		"ip":"10.1.2.3","ipport":"10.1.2.3:443","ip6":"[2001:db8::1]:443","mapped":"::ffff:192.168.0.1",
		"badip":"not-an-ip","path":"C:\\Windows\\x.exe","star":"a*b","properties":{"nested":"Deep","upper":{"Mixed":"X"}},
		"json":"{\"State\":0,\"Kind\":\"Strong\"}"}`
	tests := []struct {
		name  string
		key   string
		value string
		want  bool
	}{
		{"equals ignores case", "op", "microsoft.keyvault/vaults/write", true},
		{"equals whole value", "op", "MICROSOFT.KEYVAULT/VAULTS", false},
		{"equals trims blanks in the event", "name", "update application – certificates and secrets management", true},
		{"list is OR", "op", "[nope, MICROSOFT.KEYVAULT/VAULTS/WRITE]", true},
		{"list none", "op", "[nope, also-no]", false},
		{"star wildcard", "op", "microsoft.keyvault/*/write", true},
		{"star wildcard miss", "op", "microsoft.network/*", false},
		{"question wildcard", "op", "MICROSOFT.KEYVAULT/VAULTS/WRIT?", true},
		{"question is one char", "op", "MICROSOFT.KEYVAULT/VAULTS/WRI?", false},
		{"escaped star is literal", "star", `'a\*b'`, true},
		{"escaped star no wildcard", "star", `'a\*c'`, false},
		{"unescaped star matches", "star", "'a*'", true},
		{"backslash before other is literal", "path", `'C:\Windows\x.exe'`, true},
		{"contains", "op|contains", "keyvault", true},
		{"contains miss", "op|contains", "network", false},
		{"contains with wildcard", "op|contains", "vaults/*e", true},
		{"startswith", "op|startswith", "Microsoft.KeyVault/", true},
		{"startswith miss", "op|startswith", "VAULTS", false},
		{"endswith", "op|endswith", "/write", true},
		{"endswith miss", "op|endswith", "/delete", false},
		{"contains all", "op|contains|all", "[keyvault, write]", true},
		{"contains all miss", "op|contains|all", "[keyvault, delete]", false},
		{"array fan-out any", "arr", "beta", true},
		{"array all across elements", "arr|all", "[alpha, beta]", true},
		{"number compares by text", "n", "50053", true},
		{"number vs string", "s", "50053", true},
		{"number other", "n", "50054", false},
		{"bool as text", "b", "'false'", true},
		{"bool literal", "b", "false", true},
		{"null matches missing", "missing", "null", true},
		{"null matches JSON null", "nul", "null", true},
		{"null does not match a value", "op", "null", false},
		{"null does not match empty", "empty", "null", false},
		{"empty matches empty", "empty", "''", true},
		{"empty does not match missing", "missing", "''", false},
		{"empty does not match null", "nul", "''", false},
		{"empty does not match value", "op", "''", false},
		{"null in list", "missing", "[x, null]", true},
		{"empty array is []", "emptyArr", "'[]'", true},
		{"properties fallback", "nested", "deep", true},
		{"case-insensitive path", "PROPERTIES.UPPER.mixed", "x", true},
		{"json in string", "json", "'*\"State\":0*'", true},
		{"json in string followed", "json.State", "0", true},
		{"re", "op|re", "'^MICROSOFT\\.KEYVAULT/.*/WRITE$'", true},
		{"re is case-sensitive", "op|re", "'^microsoft'", false},
		{"re inline i", "op|re", "'(?i)^microsoft'", true},
		{"re|i", "op|re|i", "'^microsoft'", true},
		{"re|m", "op|re|m", "'WRITE$'", true},
		{"re|s", "op|re|s", "'VAULTS.WRITE'", true},
		{"cased equals", "op|cased", "microsoft.keyvault/vaults/write", false},
		{"cased contains", "op|contains|cased", "KEYVAULT", true},
		{"cidr v4", "ip|cidr", "10.0.0.0/8", true},
		{"cidr v4 miss", "ip|cidr", "192.168.0.0/16", false},
		{"cidr v4 with port", "ipport|cidr", "10.1.0.0/16", true},
		{"cidr v6 bracket port", "ip6|cidr", "2001:db8::/32", true},
		{"cidr v6 miss", "ip6|cidr", "2001:db9::/32", false},
		{"cidr mapped v4", "mapped|cidr", "192.168.0.0/24", true},
		{"cidr bare ip", "ip|cidr", "10.1.2.3", true},
		{"cidr list", "ip|cidr", "['192.168.0.0/16', '10.0.0.0/8']", true},
		{"cidr not an ip", "badip|cidr", "0.0.0.0/0", false},
		{"exists true", "op|exists", "true", true},
		{"exists true missing", "missing|exists", "true", false},
		{"exists false missing", "missing|exists", "false", true},
		{"exists false null", "nul|exists", "false", true},
		{"gt", "n|gt", "50000", true},
		{"gt miss", "n|gt", "50053", false},
		{"gte", "n|gte", "50053", true},
		{"lt", "s|lt", "60000", true},
		{"lte miss", "s|lte", "5", false},
		{"gt not a number", "op|gt", "1", false},
		{"base64 then contains", "b64|base64|contains", "hello", true},
	}
	raw := strings.Replace(rec, `"op":`, `"b64":"xxaGVsbG8=yy","op":`, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchOne(t, tc.key, tc.value, raw); got != tc.want {
				t.Fatalf("%s: %s over the record = %t, want %t", tc.key, tc.value, got, tc.want)
			}
		})
	}
}

func TestKeywords(t *testing.T) {
	r := mustRule(t, ruleWith("testsvc", "  keywords:\n    - Microsoft.Authorization/roleAssignments/write\n    - 'evil*tool'\n  condition: keywords\n"))
	tests := []struct {
		raw  string
		want bool
	}{
		{`{"operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE"}`, true},
		{`{"properties":{"message":"Microsoft.Authorization/roleAssignments/write"}}`, true},
		{`{"a":["x",{"b":"prefix microsoft.authorization/roleassignments/write suffix"}]}`, true},
		{`{"operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE"}`, false},
		{`{"Microsoft.Authorization/roleAssignments/write":1}`, false}, // member names are not values
		{`{"ua":"an EVIL hacking TOOL"}`, true},
		{`{"escaped":"Microsoft.Authorization\/roleAssignments\/write"}`, true},
		{`not json but Microsoft.Authorization/roleAssignments/write`, true},
	}
	for _, tc := range tests {
		if got := r.Match(&event.Event{Source: "testsvc", Raw: []byte(tc.raw)}); got != tc.want {
			t.Errorf("keywords over %s = %t, want %t", tc.raw, got, tc.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*b*b*", "xbyb", true},
		{"*b*b*", "xby", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"é?", "éé", true},
		{"*aab", "aaab", true},
	}
	for _, tc := range tests {
		m := compilePattern(tc.pat, compileOpts{}, false, false)
		s := newSubject(tc.s)
		if got := m.match(&s); got != tc.want {
			t.Errorf("glob %q over %q = %t, want %t", tc.pat, tc.s, got, tc.want)
		}
	}
}

func TestParseIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1"},
		{" 10.0.0.1 ", "10.0.0.1"},
		{"10.0.0.1:443", "10.0.0.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"", ""},
		{"nope", ""},
	}
	for _, tc := range tests {
		a, ok := parseIP(tc.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("parseIP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSubjectFastPaths checks newSubject's trim and the numeric matcher's
// plain-number path against the general ones they skip.
func TestSubjectFastPaths(t *testing.T) {
	for _, s := range []string{"", " ", "a", " a", "a ", "\ta\n", "10.0.0.1", "\u00a0x", "x\u00a0", "\u0085y\u2000",
		"é", "aé", "éa", "0", "7", "262144", "00012", "123456789012345", "1234567890123456", "-1", "1e3", "+5", " 42", "42 ", "1_000", "0x10", "9999999999999999999"} {
		sub := newSubject(s)
		if want := strings.TrimSpace(s); sub.trimmed != want {
			t.Errorf("newSubject(%q).trimmed = %q, want %q", s, sub.trimmed, want)
		}
		want, werr := strconv.ParseFloat(sub.trimmed, 64)
		if got, ok := smallUint(sub.trimmed); ok && (werr != nil || got != want) {
			t.Errorf("smallUint(%q) = %v, ParseFloat gives %v, %v", sub.trimmed, got, want, werr)
		}
		for _, op := range []string{"gt", "gte", "lt", "lte"} {
			n := numeric{op: op, want: 42}
			var ref bool
			if werr == nil {
				switch op {
				case "gt":
					ref = want > 42
				case "gte":
					ref = want >= 42
				case "lt":
					ref = want < 42
				default:
					ref = want <= 42
				}
			}
			if got := n.match(&sub); got != ref {
				t.Errorf("%s 42 on %q = %v, want %v", op, s, got, ref)
			}
		}
	}
}

// TestSWARCase checks the word-at-a-time loops (isASCII, lowerArena.lower)
// against the byte-at-a-time ones they replace: every ASCII byte at every
// place of a word and of the tail, and a byte beyond ASCII anywhere.
func TestSWARCase(t *testing.T) {
	var cases []string
	for n := 0; n <= 19; n++ {
		for c := 0; c < 128; c++ {
			for _, at := range []int{0, n / 2, n - 1} {
				if n == 0 {
					break
				}
				b := []byte(strings.Repeat("aZ@[`{0~", 3)[:n])
				b[at] = byte(c)
				cases = append(cases, string(b))
			}
		}
		cases = append(cases, strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2)[:n], strings.Repeat("@[`{", 5)[:n])
	}
	var a lowerArena
	for _, s := range cases {
		if got, want := a.lower(s), strings.ToLower(s); got != want {
			t.Fatalf("lower(%q) = %q, want %q", s, got, want)
		}
		if !isASCII(s) {
			t.Fatalf("isASCII(%q) = false", s)
		}
		if len(s) > 0 {
			for _, r := range []string{"\u00e9", "\u212a", "\u017f", "\x80", "\xff"} {
				for _, at := range []int{0, len(s) / 2, len(s)} {
					u := s[:at] + r + s[at:]
					if isASCII(u) {
						t.Fatalf("isASCII(%q) = true", u)
					}
					if sub := newSubject(u); sub.ascii {
						t.Fatalf("newSubject(%q).ascii = true", u)
					}
				}
			}
		}
	}
	// Arena strings stay valid while the arena grows.
	a.b = a.b[:0]
	x, y := a.lower("HELLO, WORLD 123"), a.lower(strings.Repeat("Q", 1000))
	if x != "hello, world 123" || y != strings.Repeat("q", 1000) {
		t.Fatalf("arena strings: %q, %.20q", x, y)
	}
}
