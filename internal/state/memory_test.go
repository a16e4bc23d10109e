package state_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store { return state.NewMemory() })
}

// TestMemoryOwnsWhatItKeeps writes an entity whose keys and Text are views
// into a buffer (as the decoders' strings are into a record's bytes), then
// overwrites the buffer: the store kept copies, so it neither changes nor
// keeps the buffer alive.
func TestMemoryOwnsWhatItKeeps(t *testing.T) {
	ctx := context.Background()
	m := state.NewMemory()
	buf := []byte("partrowtext")
	view := func(from, to int) string { return unsafe.String(&buf[from], to-from) }
	e := state.Entity{PartitionKey: view(0, 4), RowKey: view(4, 7), Text: view(7, 11)}
	if err := m.Apply(ctx, "owned", []state.Op{{Kind: state.Insert, Entity: e}}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXXXXX")
	got, err := m.Get(ctx, "owned", []state.Key{{PartitionKey: "part", RowKey: "row"}})
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := got[state.Key{PartitionKey: "part", RowKey: "row"}]; !ok || g.Text != "text" {
		t.Errorf("after the caller's buffer changed: found %v, entity %+v; want Text %q", ok, g, "text")
	}
}

// TestMemoryKeepsPackedKeys: a row key and Text packed behind Data
// (state.Packed) are kept as they are, with Data, not copied; what a read
// hands out cannot be appended over them; a rewrite that is not packed
// leaves nothing pointing into the old document.
func TestMemoryKeepsPackedKeys(t *testing.T) {
	ctx := context.Background()
	m := state.NewMemory()
	k := state.Key{PartitionKey: "part", RowKey: "row"}
	data := append(make([]byte, 0, 3+len("row")+len("text")), "doc"...)
	e := state.Packed(state.Entity{PartitionKey: k.PartitionKey, RowKey: strings.Clone("row"), Text: strings.Clone("text"), Data: data})
	behind := unsafe.SliceData(data[len(data):cap(data)])
	if e.RowKey != "row" || e.Text != "text" || unsafe.StringData(e.RowKey) != behind {
		t.Fatalf("Packed: row %q text %q, row packed %v", e.RowKey, e.Text, unsafe.StringData(e.RowKey) == behind)
	}
	if err := m.Apply(ctx, "packed", []state.Op{{Kind: state.Insert, Entity: e}}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Get(ctx, "packed", []state.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	g := got[k]
	if unsafe.StringData(g.RowKey) != behind || g.Text != "text" || string(g.Data) != "doc" {
		t.Fatalf("read back: %+v (row key kept as packed: %v)", g, unsafe.StringData(g.RowKey) == behind)
	}
	_ = append(g.Data, "XXXXXXX"...) // must not write over the row key and Text
	if g.RowKey != "row" || g.Text != "text" {
		t.Fatalf("an append to Data reached the packed keys: row %q text %q", g.RowKey, g.Text)
	}
	// Rewritten without packing: the store's keys are its own again.
	g.Data, g.Count = []byte("new"), 2
	if err := m.Apply(ctx, "packed", []state.Op{{Kind: state.Replace, Entity: g}}); err != nil {
		t.Fatal(err)
	}
	got, err = m.Get(ctx, "packed", []state.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	g = got[k]
	old := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	in := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= old && p < old+uintptr(cap(data))
	}
	if g.Count != 2 || in(g.RowKey) || in(g.Text) {
		t.Fatalf("after an unpacked rewrite: %+v, row key in the old document %v, Text %v", g, in(g.RowKey), in(g.Text))
	}
	if l, err := m.List(ctx, "packed", k.PartitionKey, ""); err != nil || len(l) != 1 || l[0].RowKey != "row" {
		t.Fatalf("List: %v, %v", l, err)
	}
}

// TestMemoryReadsMatchAModel writes, rewrites and deletes random rows of a
// few partitions in random batches, sweeping now and then, and after each
// batch compares Get, List and Find with a plain map of what should be
// stored: the in-memory store's ordered index (rows merged in on the next
// ordered read, deleted rows dropped lazily) must never show a row that is
// gone, miss one that is there, or return one out of order.
func TestMemoryReadsMatchAModel(t *testing.T) {
	// Small partitions (one block of entities), and large ones (many
	// blocks, slots freed and reused across them).
	t.Run("small", func(t *testing.T) { memoryModel(t, 60, 20, 300, 0, []string{"g05|", "g17|", "g3", "g59|w2"}) })
	t.Run("blocks", func(t *testing.T) { memoryModel(t, 700, 300, 120, 0, []string{"g005|", "g170|", "g3", "g699|w2"}) })
	// A partition never read in key order keeps no pending list: its
	// first ordered read, after many writes, deletes and sweeps, takes
	// every row there is, and none that is gone.
	t.Run("first-ordered-late", func(t *testing.T) { memoryModel(t, 60, 20, 120, 100, []string{"g05|", "g17|", "g3", "g59|w2"}) })
	t.Run("first-ordered-late-blocks", func(t *testing.T) { memoryModel(t, 700, 300, 60, 40, []string{"g005|", "g170|", "g3", "g699|w2"}) })
}

// memoryModel reads in key order (List, Find) from round ordered on.
func memoryModel(t *testing.T, groups, batch, rounds, ordered int, prefixes []string) {
	ctx := context.Background()
	m := state.NewMemory()
	r := rand.New(rand.NewPCG(1, 2))
	model := map[state.Key]string{} // key -> Text
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	width := len(fmt.Sprint(groups - 1))
	row := func() string { return fmt.Sprintf("g%0*d|w%d", width, r.IntN(groups), r.IntN(3)) }
	part := func() string { return fmt.Sprintf("p%d", r.IntN(3)) }
	for round := range rounds {
		var ops []state.Op
		seen := map[state.Key]bool{}
		for range 1 + r.IntN(batch) {
			k := state.Key{PartitionKey: part(), RowKey: row()}
			if seen[k] {
				continue
			}
			seen[k] = true
			text := fmt.Sprintf("r%d", round)
			expires := now.Add(time.Hour)
			if r.IntN(4) == 0 {
				expires = now.Add(-time.Minute) // swept by the next Sweep
			}
			_, exists := model[k]
			switch {
			case exists && r.IntN(3) == 0:
				ops = append(ops, state.Op{Kind: state.Delete, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: state.ETagAny}})
				delete(model, k)
			default:
				ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Text: text, Expires: state.StampOf(expires)}})
				model[k] = text
				if expires.Before(now) {
					model[k] = text + "!"
				}
			}
		}
		if err := m.Apply(ctx, "model", ops); err != nil {
			t.Fatal(err)
		}
		if round%7 == 6 {
			if _, err := m.Sweep(ctx, "model", now); err != nil {
				t.Fatal(err)
			}
			for k, v := range model {
				if strings.HasSuffix(v, "!") {
					delete(model, k)
				}
			}
		}
		if round < ordered {
			continue
		}
		for _, p := range []string{"p0", "p1", "p2"} {
			var want []string
			for k, v := range model {
				if k.PartitionKey == p && strings.HasPrefix(k.RowKey, "g1") {
					want = append(want, k.RowKey+"="+strings.TrimSuffix(v, "!"))
				}
			}
			slices.Sort(want)
			list, err := m.List(ctx, "model", p, "g1")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.RowKey+"="+e.Text)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: List(%s, g1) = %v, want %v", round, p, got, want)
			}
			want = want[:0]
			for k, v := range model {
				if k.PartitionKey != p {
					continue
				}
				for _, pre := range prefixes {
					if strings.HasPrefix(k.RowKey, pre) {
						want = append(want, k.RowKey+"="+strings.TrimSuffix(v, "!"))
						break
					}
				}
			}
			slices.Sort(want)
			found, err := m.Find(ctx, "model", p, prefixes)
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, e := range found {
				got = append(got, e.RowKey+"="+e.Text)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: Find(%s) = %v, want %v", round, p, got, want)
			}
			// More prefixes than a query's ranges: read in runs.
			var many []string
			for range 12 {
				many = append(many, fmt.Sprintf("g%0*d|", width, r.IntN(groups)))
			}
			want = want[:0]
			for k, v := range model {
				for _, pre := range many {
					if k.PartitionKey == p && strings.HasPrefix(k.RowKey, pre) {
						want = append(want, k.RowKey+"="+strings.TrimSuffix(v, "!"))
						break
					}
				}
			}
			slices.Sort(want)
			if found, err = m.Find(ctx, "model", p, many); err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, e := range found {
				got = append(got, e.RowKey+"="+e.Text)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: Find(%s, %v) = %v, want %v", round, p, many, got, want)
			}
		}
		var keys []state.Key
		for range 10 {
			keys = append(keys, state.Key{PartitionKey: part(), RowKey: row()})
		}
		got, err := m.Get(ctx, "model", keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			v, ok := model[k]
			e, found := got[k]
			if ok != found || found && e.Text != strings.TrimSuffix(v, "!") {
				t.Fatalf("round %d: Get(%v) = %v %q, want %v %q", round, k, found, e.Text, ok, v)
			}
		}
	}
}

