package alert_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/state"
)

// claimAlerts are n alerts whose ids are new in every run (the Azurite
// account is shared by the tests and kept between runs).
func claimAlerts(n int, now time.Time) []alert.Alert {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	salt := hex.EncodeToString(b)
	out := make([]alert.Alert, n)
	for i := range out {
		out[i] = alert.Alert{ID: fmt.Sprintf("%s-%03d", salt, i), RuleID: fmt.Sprintf("r%d", i%3),
			Title: "claim test", FirstSeen: now, LastSeen: now}
	}
	return out
}

func TestStoreSuppressor(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.new(t)
			now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			as := claimAlerts(2, now)
			a, b := as[0], as[1]
			dup := a
			dup.LastSeen = now.Add(time.Minute)

			// Two instances share the store.
			one, two := alert.NewStoreSuppressor(store, time.Hour), alert.NewStoreSuppressor(store, time.Hour)
			fresh, err := one.Fresh(ctx, now, []alert.Alert{a, b, dup})
			if err != nil {
				t.Fatal(err)
			}
			if len(fresh) != 2 || !fresh[0].LastSeen.Equal(dup.LastSeen) {
				t.Fatalf("fresh = %+v, want a (merged with its duplicate) and b", fresh)
			}
			// Claimed and not yet sent: the other instance does not send them.
			if got, err := two.Fresh(ctx, now, []alert.Alert{a, b}); err != nil || len(got) != 0 {
				t.Fatalf("the other instance claimed %d alert(s) being sent (%v)", len(got), err)
			}
			if err := one.Mark(ctx, now, fresh); err != nil {
				t.Fatal(err)
			}
			if again, err := two.Fresh(ctx, now.Add(30*time.Minute), []alert.Alert{a, b}); err != nil || len(again) != 0 {
				t.Fatalf("the other instance sent again: %+v (%v)", again, err)
			}
			if later, err := two.Fresh(ctx, now.Add(2*time.Hour), []alert.Alert{a}); err != nil || len(later) != 1 {
				t.Fatalf("after the window the alert is sent again: %+v (%v)", later, err)
			}
			if err := two.Mark(ctx, now.Add(2*time.Hour), []alert.Alert{a}); err != nil {
				t.Fatal(err)
			}
			// Sent entities expire with the window, for the maintenance sweep.
			for _, k := range []state.Key{alert.SuppressionKey(a), alert.SuppressionKey(b)} {
				got, err := store.Get(ctx, alert.SuppressionTable, []state.Key{k})
				if err != nil || !alert.Sent(got[k]) || got[k].Expires.IsZero() {
					t.Fatalf("claim %s after marking: %+v (%v)", k, got[k], err)
				}
			}
		})
	}
}

// TestStoreSuppressorClaimsOnce: instances claiming the same alerts at
// once, each batch overlapping the others, send each alert exactly once
// between them, whatever the sink.
func TestStoreSuppressorClaimsOnce(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.new(t)
			now := time.Now().UTC()
			all := claimAlerts(60, now)
			const instances = 4
			var mu sync.Mutex
			sent := map[string]int{}
			var wg sync.WaitGroup
			errs := make(chan error, instances)
			for w := 0; w < instances; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					sup := alert.NewStoreSuppressor(store, time.Hour)
					// Each instance sees the alerts in a different order.
					batch := append(append([]alert.Alert(nil), all[w*10:]...), all[:w*10]...)
					got, err := sup.Fresh(context.Background(), now, batch)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, a := range got {
						sent[a.ID]++
					}
					mu.Unlock()
					errs <- sup.Mark(context.Background(), now, got)
				}(w)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range all {
				if sent[a.ID] != 1 {
					t.Errorf("alert %s sent %d times", a.ID, sent[a.ID])
				}
			}
		})
	}
}

