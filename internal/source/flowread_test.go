package source

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// flowParse describes what the registry makes of the flow record raw,
// with the decoder reading the tuples as it meets them (read) or not:
// each record's status, error, event and its tuples' events. taken
// counts the records whose tuples the decoder's read handed on.
func flowParse(t testing.TB, reg *Registry, raw []byte, read bool, taken *int) string {
	t.Helper()
	readFlows = read
	defer func() { readFlows = true }()
	var b strings.Builder
	err := reg.Records(bytes.NewReader(raw), func(rec Record, ev *event.Event, status Status, err error) error {
		fmt.Fprintf(&b, "status %v err %v\n", status, err)
		if ev == nil || status != Parsed {
			return nil
		}
		fmt.Fprintf(&b, "%s %v %q %q %+v %+v\n", ev.Source, ev.Time, ev.RecordID, ev.Category, ev.Resource, ev.Geo)
		for k, v := range ev.Extra.All() {
			fmt.Fprintf(&b, "%s=%q\n", k, v)
		}
		if _, ok := ev.Fields.(*keptTuples); ok && read {
			*taken++
		}
		return reg.ExpandFlow(ev, func(te *event.Event) error {
			b.WriteString(describeTuple(te))
			return nil
		})
	})
	fmt.Fprintf(&b, "records: %v\n", err)
	return b.String()
}

// flowReadVariants are raw and records made from it by the changes a
// flow record's layout may see: names in another case, members added,
// repeated, reordered or null, escapes and blanks, strings where arrays
// were, and cuts (a syntax error somewhere in the tuples).
func flowReadVariants(raw []byte) [][]byte {
	s := string(raw)
	out := [][]byte{raw}
	for _, r := range [][2]string{
		{`"rule":`, `"Rule":`}, {`"flows":[{"mac"`, `"FLOWS":[{"mac"`}, {`"mac":`, `"MAC":`}, {`"flowTuples":`, `"flowtuples":`},
		{`"aclID":`, `"aclid":`}, {`"flowGroups":`, `"FlowGroups":`}, {`"flowRecords":{"flows"`, `"flowRecords":{"Flows"`},
		{`"rule":"`, `"x":1,"rule":"`}, {`"flowTuples":[`, `"y":[],"flowTuples":[`}, {`"flowTuples":[`, `"flowTuples":null,"flowTuples":[`},
		{`"rule":"`, `"rule":"\u00e9`}, {`"rule":"`, `"rule":"\"`}, {`"mac":"`, `"mac":"","m":"`}, {`"flowTuples":[`, `"flowTuples": [ `},
		{`,"`, `, "`}, {`":`, `" :`}, {`"flowTuples":[`, `"flowTuples":"[`}, {`"flows":[`, `"flows":null,"flows":[`},
		{`"flowRecords":{`, `"flowRecords":{"flows":[],`}, {`"flowRecords":{`, `"flowRecords":{"x":{"flows":[1]},`},
		{`"properties":{`, `"properties":{"flows":[],`}, {`"Version":2,`, ``}, {`]}]}`, `],"z":0}]}`},
		{`,"`, `,"\u0066`}, {`","`, "\",\x01\""}, {`,,,,"`, `,,,,\u0022`}, {`[{"rule"`, `[{"rule":"a"},{"rule"`},
		{`"macAddress":"`, `"macAddress":"\u0041`}, {`"macAddress":"`, `"macAddress":"","macAddress2":"`},
		{`"properties":{`, `"properties":{"x":{"flows":[1]},`}, {`"properties":{`, `"properties":{"FLOWS":[],`}, {`"properties":{`, `"Properties":{`},
		{`"properties":{`, `"properties":{},"properties":{`}, {`"properties":{`, `"properties": { `}, {`"flows":[{"rule"`, `"fl\u006fws":[],"flows":[{"rule"`},
		{`"flows":[{"rule"`, `"x":"flows","flows":[{"rule"`},
	} {
		if strings.Contains(s, r[0]) {
			out = append(out, []byte(strings.Replace(s, r[0], r[1], 1)))
			if i := strings.LastIndex(s, r[0]); i >= 0 {
				out = append(out, []byte(s[:i]+r[1]+s[i+len(r[0]):]))
			}
		}
	}
	// A group's MAC empty (the walk takes the record's then).
	if i := strings.Index(s, `"mac":"`); i >= 0 {
		if j := strings.IndexByte(s[i+7:], '"'); j >= 0 {
			out = append(out, []byte(s[:i+7]+s[i+7+j:]))
		}
	}
	// Cuts within the tuples and the arrays around them.
	if i := strings.Index(s, "flowTuples"); i >= 0 {
		for _, at := range []int{i + 14, i + 40, i + 80, len(s) - 12, len(s) - 3, len(s) - 1} {
			if at > 0 && at < len(s) {
				out = append(out, []byte(s[:at]))
				out = append(out, []byte(s[:at]+s[at+1:]))
			}
		}
	}
	return out
}

// TestFlowsReadAgrees: the decoder's read of a flow record's tuples
// (flowsRead) makes of every record what the walk after the decode makes
// (the record's status, error, event and tuple events): the samples,
// generated records, records with hostile tuples (keeper_test's) and
// every record changed as flowReadVariants changes it.
func TestFlowsReadAgrees(t *testing.T) {
	reg := newTestRegistry(t)
	var raws [][]byte
	for i, raw := range flowTestRecords(t, reg) {
		if i%4 == 0 { // a quarter of them changed every way: enough to cover the variants, fast
			raws = append(raws, flowReadVariants(raw)...)
		} else {
			raws = append(raws, raw)
		}
	}
	plain := map[bool]string{
		false: "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331",
		true:  "1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580",
	}
	for _, h := range []string{"", "1795169100,::1,10.20.1.4,51544,3389,T,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,051544,3389,T,I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,\\u0054,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,\x00,I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,é,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389," + strings.Repeat("P", 70000) + ",I,A,B,,,,",
		"1795169100,999.1.1.1,10.20.1.4,51544,3389,T,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A", "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B\n,,,,"} {
		for _, v := range []bool{false, true} {
			raws = append(raws, flowRecordWith(v, plain[v], h, plain[v]), flowRecordWith(v, plain[v], plain[v]))
		}
	}
	taken := 0
	for _, raw := range raws {
		var n int
		got, want := flowParse(t, reg, raw, true, &taken), flowParse(t, reg, raw, false, &n)
		if got != want {
			t.Fatalf("%.400q:\nread as met:\n%.3000s\nwalked:\n%.3000s", raw, got, want)
		}
	}
	if taken == 0 || taken == len(raws) {
		t.Errorf("the decoder's read was taken for %d of %d records", taken, len(raws))
	}
	t.Logf("%d records, %d read by the decoder", len(raws), taken)
}

func FuzzFlowsReadAgrees(f *testing.F) {
	f.Add(flowRecordWith(false, "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"))
	f.Add(flowRecordWith(true, "1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580"))
	reg := newTestRegistry(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var n int
		if got, want := flowParse(t, reg, raw, true, &n), flowParse(t, reg, raw, false, &n); got != want {
			t.Fatalf("%q:\nread as met:\n%s\nwalked:\n%s", raw, got, want)
		}
	})
}
