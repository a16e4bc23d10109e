package state_test

import (
	"context"
	"testing"
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
