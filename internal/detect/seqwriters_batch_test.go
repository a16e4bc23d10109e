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

// TestSequenceWritersInOneBatch: one batch holding a group's events from
// several writers, interleaved with other groups', keeps a row per group
// and writer and judges each group as the sum of its rows: the group
// whose failure and success came through different writers matches, as
// does one through a single writer, and a replay of the batch raises the
// same identities again.
func TestSequenceWritersInOneBatch(t *testing.T) {
	r, err := detect.ParseRule("seq.yml", []byte(twoWritersSequence))
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewMemory()
	eng, _ := detect.NewEngine([]*detect.Rule{r}, detect.WithStore(store))
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ev := func(ip, code string, writer string, seq int, at time.Duration) *event.Event {
		return &event.Event{Source: "signinlogs", Time: t0.Add(at), RecordID: fmt.Sprintf("%s-%s-%d", ip, code, seq), ResultCode: code,
			Actor: event.Actor{IP: ip, UPN: "u@x"}, Pos: event.Position{Writer: writer, Seq: int64(seq)}}
	}
	var batch []*event.Event
	for i := range 30 {
		ip := fmt.Sprintf("203.0.113.%d", i)
		w := fmt.Sprintf("eventhub://ns/hub/%d", i%3)
		batch = append(batch, ev(ip, "50126", w, i, time.Minute))
		if i%2 == 0 { // the success through another writer (or the same, every third)
			w2 := fmt.Sprintf("eventhub://ns/hub/%d", (i/2)%3)
			batch = append(batch, ev(ip, "0", w2, 100+i, 2*time.Minute))
		}
	}
	for pass := range 2 {
		ms, err := eng.Evaluate(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, m := range ms {
			got[m.GroupKey] = true
			if len(m.Events) != 2 || m.Events[0].ResultCode != "50126" || m.Events[1].ResultCode != "0" {
				t.Errorf("pass %d: match %s: events %v", pass, m.GroupKey, m.Events)
			}
		}
		for i := range 30 {
			ip := fmt.Sprintf("203.0.113.%d", i)
			if got[ip] != (i%2 == 0) {
				t.Errorf("pass %d: %s matched %v, want %v", pass, ip, got[ip], i%2 == 0)
			}
		}
	}
}
