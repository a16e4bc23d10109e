package detect

import (
	"fmt"
	"hash/fnv"
	"testing"
)

// TestBucketOfIsFNV: the partition bucket of a group key stays what it was
// (hash/fnv's 32-bit FNV-1a, two hex digits): state written by an earlier
// build is found again.
func TestBucketOfIsFNV(t *testing.T) {
	for _, g := range []string{"", "a", "user@contoso.com", "10.0.0.1|203.0.113.9", "ÄÖÜ|\x00|\xff", string(make([]byte, 5000))} {
		h := fnv.New32a()
		h.Write([]byte(g))
		if want := fmt.Sprintf("%02x", h.Sum32()%stateBuckets); bucketOf(g) != want {
			t.Errorf("bucketOf(%q) = %s, want %s", g, bucketOf(g), want)
		}
	}
}
