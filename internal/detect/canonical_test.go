package detect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// flowFields answers flow.* names from a map; canonical says whether it
// is an event.CanonicalReader.
type flowFields struct{ vals map[string]string }

func (f flowFields) Field(name string) (string, bool) {
	if !strings.HasPrefix(name, "flow.") {
		return "", false
	}
	return f.vals[name], true
}

type canonicalFlowFields struct{ flowFields }

func (f canonicalFlowFields) CanonicalField(id event.FlowField) (string, bool, bool) {
	v, ok := f.Field(id.Name())
	return v, event.IsCanonical(v), ok
}

// TestCanonicalFieldsMatchAsPrepared: a rule's verdict on a flow event
// whose values come canonical (read as they are: fieldMatch.evalCanonical,
// the rule index's lookup) is its verdict on the same values prepared for
// matchers (trimmed, lower-cased), for every modifier, null, all and a
// missing value; and the Picker's verdicts, one event at a time, are
// Select's.
func TestCanonicalFieldsMatchAsPrepared(t *testing.T) {
	detections := []string{
		"  sel:\n    flow.allowed: 'true'\n    flow.src_class: private\n  condition: sel\n",
		"  sel:\n    flow.allowed: 'false'\n    flow.src_class: internet\n  condition: sel\n",
		"  sel:\n    flow.dst_port: ['22', '3389']\n    flow.direction: inbound\n  filter:\n    flow.rule|contains: jit\n  condition: sel and not filter\n",
		"  sel:\n    flow.bytes_sent|gte: 262144\n  condition: sel\n",
		"  sel:\n    flow.bytes_sent|lt: 100\n  condition: sel\n",
		"  sel:\n    flow.src_ip|cidr: 10.0.0.0/8\n  condition: sel\n",
		"  sel:\n    flow.src_ip|startswith: '10.'\n    flow.dst_ip|endswith: '.9'\n  condition: sel\n",
		"  sel:\n    flow.protocol|re: '^t.p$'\n  condition: sel\n",
		"  sel:\n    flow.protocol|cased: TCP\n  condition: sel\n",
		"  sel:\n    flow.protocol: 'T*'\n  condition: sel\n",
		"  sel:\n    flow.state: null\n  condition: sel\n",
		"  sel:\n    flow.state: [null, c]\n  condition: sel\n",
		"  sel:\n    flow.mac|contains|all: [0d, 3a]\n  condition: sel\n",
		"  sel:\n    flow.rule|all: [rule, rule]\n  condition: sel\n",
		"  sel:\n    flow.missing: ''\n  condition: sel\n",
		"  sel:\n    flow.direction|cased: inbound\n    flow.src_class|cased: [Private, private]\n  condition: sel\n",
		"  sel:\n    flow.allowed: ['', 'true']\n  condition: sel\n",
		"  sel:\n    flow.state: ['', null]\n  condition: not sel\n",
	}
	var rules []*Rule
	for i, d := range detections {
		text := strings.Replace(ruleWith(flowService, d), "11111111-2222-3333-4444-555555555555", fmt.Sprintf("11111111-2222-3333-4444-%012d", i), 1)
		rules = append(rules, mustRule(t, text))
	}
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string][]string{
		"flow.allowed":    {"true", "false", "TRUE", " true", ""},
		"flow.src_class":  {"private", "internet", "Private"},
		"flow.dst_port":   {"22", "3389", "80", " 22", ""},
		"flow.direction":  {"inbound", "outbound"},
		"flow.rule":       {"UserRule_JIT", "rule", "jit", "", "Rule "},
		"flow.bytes_sent": {"262144", "262143", "99", "1e6", "", "00262144", "9999999999999999999"},
		"flow.src_ip":     {"10.1.2.3", "11.0.0.1", "fe80::1", "10.0.0.9 ", ""},
		"flow.dst_ip":     {"1.2.3.9", "1.2.3.4"},
		"flow.protocol":   {"tcp", "TCP", "udp", "tap", ""},
		"flow.state":      {"", "C", "c", "B"},
		"flow.mac":        {"000D3A", "000d3a", "x"},
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	slices.Sort(names)
	var plain, canon []*event.Event
	for k := range 400 {
		vals := map[string]string{}
		x := k
		for _, n := range names {
			vs := values[n]
			vals[n] = vs[x%len(vs)]
			x = x*7 + 3
		}
		plain = append(plain, &event.Event{Source: flowService, Fields: flowFields{vals}})
		canon = append(canon, &event.Event{Source: flowService, Fields: canonicalFlowFields{flowFields{vals}}})
	}
	ctx := context.Background()
	var vp, vc, vpick Verdicts
	if err := eng.Select(ctx, plain, &vp); err != nil {
		t.Fatal(err)
	}
	if err := eng.Select(ctx, canon, &vc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vp.at, vc.at) || !slices.Equal(vp.picks, vc.picks) {
		t.Fatalf("canonical verdicts differ:\nplain     %v %v\ncanonical %v %v", vp.at, vp.picks, vc.at, vc.picks)
	}
	if len(vp.picks) < 100 || len(vp.picks) == len(plain)*len(rules) {
		t.Fatalf("%d picks of %d events: the test selects too little or everything", len(vp.picks), len(plain))
	}
	p := eng.NewPicker()
	defer p.Release()
	var dropped Verdicts
	for k, ev := range canon {
		p.Pick(ev, &vpick, true)
		n := len(dropped.at)
		kept := p.Pick(ev, &dropped, false)
		start := int32(0)
		if k > 0 {
			start = vc.at[k-1]
		}
		if some := vc.at[k] > start; kept != some || (!kept && len(dropped.at) != n) {
			t.Errorf("event %d: Pick kept %v, selected by %d rules", k, kept, vc.at[k]-start)
		}
	}
	if !slices.Equal(vpick.at, vc.at) || !slices.Equal(vpick.picks, vc.picks) {
		t.Fatalf("Picker's verdicts differ from Select's")
	}
}
