package source

import "testing"

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
