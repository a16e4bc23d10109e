package event

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// referenceParseFields is parseFields as it was before it read each field where it is used (the reference of TestParseFieldsAgree): its n fields end at
// t.ends.
func referenceParseFields(s []byte, n int, kind flowKind, t *FlowTuple) error {
	t.text, t.fields = s, n
	var f [flowFieldCount][]byte // on the stack: no barrier per field
	start := 0
	for i := range n {
		end := t.ends[i]
		f[i] = s[start:end]
		start = end + 1
	}
	switch {
	case kind == flowNSG && n != 8 && n != 13:
		return fmt.Errorf("%d fields, want 8 (version 1) or 13 (version 2)", n)
	case kind == flowVNet && n != 13:
		return fmt.Errorf("%d fields, want 13", n)
	}

	stamp, ok := parseUint(f[0])
	if !ok {
		return errors.New("bad time")
	}
	// Seconds until the year 5138; anything larger is milliseconds (VNet
	// writes milliseconds, Microsoft's worked example seconds).
	if stamp >= 1e11 {
		t.Time = time.UnixMilli(int64(min(stamp, 1<<62))).UTC()
	} else {
		t.Time = time.Unix(int64(stamp), 0).UTC()
	}
	var err error
	if t.SrcIP, err = parseAddr(f[1]); err != nil {
		return errors.New("bad source IP")
	}
	if t.DstIP, err = parseAddr(f[2]); err != nil {
		return errors.New("bad destination IP")
	}
	if t.SrcPort, ok = parsePort(f[3]); !ok {
		return errors.New("bad source port")
	}
	if t.DstPort, ok = parsePort(f[4]); !ok {
		return errors.New("bad destination port")
	}
	t.Protocol = flowProtocol(f[5])
	if len(f[6]) != 1 || (f[6][0] != FlowInbound && f[6][0] != FlowOutbound) {
		return errors.New("direction is not I or O")
	}
	t.Direction = f[6][0]
	if len(f[7]) != 1 {
		return errors.New("bad decision or state")
	}

	t.State, t.Encryption, t.HasCounts = 0, "", false
	t.PacketsOut, t.BytesOut, t.PacketsIn, t.BytesIn = 0, 0, 0, 0
	switch kind {
	case flowNSG:
		switch f[7][0] {
		case 'A':
			t.Allowed = true
		case 'D':
			t.Allowed = false
		default:
			return errors.New("decision is not A or D")
		}
		if n == 8 {
			return nil // version 1: no state, no counts
		}
		if len(f[8]) != 1 || !isFlowState(f[8][0]) {
			return errors.New("bad flow state")
		}
		t.State = f[8][0]
	case flowVNet:
		if !isFlowState(f[7][0]) {
			return errors.New("bad flow state")
		}
		t.State = f[7][0]
		t.Allowed = t.State != FlowDenied
		t.Encryption = flowEncryption(f[8])
	}
	return referenceParseCounts(f[9:13], t)
}

// referenceParseCounts is parseCounts as it was: it reads the four counts: all empty (none written) or all numbers.
func referenceParseCounts(f [][]byte, t *FlowTuple) error {
	if len(f[0]) == 0 && len(f[1]) == 0 && len(f[2]) == 0 && len(f[3]) == 0 {
		return nil
	}
	var v [4]uint64
	for i, b := range f {
		n, ok := parseUint(b)
		if !ok {
			return errors.New("bad packet or byte count")
		}
		v[i] = n
	}
	t.PacketsOut, t.BytesOut, t.PacketsIn, t.BytesIn = v[0], v[1], v[2], v[3]
	t.HasCounts = true
	return nil
}

