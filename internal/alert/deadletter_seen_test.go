package alert

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestKeptOnceHoldsKeysSmall: the keys of a large dead-letter file are
// held in a few bytes each, not as the lines' strings (a million lines
// took 800 MB to read back).
func TestKeptOnceHoldsKeysSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const n = 100_000
	for i := range n {
		fmt.Fprintf(w, `{"origin":"/data/logs/y=2026/m=12/d=01/h=%02d/PT1H.json","index":%d,"offset":%d,"kind":"malformed","reason":"invalid JSON: invalid character 'x' looking for beginning of value at byte %d"}`+"\n", i%24, i, int64(i)*97, i%50)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var kept collectDead
	k, err := NewKeptOnce(&kept, path)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if held > 12<<20 {
		t.Errorf("the keys of %d lines hold %d MB, want under 12", n, held>>20)
	}
	// And they are the lines' keys: the first and last line are known,
	// a line differing in its reason alone is not.
	dead := []Dead{
		{Origin: "/data/logs/y=2026/m=12/d=01/h=00/PT1H.json", Index: 0, Offset: 0, Kind: "malformed", Reason: "invalid JSON: invalid character 'x' looking for beginning of value at byte 0"},
		{Origin: "/data/logs/y=2026/m=12/d=01/h=15/PT1H.json", Index: n - 1, Offset: int64(n-1) * 97, Kind: "malformed", Reason: fmt.Sprintf("invalid JSON: invalid character 'x' looking for beginning of value at byte %d", (n-1)%50)},
		{Origin: "/data/logs/y=2026/m=12/d=01/h=00/PT1H.json", Index: 0, Offset: 0, Kind: "malformed", Reason: "another reason"},
	}
	if err := k.Keep(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].Reason != "another reason" || k.Skipped() != 2 {
		t.Errorf("kept %+v, skipped %d: want only the new line kept and two skipped", kept, k.Skipped())
	}
	runtime.KeepAlive(k)
}

type collectDead []Dead

func (c *collectDead) Keep(_ context.Context, d []Dead) error {
	*c = append(*c, d...)
	return nil
}

func (*collectDead) Close() error { return nil }
