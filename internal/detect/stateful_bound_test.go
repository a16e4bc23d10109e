package detect_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// boundHead is a rule over sign-ins whose group keys, terms and values are
// the user agent: the attacker's to choose.
const boundHead = `title: bounded %s
id: 00000000-0000-4000-8000-0000000b%04d
logsource: {product: azure, service: signinlogs}
detection:
  failed:
    event.result_code: "50126"
  ok:
    event.result_code: "0"
  condition: failed or ok
level: medium
`

var boundKinds = []struct{ name, corr string }{
	{"event_count", "correlation:\n  type: event_count\n  group-by: [actor.user_agent]\n  timespan: 1h\n  condition: {gte: 3}\n"},
	{"value_count", "correlation:\n  type: value_count\n  group-by: [actor.ip]\n  timespan: 1h\n  condition: {gte: 3, field: actor.user_agent}\n"},
	{"value_sum", "correlation:\n  type: value_sum\n  group-by: [actor.user_agent]\n  timespan: 1h\n  condition: {gte: 3, field: properties.n}\n"},
	{"new_term", "correlation:\n  type: new_term\n  group-by: [actor.upn]\n  fields: [actor.user_agent]\n  learning: 0s\n  lookback: 30d\n"},
	{"spike", "correlation:\n  type: spike\n  group-by: [actor.user_agent]\n  timespan: 1h\n  baseline: 2\n  min_history: 1\n  factor: 2\n  condition: {gte: 3}\n"},
	{"sequence", "correlation:\n  type: sequence\n  group-by: [actor.user_agent]\n  timespan: 1h\n  steps: [failed, ok]\n"},
}

// hostile is a sign-in whose user agent, UPN and extra values are huge.
func hostile(i int, agent, code string, at time.Time) *event.Event {
	upn := agent[:len(agent)/2] + "@x"
	ev := &event.Event{Source: "signinlogs", Time: at, RecordID: fmt.Sprintf("h%d", i), ResultCode: code,
		Actor: event.Actor{UPN: upn, IP: "203.0.113.9", UserAgent: agent + fmt.Sprint(i%3), Name: agent},
		Raw:   []byte(fmt.Sprintf(`{"id":"h%d","properties":{"n":2,"userAgent":%q}}`, i, agent[:min(len(agent), 100)]))}
	if code == "0" {
		ev.Actor.UserAgent = agent + "0"
	}
	ev.Set("signin.note", agent)
	ev.Pos = event.Position{Writer: "eventhub://ns/hub/0", Seq: int64(i)}
	return ev
}

// checked is a store that refuses, as a test failure, any write that
// CheckEntity would refuse (Apply would too: this names the entity).
type checked struct {
	state.Store
	t *testing.T
}

func (c checked) Apply(ctx context.Context, table string, ops []state.Op) error {
	for _, op := range ops {
		if err := state.CheckEntity(op.Entity); err != nil {
			c.t.Errorf("a kind wrote an entity over the limits: %v", err)
		}
	}
	return c.Store.Apply(ctx, table, ops)
}

