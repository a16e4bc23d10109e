// Package storetest is the one conformance suite every state.Store passes:
// Memory always, Table on Azurite. A new backend runs Run from its own test.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/azdetect/azdetect/internal/state"
)

// NewStore returns a store for one test; tables are unique per test, so
// stores may share an account.
type NewStore func(t *testing.T) state.Store

// Run runs the suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s state.Store, table string)
	}{
		{"RoundTrip", testRoundTrip},
		{"ApplyCopiesWhatItKeeps", testCopies},
		{"ETagChangesOnEveryWrite", testETags},
		{"Preconditions", testPreconditions},
		{"InvalidRequests", testInvalid},
		{"EntityAtTheLimits", testLimits},
		{"BatchReadAcrossPartitions", testBatchRead},
		{"ListByPrefix", testList},
		{"FindByPrefixes", testFind},
		{"LargePartitionSplitsIntoTransactions", testSplit},
		{"ConflictNamesUncommittedKeys", testConflictAcrossPartitions},
		{"TransactionAllOrNothing", testAllOrNothing},
		{"ExpirySweep", testSweep},
		{"ExpirySweepPastOnePage", testSweepPages},
		{"ForbiddenCharactersInKeys", testKeys},
		{"ConcurrentWritersCountExactly", testConcurrentCounter},
	}
	newStore(t) // a backend that cannot start skips (or fails) here, once
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.run(t, s, TableName(t))
		})
	}
	// Again with every read a read for update (state.ForUpdate), which a
	// store may answer from its cache: with one store writing, what it
	// returns must not change.
	t.Run(forUpdate, func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				tc.run(t, s, TableName(t))
			})
		}
	})
}

// forUpdate names the subtests whose reads are reads for update.
const forUpdate = "ForUpdate"

// TableName returns a table name no other test uses.
func TableName(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "st" + hex.EncodeToString(b[:])
}

// ctxFor is the context of t's calls: reads for update under a subtest
// named forUpdate, and in the children of RunProcesses.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	if readsForUpdate(t) {
		return state.ForUpdate(ctx)
	}
	return ctx
}

// wantTrips checks a read's round trips: exactly want, or at most want
// for reads for update (answered from a cache, some take none).
func wantTrips(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got == want || got < want && readsForUpdate(t) {
		return
	}
	t.Errorf("%s took %d round trips, want %d", what, got, want)
}

func readsForUpdate(t *testing.T) bool {
	return strings.Contains(t.Name(), "/"+forUpdate+"/") || os.Getenv(childEnv) != ""
}

func mustApply(t *testing.T, s state.Store, table string, ops ...state.Op) {
	t.Helper()
	if err := s.Apply(ctxFor(t), table, ops); err != nil {
		t.Fatalf("apply %d operations: %v", len(ops), err)
	}
}

func mustGet(t *testing.T, s state.Store, table string, keys ...state.Key) map[state.Key]state.Entity {
	t.Helper()
	got, err := s.Get(ctxFor(t), table, keys)
	if err != nil {
		t.Fatalf("get %d keys: %v", len(keys), err)
	}
	return got
}

func mustGetOne(t *testing.T, s state.Store, table string, k state.Key) state.Entity {
	t.Helper()
	e, ok := mustGet(t, s, table, k)[k]
	if !ok {
		t.Fatalf("get %s: not found", k)
	}
	return e
}

// touch creates the table, so that operation counts measured after it do
// not include the creation.
func touch(t *testing.T, s state.Store, table string) {
	t.Helper()
	mustGet(t, s, table)
}

func wantConflict(t *testing.T, err error, partition, row string) *state.ConflictError {
	t.Helper()
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	var ce *state.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %T %v, want *state.ConflictError", err, err)
	}
	if ce.PartitionKey != partition {
		t.Errorf("conflict partition = %q, want %q", ce.PartitionKey, partition)
	}
	if ce.RowKey != row {
		t.Errorf("conflict row = %q, want %q (%v)", ce.RowKey, row, err)
	}
	return ce
}

