package event

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFlowTuples(t *testing.T) {
	nsg := func(version int, tuples ...string) string {
		return fmt.Sprintf(`{"time":"2024-01-01T00:00:00Z","macAddress":"AABBCCDDEEFF","properties":{"Version":%d,"flows":[{"rule":"R1","flows":[{"mac":"000D3AF87856","flowTuples":["%s"]}]}]}}`,
			version, strings.Join(tuples, `","`))
	}
	vnet := func(tuples ...string) string {
		return `{"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["` + strings.Join(tuples, `","`) + `"],"rule":"R2"}],"aclID":"acl"}]},"macAddress":"0022487bC205"}`
	}
	addr := netip.MustParseAddr
	tests := []struct {
		name string
		raw  string
		want FlowTuple
	}{
		{
			"nsg v1", nsg(1, "1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"),
			FlowTuple{Time: time.Unix(1487282421, 0).UTC(), SrcIP: addr("42.119.146.95"), DstIP: addr("10.1.0.4"), SrcPort: 51529, DstPort: 5358,
				Protocol: ProtocolTCP, Direction: FlowInbound, Rule: "R1", MAC: "000D3AF87856"},
		},
		{
			"nsg v2 begin, denied, empty counts", nsg(2, "1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,"),
			FlowTuple{Time: time.Unix(1542110402, 0).UTC(), SrcIP: addr("94.102.49.190"), DstIP: addr("10.5.16.4"), SrcPort: 28746, DstPort: 443,
				Protocol: ProtocolUDP, Direction: FlowInbound, State: FlowBegin, Rule: "R1", MAC: "000D3AF87856"},
		},
		{
			"nsg v2 continuing with counts", nsg(2, "1542110379,10.5.16.4,13.67.143.115,44931,443,T,O,A,C,30,16978,24,14008"),
			FlowTuple{Time: time.Unix(1542110379, 0).UTC(), SrcIP: addr("10.5.16.4"), DstIP: addr("13.67.143.115"), SrcPort: 44931, DstPort: 443,
				Protocol: ProtocolTCP, Direction: FlowOutbound, Allowed: true, State: FlowContinuing,
				PacketsOut: 30, BytesOut: 16978, PacketsIn: 24, BytesIn: 14008, HasCounts: true, Rule: "R1", MAC: "000D3AF87856"},
		},
		{
			"vnet milliseconds, end", vnet("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580"),
			FlowTuple{Time: time.UnixMilli(1663146003606).UTC(), SrcIP: addr("10.0.0.6"), DstIP: addr("52.239.184.180"), SrcPort: 23956, DstPort: 443,
				Protocol: ProtocolTCP, Direction: FlowOutbound, Allowed: true, State: FlowEnd, Encryption: "NX",
				PacketsOut: 3, BytesOut: 767, PacketsIn: 2, BytesIn: 1580, HasCounts: true, Rule: "R2", ACLID: "acl", MAC: "0022487bC205"},
		},
		{
			"vnet seconds, denied, empty counts", vnet("1663146003,2001:db8::1,10.0.0.6,1,22,17,I,D,NX_NOT_ACCEPTED,,,,"),
			FlowTuple{Time: time.Unix(1663146003, 0).UTC(), SrcIP: addr("2001:db8::1"), DstIP: addr("10.0.0.6"), SrcPort: 1, DstPort: 22,
				Protocol: ProtocolUDP, Direction: FlowInbound, State: FlowDenied, Encryption: "NX_NOT_ACCEPTED", Rule: "R2", ACLID: "acl", MAC: "0022487bC205"},
		},
		{
			"vnet icmp, unknown protocol kept", vnet("1663146003,10.0.0.6,10.0.0.7,0,0,1,O,B,X,0,0,0,0"),
			FlowTuple{Time: time.Unix(1663146003, 0).UTC(), SrcIP: addr("10.0.0.6"), DstIP: addr("10.0.0.7"),
				Protocol: ProtocolICMP, Direction: FlowOutbound, Allowed: true, State: FlowBegin, Encryption: "X", HasCounts: true,
				Rule: "R2", ACLID: "acl", MAC: "0022487bC205"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []FlowTuple
			if err := FlowTuples(&Event{Raw: []byte(tc.raw)}, func(ft FlowTuple) bool {
				if string(ft.Written(4)) != strconv.Itoa(int(ft.DstPort)) {
					t.Errorf("written destination port %q, parsed %d", ft.Written(4), ft.DstPort)
				}
				if ft.Written(-1) != nil || ft.Written(ft.fields) != nil {
					t.Errorf("a field past the tuple's: %q %q", ft.Written(-1), ft.Written(ft.fields))
				}
				ft.text, ft.ends, ft.fields, ft.plain = nil, [flowFieldCount]int{}, 0, false
				got = append(got, ft)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestFlowTuplesErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"not a flow record", `{"time":"x","properties":{"a":1}}`, ErrNotFlowRecord},
		{"no properties", `{"time":"x"}`, ErrNotFlowRecord},
		{"text line", `1.0;2014-06-19T22:59:23Z;GetBlob`, ErrNotFlowRecord},
		{"flows not array", `{"properties":{"flows":{}}}`, ErrNotFlowRecord},
		{"tuple not string", `{"properties":{"flows":[{"flows":[{"flowTuples":[1]}]}]}}`, ErrFlowTuple},
		{"nine fields", `{"properties":{"flows":[{"flows":[{"flowTuples":["1,1.1.1.1,2.2.2.2,1,2,T,I,A,B"]}]}]}}`, ErrFlowTuple},
		{"fourteen fields", `{"properties":{"flows":[{"flows":[{"flowTuples":["1,1.1.1.1,2.2.2.2,1,2,T,I,A,B,,,,,"]}]}]}}`, ErrFlowTuple},
		{"bad port", `{"properties":{"flows":[{"flows":[{"flowTuples":["1,1.1.1.1,2.2.2.2,70000,2,T,I,A"]}]}]}}`, ErrFlowTuple},
		{"bad direction", `{"properties":{"flows":[{"flows":[{"flowTuples":["1,1.1.1.1,2.2.2.2,1,2,T,X,A"]}]}]}}`, ErrFlowTuple},
		{"leading-zero ip", `{"properties":{"flows":[{"flows":[{"flowTuples":["1,01.1.1.1,2.2.2.2,1,2,T,I,A"]}]}]}}`, ErrFlowTuple},
		{"vnet decision letter", `{"flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["1,1.1.1.1,2.2.2.2,1,2,6,I,A,NX,,,,"]}]}]}}`, ErrFlowTuple},
		{"invalid JSON", `{"properties":`, ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := FlowTuples(&Event{Raw: []byte(tc.raw)}, func(FlowTuple) bool { return true })
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFlowTuplesStop(t *testing.T) {
	raw := flowRecord(10)
	n := 0
	err := FlowTuples(&Event{Raw: raw}, func(FlowTuple) bool { n++; return n < 3 })
	if err != nil || n != 3 {
		t.Fatalf("n = %d, err = %v; want 3 tuples and no error", n, err)
	}
}

// flowRecord builds an NSG v2 record of n tuples under two rules.
func flowRecord(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"time":"2024-08-19T18:00:06.8944384Z","category":"NetworkSecurityGroupFlowEvent","properties":{"Version":2,"flows":[`)
	half := n / 2
	for r, count := range []int{half, n - half} {
		if r > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"rule":"Rule%d","flows":[{"mac":"6045BDEC2532","flowTuples":[`, r)
		for i := range count {
			if i > 0 {
				b.WriteByte(',')
			}
			if i%3 == 0 {
				fmt.Fprintf(&b, `"%d,203.0.113.%d,10.1.0.4,%d,%d,T,I,D,B,,,,"`, 1724090346+i, i%250, 1024+i%60000, 1+i%1000)
			} else {
				fmt.Fprintf(&b, `"%d,10.1.0.4,198.51.100.%d,%d,443,T,O,A,E,%d,%d,%d,%d"`, 1724090346+i, i%250, 1024+i%60000, i, i*70, i, i*1400)
			}
		}
		b.WriteString(`]}]}`)
	}
	b.WriteString(`]}}`)
	return []byte(b.String())
}

// TestFlowTuplesBoundedAllocs walks a record of 5,000 tuples: allocations
// must not grow with the tuple count (a few per rule group, none per tuple).
func TestFlowTuplesBoundedAllocs(t *testing.T) {
	walk := func(raw []byte) (allocs float64, tuples int) {
		ev := &Event{Raw: raw}
		var bytesOut uint64
		allocs = testing.AllocsPerRun(20, func() {
			tuples = 0
			err := FlowTuples(ev, func(ft FlowTuple) bool {
				tuples++
				bytesOut += ft.BytesOut
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		return allocs, tuples
	}
	small, n := walk(flowRecord(10))
	if n != 10 {
		t.Fatalf("small record: %d tuples", n)
	}
	large, n := walk(flowRecord(5000))
	if n != 5000 {
		t.Fatalf("large record: %d tuples", n)
	}
	if large > small || large > 16 {
		t.Errorf("5,000 tuples took %.0f allocations, 10 tuples %.0f: allocations grow with tuples", large, small)
	}
}

func BenchmarkFlowTuples(b *testing.B) {
	ev := &Event{Raw: flowRecord(5000)}
	b.SetBytes(int64(len(ev.Raw)))
	b.ReportAllocs()
	tuples := 0
	for b.Loop() {
		_ = FlowTuples(ev, func(FlowTuple) bool { tuples++; return true })
	}
	b.ReportMetric(float64(tuples)/b.Elapsed().Seconds(), "tuples/s")
}

func FuzzFlowTuples(f *testing.F) {
	f.Add(flowRecord(4))
	f.Add([]byte(`{"flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"r","flowTuples":["1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580"]}]}]}}`))
	f.Add([]byte(`{"properties":{"Version":1,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"]}]}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_ = FlowTuples(&Event{Raw: raw}, func(ft FlowTuple) bool {
			if !ft.SrcIP.IsValid() || !ft.DstIP.IsValid() {
				t.Fatalf("invalid address in a yielded tuple: %+v", ft)
			}
			if ft.Direction != FlowInbound && ft.Direction != FlowOutbound {
				t.Fatalf("direction %q", ft.Direction)
			}
			return true
		})
	})
}

func TestParseAddr(t *testing.T) {
	cases := []string{"10.0.0.1", "0.0.0.0", "255.255.255.255", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.1.1.1", "1..1.1", "::1", "2001:db8::1", "fe80::1%eth0", "", "a.b.c.d", "1.2.3.4 ",
		"1.2.3.4.", ".1.2.3.4", "1.2.3.04", "1.2.3.00", "1.2.3.0", "1.2.3.255", "1.2.3.256", "1.2.3.2550", "1.2.3.1000", "1.2.3.4/", "1.2.3.:", "::ffff:1.2.3.4", "1.2.3.4:80", "9.9.9.9", "99.99.99.99", "199.299.1.1"}
	for a := range 300 { // every octet spelling, in each place
		o := strconv.Itoa(a)
		if a >= 260 {
			o = "0" + strconv.Itoa(a-260)
		}
		cases = append(cases, o+".1.2.3", "1."+o+".2.3", "1.2."+o+".3", "1.2.3."+o)
	}
	for _, s := range cases {
		want, werr := netip.ParseAddr(s)
		got, gerr := parseAddr([]byte(s))
		if (werr == nil) != (gerr == nil) || got != want {
			t.Errorf("parseAddr(%q) = %v, %v; netip says %v, %v", s, got, gerr, want, werr)
		}
	}
}

// TestSplitTuple checks the one-pass split against the long way it
// stands for (scanString, then the fields between commas): the same end
// and fields whenever it answers, and an answer for every plain tuple.
func TestSplitTuple(t *testing.T) {
	long := func(el []byte) (end int, fields []string, ok bool) {
		end, escaped, err := scanString(el, 0)
		if err != nil || escaped {
			return 0, nil, false
		}
		fields = strings.Split(string(el[1:end-1]), ",")
		return end, fields, len(fields) <= flowFieldCount
	}
	cases := []string{
		`"1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,"`,
		`"1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,"]`,
		`"1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580","next"`,
		`"1,-2,-,,-,--,,-a,b"`, `",,,,,,,,,,,,"`, `",,,,,,,,,,,,,"`, `""`, `","`, `"a"`, `"a,b"`,
		`"1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"`,
		`"1487282421,42.119.146.95\",10.1.0.4"`, `"1487282421,42.119.146.95\n,10.1.0.4"`,
		`"1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D`, `"1,2,3,4,5,6,7,8,9,10,11,12,13,14"`,
		"\"1,2,3\n\"", `"abcdefgh,ijklmnop,qrstuvwx,"`, `"-,-,-,-,-,-,-,-,-,-,-,-,-"`,
	}
	for i := 0; i < 300; i++ { // every alignment of commas, stops and dashes
		var b strings.Builder
		b.WriteByte('"')
		for j := 0; j < 5+i%37; j++ {
			b.WriteByte(",-9.a,"[(i*7+j*j+i/5)%6])
		}
		switch i % 4 {
		case 1:
			b.WriteString(`\"`)
		case 2:
			b.WriteByte('\n')
		}
		b.WriteString(`",x`)
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		var ends [flowFieldCount]int
		end, n, ok := splitTuple([]byte(c), &ends)
		wend, wfields, wok := long([]byte(c))
		if ok != wok {
			t.Errorf("splitTuple(%q) ok %v, the long way %v", c, ok, wok)
			continue
		}
		if !ok {
			continue
		}
		s := c[1 : end-1]
		var fields []string
		start := 0
		for k := 0; k < n; k++ {
			fields = append(fields, s[start:ends[k]])
			start = ends[k] + 1
		}
		if end != wend || !reflect.DeepEqual(fields, wfields) {
			t.Errorf("splitTuple(%q) = %d %q, the long way %d %q", c, end, fields, wend, wfields)
		}
	}
}

// TestEachFlowTupleReusedTuple: one FlowTuple read into for a VNet record
// and then an NSG one (as the pooled keeper does) carries nothing of the
// first into the second: an NSG tuple has no ACL id.
func TestEachFlowTupleReusedTuple(t *testing.T) {
	vnet := `{"flowRecords":{"flows":[{"aclID":"acl-1","flowGroups":[{"rule":"R2","flowTuples":["1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580"]}]}]},"macAddress":"0022487BC205"}`
	nsg := `{"properties":{"Version":2,"flows":[{"rule":"R1","flows":[{"flowTuples":["1542110402,94.102.49.190,10.5.16.4,28746,443,U,I,D,B,,,,"]}]}]}}`
	var ft FlowTuple
	var got []FlowTuple
	for _, raw := range []string{vnet, nsg} {
		if err := EachFlowTuple(&Event{Raw: []byte(raw)}, &ft, func(t *FlowTuple) bool {
			got = append(got, *t)
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0].ACLID != "acl-1" || got[0].MAC != "0022487BC205" || got[1].ACLID != "" || got[1].MAC != "" || got[1].Rule != "R1" || got[1].Encryption != "" {
		t.Errorf("tuples read into one FlowTuple: %+v", got)
	}
}

// TestFlowSieveSentLets: a sieve's least bytes sent (SetSentMin) lets a
// tuple through, whatever its port, as a rule's gte of that number does (SentAtLeast, the
// engine's numeric compare): on digits compared as text, and on any text;
// combinations without one let every tuple through.
func TestFlowSieveSentLets(t *testing.T) {
	mins := []float64{0, -1, 0.5, 1, 99.9, 262144, 262144.5, 1e6, 999999999999999, 1e15, 1e15 + 1, 1e18, math.Inf(1), math.Inf(-1)}
	sents := []string{"", "0", "1", "9", "10", "99", "100", "262143", "262144", "262145", "1000000", "999999999999999", "1000000000000000",
		"1000000000000001", "9999999999999999999", "1e6", "-1", "x", " 5", "0x10"}
	for _, m := range mins {
		s := NewFlowSieve(func(func(FlowField) (string, bool)) bool { return true })
		s.SetSentMin(5, m)
		if s.All() {
			t.Errorf("min %v: the sieve lets every tuple through", m)
		}
		for _, sent := range sents {
			want := SentAtLeast(sent, m)
			digits := sent != "" && strings.Trim(sent, "0123456789") == "" && (sent[0] != '0' || len(sent) == 1)
			if got := s.Lets(5, sent, digits, "22"); got != want {
				t.Errorf("min %v, sent %q (digits %v): lets %v, gte %v", m, sent, digits, got, want)
			}
			if got := s.Lets(5, sent, false, ""); got != want {
				t.Errorf("min %v, sent %q as text: lets %v, gte %v", m, sent, got, want)
			}
			if !s.Lets(6, sent, digits, "1") {
				t.Errorf("min %v, sent %q: stopped in a combination without a least", m, sent)
			}
		}
	}
	// SentAtLeast reads numbers as the engine does (exact to 15 digits,
	// strconv.ParseFloat beyond).
	for sent, want := range map[string]bool{"262144": true, "262143": false, "": false, "abc": false, "2.7e5": true, "9007199254740993": true} {
		if got := SentAtLeast(sent, 262144); got != want {
			t.Errorf("SentAtLeast(%q, 262144) = %v", sent, got)
		}
	}
}

// TestFlowSievePorts: a sieve's ports (SetPorts) let a tuple through when
// its port is one of them or not written in digits, or, with a least
// bytes sent too, when its bytes are enough; a port a rule's compare
// (trimmed, lower-cased) finds among them is never stopped, and one in
// digits it does not find is.
func TestFlowSievePorts(t *testing.T) {
	sets := [][]string{{"22", "3389", "5985", "5986"}, {"443"}, {}, {"", "22"}, {"abc", " 22", "0022", "22"}, {"65536", "3389", "3389"}, {"0", "65535", "99999", "00"}}
	ports := []string{"", "22", "3389", "5985", "5986", "443", "0022", "022", " 22", "22 ", "abc", "ABC", "65536", "2", "222", "-22", "2e1", "\t22", "0", "00", "65535", "99999", "123456"}
	for _, set := range sets {
		for _, sent := range []float64{math.NaN(), 262144} {
			s := NewFlowSieve(func(func(FlowField) (string, bool)) bool { return true })
			s.SetPorts(7, set)
			s.SetSentMin(7, sent)
			if s.All() || !s.Bounded(7) || s.Bounded(8) {
				t.Fatalf("ports %q: bounded %v, %v; all %v", set, s.Bounded(7), s.Bounded(8), s.All())
			}
			for _, port := range ports {
				found := slices.Contains(set, strings.ToLower(strings.TrimSpace(port)))
				inDigits := strings.Trim(port, "0123456789") == ""
				for _, bytes := range []string{"", "262143", "262144"} {
					got := s.Lets(7, bytes, true, port)
					enough := sent == sent && SentAtLeast(bytes, sent)
					if want := found || !inDigits || enough; got != want {
						t.Errorf("ports %q, least %v: port %q, sent %q: lets %v, want %v", set, sent, port, bytes, got, want)
					}
					if !s.Lets(8, bytes, true, port) {
						t.Errorf("ports %q: port %q stopped in a combination without ports", set, port)
					}
				}
			}
		}
	}
}
