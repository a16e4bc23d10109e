package detect_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// Two instances (serve processes) sharing one store, each evaluating its
// batches of one threshold rule and delivering the matches through the
// shared suppressor, as serve does: every interleaving of their store
// calls must send the threshold alert exactly once. A scheduler lets one
// store call through at a time, the next chosen (by a schedule) only once
// both instances wait at their next call or are done, so that a schedule
// is one interleaving, the same every run: an instance paused between its
// read and its write while the other reads, writes and sends, a conflict
// and its retry, a claim raced.

const twoInstancesRule = `title: two instances counter
id: 00000000-0000-4000-8000-0000000000a2
logsource: {product: azure, service: signinlogs}
detection:
  failed:
    event.result_code: "50126"
  condition: failed
correlation:
  type: event_count
  group-by: [actor.ip]
  timespan: 1h
  condition: {gte: 5}
level: medium
`

// scheduler serialises the store calls of n instances.
type scheduler struct {
	mu      sync.Mutex
	cond    sync.Cond
	waiting []bool
	done    []bool
	turn    int // the instance let through, -1 when none
	pick    func(ready []int) int
	steps   int
}

func newScheduler(n int, pick func(ready []int) int) *scheduler {
	s := &scheduler{waiting: make([]bool, n), done: make([]bool, n), turn: -1, pick: pick}
	s.cond.L = &s.mu
	return s
}

// enter waits until instance p's call is let through.
func (s *scheduler) enter(p int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting[p] = true
	s.cond.Broadcast()
	for s.turn != p {
		s.cond.Wait()
	}
	s.turn, s.waiting[p] = -1, false
	s.cond.Broadcast()
}

// finish says instance p makes no more calls.
func (s *scheduler) finish(p int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[p] = true
	s.cond.Broadcast()
}

// run lets the calls through one at a time until every instance is done.
func (s *scheduler) run() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for !s.settled() {
			s.cond.Wait()
		}
		var ready []int
		for p, w := range s.waiting {
			if w {
				ready = append(ready, p)
			}
		}
		if len(ready) == 0 {
			return
		}
		s.turn = s.pick(ready)
		s.steps++
		s.cond.Broadcast()
	}
}

// settled: nothing let through is pending, and every instance waits at a
// call or is done.
func (s *scheduler) settled() bool {
	if s.turn >= 0 {
		return false
	}
	for p := range s.waiting {
		if !s.waiting[p] && !s.done[p] {
			return false
		}
	}
	return true
}

// gated is instance p's store: each call waits for its turn.
type gated struct {
	state.Store
	s *scheduler
	p int
	// ambiguous, when set, picks writes whose answer is lost after the
	// store applied them: the client's retry of the transaction (the
	// Table SDK retries a 5xx, a timeout, a reset connection) finds its
	// own write there and fails as a conflict.
	ambiguous func(table string, ops []state.Op) bool
}

func (g gated) Get(ctx context.Context, table string, keys []state.Key) (map[state.Key]state.Entity, error) {
	g.s.enter(g.p)
	return g.Store.Get(ctx, table, keys)
}

func (g gated) List(ctx context.Context, table, pk, prefix string) ([]state.Entity, error) {
	g.s.enter(g.p)
	return g.Store.List(ctx, table, pk, prefix)
}

func (g gated) Find(ctx context.Context, table, pk string, prefixes []string) ([]state.Entity, error) {
	g.s.enter(g.p)
	return g.Store.Find(ctx, table, pk, prefixes)
}

func (g gated) Apply(ctx context.Context, table string, ops []state.Op) error {
	g.s.enter(g.p)
	err := g.Store.Apply(ctx, table, ops)
	if err != nil || g.ambiguous == nil || !g.ambiguous(table, ops) {
		return err
	}
	ce := &state.ConflictError{Table: table, PartitionKey: ops[0].Entity.PartitionKey}
	for _, o := range ops {
		ce.Uncommitted = append(ce.Uncommitted, o.Entity.Key())
		if !slices.Contains(ce.Partitions, o.Entity.PartitionKey) {
			ce.Partitions = append(ce.Partitions, o.Entity.PartitionKey)
		}
	}
	return ce
}

// twoInstancesCase is what each instance is handed: batches of failures
// from one IP, each event at its partition's position.
type twoInstancesCase struct {
	name string
	// batches[p] are instance p's batches: the partition and the
	// sequence numbers of each batch's events.
	batches [][]twoInstancesBatch
	total   int64 // the group's count once both are done
	// ambiguous is the instance whose first write of each table in
	// ambiguousTables is applied but answered as a conflict (-1: none).
	ambiguous       int
	ambiguousTables []string
}

type twoInstancesBatch struct {
	partition int
	seqs      []int64
}

