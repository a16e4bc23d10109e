package detect

import "testing"

// Exported for the external tests (source_test.go) that need the real
// source registry, which this package must not import.

// SigmaCase is one hand-written record for a SigmaHQ rule.
type SigmaCase struct {
	File, Name string
	Want       bool
	Raw        string
}

// SigmaCases returns the hand-written SigmaHQ cases.
func SigmaCases() []SigmaCase {
	out := make([]SigmaCase, len(sigmaCases))
	for i, c := range sigmaCases {
		out[i] = SigmaCase{c.file, c.name, c.want, withEnvelope(c.raw)}
	}
	return out
}

// SigmaDir returns the SigmaHQ reference folder, skipping the test when it
// is missing.
var SigmaDir = func(t testing.TB) string { return sharedDir(t, "sigma-azure") }