// boundedKinds runs every stateful kind over records whose user agent is
// 40 KB and 20 MB: every alert is raised as with short values, its group
// key is bounded and readable, a redelivery raises the same identity, and
// no entity written is over Table Storage's limits.
func boundedKinds(t *testing.T, newStore func(t *testing.T) state.Store) {
	sizes := []struct {
		name string
		n    int
	}{{"40KB", 40_000}, {"20MB", 20 << 20}}
	for si, size := range sizes {
		agent := "Mozilla/5.0 " + strings.Repeat("A", size.n)
		for ki, kind := range boundKinds {
			t.Run(size.name+"/"+kind.name, func(t *testing.T) {
				r, err := detect.ParseRule("bound.yml", []byte(fmt.Sprintf(boundHead, kind.name, si*100+ki)+kind.corr))
				if err != nil {
					t.Fatal(err)
				}
				store := checked{Store: newStore(t), t: t}
				eng, err := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store),
					detect.WithClock(func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }))
				if err != nil {
					t.Fatal(err)
				}
				t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
				var batches [][]*event.Event
				if kind.name == "spike" { // a quiet hour of history, then a burst
					quiet := hostile(0, agent, "50126", t0.Add(-time.Hour))
					quiet.Actor.UserAgent = agent
					batches = append(batches, []*event.Event{quiet})
				}
				var burst []*event.Event
				for i := 1; i <= 4; i++ {
					burst = append(burst, hostile(i, agent, "50126", t0.Add(time.Duration(i)*time.Second)))
				}
				burst = append(burst, hostile(5, agent, "0", t0.Add(time.Minute)))
				if kind.name != "value_count" && kind.name != "new_term" {
					for _, ev := range burst { // one group: the same user agent
						ev.Actor.UserAgent = agent
					}
				}
				batches = append(batches, burst)
				var ms []detect.Match
				for _, b := range batches {
					if ms, err = eng.Evaluate(context.Background(), b); err != nil {
						t.Fatalf("evaluate: %v", err)
					}
				}
				if len(ms) == 0 {
					t.Fatal("no match: a huge value blinded the rule")
				}
				again, err := eng.Evaluate(context.Background(), burst) // redelivered
				if err != nil {
					t.Fatalf("redelivery: %v", err)
				}
				if len(again) != len(ms) {
					t.Fatalf("redelivery raised %d matches, first delivery %d", len(again), len(ms))
				}
				for i, m := range ms {
					if len(m.GroupKey) > 2*detect.MaxKeptValue+1 {
						t.Errorf("group key is %d bytes", len(m.GroupKey))
					}
					if !strings.HasPrefix(strings.ToLower(m.GroupKey), "mozilla/5.0 aaa") && !strings.HasPrefix(m.GroupKey, "203.0.113.9") &&
						!strings.HasPrefix(m.GroupKey, strings.ToLower("AAAA")) {
						t.Errorf("group key %.60q... lost its readable prefix", m.GroupKey)
					}
					for _, v := range m.Values {
						if len(v) > detect.MaxKeptValue {
							t.Errorf("a value of %d bytes", len(v))
						}
					}
					if m.GroupKey != again[i].GroupKey || !m.WindowStart.Equal(again[i].WindowStart) {
						t.Errorf("redelivery changed the alert identity: %.40q %v / %.40q %v", m.GroupKey, m.WindowStart, again[i].GroupKey, again[i].WindowStart)
					}
				}
				if kind.name == "event_count" || kind.name == "value_count" {
					if ms[0].Count < 3 || ms[0].Count > 5 {
						t.Errorf("count %d after a redelivery", ms[0].Count)
					}
				}
			})
		}
	}
}

func TestBoundedKindsMemory(t *testing.T) {
	boundedKinds(t, func(*testing.T) state.Store { return state.NewMemory() })
}

func TestBoundedKindsTable(t *testing.T) {
	table, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	boundedKinds(t, func(*testing.T) state.Store {
		n++
		return renamed{Store: table, prefix: fmt.Sprintf("b%d%d", time.Now().UnixNano()%1e6, n)}
	})
}