var twoInstancesCases = []twoInstancesCase{
	{
		// TestTwoProcessesSendOnce: both instances handed every batch of
		// one partition (a redelivery landing on another instance while
		// the first still works); the fifth failure is in the third batch.
		name: "same-batches",
		batches: [][]twoInstancesBatch{
			{{0, []int64{0, 1}}, {0, []int64{2, 3}}, {0, []int64{4, 5}}, {0, []int64{6}}},
			{{0, []int64{0, 1}}, {0, []int64{2, 3}}, {0, []int64{4, 5}}, {0, []int64{6}}},
		},
		total: 7, ambiguous: -1,
	},
	{
		// The same, the first instance's first alert claim applied but
		// answered as a conflict (its retry found the claim there).
		name: "same-batches-claim-answer-lost",
		batches: [][]twoInstancesBatch{
			{{0, []int64{0, 1}}, {0, []int64{2, 3}}, {0, []int64{4, 5}}, {0, []int64{6}}},
			{{0, []int64{0, 1}}, {0, []int64{2, 3}}, {0, []int64{4, 5}}, {0, []int64{6}}},
		},
		total: 7, ambiguous: 0, ambiguousTables: []string{alert.SuppressionTable},
	},
	{
		// The same, the first instance's first threshold write answered
		// as a conflict: the retry reads its own row back.
		name: "same-batches-count-answer-lost",
		batches: [][]twoInstancesBatch{
			{{0, []int64{0, 1}}, {0, []int64{2, 3}}, {0, []int64{4, 5}}, {0, []int64{6}}},
			{{0, []int64{0, 1}}, {0, []int64{2, 3}}, {0, []int64{4, 5}}, {0, []int64{6}}},
		},
		total: 7, ambiguous: 0, ambiguousTables: []string{detect.StateTable},
	},
	{
		// Two partitions on two instances: each row alone falls short,
		// their sum meets the condition.
		name: "two-partitions",
		batches: [][]twoInstancesBatch{
			{{0, []int64{0, 1, 2}}},
			{{1, []int64{0, 1}}},
		},
		total: 5, ambiguous: -1,
	},
	{
		// Two partitions, the second instance's row there before: the
		// later write may be either's.
		name: "two-partitions-grown",
		batches: [][]twoInstancesBatch{
			{{0, []int64{0}}, {0, []int64{1, 2}}},
			{{1, []int64{0}}, {1, []int64{1}}},
		},
		total: 5, ambiguous: -1,
	},
}

var twoInstancesT0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func (b twoInstancesBatch) events() []*event.Event {
	var evs []*event.Event
	for _, seq := range b.seqs {
		id := fmt.Sprintf("p%d-%d", b.partition, seq)
		evs = append(evs, &event.Event{Source: "signinlogs", Time: twoInstancesT0.Add(time.Duration(seq) * time.Second),
			RecordID: id, ResultCode: "50126", Actor: event.Actor{IP: "45.137.21.9", UPN: id},
			Pos: event.Position{Writer: fmt.Sprintf("eventhub://ns/hub/%d", b.partition), Seq: seq}})
	}
	return evs
}

// runTwoInstances runs the case under one schedule, each instance on its
// own store (stores[p]: one shared store, or one client each of a shared
// service), and returns the ids each instance sent.
func runTwoInstances(t *testing.T, r *detect.Rule, c twoInstancesCase, stores []state.Store, pick func(ready []int) int) ([][]string, error) {
	t.Helper()
	s := newScheduler(len(c.batches), pick)
	sent := make([][]string, len(c.batches))
	errs := make([]error, len(c.batches))
	var wg sync.WaitGroup
	for p := range c.batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.finish(p)
			store := gated{Store: stores[p], s: s, p: p}
			if p == c.ambiguous {
				done := map[string]bool{}
				store.ambiguous = func(table string, ops []state.Op) bool {
					for _, want := range c.ambiguousTables {
						// The stores see the tables renamed (a prefix).
						if strings.HasSuffix(table, want) && !done[want] {
							done[want] = true
							return true
						}
					}
					return false
				}
			}
			eng, err := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
			if err != nil {
				errs[p] = err
				return
			}
			sup := alert.NewStoreSuppressor(store, time.Hour)
			ctx := context.Background()
			for _, b := range c.batches[p] {
				ms, err := eng.Evaluate(ctx, b.events())
				if err != nil {
					errs[p] = fmt.Errorf("instance %d: evaluate: %w", p, err)
					return
				}
				var alerts []alert.Alert
				for _, m := range ms {
					alerts = append(alerts, alert.New(alert.Spec{RuleID: m.Rule.ID, GroupKey: m.GroupKey,
						WindowStart: m.WindowStart, Count: m.Count}, m.Events))
				}
				// pipeline.deliver's steps, the sink a list.
				now := time.Now()
				fresh, err := sup.Fresh(ctx, now, alerts)
				if err != nil {
					errs[p] = fmt.Errorf("instance %d: claim: %w", p, err)
					return
				}
				for _, a := range fresh {
					sent[p] = append(sent[p], a.ID)
				}
				if err := sup.Mark(ctx, now, fresh); err != nil {
					errs[p] = fmt.Errorf("instance %d: mark: %w", p, err)
					return
				}
			}
		}()
	}
	s.run()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// twoInstancesSchedules are the schedules tried: for every k, one
