package state

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestEntityFitsAMapSlot: Go keeps map values of 128 bytes or less in the
// map's own slots; larger ones cost an allocation each (Get's result maps,
// the caches' rows, a transaction's maps).
func TestEntityFitsAMapSlot(t *testing.T) {
	if n := unsafe.Sizeof(Entity{}); n > 128 {
		t.Fatalf("unsafe.Sizeof(Entity{}) = %d, want 128 or less", n)
	}
}

// TestStampRoundTrips: a Stamp gives back the time to 100 ns (truncated
// towards the past), in UTC, the zero time as itself, and keeps order.
func TestStampRoundTrips(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	cases := []struct {
		in, want time.Time
	}{
		{time.Time{}, time.Time{}},
		{time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC)},
		{time.Date(1, 1, 1, 0, 0, 0, 99, time.UTC), time.Time{}}, // truncated to year 1 exactly: the zero time
		{time.Date(0, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 12, 31, 23, 59, 59, 999999900, time.UTC)},
		{time.Date(-5000, 3, 1, 1, 2, 3, 450, time.UTC), time.Date(-5000, 3, 1, 1, 2, 3, 400, time.UTC)},
		{time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 59, 59, 999999950, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999900, time.UTC)},
		{time.Unix(0, 0), time.Unix(0, 0).UTC()},
		{time.Date(2026, 12, 2, 11, 0, 0, 150, est), time.Date(2026, 12, 2, 16, 0, 0, 100, time.UTC)},
		{time.Date(2026, 12, 2, 11, 0, 0, 123456789, time.Local), time.Date(2026, 12, 2, 11, 0, 0, 123456700, time.Local).UTC()},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)},
		{time.Date(20000, 6, 1, 0, 0, 0, 1, time.UTC), time.Date(20000, 6, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		s := StampOf(c.in)
		got := s.Time()
		if !got.Equal(c.want) || got.Location() != time.UTC || got != normTime(c.in) && !c.want.IsZero() {
			t.Errorf("StampOf(%v).Time() = %v (%v), want %v UTC", c.in, got, got.Location(), c.want)
		}
		if s.IsZero() != c.want.IsZero() || got.IsZero() != c.want.IsZero() {
			t.Errorf("StampOf(%v): IsZero %v, time's %v, want %v", c.in, s.IsZero(), got.IsZero(), c.want.IsZero())
		}
		if StampOf(got) != s {
			t.Errorf("StampOf(%v) = %d, again %d", c.in, s, StampOf(got))
		}
	}
	if got := StampOf(time.Time{}.Add(-time.Nanosecond)); got != -1 {
		t.Errorf("a nanosecond before year 1: %d, want -1 (truncated towards the past)", got)
	}
	// Order is kept: the ticks compare as the times do.
	for i := 1; i < len(cases); i++ {
		a, b := cases[i-1].in, cases[i].in
		if a.Before(b) != (StampOf(a) < StampOf(b)) && StampOf(a) != StampOf(b) {
			t.Errorf("order of %v and %v not kept", a, b)
		}
	}
	// Beyond the range, the nearest tick: never within Edm.DateTime's.
	far := time.Date(1_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
	if s := StampOf(far); s != math.MaxInt64 || edmTimeOK(s.Time()) {
		t.Errorf("StampOf(year 1,000,000) = %d (%v)", s, s.Time())
	}
	past := time.Date(-1_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
	if s := StampOf(past); s != math.MinInt64 || edmTimeOK(s.Time()) {
		t.Errorf("StampOf(year -1,000,000) = %d (%v)", s, s.Time())
	}
}

// TestStampUnixAndEdm: a Stamp's unix() is its Time's Unix seconds and
// hundreds of nanoseconds, and edmOK is edmTimeOK of its Time, on random
// Stamps and those at and around the zero, the extremes and Edm.DateTime's
// bounds.
func TestStampUnixAndEdm(t *testing.T) {
	stamps := []Stamp{0, 1, -1, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	for _, b := range []Stamp{minEdmStamp, maxEdmStamp} {
		stamps = append(stamps, b-1, b, b+1)
	}
	r := rand.New(rand.NewPCG(12, 4))
	for range 100000 {
		stamps = append(stamps, Stamp(r.Int64()), Stamp(r.Int64N(int64(maxEdmStamp)*2)-int64(maxEdmStamp)/2))
	}
	for _, s := range stamps {
		tm := s.Time()
		if sec, n7 := s.unix(); sec != tm.Unix() || int(n7) != tm.Nanosecond()/100 {
			t.Fatalf("Stamp(%d).unix() = %d, %d; its Time %v: %d, %d", s, sec, n7, tm, tm.Unix(), tm.Nanosecond()/100)
		}
		if got, want := s.edmOK(), edmTimeOK(tm); got != want {
			t.Fatalf("Stamp(%d) (%v).edmOK() = %v, want %v", s, tm, got, want)
		}
	}
}

// TestEdmTimeOK: edmTimeOK decides as comparing the time with Edm.DateTime's
// bounds does, on times at and a nanosecond around the bounds, with and
// without a monotonic reading, in other locations, and at the extremes.
func TestEdmTimeOK(t *testing.T) {
	want := func(tm time.Time) bool { return tm.IsZero() || !tm.Before(minEdmTime) && tm.Before(maxEdmTime) }
	times := []time.Time{{}, time.Now(), time.Now().Round(0), time.Unix(math.MaxInt64, 0), time.Unix(math.MinInt64, 0),
		time.Unix(-1<<62, 999999999), time.Unix(1<<62, 0), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}
	for _, b := range []time.Time{minEdmTime, maxEdmTime} {
		for _, d := range []time.Duration{-time.Second, -1, 0, 1, time.Second} {
			times = append(times, b.Add(d), b.Add(d).In(time.FixedZone("x", -11*3600)))
		}
	}
	r := rand.New(rand.NewPCG(12, 5))
	for range 100000 {
		times = append(times, time.Unix(r.Int64N(1<<40)-1<<39, r.Int64N(1e9)))
	}
	for _, tm := range times {
		if got := edmTimeOK(tm); got != want(tm) {
			t.Fatalf("edmTimeOK(%v) = %v, want %v", tm, got, !got)
		}
	}
}

// TestMemEntityIsCompact: a memory store slot stays 88 bytes (blocks of
// them are most of a long scan's state), its pointers first, and gives
// back the entity it was made from: times to 100 ns in UTC, Data nil,
// empty or shared with its capacity cut.
func TestMemEntityIsCompact(t *testing.T) {
	if n := unsafe.Sizeof(memEntity{}); n != 88 {
		t.Errorf("unsafe.Sizeof(memEntity{}) = %d, want 88", n)
	}
	if off := unsafe.Offsetof(memEntity{}.n); off != 56 {
		t.Errorf("memEntity's words after its pointers start at %d, want 56", off)
	}
	est := time.FixedZone("EST", -5*3600)
	data := []byte("0123456789")
	for _, e := range []Entity{
		{RowKey: "r", Text: "t\x00é", ETag: `W/"m1"`, Count: -7, Data: data[2:5:8],
			Time: time.Date(2026, 12, 2, 11, 0, 0, 123456789, est), Expires: StampOf(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC))},
		{RowKey: "z", Data: []byte{}, Time: time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)},
		{RowKey: "nil"},
	} {
		m := compact(e)
		got := m.entity("p")
		want := e
		want.PartitionKey = "p"
		want.Time = normTime(e.Time)
		if got.Time != want.Time || got.Time.Location() != time.UTC && !got.Time.IsZero() {
			t.Errorf("%q: Time %v, want %v", e.RowKey, got.Time, want.Time)
		}
		if (got.Data == nil) != (e.Data == nil) || string(got.Data) != string(e.Data) || cap(got.Data) != len(e.Data) ||
			len(e.Data) > 0 && &got.Data[0] != &e.Data[0] {
			t.Errorf("%q: Data %q (cap %d, nil %v), want %q shared, capacity cut", e.RowKey, got.Data, cap(got.Data), got.Data == nil, e.Data)
		}
		got.Time, got.Data, want.Time, want.Data = time.Time{}, nil, time.Time{}, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("entity() = %+v, want %+v", got, want)
		}
	}
}

