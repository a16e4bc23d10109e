package event

import (
	"strings"
	"testing"
)

func TestAppendLower(t *testing.T) {
	for _, s := range []string{"", "a", "A", "10.0.0.1", "UserRule_JIT|10.0.0.1", "ÉCOLE", "abcÉ", "İx", "\xff\xfeA", strings.Repeat("AbC", 50),
		"@AZ[`az{\x00\x7f@AZ[`az{", "ABCDEFGH\u212aIJ", "ABCDEFGHIJKLMNO\xff", "/SUBSCRIPTIONS/ABC/RESOURCEGROUPS/RG-1/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"} {
		for _, prefix := range []string{"", "p|"} {
			b := make([]byte, len(prefix), len(prefix)+1)
			copy(b, prefix)
			if got, want := string(AppendLower(b, s)), prefix+strings.ToLower(s); got != want {
				t.Errorf("AppendLower(%q, %q) = %q, want %q", prefix, s, got, want)
			}
		}
	}
}

func TestEqualFoldASCII(t *testing.T) {
	for _, c := range []struct {
		s, lower string
		want     bool
	}{
		{"", "", true}, {"BlobServices", "blobservices", true}, {"blobservices", "blobservices", true},
		{"blobservice", "blobservices", false}, {"blobſervices", "blobservices", false},
		{"\u212Aey", "key", false}, {"KEY", "key", true}, {"k[y", "k{y", false}, {"@", "`", false},
	} {
		if got := EqualFoldASCII(c.s, c.lower); got != c.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", c.s, c.lower, got, c.want)
		}
	}
}

// AppendLower, eight bytes at a time, folds exactly as strings.ToLower.
func FuzzAppendLower(f *testing.F) {
	for _, s := range []string{"", "ABCDEFGH", "@AZ[`az{\x00\x7f@AZ[`az{!", "abcdefgh\u212aK", "ABCDEFGHIJKLMNOP\xc3", "İSTANBUL-AND-MORE", "USER@CONTOSO.COM\x00\xff"} {
		f.Add("p|", s)
	}
	f.Fuzz(func(t *testing.T, prefix, s string) {
		b := append(make([]byte, 0, len(prefix)), prefix...)
		if got, want := string(AppendLower(b, s)), prefix+strings.ToLower(s); got != want {
			t.Fatalf("AppendLower(%q, %q) = %q, want %q", prefix, s, got, want)
		}
	})
}