// TestApplyRefusesAKeyTwice: a key twice among few operations or many
// (checked by comparison or by a set) is invalid, and nothing is written.
func TestApplyRefusesAKeyTwice(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{2, 8, 9, 40} {
		m := state.NewMemory()
		var ops []state.Op
		for i := range n - 1 {
			ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: fmt.Sprintf("p%d", i%3), RowKey: fmt.Sprintf("r%d", i)}})
		}
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "p0", RowKey: "r0"}})
		if err := m.Apply(ctx, "twice", ops); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "appears twice") {
			t.Errorf("%d operations, the last a key again: %v", n, err)
		}
		if err := m.Apply(ctx, "twice", ops[:n-1]); err != nil {
			t.Errorf("%d operations, every key once: %v", n-1, err)
		}
	}
}

// TestMemorySweepMatchesAModel sweeps at an advancing time over
// partitions whose rows expire at scattered times (some never, some
// rewritten with an earlier expiry than before) and checks after each
// sweep its count and every partition's rows against a plain map.
func TestMemorySweepMatchesAModel(t *testing.T) {
	ctx := context.Background()
	m := state.NewMemory()
	r := rand.New(rand.NewPCG(3, 4))
	type row struct {
		text    string
		expires time.Time
	}
	model := map[state.Key]row{}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	parts := []string{"p0", "p1", "p2", "p3"}
	for round := range 400 {
		now := start.Add(time.Duration(round) * time.Minute)
		var ops []state.Op
		seen := map[state.Key]bool{}
		for range 1 + r.IntN(120) {
			k := state.Key{PartitionKey: parts[r.IntN(len(parts))], RowKey: fmt.Sprintf("g%03d", r.IntN(700))} // over several blocks
			if seen[k] {
				continue
			}
			seen[k] = true
			var expires time.Time // never, one time in five
			if r.IntN(5) != 0 {
				expires = now.Add(time.Duration(r.IntN(90)-10) * time.Minute)
			}
			text := fmt.Sprintf("r%d", round)
			ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Text: text, Expires: state.StampOf(expires)}})
			model[k] = row{text, expires}
		}
		if err := m.Apply(ctx, "sweep", ops); err != nil {
			t.Fatal(err)
		}
		if round%5 != 4 {
			continue
		}
		want := 0
		for k, v := range model {
			if !v.expires.IsZero() && v.expires.Before(now) {
				delete(model, k)
				want++
			}
		}
		n, err := m.Sweep(ctx, "sweep", now)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("round %d: Sweep deleted %d, want %d", round, n, want)
		}
		for _, p := range parts {
			var wantRows []string
			for k, v := range model {
				if k.PartitionKey == p {
					wantRows = append(wantRows, k.RowKey+"="+v.text)
				}
			}
			slices.Sort(wantRows)
			list, err := m.List(ctx, "sweep", p, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.RowKey+"="+e.Text)
			}
			if !slices.Equal(got, wantRows) {
				t.Fatalf("round %d: partition %s after sweep = %v, want %v", round, p, got, wantRows)
			}
		}
	}
}

