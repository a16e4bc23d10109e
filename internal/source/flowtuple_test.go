package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
	"github.com/kelseyhightower/envconfig"
)

func TestNetworksClass(t *testing.T) {
	n := DefaultNetworks()
	for addr, want := range map[string]string{
		"10.20.1.4": ClassPrivate, "172.31.255.1": ClassPrivate, "192.168.1.1": ClassPrivate, "100.64.0.9": ClassPrivate,
		"fd00::4": ClassPrivate, "::ffff:10.0.0.1": ClassPrivate,
		"168.63.129.16": ClassAzure, "169.254.169.254": ClassAzure, "169.254.1.1": ClassPrivate,
		"45.137.21.9": ClassInternet, "172.32.0.1": ClassInternet, "2001:db8::1": ClassInternet,
	} {
		if got := n.Class(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Class(%s) = %s, want %s", addr, got, want)
		}
	}
	custom, err := ParseNetworks([]string{"10.0.0.0/8"}, []string{"20.60.0.0/16", "52.239.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if custom.Class(netip.MustParseAddr("20.60.153.1")) != ClassAzure || custom.Class(netip.MustParseAddr("52.239.1.1")) != ClassAzure ||
		custom.Class(netip.MustParseAddr("192.168.1.1")) != ClassInternet {
		t.Error("custom ranges not applied")
	}
	if _, err := ParseNetworks([]string{"10.0.0.0/33", "nope"}, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("bad ranges: err = %v", err)
	}
}

// TestDefaultRangesMatchSettings: the registry's defaults are the settings'.
func TestDefaultRangesMatchSettings(t *testing.T) {
	t.Setenv("AZDETECT_PRIVATE_RANGES", "")
	t.Setenv("AZDETECT_AZURE_SERVICE_RANGES", "")
	var s config.Settings
	if err := envconfig.Process("AZDETECT_UNSET_FOR_TEST", &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.PrivateRanges, DefaultPrivateRanges) || !reflect.DeepEqual(s.AzureServiceRanges, DefaultAzureServiceRanges) {
		t.Errorf("settings defaults %v / %v differ from the registry's %v / %v", s.PrivateRanges, s.AzureServiceRanges, DefaultPrivateRanges, DefaultAzureServiceRanges)
	}
}

const nsgV2 = `{"time":"2026-11-20T10:12:00.4210000Z","systemId":"a3f1c2d4-5b6e-4f70-8a91-b2c3d4e5f607","macAddress":"000D3A2B4C6E","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-APP01","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"UserRule_Allow-RDP-Any","flows":[{"mac":"000D3A2B4C6E","flowTuples":["1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"]}]},{"rule":"DefaultRule_AllowInternetOutBound","flows":[{"mac":"000D3A2B4C6E","flowTuples":["1795169400,10.20.1.4,45.137.21.9,49822,443,T,O,A,E,210311,781238400,90122,5120331","1795169110,10.20.1.4,168.63.129.16,51022,53,U,O,A,B,,,,"]}]}]}}`

func TestExpandFlow(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ev, status, err := reg.Parse([]byte(nsgV2))
	if status != Parsed {
		t.Fatal(status, err)
	}
	if !IsFlow(ev) {
		t.Fatal("not a flow record")
	}
	evs, err := reg.Expand(ev)
	if err != nil || len(evs) != 3 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	in, out, dns := evs[0], evs[1], evs[2]
	want := map[string]string{
		"flow.log_type": "nsg", "flow.src_ip": "45.137.21.9", "flow.dst_ip": "10.20.1.4", "flow.dst_port": "3389",
		"flow.protocol": "tcp", "flow.direction": "inbound", "flow.allowed": "true", "flow.state": "C",
		"flow.src_class": ClassInternet, "flow.dst_class": ClassPrivate, "flow.local_ip": "10.20.1.4", "flow.local_class": ClassPrivate,
		"flow.remote_ip": "45.137.21.9", "flow.remote_class": ClassInternet, "flow.bytes_out": "48211", "flow.bytes_in": "1822331",
		"flow.bytes_sent": "1822331", "flow.bytes_received": "48211", "flow.rule": "UserRule_Allow-RDP-Any", "flow.mac": "000D3A2B4C6E",
	}
	for k, v := range want {
		if got, _ := in.Normalised(k); got != v {
			t.Errorf("inbound %s = %q, want %q", k, got, v)
		}
	}
	if in.Source != FlowTupleSource || in.Time.Unix() != 1795169100 || in.Actor.IP != "45.137.21.9" || in.Target != "10.20.1.4:3389" ||
		in.Result != event.ResultSuccess || in.Resource.Subscription == "" || in.RecordID == "" || in.RecordID == out.RecordID {
		t.Errorf("inbound event %+v", in)
	}
	// The record's parts are set field by field (tupleExpansion.event):
	// none is left out.
	for _, e := range evs {
		if e.Resource != ev.Resource || e.Geo != ev.Geo || e.TenantID != ev.TenantID || e.Category != ev.Category {
			t.Errorf("tuple event's record parts %+v %+v, record's %+v %+v", e.Resource, e.Geo, ev.Resource, ev.Geo)
		}
	}
	var walk []parsedTuple
	_ = event.FlowTuples(ev, func(ft event.FlowTuple) bool {
		var p parsedTuple
		p.set(&ft, false)
		walk = append(walk, p)
		return true
	})
	for i, e := range evs {
		te := e.Fields.(*tupleEvent)
		want := walk[i].tupleValues
		want.srcClass, want.dstClass = te.srcClass, te.dstClass
		if te.tupleValues != want {
			t.Errorf("tuple %d values %+v, want %+v", i, te.tupleValues, want)
		}
	}
	if got, _ := out.Normalised("flow.bytes_sent"); got != "781238400" {
		t.Errorf("outbound bytes_sent = %q, want the source->destination bytes", got)
	}
	if got, _ := dns.Normalised("flow.dst_class"); got != ClassAzure {
		t.Errorf("DNS to 168.63.129.16 class %q", got)
	}
	if v, _ := dns.Normalised("flow.bytes_sent"); v != "" {
		t.Error("a B tuple without counts has no bytes_sent")
	}
	if _, found := dns.Get("flow.bytes_sent"); found {
		t.Error("a B tuple without counts: Get found bytes_sent")
	}
	// Raw is valid JSON, whatever the names hold.
	for _, e := range evs {
		if !json.Valid(e.Record()) {
			t.Errorf("tuple raw is not JSON: %s", e.Record())
		}
	}
	if got := string(appendJSONString(nil, "a\"b\\c\n\x01é")); got != `"a\"b\\c\n\u0001é"` {
		t.Errorf("appendJSONString = %s", got)
	}
	// Rules read the tuple event's own Raw by path.
	if vals, ok := in.Get("dst_port"); !ok || vals[0].String() != "3389" {
		t.Errorf("raw dst_port = %v %v", vals, ok)
	}

	// The walk stops at the caller's error.
	stop := errors.New("stop")
	n := 0
	if err := reg.ExpandFlow(ev, func(*event.Event) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("ExpandFlow after an error: %v, %d calls", err, n)
	}

	// Other records expand to nothing.
	kv, _, _ := reg.Parse([]byte(`{"time":"2026-11-20T07:00:05Z","category":"AuditEvent","operationName":"SecretGet","resultType":"Success","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV"}`))
	if more, err := reg.Expand(kv); err != nil || len(more) != 0 {
		t.Errorf("Key Vault record expanded to %d events, %v", len(more), err)
	}

	// Configured ranges: the remote address becomes an Azure service.
	nets, _ := ParseNetworks(DefaultPrivateRanges, []string{"45.137.21.0/24"})
	reg.SetNetworks(nets)
	evs, _ = reg.Expand(ev)
	if got, _ := evs[1].Normalised("flow.remote_class"); got != ClassAzure {
		t.Errorf("remote class with configured Azure ranges = %q", got)
	}
}

// BenchmarkExpandFlow parses flow records of the benchmark corpus and
// expands their tuples, as the pipeline does: allocations per record and
// time per tuple.
func BenchmarkExpandFlow(b *testing.B) {
	groups := benchcorpus.BySource(benchcorpus.Generate(4000))
	for _, name := range []string{"nsgflowlogs", "vnetflowlogs"} {
		recs := groups[name]
		b.Run(name, func(b *testing.B) {
			reg := newTestRegistry(b)
			b.ReportAllocs()
			tuples := 0
			for i := 0; b.Loop(); i++ {
				ev, status, err := reg.Parse(recs[i%len(recs)].Line)
				if status != Parsed {
					b.Fatal(status, err)
				}
				if err := reg.ExpandFlow(ev, func(*event.Event) error { tuples++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tuples), "ns/tuple")
			b.ReportMetric(float64(tuples)/float64(b.N), "tuples/record")
		})
	}
}

// TestExpandFlowKeptIsWalked: the tuples the parse kept make the events a
// walk of the record makes, for the samples, the benchmark corpus and
// tuples the parse does not keep (escaped text, leading zeros, IPv6 with
// a zone, an unknown protocol, properties written as a string).
func TestExpandFlowKeptIsWalked(t *testing.T) {
	reg := newTestRegistry(t)
	raws := flowTestRecords(t, reg)
	kept := 0
	for i, raw := range raws {
		ev, status, err := reg.Parse(raw)
		if status != Parsed {
			t.Fatalf("record %d: %v %v", i, status, err)
		}
		if _, ok := ev.Fields.(*keptTuples); ok {
			kept++
		}
		a, err := reg.Expand(ev)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Layout == nil {
			t.Fatalf("record %d: no layout kept", i)
		}
		walked := *ev
		walked.Fields, walked.Layout = nil, nil // the walk finds the members itself
		b, err := reg.Expand(&walked)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) || len(a) == 0 {
			t.Fatalf("record %d: %d tuples kept, %d walked", i, len(a), len(b))
		}
		for j := range a {
			if da, db := describeTuple(a[j]), describeTuple(b[j]); da != db {
				t.Errorf("record %d tuple %d:\nkept   %s\nwalked %s", i, j, da, db)
			}
		}
	}
	if kept < len(raws)-6 {
		t.Errorf("%d of %d records kept their tuples", kept, len(raws))
	}
}

// TestExpandFlowPicked: the tuple events a caller keeps from
// ExpandFlowPicked, made in one room from record to record with the ones
// it drops made again into the next, are ExpandFlow's, numbered as they
// were; whether the parse kept the tuples or they are walked, and when a
// dropped one had its raw record written. Every canonical value a tuple
// answers is canonical.
func TestExpandFlowPicked(t *testing.T) {
	reg := newTestRegistry(t)
	var room TupleRoom
	n := 0
	for i, raw := range flowTestRecords(t, reg) {
		ev, status, err := reg.Parse(raw)
		if status != Parsed {
			t.Fatalf("record %d: %v %v", i, status, err)
		}
		walked := *ev
		walked.Fields, walked.Layout = nil, nil
		for _, e := range []*event.Event{ev, &walked} {
			want, err := reg.Expand(e)
			if err != nil {
				t.Fatal(err)
			}
			var got []*event.Event
			var subs []int
			err = reg.ExpandFlowPicked(e, &room, func(te *event.Event, sub int) (bool, error) {
				n++
				for _, name := range tupleNames {
					f, known := event.FlowFieldOf("flow." + name)
					v, canonical, ok := te.Fields.(event.CanonicalReader).CanonicalField(f)
					ok = ok && known
					if w, wok := te.Fields.Field("flow." + name); !ok || v != w || !wok || (canonical && !event.IsCanonical(v)) {
						t.Errorf("record %d tuple %d: flow.%s: CanonicalField %q %v %v, Field %q %v", i, sub, name, v, canonical, ok, w, wok)
					}
				}
				// FlowValues tells what the combination's names answer.
				vnet, outbound, allowed, src, dst := te.Fields.(*tupleEvent).FlowValues()
				local, remote := dst, src
				if outbound {
					local, remote = src, dst
				}
				for name, want := range map[string]string{
					"log_type": event.FlowLogTypeText(vnet), "direction": event.FlowDirectionText(outbound), "allowed": event.FlowAllowedText(allowed),
					"src_class": classNames[src], "dst_class": classNames[dst], "local_class": classNames[local], "remote_class": classNames[remote],
				} {
					if v, _ := te.Fields.Field("flow." + name); v != want {
						t.Errorf("record %d tuple %d: flow.%s %q, FlowValues %q", i, sub, name, v, want)
					}
				}
				if n%3 == 1 {
					if n%2 == 0 {
						te.Record() // a raw record written, then dropped
					}
					return false, nil
				}
				got, subs = append(got, te), append(subs, sub)
				return true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for k, te := range got {
				if da, db := describeTuple(te), describeTuple(want[subs[k]-1]); da != db {
					t.Errorf("record %d tuple %d:\npicked %s\nall    %s", i, subs[k], da, db)
				}
			}
		}
	}
}

var tupleNames = []string{"log_type", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "direction", "allowed", "src_class", "dst_class",
	"local_ip", "local_port", "local_class", "remote_ip", "remote_port", "remote_class", "state", "bytes_out", "bytes_in",
	"packets_out", "packets_in", "bytes_sent", "bytes_received", "rule", "acl_id", "mac"}

// describeTuple is everything a tuple event says.
func describeTuple(e *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %v %s %s %s %s %s %s %+v %+v %s\n", e.Source, e.Category, e.Time, e.Operation, e.Result, e.ResultCode,
		e.Actor.IP, e.Target, e.RecordID, e.Resource, e.Geo, e.TenantID)
	for _, n := range tupleNames {
		v, ok := e.Normalised("flow." + n)
		fmt.Fprintf(&b, "%s=%q %v\n", n, v, ok)
	}
	b.Write(e.Record())
	return b.String()
}

// flowTestRecords are flow records with tuples of every kind: the
// samples, generated ones, and the odd ones the walk handles.
func flowTestRecords(t *testing.T, reg *Registry) [][]byte {
	t.Helper()
	var raws [][]byte
	for _, dir := range []string{"nsgflowlogs", "vnetflowlogs"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", dir, "*.json"))
		for _, f := range files {
			if strings.HasSuffix(f, ".golden.json") {
				continue
			}
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			err = reg.Records(bytes.NewReader(body), func(rec Record, _ *event.Event, status Status, _ error) error {
				if status == Parsed { // the malformed samples are malformed
					raws = append(raws, bytes.Clone(rec.Bytes))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range benchcorpus.Generate(800) {
		if r.Source == "nsgflowlogs" || r.Source == "vnetflowlogs" {
			raws = append(raws, r.Line)
		}
	}
	nsg := func(tuples ...string) []byte {
		return []byte(`{"time":"2026-11-20T10:12:00Z","systemId":"s","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{"Version":2,"flows":[{"rule":"R\u00e9","flows":[{"mac":"M","flowTuples":[` + strings.Join(tuples, ",") + `]}]},{"rule":"R2","flows":[{"mac":"M2","flowTuples":["1795169100,10.0.0.1,10.0.0.2,1,2,T,I,A,B,,,,"]}]}]}}`)
	}
	raws = append(raws,
		nsg(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"`, `"1795169101,fe80::1,2001:db8::2,1,2,U,O,D,E,1,2,3,4"`),
		nsg(`"1795169100,45.137.21.9,10.20.1.4,051544,3389,T,I,A,C,311,48211,402,1822331"`),
		nsg(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,0311,48211,402,1822331"`),
		nsg(`"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A\u002cC,311,48211,402,1822331"`),
		nsg(`"1795169100,fe80::1%eth0,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"`),
		nsg(`"1795169100,::ffff:10.0.0.9,10.20.1.4,51544,3389,47,I,A,C,311,48211,402,1822331"`, `"1795169100,45.137.21.9,10.20.1.4,51544,3389,6,I,D,B,,,,"`),
		nsg(`"0,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"`, `"99999999999999999,45.137.21.9,10.20.1.4,1,3389,u,O,A,C,311,48211,402,1822331"`),
		// Ports as a sieve reads them (SetPorts): with leading zeros, at
		// the edges, of a version 1 tuple.
		nsg(`"1795169100,45.137.21.9,10.20.1.4,51544,03389,T,I,A,C,311,48211,402,1822331"`, `"1795169100,45.137.21.9,10.20.1.4,51544,22,T,I,A,C,311,48211,402,1822331"`,
			`"1795169100,45.137.21.9,10.20.1.4,22,443,T,I,A,C,311,48211,402,1822331"`, `"1795169100,45.137.21.9,10.20.1.4,51544,0,T,I,A,C,311,48211,402,1822331"`,
			`"1795169100,45.137.21.9,10.20.1.4,51544,65535,T,I,A,B,,,,"`, `"1795169100,45.137.21.9,10.20.1.4,51544,22,T,I,A"`),
		nsg(`"01795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"`, `"99999999999,45.137.21.9,10.20.1.4,1,3389,T,O,A,C,311,48211,402,1822331"`,
			`"100000000000,45.137.21.9,10.20.1.4,1,3389,T,O,A,C,311,48211,402,1822331"`, `"1795169100123,45.137.21.9,10.20.1.4,1,3389,T,O,A,C,311,48211,402,1822331"`,
			`"9999999999999999999,45.137.21.9,10.20.1.4,1,3389,T,O,A,C,311,48211,402,1822331"`, `"0001795169100123,45.137.21.9,10.20.1.4,1,3389,T,O,A,C,311,48211,402,1822331"`),
		[]byte(`{"time":"2026-11-20T10:12:00Z","category":"NetworkSecurityGroupFlowEvent","properties":{"Version":2,"flows":[{"rule":"first","flows":[{"flowTuples":["1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331"]}]}]},"resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","PROPERTIES":{"Version":2,"flows":[{"rule":"last","flows":[{"flowTuples":["1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A,C,311,48211,402,1822331","1795169100,45.137.21.9,10.20.1.4,51544,22,T,I,A,C,311,48211,402,1822331"]}]}]},"macAddress":"AA"}`),
		// RecordID's texts copied 16 bytes at a time where the record
		// has them (tupleEvent.ids), else appended: protocols of 15 and
		// 16 bytes, the longest addresses and ports, and tuples whose
		// protocol is within 16 bytes of the record's end.
		nsg(`"1795169100,255.255.255.255,255.255.255.255,65535,65535,ABCDEFGHIJKLMNO,I,A,C,311,48211,402,1822331"`,
			`"1795169100,45.137.21.9,10.20.1.4,51544,3389,ABCDEFGHIJKLMNOP,I,D,B,,,,"`, `"1795169100,45.137.21.9,10.20.1.4,51544,3389,icmpv6,O,D,B,,,,"`,
			`"1,45.137.21.9,10.20.1.4,51544,3389,T,O,D,B,,,,"`, `"0,45.137.21.9,10.20.1.4,51544,3389,T,O,D,B,,,,"`, `"100000000999,45.137.21.9,10.20.1.4,51544,3389,T,O,D,B,,,,"`),
		[]byte(`{"time":"2026-11-20T10:12:00Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{"Version":1,"flows":[{"rule":"R","flows":[{"mac":"M","flowTuples":["1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A","1795169101,45.137.21.9,10.20.1.4,51544,3389,Udp,O,D","1795169102,45.137.21.9,10.20.1.4,51544,3389,U,O,D"]}]}]}}`),
		[]byte(`{"time":"2026-11-20T10:12:00Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/3B8E6F21-9A4C-4D7E-B5F2-8C1A0E9D6B47/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":"{\"Version\":1,\"flows\":[{\"rule\":\"R\",\"flows\":[{\"mac\":\"M\",\"flowTuples\":[\"1795169100,45.137.21.9,10.20.1.4,51544,3389,T,I,A\"]}]}]}"}`),
	)
	return raws
}

// TestNetworksClassIPv4Numbers: the IPv4 fast path classifies as the
// prefixes do, at and around every prefix's edges, for mapped addresses
// too, with a /0 and a /32 configured.
func TestNetworksClassIPv4Numbers(t *testing.T) {
	n, err := ParseNetworks(append([]string{"0.0.0.0/0", "203.0.113.7"}, DefaultPrivateRanges...), append([]string{"198.51.100.0/25"}, DefaultAzureServiceRanges...))
	if err != nil {
		t.Fatal(err)
	}
	slow := func(a netip.Addr) string {
		a = a.Unmap()
		for _, p := range n.azure {
			if p.Contains(a) {
				return ClassAzure
			}
		}
		for _, p := range n.private {
			if p.Contains(a) {
				return ClassPrivate
			}
		}
		return ClassInternet
	}
	d := DefaultNetworks()
	for _, p := range append(append([]netip.Prefix(nil), n.private...), n.azure...) {
		if !p.Addr().Is4() {
			continue
		}
		first := p.Addr()
		b := first.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v |= uint32(1)<<(32-p.Bits()) - 1 // the prefix's last address
		last := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		for _, a := range []netip.Addr{first, first.Prev(), first.Next(), last, last.Next(), netip.AddrFrom16(first.As16())} {
			if !a.IsValid() {
				continue
			}
			if got, want := n.Class(a), slow(a); got != want {
				t.Errorf("%v: %s, the prefixes say %s", a, got, want)
			}
		}
	}
	for _, s := range []string{"10.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "168.63.129.16", "168.63.129.17", "100.127.255.255", "100.128.0.0"} {
		a := netip.MustParseAddr(s)
		want := ClassInternet
		for _, p := range d.azure {
			if p.Contains(a) {
				want = ClassAzure
			}
		}
		if want == ClassInternet {
			for _, p := range d.private {
				if p.Contains(a) {
					want = ClassPrivate
				}
			}
		}
		if got := d.Class(a); got != want {
			t.Errorf("default %s: %s, want %s", s, got, want)
		}
	}
}

// TestExpandFlowBoundedAllocs: a record's tuple events come in slabs, and
// their raw records are not written until asked: allocations per record,
// not per tuple, whether the parse kept the tuples or they are walked
// again.
func TestExpandFlowBoundedAllocs(t *testing.T) {
	reg := newTestRegistry(t)
	ev, status, err := reg.Parse(nsgRecord(2000))
	if status != Parsed {
		t.Fatal(status, err)
	}
	if _, ok := ev.Fields.(*keptTuples); !ok {
		t.Fatal("the parse kept no tuples")
	}
	walked := *ev
	walked.Fields = nil
	for name, e := range map[string]*event.Event{"kept": ev, "walked": &walked} {
		var last *event.Event
		allocs := testing.AllocsPerRun(5, func() {
			if err := reg.ExpandFlow(e, func(t *event.Event) error { last = t; return nil }); err != nil {
				t.Fatal(err)
			}
		})
		if max := float64(2000/tupleSlab + 8); allocs > max {
			t.Errorf("%s: expanding 2,000 tuples took %.0f allocations, want at most %.0f", name, allocs, max)
		}
		if last.Raw != nil {
			t.Errorf("%s: a tuple event's Raw was written before anything asked", name)
		}
		raw := last.Record()
		if !json.Valid(raw) || !bytes.Contains(raw, []byte(`"dst_port":"443"`)) || &last.Record()[0] != &raw[0] {
			t.Errorf("%s: Record() = %s (written once?)", name, raw)
		}
		if vals, ok := last.Get("src_port"); !ok || vals[0].String() != "3023" {
			t.Errorf("%s: src_port by path = %v %v", name, vals, ok)
		}
	}
}

func TestAppendDecimal(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 99, 100, 1795170600, 1663146003606, -1, -1795170600, math.MaxInt64, math.MinInt64} {
		if got, want := string(appendDecimal([]byte("x"), n)), "x"+strconv.FormatInt(n, 10); got != want {
			t.Errorf("appendDecimal(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestExpandFlowSifted: with a sieve, ExpandFlowPicked hands on exactly
// the tuples the sieve lets through, with their numbers, as they are
// without one, on the kept tuples and on a walk of the record, for every
// sieve of one stopped combination and a few of many.
func TestExpandFlowSifted(t *testing.T) {
	reg := newTestRegistry(t)
	type combo struct {
		vnet, outbound, allowed bool
		src, dst                uint8
	}
	valuesOf := func(te *event.Event) combo {
		f := te.Fields
		get := func(n string) string { v, _ := f.Field("flow." + n); return v }
		c := combo{vnet: get("log_type") == "vnet", outbound: get("direction") == "outbound", allowed: get("allowed") == "true"}
		for i, n := range event.FlowClassNames {
			if get("src_class") == n {
				c.src = uint8(i)
			}
			if get("dst_class") == n {
				c.dst = uint8(i)
			}
		}
		return c
	}
	sieves := map[string]func(c combo) bool{
		"denied":          func(c combo) bool { return !c.allowed },
		"internet source": func(c combo) bool { return c.src == event.FlowClassInternet },
		"vnet outbound":   func(c combo) bool { return c.vnet && c.outbound },
		"none":            func(combo) bool { return false },
		"private pair":    func(c combo) bool { return !(c.src == event.FlowClassPrivate && c.dst == event.FlowClassPrivate) },
		"allowed sent":    func(c combo) bool { return c.allowed },
		"sent":            func(combo) bool { return true },
		"ports":           func(combo) bool { return true },
		"sent or ports":   func(c combo) bool { return c.allowed },
	}
	// The least bytes sent of a sieve's allowed tuples (SetSentMin), and
	// the ports that let them through (SetPorts).
	sentMins := map[string]float64{"allowed sent": 1000, "sent": 262144, "sent or ports": 262144}
	sentPorts := map[string][]string{"ports": {"22", "443", "0", "03389"}, "sent or ports": {"22", "3389"}}
	raws := flowTestRecords(t, reg)
	for name, may := range sieves {
		t.Run(name, func(t *testing.T) {
			sieve := event.NewFlowSieve(func(value func(event.FlowField) (string, bool)) bool {
				var c combo
				v, _ := value(event.FlowLogType)
				c.vnet = v == "vnet"
				v, _ = value(event.FlowDirection)
				c.outbound = v == "outbound"
				v, _ = value(event.FlowAllowed)
				c.allowed = v == "true"
				for i, n := range event.FlowClassNames {
					if v, _ := value(event.FlowSrcClass); v == n {
						c.src = uint8(i)
					}
					if v, _ := value(event.FlowDstClass); v == n {
						c.dst = uint8(i)
					}
				}
				return may(c)
			})
			least, bySent := sentMins[name]
			ports, byPort := sentPorts[name]
			for c := range event.FlowCombinations {
				if v, _ := event.FlowCombinationValue(c, event.FlowAllowed); v == "true" {
					if bySent {
						sieve.SetSentMin(c, least)
					}
					if byPort {
						sieve.SetPorts(c, ports)
					}
				}
			}
			var room TupleRoom
			room.Sift(sieve)
			handed, stopped := 0, 0
			for i, raw := range raws {
				ev, status, err := reg.Parse(raw)
				if status != Parsed {
					t.Fatalf("record %d: %v %v", i, status, err)
				}
				walked := *ev
				walked.Fields, walked.Layout = nil, nil
				for _, e := range []*event.Event{ev, &walked} {
					all, err := reg.Expand(e)
					if err != nil {
						t.Fatal(err)
					}
					var want []int
					for k, te := range all {
						c := valuesOf(te)
						sent, _ := te.Fields.Field("flow.bytes_sent")
						port, _ := te.Fields.Field("flow.dst_port")
						lets := (!bySent && !byPort) || !c.allowed || (bySent && event.SentAtLeast(sent, least)) || (byPort && slices.Contains(ports, port))
						if may(c) && lets {
							want = append(want, k+1)
						} else {
							stopped++
						}
					}
					var got []int
					err = reg.ExpandFlowPicked(e, &room, func(te *event.Event, sub int) (bool, error) {
						if da, db := describeTuple(te), describeTuple(all[sub-1]); da != db {
							t.Errorf("record %d tuple %d:\nsifted %s\nall    %s", i, sub, da, db)
						}
						got = append(got, sub)
						return sub%2 == 0, nil
					})
					if err != nil {
						t.Fatal(err)
					}
					handed += len(got)
					if !slices.Equal(got, want) {
						t.Errorf("record %d: tuples %v handed on, want %v", i, got, want)
					}
				}
			}
			if stopped == 0 || (name != "none" && handed == 0) {
				t.Errorf("%d tuples handed on, %d stopped: the test sifts nothing", handed, stopped)
			}
		})
	}
}

// TestFlowsValueLayoutAgrees: event.FlowsValue finds the same flows
// array, log type, MAC and error from the members the decoder kept
// (the record's Layout) as from a walk of the record's bytes.
func TestFlowsValueLayoutAgrees(t *testing.T) {
	reg := newTestRegistry(t)
	withLayout := 0
	var raws [][]byte
	for i, raw := range flowTestRecords(t, reg) {
		if _, status, err := reg.Parse(raw); status != Parsed {
			t.Fatalf("record %d: %v %v", i, status, err)
		}
		// The records changed as the decoder's read is tested with
		// (properties' members reordered, repeated, in another case):
		// those that parse.
		raws = append(raws, flowReadVariants(raw)...)
	}
	for i, raw := range raws {
		ev, status, _ := reg.Parse(raw)
		if status != Parsed {
			continue
		}
		if ev.Layout != nil {
			withLayout++
		}
		walked := *ev
		walked.Layout = nil
		af, av, am, aerr := event.FlowsValue(ev)
		bf, bv, bm, berr := event.FlowsValue(&walked)
		if cf, cv, cerr := event.FlowsArray(ev); !bytes.Equal(af, cf) || (len(af) > 0 && &af[0] != &cf[0] && ownBytes(af, ev.Raw)) || av != cv || fmt.Sprint(aerr) != fmt.Sprint(cerr) {
			t.Errorf("record %d: FlowsArray %d bytes %v %v, FlowsValue %d bytes %v %v", i, len(cf), cv, cerr, len(af), av, aerr)
		}
		// The same bytes of the record, or of a copy (properties written
		// as a JSON string: each call unquotes it).
		if !bytes.Equal(af, bf) || (len(af) > 0 && ownBytes(af, ev.Raw) != ownBytes(bf, ev.Raw)) || (ownBytes(af, ev.Raw) && &af[0] != &bf[0]) || av != bv || am != bm || fmt.Sprint(aerr) != fmt.Sprint(berr) {
			t.Errorf("record %d: layout %d bytes %v %q %v, walk %d bytes %v %q %v", i, len(af), av, am, aerr, len(bf), bv, bm, berr)
		}
	}
	if withLayout == 0 {
		t.Error("no record kept a layout")
	}
}

// ownBytes reports whether b is within raw's bytes.
func ownBytes(b, raw []byte) bool {
	if len(b) == 0 || len(raw) == 0 {
		return false
	}
	at, base := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&raw[0]))
	return at >= base && at < base+uintptr(len(raw))
}
