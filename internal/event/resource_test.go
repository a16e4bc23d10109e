package event

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseResourceID(t *testing.T) {
	tests := []struct {
		id   string
		want Resource
	}{
		{"/SUBSCRIPTIONS/6F2C/RESOURCEGROUPS/RG-1/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-PROD",
			Resource{Subscription: "6F2C", Group: "RG-1", Provider: "MICROSOFT.KEYVAULT", Type: "VAULTS", Name: "KV-PROD"}},
		{"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/allow-rdp",
			Resource{Subscription: "6f2c", Group: "rg", Provider: "Microsoft.Network", Type: "networkSecurityGroups/securityRules", Name: "allow-rdp"}},
		// Extension resource: the last provider wins.
		{"/SUBSCRIPTIONS/6F2C/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/TO-SIEM",
			Resource{Subscription: "6F2C", Group: "RG", Provider: "MICROSOFT.INSIGHTS", Type: "DIAGNOSTICSETTINGS", Name: "TO-SIEM"}},
		{"/subscriptions/6f2c", Resource{Subscription: "6f2c"}},
		{"/subscriptions/6f2c/resourcegroups/rg-app", Resource{Subscription: "6f2c", Group: "rg-app"}},
		{"/tenants/72f9/providers/Microsoft.aadiam", Resource{Provider: "Microsoft.aadiam"}},
		{"/RESOURCE_ID", Resource{}},
		{"", Resource{}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got := ParseResourceID(tc.id)
			tc.want.ID = tc.id
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestParseResourceIDAllocs: a type is a substring of the id; a child type
// (several segments joined) is built once and then found among those seen
// before (AllocsPerRun parses once before it counts); a long one is built
// each time.
func TestParseResourceIDAllocs(t *testing.T) {
	long := strings.Repeat("x", maxChildTypeLen)
	for id, want := range map[string]float64{
		"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv":                                      0,
		"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/rdp":    0,
		"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/e/a/b/c/d/e/f/g/h": 1, // past four child segments
		"/subscriptions/6f2c/resourceGroups/rg/providers/P/a/1/" + long + "/2":                                              2,
	} {
		if got := testing.AllocsPerRun(50, func() { _ = ParseResourceID(id) }); got > want {
			t.Errorf("%s: %.0f allocations, want %.0f", id, got, want)
		}
	}
	if got := ParseResourceID("/subscriptions/s/resourceGroups/rg/providers/P/a/1/b/2/c/3/d/4/e/5/f/6").Type; got != "a/b/c/d/e/f" {
		t.Errorf("type %q", got)
	}
}

// The child types kept for reuse are bounded, whatever ids the records
// carry, and each parse still gets its own type right; a type handed out
// never changes.
func TestParseResourceIDChildTypesBounded(t *testing.T) {
	first := ParseResourceID("/subscriptions/s/resourceGroups/rg/providers/P/zone/1/record/2").Type
	for i := range 2 * maxChildTypes {
		id := fmt.Sprintf("/subscriptions/s/resourceGroups/rg/providers/P/t%d/n/c%d/m", i, i)
		if got, want := ParseResourceID(id).Type, fmt.Sprintf("t%d/c%d", i, i); got != want {
			t.Fatalf("%s: type %q, want %q", id, got, want)
		}
	}
	if n := childTypes.len(); n > maxChildTypes {
		t.Fatalf("%d child types kept, bound %d", n, maxChildTypes)
	}
	if first != "zone/record" {
		t.Fatalf("a type handed out changed: %q", first)
	}
}

// isWord answers as strings.EqualFold, the case the Kelvin sign and the
// long s make included.
func TestIsWord(t *testing.T) {
	for _, word := range []string{"subscriptions", "resourcegroups", "providers", "k", "s"} {
		for _, s := range []string{"", word, strings.ToUpper(word), "ſubscriptions", "reſourcegroups", "providerſ",
			"\u212a", "ſ", "K", "S", "x", "subscription", "subscriptionss", "\xffubscriptions", "SUBSCRIPTIONS/",
			"Providers", "pROVIDERS", "providers\x00", "\u212aeyvault"} {
			if got, want := isWord(s, word), strings.EqualFold(s, word); got != want {
				t.Errorf("isWord(%q, %q) = %t, strings.EqualFold says %t", s, word, got, want)
			}
			if got, want := isLetterWord(s, word), strings.EqualFold(s, word); got != want {
				t.Errorf("isLetterWord(%q, %q) = %t, strings.EqualFold says %t", s, word, got, want)
			}
		}
	}
}

// FuzzIsWord: go test -run '^$' -fuzz FuzzIsWord ./internal/event/
func FuzzIsWord(f *testing.F) {
	f.Add("ſubscriptions")
	f.Add("PROVIDERS")
	f.Add("resourceGroups")
	f.Add("sUbScRiPtIoNs")
	f.Add("provider\x7f")
	f.Add("providerY")
	f.Add("subscription\x13")
	f.Fuzz(func(t *testing.T, s string) {
		for _, word := range []string{"subscriptions", "resourcegroups", "providers"} {
			if got, want := isWord(s, word), strings.EqualFold(s, word); got != want {
				t.Fatalf("isWord(%q, %q) = %t, strings.EqualFold says %t", s, word, got, want)
			}
			if got, want := isLetterWord(s, word), strings.EqualFold(s, word); got != want {
				t.Fatalf("isLetterWord(%q, %q) = %t, strings.EqualFold says %t", s, word, got, want)
			}
		}
	})
}

// trimIDEnds answers as the Trim of the TrimSpace it stands for, on ids
// with blanks, Unicode spaces, slashes, invalid UTF-8 at either end.
func TestTrimIDEnds(t *testing.T) {
	for _, id := range []string{
		"", "/", "//", "/ ", " /", "/a", "//a/b", "///a/", "/a/\u00a0", "/a\u0085", "/a\xc2", "/a\xff", "\xff/a",
		"/SUBSCRIPTIONS/1/RESOURCEGROUPS/G", "\t/subscriptions/x\n", "a/b", "/a/b/",
	} {
		checkTrimIDEnds(t, id)
	}
}

func checkTrimIDEnds(t *testing.T, id string) {
	t.Helper()
	if got, want := trimIDEnds(id), strings.Trim(strings.TrimSpace(id), "/"); got != want {
		t.Fatalf("trimIDEnds(%q) = %q, want %q", id, got, want)
	}
}

// FuzzTrimIDEnds: go test -run '^$' -fuzz FuzzTrimIDEnds ./internal/event/
func FuzzTrimIDEnds(f *testing.F) {
	f.Add("/subscriptions/s/resourceGroups/g")
	f.Add("//a\u3000")
	f.Fuzz(checkTrimIDEnds)
}
