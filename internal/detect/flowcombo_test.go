package detect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// comboFlowFields is a tuple's fields that tell their combination
// (flowValuesReader) besides answering every name; its texts of the
// combination's names are what vals holds (a test may make them
// disagree only with a class out of range, which is read field by field).
type comboFlowFields struct {
	canonicalFlowFields
	vnet, outbound, allowed bool
	src, dst                uint8
}

func (f comboFlowFields) FlowValues() (vnet, outbound, allowed bool, src, dst uint8) {
	return f.vnet, f.outbound, f.allowed, f.src, f.dst
}

// flowComboRules are the built-in flow rules and rules testing the
// combination's names in every way a test can: lists, wildcards,
// modifiers (contains, startswith, re, cased, all), null, exists, not, 1
// of, and alongside the tuple's other names.
func flowComboRules(t *testing.T) []*Rule {
	t.Helper()
	rules := builtinFlowRules(t)
	detections := []string{
		"  sel:\n    flow.direction: inbound\n    flow.log_type: vnet\n  condition: sel\n",
		"  a:\n    flow.allowed: 'true'\n    flow.local_class: azure\n  b:\n    flow.remote_class: Azure\n  condition: a or b\n",
		"  sel:\n    flow.src_class: private\n  filter:\n    flow.dst_class: private\n  condition: sel and not filter\n",
		"  sel1:\n    flow.dst_class|cased: private\n  sel2:\n    flow.dst_class: internet\n    flow.direction: outbound\n  condition: 1 of sel*\n",
		"  sel:\n    flow.src_class: 'priv*'\n    flow.allowed: 'false'\n  condition: sel\n",
		"  sel:\n    flow.src_class|contains: ter\n    flow.log_type|startswith: n\n  condition: sel\n",
		"  sel:\n    flow.remote_class|re: '^(azure|internet)$'\n    flow.direction|cased: Outbound\n  condition: sel\n",
		"  sel:\n    flow.local_class|contains|all: [pri, ate]\n  condition: sel\n",
		"  sel:\n    flow.allowed: null\n  condition: not sel\n",
		"  sel:\n    flow.allowed: [null, 'false']\n    flow.dst_class|exists: true\n  condition: sel\n",
		"  sel:\n    flow.direction: ''\n  condition: not sel\n",
		"  sel:\n    - flow.allowed: 'false'\n      flow.log_type: nsg\n    - flow.allowed: 'true'\n      flow.log_type: nsg\n      flow.dst_port: '22'\n  condition: sel\n",
		"  sel:\n    flow.allowed: 'true'\n    flow.remote_class: internet\n    flow.bytes_sent|gte: 100\n  filter:\n    flow.rule|contains: jit\n  condition: sel and not filter\n",
		"  sel:\n    flow.allowed: 'false'\n  kw:\n    - azure\n  condition: sel and kw\n",
		// A sequence reuses the selections' outcomes (masks).
		"  start:\n    flow.allowed: 'false'\n    flow.direction: inbound\n  done:\n    flow.src_class: [private, azure]\n  other:\n    flow.log_type: vnet\n  condition: start or (done and not other)\n" +
			"correlation:\n  type: sequence\n  group-by:\n    - flow.src_ip\n  timespan: 1h\n  steps:\n    - start\n    - done\n",
	}
	for i, d := range detections {
		text := strings.Replace(ruleWith(flowService, d), "11111111-2222-3333-4444-555555555555", fmt.Sprintf("11111111-2222-3333-4444-%012d", 900+i), 1)
		rules = append(rules, mustRule(t, text))
	}
	return rules
}

