package state_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/storetest"
)

func rowsOf(es []state.Entity) map[string]state.Entity {
	out := map[string]state.Entity{}
	for _, e := range es {
		out[e.RowKey] = e
	}
	return out
}

// TestTableTwoStoresStaleView: two Table stores (two instances) on one
// table. A reads a partition for update, B writes it, A reads it again from
// its view, without a round trip, and does not see B's row: the view is
// stale. A's write built on it must fail as a conflict, not succeed, and A's
// read after the conflict must see B's row.
func TestTableTwoStoresStaleView(t *testing.T) {
	a, b := newTable(t), newTable(t)
	table := storetest.TableName(t)
	ctx := t.Context()
	upd := state.ForUpdate(ctx)
	const p = "thr|rule|20261120T1000Z"
	find := func(s state.Store) (map[string]state.Entity, int64) {
		t.Helper()
		before := s.Ops()
		es, err := s.Find(upd, table, p, []string{"g|"})
		if err != nil {
			t.Fatal(err)
		}
		return rowsOf(es), s.Ops() - before
	}
	if err := a.Apply(ctx, table, []state.Op{{Kind: state.Insert, Entity: state.Entity{PartitionKey: p, RowKey: "g|a", Count: 1}}}); err != nil {
		t.Fatal(err)
	}
	if rows, trips := find(a); len(rows) != 1 || trips != 1 {
		t.Fatalf("a's first read for update: %v in %d round trips, want its row in 1 (the whole partition, kept)", rows, trips)
	}
	// b never saw the partition: assumed empty, which its write checks.
	if rows, trips := find(b); len(rows) != 0 || trips != 1 { // the table's creation
		t.Fatalf("b's first read: %v in %d round trips, want nothing (assumed empty)", rows, trips)
	}
	bRow := state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: p, RowKey: "g|b", Count: 5}}
	if err := b.Apply(upd, table, []state.Op{bRow}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("b's write to a partition wrongly assumed empty: err = %v, want a conflict", err)
	}
	if rows, _ := find(b); len(rows) != 1 {
		t.Fatalf("b's read after the conflict: %v, want a's row", rows)
	}
	if err := b.Apply(upd, table, []state.Op{bRow}); err != nil {
		t.Fatalf("b's write, guarded by the view b just read: %v", err)
	}

	rows, trips := find(a)
	if trips != 0 {
		t.Errorf("a's second read took %d round trips, want 0 (its view)", trips)
	}
	if _, ok := rows["g|b"]; ok {
		t.Fatal("a's view has b's row: this test no longer shows a stale view")
	}
	mine := rows["g|a"]
	mine.Count = 1 + 1 // a's row, computed from a stale read of the group
	err := a.Apply(upd, table, []state.Op{{Kind: state.Replace, Entity: mine}})
	var ce *state.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("a's write from a stale view: err = %v, want a conflict", err)
	}
	if !slices.Equal(ce.Uncommitted, []state.Key{{PartitionKey: p, RowKey: "g|a"}}) {
		t.Errorf("uncommitted %v, want a's row", ce.Uncommitted)
	}

	rows, trips = find(a)
	if trips == 0 || rows["g|b"].Count != 5 {
		t.Fatalf("a's read after the conflict: %v in %d round trips, want b's row from the service", rows, trips)
	}
	mine = rows["g|a"]
	mine.Count = 2
	if err := a.Apply(upd, table, []state.Op{{Kind: state.Replace, Entity: mine}}); err != nil {
		t.Fatalf("a's write after reading again: %v", err)
	}
	// b's view is stale now too; a write not for update does not depend
	// on it: it is sent again without the check, not failed.
	before := b.Ops()
	if err := b.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: p, RowKey: "g|c", Count: 1}}}); err != nil {
		t.Fatalf("b's write not for update, over a stale view: %v", err)
	}
	if n := b.Ops() - before; n != 2 {
		t.Errorf("b's write took %d round trips, want 2 (checked, then not)", n)
	}
	got, err := b.Get(ctx, table, []state.Key{{PartitionKey: p, RowKey: "g|a"}, {PartitionKey: p, RowKey: "g|b"}, {PartitionKey: p, RowKey: "g|c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got[state.Key{PartitionKey: p, RowKey: "g|a"}].Count != 2 || got[state.Key{PartitionKey: p, RowKey: "g|b"}].Count != 5 || len(got) != 3 {
		t.Errorf("stored: %v", got)
	}
}

// TestTableAssumedEmpty: a partition a store never saw is assumed empty
// (no round trip); when another store wrote it, the write fails as a
// conflict and the read after it sees the other store's row.
func TestTableAssumedEmpty(t *testing.T) {
	a, b := newTable(t), newTable(t)
	table := storetest.TableName(t)
	ctx := t.Context()
	upd := state.ForUpdate(ctx)
	k := state.Key{PartitionKey: "nt|rule|0a", RowKey: "user|UA"}
	if _, err := a.Get(ctx, table, nil); err != nil { // creates the table
		t.Fatal(err)
	}
	if err := b.Apply(ctx, table, []state.Op{{Kind: state.Insert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: "other", Count: 7}}}); err != nil {
		t.Fatal(err)
	}
	before := a.Ops()
	got, err := a.Get(upd, table, []state.Key{k, {PartitionKey: k.PartitionKey, RowKey: "other"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || a.Ops() != before {
		t.Fatalf("a's first read for update: %v in %d round trips, want nothing in none (assumed empty)", got, a.Ops()-before)
	}
	err = a.Apply(upd, table, []state.Op{{Kind: state.Insert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Count: 1}}})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("a's write to a partition wrongly assumed empty: err = %v, want a conflict", err)
	}
	if got, err = a.Get(upd, table, []state.Key{k, {PartitionKey: k.PartitionKey, RowKey: "other"}}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[state.Key{PartitionKey: k.PartitionKey, RowKey: "other"}].Count != 7 {
		t.Fatalf("a's read after the conflict: %v, want b's row", got)
	}
	if err := a.Apply(upd, table, []state.Op{{Kind: state.Insert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Count: 1}}}); err != nil {
		t.Fatal(err)
	}
}

// TestTableVersionRowHidden: the store's version row is never read,
// written, listed, nor counted by Sweep, which deletes it with its window;
// an entity swept from under a view makes the write of it a conflict.
func TestTableVersionRowHidden(t *testing.T) {
	a, b := newTable(t), newTable(t)
	table := storetest.TableName(t)
	ctx := t.Context()
	upd := state.ForUpdate(ctx)
	past := time.Now().Add(-time.Hour).UTC()
	const p = "part"
	if _, err := a.Find(upd, table, p, []string{""}); err != nil { // a's view: empty
		t.Fatal(err)
	}
	if err := a.Apply(ctx, table, []state.Op{
		{Kind: state.Insert, Entity: state.Entity{PartitionKey: p, RowKey: "old", Count: 1, Expires: state.StampOf(past)}},
		{Kind: state.Insert, Entity: state.Entity{PartitionKey: p, RowKey: "kept", Count: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	for i, read := range []func() ([]state.Entity, error){
		func() ([]state.Entity, error) { return b.List(ctx, table, p, "") },
		func() ([]state.Entity, error) { return b.Find(ctx, table, p, []string{""}) },
		func() ([]state.Entity, error) { return a.Find(upd, table, p, []string{""}) }, // a's view
	} {
		es, err := read()
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 2 {
			t.Errorf("read %d: %d rows, want 2 (the version row hidden)", i, len(es))
		}
	}
	_, err := a.Get(ctx, table, []state.Key{{PartitionKey: p, RowKey: "$version"}})
	if !errors.Is(err, state.ErrInvalid) {
		t.Errorf("get of the version row: err = %v, want ErrInvalid", err)
	}
	err = a.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: p, RowKey: "$version"}}})
	if !errors.Is(err, state.ErrInvalid) {
		t.Errorf("write of the version row: err = %v, want ErrInvalid", err)
	}

	// b sweeps the expired row (not the version row, which lives on with
	// "kept"); a's view still holds it.
	if n, err := b.Sweep(ctx, table, time.Now()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1", n, err)
	}
	rows, err := a.Find(upd, table, p, []string{""})
	if err != nil {
		t.Fatal(err)
	}
	old, ok := rowsOf(rows)["old"]
	if !ok || !old.Expired(time.Now()) {
		t.Fatalf("a's view: %v, want the swept row, expired", rows)
	}
	old.Count = 2
	if err := a.Apply(upd, table, []state.Op{{Kind: state.Replace, Entity: old}}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("replace of a swept row from a's view: err = %v, want a conflict", err)
	}
	if rows, err = a.Find(upd, table, p, []string{""}); err != nil || len(rows) != 1 {
		t.Fatalf("a's read after the conflict: %v, %v; want the kept row only", rows, err)
	}

	// A partition whose rows all expire: Sweep deletes the version row too,
	// and does not count it.
	const q = "gone"
	soon := time.Now().Add(-time.Minute)
	if err := a.Apply(ctx, table, []state.Op{{Kind: state.Insert, Entity: state.Entity{PartitionKey: q, RowKey: "r", Expires: state.StampOf(soon)}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Sweep(ctx, table, time.Now().Add(10*time.Minute)); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 (the version row not counted)", n, err)
	}
	left, err := b.Sweep(ctx, table, time.Now().Add(10*time.Minute))
	if err != nil || left != 0 {
		t.Fatalf("second sweep: %d, %v", left, err)
	}
}

// TestTableTwoStoresCountExactly: two stores, four goroutines each, add to
// one group, each to its own row (a threshold counter's rows), reading the
// group for update and writing guarded, retrying on conflict. Every
// increment is kept once.
func TestTableTwoStoresCountExactly(t *testing.T) {
	stores := []state.Store{newTable(t), newTable(t)}
	table := storetest.TableName(t)
	ctx := t.Context()
	const p, workers, each = "thr|spray|w", 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	var conflicts sync.Map
	for si, s := range stores {
		for w := range workers {
			row := fmt.Sprintf("g|%d-%d", si, w)
			wg.Go(func() {
				for range each {
					if err := incrementRow(ctx, s, table, p, row, &conflicts); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	es, err := stores[0].List(ctx, table, p, "")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, e := range es {
		total += e.Count
		if e.Count != each {
			t.Errorf("%s: %d, want %d", e.RowKey, e.Count, each)
		}
	}
	n := 0
	conflicts.Range(func(_, _ any) bool { n++; return true })
	t.Logf("%d rows, total %d; %d increments retried after a conflict", len(es), total, n)
	if len(es) != 2*workers || total != 2*workers*each {
		t.Errorf("%d rows, total %d, want %d and %d", len(es), total, 2*workers, 2*workers*each)
	}
}

// incrementRow adds one to row, reading the whole group for update.
func incrementRow(ctx context.Context, s state.Store, table, p, row string, conflicts *sync.Map) error {
	for attempt := range 200 {
		es, err := s.Find(state.ForUpdate(ctx), table, p, []string{"g|"})
		if err != nil {
			return err
		}
		op := state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: p, RowKey: row, Count: 1}}
		if cur, ok := rowsOf(es)[row]; ok {
			op = state.Op{Kind: state.Replace, Entity: state.Entity{PartitionKey: p, RowKey: row, ETag: cur.ETag, Count: cur.Count + 1}}
		}
		err = s.Apply(state.ForUpdate(ctx), table, []state.Op{op})
		if err == nil {
			return nil
		}
		if !errors.Is(err, state.ErrConflict) {
			return err
		}
		conflicts.Store(fmt.Sprintf("%s/%d/%p", row, attempt, &attempt), true)
	}
	return fmt.Errorf("%s: still conflicting", row)
}
