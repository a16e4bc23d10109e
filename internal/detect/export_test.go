package detect

import (
	"fmt"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/state"
)

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

// LegacyStateJSON is a stateful kind's row document as the JSON an earlier
// version wrote (the kind read from the partition key's prefix), for the
// tests that show such rows are still read. Snapshots inside a sequence
// row become JSON too.
func LegacyStateJSON(e state.Entity) ([]byte, error) {
	if len(e.Data) == 0 {
		return nil, nil
	}
	kind, _, _ := strings.Cut(e.PartitionKey, "|")
	key := e.Key()
	switch kind {
	case "thr", "spk":
		var d thresholdData
		if err := loadThreshold(kind, key, e, true, &d); err != nil {
			return nil, err
		}
		return json.Marshal(d)
	case "nt":
		var d termData
		if err := loadTerm(key, e, true, &d); err != nil {
			return nil, err
		}
		return json.Marshal(d)
	case "trv":
		var d travelData
		if err := loadTravel(key, e, true, &d); err != nil {
			return nil, err
		}
		return json.Marshal(d)
	case "seq":
		var d seqData
		if err := loadSeq(key, e.Data, &d); err != nil {
			return nil, err
		}
		for i, st := range d.Steps {
			if !st.ok {
				continue
			}
			snap, err := decodeSnapshot(st.Snap)
			if err != nil {
				return nil, err
			}
			if st.Snap, err = json.Marshal(snap); err != nil {
				return nil, err
			}
			d.Steps[i] = st
		}
		return json.Marshal(d)
	}
	return nil, fmt.Errorf("no state document for partition %q", e.PartitionKey)
}
