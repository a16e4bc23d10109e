package detect_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/azurite"
)

// emulator is Azurite's Table service for the stateful rules' tests.
var emulator *azurite.Server

func TestMain(m *testing.M) { azurite.Main(m, azurite.Table, &emulator) }

// renamed gives each case its own tables on one Table service: a prefix
// per case keeps the cases apart without a new account.
type renamed struct {
	state.Store
	prefix string
}

func (s renamed) Get(ctx context.Context, table string, keys []state.Key) (map[state.Key]state.Entity, error) {
	return s.Store.Get(ctx, s.prefix+table, keys)
}
func (s renamed) List(ctx context.Context, table, pk, prefix string) ([]state.Entity, error) {
	return s.Store.List(ctx, s.prefix+table, pk, prefix)
}
func (s renamed) Find(ctx context.Context, table, pk string, prefixes []string) ([]state.Entity, error) {
	return s.Store.Find(ctx, s.prefix+table, pk, prefixes)
}
func (s renamed) Apply(ctx context.Context, table string, ops []state.Op) error {
	return s.Store.Apply(ctx, s.prefix+table, ops)
}
func (s renamed) Sweep(ctx context.Context, table string, now time.Time) (int, error) {
	return s.Store.Sweep(ctx, s.prefix+table, now)
}

func registryParse(t *testing.T) func([]byte) (*event.Event, error) {
	t.Helper()
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return func(raw []byte) (*event.Event, error) {
		ev, status, err := reg.Parse(raw)
		if status != source.Parsed {
			return nil, fmt.Errorf("%s: %v", status, err)
		}
		return ev, nil
	}
}

func statefulRules(t *testing.T) []*detect.Rule {
	t.Helper()
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	var out []*detect.Rule
	for _, r := range rules {
		if r.Correlation() != nil {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("no stateful rules loaded")
	}
	return out
}

// runModes runs every stateful rule's cases all in one batch, one record
// per batch, and replayed (a redelivered batch raises nothing new).
func runModes(t *testing.T, newStore func() (state.Store, error)) {
	parse := registryParse(t)
	expand := registryExpand(t)
	rules := statefulRules(t)
	modes := []struct {
		name string
		opts detect.TestOptions
	}{
		{"one-batch", detect.TestOptions{Replay: true}},
		{"record-per-batch", detect.TestOptions{Batch: 1, Replay: true}},
		{"batches-of-3", detect.TestOptions{Batch: 3}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			m.opts.NewStore = newStore
			m.opts.Expand = expand
			n := 0
			for _, r := range detect.RunTestsWith(rules, parse, m.opts) {
				n++
				if !r.OK() {
					t.Error(r)
				}
			}
			t.Logf("%d stateful rules, %d cases", len(rules), n)
		})
	}
}

func TestStatefulRulesMemory(t *testing.T) {
	runModes(t, func() (state.Store, error) { return state.NewMemory(), nil })
}

func TestStatefulRulesTable(t *testing.T) {
	conn := emulator.TableConnectionString(t)
	table, err := state.NewTableFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	runModes(t, func() (state.Store, error) {
		return renamed{Store: table, prefix: fmt.Sprintf("t%d", n.Add(1))}, nil
	})
}

const concurrentRule = `title: concurrent counter
id: 00000000-0000-4000-8000-00000000c0c0
logsource: {product: azure, service: signinlogs}
detection:
  failed:
    event.result_code: "50126"
  condition: failed
correlation:
  type: event_count
  group-by: [actor.ip]
  timespan: 1h
  condition: {gte: 150}
level: medium
`

