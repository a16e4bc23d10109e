package detect

import (
	"reflect"
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
