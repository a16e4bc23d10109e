package detect

import (
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestFieldCacheReleaseDropsTheRecord: a cache given back to fieldCaches
// keeps no value, subject or keyword of its last event (they point into
// that event's record), and answers the next event afresh.
func TestFieldCacheReleaseDropsTheRecord(t *testing.T) {
	raw := []byte(`{"properties":{"appDisplayName":"Azure Portal","x":"y"}}`)
	ev := &event.Event{Source: "signinlogs", Raw: raw}
	c := newFieldCache()
	c.reset(ev)
	id := keyID("properties.appDisplayName")
	vals, found := c.get(ev, "properties.appDisplayName", id)
	if !found || len(vals) != 1 || vals[0].Text() != "Azure Portal" {
		t.Fatalf("get: %v %v", vals, found)
	}
	c.resolved = append(c.resolved, resolvedField{vals: vals, subjects: []subject{newSubject("azure portal")}, gen: c.gen})
	c.keywords = append(c.keywords, newSubject("y"))
	c.release()
	if c.ev != nil {
		t.Error("the cache still points at its event")
	}
	for i, e := range c.entries {
		if e.vals != nil {
			t.Errorf("entry %d keeps %v", i, e.vals)
		}
	}
	for i, f := range c.resolved {
		if f.vals != nil {
			t.Errorf("resolved %d keeps %v", i, f.vals)
		}
		for j, s := range f.subjects[:cap(f.subjects)] {
			if s != (subject{}) {
				t.Errorf("resolved %d subject %d kept", i, j)
			}
		}
	}
	for j, s := range c.keywords[:cap(c.keywords)] {
		if s != (subject{}) {
			t.Errorf("keyword %d kept", j)
		}
	}
	// The next event is answered from its own record.
	ev2 := &event.Event{Source: "signinlogs", Raw: []byte(`{"properties":{"appDisplayName":"Other"}}`)}
	c.reset(ev2)
	if vals, found := c.get(ev2, "properties.appDisplayName", id); !found || vals[0].Text() != "Other" {
		t.Fatalf("after release: %v %v", vals, found)
	}
}
