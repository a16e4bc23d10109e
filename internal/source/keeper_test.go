package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// keepersAgree walks the flow record raw with a keeper that reads every
// tuple whole (add) and with one that takes the plain ones as they are
// read (walk, addPlain), and describes where they differ: the walk's
// error, the counts, the first MAC, whether the tuples are kept, and the
// kept tuples and groups. plain is how many tuples addPlain took.
func keepersAgree(raw []byte, vnet bool) (d string, plain int) {
	ev := &event.Event{Raw: raw}
	whole := &tupleKeeper{}
	whole.addFn = whole.add
	whole.reset(raw, vnet)
	werr := event.EachFlowTuple(ev, &whole.t, whole.addFn)

	k := &tupleKeeper{}
	k.addFn = k.add
	k.plainFn = func(p *event.PlainTuple, text []byte, t *event.FlowTuple) bool {
		ok := k.addPlain(p, text, t)
		if ok {
			plain++
		}
		return ok
	}
	k.reset(raw, vnet)
	err := k.walk(ev)
	switch {
	case fmt.Sprint(err) != fmt.Sprint(werr):
		return fmt.Sprintf("%.300q: error %v, read whole %v", raw, err, werr), plain
	case k.tuples != whole.tuples || k.denied != whole.denied || k.firstMAC != whole.firstMAC || k.keeping != whole.keeping:
		return fmt.Sprintf("%.300q: %d tuples, %d denied, MAC %q, keeping %v; read whole %d, %d, %q, %v", raw,
			k.tuples, k.denied, k.firstMAC, k.keeping, whole.tuples, whole.denied, whole.firstMAC, whole.keeping), plain
	case !k.keeping:
		return "", plain
	case len(k.list) != len(whole.list) || len(k.groups) != len(whole.groups):
		return fmt.Sprintf("%.300q: %d kept in %d groups, read whole %d in %d", raw, len(k.list), len(k.groups), len(whole.list), len(whole.groups)), plain
	}
	for i := range k.list {
		if k.list[i] != whole.list[i] {
			return fmt.Sprintf("%.300q: tuple %d kept\n%+v\nread whole\n%+v", raw, i, k.list[i], whole.list[i]), plain
		}
	}
	for i := range k.groups {
		a, b := k.groups[i], whole.groups[i]
		if !sameString(a.rule, b.rule) || !sameString(a.aclID, b.aclID) || !sameString(a.mac, b.mac) {
			return fmt.Sprintf("%.300q: group %d %+v, read whole %+v", raw, i, a, b), plain
		}
	}
	return "", plain
}

// flowRecordWith is an NSG version 2 or a VNet record of the tuples
// written as they are between quotes, in two groups.
func flowRecordWith(vnet bool, tuples ...string) []byte {
	half := (len(tuples) + 1) / 2
	list := func(ts []string) string {
		if len(ts) == 0 {
			return ""
		}
		return `"` + strings.Join(ts, `","`) + `"`
	}
	if vnet {
		return []byte(`{"time":"2024-08-19T18:00:06Z","flowLogGUID":"g","macAddress":"00224871C205","category":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"a1","flowGroups":[{"rule":"r1","flowTuples":[` +
			list(tuples[:half]) + `]}]},{"aclID":"a2","flowGroups":[{"rule":"r2","flowTuples":[` + list(tuples[half:]) + `]}]}]}}`)
	}
	return []byte(`{"time":"2024-08-19T18:00:06Z","systemId":"s","macAddress":"6045BDEC2532","category":"NetworkSecurityGroupFlowEvent","properties":{"Version":2,"flows":[{"rule":"r1","flows":[{"mac":"M1","flowTuples":[` +
		list(tuples[:half]) + `]}]},{"rule":"r2","flows":[{"flowTuples":[` + list(tuples[half:]) + `]}]}]}}`)
}