// TestStoreSuppressorCrashWindow: an instance that claims and dies before
// sending, or sends and dies before marking, leaves a pending claim that
// holds the alert; within the lease nobody else sends it, past the lease
// Redeliver sends it once and marks it. A failed send released with
// Release is sent by the next claim at once.
func TestStoreSuppressorCrashWindow(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.new(t)
			now := time.Now().UTC()
			opts := alert.StoreSuppressorOptions{Window: time.Hour, Lease: time.Minute}
			crashed, other := alert.NewStoreSuppressorWith(store, opts), alert.NewStoreSuppressorWith(store, opts)
			as := claimAlerts(3, now)
			as[0].Evidence = []alert.Evidence{{Source: "signinlogs", Actor: "mallory@contoso.com"}}
			if got, err := crashed.Fresh(ctx, now, as[:2]); err != nil || len(got) != 2 {
				t.Fatalf("claim: %d, %v", len(got), err)
			}
			// ... and the process dies: no Mark, no Release.

			// The host redelivers the batch to another instance within the lease.
			if got, err := other.Fresh(ctx, now.Add(10*time.Second), as[:2]); err != nil || len(got) != 0 {
				t.Fatalf("within the lease another instance claimed %d (%v)", len(got), err)
			}
			var sink alert.Collector
			if n, err := other.Redeliver(ctx, now.Add(30*time.Second), &sink); err != nil || n != 0 {
				t.Fatalf("redeliver within the lease: %d, %v", n, err)
			}
			// Past the lease the timer sends them, from the claims alone.
			n, err := other.Redeliver(ctx, now.Add(2*time.Minute), &sink)
			sink.Alerts = ours(sink.Alerts, as)
			if err != nil || n < 2 || len(sink.Alerts) != 2 {
				t.Fatalf("redeliver past the lease: %d, %v, %d of ours", n, err, len(sink.Alerts))
			}
			for _, a := range sink.Alerts {
				if a.ID == as[0].ID && (len(a.Evidence) != 1 || a.Evidence[0].Actor != "mallory@contoso.com") {
					t.Fatalf("redelivered alert lost its evidence: %+v", a)
				}
			}
			if _, err := crashed.Redeliver(ctx, now.Add(3*time.Minute), &sink); err != nil || len(ours(sink.Alerts, as)) != 2 {
				t.Fatalf("redelivered again once marked: %d, %v", len(ours(sink.Alerts, as)), err)
			}
			if got, err := other.Fresh(ctx, now.Add(4*time.Minute), as[:2]); err != nil || len(got) != 0 {
				t.Fatalf("claimed again once marked: %d, %v", len(got), err)
			}

			// A failed send, released: the retry on another instance sends it.
			if got, err := crashed.Fresh(ctx, now, as[2:]); err != nil || len(got) != 1 {
				t.Fatalf("claim: %d, %v", len(got), err)
			}
			if err := crashed.Release(ctx, now, as[2:]); err != nil {
				t.Fatal(err)
			}
			if got, err := other.Fresh(ctx, now.Add(time.Second), as[2:]); err != nil || len(got) != 1 {
				t.Fatalf("a released claim was not taken by the retry: %d, %v", len(got), err)
			}
			if err := other.Mark(ctx, now.Add(time.Second), as[2:]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// ours keeps the alerts whose id is one of want's: the Azurite table is
// shared with the other tests.
func ours(got, want []alert.Alert) []alert.Alert {
	ids := map[string]bool{}
	for _, a := range want {
		ids[a.ID] = true
	}
	var out []alert.Alert
	for _, a := range got {
		if ids[a.ID] {
			out = append(out, a)
		}
	}
	return out
}

// answerLost is a store whose first transaction on the suppression table
// is applied but answered as a conflict: what the Table client's retry of
// a transaction whose answer was lost (a timeout, a reset connection, a
// 5xx) meets, its own write.
type answerLost struct {
	state.Store
	mu   sync.Mutex
	lost bool
}

func (s *answerLost) Apply(ctx context.Context, table string, ops []state.Op) error {
	err := s.Store.Apply(ctx, table, ops)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || s.lost || table != alert.SuppressionTable {
		return err
	}
	s.lost = true
	ce := &state.ConflictError{Table: table, PartitionKey: ops[0].Entity.PartitionKey, Partitions: []string{ops[0].Entity.PartitionKey}}
	for _, o := range ops {
		ce.Uncommitted = append(ce.Uncommitted, o.Entity.Key())
	}
	return ce
}

// TestStoreSuppressorClaimAnswerLost: a claim applied although its answer
// was a conflict is the claiming call's, sent by it, and another
// instance's claim is still not (TestTwoProcessesSendOnce lost an alert
// that way: the call took its own pending claim for another instance's,
// so neither sent it).
func TestStoreSuppressorClaimAnswerLost(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
			a := claimAlerts(1, now)[0]
			store := &answerLost{Store: st.new(t)}
			one := alert.NewStoreSuppressor(store, time.Hour)
			fresh, err := one.Fresh(ctx, now, []alert.Alert{a})
			if err != nil {
				t.Fatal(err)
			}
			if !store.lost {
				t.Fatal("the claim's answer was not lost: the case was not exercised")
			}
			if len(fresh) != 1 || fresh[0].ID != a.ID {
				t.Fatalf("fresh = %+v: the call's own claim, applied, was taken for another instance's", fresh)
			}
			// Another call (another instance) does not take it.
			two := alert.NewStoreSuppressor(store, time.Hour)
			if got, err := two.Fresh(ctx, now, []alert.Alert{a}); err != nil || len(got) != 0 {
				t.Fatalf("another instance claimed the alert being sent: %+v (%v)", got, err)
			}
		})
	}
}
