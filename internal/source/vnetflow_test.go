package source

import "testing"

func TestVNetFlowGolden(t *testing.T) { runGolden(t, "vnetflowlogs") }
func FuzzParseVNetFlow(f *testing.F)  { fuzzSource(f, vnetFlowSource, "vnetflowlogs") }
