package detect

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

var codecKey = state.Key{PartitionKey: "thr|r|w", RowKey: "g|w"}

// codecCases are documents of every kind: empty, typical and hostile
// (values of MaxKeptValue and far beyond, every hash a row may hold,
// extreme times and numbers).
func codecCases() (thr []thresholdData, term []termData, seq []seqData, trv []travelData) {
	t0 := time.Date(2026, 11, 20, 9, 30, 0, 123456789, time.UTC)
	huge := strings.Repeat("\x00é\xff|{", 40_000)
	var hashes []byte
	for i := range maxDistinct {
		hashes = binary.BigEndian.AppendUint64(hashes, event.FNV64a(strings.Repeat("v", i)))
	}
	thr = []thresholdData{
		{},
		{Mark: true, Seq: 1<<62 + 5, Index: -3, Sub: 7, First: t0, Last: t0.Add(time.Hour), Sum: 1.5e300},
		{Keys: []string{"", "k1", huge}, Hashes: hashes, Values: []string{"a", huge[:MaxKeptValue]}, First: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			Last: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Sum: -0.25},
		{First: time.Unix(-1<<40, 0).UTC(), Last: time.Unix(1<<40, 999).UTC()},
	}
	term = []termData{{}, {Last: t0, Key: "r1", IsNew: true}, {Key: huge}}
	snap := snapshotOf(&event.Event{Source: "activitylogs", Time: t0, Operation: huge, Actor: event.Actor{UPN: "u@x", IP: "203.0.113.9"},
		Geo:   event.Geo{City: "Paris", Country: "FR"},
		Extra: event.ExtraOf(map[string]string{"b": "2", "a": huge}), Raw: []byte(`{"id":"x","properties":{"n":1}}`)}, true)
	seq = []seqData{
		{},
		{Steps: stepsOf(map[int]seqStep{0: {Key: "e1", T: t0, Snap: encodeSnapshot(&snap), Keys: []string{"e1", "e2"}, N: 2},
			2: {Key: huge, T: t0.Add(time.Minute), Snap: encodeSnapshot(&snapshot{Source: "x"}), N: 1}}),
			W: seqWriters{{"", seqMark{}}, {"eventhub://a", seqMark{Seq: 9, Index: 2, Sub: 1}}}},
	}
	trv = []travelData{{}, {Points: []travelPoint{{Key: "p1", T: t0, Lat: -89.5, Lon: 179.25, IP: "::1", Place: "Paris, FR"}, {Key: huge, T: t0}}}}
	return
}

