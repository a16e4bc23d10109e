package source

import "testing"

func TestStorageBlobGolden(t *testing.T) { runGolden(t, "storagelogs") }
func FuzzParseStorageBlob(f *testing.F)  { fuzzSource(f, storageBlobSource, "storagelogs") }

// isStorageServiceIDRef is isStorageServiceID as it was.
func isStorageServiceIDRef(id string) bool {
	for _, svc := range []string{"/blobservices/", "/fileservices/", "/queueservices/", "/tableservices/"} {
		if containsFold(id, svc) {
			return true
		}
	}
	return false
}

func FuzzIsStorageServiceID(f *testing.F) {
	f.Add("/subscriptions/s/providers/Microsoft.Storage/storageAccounts/a/blobServices/default")
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := isStorageServiceID(id), isStorageServiceIDRef(id); got != want {
			t.Fatalf("%q: %v, containsFold says %v", id, got, want)
		}
	})
}

// TestIsStorageServiceID checks the segment scan against containsFold of
// each service's segment, which it replaces.
func TestIsStorageServiceID(t *testing.T) {
	ref := isStorageServiceIDRef
	for _, id := range []string{
		"", "/", "//", "blobservices", "/blobServices", "/blobServices/", "blobservices/", "x/BLOBSERVICES/default",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a/blobServices/default",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a/queueServices/",
		"/subscriptions/s/providers/Microsoft.Storage/storageAccounts/a", "/a/tableservices//", "//fileservices/",
		"/blobſervices/", "/blobservicesx/", "/xblobservices/", "/a/b/c/TableServices/d", "/blob services/",
	} {
		if got, want := isStorageServiceID(id), ref(id); got != want {
			t.Errorf("%q: %v, containsFold says %v", id, got, want)
		}
	}
}
