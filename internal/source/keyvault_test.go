package source

import (
	"net/url"
	"testing"
)

func TestKeyVaultGolden(t *testing.T) { runGolden(t, "keyvault") }

func TestKeyVaultObjectType(t *testing.T) {
	tests := []struct{ operation, id, want string }{
		{"SecretGet", "https://v.vault.azure.net/secrets/s/1", "secret"},
		{"KeyDecrypt", "", "key"},
		{"CertificateImport", "", "certificate"},
		{"VaultPatch", "https://v.vault.azure.net/", "vault"},
		{"ManagedHsmGet", "", "vault"},
		{"Authentication", "https://v.vault.azure.net/secrets/s", "secret"},
		{"Authentication", "https://v.vault.azure.net/", "vault"},
		{"Authentication", "", ""},
		{"GetDeletedSecret", "https://v.vault.azure.net/deletedsecrets/s", ""},
	}
	for _, tc := range tests {
		if got := keyVaultObjectType(tc.operation, tc.id); got != tc.want {
			t.Errorf("keyVaultObjectType(%q, %q) = %q, want %q", tc.operation, tc.id, got, tc.want)
		}
	}
	if got := keyVaultObjectName("https://v.vault.azure.net/secrets/db-password/6a1b"); got != "db-password" {
		t.Errorf("keyVaultObjectName = %q", got)
	}
}

func FuzzParseKeyVault(f *testing.F) { fuzzSource(f, keyVaultSource, "keyvault") }

// TestPlainURLPathAgreesWithURLParse: the fast path answers only where it
// gives url.Parse's path.
func TestPlainURLPathAgreesWithURLParse(t *testing.T) {
	ids := []string{
		"https://v.vault.azure.net/secrets/db-password/6a1b",
		"https://v.vault.azure.net/", "https://v.vault.azure.net", "https://", "http://h/a//b/",
		"https:///secrets/x", "https://V.Vault.Azure.NET/Secrets/X_y~z/1", "https://h/a..b/./c",
		"HTTPS://v/secrets/x", "https://v/secrets/x%2Fy", "https://v/secrets/x?api-version=1",
		"https://v/secrets/x#f", "https://v:443/secrets/x", "https://u@v/secrets/x", "https://v/se crets",
		"https://v_1/secrets/x", "https://[::1]/keys/k", "ftp://v/keys/k", "v.vault.azure.net/keys/k", "",
	}
	fast := 0
	for _, id := range ids {
		p, ok := plainURLPath(id)
		if !ok {
			continue
		}
		fast++
		u, err := url.Parse(id)
		if err != nil {
			t.Errorf("plainURLPath(%q) answered %q; url.Parse fails: %v", id, p, err)
			continue
		}
		if p != u.Path {
			t.Errorf("plainURLPath(%q) = %q, url.Parse's path %q", id, p, u.Path)
		}
	}
	if fast < 8 {
		t.Errorf("the fast path answered %d of the plain ids, want at least 8", fast)
	}
	if got := objectPath("https://v/secrets/x%2Fy"); got != "secrets/x/y" {
		t.Errorf("objectPath of an escaped id = %q, want url.Parse's secrets/x/y", got)
	}
}
