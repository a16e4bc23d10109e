package detect

import (
	"strconv"
	"testing"
)

// FuzzSmallUintAgrees: what smallUint reads (the value_sum kind's counts,
// the numeric modifiers' values) is the float strconv.ParseFloat gives.
func FuzzSmallUintAgrees(f *testing.F) {
	for _, s := range []string{"0", "262144", "000123", "999999999999999", "1234567890123456", "-1", "1e3", "", "4273077"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := smallUint(s)
		if !ok {
			return
		}
		if want, err := strconv.ParseFloat(s, 64); err != nil || got != want {
			t.Fatalf("smallUint(%q) = %v, ParseFloat %v, %v", s, got, want, err)
		}
	})
}
