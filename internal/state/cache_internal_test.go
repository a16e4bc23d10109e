package state

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func all(string) bool { return true }

// TestViewCacheBounded: the views together stay within the cache's bytes,
// the least recently used dropped first, and a partition of more than a
// page is not kept.
func TestViewCacheBounded(t *testing.T) {
	c := newViewCache(64 << 10)
	row := func(p string, i int) Entity {
		return Entity{PartitionKey: p, RowKey: fmt.Sprintf("r%03d", i), ETag: "e", Data: []byte(strings.Repeat("x", 1000))}
	}
	for p := range 10 {
		name := fmt.Sprintf("p%d", p)
		var rows []Entity
		for i := range 10 {
			rows = append(rows, row(name, i))
		}
		c.filled("t", name, rows, true)
		if c.bytes > c.max {
			t.Fatalf("after %d partitions: %d bytes held, at most %d", p+1, c.bytes, c.max)
		}
	}
	if plan, got := c.plan("t", "p9", false, all); plan != planServe || len(got) != 10 {
		t.Errorf("the latest partition: plan %d, %d rows; want its view", plan, len(got))
	}
	if c.parts[partID("t", "p0")] != nil {
		t.Error("the least recently used partition is still held")
	}
	var big []Entity
	for i := range pageSize + 1 {
		big = append(big, Entity{PartitionKey: "big", RowKey: fmt.Sprint(i)})
	}
	c.filled("t", "big", big, true)
	if e := c.parts[partID("t", "big")]; e != nil && e.view != nil {
		t.Error("a partition of more than a page is kept")
	}
	c.filled("t", "big2", big[:10], false) // what a read of more than a page reports
	if e := c.parts[partID("t", "big2")]; e != nil && e.view != nil {
		t.Error("a partition read incomplete is kept")
	}
}

// TestViewCacheBackoff: a view that conflicts is dropped and the partition
// read from the service for cacheBackoff, doubling; a table whose views
// keep conflicting takes none for contendedPause; a view older than
// cacheMaxAge is read again.
func TestViewCacheBackoff(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	c := newViewCache(defaultCacheBytes)
	c.now = func() time.Time { return now }
	c.filled("t", "p", nil, true)
	_, g := c.versionOp("t", "p", nil)
	c.conflicted("t", "p", g)
	if plan, _ := c.plan("t", "p", false, all); plan != planBypass {
		t.Fatalf("right after a conflict: plan %d, want a read from the service", plan)
	}
	now = now.Add(cacheBackoff + time.Second)
	if plan, _ := c.plan("t", "p", false, all); plan != planFill {
		t.Fatalf("after the backoff: plan %d, want a read that takes a view", plan)
	}
	c.filled("t", "p", nil, true)
	_, g = c.versionOp("t", "p", nil)
	c.conflicted("t", "p", g)
	now = now.Add(cacheBackoff + time.Second)
	if plan, _ := c.plan("t", "p", false, all); plan != planBypass {
		t.Fatalf("a second conflict: plan %d, want the backoff doubled", plan)
	}
	now = now.Add(cacheBackoff)
	if plan, _ := c.plan("t", "p", false, all); plan != planFill {
		t.Fatalf("after the doubled backoff: plan %d", plan)
	}
	c.filled("t", "p", nil, true)
	now = now.Add(cacheMaxAge + time.Second)
	if plan, _ := c.plan("t", "p", false, all); plan != planFill {
		t.Fatalf("an old view: plan %d, want it read again", plan)
	}

	// Conflicts on many partitions of a table: none takes a view.
	for i := 0; ; i++ {
		p := fmt.Sprint("q", i)
		c.filled("t", p, nil, true)
		_, g := c.versionOp("t", p, nil)
		c.conflicted("t", p, g)
		if now.Before(c.contention("t").offUntil) {
			break
		}
		if i == 20 {
			t.Fatal("20 conflicts in a row and the table still takes views")
		}
	}
	if plan, _ := c.plan("t", "fresh", false, all); plan != planBypass {
		t.Errorf("a contended table: plan %d, want reads from the service", plan)
	}
	now = now.Add(contendedPause + time.Second)
	if plan, _ := c.plan("t", "fresh2", false, all); plan == planBypass {
		t.Errorf("after the pause: plan %d, want views again", plan)
	}
}
