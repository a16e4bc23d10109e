// Package scale measures azdetect's state path the way many function
// instances use it: a Store that counts round trips, partitions and
// conflicts per batch (Counting), and a simulation of N `serve` processes
// on one Table Storage account, each fed its own Event Hub partition
// (Simulate; `make simulate`).
package scale

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

// Counting is a state.Store that tallies what its calls cost: round trips
// (from the store's own count, so concurrent calls are counted exactly),
// the partitions read and written, and the conflicts returned. Reset
// starts a new tally (a batch).
type Counting struct {
	state.Store

	mu        sync.Mutex
	tally     Tally
	start     int64
	readParts map[string]bool
	writeOps  map[string]int
}

// Tally is what the calls since the last Reset cost.
type Tally struct {
	RoundTrips        int64 // every read and write round trip
	PartitionsRead    int   // distinct table/partition pairs read
	PartitionsWritten int   // distinct table/partition pairs written
	Transactions      int   // the fewest transactions those writes need (100 operations each)
	Conflicts         int   // Apply calls that returned a conflict
	// Written names the table/partition pairs written, sorted.
	Written []string
}

// NewCounting wraps s.
func NewCounting(s state.Store) *Counting {
	c := &Counting{Store: s}
	c.Reset()
	return c
}

// Reset returns the tally so far and starts a new one.
func (c *Counting) Reset() Tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tally
	now := c.Store.Ops()
	t.RoundTrips = now - c.start
	t.PartitionsRead = len(c.readParts)
	t.PartitionsWritten = len(c.writeOps)
	for p, n := range c.writeOps {
		t.Transactions += (n + state.MaxTransactionOps - 1) / state.MaxTransactionOps
		t.Written = append(t.Written, p)
	}
	slices.Sort(t.Written)
	c.tally, c.start = Tally{}, now
	c.readParts = map[string]bool{}
	c.writeOps = map[string]int{}
	return t
}

func (c *Counting) read(table string, parts []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range parts {
		c.readParts[table+"/"+p] = true
	}
}

// Get implements state.Store.
func (c *Counting) Get(ctx context.Context, table string, keys []state.Key) (map[state.Key]state.Entity, error) {
	out, err := c.Store.Get(ctx, table, keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k.PartitionKey)
	}
	c.read(table, parts)
	return out, err
}

// List implements state.Store.
func (c *Counting) List(ctx context.Context, table, pk, prefix string) ([]state.Entity, error) {
	out, err := c.Store.List(ctx, table, pk, prefix)
	c.read(table, []string{pk})
	return out, err
}

// Find implements state.Store.
func (c *Counting) Find(ctx context.Context, table, pk string, prefixes []string) ([]state.Entity, error) {
	out, err := c.Store.Find(ctx, table, pk, prefixes)
	c.read(table, []string{pk})
	return out, err
}

// Apply implements state.Store.
func (c *Counting) Apply(ctx context.Context, table string, ops []state.Op) error {
	err := c.Store.Apply(ctx, table, ops)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range ops {
		c.writeOps[table+"/"+o.Entity.PartitionKey]++
	}
	if errors.Is(err, state.ErrConflict) {
		c.tally.Conflicts++
	}
	return err
}

// Sweep implements state.Store (not counted: the maintenance timer's).
func (c *Counting) Sweep(ctx context.Context, table string, now time.Time) (int, error) {
	return c.Store.Sweep(ctx, table, now)
}

var _ state.Store = (*Counting)(nil)
