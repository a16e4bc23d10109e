package alert_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/alert/sinktest"
	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/azurite"
)

// emulator is Azurite: its Table service for the outbox and suppression on
// Table Storage, its Blob service for the dead-letter blobs.
var emulator *azurite.Server

func TestMain(m *testing.M) { azurite.Main(m, azurite.Table|azurite.Blob, &emulator) }

// uniqueTable names an outbox table for one test, so that tests sharing
// an Azurite account never see each other's alerts.
func uniqueTable() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "outbox" + hex.EncodeToString(b)
}

// stores are the state stores an outbox is tested on: memory always, Azure
// Table Storage on Azurite (skipped, saying why, when it is not installed).
var stores = []struct {
	name string
	new  func(t *testing.T) state.Store
}{
	{"memory", func(*testing.T) state.Store { return state.NewMemory() }},
	{"table", func(t *testing.T) state.Store {
		s, err := state.NewTableFromConnectionString(emulator.TableConnectionString(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// flakySink delivers the alerts fail lets through and reports the rest
// undelivered, as the Service Bus sink does when a later batch fails.
type flakySink struct {
	delivered []alert.Alert
	fail      func(a alert.Alert) bool
	plain     error // when set, fail with this error, no detail
}

func (f *flakySink) Publish(_ context.Context, alerts []alert.Alert) error {
	if f.plain != nil {
		return f.plain
	}
	for i, a := range alerts {
		if f.fail != nil && f.fail(a) {
			return &alert.UndeliveredError{Alerts: alerts[i:], Err: errors.New("namespace unreachable")}
		}
		f.delivered = append(f.delivered, a)
	}
	return nil
}

func (f *flakySink) Close() error { return nil }

func TestOutboxKeepsWhatWasNotDeliveredAndFlushesIt(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testOutboxKeepsAndFlushes(t, st.new(t)) })
	}
}

func testOutboxKeepsAndFlushes(t *testing.T, store state.Store) {
	ctx := context.Background()
	sink := &flakySink{}
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	out, err := alert.NewOutbox(store, sink, alert.OutboxOptions{Table: uniqueTable(), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	alerts := sinktest.Alerts(6, 1)

	// Delivered: nothing kept.
	if err := out.Publish(ctx, alerts[:2]); err != nil {
		t.Fatal(err)
	}
	if n, _ := out.Len(ctx); n != 0 {
		t.Fatalf("outbox holds %d after a good publish", n)
	}

	// The sink delivers alerts[2] and fails from alerts[3] on: the error
	// still fails the invocation, and the outbox holds alerts[3:].
	down := true
	sink.fail = func(a alert.Alert) bool { return down && a.ID == alerts[3].ID }
	err = out.Publish(ctx, alerts[2:])
	var u *alert.UndeliveredError
	if !errors.As(err, &u) || len(u.Alerts) != 3 {
		t.Fatalf("publish: %v", err)
	}
	if n, _ := out.Len(ctx); n != 3 {
		t.Fatalf("outbox holds %d, want 3", n)
	}

	// A plain error (no detail): everything is kept; keeping twice is
	// idempotent (one entity per alert id).
	clock = clock.Add(time.Minute)
	sink.plain = errors.New("boom")
	if err := out.Publish(ctx, alerts[4:]); err == nil {
		t.Fatal("publish with a failing sink succeeded")
	}
	if n, _ := out.Len(ctx); n != 3 {
		t.Fatalf("outbox holds %d, want 3 (the same ids kept again)", n)
	}

	// Flush while still failing keeps everything.
	if n, err := out.Flush(ctx); err == nil || n != 0 {
		t.Fatalf("flush while failing: %d, %v", n, err)
	}

	// Back: flush delivers them all and empties the outbox.
	sink.plain, down = nil, false
	sink.delivered = nil
	n, err := out.Flush(ctx)
	if err != nil || n != 3 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	if left, _ := out.Len(ctx); left != 0 {
		t.Fatalf("outbox holds %d after a flush", left)
	}
	if len(sink.delivered) != 3 || !sinktest.Equal(sink.delivered[0], alerts[3]) {
		t.Fatalf("flush delivered %d alerts, first %s", len(sink.delivered), sink.delivered[0].ID)
	}
	summary, err := out.Maintain(ctx)
	if err != nil || summary != "outbox: 0 alert(s) delivered" {
		t.Fatalf("maintain: %q, %v", summary, err)
	}
}

func TestOutboxFlushForgetsOnlyWhatWasDelivered(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testOutboxFlushForgets(t, st.new(t)) })
	}
}

func testOutboxFlushForgets(t *testing.T, store state.Store) {
	ctx := context.Background()
	sink := &flakySink{plain: errors.New("down")}
	out, err := alert.NewOutbox(store, sink, alert.OutboxOptions{Table: uniqueTable(), FlushBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	alerts := sinktest.Alerts(5, 1)
	_ = out.Publish(ctx, alerts)
	sink.plain = nil
	failing := ""
	sink.fail = func(a alert.Alert) bool { return a.ID == failing }
	kept, _ := out.Len(ctx)
	if kept != 5 {
		t.Fatalf("kept %d", kept)
	}
	// Fail on the fourth alert flushed (second chunk of two).
	failing = alerts[3].ID
	n, err := out.Flush(ctx)
	if err == nil {
		t.Fatal("flush with a failing alert succeeded")
	}
	left, _ := out.Len(ctx)
	if n+left != 5 || left == 0 {
		t.Fatalf("flush delivered %d, %d left: want the rest kept", n, left)
	}
	failing = ""
	if m, err := out.Flush(ctx); err != nil || m != left {
		t.Fatalf("second flush: %d, %v; want %d", m, err, left)
	}
}

func TestOutboxCutsAlertsBiggerThanAnEntity(t *testing.T) {
	ctx := context.Background()
	sink := &flakySink{plain: errors.New("down")}
	out, _ := alert.NewOutbox(state.NewMemory(), sink, alert.OutboxOptions{})
	big := sinktest.Alert(1, 1000) // about 400 KB: more than one entity holds
	if err := out.Publish(ctx, []alert.Alert{big}); err == nil {
		t.Fatal("publish succeeded")
	}
	sink.plain = nil
	if n, err := out.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	got := sink.delivered[0]
	if got.ID != big.ID || len(got.Evidence) == 0 || len(got.Evidence) >= len(big.Evidence) {
		t.Fatalf("kept alert %s with %d of %d evidence", got.ID, len(got.Evidence), len(big.Evidence))
	}
}