// TestOversizedSequenceIsARecordError: a sequence of five steps whose
// records carry every field at its bound cannot fit one entity even
// without the raw records: the records are refused one by one
// (RecordErrors naming each by its index, ErrEntityTooLarge), the other
// rules' matches of the batch still come back, and nothing is written.
func TestOversizedSequenceIsARecordError(t *testing.T) {
	seq, err := detect.ParseRule("seq.yml", []byte(fmt.Sprintf(boundHead, "sequence", 9001)+
		"correlation:\n  type: sequence\n  group-by: [actor.ip]\n  timespan: 1h\n  steps: [failed, failed, failed, failed, failed, ok]\n"))
	if err != nil {
		t.Fatal(err)
	}
	count, err := detect.ParseRule("count.yml", []byte(fmt.Sprintf(boundHead, "count", 9002)+
		"correlation:\n  type: event_count\n  group-by: [actor.ip]\n  timespan: 1h\n  condition: {gte: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewMemory()
	eng, err := detect.NewEngine([]*detect.Rule{seq, count}, detect.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("\x01", 40_000) // escaped six-fold in JSON: every field at its bound is large
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var evs []*event.Event
	for i, code := range []string{"50126", "0"} {
		ev := hostile(i, big, code, t0.Add(time.Duration(i)*time.Second))
		ev.Actor.IP = "198.51.100.7"
		ev.Operation, ev.Target, ev.CorrelationID, ev.TenantID = big, big, big, big
		for j := range 32 {
			ev.Set(fmt.Sprintf("x%02d%s", j, big[:150]), big)
		}
		evs = append(evs, ev)
	}
	ms, err := eng.Evaluate(context.Background(), evs)
	re, ok := detect.AsRecordErrors(err)
	if !ok || !errors.Is(err, detect.ErrEntityTooLarge) {
		t.Fatalf("err = %v, want RecordErrors of ErrEntityTooLarge", err)
	}
	if len(re) != 2 || re[0].Index != 0 || re[1].Index != 1 || re[0].Rule != seq.ID || re[0].Event != evs[0] {
		t.Fatalf("record errors: %v", re)
	}
	// The sequence completed in this batch: its match is raised though its
	// state was not kept (a huge record never blinds a rule); the other
	// rule's match comes back as always.
	var counted bool
	for _, m := range ms {
		counted = counted || m.Rule == count && m.Count == 2
	}
	if !counted {
		t.Fatalf("the other rule's match must still come back: %+v", ms)
	}
	if n, err := detect.ThresholdCount(context.Background(), store, count.ID, t0, "198.51.100.7"); err != nil || n != 2 {
		t.Fatalf("the other rule's state: %d, %v", n, err)
	}
}

func TestBounded(t *testing.T) {
	long := strings.Repeat("Ab€", 30_000)
	cases := []string{"", "short", strings.Repeat("x", detect.MaxKeptValue), long, long + "x", strings.Repeat("é", 100)}
	seen := map[string]string{}
	for _, s := range cases {
		b := detect.Bounded(s)
		if len(s) <= detect.MaxKeptValue && b != s {
			t.Errorf("Bounded changed a short value: %q -> %q", s, b)
		}
		if len(b) > detect.MaxKeptValue || !utf8.ValidString(b) {
			t.Errorf("Bounded(%d bytes) = %d bytes, valid UTF-8 %v", len(s), len(b), utf8.ValidString(b))
		}
		if prev, dup := seen[b]; dup {
			t.Errorf("two values share %q: %.20q and %.20q", b, prev, s)
		}
		seen[b] = s
		if detect.Bounded(s) != b {
			t.Error("Bounded is not deterministic")
		}
	}
	if !strings.HasPrefix(detect.Bounded(long), "Ab€Ab€") {
		t.Errorf("no readable prefix: %q", detect.Bounded(long))
	}
	lower := detect.BoundedLower(long)
	if lower != detect.BoundedLower(strings.ToLower(long)) || lower != detect.BoundedLower(strings.ToUpper(long)) ||
		!strings.HasPrefix(lower, "ab€ab€") || len(lower) > detect.MaxKeptValue {
		t.Errorf("BoundedLower does not fold case: %q", lower)
	}
	if detect.BoundedLower(long) == detect.BoundedLower(long+"x") {
		t.Error("BoundedLower lost the tail")
	}
}

// TestBoundedTravel: impossible travel keeps each point's address and
// place; a sign-in whose city, country and address are huge still raises
// its alert, writes no entity over Table Storage's limits (32 points of a
// 40 KB city each would be 1.3 MB) and keeps only bounded values.
func TestBoundedTravel(t *testing.T) {
	r, err := detect.ParseRule("travel.yml", []byte(`title: bounded travel
id: 00000000-0000-4000-8000-0000000c0001
logsource: {product: azure, service: signinlogs}
detection:
  ok:
    event.result_code: "0"
  condition: ok
level: medium
correlation:
  type: impossible_travel
  group-by: [actor.upn]
  fields: [properties.lat, properties.lon]
  timespan: 24h
  condition: {gte: 900}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{40_000, 20 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			store := checked{Store: state.NewMemory(), t: t}
			eng, err := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
			if err != nil {
				t.Fatal(err)
			}
			big := strings.Repeat("\x01Z", size/2)
			t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			var evs []*event.Event
			// 40 sign-ins alternating between Seattle and Frankfurt, ten
			// minutes apart: more points than an entity keeps.
			for i := range 40 {
				lat, lon := 47.6, -122.3
				if i%2 == 1 {
					lat, lon = 50.1, 8.7
				}
				ev := &event.Event{Source: "signinlogs", Time: t0.Add(time.Duration(i) * 10 * time.Minute),
					RecordID: fmt.Sprintf("t%d", i), ResultCode: "0",
					Actor: event.Actor{UPN: "alice@example.com", IP: "203.0.113.9" + big},
					Geo:   event.Geo{City: big + fmt.Sprint(i), Country: big},
					Raw:   []byte(fmt.Sprintf(`{"id":"t%d","properties":{"lat":%v,"lon":%v}}`, i, lat, lon))}
				ev.Pos = event.Position{Writer: "eventhub://ns/hub/0", Seq: int64(i)}
				evs = append(evs, ev)
			}
			var ms []detect.Match
			for i := 0; i < len(evs); i += 8 { // several batches: points are read back
				got, err := eng.Evaluate(context.Background(), evs[i:i+8])
				if err != nil {
					t.Fatalf("evaluate: %v", err)
				}
				ms = append(ms, got...)
			}
			if len(ms) == 0 {
				t.Fatal("no match: a huge place blinded impossible travel")
			}
			for _, m := range ms {
				if len(m.GroupKey) > 2*detect.MaxKeptValue+1 {
					t.Errorf("group key is %d bytes", len(m.GroupKey))
				}
				// The one value is a sentence naming both places and
				// addresses: bounded, whatever the input's size.
				for _, v := range m.Values {
					if len(v) > 512 {
						t.Errorf("a value of %d bytes", len(v))
					}
				}
			}
		})
	}
}