func testRoundTrip(t *testing.T, s state.Store, table string) {
	now := time.Now()
	in := state.Entity{
		PartitionKey: "p1",
		RowKey:       "r1",
		Expires:      state.StampOf(now.Add(time.Hour)),
		Count:        -1 << 40,
		Time:         time.Date(2026, 11, 23, 9, 30, 1, 123456789, time.FixedZone("x", 3600)),
		Text:         "Zoë <script> ' \" \\ 🙂",
		Data:         []byte{0, 1, 2, 0xff, '{', '}'},
	}
	mustApply(t, s, table, state.Op{Kind: state.Insert, Entity: in})
	got := mustGetOne(t, s, table, in.Key())
	if got.ETag == "" {
		t.Error("ETag is empty after a read")
	}
	want := in
	want.ETag = got.ETag
	want.Time = in.Time.UTC().Truncate(100 * time.Nanosecond)
	want.Expires = in.Expires // a Stamp keeps 100 ns, as the stores do
	if diff := diffEntity(got, want); diff != "" {
		t.Errorf("round trip: %s", diff)
	}
	if got.Expired(now) || !got.Expired(now.Add(2*time.Hour)) {
		t.Errorf("Expired(now) = %v, Expired(now+2h) = %v", got.Expired(now), got.Expired(now.Add(2*time.Hour)))
	}

	// Replace writes the whole entity: properties left zero are gone.
	mustApply(t, s, table, state.Op{Kind: state.Replace, Entity: state.Entity{PartitionKey: "p1", RowKey: "r1", ETag: got.ETag, Count: 7}})
	got = mustGetOne(t, s, table, in.Key())
	want = state.Entity{PartitionKey: "p1", RowKey: "r1", ETag: got.ETag, Count: 7}
	if diff := diffEntity(got, want); diff != "" {
		t.Errorf("after replace: %s", diff)
	}

	// An entity with no properties at all.
	bare := state.Entity{PartitionKey: "p1", RowKey: ""}
	mustApply(t, s, table, state.Op{Kind: state.Upsert, Entity: bare})
	got = mustGetOne(t, s, table, bare.Key())
	bare.ETag = got.ETag
	if diff := diffEntity(got, bare); diff != "" {
		t.Errorf("bare entity: %s", diff)
	}
}

// testCopies: Apply keeps copies of the keys and Text (they may be views
// into a record's bytes, or a buffer the caller reuses): a buffer written
// over after Apply returns changes nothing stored, whether the next read
// is answered by the backend or from a store's view of the partition.
func testCopies(t *testing.T, s state.Store, table string) {
	buf := []byte("p1r1text")
	view := func(from, to int) string { return unsafe.String(&buf[from], to-from) }
	in := state.Entity{PartitionKey: view(0, 2), RowKey: view(2, 4), Text: view(4, 8), Data: []byte("document"), Count: 1}
	mustApply(t, s, table, state.Op{Kind: state.Insert, Entity: in})
	copy(buf, "XXXXXXXX")
	got := mustGetOne(t, s, table, state.Key{PartitionKey: "p1", RowKey: "r1"})
	if got.PartitionKey != "p1" || got.RowKey != "r1" || got.Text != "text" || string(got.Data) != "document" {
		t.Fatalf("after the caller's buffer changed: %+v", got)
	}
	copy(buf, "p1r1text")
	in.Count, in.ETag, in.Data = 2, got.ETag, []byte("document")
	mustApply(t, s, table, state.Op{Kind: state.Replace, Entity: in})
	copy(buf, "XXXXXXXX")
	got = mustGetOne(t, s, table, state.Key{PartitionKey: "p1", RowKey: "r1"})
	if got.Count != 2 || got.PartitionKey != "p1" || got.RowKey != "r1" || got.Text != "text" || string(got.Data) != "document" {
		t.Fatalf("after a rewrite and the caller's buffer changed: %+v", got)
	}
}

func diffEntity(got, want state.Entity) string {
	var d []string
	if got.PartitionKey != want.PartitionKey || got.RowKey != want.RowKey {
		d = append(d, fmt.Sprintf("key %s, want %s", got.Key(), want.Key()))
	}
	if got.ETag != want.ETag {
		d = append(d, fmt.Sprintf("ETag %q, want %q", got.ETag, want.ETag))
	}
	if got.Expires != want.Expires {
		d = append(d, fmt.Sprintf("Expires %v, want %v", got.Expires.Time(), want.Expires.Time()))
	}
	if got.Count != want.Count {
		d = append(d, fmt.Sprintf("Count %d, want %d", got.Count, want.Count))
	}
	if !got.Time.Equal(want.Time) {
		d = append(d, fmt.Sprintf("Time %v, want %v", got.Time, want.Time))
	}
	if got.Text != want.Text {
		d = append(d, fmt.Sprintf("Text %q, want %q", got.Text, want.Text))
	}
	if !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
		d = append(d, fmt.Sprintf("Data %x (nil %v), want %x (nil %v)", got.Data, got.Data == nil, want.Data, want.Data == nil))
	}
	return strings.Join(d, "; ")
}

func testETags(t *testing.T, s state.Store, table string) {
	k := state.Key{PartitionKey: "p", RowKey: "r"}
	seen := map[string]bool{}
	for i := range 5 {
		mustApply(t, s, table, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Count: 1}})
		e := mustGetOne(t, s, table, k)
		if seen[e.ETag] {
			t.Fatalf("write %d: ETag %q was seen before, though every write changes it", i, e.ETag)
		}
		seen[e.ETag] = true
	}
}

