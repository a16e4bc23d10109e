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