// TestFlowCombosAgree: a flow tuple that tells its combination gets the
// verdicts, picks and selection masks of the same tuple read field by
// field (the tests worked out per combination at build, and the rule
// index's sets per combination, against the reads they stand for), for
// every combination, a class out of range, and hostile other values; and
// an engine without its index agrees too.
func TestFlowCombosAgree(t *testing.T) {
	rules := flowComboRules(t)
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	ref.noIndex = true
	others := []map[string]string{
		{"flow.dst_port": "22", "flow.bytes_sent": "262144", "flow.rule": "UserRule_JIT", "flow.src_ip": "10.1.2.3", "flow.dst_ip": "1.2.3.4", "flow.protocol": "t"},
		{"flow.dst_port": "3389", "flow.bytes_sent": "99", "flow.rule": "azure \x00 rule", "flow.src_ip": "fe80::1%eth0", "flow.dst_ip": "", "flow.protocol": "TCP"},
		{"flow.dst_port": "", "flow.bytes_sent": strings.Repeat("9", 400), "flow.rule": "R\u00e8gle \"JIT\\", "flow.src_ip": "10.0.0.9 ", "flow.dst_ip": "Azure", "flow.protocol": "\u00e9"},
	}
	var combo, plain []*event.Event
	for _, vnet := range []bool{false, true} {
		for _, outbound := range []bool{false, true} {
			for _, allowed := range []bool{false, true} {
				for src := range uint8(len(event.FlowClassNames) + 1) {
					for dst := range uint8(len(event.FlowClassNames)) {
						for _, o := range others {
							vals := map[string]string{}
							for k, v := range o {
								vals[k] = v
							}
							className := func(c uint8) string {
								if int(c) < len(event.FlowClassNames) {
									return event.FlowClassNames[c]
								}
								return "Private" // out of range: read as written
							}
							local, remote := dst, src
							if outbound {
								local, remote = src, dst
							}
							vals["flow.log_type"] = event.FlowLogTypeText(vnet)
							vals["flow.direction"] = event.FlowDirectionText(outbound)
							vals["flow.allowed"] = event.FlowAllowedText(allowed)
							vals["flow.src_class"], vals["flow.dst_class"] = className(src), className(dst)
							vals["flow.local_class"], vals["flow.remote_class"] = className(local), className(remote)
							cf := canonicalFlowFields{flowFields{vals}}
							combo = append(combo, &event.Event{Source: flowService, Fields: comboFlowFields{cf, vnet, outbound, allowed, src, dst}})
							plain = append(plain, &event.Event{Source: flowService, Fields: cf})
						}
					}
				}
			}
		}
	}
	ctx := context.Background()
	var vc, vp, vr Verdicts
	for _, c := range []struct {
		e   *Engine
		evs []*event.Event
		v   *Verdicts
	}{{eng, combo, &vc}, {eng, plain, &vp}, {ref, combo, &vr}} {
		if err := c.e.Select(ctx, c.evs, c.v); err != nil {
			t.Fatal(err)
		}
	}
	same := func(a, b *Verdicts) bool {
		return slices.Equal(a.at, b.at) && slices.Equal(a.picks, b.picks) && slices.Equal(a.known, b.known) && slices.Equal(a.hit, b.hit) && slices.Equal(a.maskAt, b.maskAt)
	}
	if !same(&vc, &vp) {
		t.Fatalf("verdicts by combination differ from those read field by field:\ncombo %v %v\nplain %v %v", vc.at, vc.picks, vp.at, vp.picks)
	}
	if !same(&vc, &vr) {
		t.Fatalf("verdicts differ from the engine's without its index")
	}
	decided := 0
	for _, d := range eng.bySource[flowService].decided {
		if d != nil {
			decided++
		}
	}
	if decided < 6 {
		t.Fatalf("%d rules decided by the combination", decided)
	}
	// The Picker keeps the selections' outcomes (masks) of the rules
	// reusing them (the sequence): the same, by combination or not.
	pick := func(evs []*event.Event) *Verdicts {
		p := eng.NewPicker()
		defer p.Release()
		var v Verdicts
		for _, ev := range evs {
			p.Pick(ev, &v, true)
		}
		return &v
	}
	pc, pp := pick(combo), pick(plain)
	if !same(pc, pp) {
		t.Fatalf("Picker's verdicts by combination differ from those read field by field:\ncombo %v %v %v\nplain %v %v %v", pc.picks, pc.known, pc.hit, pp.picks, pp.known, pp.hit)
	}
	if !slices.Equal(pc.at, vc.at) || !slices.Equal(pc.picks, vc.picks) {
		t.Fatalf("Picker's verdicts differ from Select's")
	}
	if len(vc.picks) < 200 || len(vc.picks) == len(combo)*len(rules) || len(pc.maskAt) < 50 {
		t.Fatalf("%d picks (%d with masks) of %d events: the test selects too little or everything", len(vc.picks), len(pc.maskAt), len(combo))
	}
}