// TestKeeperPlainAgrees: the keeper keeps the tuples it takes as they are
// read (addPlain) as it keeps them read whole (add), in the sample
// records and in records holding a hostile tuple among plain ones (huge,
// NUL, escapes, IPv6, non-ASCII, too many or too few fields, leading
// zeros, a protocol written as its name), and fails the same records.
func TestKeeperPlainAgrees(t *testing.T) {
	plain, records := 0, 0
	for _, glob := range []string{"../../../shared/reference/samples/*flowlogs/*/*", "../../testdata/*flowlogs/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(body), "\n") {
				if !strings.Contains(line, "flowTuples") {
					continue
				}
				for _, vnet := range []bool{false, true} {
					d, n := keepersAgree([]byte(line), vnet)
					if d != "" {
						t.Error(f, d)
					}
					plain += n
					records++
				}
			}
		}
	}
	nsg := []string{"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331", "1795169101,10.20.1.4,52.239.184.180,23956,443,U,O,D,B,,,,"}
	vnet := []string{"1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580", "1663146003607,10.0.0.6,52.239.184.181,23957,53,17,O,D,X,,,,"}
	hostile := []string{"", ",", "1795169100", "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A",
		"1795169100,::1,10.20.1.4,51544,3389,T,I,A,B,,,,", "1663146003606,fe80::1%eth0,::ffff:1.2.3.4,23956,443,6,O,E,NX,3,767,2,1580",
		"1795169100,45.137.21.9,10.20.1.4,051544,3389,T,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,0311,48211,402,1822331",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,tcp,I,A,B,,,,", "1663146003606,10.0.0.6,52.239.184.180,23956,443,icmpv6,O,E,NX,3,767,2,1580",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,T\\u0000,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,\\u0054,I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,\x00,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,é,I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,\xff,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,\\\",I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389," + strings.Repeat("P", 255) + ",I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389," + strings.Repeat("P", 256) + ",I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389," + strings.Repeat("P", 70000) + ",I,A,B,,,,",
		"1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E," + strings.Repeat("N", 300) + ",3,767,2,1580",
		"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,1,2,3,4,5",
		"99999999999999999999,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,,,,", "0001795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B,,,,",
		"1795169100,45.137.21.9,10.20.1.4,65536,3389,T,I,A,B,,,,", "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,B\n,,,,"}
	for _, h := range hostile {
		for _, v := range []bool{false, true} {
			base := nsg
			if v {
				base = vnet
			}
			for _, ts := range [][]string{{h}, {base[0], h, base[1]}, {base[0], base[1], h}} {
				if d, _ := keepersAgree(flowRecordWith(v, ts...), v); d != "" {
					t.Error(d)
				}
			}
		}
	}
	for _, v := range []bool{false, true} {
		base := nsg
		if v {
			base = vnet
		}
		d, n := keepersAgree(flowRecordWith(v, base...), v)
		if d != "" || n != len(base) {
			t.Errorf("vnet %v: %d of %d plain tuples taken as read: %s", v, n, len(base), d)
		}
	}
	if plain == 0 {
		t.Errorf("no sample tuple of %d records was taken as read", records)
	}
}

func FuzzKeeperPlainAgrees(f *testing.F) {
	f.Add("1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331", false)
	f.Add("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580", true)
	f.Add("1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D", false)
	f.Add("1795169100,45.137.21.9,10.20.1.4,51544,3389,\\u0054,I,A,B,,,,", false)
	f.Fuzz(func(t *testing.T, tuple string, vnet bool) {
		plain := "1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"
		if vnet {
			plain = "1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580"
		}
		for _, ts := range [][]string{{tuple}, {plain, tuple, plain}} {
			if d, _ := keepersAgree(flowRecordWith(vnet, ts...), vnet); d != "" {
				t.Fatal(d)
			}
		}
	})
}

// TestNetworksClassByOctet: class4's table of first octets classifies as
// the prefixes do (prefixClass4), for every first octet at its ends, at
// and around every prefix's edges and at random addresses, with prefixes
// shorter and longer than an octet, overlapping, /0 and /32 among them,
// and for Networks with no table (the zero value).
func TestNetworksClassByOctet(t *testing.T) {
	configs := [][2][]string{
		{DefaultPrivateRanges, DefaultAzureServiceRanges},
		{append([]string{"0.0.0.0/0", "203.0.113.7"}, DefaultPrivateRanges...), append([]string{"198.51.100.0/25"}, DefaultAzureServiceRanges...)},
		{{"8.0.0.0/7", "10.0.0.0/9", "12.0.0.0/6", "13.1.0.0/16"}, {"12.0.0.0/8", "10.0.0.0/8", "9.255.255.255/32"}},
		{{"128.0.0.0/1"}, {"0.0.0.0/0"}},
		{nil, nil},
	}
	rng := uint32(2463534242)
	next := func() uint32 { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng }
	for _, c := range configs {
		n, err := ParseNetworks(c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		var addrs []uint32
		for o := range uint32(256) {
			addrs = append(addrs, o<<24, o<<24|0xffffff, o<<24|next()&0xffffff)
		}
		for _, p := range slices.Concat(n.azure4, n.private4) {
			last := p.addr | ^p.mask
			addrs = append(addrs, p.addr, p.addr-1, p.addr+1, last, last+1, last-1)
		}
		for range 100000 {
			addrs = append(addrs, next())
		}
		for _, v := range addrs {
			if got, want := n.class4(v), n.prefixClass4(v); got != want {
				t.Errorf("%v: %08x is %d, the prefixes say %d", c, v, got, want)
			}
		}
	}
	var zero Networks
	if got := zero.class4(0x0a000001); got != classInternet {
		t.Errorf("zero Networks: 10.0.0.1 is %d", got)
	}
}