// TestStampAfterAgrees: StampAfter is StampOf(t.Add(d)) on times of the
// monotonic clock and not, in other zones, zero, at and past the ends
// of what a Stamp holds, and before year 1, with durations negative, of
// odd nanoseconds, and up to the largest.
func TestStampAfterAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	maxT := time.Unix(maxStampSecond+zeroUnix, 999_999_999)
	minT := time.Unix(minStampSecond+zeroUnix, 0)
	times := []time.Time{{}, time.Now(), time.Now().In(time.FixedZone("x", -7*3600)), time.Unix(0, 0), time.Unix(0, 1),
		time.Date(2026, 12, 3, 10, 30, 0, 999_999_999, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(0, 12, 31, 23, 59, 59, 999_999_900, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 50, time.UTC), maxT, maxT.Add(-time.Hour), maxT.Add(time.Second), minT, minT.Add(-time.Second),
		time.Unix(math.MaxInt64/2, 0), time.Unix(math.MinInt64/2, 0)}
	durs := []time.Duration{0, 1, 99, 100, 101, time.Second - 1, time.Second, time.Hour, 14 * 24 * time.Hour, -1, -time.Hour,
		math.MaxInt64, math.MinInt64, 365 * 24 * time.Hour * 290}
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(1<<40)-1<<39, r.Int64N(1e9)))
		durs = append(durs, time.Duration(r.Int64N(1<<50)))
	}
	for i, tm := range times {
		for j, d := range durs {
			if i > 20 && j > 20 && (i+j)%7 != 0 {
				continue
			}
			if got, want := StampAfter(tm, d), StampOf(tm.Add(d)); got != want {
				t.Fatalf("StampAfter(%v, %v) = %d, StampOf(Add) %d", tm, d, got, want)
			}
		}
	}
	// Past a Stamp's end by the duration alone.
	if got := StampAfter(maxT.Add(-time.Second), 2*time.Second); got != math.MaxInt64 {
		t.Errorf("past the end: %d", got)
	}
}