// instance's first k calls before any of the other's, then the other
// until it is done (or waits with the first), and the same the other way
// round; strict alternation; then random ones (fixed seeds).
func twoInstancesSchedules(prefix, random int) []func() func(ready []int) int {
	var out []func() func(ready []int) int
	for first := 0; first < 2; first++ {
		for k := 0; k <= prefix; k++ {
			out = append(out, func() func(ready []int) int {
				n := 0
				return func(ready []int) int {
					n++
					want := first
					if n > k {
						want = 1 - first
					}
					if slices.Contains(ready, want) {
						return want
					}
					return ready[0]
				}
			})
		}
	}
	out = append(out, func() func(ready []int) int {
		n := 0
		return func(ready []int) int {
			n++
			if slices.Contains(ready, n%2) {
				return n % 2
			}
			return ready[0]
		}
	})
	for seed := range random {
		out = append(out, func() func(ready []int) int {
			rng := rand.New(rand.NewPCG(uint64(seed), 0x2a7c3d10))
			return func(ready []int) int { return ready[rng.IntN(len(ready))] }
		})
	}
	return out
}

// twoInstances runs every case under every schedule; newStores gives the
// instances' stores of one run, on state no other run sees.
func twoInstances(t *testing.T, schedules []func() func(ready []int) int, newStores func(t *testing.T) []state.Store) {
	r, err := detect.ParseRule("twoinstances.yml", []byte(twoInstancesRule))
	if err != nil {
		t.Fatal(err)
	}
	want := alert.New(alert.Spec{RuleID: r.ID, GroupKey: "45.137.21.9", WindowStart: twoInstancesT0}, nil).ID
	for _, c := range twoInstancesCases {
		t.Run(c.name, func(t *testing.T) {
			for i, schedule := range schedules {
				stores := newStores(t)
				sent, err := runTwoInstances(t, r, c, stores, schedule())
				if err != nil {
					t.Fatalf("schedule %d: %v", i, err)
				}
				n := 0
				for _, ids := range sent {
					for _, id := range ids {
						if id != want {
							t.Fatalf("schedule %d: sent alert %s, want only %s", i, id, want)
						}
						n++
					}
				}
				if n != 1 {
					count, _ := detect.ThresholdCount(context.Background(), stores[0], r.ID, twoInstancesT0, "45.137.21.9")
					t.Fatalf("schedule %d: the alert was sent %d times (instance 0: %d, instance 1: %d; the group's count %d of %d)",
						i, n, len(sent[0]), len(sent[1]), count, c.total)
				}
				count, err := detect.ThresholdCount(context.Background(), stores[0], r.ID, twoInstancesT0, "45.137.21.9")
				if err != nil {
					t.Fatal(err)
				}
				if count != c.total {
					t.Fatalf("schedule %d: the group's count is %d, want %d", i, count, c.total)
				}
			}
			t.Logf("%d schedules", len(schedules))
		})
	}
}

func TestTwoInstancesSendOnceMemory(t *testing.T) {
	twoInstances(t, twoInstancesSchedules(24, 300), func(*testing.T) []state.Store {
		m := state.NewMemory()
		return []state.Store{m, m}
	})
}

// TestTwoInstancesSendOnceTable: each instance its own client of one
// Table service, with views of the partitions (cache.go: a write checks
// that nobody wrote the partition since it was read), without (a write
// checks only its own rows' ETags), and one of each.
func TestTwoInstancesSendOnceTable(t *testing.T) {
	conn := emulator.TableConnectionString(t)
	for _, views := range [][2]bool{{true, true}, {false, false}, {true, false}} {
		t.Run(fmt.Sprintf("views=%v,%v", views[0], views[1]), func(t *testing.T) {
			var clients []state.Store
			for _, v := range views {
				opts := &state.TableOptions{}
				if !v {
					opts.CacheBytes = -1
				}
				c, err := state.NewTableFromConnectionString(conn, opts)
				if err != nil {
					t.Fatal(err)
				}
				clients = append(clients, c)
			}
			run := 0
			twoInstances(t, twoInstancesSchedules(12, 12), func(*testing.T) []state.Store {
				run++
				prefix := fmt.Sprintf("two%d%d", time.Now().UnixNano()%1e6, run)
				return []state.Store{renamed{Store: clients[0], prefix: prefix}, renamed{Store: clients[1], prefix: prefix}}
			})
		})
	}
}
