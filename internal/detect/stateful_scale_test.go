package detect_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

const sprayHead = `title: spray %s
id: 00000000-0000-4000-8000-00000005%04d
logsource: {product: azure, service: signinlogs}
detection:
  failed:
    event.result_code: "50126"
  condition: failed
level: medium
`

// sizes records the largest entity a store was asked to write.
type sizes struct {
	state.Store
	maxBytes, maxData int
	writes            int
}

func (s *sizes) Apply(ctx context.Context, table string, ops []state.Op) error {
	for _, op := range ops {
		s.maxBytes = max(s.maxBytes, state.EntityBytes(op.Entity))
		s.maxData = max(s.maxData, len(op.Entity.Data))
	}
	s.writes += len(ops)
	return s.Store.Apply(ctx, table, ops)
}

// hundredThousand: one window of 100,000 failures from one address, in
// batches of 1,000 from four Event Hub partitions, with every seventh batch
// redelivered at once and, at the end, the first batch of each partition
// redelivered after everything else. The count is exact, the distinct users
// too, and no entity grows with the count.
func hundredThousand(t *testing.T, store state.Store) {
	count, err := detect.ParseRule("c.yml", []byte(fmt.Sprintf(sprayHead, "count", 1)+
		"correlation:\n  type: event_count\n  group-by: [actor.ip]\n  timespan: 1h\n  condition: {gte: 50}\n"))
	if err != nil {
		t.Fatal(err)
	}
	distinct, err := detect.ParseRule("d.yml", []byte(fmt.Sprintf(sprayHead, "distinct", 2)+
		"correlation:\n  type: value_count\n  group-by: [actor.ip]\n  timespan: 1h\n  condition: {gte: 50, field: actor.upn}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &sizes{Store: store}
	eng, err := detect.NewEngine([]*detect.Rule{count, distinct}, detect.WithStore(rec))
	if err != nil {
		t.Fatal(err)
	}
	const total, perBatch, partitions, users = 100_000, 1_000, 4, 2_000
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	batch := func(b int) []*event.Event {
		p := b % partitions
		evs := make([]*event.Event, perBatch)
		for i := range evs {
			n := b*perBatch + i
			evs[i] = &event.Event{Source: "signinlogs", Time: t0.Add(time.Duration(n) * 30 * time.Millisecond),
				ResultCode: "50126", Actor: event.Actor{IP: "45.137.21.9", UPN: fmt.Sprintf("user%d@contoso.com", n%users)},
				Raw: []byte(fmt.Sprintf(`{"n":%d}`, n)),
				// Batch b is partition p's (b/partitions)th event, records i.
				Pos: event.Position{Writer: fmt.Sprintf("eventhub://ns/hub/%d", p), Seq: int64(b / partitions), Index: i}}
		}
		return evs
	}
	ctx := context.Background()
	var last []detect.Match
	for b := 0; b < total/perBatch; b++ {
		evs := batch(b)
		if last, err = eng.Evaluate(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if b%7 == 3 {
			if _, err := eng.Evaluate(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p := 0; p < partitions; p++ {
		if _, err := eng.Evaluate(ctx, batch(p)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := detect.ThresholdCount(ctx, store, count.ID, t0, "45.137.21.9")
	if err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Errorf("count = %d, want %d", n, total)
	}
	if len(last) != 2 {
		t.Fatalf("last batch raised %d matches, want 2", len(last))
	}
	for _, m := range last {
		want := total
		if m.Rule == distinct {
			want = users
		}
		if m.Count != want {
			t.Errorf("rule %s: count %d, want %d", m.Rule.Title, m.Count, want)
		}
	}
	t.Logf("%d writes, largest entity %d bytes (Data %d)", rec.writes, rec.maxBytes, rec.maxData)
	if rec.maxData > state.MaxDataLen || rec.maxBytes > 64<<10 {
		t.Errorf("largest entity %d bytes, Data %d: grows with the count", rec.maxBytes, rec.maxData)
	}
}

func TestHundredThousandMemory(t *testing.T) { hundredThousand(t, state.NewMemory()) }

func TestHundredThousandTable(t *testing.T) {
	table, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	hundredThousand(t, renamed{Store: table, prefix: fmt.Sprintf("k%d", time.Now().UnixNano()%1e9)})
}

// interleave runs hook once, right after the first Find it serves: another
// instance's evaluation lands between this one's read and its write.
type interleave struct {
	state.Store
	hook func()
}

func (s *interleave) Find(ctx context.Context, table, partition string, prefixes []string) ([]state.Entity, error) {
	out, err := s.Store.Find(ctx, table, partition, prefixes)
	if h := s.hook; h != nil {
		s.hook = nil
		h()
	}
	return out, err
}

// TestThresholdCrossedByTwoWritersAtOnce: two instances (Event Hub
// partitions) add to one group at the same moment, each reading the
// other's row before it was written. Together they reach the threshold
// (1+3 from one, 4 from the other: 8); each sum alone falls short. The
// second look after the write raises the alert, once.
func TestThresholdCrossedByTwoWritersAtOnce(t *testing.T) {
	rule, err := detect.ParseRule("c.yml", []byte(fmt.Sprintf(sprayHead, "count", 3)+
		"correlation:\n  type: event_count\n  group-by: [actor.ip]\n  timespan: 1h\n  condition: {gte: 8}\n"))
	if err != nil {
		t.Fatal(err)
	}
	mem := state.NewMemory()
	hooked := &interleave{Store: mem}
	a, err := detect.NewEngine([]*detect.Rule{rule}, detect.WithStore(hooked))
	if err != nil {
		t.Fatal(err)
	}
	b, err := detect.NewEngine([]*detect.Rule{rule}, detect.WithStore(mem))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	n := 0
	batch := func(partition, seq, size int) []*event.Event {
		evs := make([]*event.Event, size)
		for i := range evs {
			n++
			evs[i] = &event.Event{Source: "signinlogs", Time: t0.Add(time.Duration(n) * time.Second),
				ResultCode: "50126", Actor: event.Actor{IP: "45.137.21.9", UPN: fmt.Sprintf("user%d@contoso.com", n)},
				Raw: []byte(fmt.Sprintf(`{"n":%d}`, n)),
				Pos: event.Position{Writer: fmt.Sprintf("eventhub://ns/hub/%d", partition), Seq: int64(seq), Index: i}}
		}
		return evs
	}
	ctx := context.Background()
	if m, err := b.Evaluate(ctx, batch(2, 0, 1)); err != nil || len(m) != 0 {
		t.Fatalf("first batch of partition 2: %d matches, %v", len(m), err)
	}
	var fromB []detect.Match
	hooked.hook = func() {
		if fromB, err = b.Evaluate(ctx, batch(2, 1, 3)); err != nil {
			t.Error(err)
		}
	}
	fromA, err := a.Evaluate(ctx, batch(1, 0, 4))
	if err != nil {
		t.Fatal(err)
	}
	if len(fromA)+len(fromB) != 1 {
		t.Fatalf("%d matches from the instance that read first, %d from the other: want the crossing raised once", len(fromA), len(fromB))
	}
	if got := append(fromA, fromB...)[0].Count; got != 8 {
		t.Errorf("count %d, want 8", got)
	}
}
