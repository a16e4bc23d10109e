package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Fingerprints are cut from shared chunks: each is still the hash it was
// (the same id as ever for the same rule, group and window), and one
// handed out never changes while thousands more are cut after it.
func TestFingerprintsCutApart(t *testing.T) {
	w := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	want := func(rule, group string) string {
		sum := sha256.Sum256([]byte(strings.ToLower(rule) + "\x00" + group + "\x00" + w.Format(time.RFC3339)))
		return hex.EncodeToString(sum[:16])
	}
	type held struct{ got, was string }
	var all []held
	for i := range 1000 {
		rule, group := fmt.Sprintf("Rule-%d", i), fmt.Sprintf("g%d", i)
		got := Fingerprint(rule, group, w)
		if got != want(rule, group) {
			t.Fatalf("Fingerprint(%q, %q) = %q, want %q", rule, group, got, want(rule, group))
		}
		all = append(all, held{got, strings.Clone(got)})
	}
	for i, h := range all {
		if h.got != h.was {
			t.Fatalf("fingerprint %d changed after later ones were cut: %q, was %q", i, h.got, h.was)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Fingerprint("r", "g", w) }); n >= 0.5 {
		t.Errorf("Fingerprint: %.2f allocations a call, want a chunk's share", n)
	}
}