func testPreconditions(t *testing.T, s state.Store, table string) {
	k := state.Key{PartitionKey: "p", RowKey: "r"}
	ent := func(etag string, n int64) state.Entity {
		return state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: etag, Count: n}
	}
	ctx := ctxFor(t)

	// Replace and Delete of a missing entity.
	wantConflict(t, s.Apply(ctx, table, []state.Op{{Kind: state.Replace, Entity: ent(state.ETagAny, 1)}}), "p", "r")
	wantConflict(t, s.Apply(ctx, table, []state.Op{{Kind: state.Delete, Entity: ent(state.ETagAny, 0)}}), "p", "r")

	mustApply(t, s, table, state.Op{Kind: state.Insert, Entity: ent("", 1)})
	first := mustGetOne(t, s, table, k)
	// Insert of an existing entity.
	wantConflict(t, s.Apply(ctx, table, []state.Op{{Kind: state.Insert, Entity: ent("", 2)}}), "p", "r")

	mustApply(t, s, table, state.Op{Kind: state.Replace, Entity: ent(first.ETag, 2)})
	// Stale ETags.
	ce := wantConflict(t, s.Apply(ctx, table, []state.Op{{Kind: state.Replace, Entity: ent(first.ETag, 3)}}), "p", "r")
	if !slices.Equal(ce.Uncommitted, []state.Key{k}) || !slices.Equal(ce.Partitions, []string{"p"}) || ce.Table != table {
		t.Errorf("conflict = %+v", ce)
	}
	if !strings.Contains(ce.Error(), `"p"`) || !strings.Contains(ce.Error(), `"r"`) {
		t.Errorf("conflict message %q does not name the partition and row", ce.Error())
	}
	wantConflict(t, s.Apply(ctx, table, []state.Op{{Kind: state.Delete, Entity: ent(first.ETag, 0)}}), "p", "r")
	if got := mustGetOne(t, s, table, k); got.Count != 2 {
		t.Fatalf("count = %d after failed writes, want 2", got.Count)
	}

	// ETagAny replaces whatever is there.
	mustApply(t, s, table, state.Op{Kind: state.Replace, Entity: ent(state.ETagAny, 4)})
	cur := mustGetOne(t, s, table, k)
	mustApply(t, s, table, state.Op{Kind: state.Delete, Entity: ent(cur.ETag, 0)})
	if got := mustGet(t, s, table, k); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
}

func testInvalid(t *testing.T, s state.Store, table string) {
	ctx := ctxFor(t)
	ok := state.Entity{PartitionKey: "p", RowKey: "r"}
	cases := []struct {
		name string
		err  error
	}{
		{"replace without ETag", s.Apply(ctx, table, []state.Op{{Kind: state.Replace, Entity: ok}})},
		{"delete without ETag", s.Apply(ctx, table, []state.Op{{Kind: state.Delete, Entity: ok}})},
		{"unknown kind", s.Apply(ctx, table, []state.Op{{Kind: 0, Entity: ok}})},
		{"duplicate key", s.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: ok}, {Kind: state.Upsert, Entity: ok}})},
		{"slash in key", s.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "a/b", RowKey: "r"}}})},
		{"control char in key", s.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "p", RowKey: "a\tb"}}})},
		{"hash in get", func() error { _, err := s.Get(ctx, table, []state.Key{{PartitionKey: "p", RowKey: "#"}}); return err }()},
		{"oversized data", s.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "p", RowKey: "r", Data: make([]byte, state.MaxDataLen+1)}}})},
		{"time out of range", s.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "p", RowKey: "r", Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}}})},
		{"bad table name", s.Apply(ctx, "no-dashes", []state.Op{{Kind: state.Upsert, Entity: ok}})},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, state.ErrInvalid) {
			t.Errorf("%s: err = %v, want state.ErrInvalid", tc.name, tc.err)
		}
	}
	if got := mustGet(t, s, table, ok.Key()); len(got) != 0 {
		t.Errorf("an invalid request wrote %v", got)
	}
}

func testBatchRead(t *testing.T, s state.Store, table string) {
	var ops []state.Op
	for i := range 15 {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "big", RowKey: fmt.Sprintf("r%02d", i), Count: int64(i)}})
	}
	ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "one", RowKey: "only", Count: 100}})
	mustApply(t, s, table, ops...)

	var keys []state.Key
	for i := range 20 { // 15 exist, 5 do not
		keys = append(keys, state.Key{PartitionKey: "big", RowKey: fmt.Sprintf("r%02d", i)})
	}
	keys = append(keys,
		state.Key{PartitionKey: "one", RowKey: "only"},
		state.Key{PartitionKey: "none", RowKey: "a"}, state.Key{PartitionKey: "none", RowKey: "b"},
		state.Key{PartitionKey: "big", RowKey: "r03"}, // asked twice
	)
	before := s.Ops()
	got := mustGet(t, s, table, keys...)
	trips := s.Ops() - before
	if len(got) != 16 {
		t.Errorf("got %d entities, want 16", len(got))
	}
	for i := range 15 {
		k := state.Key{PartitionKey: "big", RowKey: fmt.Sprintf("r%02d", i)}
		if e, ok := got[k]; !ok || e.Count != int64(i) || e.ETag == "" {
			t.Errorf("%s = %+v, %v", k, e, ok)
		}
	}
	if e := got[state.Key{PartitionKey: "one", RowKey: "only"}]; e.Count != 100 {
		t.Errorf("one/only = %+v", e)
	}
	// big: 20 rows, more than one query by key asks for: the whole
	// partition in one query (it holds less than a page); one: a point
	// read; none: 1 query.
	wantTrips(t, "batch read", int64(trips), 3)
}

