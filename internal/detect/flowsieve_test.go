package detect

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestFlowSieveStopsOnlyUnselected: a flow tuple the engine's sieve stops
// is one no rule selects (Select over the same values), for every
// combination of the sieve's values and a spread of the others (bytes
// sent, ports written oddly), with the built-in flow rules and with rules
// that need the sieve's names, bytes sent or ports in other ways (or, 1
// of, not, keywords, wildcards, case, both bytes and a port); the
// built-in rules' sieve stops some tuples, some by their bytes, some by
// their port; an engine without its index has no sieve.
func TestFlowSieveStopsOnlyUnselected(t *testing.T) {
	flowRules := builtinFlowRules(t)
	if len(flowRules) == 0 {
		t.Fatal("no built-in flow rules")
	}
	detections := []string{
		"  sel:\n    flow.direction: inbound\n    flow.log_type: vnet\n  condition: sel\n",
		"  a:\n    flow.allowed: 'true'\n    flow.local_class: azure\n  b:\n    flow.remote_class: Azure\n  condition: a or b\n",
		"  sel:\n    flow.src_class: private\n  filter:\n    flow.dst_class: private\n  condition: sel and not filter\n",
		"  sel1:\n    flow.dst_class|cased: private\n  sel2:\n    flow.dst_class: internet\n    flow.direction: outbound\n  condition: 1 of sel*\n",
		"  sel:\n    flow.src_class: 'priv*'\n    flow.allowed: 'false'\n  condition: sel\n",
		"  sel:\n    - flow.allowed: 'false'\n      flow.log_type: nsg\n    - flow.allowed: 'true'\n      flow.log_type: nsg\n      flow.dst_port: '22'\n  condition: sel\n",
		"  sel:\n    flow.allowed: 'false'\n  kw:\n    - azure\n  condition: sel and kw\n",
		// On ports: the last of these first.
		"  sel:\n    flow.dst_port:\n      - '22'\n      - abc\n      - ' 80'\n    flow.allowed: 'true'\n  condition: sel\n",
		"  sel:\n    flow.dst_port|cased: '443'\n    flow.src_class: internet\n  condition: sel\n",
		"  a:\n    flow.dst_port: '3389'\n    flow.direction: inbound\n  b:\n    flow.bytes_sent|gte: 1000\n  condition: a or b\n",
		"  sel:\n    flow.dst_port: '22'\n    flow.bytes_sent|gte: 500\n    flow.direction: inbound\n  condition: sel\n",
		"  sel:\n    flow.allowed: 'true'\n    flow.log_type: vnet\n  f:\n    flow.dst_port: '443'\n  condition: sel and not f\n",
		"  sel:\n    flow.dst_port: '22*'\n    flow.allowed: 'false'\n  condition: sel\n",
		"  s1:\n    flow.dst_port: '22'\n    flow.log_type: vnet\n  s2:\n    flow.dst_port: '5985'\n    flow.allowed: 'true'\n  condition: 1 of s*\n",
		"  sel:\n    - flow.dst_port: '22'\n      flow.allowed: 'false'\n    - flow.dst_port: '3389'\n      flow.src_class: internet\n  condition: sel\n",
		"  a:\n    flow.bytes_sent|gte: 1000\n  b:\n    flow.bytes_sent|gt: 262144\n    flow.allowed: 'true'\n  condition: a or b\n",
		"  a:\n    flow.allowed: 'true'\n    flow.log_type: nsg\n  b:\n    flow.bytes_sent|lt: 100\n  condition: a and not b\n",
		"  sel:\n    flow.bytes_sent|gte:\n      - 500000\n      - 100\n    flow.direction: outbound\n  condition: sel\n",
		"  sel:\n    flow.bytes_sent|gte: 300000\n    flow.log_type: vnet\n  other:\n    flow.bytes_sent: '99'\n    flow.allowed: 'false'\n  condition: sel or other\n",
		"  sel:\n    flow.bytes_sent|gte: 262144\n    flow.bytes_received|gte: 5\n    flow.src_class: azure\n  condition: sel\n",
		"  sel:\n    flow.bytes_sent|gte: 70\n  filter:\n    flow.bytes_sent|gte: 10000000\n  condition: sel and not filter\n",
	}
	var extra []*Rule
	for i, d := range detections {
		text := strings.Replace(ruleWith(flowService, d), "11111111-2222-3333-4444-555555555555", fmt.Sprintf("11111111-2222-3333-4444-%012d", i), 1)
		extra = append(extra, mustRule(t, text))
	}
	sets := map[string][]*Rule{"built-in": flowRules, "extra": extra, "both": append(append([]*Rule(nil), flowRules...), extra...), "bytes": {extra[len(extra)-6], extra[len(extra)-4], extra[len(extra)-2], extra[len(extra)-1]}}
	for i, r := range extra[len(extra)-6:] { // the rules on flow.bytes_sent, each alone
		sets[fmt.Sprintf("bytes %d", i)] = []*Rule{r}
	}
	const portRules = 8
	ports := extra[len(extra)-6-portRules : len(extra)-6]
	sets["ports"] = ports
	for i, r := range ports { // the rules on flow.dst_port, each alone
		sets[fmt.Sprintf("port %d", i)] = []*Rule{r}
	}
	for name, rules := range sets {
		t.Run(name, func(t *testing.T) {
			eng, err := NewEngine(rules)
			if err != nil {
				t.Fatal(err)
			}
			sieve := eng.FlowSieve()
			if sieve == nil || (name == "built-in" && sieve.All()) {
				t.Fatalf("sieve %v: stops nothing", sieve)
			}
			var evs []*event.Event
			var may []bool
			sentStopped, portStopped := 0, 0
			classes := event.FlowClassNames
			others := []map[string]string{
				{"flow.dst_port": "22", "flow.bytes_sent": "262144", "flow.rule": "UserRule_Allow-RDP"},
				{"flow.dst_port": "443", "flow.bytes_sent": "99", "flow.rule": "JITRule_1"},
				{"flow.dst_port": "3389", "flow.bytes_sent": "", "flow.rule": "azure"},
				{"flow.dst_port": "22", "flow.bytes_sent": "262143", "flow.bytes_received": "7"},
				{"flow.dst_port": "22", "flow.bytes_sent": "262145", "flow.rule": "R"},
				{"flow.dst_port": "5985", "flow.bytes_sent": "1000", "flow.bytes_received": "1"},
				{"flow.dst_port": "5986", "flow.bytes_sent": "999999999999999999", "flow.rule": "R"},
				{"flow.dst_port": "22", "flow.bytes_sent": "1e6"},
				{"flow.dst_port": "22", "flow.bytes_sent": "-1"},
				{"flow.dst_port": "22", "flow.bytes_sent": "x"},
				{"flow.dst_port": "22", "flow.bytes_sent": "99"},
				{"flow.dst_port": "22", "flow.bytes_sent": "500000"},
				{"flow.dst_port": " 22", "flow.bytes_sent": "99"},
				{"flow.dst_port": "022", "flow.bytes_sent": "99"},
				{"flow.dst_port": "ABC", "flow.bytes_sent": "99"},
				{"flow.dst_port": " 80 ", "flow.bytes_sent": "99"},
				{"flow.dst_port": "", "flow.bytes_sent": "262144"},
				{"flow.dst_port": "8080", "flow.bytes_sent": "262144"},
				{"flow.dst_port": "8080", "flow.bytes_sent": "99"},
				{"flow.dst_port": "443", "flow.bytes_sent": "1000"},
				{"flow.dst_port": "3389", "flow.bytes_sent": "99"},
				{"flow.dst_port": "5985", "flow.bytes_sent": "501"},
				{"flow.dst_port": "22", "flow.bytes_sent": "499"},
			}
			for _, vnet := range []bool{false, true} {
				for _, outbound := range []bool{false, true} {
					for _, allowed := range []bool{false, true} {
						for src := range uint8(len(classes)) {
							for dst := range uint8(len(classes)) {
								for _, o := range others {
									local, remote := dst, src
									if outbound {
										local, remote = src, dst
									}
									vals := map[string]string{
										"flow.log_type":  map[bool]string{false: "nsg", true: "vnet"}[vnet],
										"flow.direction": map[bool]string{false: "inbound", true: "outbound"}[outbound],
										"flow.allowed":   fmt.Sprint(allowed),
										"flow.src_class": classes[src], "flow.dst_class": classes[dst],
										"flow.local_class": classes[local], "flow.remote_class": classes[remote],
									}
									for k, v := range o {
										vals[k] = v
									}
									evs = append(evs, &event.Event{Source: flowService, Fields: canonicalFlowFields{flowFields{vals}}})
									m := sieve.May(vnet, outbound, allowed, src, dst)
									c, _ := event.Combination(vnet, outbound, allowed, src, dst)
									if m && !sieve.Lets(c, o["flow.bytes_sent"], false, o["flow.dst_port"]) {
										m = false
										// By its port, when another port would pass.
										if sieve.Lets(c, o["flow.bytes_sent"], false, "x") {
											portStopped++
										} else {
											sentStopped++
										}
									}
									may = append(may, m)
								}
							}
						}
					}
				}
			}
			var v Verdicts
			if err := eng.Select(context.Background(), evs, &v); err != nil {
				t.Fatal(err)
			}
			stopped := 0
			for k := range evs {
				start := int32(0)
				if k > 0 {
					start = v.at[k-1]
				}
				if !may[k] {
					stopped++
					if v.at[k] > start {
						t.Errorf("tuple %d %v: stopped by the sieve, selected by %d rules", k, evs[k].Fields, v.at[k]-start)
					}
				}
			}
			if stopped == 0 && name == "built-in" {
				t.Errorf("the sieve stopped none of %d tuples", len(evs))
			}
			if sentStopped == 0 && (name == "built-in" || name == "bytes" || (strings.HasPrefix(name, "bytes ") && name != "bytes 1" && name != "bytes 3")) {
				t.Errorf("the sieve stopped none of %d tuples by their bytes sent", len(evs))
			}
			// Port rules 2 (or), 4 (not) and 5 (a wildcard) need no port
			// (2 none of anything: with it, "ports" stops by no port); 3
			// is held to its bytes.
			if portStopped == 0 && (name == "built-in" || (strings.HasPrefix(name, "port ") && !strings.ContainsAny(name[len("port "):], "2345"))) {
				t.Errorf("the sieve stopped none of %d tuples by their port", len(evs))
			}
			eng.noIndex = true
			if s := eng.FlowSieve(); s != nil {
				t.Errorf("an engine without its index has a sieve")
			}
		})
	}
	eng, err := NewEngine(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := eng.FlowSieve(); s == nil || s.May(false, false, false, 0, 0) {
		t.Errorf("an engine of no flow rules lets tuples through")
	}
}

// builtinFlowRules are the built-in rules of the flow tuple events.
func builtinFlowRules(t *testing.T) []*Rule {
	t.Helper()
	builtin, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	var rules []*Rule
	for _, r := range builtin {
		if r.service == flowService {
			rules = append(rules, r)
		}
	}
	return rules
}