// TestThresholdEncodeAsWrite: the threshold encoder of one pass writes
// the bytes of the reference writer (stateEnc, counted then written), with
// room behind them, for typical and hostile documents.
func TestThresholdEncodeAsWrite(t *testing.T) {
	thr, _, _, _ := codecCases()
	thr = append(thr, thresholdData{Mark: true, Seq: -1, Index: 1 << 40, Sub: -(1 << 20), Keys: []string{"\x00\xff"}, Sum: math.SmallestNonzeroFloat64,
		First: time.Unix(0, 0).UTC(), Last: time.Unix(-1, 999_999_999).UTC()})
	// One event's row (its last time its first: appendDoc repeats the
	// bytes), with no times, and one instant in two zones.
	one := time.Unix(1795161540, 123_456_789).UTC()
	thr = append(thr, thresholdData{Mark: true, Seq: 1 << 33, Index: 7, Hashes: make([]byte, 8), Values: []string{"10.20.1.4"}, First: one, Last: one},
		thresholdData{Mark: true}, thresholdData{First: one, Last: one.In(time.FixedZone("x", 3600))})
	// Numbers of every varint length (putUvarint writes up to five bytes
	// as a word when eight are left, the others byte by byte), and rooms
	// around the eight bytes the word needs at the document's end.
	rnd := rand.New(rand.NewPCG(7, 8))
	num := func() int64 { return rnd.Int64() >> rnd.IntN(64) }
	for range 300 {
		d := thresholdData{Mark: rnd.IntN(4) > 0, Seq: num(), Index: int(num()), Sub: int(num()),
			First: time.Unix(num()>>20, rnd.Int64N(1e9)).UTC(), Last: time.Unix(num()>>20, rnd.Int64N(2)).UTC()}
		for range rnd.IntN(3) {
			d.Keys = append(d.Keys, strings.Repeat("k", rnd.IntN(200)))
		}
		d.Hashes = make([]byte, 8*rnd.IntN(40))
		for range rnd.IntN(3) {
			d.Values = append(d.Values, strings.Repeat("v", rnd.IntN(150)))
		}
		if rnd.IntN(2) == 0 {
			d.Sum = float64(num())
		}
		if rnd.IntN(5) == 0 {
			d.First = time.Time{}
		}
		thr = append(thr, d)
	}
	for i, d := range thr {
		c := stateEnc{counting: true}
		d.write(&c)
		e := c.writer()
		d.write(&e)
		held := thresholdDocs.take()
		for _, room := range []int{0, 1, 5, 7, 8, 9, 300} {
			got := d.encodeRoom(room)
			if !bytes.Equal(got, e.b) || cap(got) != len(e.b)+room {
				t.Errorf("threshold %d room %d: %d bytes (cap %d), want %d bytes (cap %d)", i, room, len(got), cap(got), len(e.b), len(e.b)+room)
			}
			// Cut from a chunk a call holds (a new row), or its own (found).
			for _, found := range []bool{false, true} {
				got := d.encodeHeld(found, held, room)
				if !bytes.Equal(got, e.b) || cap(got) != len(e.b)+room {
					t.Errorf("threshold %d room %d held (found %v): %d bytes (cap %d), want %d bytes (cap %d)", i, room, found, len(got), cap(got), len(e.b), len(e.b)+room)
				}
			}
		}
		thresholdDocs.give(held)
	}
}

// TestTermEncodeAsWrite: the new-term encoder of one pass writes the
// bytes of the reference writer (stateEnc, counted then written), with
// room behind them, cut from the kind's chunks or not.
func TestTermEncodeAsWrite(t *testing.T) {
	_, term, _, _ := codecCases()
	term = append(term, termData{Last: time.Unix(-1, 999_999_999).UTC(), Key: strings.Repeat("k", 127), IsNew: true},
		termData{Last: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Key: strings.Repeat("\xff", 128)},
		termData{Last: time.Unix(0, 0).UTC()})
	for i, d := range term {
		encodesAsWrite(t, fmt.Sprintf("new-term %d", i), d.write, d.encodeRow)
	}
}

// TestSeqEncodeAsWrite: the sequence encoder of one pass writes the bytes
// of the reference writer (seqData.write, counted then written), with
// room behind them, for typical and hostile rows (huge keys and
// snapshots, negative and huge marks, absent steps).
func TestSeqEncodeAsWrite(t *testing.T) {
	_, _, seq, _ := codecCases()
	t0 := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	many := make([]string, maxStepKeys)
	for i := range many {
		many[i] = strings.Repeat("k", i*3)
	}
	seq = append(seq,
		seqData{Steps: stepsOf(map[int]seqStep{1: {Key: "x", T: time.Unix(-1, 999_999_999).UTC(), Snap: make([]byte, 20<<10), Keys: many, N: -5}}),
			W: seqWriters{{strings.Repeat("w", 300), seqMark{Seq: -1 << 62, Index: 1 << 40, Sub: -3}}}},
		seqData{Steps: stepsOf(map[int]seqStep{0: {T: t0, N: 1 << 40}, maxSeqStep - 1: {Key: "\x00|\xff", N: 1}})},
		seqData{W: seqWriters{{"a", seqMark{}}, {"b", seqMark{Seq: 1}}}})
	for i, d := range seq {
		encodesAsWrite(t, fmt.Sprintf("sequence %d", i), d.write, d.encodeRow)
	}
}