// parseBoth runs parseFields and the reference over the tuple s of kind
// and reports where they disagree: the error, or any field of the tuple.
func parseBoth(s string, kind flowKind) string {
	var a, b FlowTuple
	// a holds another tuple first, as the walker's does from tuple to
	// tuple (parseFields writes a value only when it changes).
	if err := parseFlowTuple([]byte("1663146003606,fe80::1,::2,23956,443,17,O,E,NX_LOCAL_DST,3,767,2,1580"), flowVNet, &a); err != nil {
		panic(err)
	}
	a.ends = [flowFieldCount]int{} // beyond the fields, what the walker leaves is never read
	a.Rule, b.Rule = "r", "r"
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			if n == flowFieldCount-1 {
				return "" // more than 13 fields: neither is called
			}
			a.ends[n], b.ends[n] = i, i
			n++
		}
	}
	a.ends[n], b.ends[n] = len(s), len(s)
	ea := parseFields([]byte(s), n+1, kind, &a)
	eb := referenceParseFields([]byte(s), n+1, kind, &b)
	if (ea == nil) != (eb == nil) || (ea != nil && ea.Error() != eb.Error()) {
		return fmt.Sprintf("%q: error %v, reference %v", s, ea, eb)
	}
	if ea == nil && !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%q:\n%+v\nreference\n%+v", s, a, b)
	}
	return ""
}