func testList(t *testing.T, s state.Store, table string) {
	part := state.JoinKey("rule", "user@example.com")
	var ops []state.Op
	for _, r := range []string{state.JoinKey("a", "2"), state.JoinKey("a", "1"), state.JoinKey("ab", "1"), state.JoinKey("b", "1"), state.JoinKey("a/b", "1")} {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: part, RowKey: r}})
	}
	ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: part + "x", RowKey: state.JoinKey("a", "3")}})
	mustApply(t, s, table, ops...)

	rows := func(prefix string) []string {
		es, err := s.List(ctxFor(t), table, part, prefix)
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		var out []string
		for _, e := range es {
			if e.PartitionKey != part || e.ETag == "" {
				t.Errorf("listed %+v", e)
			}
			out = append(out, e.RowKey)
		}
		return out
	}
	if got, want := rows(state.PrefixOf("a")), []string{"a|1", "a|2"}; !slices.Equal(got, want) {
		t.Errorf("list a| = %q, want %q", got, want)
	}
	if got, want := rows(""), []string{"a!2Fb|1", "ab|1", "a|1", "a|2", "b|1"}; !slices.Equal(got, want) {
		t.Errorf("list all = %q, want %q", got, want)
	}
	if got := rows("zz"); len(got) != 0 {
		t.Errorf("list zz = %q", got)
	}
	// A prefix ending in a byte at or past '~' lists the rows that start
	// with it, no others.
	ops = ops[:0]
	for _, r := range []string{"k~", "k~x", "k~~", "ké", "kéa", "kê"} {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: part, RowKey: r}})
	}
	mustApply(t, s, table, ops...)
	for prefix, want := range map[string][]string{"k~": {"k~", "k~x", "k~~"}, "k~~": {"k~~"}, "ké": {"ké", "kéa"}, "kê": {"kê"}} {
		if got := rows(prefix); !slices.Equal(got, want) {
			t.Errorf("list %q = %q, want %q", prefix, got, want)
		}
	}
}

func testSplit(t *testing.T, s state.Store, table string) {
	touch(t, s, table)
	var ops []state.Op
	for i := range 250 {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p", RowKey: fmt.Sprintf("r%03d", i), Count: int64(i)}})
	}
	for i := range 101 {
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "q", RowKey: fmt.Sprintf("r%03d", i)}})
	}
	before := s.Ops()
	mustApply(t, s, table, ops...)
	if trips := s.Ops() - before; trips != 5 {
		t.Errorf("351 operations in 2 partitions took %d transactions, want 3+2", trips)
	}
	for _, c := range []struct {
		p string
		n int
	}{{"p", 250}, {"q", 101}} {
		es, err := s.List(ctxFor(t), table, c.p, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != c.n {
			t.Errorf("partition %s has %d entities, want %d", c.p, len(es), c.n)
		}
	}

	// Large Data values split by size as well as by count.
	ops = ops[:0]
	for i := range 80 {
		ops = append(ops, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "big", RowKey: strconv.Itoa(i), Data: bytes.Repeat([]byte{byte(i)}, state.MaxDataLen)}})
	}
	mustApply(t, s, table, ops...)
	if got := mustGetOne(t, s, table, state.Key{PartitionKey: "big", RowKey: "79"}); len(got.Data) != state.MaxDataLen || got.Data[0] != 79 {
		t.Errorf("big/79 has %d bytes of data", len(got.Data))
	}
}

func testConflictAcrossPartitions(t *testing.T, s state.Store, table string) {
	mustApply(t, s, table,
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "b", RowKey: "x", Count: 1}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "c", RowKey: "x", Count: 1}})
	stale := mustGetOne(t, s, table, state.Key{PartitionKey: "b", RowKey: "x"})
	mustApply(t, s, table, state.Op{Kind: state.Replace, Entity: state.Entity{PartitionKey: "b", RowKey: "x", ETag: stale.ETag, Count: 2}})

	var ops []state.Op
	ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "a", RowKey: "new", Count: 1}})
	// Partition b: a first transaction that succeeds, then one that fails.
	for i := range 100 {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "b", RowKey: fmt.Sprintf("ok%03d", i)}})
	}
	ops = append(ops,
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "b", RowKey: "later1"}},
		state.Op{Kind: state.Replace, Entity: state.Entity{PartitionKey: "b", RowKey: "x", ETag: stale.ETag, Count: 3}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "b", RowKey: "later2"}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "c", RowKey: "x"}}, // exists
	)
	ce := wantConflict(t, s.Apply(ctxFor(t), table, ops), "b", "x")
	if !slices.Equal(ce.Partitions, []string{"b", "c"}) {
		t.Errorf("conflict partitions = %q, want [b c]", ce.Partitions)
	}
	wantUncommitted := []state.Key{{PartitionKey: "b", RowKey: "later1"}, {PartitionKey: "b", RowKey: "x"}, {PartitionKey: "b", RowKey: "later2"}, {PartitionKey: "c", RowKey: "x"}}
	// A store that writes a row of its own in every transaction (Table's
	// version row) puts one operation fewer of the caller's in each: ok099
	// then goes with the transaction that fails.
	if len(ce.Uncommitted) > 0 && ce.Uncommitted[0] == (state.Key{PartitionKey: "b", RowKey: "ok099"}) {
		wantUncommitted = append([]state.Key{ce.Uncommitted[0]}, wantUncommitted...)
	}
	if !slices.Equal(ce.Uncommitted, wantUncommitted) {
		t.Errorf("uncommitted = %v, want %v", ce.Uncommitted, wantUncommitted)
	}
	got := mustGet(t, s, table,
		state.Key{PartitionKey: "a", RowKey: "new"}, state.Key{PartitionKey: "b", RowKey: "ok098"},
		state.Key{PartitionKey: "b", RowKey: "later1"}, state.Key{PartitionKey: "b", RowKey: "x"})
	if _, ok := got[state.Key{PartitionKey: "a", RowKey: "new"}]; !ok {
		t.Error("partition a was not committed")
	}
	if _, ok := got[state.Key{PartitionKey: "b", RowKey: "ok098"}]; !ok {
		t.Error("partition b's first transaction was not committed")
	}
	if _, ok := got[state.Key{PartitionKey: "b", RowKey: "later1"}]; ok {
		t.Error("partition b's failed transaction was partly committed")
	}
	if e := got[state.Key{PartitionKey: "b", RowKey: "x"}]; e.Count != 2 {
		t.Errorf("b/x count = %d, want 2", e.Count)
	}
}