// encodesAsWrite: encodeRow writes what write writes through the
// reference writer (counted, then written), with room behind it, for a
// row found or not.
func encodesAsWrite(t *testing.T, name string, write func(*stateEnc), encodeRow func(found bool, room int) []byte) {
	t.Helper()
	c := stateEnc{counting: true}
	write(&c)
	e := c.writer()
	write(&e)
	for _, room := range []int{0, 7, 300} {
		for _, found := range []bool{true, false} {
			got := encodeRow(found, room)
			if !bytes.Equal(got, e.b) || cap(got) != len(e.b)+room {
				t.Errorf("%s room %d found %v: %d bytes (cap %d), want %d bytes (cap %d)", name, room, found, len(got), cap(got), len(e.b), len(e.b)+room)
			}
		}
	}
}

func TestStateCodecRoundTrip(t *testing.T) {
	thr, term, seq, trv := codecCases()
	entity := func(data []byte) state.Entity {
		return state.Entity{PartitionKey: codecKey.PartitionKey, RowKey: codecKey.RowKey, Data: data}
	}
	for i, want := range thr {
		data := want.encode()
		var got thresholdData
		if err := loadThreshold("threshold", codecKey, entity(data), true, &got); err != nil {
			t.Fatalf("threshold %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("threshold %d: got %+v\nwant %+v", i, got, want)
		}
	}
	for i, want := range term {
		var got termData
		if err := loadTerm(codecKey, entity(want.encode()), true, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("new-term %d: got %+v, %v; want %+v", i, got, err, want)
		}
	}
	for i, want := range seq {
		var got seqData
		if err := loadSeq(codecKey, want.encode(), &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("sequence %d: got %+v, %v; want %+v", i, got, err, want)
		}
		for s, st := range want.Steps {
			if !st.ok {
				continue
			}
			snap, err := decodeSnapshot(st.Snap)
			if err != nil {
				t.Fatalf("sequence %d step %d: %v", i, s, err)
			}
			if again := encodeSnapshot(&snap); string(again) != string(st.Snap) {
				t.Errorf("sequence %d step %d: snapshot changed on a round trip", i, s)
			}
		}
	}
	for i, want := range trv {
		var got travelData
		if err := loadTravel(codecKey, entity(want.encode()), true, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("travel %d: got %+v, %v; want %+v", i, got, err, want)
		}
	}
	// The snapshot keeps every field.
	_, _, seq, _ = codecCases()
	snap, err := decodeSnapshot(seq[1].Steps.at(0).Snap)
	if err != nil {
		t.Fatal(err)
	}
	ev := snap.event()
	if ev.Source != "activitylogs" || ev.Actor.IP != "203.0.113.9" || ev.Geo.City != "Paris" || ev.Extra.Value("b") != "2" ||
		len(ev.Extra.Value("a")) != MaxKeptValue || string(ev.Raw) != `{"id":"x","properties":{"n":1}}` {
		t.Errorf("snapshot event %+v", ev)
	}
}

// TestStateCodecLegacyJSON: documents as the JSON an earlier version
// wrote (literal, as found in deployed tables) still decode.
func TestStateCodecLegacyJSON(t *testing.T) {
	entity := func(doc string) state.Entity {
		return state.Entity{PartitionKey: codecKey.PartitionKey, RowKey: codecKey.RowKey, Data: []byte(doc)}
	}
	var thr thresholdData
	if err := loadThreshold("threshold", codecKey, entity(`{"m":true,"q":12,"i":3,"h":"AAAAAAAAAAEAAAAAAAAAAg==","v":["alice","bob"],"s":2.5,"f":"2026-11-20T09:30:00Z","l":"2026-11-20T09:31:00.5Z"}`), true, &thr); err != nil {
		t.Fatal(err)
	}
	if !thr.Mark || thr.Seq != 12 || thr.Index != 3 || len(thr.Hashes) != 16 || thr.Hashes[15] != 2 || thr.Values[1] != "bob" || thr.Sum != 2.5 ||
		!thr.Last.Equal(time.Date(2026, 11, 20, 9, 31, 0, 5e8, time.UTC)) {
		t.Errorf("threshold %+v", thr)
	}
	var term termData
	if err := loadTerm(codecKey, entity(`{"l":"2026-11-20T09:30:00Z","k":"r1","n":true}`), true, &term); err != nil || term.Key != "r1" || !term.IsNew {
		t.Errorf("new-term %+v, %v", term, err)
	}
	var seq seqData
	doc := `{"s":{"0":{"k":"e1","t":"2026-11-20T09:30:00Z","e":{"src":"activitylogs","t":"2026-11-20T09:30:00Z","op":"MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE","actor":{},"geo":{},"raw":{"id":"x"}},"ks":["e1"],"n":1}},"w":{"eventhub://a":{"q":4,"i":1}}}`
	if err := loadSeq(codecKey, []byte(doc), &seq); err != nil {
		t.Fatal(err)
	}
	snap, err := decodeSnapshot(seq.Steps.at(0).Snap)
	if err != nil || snap.Source != "activitylogs" || string(snap.Raw) != `{"id":"x"}` || seqWriterMark(seq, "eventhub://a").Seq != 4 || seq.Steps.at(0).N != 1 {
		t.Errorf("sequence %+v, snapshot %+v, %v", seq, snap, err)
	}
	// A JSON row read, changed and written again is binary, and reads the same.
	var again seqData
	if err := loadSeq(codecKey, seq.encode(), &again); err != nil || !reflect.DeepEqual(again, seq) {
		t.Errorf("sequence from JSON, written again: %+v, %v", again, err)
	}
	var trv travelData
	if err := loadTravel(codecKey, entity(`{"p":[{"k":"p1","t":"2026-11-20T09:30:00Z","la":48.8,"lo":2.3,"pl":"Paris, FR"}]}`), true, &trv); err != nil ||
		len(trv.Points) != 1 || trv.Points[0].Lat != 48.8 || trv.Points[0].Place != "Paris, FR" {
		t.Errorf("travel %+v, %v", trv, err)
	}
	// Broken JSON is an error naming the kind and row, as before.
	if err := loadThreshold("threshold", codecKey, entity(`{"m":tru`), true, &thr); err == nil || !strings.Contains(err.Error(), "threshold state "+codecKey.String()) {
		t.Errorf("broken JSON: %v", err)
	}
}

// TestStateCodecCorrupt: a document cut short anywhere, with an unknown
// version byte or with random bytes flipped is an error (errStateCorrupt
// for the binary ones), never a panic, and allocates nothing of the
// sizes it claims.
func TestStateCodecCorrupt(t *testing.T) {
	thr, term, seq, trv := codecCases()
	entity := func(data []byte) state.Entity { return state.Entity{Data: data} }
	type decoder func(data []byte) error
	var docs [][]byte
	var decs []decoder
	add := func(data []byte, dec decoder) { docs, decs = append(docs, data), append(decs, dec) }
	for _, d := range thr[1:] {
		add(d.encode(), func(b []byte) error {
			var v thresholdData
			return loadThreshold("threshold", codecKey, entity(b), true, &v)
		})
	}
	for _, d := range term[1:] {
		add(d.encode(), func(b []byte) error { var v termData; return loadTerm(codecKey, entity(b), true, &v) })
	}
	for _, d := range seq[1:] {
		add(d.encode(), func(b []byte) error { var v seqData; return loadSeq(codecKey, b, &v) })
		add(d.Steps.at(0).Snap, func(b []byte) error { _, err := decodeSnapshot(b); return err })
	}
	for _, d := range trv[1:] {
		add(d.encode(), func(b []byte) error { var v travelData; return loadTravel(codecKey, entity(b), true, &v) })
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, doc := range docs {
		dec := decs[i]
		if err := dec(doc); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		// Every prefix: cut short.
		step := max(1, len(doc)/2000)
		for n := 1; n < len(doc); n += step {
			if err := dec(doc[:n]); !errors.Is(err, errStateCorrupt) {
				t.Fatalf("document %d cut to %d of %d bytes: %v", i, n, len(doc), err)
			}
		}
		// Trailing bytes and unknown versions.
		if err := dec(append(append([]byte(nil), doc...), 0)); !errors.Is(err, errStateCorrupt) {
			t.Errorf("document %d with a trailing byte: %v", i, err)
		}
		for _, v := range []byte{0, 0x20, 0x7f, 0xff, '['} {
			bad := append([]byte{v}, doc[1:]...)
			if err := dec(bad); !errors.Is(err, errStateCorrupt) {
				t.Errorf("document %d with version byte 0x%02x: %v", i, v, err)
			}
		}
		// A later release's form is not taken for a corrupt document.
		for _, v := range []byte{stateLaterMin, 0x07, stateLaterMax} {
			bad := append([]byte{v}, doc[1:]...)
			if err := dec(bad); !errors.Is(err, errStateLater) || errors.Is(err, errStateCorrupt) {
				t.Errorf("document %d with version byte 0x%02x: %v", i, v, err)
			}
		}
		// Random damage: any outcome but a panic (the checks above bound
		// the lengths it may claim).
		for range 300 {
			bad := append([]byte(nil), doc...)
			for range 1 + rng.IntN(4) {
				bad[1+rng.IntN(len(bad)-1)] = byte(rng.Uint32())
			}
			_ = dec(bad)
		}
	}
	// A count or length far past the end allocates nothing and fails.
	huge := []byte{stateBinary, 0}
	huge = binary.AppendUvarint(huge, 1<<60) // keys
	var v thresholdData
	if err := loadThreshold("threshold", codecKey, entity(huge), true, &v); !errors.Is(err, errStateCorrupt) {
		t.Errorf("a huge count: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		_ = loadThreshold("threshold", codecKey, entity(huge), true, &v)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("a huge count allocated %d bytes", n)
	}
}

// TestStateCodecExactSize: a document is one allocation of its exact size
// (the count agrees with what is written).
func TestStateCodecExactSize(t *testing.T) {
	thr, term, seq, trv := codecCases()
	var docs [][]byte
	for _, d := range thr {
		docs = append(docs, d.encode())
	}
	for _, d := range term {
		docs = append(docs, d.encode())
	}
	for _, d := range seq {
		docs = append(docs, d.encode())
		for _, st := range d.Steps {
			if !st.ok {
				continue
			}
			docs = append(docs, st.Snap)
		}
	}
	for _, d := range trv {
		docs = append(docs, d.encode())
	}
	for i, d := range docs {
		if len(d) != cap(d) {
			t.Errorf("document %d: %d bytes in %d", i, len(d), cap(d))
		}
	}
}

// The binary documents are smaller than the JSON ones they replace.
func TestStateCodecSmaller(t *testing.T) {
	thr, _, seq, _ := codecCases()
	for i, d := range []thresholdData{thr[1], thr[2]} {
		j, _ := json.Marshal(d)
		if b := d.encode(); len(b) >= len(j) {
			t.Errorf("threshold %d: %d bytes, JSON %d", i, len(b), len(j))
		}
	}
	legacy := seqData{W: seq[1].W}
	for i, st := range seq[1].Steps {
		if !st.ok {
			continue
		}
		snap, err := decodeSnapshot(st.Snap)
		if err != nil {
			t.Fatal(err)
		}
		st.Snap, _ = json.Marshal(snap)
		legacy.Steps.put(i, st)
	}
	j, err := json.Marshal(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if b := seq[1].encode(); len(b) >= len(j) {
		t.Errorf("sequence: %d bytes, JSON %d", len(b), len(j))
	}
}

// snapshotOf is the reference for encodeEventSnapshot: it keeps ev's normalised fields, each Bounded, at most
// maxSnapshotExtra of its Extra values (by name order), and its raw record
// when it is at most maxSnapshotRaw and withRaw: a snapshot is at most
// about 20 KiB of raw record and 14 KiB of fields, whatever the record holds.
func snapshotOf(ev *event.Event, withRaw bool) snapshot {
	a := ev.Actor
	s := snapshot{
		Source: Bounded(ev.Source), Category: Bounded(ev.Category), Time: ev.Time.UTC(), Operation: Bounded(ev.Operation),
		Result: Bounded(string(ev.Result)), ResultCode: Bounded(ev.ResultCode), Severity: Bounded(ev.Severity),
		CorrelationID: Bounded(ev.CorrelationID), TenantID: Bounded(ev.TenantID), RecordID: Bounded(ev.RecordID),
		Actor: event.Actor{UPN: Bounded(a.UPN), Name: Bounded(a.Name), ObjectID: Bounded(a.ObjectID), AppID: Bounded(a.AppID),
			AppName: Bounded(a.AppName), Type: Bounded(a.Type), IP: Bounded(a.IP), UserAgent: Bounded(a.UserAgent)},
		Target: Bounded(ev.Target), ResourceID: Bounded(ev.Resource.ID),
		Geo: event.Geo{Region: Bounded(ev.Geo.Region), Country: Bounded(ev.Geo.Country), City: Bounded(ev.Geo.City)},
	}
	if ev.Extra.Len() > 0 {
		names := make([]string, 0, ev.Extra.Len())
		for n := range ev.Extra.All() {
			names = append(names, n)
		}
		slices.Sort(names)
		s.Extra = make(map[string]string, min(len(names), maxSnapshotExtra))
		for _, n := range names[:min(len(names), maxSnapshotExtra)] {
			s.Extra[Bounded(n)] = Bounded(ev.Extra.Value(n))
		}
	}
	if withRaw && len(ev.Raw) <= maxSnapshotRaw && json.Valid(ev.Raw) {
		s.Raw = json.RawMessage(ev.Raw)
	}
	return s
}

// TestEventSnapshot: a snapshot written straight from an event is the
// reference snapshot's encoding, byte for byte: long values, more Extra
// values than are kept, names alike once Bounded, raw records kept,
// too large or invalid.
func TestEventSnapshot(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 9, 30, 0, 5, time.FixedZone("x", 3600))
	long := strings.Repeat("é", 300)
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprintf("k%02d", 49-i)] = fmt.Sprint(i)
	}
	alike := map[string]string{long + "a": "1", long + "b": "2", "z": long, long[:150] + "\xf0\x9f\x98\x80": "3"}
	evs := []*event.Event{
		{},
		{Source: "activitylogs", Time: t0, Operation: long, Result: event.ResultSuccess, Actor: event.Actor{UPN: "u@x", IP: "203.0.113.9", UserAgent: long},
			Geo: event.Geo{City: "Paris", Country: "FR", Region: "westeurope"}, Resource: event.ParseResourceID("/subscriptions/s/resourceGroups/g"),
			Raw: []byte(`{"id":"x"}`), Extra: event.ExtraOf(map[string]string{"b": "2", "a": long})},
		{Time: t0, Extra: event.ExtraOf(many), Raw: []byte(`{"broken":`)},
		{Time: t0, Extra: event.ExtraOf(alike), Raw: []byte(`{"big":"` + strings.Repeat("x", maxSnapshotRaw) + `"}`)},
	}
	// Extra values set out of name order, as sources set them: a few, and
	// more than are kept.
	unsorted, crowded := &event.Event{Time: t0}, &event.Event{Time: t0}
	for _, n := range []string{"zeta", "alpha", "mid", "beta", long + "x", "a"} {
		unsorted.Set(n, n+"-value")
	}
	for i := range 40 {
		crowded.Set(fmt.Sprintf("n%02d", (i*7)%40), fmt.Sprint(i))
	}
	// Control bytes, a huge value (bounded), a value just at the bound
	// and one just past the one-byte length prefix.
	hostile := &event.Event{Time: time.Unix(-62135596800, 999999999), Source: "\x00\x01\x7f\n\"", Actor: event.Actor{UPN: strings.Repeat("ü\x00", 1<<19), IP: strings.Repeat("9", MaxKeptValue)},
		Target: strings.Repeat("t", 0x80), Raw: []byte(`{"c":"\u0000\n","k":"` + strings.Repeat("é", 100) + `"}`)}
	hostile.Set("\x00ctl", "\x1b[31m")
	hostile.Set(strings.Repeat("n", 0x7f), strings.Repeat("v", 0x80))
	evs = append(evs, unsorted, crowded, hostile)
	// Invalid UTF-8 in a string is valid JSON (json.Valid): kept.
	evs = append(evs, &event.Event{Time: t0, Raw: []byte("{\"u\":\"\xff\xfe\xc3\",\"e\":\"\\ud800\"} \n")})
	// Records a source's strict decoder vouched for (Event.RawValid, set
	// only on what json.Valid accepts): the same snapshot, kept unchecked.
	for _, ev := range evs {
		if len(ev.Raw) > 0 && json.Valid(ev.Raw) {
			vouched := *ev
			vouched.MarkRawValid()
			if !vouched.RawValid() {
				t.Fatal("MarkRawValid did not mark")
			}
			evs = append(evs, &vouched)
		}
	}
	var arena snapArena
	var taken, wants [][]byte
	for i, ev := range evs {
		for _, withRaw := range []bool{true, false} {
			ref := snapshotOf(ev, withRaw)
			want := encodeSnapshot(&ref)
			if got := encodeEventSnapshot(ev, withRaw, nil); string(got) != string(want) {
				t.Errorf("event %d (raw %v): %q\nwant %q", i, withRaw, got, want)
			}
			// From an arena: the same bytes, exactly their size, and
			// those handed out earlier unchanged.
			for range 3 {
				got := encodeEventSnapshot(ev, withRaw, &arena)
				if string(got) != string(want) || len(got) != cap(got) {
					t.Errorf("event %d (raw %v) from an arena: %d bytes in %d, %q\nwant %q", i, withRaw, len(got), cap(got), got, want)
				}
				taken = append(taken, got)
				wants = append(wants, want)
			}
		}
	}
	for i := range taken {
		if string(taken[i]) != string(wants[i]) {
			t.Errorf("arena snapshot %d changed by a later one", i)
		}
	}
}

func seqWriterMark(d seqData, name string) seqMark {
	m, _ := d.W.get(name)
	return m
}

// stepsOf is a sequence's steps from a map of step number to step.
func stepsOf(m map[int]seqStep) seqSteps {
	var ss seqSteps
	for i, st := range m {
		ss.put(i, st)
	}
	return ss
}

// TestSeqDocumentPinned: sequence documents as the binary codec wrote them
// when a group's steps were a map (bytes kept literally) read as the same
// steps and writers, and are written again byte for byte.
func TestSeqDocumentPinned(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 9, 30, 0, 123456789, time.UTC)
	t1 := t0.Add(time.Minute)
	cases := []struct {
		doc  string // base64
		want seqData
	}{
		{"AQAA", seqData{}},
		{"AQIAAmUxlprvOrDMgLANQAEClprvOrDMgLANDGFjdGl2aXR5bG9ncwAIb3Avd3JpdGUAAAAAAAAAAAAAAAAAAAAAAAAACnsiaWQiOiJ4In0CAmUxAmUyBAICZTmWmu86qM2AsA00AQCWmu86qM2AsA0MYWN0aXZpdHlsb2dzAAAHU3VjY2VzcwAAAAAAAAAAAAAAAAAAAAAAAAECZTkCAgxldmVudGh1YjovL2ESBAIIZmlsZTovL2IGAAA=",
			seqData{Steps: stepsOf(map[int]seqStep{
				0: {Key: "e1", T: t0, Snap: encodeSnapshot(&snapshot{Source: "activitylogs", Time: t0, Operation: "op/write", Raw: []byte(`{"id":"x"}`)}), Keys: []string{"e1", "e2"}, N: 2},
				2: {Key: "e9", T: t1, Snap: encodeSnapshot(&snapshot{Source: "activitylogs", Time: t1, Result: "Success"}), Keys: []string{"e9"}, N: 1},
			}), W: seqWriters{{"eventhub://a", seqMark{Seq: 9, Index: 2, Sub: 1}}, {"file://b", seqMark{Seq: 3}}}}},
	}
	for i, c := range cases {
		doc, err := base64.StdEncoding.DecodeString(c.doc)
		if err != nil {
			t.Fatal(err)
		}
		// Read into a list of a rule's three steps, as Matches does.
		got := seqData{Steps: make(seqSteps, 3)}
		if err := loadSeq(codecKey, doc, &got); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if got.Steps.count() != c.want.Steps.count() || !reflect.DeepEqual(got.W, c.want.W) {
			t.Errorf("document %d: %d steps, writers %+v; want %d, %+v", i, got.Steps.count(), got.W, c.want.Steps.count(), c.want.W)
		}
		for s := range 3 {
			g, gok := got.Steps.get(s)
			w, wok := c.want.Steps.get(s)
			if gok != wok || !reflect.DeepEqual(g, w) {
				t.Errorf("document %d step %d: %+v (%v), want %+v (%v)", i, s, g, gok, w, wok)
			}
		}
		if again := got.encode(); string(again) != string(doc) {
			t.Errorf("document %d written again: %q\nwant %q", i, again, doc)
		}
		// Read as Matches does, from a call's slabs, twice: the same.
		sc := &seqScratch{nsteps: 3}
		for range 2 {
			in := seqData{Steps: sc.steps()}
			if err := loadSeqIn(codecKey, doc, &in, sc); err != nil || !reflect.DeepEqual(in, got) {
				t.Errorf("document %d from slabs: %+v, %v\nwant %+v", i, in, err, got)
			}
		}
		if enc := c.want.encode(); string(enc) != string(doc) {
			t.Errorf("document %d encoded: %q\nwant %q", i, enc, doc)
		}
	}
	// A step absent from the middle stays absent, and an emptied list
	// writes the empty document.
	d := cases[1].want
	if _, ok := d.Steps.get(1); ok {
		t.Error("step 1 present")
	}
	d.Steps = slices.Clone(d.Steps)
	d.Steps.reset()
	d.W = nil
	if got := base64.StdEncoding.EncodeToString(d.encode()); got != "AQAA" {
		t.Errorf("emptied: %s", got)
	}
}

