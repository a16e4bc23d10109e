package event

import (
	"strings"
	"testing"
)

func TestAppendLower(t *testing.T) {
	for _, s := range []string{"", "a", "A", "10.0.0.1", "UserRule_JIT|10.0.0.1", "ÉCOLE", "abcÉ", "İx", "\xff\xfeA", strings.Repeat("AbC", 50)} {
		for _, prefix := range []string{"", "p|"} {
			b := make([]byte, len(prefix), len(prefix)+1)
			copy(b, prefix)
			if got, want := string(AppendLower(b, s)), prefix+strings.ToLower(s); got != want {
				t.Errorf("AppendLower(%q, %q) = %q, want %q", prefix, s, got, want)
			}
		}
	}
}
