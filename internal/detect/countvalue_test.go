package detect

import (
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/azdetect/azdetect/internal/source"
)

// countValueBoth reports where count's reading of res on ev (countValue,
// lower-cased unless canonical) differs from the general one it skips
// (firstValue, BoundedLower).
func countValueBoth(ev *event.Event, res *resolver) string {
	v, canonical, ok := countValue(ev, res)
	if !canonical || len(v) > MaxKeptValue {
		v = BoundedLower(v)
	}
	want, wok := firstValue(ev, res)
	if wok {
		want = BoundedLower(want)
	}
	if ok != wok || ok && v != want {
		return res.name + ": countValue " + v + ", firstValue " + want
	}
	return ""
}

// flowTestEvents are the tuples of the bench corpus's flow records, and
// flow events of values that are not canonical (blanks, upper case, long
// ones, none), each as a canonical reader and as a plain one.
func flowTestEvents(t *testing.T) []*event.Event {
	t.Helper()
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var events []*event.Event
	for _, r := range benchcorpus.Generate(1500) {
		ev, status, err := reg.Parse(r.Line)
		if err != nil || status != source.Parsed || !source.IsFlow(ev) {
			continue
		}
		tuples, err := reg.Expand(ev)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, tuples...)
	}
	if len(events) < 100 {
		t.Fatalf("%d tuple events", len(events))
	}
	long := strings.Repeat("a", MaxKeptValue+1)
	for _, vals := range []map[string]string{
		{"flow.dst_ip": " 10.0.0.1", "flow.dst_port": "22 ", "flow.bytes_sent": "", "flow.protocol": "TCP", "flow.rule": long},
		{"flow.dst_ip": "", "flow.dst_port": "", "flow.protocol": long + "B", "flow.mac": "000D3A", "flow.bytes_sent": "1e3"},
		{"flow.dst_ip": "fe80::1", "flow.dst_port": "0022", "flow.protocol": "tcp", "flow.rule": "rule", "flow.bytes_sent": "262144"},
	} {
		events = append(events, &event.Event{Source: flowService, Fields: canonicalFlowFields{flowFields{vals}}},
			&event.Event{Source: flowService, Fields: flowFields{vals}})
	}
	return events
}

// TestCountValueAgrees: the value_count and value_sum kinds read a flow
// tuple's canonical values as they stand (countValue), and what they read
// is what firstValue and BoundedLower give, for the tuples of the bench
// corpus and for values that are not canonical (blanks, upper case, long
// ones, none).
func TestCountValueAgrees(t *testing.T) {
	events := flowTestEvents(t)
	canonical := 0
	for _, name := range event.FlowFieldNames {
		res := newResolver(flowService, name)
		for _, ev := range events {
			if d := countValueBoth(ev, res); d != "" {
				t.Fatal(d)
			}
			if _, c, _ := countValue(ev, res); c {
				canonical++
			}
		}
	}
	if canonical == 0 {
		t.Fatal("no value read as canonical")
	}
	t.Logf("%d tuple events, %d values read as canonical", len(events), canonical)
}

// groupKeyRef is groupKeyIn as it was before canonical values were read
// as they stand: every value read by firstValueIn, bounded and lowered.
func groupKeyRef(b *base, ev *event.Event) (string, bool) {
	var parts []string
	for _, res := range b.c.groupRes {
		v, ok := firstValueIn(ev, res, nil)
		if !ok {
			return "", false
		}
		if len(v) > MaxKeptValue {
			v = BoundedLower(v)
		}
		parts = append(parts, v)
	}
	if len(parts) == 1 {
		return BoundedLower(parts[0]), true
	}
	return strings.ToLower(strings.Join(parts, "|")), true
}

// TestGroupKeyAgrees: a group key of flow fields, read as canonical values
// stand where the tuple has them (groupValue), is the key the general
// reading builds, for one, two and three group-by fields of every flow
// field, on the corpus's tuples and on values that are not canonical.
func TestGroupKeyAgrees(t *testing.T) {
	events := flowTestEvents(t)
	names := event.FlowFieldNames
	var groupings [][]string
	for i, n := range names {
		groupings = append(groupings, []string{n},
			[]string{n, names[(i+1)%len(names)]},
			[]string{names[(i+2)%len(names)], n, names[(i+5)%len(names)]})
	}
	for _, g := range groupings {
		c := &Correlation{}
		for _, name := range g {
			c.groupRes = append(c.groupRes, newResolver(flowService, name))
		}
		b := &base{c: c}
		var a keyArena
		for _, ev := range events {
			got, ok := b.groupKeyIn(ev, &a, nil)
			want, wok := groupKeyRef(b, ev)
			if ok != wok || got != want {
				t.Fatalf("group-by %v: groupKeyIn %q %v, reference %q %v", g, got, ok, want, wok)
			}
		}
	}
}
