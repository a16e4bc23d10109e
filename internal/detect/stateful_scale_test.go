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
