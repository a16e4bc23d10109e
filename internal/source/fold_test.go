package source

import (
	"strings"
	"testing"
)

// TestLowerAs: lowerAs and hasPrefixFold answer as strings.ToLower does,
// the odd folds of non-ASCII letters included (the long s and the Kelvin
// sign fold to s and k, but ToLower keeps the one and makes the other k).
func TestLowerAs(t *testing.T) {
	words := []string{"true", "false", "blob", "high"}
	for _, s := range []string{"True", "FALSE", "false", "Blob", "blobs", "HIGH", "", "falſe", "\u212Aey", "Tru", "ÉTÉ"} {
		if got, want := lowerAs(s, words...), strings.ToLower(s); got != want {
			t.Errorf("lowerAs(%q) = %q, want %q", s, got, want)
		}
		for _, prefix := range []string{"key", "fal", "microsoft.security/", "ét"} {
			if got, want := hasPrefixFold(s, prefix), strings.HasPrefix(strings.ToLower(s), prefix); got != want {
				t.Errorf("hasPrefixFold(%q, %q) = %v, want %v", s, prefix, got, want)
			}
		}
	}
	if n := testing.AllocsPerRun(20, func() { _ = lowerAs("True", "true", "false") }); n != 0 {
		t.Errorf("lowerAs of a known word: %.0f allocations", n)
	}
	for _, tc := range []struct{ op, want string }{{"\u212AeyGet", "key"}, {"SECRETGET", "secret"}, {"ManagedHsmGet", "vault"}} {
		if got := keyVaultObjectType(tc.op, ""); got != tc.want {
			t.Errorf("keyVaultObjectType(%q) = %q, want %q", tc.op, got, tc.want)
		}
	}
}

// trimSpace answers as strings.TrimSpace: every byte, and the Unicode
// spaces (NEL, no-break, ideographic), at either end or both.
func TestTrimSpace(t *testing.T) {
	ends := []string{"", " ", "\t", "\v", "\x1f", "\x7f", "\x80", "\xc2", "\xc2\x85", "\xc2\xa0", "\u3000", "\xe3\x80", "a", "é"}
	for c := 0; c < 256; c++ {
		ends = append(ends, string([]byte{byte(c)}))
	}
	for _, a := range ends {
		for _, b := range ends {
			for _, mid := range []string{"", "x", "x y"} {
				s := a + mid + b
				if got, want := trimSpace(s), strings.TrimSpace(s); got != want {
					t.Fatalf("trimSpace(%q) = %q, want %q", s, got, want)
				}
			}
		}
	}
}

// FuzzContainsFold checks containsFold against a search of the ASCII
// lower case of s (what it compares without making it).
func FuzzContainsFold(f *testing.F) {
	f.Add("/SUBSCRIPTIONS/S/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V", "/providers/microsoft.keyvault/")
	f.Add("ab", "")
	f.Add("xAbc", "abc")
	f.Fuzz(func(t *testing.T, s, sub string) {
		sub = strings.ToLower(sub)
		for i := 0; i < len(sub); i++ {
			if sub[i] >= 0x80 {
				return // sub is lower-case ASCII
			}
		}
		lower := []byte(s)
		for i, c := range lower {
			if 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
		if got, want := containsFold(s, sub), strings.Contains(string(lower), sub); got != want {
			t.Fatalf("containsFold(%q, %q) = %v, want %v", s, sub, got, want)
		}
	})
}
