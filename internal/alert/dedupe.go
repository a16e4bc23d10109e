package alert

import (
	"sync"
	"time"
)

// Deduper drops alerts whose id was already published within the
// suppression window: the same record redelivered, or the same rule, group
// and window raised again. In memory; the state issue moves it to Table
// Storage for several instances.
type Deduper struct {
	mu     sync.Mutex
	window time.Duration
	seen   map[string]time.Time // id -> when published
	// claimed holds the ids Fresh returned and neither Mark nor Release
	// settled yet: two invocations of one process at once send an alert
	// once.
	claimed map[string]time.Time
	max     int
}

// NewDeduper keeps ids for window, at most max of them (oldest dropped).
func NewDeduper(window time.Duration, max int) *Deduper {
	return &Deduper{window: window, seen: make(map[string]time.Time), claimed: make(map[string]time.Time), max: max}
}

// Fresh returns the alerts not seen within the window nor claimed by
// another caller, in order, merging duplicates inside the slice, and
// claims them. Call Mark after they were delivered, Release if not.
func (d *Deduper) Fresh(now time.Time, alerts []Alert) []Alert {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := alerts[:0:0]
	inBatch := make(map[string]int, len(alerts))
	for _, a := range alerts {
		if t, ok := d.seen[a.ID]; ok && now.Sub(t) < d.window {
			continue
		}
		if i, ok := inBatch[a.ID]; ok {
			merge(&out[i], a)
			continue
		}
		if t, ok := d.claimed[a.ID]; ok && now.Sub(t) < DefaultClaimLease {
			continue // another invocation is sending it
		}
		inBatch[a.ID] = len(out)
		out = append(out, a)
	}
	for _, a := range out {
		d.claimed[a.ID] = now
	}
	return out
}

// Release forgets the claim Fresh made on alerts that were not delivered.
func (d *Deduper) Release(alerts []Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range alerts {
		delete(d.claimed, a.ID)
	}
}

// Mark records alerts as delivered at now.
func (d *Deduper) Mark(now time.Time, alerts []Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range alerts {
		d.seen[a.ID] = now
		delete(d.claimed, a.ID)
	}
	if len(d.claimed) > d.max {
		// Claims neither marked nor released (a caller that gave up).
		for id, t := range d.claimed {
			if now.Sub(t) >= DefaultClaimLease {
				delete(d.claimed, id)
			}
		}
	}
	if len(d.seen) > d.max {
		for id, t := range d.seen {
			if now.Sub(t) >= d.window || len(d.seen) > d.max {
				delete(d.seen, id)
			}
		}
	}
}

// merge folds a duplicate alert (same id) into a.
func merge(a *Alert, b Alert) {
	if b.FirstSeen.Before(a.FirstSeen) {
		a.FirstSeen = b.FirstSeen
	}
	if b.LastSeen.After(a.LastSeen) {
		a.LastSeen = b.LastSeen
	}
}