func testAllOrNothing(t *testing.T, s state.Store, table string) {
	x := state.Key{PartitionKey: "p", RowKey: "x"}
	mustApply(t, s, table,
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p", RowKey: "x", Count: 1}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p", RowKey: "gone", Count: 1}})
	stale := mustGetOne(t, s, table, x)
	gone := mustGetOne(t, s, table, state.Key{PartitionKey: "p", RowKey: "gone"})
	mustApply(t, s, table, state.Op{Kind: state.Replace, Entity: state.Entity{PartitionKey: "p", RowKey: "x", ETag: stale.ETag, Count: 2}})

	err := s.Apply(ctxFor(t), table, []state.Op{
		{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p", RowKey: "a"}},
		{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "p", RowKey: "b"}},
		{Kind: state.Delete, Entity: gone},
		{Kind: state.Replace, Entity: state.Entity{PartitionKey: "p", RowKey: "x", ETag: stale.ETag, Count: 3}},
	})
	wantConflict(t, err, "p", "x")
	got := mustGet(t, s, table, x, state.Key{PartitionKey: "p", RowKey: "a"}, state.Key{PartitionKey: "p", RowKey: "b"}, gone.Key())
	if len(got) != 2 || got[x].Count != 2 {
		t.Errorf("after a failed transaction the partition holds %v, want x (count 2) and gone only", got)
	}
}

func testSweep(t *testing.T, s state.Store, table string) {
	now := time.Now().Truncate(time.Millisecond) // stored exactly, for the edge
	var ops []state.Op
	for i := range 130 {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "w1", RowKey: fmt.Sprintf("old%03d", i), Expires: state.StampOf(now.Add(-time.Minute))}})
	}
	ops = append(ops,
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "w1", RowKey: "fresh", Expires: state.StampOf(now.Add(time.Hour))}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "w1", RowKey: "forever"}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "w2", RowKey: "old", Expires: state.StampOf(now.Add(-time.Second))}},
		state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "w2", RowKey: "edge", Expires: state.StampOf(now)}},
	)
	mustApply(t, s, table, ops...)

	old := mustGetOne(t, s, table, state.Key{PartitionKey: "w2", RowKey: "old"})
	if !old.Expired(now) {
		t.Errorf("w2/old not expired before the sweep: %+v", old)
	}
	n, err := s.Sweep(ctxFor(t), table, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 131 {
		t.Errorf("sweep deleted %d, want 131", n)
	}
	left1, err := s.List(ctxFor(t), table, "w1", "")
	if err != nil {
		t.Fatal(err)
	}
	left2, err := s.List(ctxFor(t), table, "w2", "")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, e := range append(left1, left2...) {
		rows = append(rows, e.PartitionKey+"/"+e.RowKey)
	}
	if want := []string{"w1/forever", "w1/fresh", "w2/edge"}; !slices.Equal(rows, want) {
		t.Errorf("after sweep: %q, want %q", rows, want)
	}
	if n, err := s.Sweep(ctxFor(t), table, now); err != nil || n != 0 {
		t.Errorf("second sweep = %d, %v; want 0", n, err)
	}
	if n, err := s.Sweep(ctxFor(t), table, now.Add(2*time.Hour)); err != nil || n != 2 {
		t.Errorf("sweep two hours later = %d, %v; want 2", n, err)
	}
}