// TestMemorySweepsATimeKeptTo100ns: an expiry under 100 ns past a sweep's
// now is kept truncated (the service's resolution), before now: the sweep
// deletes it, in another zone too (its partition is not skipped by an
// earliest expiry worked out from the untruncated time).
func TestMemorySweepsATimeKeptTo100ns(t *testing.T) {
	ctx := context.Background()
	m := state.NewMemory()
	exp := time.Date(2026, 12, 2, 11, 0, 0, 150, time.FixedZone("x", 3600))
	e := state.Entity{PartitionKey: "p", RowKey: "r", Expires: state.StampOf(exp)}
	if err := m.Apply(ctx, "trunc", []state.Op{{Kind: state.Upsert, Entity: e}}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Get(ctx, "trunc", []state.Key{e.Key()})
	if err != nil {
		t.Fatal(err)
	}
	want := exp.UTC().Truncate(100 * time.Nanosecond)
	if g := got[e.Key()].Expires.Time(); !g.Equal(want) || g.Location() != time.UTC {
		t.Fatalf("Expires = %v (%v), want %v UTC", g, g.Location(), want)
	}
	n, err := m.Sweep(ctx, "trunc", exp.Add(-30*time.Nanosecond)) // after the kept 100 ns, before 150
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 deleted", n, err)
	}
}
