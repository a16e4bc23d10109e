package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// damageRows overwrites the document of every row the kinds wrote through
// rec with bytes no release writes (an unknown version byte), keeping each
// row's other columns: a damaged row.
func damageRows(t *testing.T, rec *recorder) int {
	return len(rewriteDocs(t, rec, []byte{0xee, 1, 2, 3}))
}

// rewriteDocs sets the document of every row the kinds wrote through rec
// to doc, and returns their keys.
func rewriteDocs(t *testing.T, rec *recorder, doc []byte) []state.Key {
	t.Helper()
	ctx := context.Background()
	seen := map[state.Key]bool{}
	var keys []state.Key
	for _, op := range rec.ops {
		if k := op.Entity.Key(); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	got, err := rec.Store.Get(ctx, StateTable, keys)
	if err != nil {
		t.Fatal(err)
	}
	var ops []state.Op
	for _, e := range got {
		e.Data = doc
		ops = append(ops, state.Op{Kind: state.Replace, Entity: e})
	}
	if err := rec.Store.Apply(ctx, StateTable, ops); err != nil {
		t.Fatal(err)
	}
	rec.ops = rec.ops[:0]
	return keys
}

// unreadableEval is eval with a logger in the context: it returns the
// matches and what was logged.
func unreadableEval(t *testing.T, e *Engine, evs ...*event.Event) ([]Match, string) {
	t.Helper()
	var log bytes.Buffer
	ctx := zerolog.New(&log).WithContext(context.Background())
	ms, err := e.Evaluate(ctx, evs)
	if err != nil {
		t.Fatalf("a batch over unreadable state rows failed: %v", err)
	}
	return ms, log.String()
}

func wantUnreadableLogged(t *testing.T, log, rule string) {
	t.Helper()
	if !strings.Contains(log, "did not decode") || !strings.Contains(log, rule) || !strings.Contains(log, `"level":"error"`) {
		t.Errorf("the unreadable row was not reported with its rule:\n%s", log)
	}
}

// TestUnreadableStateRows: a state row whose document does not decode
// (damaged, or written by another release) costs the state it held, never
// the batch: every stateful kind evaluates it as holding nothing, logs it
// with its rule, rewrites it, and goes on raising what the rest of the
// state says. Before, the batch failed, and so did every redelivery and
// every later batch touching the row until it expired.
func TestUnreadableStateRows(t *testing.T) {
	fail := func(id, upn string, at time.Time) *event.Event { return signIn(id, upn, "1.1.1.1", "50126", "", at) }

	t.Run("threshold", func(t *testing.T) {
		r := kindRule(t, 60, countRule)
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		eval(t, e, fail("1", "u@x", t0), fail("2", "u@x", t0.Add(time.Second)))
		if damageRows(t, rec) == 0 {
			t.Fatal("no row written")
		}
		// The count is a column of its own: 2 read back, 1 added.
		ms, log := unreadableEval(t, e, fail("3", "u@x", t0.Add(2*time.Second)))
		wantUnreadableLogged(t, log, r.ID)
		if len(ms) != 1 || ms[0].Count != 3 {
			t.Fatalf("matches %+v, want one of 3", ms)
		}
		// The row was rewritten: read again without a word.
		if _, log := unreadableEval(t, e, fail("4", "u@x", t0.Add(3*time.Second))); log != "" {
			t.Errorf("the rewritten row is still unreadable:\n%s", log)
		}
	})

	t.Run("threshold/another writer's row", func(t *testing.T) {
		r := kindRule(t, 61, countRule)
		rec := &recorder{Store: state.NewMemory()}
		seq := int64(0)
		at := func(ev *event.Event, writer string) *event.Event {
			seq++
			ev.Pos = event.Position{Writer: writer, Seq: seq}
			return ev
		}
		eval(t, newKindEngine(t, r, rec), at(fail("1", "u@x", t0), "eventhub://ns/hub/0"), at(fail("2", "u@x", t0.Add(time.Second)), "eventhub://ns/hub/0"))
		damageRows(t, rec)
		ms, log := unreadableEval(t, newKindEngine(t, r, rec), at(fail("3", "u@x", t0.Add(2*time.Second)), "eventhub://ns/hub/1"))
		wantUnreadableLogged(t, log, r.ID)
		if len(ms) != 1 || ms[0].Count != 3 {
			t.Fatalf("matches %+v, want one of 3 (the other writer's count kept)", ms)
		}
	})

	t.Run("threshold/a later release's row", func(t *testing.T) {
		// A row in a form kept for later releases fails the batch (the
		// host redelivers it, to an instance that reads it): this release
		// does not overwrite it.
		r := kindRule(t, 67, countRule)
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		eval(t, e, fail("1", "u@x", t0))
		later := []byte{stateLaterMin, 1, 2, 3}
		keys := rewriteDocs(t, rec, later)
		if len(keys) == 0 {
			t.Fatal("no row written")
		}
		_, err := e.Evaluate(context.Background(), []*event.Event{fail("2", "u@x", t0.Add(time.Second))})
		if !errors.Is(err, errStateLater) {
			t.Fatalf("a later release's row: %v", err)
		}
		got, err := rec.Store.Get(context.Background(), StateTable, keys)
		if err != nil || len(got) != len(keys) {
			t.Fatalf("%d of %d rows read: %v", len(got), len(keys), err)
		}
		for k, e := range got {
			if !bytes.Equal(e.Data, later) {
				t.Errorf("row %s was rewritten: %x", k, e.Data)
			}
		}
	})

	t.Run("spike", func(t *testing.T) {
		r := kindRule(t, 62, "correlation:\n  type: spike\n  group-by: [actor.upn]\n  timespan: 1h\n  baseline: 4\n  min_history: 2\n  factor: 3\n  condition: {gte: 4}\n")
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		eval(t, e, fail("1", "u@x", t0), fail("2", "u@x", t0.Add(time.Second)))
		damageRows(t, rec)
		// The same hour's row: decoded to be added to.
		_, log := unreadableEval(t, e, fail("3", "u@x", t0.Add(2*time.Second)))
		wantUnreadableLogged(t, log, r.ID)
		// Its count (a column) was kept: three quiet hours, then a burst
		// of 4 against a mean of 0.75 raises.
		var burst []*event.Event
		for i := range 4 {
			burst = append(burst, fail(fmt.Sprint("b", i), "u@x", t0.Add(4*time.Hour+time.Duration(i)*time.Second)))
		}
		if ms, log := unreadableEval(t, e, burst...); len(ms) != 1 || log != "" {
			t.Fatalf("after the damaged row: %+v\n%s", ms, log)
		}
	})

	t.Run("new_term", func(t *testing.T) {
		r := kindRule(t, 63, "correlation:\n  type: new_term\n  group-by: [actor.upn]\n  fields: [geo.country]\n  learning: 0s\n  lookback: 30d\n")
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		if ms := eval(t, e, signIn("1", "u@x", "", "0", "US", t0)); len(ms) != 1 {
			t.Fatalf("first country: %+v", ms)
		}
		damageRows(t, rec)
		// A term whose row is unreadable was seen: not new again.
		ms, log := unreadableEval(t, e, signIn("2", "u@x", "", "0", "US", t0.Add(time.Hour)))
		wantUnreadableLogged(t, log, r.ID)
		if len(ms) != 0 {
			t.Fatalf("a known term raised again: %+v", ms)
		}
		// And the kind goes on: a country never seen is new.
		if ms, _ := unreadableEval(t, e, signIn("3", "u@x", "", "0", "DE", t0.Add(2*time.Hour))); len(ms) != 1 || ms[0].Values[0] != "DE" {
			t.Fatalf("a new country after a damaged row: %+v", ms)
		}
	})

	t.Run("sequence", func(t *testing.T) {
		r := kindRule(t, 64, "correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [failed, ok]\n  condition: {gte: 2}\n")
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		eval(t, e, fail("1", "a@x", t0), fail("2", "b@x", t0.Add(time.Minute)))
		damageRows(t, rec)
		// The failures it held are lost: no match, and no failure.
		ms, log := unreadableEval(t, e, signIn("3", "a@x", "1.1.1.1", "0", "", t0.Add(2*time.Minute)))
		wantUnreadableLogged(t, log, r.ID)
		if len(ms) != 0 {
			t.Fatalf("matches %+v from lost steps", ms)
		}
		// The rewritten row counts again.
		eval(t, e, fail("4", "a@x", t0.Add(3*time.Minute)), fail("5", "b@x", t0.Add(4*time.Minute)))
		if ms := eval(t, e, signIn("6", "a@x", "1.1.1.1", "0", "", t0.Add(5*time.Minute))); len(ms) != 1 {
			t.Fatalf("after the row was rewritten: %+v", ms)
		}
	})

	t.Run("sequence/a step's snapshot", func(t *testing.T) {
		r := kindRule(t, 65, "correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [failed, ok]\n  condition: {gte: 2}\n")
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		eval(t, e, fail("1", "a@x", t0), fail("2", "b@x", t0.Add(time.Minute)))
		// The row decodes; the first step's snapshot (its evidence) does not.
		ctx := context.Background()
		var n int
		for _, op := range rec.ops {
			got, err := rec.Store.Get(ctx, StateTable, []state.Key{op.Entity.Key()})
			if err != nil {
				t.Fatal(err)
			}
			cur := got[op.Entity.Key()]
			var d seqData
			if err := loadSeq(cur.Key(), cur.Data, &d); err != nil || d.Steps.count() == 0 {
				t.Fatalf("row %s: %v, %d steps", cur.Key(), err, d.Steps.count())
			}
			st := d.Steps.at(0)
			st.Snap = []byte{0xee, 9}
			d.Steps.put(0, st)
			cur.Data = d.encode()
			if err := rec.Store.Apply(ctx, StateTable, []state.Op{{Kind: state.Replace, Entity: cur}}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n == 0 {
			t.Fatal("no row written")
		}
		ms, log := unreadableEval(t, e, signIn("3", "a@x", "1.1.1.1", "0", "", t0.Add(2*time.Minute)))
		wantUnreadableLogged(t, log, r.ID)
		if len(ms) != 1 || len(ms[0].Events) != 2 {
			t.Fatalf("matches %+v, want one with both steps", ms)
		}
		if first := ms[0].Events[0]; !first.Time.Equal(t0) {
			t.Errorf("the first step's event is at %s, want its time %s", first.Time, t0)
		}
	})

	t.Run("impossible_travel", func(t *testing.T) {
		r := kindRule(t, 66, "correlation:\n  type: impossible_travel\n  group-by: [actor.upn]\n  fields: [properties.location.geoCoordinates.latitude, properties.location.geoCoordinates.longitude]\n  timespan: 24h\n  condition: {gte: 900}\n")
		at := func(id string, lat, lon float64, when time.Time) *event.Event {
			ev := signIn(id, "a@x", "1.1.1.1", "0", "", when)
			ev.Raw = fmt.Appendf(nil, `{"id":%q,"properties":{"location":{"geoCoordinates":{"latitude":%v,"longitude":%v}}}}`, id, lat, lon)
			return ev
		}
		rec := &recorder{Store: state.NewMemory()}
		e := newKindEngine(t, r, rec)
		eval(t, e, at("1", 52.37, 4.89, t0)) // Amsterdam
		damageRows(t, rec)
		// Amsterdam is lost: New York an hour later raises nothing.
		ms, log := unreadableEval(t, e, at("2", 40.71, -74.0, t0.Add(time.Hour)))
		wantUnreadableLogged(t, log, r.ID)
		if len(ms) != 0 {
			t.Fatalf("matches %+v from a lost point", ms)
		}
		// New York was kept in the rewritten row: Tokyo an hour later raises.
		if ms := eval(t, e, at("3", 35.68, 139.69, t0.Add(2*time.Hour))); len(ms) != 1 {
			t.Fatalf("after the row was rewritten: %+v", ms)
		}
	})
}