// concurrentWriters runs several engines (function instances) on one store,
// each evaluating its own batches of failures from one IP at once: the
// shared counter must end exact (no lost update, nothing counted twice,
// though every batch is also replayed once).
func concurrentWriters(t *testing.T, store state.Store, positions bool) {
	r, err := detect.ParseRule("concurrent.yml", []byte(concurrentRule))
	if err != nil {
		t.Fatal(err)
	}
	const writers, batches, perBatch = 6, 5, 5
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	errs := make(chan error, writers)
	var alerts atomic.Int64
	for w := 0; w < writers; w++ {
		go func() {
			eng, err := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
			if err != nil {
				errs <- err
				return
			}
			for b := 0; b < batches; b++ {
				var evs []*event.Event
				for i := 0; i < perBatch; i++ {
					id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
					ev := &event.Event{Source: "signinlogs", Time: t0.Add(time.Duration(b*perBatch+i) * time.Second),
						RecordID: id, ResultCode: "50126", Actor: event.Actor{IP: "45.137.21.9", UPN: id}}
					if positions { // writer w is Event Hub partition w
						ev.Pos = event.Position{Writer: fmt.Sprintf("eventhub://ns/hub/%d", w), Seq: int64(b), Index: i}
					}
					evs = append(evs, ev)
				}
				for pass := 0; pass < 2; pass++ { // delivered, then redelivered
					ms, err := eng.Evaluate(context.Background(), evs)
					if err != nil {
						errs <- err
						return
					}
					alerts.Add(int64(len(ms)))
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n, err := detect.ThresholdCount(context.Background(), store, r.ID, t0, "45.137.21.9")
	if err != nil {
		t.Fatal(err)
	}
	if n != writers*batches*perBatch {
		t.Fatalf("counter = %d, want %d", n, writers*batches*perBatch)
	}
	if alerts.Load() == 0 {
		t.Error("the counter passed its threshold of 150 and raised nothing")
	}
}

// conflicts counts the conflicts a store returned: the test wants the
// retry path taken, not only the happy one.
type conflicts struct {
	state.Store
	n atomic.Int64
}

func (c *conflicts) Apply(ctx context.Context, table string, ops []state.Op) error {
	err := c.Store.Apply(ctx, table, ops)
	if errors.Is(err, state.ErrConflict) {
		c.n.Add(1)
	}
	return err
}

func TestConcurrentWritersMemory(t *testing.T) {
	c := &conflicts{Store: state.NewMemory()}
	concurrentWriters(t, c, false)
	t.Logf("%d conflicts retried", c.n.Load())
}

// TestConcurrentWritersByPartition: writers that are Event Hub partitions
// each keep their own row of a hot counter: the count is exact under
// redelivery and no write ever conflicts.
func TestConcurrentWritersByPartition(t *testing.T) {
	c := &conflicts{Store: state.NewMemory()}
	concurrentWriters(t, c, true)
	if n := c.n.Load(); n != 0 {
		t.Errorf("%d conflicts between writers of different partitions, want none", n)
	}
}

func TestConcurrentWritersTable(t *testing.T) {
	table, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &conflicts{Store: renamed{Store: table, prefix: fmt.Sprintf("c%d", time.Now().UnixNano()%1e9)}}
	concurrentWriters(t, c, false)
	t.Logf("%d conflicts retried", c.n.Load())
	if c.n.Load() == 0 {
		t.Log("no conflict happened: the retry path was not exercised this run")
	}
}

// manyGroups evaluates one batch touching 120 groups of one window (the
// partition is listed whole rather than read by key), twice, and checks
// every counter.
func manyGroups(t *testing.T, store state.Store) {
	r, err := detect.ParseRule("concurrent.yml", []byte(concurrentRule))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var evs []*event.Event
	for g := 0; g < 120; g++ {
		ip := fmt.Sprintf("198.51.100.%d", g)
		for i := 0; i <= g%3; i++ {
			evs = append(evs, &event.Event{Source: "signinlogs", Time: t0.Add(time.Duration(g) * time.Second),
				RecordID: fmt.Sprintf("%d-%d", g, i), ResultCode: "50126", Actor: event.Actor{IP: ip}})
		}
	}
	for pass := 0; pass < 2; pass++ {
		if _, err := eng.Evaluate(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	for g := 0; g < 120; g++ {
		n, err := detect.ThresholdCount(context.Background(), store, r.ID, t0, fmt.Sprintf("198.51.100.%d", g))
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(g%3 + 1); n != want {
			t.Fatalf("group %d: count %d, want %d", g, n, want)
		}
	}
}

func TestManyGroupsMemory(t *testing.T) { manyGroups(t, state.NewMemory()) }

func TestManyGroupsTable(t *testing.T) {
	table, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	manyGroups(t, renamed{Store: table, prefix: fmt.Sprintf("m%d", time.Now().UnixNano()%1e9)})
}

// registryExpand is the pipeline's flow-tuple expansion (one event per tuple).
func registryExpand(t *testing.T) func(*event.Event) ([]*event.Event, error) {
	t.Helper()
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg.Expand
}