func testSweepPages(t *testing.T, s state.Store, table string) {
	now := time.Now()
	var ops []state.Op
	for i := range 1050 {
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{
			PartitionKey: "w" + strconv.Itoa(i%3), RowKey: fmt.Sprintf("%04d", i), Expires: state.StampOf(now.Add(-time.Minute))}})
	}
	ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "w1", RowKey: "keep", Expires: state.StampOf(now.Add(time.Minute))}})
	mustApply(t, s, table, ops...)
	n, err := s.Sweep(ctxFor(t), table, now)
	if err != nil || n != 1050 {
		t.Fatalf("sweep = %d, %v; want 1050", n, err)
	}
	for _, p := range []string{"w0", "w1", "w2"} {
		left, err := s.List(ctxFor(t), table, p, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"w1": 1}[p]; len(left) != want {
			t.Errorf("partition %s keeps %d entities, want %d", p, len(left), want)
		}
	}
}

func testKeys(t *testing.T, s state.Store, table string) {
	long := strings.Repeat("very-long-user-agent/", 100)
	values := []string{
		"a/b", `a\b`, "a#b", "a?b", "a\x00b", "tab\there", "new\nline", "del\x7f", "c1\u0085",
		"quote'", `dq"`, "100%", "!21", "pipe|", "tilde~", "space here", "Zoë", "🙂", "", "::1",
		"\xff\xfe not utf8", long, long + "x",
	}
	part := state.JoinKey("rule/1", "group#2")
	var ops []state.Op
	keys := map[string]string{}
	for i, v := range values {
		row := state.JoinKey(v, strconv.Itoa(i))
		if len(row) > state.MaxKeyLen {
			t.Errorf("JoinKey(%q) is %d bytes, more than %d", v, len(row), state.MaxKeyLen)
		}
		if prev, dup := keys[row]; dup {
			t.Errorf("JoinKey(%q) = JoinKey(%q) = %q", v, prev, row)
		}
		keys[row] = v
		if parts, err := state.SplitKey(row); err == nil {
			if !slices.Equal(parts, []string{v, strconv.Itoa(i)}) {
				t.Errorf("SplitKey(JoinKey(%q)) = %q", v, parts)
			}
		} else if len(v) < 40 {
			t.Errorf("SplitKey(%q): %v", row, err)
		}
		ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: part, RowKey: row, Text: strings.ToValidUTF8(v, "?")}})
	}
	if state.JoinKey(long) == state.JoinKey(long+"x") {
		t.Error("two long keys hash alike")
	}
	if got := state.Escape("a/b"); got != "a!2Fb" {
		t.Errorf(`Escape("a/b") = %q`, got)
	}
	mustApply(t, s, table, ops...)

	var ks []state.Key
	for row := range keys {
		ks = append(ks, state.Key{PartitionKey: part, RowKey: row})
	}
	got := mustGet(t, s, table, ks...)
	if len(got) != len(values) {
		t.Errorf("read back %d of %d escaped keys", len(got), len(values))
	}
	for _, k := range ks {
		if e := got[k]; e.Text != strings.ToValidUTF8(keys[k.RowKey], "?") {
			t.Errorf("%s: Text %q, want %q", k, e.Text, keys[k.RowKey])
		}
	}
	// One at a time too: point reads put keys in the URL, queries in $filter.
	for _, k := range ks[:5] {
		mustGetOne(t, s, table, k)
	}
	// Keys used as they are: whatever the store accepts must work in point
	// reads, queries and transactions alike.
	var rawOps []state.Op
	var rawKeys []state.Key
	for _, k := range []string{"100%", "a+b", "sp ace", "Zoë", "🙂", "x|y~z", "(a,b)=c", "&amp;", "%2F", "a;b", "a:b@c"} {
		rawOps = append(rawOps, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: k, RowKey: k, Text: k}})
		rawKeys = append(rawKeys, state.Key{PartitionKey: k, RowKey: k})
	}
	rawOps = append(rawOps, state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "raw", RowKey: "100%", Text: "1"}},
		state.Op{Kind: state.Upsert, Entity: state.Entity{PartitionKey: "raw", RowKey: "a+b", Text: "2"}})
	rawKeys = append(rawKeys, state.Key{PartitionKey: "raw", RowKey: "100%"}, state.Key{PartitionKey: "raw", RowKey: "a+b"})
	mustApply(t, s, table, rawOps...)
	if got := mustGet(t, s, table, rawKeys...); len(got) != len(rawKeys) {
		t.Errorf("raw keys: read back %d of %d: %v", len(got), len(rawKeys), got)
	}
	for _, k := range rawKeys {
		e := mustGetOne(t, s, table, k)
		var del []state.Op
		del = append(del, state.Op{Kind: state.Delete, Entity: e})
		mustApply(t, s, table, del...)
	}

	listed, err := s.List(ctxFor(t), table, part, state.PrefixOf("a/b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Text != "a/b" {
		t.Errorf("list by escaped prefix: %+v", listed)
	}
}

// Increment adds one to the counter at k with read-modify-write and ETag
// retry, the way a threshold rule does, and returns how many conflicts it
// retried.
func Increment(ctx context.Context, s state.Store, table string, k state.Key) (int, error) {
	for conflicts := 0; ; conflicts++ {
		got, err := s.Get(ctx, table, []state.Key{k})
		if err != nil {
			return conflicts, err
		}
		op := state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Count: 1}}
		if e, ok := got[k]; ok {
			e.Count++
			op = state.Op{Kind: state.Replace, Entity: e}
		}
		err = s.Apply(ctx, table, []state.Op{op})
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		return conflicts, err
	}
}

