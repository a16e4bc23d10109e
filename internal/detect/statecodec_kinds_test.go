package detect_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
)

// partitionsSeen is a store that remembers the partitions written to.
type partitionsSeen struct {
	state.Store
	mu    sync.Mutex
	parts map[string]bool
}

func (p *partitionsSeen) Apply(ctx context.Context, table string, ops []state.Op) error {
	p.mu.Lock()
	for _, op := range ops {
		p.parts[op.Entity.PartitionKey] = true
	}
	p.mu.Unlock()
	return p.Store.Apply(ctx, table, ops)
}

// toLegacy rewrites every stateful row as the JSON document an earlier
// version wrote; it returns the kinds (partition prefixes) it rewrote.
func (p *partitionsSeen) toLegacy(t *testing.T, kinds map[string]int) {
	t.Helper()
	ctx := context.Background()
	for pk := range p.parts {
		rows, err := p.Store.List(ctx, detect.StateTable, pk, "")
		if err != nil {
			t.Fatal(err)
		}
		var ops []state.Op
		for _, e := range rows {
			if len(e.Data) == 0 {
				continue
			}
			data, err := detect.LegacyStateJSON(e)
			if err != nil {
				t.Fatalf("%s: %v", e.Key(), err)
			}
			if data[0] != '{' {
				t.Fatalf("%s: legacy document %q", e.Key(), data)
			}
			e.Data = data
			ops = append(ops, state.Op{Kind: state.Replace, Entity: e})
			kind, _, _ := strings.Cut(pk, "|")
			kinds[kind]++
		}
		if err := p.Store.Apply(ctx, detect.StateTable, ops); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLegacyStateDocuments: a deployment upgraded from the JSON state
// documents carries on where it was. Every embedded rule runs over the demo
// and a normal day in batches twice: once as is, once with every row
// rewritten as JSON after each batch, so that every batch reads what an
// earlier version wrote. Both raise the same matches, batch by batch.
func TestLegacyStateDocuments(t *testing.T) {
	events := corpusEvents(t)
	rules, err := detect.LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	run := func(legacy bool) ([][]string, map[string]int) {
		store := &partitionsSeen{Store: state.NewMemory(), parts: map[string]bool{}}
		eng, err := detect.NewEngine(rules, detect.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		var out [][]string
		const batch = 300
		for i := 0; i < len(events); i += batch {
			ms, err := eng.Evaluate(context.Background(), events[i:min(i+batch, len(events))])
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%s %s %s %d %q %d", m.Rule.ID, m.GroupKey, m.WindowStart, m.Count, m.Values, len(m.Events)))
			}
			out = append(out, got)
			if legacy {
				store.toLegacy(t, kinds)
			}
		}
		return out, kinds
	}
	want, _ := run(false)
	got, kinds := run(true)
	for _, k := range []string{"thr", "nt", "seq", "spk"} {
		if kinds[k] == 0 {
			t.Errorf("no %s row was rewritten as JSON: the corpus does not exercise it (rewritten: %v)", k, kinds)
		}
	}
	t.Logf("rows rewritten as JSON, by kind: %v", kinds)
	matches := 0
	for i := range want {
		matches += len(want[i])
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("batch %d: from JSON rows\n%s\nwant\n%s", i, strings.Join(got[i], "\n"), strings.Join(want[i], "\n"))
		}
	}
	if matches == 0 {
		t.Fatal("no matches: the comparison shows nothing")
	}
}

// corpusEvents is the demo and a normal day, parsed, every other record
// with a position (a watermark) and the rest without (event keys).
func corpusEvents(t testing.TB) []*event.Event {
	reg, err := source.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var events []*event.Event
	for _, dir := range []string{"../../testdata/normal-day", "../../testdata/demo"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<24)
			for sc.Scan() {
				if ev, status, _ := reg.Parse(append([]byte(nil), sc.Bytes()...)); status == source.Parsed {
					if len(events)%2 == 0 {
						ev.Pos = event.Position{Writer: "file://" + filepath.Base(f), Seq: int64(len(events))}
					}
					events = append(events, ev)
				}
			}
			fh.Close()
		}
	}
	if len(events) == 0 {
		t.Fatal("no records in the corpus")
	}
	return events
}

const twoWritersSequence = `title: failures then a success
id: 00000000-0000-4000-8000-00000000c0de
logsource: {product: azure, service: signinlogs}
detection:
  failed:
    event.result_code: "50126"
  ok:
    event.result_code: "0"
  condition: failed or ok
correlation:
  type: sequence
  group-by: [actor.ip]
  timespan: 1h
  steps: [failed, ok]
level: medium
`

// TestSequenceAcrossWriters: one address's failure arrives through one
// Event Hub partition, its success later through another: the group's
// sequence is the two writers' rows together, and a second address whose
// rows share the bucket partitions is not mixed into it.
func TestSequenceAcrossWriters(t *testing.T) {
	r, err := detect.ParseRule("seq.yml", []byte(twoWritersSequence))
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewMemory()
	engA, _ := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
	engB, _ := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ev := func(ip, code string, writer string, seq int, at time.Duration) *event.Event {
		return &event.Event{Source: "signinlogs", Time: t0.Add(at), RecordID: fmt.Sprintf("%s-%s-%d", ip, code, seq), ResultCode: code,
			Actor: event.Actor{IP: ip, UPN: "u@x"}, Pos: event.Position{Writer: writer, Seq: int64(seq)}}
	}
	// Many addresses so that several share a bucket; each fails through A.
	var first []*event.Event
	for i := range 40 {
		first = append(first, ev(fmt.Sprintf("203.0.113.%d", i), "50126", "eventhub://ns/hub/0", i, time.Minute))
	}
	if ms, err := engA.Evaluate(context.Background(), first); err != nil || len(ms) != 0 {
		t.Fatalf("first steps alone: %d matches, %v", len(ms), err)
	}
	// Through B: a success for the even addresses, and for a new address
	// (no failure anywhere).
	var second []*event.Event
	for i := 0; i < 40; i += 2 {
		second = append(second, ev(fmt.Sprintf("203.0.113.%d", i), "0", "eventhub://ns/hub/1", i, 2*time.Minute))
	}
	second = append(second, ev("198.51.100.7", "0", "eventhub://ns/hub/1", 99, 2*time.Minute))
	ms, err := engB.Evaluate(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range ms {
		got[m.GroupKey] = true
		if len(m.Events) != 2 || m.Events[0].ResultCode != "50126" || m.Events[1].ResultCode != "0" || m.Events[0].Actor.IP != m.GroupKey {
			t.Errorf("match %s: events %v", m.GroupKey, m.Events)
		}
	}
	for i := range 40 {
		ip := fmt.Sprintf("203.0.113.%d", i)
		if got[ip] != (i%2 == 0) {
			t.Errorf("%s: matched %v, want %v", ip, got[ip], i%2 == 0)
		}
	}
	if got["198.51.100.7"] || len(got) != 20 {
		t.Errorf("matched %d groups: %v", len(got), got)
	}
}
