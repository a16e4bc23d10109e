package detect

import (
	"os"
	"slices"
	"testing"
)

// TestKeyFieldSmallAgreesWithMap: a rule index field listing its values
// (keyField.small) answers every value, and values it lacks, as its map
// does: for the built-in rules and the SigmaHQ Azure rules.
func TestKeyFieldSmallAgreesWithMap(t *testing.T) {
	small, listed := 0, 0
	eachIndexField(t, func(src string, f *keyField) {
		if f.small == nil {
			if len(f.byValue) <= smallValues {
				t.Fatalf("%s field %s: %d values, not listed", src, f.res.key, len(f.byValue))
			}
			return
		}
		small++
		if len(f.small) != len(f.byValue) {
			t.Fatalf("%s field %s: %d listed, %d in the map", src, f.res.key, len(f.small), len(f.byValue))
		}
		probes := []string{"", "[]", "x", "TRUE", "true ", "tru", "truee"}
		for v := range f.byValue {
			probes = append(probes, v, v+"x", v[:len(v)/2])
		}
		for _, v := range probes {
			listed++
			want, wantOK := f.byValue[v]
			got, gotOK := f.rulesOf(v)
			if gotOK != wantOK || !slices.Equal(got, want) {
				t.Fatalf("%s field %s value %q: listed %v %v, map %v %v", src, f.res.key, v, got, gotOK, want, wantOK)
			}
		}
	})
	if small == 0 {
		t.Fatal("no index field lists its values")
	}
	t.Logf("%d listed fields, %d values probed", small, listed)
}

// eachIndexField calls fn with every rule index field of the built-in
// rules' engine and of the SigmaHQ Azure rules' (when they are here).
func eachIndexField(t *testing.T, fn func(src string, f *keyField)) {
	builtin, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	sets := [][]*Rule{builtin}
	t.Run("sigma", func(t *testing.T) {
		dir := SigmaDir(t) // skips when the reference rules are not here
		sigma, err := LoadFS(os.DirFS(dir), ".")
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, sigma)
	})
	for _, rules := range sets {
		e, err := NewEngine(rules)
		if err != nil {
			t.Fatal(err)
		}
		for src, si := range e.bySource {
			if si == nil {
				continue
			}
			for k := range si.fields {
				fn(src, &si.fields[k])
			}
		}
	}
}