// sampleTuples are the tuples of the reference samples and testdata.
func sampleTuples(t testing.TB) []string {
	var out []string
	seen := map[string]bool{}
	for _, glob := range []string{"../../../shared/reference/samples/*flowlogs/*/*", "../../testdata/*flowlogs/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(body), "\"") {
				if strings.Count(line, ",") >= 7 && !strings.ContainsAny(line, "{}[]\\ ") && !seen[line] {
					seen[line] = true
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// TestParseFieldsAgree: parseFields reads every sample tuple, and every
// tuple made from them by changing one field, as the parser it replaced.
func TestParseFieldsAgree(t *testing.T) {
	tuples := sampleTuples(t)
	if len(tuples) < 20 {
		t.Fatalf("%d sample tuples found", len(tuples))
	}
	odd := []string{"", "0", "00", "x", "-1", "65536", "65535", "T", "U", "6", "17", "1", "58", "47", "t", "I", "O", "A", "D", "B", "C", "E", "X", "NX",
		"NX_LOCAL_DST", "10.0.0.1", "::1", "fe80::1%eth0", "01.2.3.4", "1795169100", "1663146003606", "99999999999999999999", "18446744073709551615", " 1"}
	n := 0
	for _, tu := range tuples {
		fields := strings.Split(tu, ",")
		for _, kind := range []flowKind{flowNSG, flowVNet} {
			if d := parseBoth(tu, kind); d != "" {
				t.Error(d)
			}
			n++
			for i := range fields {
				for _, o := range odd {
					g := append([]string(nil), fields...)
					g[i] = o
					if d := parseBoth(strings.Join(g, ","), kind); d != "" {
						t.Error(d)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d sample tuples, %d parsed both ways", len(tuples), n)
}

func FuzzParseFieldsAgree(f *testing.F) {
	f.Add("1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331", false)
	f.Add("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580", true)
	f.Add("1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D", false)
	f.Fuzz(func(t *testing.T, s string, vnet bool) {
		kind := flowNSG
		if vnet {
			kind = flowVNet
		}
		if d := parseBoth(s, kind); d != "" {
			t.Fatal(d)
		}
	})
}

// ipv4Agrees reports how parseIPv4 and netip.ParseAddr differ on s: ""
// when parseIPv4 reads exactly the dotted IPv4 netip reads, to the same
// address (the reference of parseFields reads addresses with parseAddr,
// so parseIPv4 is checked against netip here).
func ipv4Agrees(s string) string {
	ip, ok := parseIPv4([]byte(s))
	a, err := netip.ParseAddr(s)
	want := err == nil && a.Is4()
	switch {
	case ok != want:
		return fmt.Sprintf("parseIPv4(%q) ok %v, netip %v (%v)", s, ok, want, err)
	case ok && netip.AddrFrom4(ip) != a:
		return fmt.Sprintf("parseIPv4(%q) = %v, netip %v", s, netip.AddrFrom4(ip), a)
	}
	return ""
}

func TestParseIPv4AgreesWithNetip(t *testing.T) {
	for _, s := range []string{"", "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.256", "01.2.3.4", "1.2.3.04",
		"1.2.3.0", "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4.5", "1000.2.3.4", "10.20.30.40", "192.168.100.200",
		"1.2.3.4 ", "1.2.3.-4", "1.2.3.4a", "::1", "::ffff:1.2.3.4", "00.1.2.3", "1.2.3.00", "999.999.999.999", "0.0.0.00"} {
		if d := ipv4Agrees(s); d != "" {
			t.Error(d)
		}
	}
}

func FuzzParseIPv4(f *testing.F) {
	f.Add("10.20.1.4")
	f.Add("01.2.3.4")
	f.Fuzz(func(t *testing.T, s string) {
		if d := ipv4Agrees(s); d != "" {
			t.Fatal(d)
		}
	})
}

// longWay is the tuple walk's long way over the JSON string el starts
// with (splitTuple and parseFields, else scanString, Unquote and
// parseFlowTuple): what parseTuple is held to. syntax is true when el
// holds no JSON string.
func longWay(el []byte, kind flowKind, t *FlowTuple) (end int, err error, syntax bool) {
	if end, n, ok := splitTuple(el, &t.ends); ok {
		return end, parseFields(el[1:end-1], n, kind, t), false
	}
	end, escaped, err := scanString(el, 0)
	if err != nil {
		return 0, nil, true
	}
	s := el[1 : end-1]
	if escaped {
		u, ok := Unquote(el[:end])
		if !ok {
			return 0, nil, true
		}
		s = []byte(u)
	}
	return end, parseFlowTuple(s, kind, t), false
}

// tupleBoth runs parseTuple and the long way over el and reports where
// they disagree: parseTuple may refuse anything, but what it reads the
// long way reads the same, to the same tuple. t's start from another
// tuple, as the walker's do. fast is parseTuple's ok, long whether the
// long way read a tuple.
func tupleBoth(el []byte, kind flowKind) (d string, fast, long bool) {
	var a FlowTuple
	if err := parseFlowTuple([]byte("1663146003606,fe80::1,::2,23956,443,17,O,E,NX_LOCAL_DST,3,767,2,1580"), flowVNet, &a); err != nil {
		panic(err)
	}
	a.Rule, a.MAC = "r", "m"
	b := a
	end, ok := parseTuple(el, kind, &a)
	bend, err, syntax := longWay(el, kind, &b)
	long = !syntax && err == nil
	switch {
	case !ok:
		return "", false, long
	case !long:
		return fmt.Sprintf("%q: parseTuple read it, the long way: syntax %v, %v", el, syntax, err), true, long
	case end != bend:
		return fmt.Sprintf("%q: parseTuple ends at %d, the long way at %d", el, end, bend), true, long
	case a.plain && !plainAsClaimed(&a):
		return fmt.Sprintf("%q: parseTuple says plain: %+v", el, a), true, long
	}
	a.plain = false // the long way says nothing of it
	switch {
	case !reflect.DeepEqual(a, b):
		return fmt.Sprintf("%q:\n%+v\nthe long way\n%+v", el, a, b), true, long
	}
	return "", true, long
}

// TestParseTupleAgrees: parseTuple reads the sample tuples (but those of
// IPv6 addresses) in one pass, and every tuple made from them by changing
// one field as the long way reads it, or leaves it to the long way.
func TestParseTupleAgrees(t *testing.T) {
	tuples := sampleTuples(t)
	if len(tuples) < 20 {
		t.Fatalf("%d sample tuples found", len(tuples))
	}
	odd := []string{"", "0", "00", "x", "-1", "65536", "65535", "T", "U", "6", "17", "1", "58", "47", "t", "I", "O", "A", "D", "B", "C", "E", "X", "NX",
		"NX_LOCAL_DST", "10.0.0.1", "::1", "fe80::1%eth0", "01.2.3.4", "1.2.3.4.5", "1.2.3", "256.1.2.3", "1795169100", "1663146003606", "99999999999999999999",
		"18446744073709551615", "9999999999999999999", " 1", `\u0031`, `\"`, `\\`, "\n", "\x01", "é", "\xff", "A,B", ",", `"`}
	n, fast := 0, 0
	for _, tu := range tuples {
		fields := strings.Split(tu, ",")
		for _, kind := range []flowKind{flowNSG, flowVNet} {
			for _, suffix := range []string{`"`, `","x"]`, `"]}`} {
				d, ok, long := tupleBoth([]byte(`"`+tu+suffix), kind)
				if d != "" {
					t.Error(d)
				}
				if long && !ok && !strings.Contains(tu, ":") {
					t.Errorf("%q (%d): parseTuple left it to the long way", tu, kind)
				}
			}
			for i := range fields {
				for _, o := range odd {
					g := append([]string(nil), fields...)
					g[i] = o
					d, ok, _ := tupleBoth([]byte(`"`+strings.Join(g, ",")+`"]`), kind)
					if d != "" {
						t.Error(d)
					}
					n++
					if ok {
						fast++
					}
				}
			}
		}
	}
	for _, el := range []string{`"`, `"1`, `"1,`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,4`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,4"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,4"`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B"`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,X,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,,I,A,B,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,"`,
		`"1663146003606,1.2.3.4,5.6.7.8,1,2,6,O,D,,,,,"`, `"1663146003606,1.2.3.4,5.6.7.8,1,2,6,O,D,NX,,,,"`} {
		for _, kind := range []flowKind{flowNSG, flowVNet} {
			if d, _, _ := tupleBoth([]byte(el), kind); d != "" {
				t.Error(d)
			}
		}
	}
	t.Logf("%d sample tuples, %d changed ones, %d of them read by parseTuple", len(tuples), n, fast)
}

func FuzzParseTupleAgrees(f *testing.F) {
	f.Add([]byte(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"`), false)
	f.Add([]byte(`"1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580","`), true)
	f.Add([]byte(`"1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"]`), false)
	f.Add([]byte(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,,,,"]`), false)
	f.Fuzz(func(t *testing.T, el []byte, vnet bool) {
		if len(el) == 0 || el[0] != '"' {
			return
		}
		kind := flowNSG
		if vnet {
			kind = flowVNet
		}
		if d, _, _ := tupleBoth(el, kind); d != "" {
			t.Fatal(d)
		}
	})
}

// FuzzTupleIPv4: tupleIPv4 reads an address followed by a comma as
// parseIPv4 reads the address, by words (room behind it) or byte by byte
// (at el's end).
func FuzzTupleIPv4(f *testing.F) {
	for _, s := range []string{"10.20.1.4", "01.2.3.4", "255.255.255.255", "256.1.1.1", "1.2.3.04", "0.0.0.0", "1.2.3", "1.2.3.4.5", "1000.1.1.1"} {
		f.Add(s, ",")
		f.Add(s, ",1795169100,10.0.0.1,")
	}
	f.Fuzz(func(t *testing.T, addr, after string) {
		el := []byte(addr + after)
		ip, j, ok := tupleIPv4(el, 0)
		wip, wok := parseIPv4([]byte(addr))
		// What parseIPv4 reads of addr, tupleIPv4 reads when a comma
		// follows; whatever tupleIPv4 reads, parseIPv4 reads the same.
		if wok && len(after) > 0 && after[0] == ',' && (!ok || j != len(addr) || ip != wip) {
			t.Fatalf("tupleIPv4(%q) = %v, %d, %v; parseIPv4(%q) = %v", el, ip, j, ok, addr, wip)
		}
		if ok {
			if p, pok := parseIPv4(el[:j]); !pok || p != ip || el[j] != ',' {
				t.Fatalf("tupleIPv4(%q) = %v, %d; parseIPv4(%q) = %v, %v", el, ip, j, el[:j], p, pok)
			}
		}
	})
}

// plainAsClaimed checks what FlowTuple.Plain says of t: IPv4 addresses,
// ports and counts without a leading zero, no field over 255 bytes, its
// fields the values' text as written.
func plainAsClaimed(t *FlowTuple) bool {
	if !t.SrcIP.Is4() || !t.DstIP.Is4() || t.SrcIP.String() != string(t.Written(1)) || t.DstIP.String() != string(t.Written(2)) {
		return false
	}
	for i := range t.fields {
		w := t.Written(i)
		if len(w) > 255 || bytes.ContainsAny(w, "\\\"") {
			return false
		}
		if (i == 3 || i == 4 || i >= 9) && len(w) > 1 && w[0] == '0' {
			return false
		}
	}
	return true
}

// plainBoth reads el with ReadPlainTuple and with parseTuple, and
// describes where they disagree: ReadPlainTuple reads what parseTuple
// reads and finds plain, and nothing else, into the values parseTuple
// reads.
func plainBoth(el []byte, kind flowKind) string {
	var p PlainTuple
	end, ok := ReadPlainTuple(el, kind == flowVNet, &p)
	var t FlowTuple
	tend, tok := parseTuple(el, kind, &t)
	if ok != (tok && t.plain) {
		return fmt.Sprintf("%q (%d): ReadPlainTuple ok %v; parseTuple ok %v, plain %v", el, kind, ok, tok, t.plain)
	}
	if !ok {
		return ""
	}
	var w PlainTuple
	w.Stamp, _ = parseUint(t.Written(0))
	w.Src, w.Dst = t.SrcIP.As4(), t.DstIP.As4()
	text, ends := t.Fields()
	prev := -1
	for i, e := range ends {
		w.Lens[i] = uint8(e - prev - 1)
		prev = e
	}
	w.Fields = t.fields
	for i, name := range PlainProtocols {
		if i > 0 && name == t.Protocol {
			w.Protocol = uint8(i)
		}
	}
	w.Direction, w.State, w.Allowed, w.Counts = t.Direction, t.State, t.Allowed, t.HasCounts
	switch {
	case end != tend:
		return fmt.Sprintf("%q: ReadPlainTuple ends at %d, parseTuple at %d", el, end, tend)
	case p != w:
		return fmt.Sprintf("%q:\n%+v\nparseTuple's\n%+v", el, p, w)
	case flowTime(p.Stamp) != t.Time || FlowMillis(p.Stamp) != t.Time.UnixMilli():
		return fmt.Sprintf("%q: stamp %d: %d ms, parseTuple's %v", el, p.Stamp, FlowMillis(p.Stamp), t.Time)
	case &text[0] != &el[1] || len(text) != end-2:
		return fmt.Sprintf("%q: parseTuple's text is not the string's content", el)
	case p.Protocol == 0 && t.Protocol != string(t.Written(5)):
		return fmt.Sprintf("%q: protocol %q as written, parseTuple's %q", el, t.Written(5), t.Protocol)
	}
	return ""
}

// TestReadPlainTupleAgrees: ReadPlainTuple reads the sample tuples, and
// every tuple made from them by changing one field, as parseTuple reads
// the plain ones, and leaves the others (hostile ones among them: huge,
// NUL, escapes, IPv6, non-ASCII, too many or too few fields).
func TestReadPlainTupleAgrees(t *testing.T) {
	tuples := sampleTuples(t)
	if len(tuples) < 20 {
		t.Fatalf("%d sample tuples found", len(tuples))
	}
	odd := []string{"", "0", "00", "01", "x", "-1", "65536", "65535", "65540", "99999", "10000", "T", "U", "6", "17", "1", "58", "47", "t", "u", "tcp", "udp", "icmp", "icmpv6", "TCP", "I", "O",
		"A", "D", "B", "C", "E", "X", "NX", "NX_LOCAL_DST", "10.0.0.1", "::1", "fe80::1%eth0", "::ffff:1.2.3.4", "01.2.3.4", "1.2.3.4.5", "1.2.3", "256.1.2.3", "255.255.255.255",
		"1795169100", "1663146003606", "0001663146003606", "99999999999999999999", "18446744073709551615", "9999999999999999999", "1234567890123456789", " 1", "1 ",
		`\u0031`, `\"`, `\\`, "\n", "\t", "\x00", "\x01", "\x7f", "é", "\xff", "A,B", ",", `"`, strings.Repeat("x", 255), strings.Repeat("x", 256), strings.Repeat("9", 300)}
	n, read := 0, 0
	for _, tu := range tuples {
		fields := strings.Split(tu, ",")
		for _, kind := range []flowKind{flowNSG, flowVNet} {
			for _, suffix := range []string{`"`, `","x"]`, `"]}`} {
				if d := plainBoth([]byte(`"`+tu+suffix), kind); d != "" {
					t.Error(d)
				}
			}
			for i := range fields {
				for _, o := range odd {
					for _, g := range [][]string{
						append(append(append([]string(nil), fields[:i]...), o), fields[i+1:]...),        // field i changed
						append(append(append([]string(nil), fields[:i]...), o), fields[i:]...),          // o added before it
						append(append([]string(nil), fields[:i]...), fields[min(i+1, len(fields)):]...), // field i dropped
					} {
						el := []byte(`"` + strings.Join(g, ",") + `"]`)
						if d := plainBoth(el, kind); d != "" {
							t.Error(d)
						}
						n++
						if _, ok := ReadPlainTuple(el, kind == flowVNet, new(PlainTuple)); ok {
							read++
						}
					}
				}
			}
		}
	}
	for _, el := range []string{`"`, `"1`, `"1,`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,4`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,4"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,4"`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B"`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,X,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,,I,A,B,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,"`,
		`"1663146003606,1.2.3.4,5.6.7.8,1,2,6,O,D,,,,,"`, `"1663146003606,1.2.3.4,5.6.7.8,1,2,6,O,D,NX,,,,"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A"`,
		`"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,01,2,3,4"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,0,0,0,0"`, `"1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,1,2,3,12345678901234567890"`} {
		for _, kind := range []flowKind{flowNSG, flowVNet} {
			for _, cut := range []int{len(el), max(len(el)-1, 1)} {
				if d := plainBoth([]byte(el[:cut]), kind); d != "" {
					t.Error(d)
				}
			}
		}
	}
	if read == 0 || read == n {
		t.Errorf("ReadPlainTuple read %d of %d changed tuples", read, n)
	}
	t.Logf("%d sample tuples, %d changed ones, %d of them read by ReadPlainTuple", len(tuples), n, read)
}

func FuzzReadPlainTupleAgrees(f *testing.F) {
	f.Add([]byte(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"`), false)
	f.Add([]byte(`"1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580","`), true)
	f.Add([]byte(`"1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"]`), false)
	f.Add([]byte(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,,,,"]`), false)
	f.Add([]byte(`"1795169100,45.137.21.9,10.20.1.4,05544,3389,tcp,I,A,B,,,,"]`), false)
	f.Add([]byte(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331","1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,,,,"]`), false)
	f.Add([]byte(`"1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580","1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,,,,"]`), true)
	f.Fuzz(func(t *testing.T, el []byte, vnet bool) {
		if len(el) == 0 || el[0] != '"' {
			return
		}
		kind := flowNSG
		if vnet {
			kind = flowVNet
		}
		if d := plainBoth(el, kind); d != "" {
			t.Fatal(d)
		}
	})
}

// FuzzPlainIPv4: plainIPv4 (no bounds check a byte when el has room)
// reads what tupleIPv4 reads, at el's start and with room behind.
func FuzzPlainIPv4(f *testing.F) {
	for _, s := range []string{"10.20.1.4,", "01.2.3.4,", "255.255.255.255,", "256.1.1.1,", "1.2.3.04,", "0.0.0.0,", "1.2.3,", "1.2.3.4.5,", "1000.1.1.1,", "1.2.3.4", "9.9.9.999,", "1.2.3.4\"", "199.299.1.1,"} {
		f.Add(s, "1795169100,10.0.0.1,", 0)
		f.Add(s, "", 0)
	}
	f.Fuzz(func(t *testing.T, addr, after string, at int) {
		for _, el := range [][]byte{[]byte(addr + after), []byte(addr + after + strings.Repeat("\x00", 24)), []byte(addr + after + strings.Repeat("9", 24))} {
			if at < 0 || at > len(el) {
				at = 0
			}
			ip, j, ok := plainIPv4(el, at)
			wip, wj, wok := tupleIPv4(el, at)
			if ok != wok || (ok && (ip != wip || j != wj)) {
				t.Fatalf("plainIPv4(%q, %d) = %v, %d, %v; tupleIPv4 %v, %d, %v", el, at, ip, j, ok, wip, wj, wok)
			}
		}
	})
}

// TestPlainCountsAgrees: ReadPlainTuple's read of the four counts at once
// (plainCounts, with room for 32 bytes behind them) agrees with
// parseTuple for counts of every length from none to past 19 digits,
// with leading zeros, other bytes among them and the quote moved, the
// tuple's end near or far; and it is the path taken for the usual ones.
func TestPlainCountsAgrees(t *testing.T) {
	counts := []string{"", "0", "1", "00", "01", "10", "7654321", strings.Repeat("9", 18), strings.Repeat("9", 19), strings.Repeat("1", 20),
		"1x", " 1", "1.5", "-1", "\u0031", "1\"", "é"}
	heads := map[flowKind]string{flowNSG: "1795169100,10.1.2.3,45.137.21.9,51544,3389,T,I,A,C,", flowVNet: "1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,"}
	tails := []string{`"`, `"]`, `","1795169100,1.2.3.4,5.6.7.8,1,2,T,I,A,B,,,,"]` + strings.Repeat(" ", 40), `"` + strings.Repeat(",", 40), `,"` + strings.Repeat("1", 40)}
	fast := 0
	for _, kind := range []flowKind{flowNSG, flowVNet} {
		for _, a := range counts {
			for _, b := range counts {
				for _, c := range counts {
					for _, d := range counts {
						for _, tail := range tails {
							el := []byte(`"` + heads[kind] + a + "," + b + "," + c + "," + d + tail)
							if s := plainBoth(el, kind); s != "" {
								t.Fatal(s)
							}
							var p PlainTuple
							if _, ok := plainCounts(el, len(heads[kind])+1, &p); ok {
								fast++
							}
						}
					}
				}
			}
		}
	}
	for kind, head := range heads {
		el := []byte(`"` + head + `1,22,333,4444","` + strings.Repeat("9", 32))
		var p PlainTuple
		if end, ok := plainCounts(el, len(head)+1, &p); !ok || end != len(head)+15 || [4]uint8(p.Lens[9:]) != [4]uint8{1, 2, 3, 4} || !p.Counts || p.Fields != 13 {
			t.Errorf("plainCounts(%q) = %d, %v, %+v (kind %d)", el, end, ok, p, kind)
		}
	}
	if fast == 0 {
		t.Error("plainCounts took no counts")
	}
}

// TestReadPlainTupleWords: ReadPlainTuple's reads of a word at once (the
// time's digits after its first eight, each port with what follows it)
// agree with parseTuple for every length of those fields, values at the
// edges, bytes other than a comma after them, and the tuple's end near
// them (the word then reaching past el: read byte by byte instead).
func TestReadPlainTupleWords(t *testing.T) {
	var stamps, ports []string
	for n := 1; n <= 21; n++ {
		stamps = append(stamps, strings.Repeat("9", n), "1"+strings.Repeat("0", n-1), "0"+strings.Repeat("7", n-1), strings.Repeat("1", n)+"x", strings.Repeat("2", n)+"\"")
	}
	for n := 0; n <= 8; n++ {
		ports = append(ports, strings.Repeat("6", n), "1"+strings.Repeat("0", n), "0"+strings.Repeat("5", n), strings.Repeat("3", n)+".")
	}
	ports = append(ports, "65535", "65536", "99999", "10000", "00000", "6553", "655350", "65535 ", "1\x00", "1é")
	read := 0
	for _, kind := range []flowKind{flowNSG, flowVNet} {
		for _, st := range stamps {
			for _, tail := range []string{"T,I,A,B,,,,", "T,I,A,C,1,22,333,4444", "6,O,E,NX,3,767,2,1580", "T,I,D"} {
				tu := st + ",10.1.2.3,45.137.21.9,51544,3389," + tail
				for _, suffix := range []string{`"`, `"]`, `","x"]}` + strings.Repeat(" ", 16)} {
					el := []byte(`"` + tu + suffix)
					if d := plainBoth(el, kind); d != "" {
						t.Error(d)
					}
					if _, ok := ReadPlainTuple(el, kind == flowVNet, new(PlainTuple)); ok {
						read++
					}
				}
			}
		}
		for _, sp := range ports {
			for _, dp := range ports {
				for _, tail := range []string{"T,I,A,B,,,,", "6,O,E,NX,3,767,2,1580", "T,I,D"} {
					tu := "1795169100,10.1.2.3,45.137.21.9," + sp + "," + dp + "," + tail
					for cut := len(tu) - 8; cut <= len(tu)+2; cut++ {
						el := []byte(`"` + tu + `"]}`)[:cut]
						if d := plainBoth(el, kind); d != "" {
							t.Error(d)
						}
					}
					el := []byte(`"` + tu + `"]}`)
					if d := plainBoth(el, kind); d != "" {
						t.Error(d)
					}
					if _, ok := ReadPlainTuple(el, kind == flowVNet, new(PlainTuple)); ok {
						read++
					}
				}
			}
		}
	}
	if read == 0 {
		t.Error("ReadPlainTuple read none of the tuples")
	}
}
