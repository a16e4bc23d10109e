package detect

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestGroupPartitions: partitions in the order their first group was met,
// each one's prefixes in the order met, and no prefix list reaching into
// another's.
func TestGroupPartitions(t *testing.T) {
	groups := []seqGroup{{"p2", "a|"}, {"p1", "b|"}, {"p2", "c|"}, {"p3", "d|"}, {"p1", "e|"}, {"p2", "f|"}}
	parts, prefixes := groupPartitions(groups)
	if want := []string{"p2", "p1", "p3"}; !reflect.DeepEqual(parts, want) {
		t.Errorf("partitions %q, want %q", parts, want)
	}
	want := map[string][]string{"p2": {"a|", "c|", "f|"}, "p1": {"b|", "e|"}, "p3": {"d|"}}
	if !reflect.DeepEqual(prefixes, want) {
		t.Errorf("prefixes %q, want %q", prefixes, want)
	}
	for pk, ps := range prefixes {
		if len(ps) != cap(ps) {
			t.Errorf("%s: %d prefixes in %d", pk, len(ps), cap(ps))
		}
	}
	if parts, prefixes := groupPartitions([]seqGroup{{"p", "x|"}}); len(parts) != 1 || len(prefixes["p"]) != 1 {
		t.Errorf("one group: %q, %q", parts, prefixes)
	}
}

// TestGroupPartitionsAsSorted: groupPartitions (a count per partition)
// gives what the stable sort by partition it replaced gave, for few
// partitions and for more than it searches one by one.
func TestGroupPartitionsAsSorted(t *testing.T) {
	sorted := func(groups []seqGroup) ([]string, map[string][]string) {
		byPart := slices.Clone(groups)
		slices.SortStableFunc(byPart, func(a, b seqGroup) int { return strings.Compare(a.partition, b.partition) })
		prefixes := map[string][]string{}
		for _, g := range byPart {
			prefixes[g.partition] = append(prefixes[g.partition], g.prefix)
		}
		var parts []string
		for _, g := range groups {
			if prefixes[g.partition][0] == g.prefix {
				parts = append(parts, g.partition)
			}
		}
		return parts, prefixes
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, nparts := range []int{1, 3, stateBuckets, maxLinearParts, maxLinearParts + 1, 100} {
		for _, n := range []int{1, 5, 40, 300} {
			groups := make([]seqGroup, n)
			for i := range groups {
				groups[i] = seqGroup{fmt.Sprintf("p%02x", rng.IntN(nparts)), fmt.Sprintf("g%d|", i)}
			}
			parts, prefixes := groupPartitions(groups)
			wantParts, wantPrefixes := sorted(groups)
			if !reflect.DeepEqual(parts, wantParts) || !reflect.DeepEqual(prefixes, wantPrefixes) {
				t.Fatalf("%d partitions, %d groups: got %q %q, want %q %q", nparts, n, parts, prefixes, wantParts, wantPrefixes)
			}
		}
	}
}