// incrementMany runs increments from several goroutines.
func incrementMany(ctx context.Context, s state.Store, table string, k state.Key, workers, each int) (conflicts int, err error) {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				c, err := Increment(ctx, s, table, k)
				mu.Lock()
				conflicts += c
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return conflicts, errors.Join(errs...)
}

func testConcurrentCounter(t *testing.T, s state.Store, table string) {
	const workers, each = 8, 25
	k := state.Key{PartitionKey: state.JoinKey("threshold", "10.0.0.1"), RowKey: state.TimeKey(time.Now())}
	conflicts, err := incrementMany(ctxFor(t), s, table, k, workers, each)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGetOne(t, s, table, k); got.Count != workers*each {
		t.Fatalf("count = %d after %d increments (%d conflicts retried)", got.Count, workers*each, conflicts)
	}
	t.Logf("%d increments from %d goroutines, %d conflicts retried", workers*each, workers, conflicts)
}

// childEnv carries table, partition, row and increments to a child process.
const childEnv = "STORETEST_CHILD_INCREMENTS"

// RunProcesses checks that counts stay exact when two processes increment
// one counter: it re-executes the test binary (os.Args[0]) twice, running
// only the calling test, with env added (what the children need to reach the
// same store, e.g. azurite's Server.Env()). In a child it does the
// increments instead. Call it from a test function of its own.
func RunProcesses(t *testing.T, newStore NewStore, env []string) {
	const children, workers, each = 2, 2, 20
	if spec := os.Getenv(childEnv); spec != "" {
		runChild(t, newStore, spec)
		return
	}
	s := newStore(t)
	table := TableName(t)
	k := state.Key{PartitionKey: "spray", RowKey: state.TimeKey(time.Now())}
	touch(t, s, table)

	pattern := runPattern(t.Name())
	var wg sync.WaitGroup
	outs := make([][]byte, children)
	errs := make([]error, children)
	for i := range children {
		cmd := exec.CommandContext(ctxFor(t), os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v")
		cmd.Env = append(append(os.Environ(), env...),
			fmt.Sprintf("%s=%s,%s,%s,%d,%d", childEnv, table, k.PartitionKey, k.RowKey, workers, each))
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	for i := range children {
		if errs[i] != nil {
			t.Fatalf("child %d: %v\n%s", i, errs[i], outs[i])
		}
		if !bytes.Contains(outs[i], []byte("storetest child: done")) {
			t.Fatalf("child %d did not run the increments:\n%s", i, outs[i])
		}
		for _, line := range strings.Split(string(outs[i]), "\n") {
			if strings.Contains(line, "storetest child:") {
				t.Logf("child %d: %s", i, strings.TrimSpace(line))
			}
		}
	}
	want := int64(children * workers * each)
	if got := mustGetOne(t, s, table, k); got.Count != want {
		t.Fatalf("count = %d after %d increments from %d processes", got.Count, want, children)
	}
}

func runChild(t *testing.T, newStore NewStore, spec string) {
	f := strings.Split(spec, ",")
	if len(f) != 5 {
		t.Fatalf("%s=%q: want table,partition,row,workers,each", childEnv, spec)
	}
	workers, err1 := strconv.Atoi(f[3])
	each, err2 := strconv.Atoi(f[4])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("%s=%q: %v", childEnv, spec, err)
	}
	s := newStore(t)
	conflicts, err := incrementMany(ctxFor(t), s, f[0], state.Key{PartitionKey: f[1], RowKey: f[2]}, workers, each)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("storetest child: done, %d increments, %d conflicts retried, %d round trips\n", workers*each, conflicts, s.Ops())
}

// runPattern matches exactly the test named name (with its subtests' path).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// testLimits: an entity at every property limit round-trips (the service
// accepts what CheckEntity lets through), one byte over is refused before
// any I/O with ErrEntityTooLarge, and the rest of the call is not applied.
func testLimits(t *testing.T, s state.Store, table string) {
	ctx := ctxFor(t)
	text := strings.Repeat("é", state.MaxTextLen/2) // 32 KiB of UTF-8, 16 Ki UTF-16 units
	big := state.Entity{PartitionKey: "p", RowKey: "max", Count: 1, Time: time.Now(), Expires: state.StampOf(time.Now().Add(time.Hour)),
		Text: text, Data: bytes.Repeat([]byte{0xFF}, state.MaxDataLen)}
	if err := state.CheckEntity(big); err != nil {
		t.Fatalf("CheckEntity of an entity at the limits: %v", err)
	}
	mustApply(t, s, table, state.Op{Kind: state.Insert, Entity: big})
	got := mustGetOne(t, s, table, big.Key())
	if got.Text != big.Text || !bytes.Equal(got.Data, big.Data) {
		t.Errorf("entity at the limits came back changed: text %d bytes, data %d bytes", len(got.Text), len(got.Data))
	}
	over := []state.Entity{
		{PartitionKey: "p", RowKey: "data", Data: make([]byte, state.MaxDataLen+1)},
		{PartitionKey: "p", RowKey: "text", Text: strings.Repeat("a", state.MaxTextLen+1)},
		{PartitionKey: "p", RowKey: "huge", Data: make([]byte, 20<<20)},
	}
	for _, e := range over {
		if err := state.CheckEntity(e); !errors.Is(err, state.ErrEntityTooLarge) {
			t.Errorf("CheckEntity(%s): %v, want ErrEntityTooLarge", e.RowKey, err)
		}
		ok := state.Entity{PartitionKey: "p", RowKey: "ok-" + e.RowKey, Count: 1}
		err := s.Apply(ctx, table, []state.Op{{Kind: state.Upsert, Entity: ok}, {Kind: state.Upsert, Entity: e}})
		if !errors.Is(err, state.ErrEntityTooLarge) || !errors.Is(err, state.ErrInvalid) {
			t.Errorf("apply %s: err = %v, want ErrEntityTooLarge (and ErrInvalid)", e.RowKey, err)
		}
		if got := mustGet(t, s, table, ok.Key()); len(got) != 0 {
			t.Errorf("apply %s: the valid operation beside it was written", e.RowKey)
		}
	}
}

// testFind: the rows of some groups (prefix "group|"), whatever follows,
// in one query.
func testFind(t *testing.T, s state.Store, table string) {
	ctx := ctxFor(t)
	var ops []state.Op
	for g := range 30 {
		for w := range 3 {
			ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "p",
				RowKey: fmt.Sprintf("g%02d|w%d", g, w), Count: int64(g*10 + w)}})
		}
	}
	ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "other", RowKey: "g01|w0"}})
	mustApply(t, s, table, ops...)
	rows := func(es []state.Entity) string {
		var out []string
		for _, e := range es {
			out = append(out, e.RowKey)
		}
		return strings.Join(out, ",")
	}
	before := s.Ops()
	got, err := s.Find(ctx, table, "p", []string{"g03|", "g01|", "g1|", "g29|", "g01|"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "g01|w0,g01|w1,g01|w2,g03|w0,g03|w1,g03|w2,g29|w0,g29|w1,g29|w2"; rows(got) != want {
		t.Errorf("find: %s, want %s", rows(got), want)
	}
	wantTrips(t, "find of 4 prefixes", s.Ops()-before, 1)
	// More prefixes than one query has ranges for: runs of neighbours,
	// the groups between them read and dropped, still one query.
	var many []string
	for g := 0; g < 30; g += 2 {
		many = append(many, fmt.Sprintf("g%02d|", g))
	}
	before = s.Ops()
	got, err = s.Find(ctx, table, "p", many)
	if err != nil {
		t.Fatal(err)
	}
	odd := false
	for _, e := range got {
		var g, w int
		fmt.Sscanf(e.RowKey, "g%02d|w%d", &g, &w)
		odd = odd || g%2 == 1 || e.Count != int64(g*10+w)
	}
	if len(got) != 45 || odd || got[0].RowKey != "g00|w0" || got[44].RowKey != "g28|w2" {
		t.Errorf("find of 15 prefixes: %d rows (%s)", len(got), rows(got))
	}
	wantTrips(t, "find of 15 prefixes", s.Ops()-before, 1)

	// Prefixes that overlap select each row once; a prefix ending in a
	// byte at or past '~' (whose end a filter cannot write in ASCII)
	// selects the rows that start with it, no others.
	var more []state.Op
	for _, r := range []string{"k|a", "k|b", "k~", "k~x", "k~y", "k~~", "k}", "kz", "ké", "kéa", "kê", "l"} {
		more = append(more, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: "q", RowKey: r}})
	}
	mustApply(t, s, table, more...)
	for _, c := range []struct {
		prefixes []string
		want     string
	}{
		{[]string{"k|", "k|a"}, "k|a,k|b"},
		{[]string{"k", "k~", "k|a"}, "kz,k|a,k|b,k},k~,k~x,k~y,k~~,ké,kéa,kê"},
		{[]string{"k~"}, "k~,k~x,k~y,k~~"},
		{[]string{"k~~"}, "k~~"},
		{[]string{"k~x", "k~"}, "k~,k~x,k~y,k~~"},
		{[]string{"ké"}, "ké,kéa"},
		{[]string{"kê", "k}"}, "k},kê"},
		{[]string{"l", "k~y", "k|b", "k|b"}, "k|b,k~y,l"},
		// More than a query's ranges: runs of neighbours.
		{[]string{"k|", "k|a", "k|b", "k}", "k~", "k~x", "k~~", "ké", "kéa", "kê", "l"}, "k|a,k|b,k},k~,k~x,k~y,k~~,ké,kéa,kê,l"},
		{[]string{"k~", "k~x", "k~y", "k~~", "k~~~", "k~~x", "ké", "kê", "kë"}, "k~,k~x,k~y,k~~,ké,kéa,kê"},
	} {
		got, err := s.Find(ctx, table, "q", c.prefixes)
		if err != nil {
			t.Fatal(err)
		}
		if rows(got) != c.want {
			t.Errorf("find %q: %s, want %s", c.prefixes, rows(got), c.want)
		}
	}
}
