package source

import "testing"

func TestStorageBlobGolden(t *testing.T) { runGolden(t, "storagelogs") }
func FuzzParseStorageBlob(f *testing.F)  { fuzzSource(f, storageBlobSource, "storagelogs") }