// TestFlowComboValues: each combination's texts are those a tuple's
// values answer (event.NewFlowSieve's combinations, read the same way),
// and every combination has a number of its own.
func TestFlowComboValues(t *testing.T) {
	seen := map[int]bool{}
	event.NewFlowSieve(func(value func(event.FlowField) (string, bool)) bool {
		vnet, _ := value(event.FlowLogType)
		dir, _ := value(event.FlowDirection)
		allowed, _ := value(event.FlowAllowed)
		src, _ := value(event.FlowSrcClass)
		dst, _ := value(event.FlowDstClass)
		c := flowCombo(vnet == "vnet", dir == "outbound", allowed == "true", uint8(slices.Index(event.FlowClassNames[:], src)), uint8(slices.Index(event.FlowClassNames[:], dst)))
		if c < 0 || c >= flowCombos || seen[c] {
			t.Fatalf("combination %s %s %s %s %s: number %d", vnet, dir, allowed, src, dst, c)
		}
		seen[c] = true
		for f := range event.FlowField(len(event.FlowFieldNames)) {
			want, wok := value(f)
			got, ok := flowComboValue(c, f)
			if ok != wok || got != want {
				t.Errorf("combination %d, %s: %q %v, want %q %v", c, f.Name(), got, ok, want, wok)
			}
		}
		return true
	})
	if len(seen) != flowCombos {
		t.Fatalf("%d combinations, want %d", len(seen), flowCombos)
	}
	if flowCombo(false, false, false, uint8(len(event.FlowClassNames)), 0) != -1 || flowCombo(true, true, true, 0, 255) != -1 {
		t.Fatal("a class out of range has a combination")
	}
}

// TestSelectorSourcesSeen: the rules and index the selector finds for a
// source from the ones it looked up before are the engine's, for sources
// taking turns in any order, more of them than it keeps, unknown ones and
// names that differ in a byte or a length.
func TestSelectorSourcesSeen(t *testing.T) {
	rules, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range eng.byService {
		names = append(names, name, name+"x", strings.ToUpper(name))
	}
	names = append(names, "", "\x00", "flowtuple\x00", strings.Repeat("s", 4096), "t\u00e9st")
	for i := range 20 {
		names = append(names, fmt.Sprintf("unknown-%02d", i))
	}
	slices.Sort(names)
	if len(names) < 2*len(selector{}.seen) {
		t.Fatalf("%d names: fewer than the selector keeps", len(names))
	}
	s := selector{e: eng}
	x := 7
	for range 5000 {
		x = (x*1103515245 + 12345) & 0x7fffffff
		name := names[x%len(names)]
		if x%3 == 0 { // a run of one source, as a record's tuples
			name = names[0]
		}
		// The same text in another place, as a source parsed from bytes.
		name = string(append([]byte(nil), name...))
		s.lookSource(name)
		if want := eng.byService[name]; s.lastSource != name || len(s.idx) != len(want) || (len(want) > 0 && &s.idx[0] != &want[0]) || s.si != eng.bySource[name] {
			t.Fatalf("source %q: rules %v index %p, want %v %p", name, s.idx, s.si, want, eng.bySource[name])
		}
	}
}