// New rows' documents are cut from shared chunks (docChunks): each must be
// its own, its capacity its exact size with the room asked for, so that
// packing a row key and Text behind one (state.Packed), or an append to
// one, never reaches another, and a document stays as it was written
// while later ones are cut from the same chunk.
func TestStateDocumentsChunkedApart(t *testing.T) {
	thr, term, seq, trv := codecCases()
	type written struct {
		e    state.Entity
		want []byte
	}
	var all []written
	for round := range 3 {
		var docs [][]byte
		held := thresholdDocs.take() // a threshold call's chunk, beside the shared ones
		for _, d := range thr {
			docs = append(docs, d.encodeRow(false, 12), d.encodeHeld(false, held, 12))
		}
		thresholdDocs.give(held)
		for _, d := range term {
			docs = append(docs, d.encodeRow(false, 12))
		}
		for _, d := range seq {
			docs = append(docs, d.encodeRow(false, 12))
		}
		for _, d := range trv {
			docs = append(docs, d.encodeRow(false, 12))
		}
		for i, d := range docs {
			if cap(d) != len(d)+12 {
				t.Fatalf("round %d document %d: %d bytes in %d, want room for 12 more", round, i, len(d), cap(d))
			}
			rk := fmt.Sprintf("row-%d-%03d", round, i) // 10 bytes
			e := state.Packed(state.Entity{PartitionKey: "p", RowKey: rk, Text: "tx", Data: d})
			if e.RowKey != rk || e.Text != "tx" || unsafe.StringData(e.RowKey) == unsafe.StringData(rk) {
				t.Fatalf("round %d document %d: not packed: %q %q", round, i, e.RowKey, e.Text)
			}
			all = append(all, written{e, slices.Clone(d)})
			_ = append(d[:len(d):len(d)], 0xEE, 0xEE) // must not reach a neighbour
		}
	}
	for i, w := range all {
		if !slices.Equal(w.e.Data, w.want) || w.e.RowKey[:4] != "row-" || w.e.Text != "tx" {
			t.Fatalf("document %d changed after others were cut: %x (want %x), row key %q, text %q", i, w.e.Data, w.want, w.e.RowKey, w.e.Text)
		}
	}
	// A row found (rewritten) gets a document of its own, outside the chunks.
	d := thr[1].encodeRow(true, 0)
	if len(d) != cap(d) {
		t.Fatalf("a rewritten row's document: %d bytes in %d", len(d), cap(d))
	}
}
