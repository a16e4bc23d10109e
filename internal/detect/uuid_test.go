package detect

import (
	"regexp"
	"strings"
	"testing"
)

// uuidRegexp is what isUUID hand-writes.
var uuidRegexp = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var uuidSeeds = []string{
	"0b7b4f3a-8c1e-4d2b-9f6a-1e2d3c4b5a69", "0B7B4F3A-8C1E-4D2B-9F6A-1E2D3C4B5A69",
	"0b7b4f3a-8c1e-4d2b-9f6a-1e2d3c4b5a6", "0b7b4f3a-8c1e-4d2b-9f6a-1e2d3c4b5a690",
	"0b7b4f3a8c1e-4d2b-9f6a-1e2d3c4b5a69-", "0b7b4f3g-8c1e-4d2b-9f6a-1e2d3c4b5a69",
	"0b7b4f3a-8c1e-4d2b-9f6a-1e2d3c4b5a6\n", "{0b7b4f3a-8c1e-4d2b-9f6a-1e2d3c4b5a6}",
	"0b7b4f3a_8c1e_4d2b_9f6a_1e2d3c4b5a69", "0b7b4f3a-8c1e-4d2b-9f6a-1e2d3c4b5a\xc3\xa9",
	"", strings.Repeat("-", 36), strings.Repeat("a", 36),
}

func TestIsUUID(t *testing.T) {
	for i, s := range uuidSeeds {
		if got, want := isUUID(s), uuidRegexp.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v, the regexp says %v", s, got, want)
		}
		if want := i < 2; isUUID(s) != want {
			t.Errorf("isUUID(%q) = %v, want %v", s, !want, want)
		}
	}
}

// FuzzIsUUID: the hand-written isUUID answers as the regexp does.
func FuzzIsUUID(f *testing.F) {
	for _, s := range uuidSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isUUID(s), uuidRegexp.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}
