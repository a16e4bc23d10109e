package event

import "testing"

func TestParseResourceID(t *testing.T) {
	tests := []struct {
		id   string
		want Resource
	}{
		{"/SUBSCRIPTIONS/6F2C/RESOURCEGROUPS/RG-1/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-PROD",
			Resource{Subscription: "6F2C", Group: "RG-1", Provider: "MICROSOFT.KEYVAULT", Type: "VAULTS", Name: "KV-PROD"}},
		{"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/allow-rdp",
			Resource{Subscription: "6f2c", Group: "rg", Provider: "Microsoft.Network", Type: "networkSecurityGroups/securityRules", Name: "allow-rdp"}},
		// Extension resource: the last provider wins.
		{"/SUBSCRIPTIONS/6F2C/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/TO-SIEM",
			Resource{Subscription: "6F2C", Group: "RG", Provider: "MICROSOFT.INSIGHTS", Type: "DIAGNOSTICSETTINGS", Name: "TO-SIEM"}},
		{"/subscriptions/6f2c", Resource{Subscription: "6f2c"}},
		{"/subscriptions/6f2c/resourcegroups/rg-app", Resource{Subscription: "6f2c", Group: "rg-app"}},
		{"/tenants/72f9/providers/Microsoft.aadiam", Resource{Provider: "Microsoft.aadiam"}},
		{"/RESOURCE_ID", Resource{}},
		{"", Resource{}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got := ParseResourceID(tc.id)
			tc.want.ID = tc.id
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestParseResourceIDAllocs: a type is a substring of the id; a child type
// (several segments joined) is the one allocation, and one more past five
// child segments.
func TestParseResourceIDAllocs(t *testing.T) {
	for id, want := range map[string]float64{
		"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv":                                      0,
		"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules/rdp":    1,
		"/subscriptions/6f2c/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/e/a/b/c/d/e/f/g/h": 2,
	} {
		if got := testing.AllocsPerRun(50, func() { _ = ParseResourceID(id) }); got > want {
			t.Errorf("%s: %.0f allocations, want %.0f", id, got, want)
		}
	}
	if got := ParseResourceID("/subscriptions/s/resourceGroups/rg/providers/P/a/1/b/2/c/3/d/4/e/5/f/6").Type; got != "a/b/c/d/e/f" {
		t.Errorf("type %q", got)
	}
}
