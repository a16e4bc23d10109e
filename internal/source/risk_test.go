package source

import "testing"

func TestRiskGolden(t *testing.T) { runGolden(t, "riskdetection") }
func FuzzParseRisk(f *testing.F)  { fuzzSource(f, riskSource, "riskdetection") }
