package state

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rewriteFirst rewrites one entity just before the first transaction, as
// another instance extending a window between Sweep's query and its delete.
type rewriteFirst struct {
	*memBackend
	key  Key
	done bool
}

func (r *rewriteFirst) submit(ctx context.Context, table, partition string, ops []Op) error {
	if !r.done {
		r.done = true
		if err := r.memBackend.submit(ctx, table, r.key.PartitionKey, []Op{{Kind: Upsert, Entity: Entity{PartitionKey: r.key.PartitionKey, RowKey: r.key.RowKey, Expires: StampOf(time.Now().Add(time.Hour))}}}); err != nil {
			return err
		}
	}
	return r.memBackend.submit(ctx, table, partition, ops)
}

func TestSweepKeepsWhatWasRewritten(t *testing.T) {
	mem := &memBackend{tables: make(map[string]map[string]*memPartition)}
	b := &rewriteFirst{memBackend: mem, key: Key{"p", "r05"}, done: true}
	s := newEngine(b, 1)
	ctx := t.Context()
	now := time.Now()
	var ops []Op
	for i := range 10 {
		ops = append(ops, Op{Kind: Insert, Entity: Entity{PartitionKey: "p", RowKey: "r0" + string(rune('0'+i)), Expires: StampOf(now.Add(-time.Minute))}})
	}
	if err := s.Apply(ctx, "sweep", ops); err != nil {
		t.Fatal(err)
	}
	b.done = false
	before := s.Ops()
	n, err := s.Sweep(ctx, "sweep", now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Errorf("swept %d, want 9 (r05 was rewritten meanwhile)", n)
	}
	// query, the failed transaction, ten single deletes.
	if trips := s.Ops() - before; trips != 12 {
		t.Errorf("sweep took %d round trips, want 12", trips)
	}
	got, err := s.Get(ctx, "sweep", []Key{{"p", "r05"}, {"p", "r04"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[Key{"p", "r05"}].Expired(now) {
		t.Errorf("after sweep: %v", got)
	}
}

func TestJoinKeyShortensOnEscapeBoundary(t *testing.T) {
	for n := 80; n < 110; n++ {
		k := JoinKey(strings.Repeat("a", n) + strings.Repeat("/", 30))
		if len(k) > MaxKeyLen || len(k) < MaxKeyLen-2 {
			t.Errorf("n=%d: len %d", n, len(k))
		}
		head := k[:strings.IndexByte(k, hashMarker)]
		if _, err := unescape(head); err != nil {
			t.Errorf("n=%d: prefix %q cut inside an escape: %v", n, head, err)
		}
		if checkKey(k) != nil {
			t.Errorf("n=%d: %q is not a valid key", n, k)
		}
	}
}

func TestQueryFilter(t *testing.T) {
	cases := []struct {
		q          query
		filter, sl string
	}{
		{query{partition: "p'1", rows: []string{"a", "b'"}}, `PartitionKey eq 'p''1' and (RowKey eq 'a' or RowKey eq 'b''')`, ""},
		{query{partition: "p", prefix: "a|"}, `PartitionKey eq 'p' and RowKey ge 'a|' and RowKey lt 'a}'`, ""},
		{query{partition: "p", prefix: "a~~"}, `PartitionKey eq 'p' and RowKey ge 'a~~' and RowKey lt 'b'`, ""},
		{query{partition: "p", prefix: "~"}, `PartitionKey eq 'p' and RowKey ge '~'`, ""},
		{query{partition: "p"}, `PartitionKey eq 'p'`, ""},
		{query{partition: "p", ranges: [][2]string{{"a|", "a|"}, {"b~", "b~"}}}, `PartitionKey eq 'p' and ((RowKey ge 'a|' and RowKey lt 'a}') or (RowKey ge 'b~' and RowKey lt 'c'))`, ""},
		{query{expired: time.Date(2026, 11, 23, 9, 30, 0, 123456789, time.UTC)}, `Expires lt datetime'2026-11-23T09:30:00.1234567Z'`, "PartitionKey,RowKey,Expires"},
	}
	for _, tc := range cases {
		f, sel := tc.q.filter()
		if f != tc.filter || sel != tc.sl {
			t.Errorf("%+v: filter %q select %q, want %q %q", tc.q, f, sel, tc.filter, tc.sl)
		}
	}
}

func TestEntityWire(t *testing.T) {
	e := Entity{PartitionKey: "p", RowKey: "r", Count: 1 << 60, Time: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), Data: []byte("{}")}
	raw := encodeEntity(e)
	want := `{"PartitionKey":"p","RowKey":"r","Count@odata.type":"Edm.Int64","Count":"1152921504606846976","Time@odata.type":"Edm.DateTime","Time":"2026-01-02T03:04:05.0000006Z","Data@odata.type":"Edm.Binary","Data":"e30="}`
	if string(raw) != want {
		t.Errorf("encode:\n got %s\nwant %s", raw, want)
	}
	back, err := decodeEntity(raw)
	if err != nil {
		t.Fatal(err)
	}
	if back.Count != e.Count || !back.Time.Equal(e.Time) || string(back.Data) != "{}" {
		t.Errorf("decode: %+v", back)
	}
	if _, err := decodeEntity([]byte(`{"PartitionKey":"p","RowKey":"r","Count":12}`)); err != nil {
		t.Errorf("a numeric Int64: %v", err)
	}
}

// TestReadsAdaptToPartitionSize: many keys of a small partition cost one
// query of the whole partition; a partition that showed more than a page
// is then asked by key (Get) or by exact prefix (Find) when that takes
// fewer round trips than paging through it, so a batch never pays more
// than the cheaper of the two (the 42-group re-read is gone).
func TestReadsAdaptToPartitionSize(t *testing.T) {
	ctx := t.Context()
	s := NewMemory()
	var ops []Op
	for i := range 2500 {
		ops = append(ops, Op{Kind: Insert, Entity: Entity{PartitionKey: "big", RowKey: fmt.Sprintf("g%04d|w", i)}})
	}
	for i := range 50 {
		ops = append(ops, Op{Kind: Insert, Entity: Entity{PartitionKey: "small", RowKey: fmt.Sprintf("g%04d|w", i)}})
	}
	if err := s.Apply(ctx, "sizes", ops); err != nil {
		t.Fatal(err)
	}
	keys := func(pk string, n int) []Key {
		var out []Key
		for i := 0; i < n; i++ {
			out = append(out, Key{pk, fmt.Sprintf("g%04d|w", i*37%50)})
		}
		return out
	}
	trips := func(f func()) int64 {
		before := s.Ops()
		f()
		return s.Ops() - before
	}
	get := func(pk string, n int) {
		got, err := s.Get(ctx, "sizes", keys(pk, n))
		if err != nil || len(got) != n {
			t.Fatalf("get %d of %s: %d, %v", n, pk, len(got), err)
		}
	}
	if n := trips(func() { get("small", 30) }); n != 1 {
		t.Errorf("30 keys of a 50-entity partition: %d round trips, want 1", n)
	}
	if n := trips(func() { get("big", 30) }); n != 3 {
		t.Errorf("30 keys of a 2,500-entity partition, first time: %d round trips, want 3 (read through)", n)
	}
	if n := trips(func() { get("big", 30) }); n != 3 {
		t.Errorf("30 keys of a partition known large: %d round trips, want 3 (3 by key, or 3 pages)", n)
	}
	if n := trips(func() { get("big", 20) }); n != 2 {
		t.Errorf("20 keys of a partition known large: %d round trips, want 2 (by key, 14 a query, not 3 pages)", n)
	}
	find := func(step int) int64 {
		var prefixes []string
		for i := 0; i < 2500; i += step {
			prefixes = append(prefixes, fmt.Sprintf("g%04d|", i))
		}
		return trips(func() {
			found, err := s.Find(ctx, "sizes", "big", prefixes)
			if err != nil || len(found) != len(prefixes) {
				t.Fatalf("find %d prefixes: %d, %v", len(prefixes), len(found), err)
			}
		})
	}
	// 8 prefixes: two exact queries (7 a query) beat three pages.
	if n := find(320); n != 2 {
		t.Errorf("8 prefixes of a partition known large: %d round trips, want 2 (exact, 7 a query)", n)
	}
	// 25 prefixes: four exact queries would not beat reading through (the
	// runs between them cover about 1,900 rows: two pages).
	if n := find(100); n != 2 {
		t.Errorf("25 prefixes of a partition known large: %d round trips, want 2 (read through)", n)
	}
	// 250 prefixes: 36 exact queries, or three pages.
	if n := find(10); n != 3 {
		t.Errorf("250 prefixes of a partition known large: %d round trips, want 3 (read through)", n)
	}
}

// TestCompactEntityRoundTrips: what the in-memory store keeps of an
// entity (memEntity) gives back the entity it was given, normalised, over
// the whole range of times a record can carry.
func TestCompactEntityRoundTrips(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(2026, 12, 1, 10, 0, 0, 123456700, time.UTC),
		time.Date(1969, 7, 20, 20, 17, 40, 900, time.FixedZone("x", -5*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range times {
		for _, exp := range times {
			e := normalise(Entity{PartitionKey: "p", RowKey: "r", ETag: `W/"m42"`, Count: -7, Time: at, Expires: StampOf(exp), Text: "t", Data: []byte("d")})
			m := compact(e)
			got := m.entity("p")
			if !got.Time.Equal(e.Time) || got.Expires != e.Expires || got.Time.IsZero() != e.Time.IsZero() ||
				got.Expires.IsZero() != e.Expires.IsZero() || got.ETag != e.ETag || got.Count != e.Count ||
				got.Text != e.Text || string(got.Data) != string(e.Data) || got.PartitionKey != "p" || got.RowKey != "r" {
				t.Errorf("time %v expires %v: got %+v, want %+v", at, exp, got, e)
			}
			if m.Expired(now) != e.Expired(now) {
				t.Errorf("expires %v: Expired(now) = %v, want %v", exp, m.Expired(now), e.Expired(now))
			}
		}
	}
}
