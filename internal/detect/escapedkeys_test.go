package detect

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// keyCheckingStore is a store that checks every partition key, row key
// and row prefix the kinds give Get, Find and Apply in full
// (state.CheckEntity: byte by byte), whatever the context says, and
// records the refused.
type keyCheckingStore struct {
	state.Store
	refused []string
	calls   int
}

func (s *keyCheckingStore) check(pk, row string) {
	if err := state.CheckEntity(state.Entity{PartitionKey: pk, RowKey: row}); err != nil {
		s.refused = append(s.refused, fmt.Sprintf("%.80q / %.80q: %v", pk, row, err))
	}
}

func (s *keyCheckingStore) Find(ctx context.Context, table, pk string, prefixes []string) ([]state.Entity, error) {
	s.calls++
	s.check(pk, "")
	for _, p := range prefixes {
		s.check(pk, p)
	}
	return s.Store.Find(ctx, table, pk, prefixes)
}

func (s *keyCheckingStore) Get(ctx context.Context, table string, keys []state.Key) (map[state.Key]state.Entity, error) {
	s.calls++
	for _, k := range keys {
		s.check(k.PartitionKey, k.RowKey)
	}
	return s.Store.Get(ctx, table, keys)
}

func (s *keyCheckingStore) Apply(ctx context.Context, table string, ops []state.Op) error {
	s.calls++
	for _, o := range ops {
		s.check(o.Entity.PartitionKey, o.Entity.RowKey)
	}
	return s.Store.Apply(ctx, table, ops)
}

// TestEscapedKeysHold: the threshold and spike kinds read and write under
// state.EscapedKeys, so the store checks only their keys' lengths: every
// key and prefix they give it, for hostile group values and writers
// (separators, escapes, bytes Table Storage forbids, control characters,
// non-ASCII, broken UTF-8, huge), passes the full check, and the calls
// count what the same calls count on a store that checks nothing away.
func TestEscapedKeysHold(t *testing.T) {
	huge := strings.Repeat("h", 1<<16)
	groups := []string{"a|b", "a!7Cb", "|", "!", "~", "~first", "x\x00y", "x\x01y", "x\x7fy", "x/y", `x\y`, "x#y", "x?y", "x'y",
		"ünï|cödé", "é", "\xff\xfe", "日本語", strings.Repeat("/", 200), strings.Repeat("a", 300), huge}
	writers := []string{"w|1", "eventhub://ns/hub/0", "/tmp/a b/c#d?.json", `c:\logs\x`, "\x00", "é\xff", strings.Repeat("/", 500)}
	rules := []*Rule{
		kindRule(t, 60, "correlation:\n  type: event_count\n  group-by: [actor.upn]\n  timespan: 10m\n  condition: {gte: 2}\n"),
		kindRule(t, 61, "correlation:\n  type: value_count\n  group-by: [actor.upn, actor.ip]\n  timespan: 10m\n  condition: {gte: 2, field: geo.country}\n"),
		kindRule(t, 62, "correlation:\n  type: spike\n  group-by: [actor.upn]\n  timespan: 1h\n  baseline: 2\n  min_history: 1\n  factor: 2\n  condition: {gte: 1}\n"),
	}
	for _, r := range rules {
		store := &keyCheckingStore{Store: state.NewMemory()}
		e := newKindEngine(t, r, store)
		matched := 0
		n := 0
		for batch := range 3 {
			var evs []*event.Event
			for i, g := range groups {
				for j, w := range writers {
					for k := range 1 + 3*(batch/2) { // the last hour a spike
						n++
						at := t0.Add(time.Duration(batch)*time.Hour + time.Duration(j)*time.Second)
						ev := signIn(fmt.Sprintf("e%d", n), g, g+"ip", "50126", fmt.Sprintf("c%d", j%3), at)
						ev.Pos = event.Position{Writer: w, Seq: int64(batch), Index: i, Sub: 4*j + k}
						evs = append(evs, ev)
					}
				}
			}
			matched += len(eval(t, e, evs...))
		}
		if len(store.refused) > 0 {
			t.Errorf("%s: %d keys given the store escaped are refused by the full check, first %s", r.Correlation().Type, len(store.refused), store.refused[0])
		}
		if store.calls == 0 || matched == 0 {
			t.Errorf("%s: %d store calls, %d matches: the test reaches nothing", r.Correlation().Type, store.calls, matched)
		}
	}
}

// TestEscapedKeysHoldKinds is TestEscapedKeysHold for the new-term,
// sequence and impossible-travel kinds, which read and write under
// state.EscapedKeys too: hostile entities, terms and writers give keys
// and prefixes the full check accepts, and the kinds still match.
func TestEscapedKeysHoldKinds(t *testing.T) {
	// Huge: past MaxKeptValue, 64 KiB (impossible travel bounds each
	// point's address and place, so its row stays within an entity).
	huge := strings.Repeat("h", 1<<16)
	values := []string{"a|b", "a!7Cb", "|", "!", "~", "~first", "a|~first", "x\x00y", "x\x01y", "x\x7fy", "x/y", `x\y`, "x#y", "x?y", "x'y",
		"ünï|cödé", "é", "\xff\xfe", "日本語", strings.Repeat("/", 200), strings.Repeat("a", 300), huge}
	writers := []string{"w|1", "eventhub://ns/hub/0", "/tmp/a b/c#d?.json", `c:\logs\x`, "\x00", "é\xff", strings.Repeat("/", 500)}
	rules := []*Rule{
		kindRule(t, 63, "correlation:\n  type: new_term\n  group-by: [actor.upn]\n  fields: [geo.country, actor.ip]\n  learning: 0s\n  lookback: 30d\n"),
		kindRule(t, 64, "correlation:\n  type: sequence\n  group-by: [actor.upn]\n  timespan: 1h\n  steps: [failed, ok]\n"),
		kindRule(t, 65, "correlation:\n  type: impossible_travel\n  group-by: [actor.upn]\n  fields: [properties.location.geoCoordinates.latitude, properties.location.geoCoordinates.longitude]\n  timespan: 24h\n  condition: {gte: 900}\n"),
	}
	for _, r := range rules {
		store := &keyCheckingStore{Store: state.NewMemory()}
		e := newKindEngine(t, r, store)
		matched, n := 0, 0
		for batch := range 2 {
			var evs []*event.Event
			for i, g := range values {
				for j, w := range writers {
					n++
					code := []string{"50126", "0"}[batch]
					ev := signIn(fmt.Sprintf("e%d", n), g, values[(i+j)%len(values)], code, values[(i+batch)%len(values)],
						t0.Add(time.Duration(batch)*time.Hour+time.Duration(j)*time.Second))
					ev.Raw = fmt.Appendf(nil, `{"id":"e%d","properties":{"location":{"geoCoordinates":{"latitude":%d,"longitude":%d}}}}`, n, 50-80*batch, 170*batch-80)
					ev.Pos = event.Position{Writer: w, Seq: int64(batch), Index: i, Sub: j}
					evs = append(evs, ev)
				}
			}
			matched += len(eval(t, e, evs...))
		}
		if len(store.refused) > 0 {
			t.Errorf("%s: %d keys given the store escaped are refused by the full check, first %s", r.Correlation().Type, len(store.refused), store.refused[0])
		}
		if store.calls == 0 || matched == 0 {
			t.Errorf("%s: %d store calls, %d matches: the test reaches nothing", r.Correlation().Type, store.calls, matched)
		}
	}
}
