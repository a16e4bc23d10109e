package source

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/event"
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
