package detect

import (
	"strings"
	"testing"
)

// TestRulesOfSubjectAgrees: an index field's length filter
// (keyField.mayHold) passes over only subjects whose lower case the field
// does not hold, for the built-in rules' and the SigmaHQ Azure rules'
// fields: their values in other cases, with blanks, cut, lengthened, and
// beyond ASCII (the Kelvin sign, whose lower case is an ASCII k).
func TestRulesOfSubjectAgrees(t *testing.T) {
	probed, skipped := 0, 0
	eachIndexField(t, func(src string, f *keyField) {
		probes := []string{"", "[]", "x", "\u212a", "\u212aey", "key"}
		for v := range f.byValue {
			probes = append(probes, v, strings.ToUpper(v), " "+v+"\t", v+"x", v[:len(v)/2], strings.Replace(v, "k", "\u212a", 1), v+"\u00e9")
		}
		var arena lowerArena
		for _, p := range probes {
			for _, sub := range []subject{newSubject(p), {raw: p, trimmed: strings.TrimSpace(p), ascii: isASCII(strings.TrimSpace(p)), arena: &arena}} {
				probed++
				want, wantOK := f.rulesOf((&sub).lowerText())
				fresh := newSubject(p)
				fresh.arena = sub.arena
				if f.mayHold(&fresh) {
					continue
				}
				skipped++
				if wantOK || fresh.lowered {
					t.Fatalf("%s field %s value %q: passed over (lowered %t), looked up %v %v", src, f.res.key, p, fresh.lowered, want, wantOK)
				}
			}
		}
	})
	if skipped == 0 || skipped == probed {
		t.Fatalf("%d of %d probes passed over: the filter is not tried both ways", skipped, probed)
	}
	t.Logf("%d probes, %d passed over without a lower case", probed, skipped)
}
