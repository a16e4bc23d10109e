package detect

import (
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// checkReleased fails when c keeps any value, subject or keyword (they
// point into the records of the events it served).
func checkReleased(t *testing.T, c *fieldCache, when string) {
	t.Helper()
	if c.ev != nil {
		t.Errorf("%s: the cache still points at its event", when)
	}
	for i, e := range c.entries {
		if e.vals != nil {
			t.Errorf("%s: entry %d keeps %v", when, i, e.vals)
		}
	}
	for i, f := range c.resolved {
		if f.vals != nil {
			t.Errorf("%s: resolved %d keeps %v", when, i, f.vals)
		}
		for j, s := range f.subjects[:cap(f.subjects)] {
			if s != (subject{}) {
				t.Errorf("%s: resolved %d subject %d kept", when, i, j)
			}
		}
	}
	for j, s := range c.keywords[:cap(c.keywords)] {
		if s != (subject{}) {
			t.Errorf("%s: keyword %d kept", when, j)
		}
	}
	for j, v := range c.singles[:cap(c.singles)] {
		if v.Raw() != nil || v.Text() != "" {
			t.Errorf("%s: single %d kept", when, j)
		}
	}
}

// TestFieldCacheReleaseDropsTheRecord: a cache given back to fieldCaches
// keeps no value, subject or keyword of the events it served since it was
// last released (every event of a batch, not only the last), and answers
// the next event afresh: a field the next event lacks reads as missing.
func TestFieldCacheReleaseDropsTheRecord(t *testing.T) {
	app := newResolver("signinlogs", "properties.appDisplayName")
	other := newResolver("signinlogs", "properties.x")
	upn := newResolver("signinlogs", event.FieldActorUPN)
	c := newFieldCache()
	read := func(ev *event.Event, r *resolver) (string, bool) {
		f := c.field(ev, r)
		if !f.found {
			return "", false
		}
		return f.subjectAt(0).raw, true
	}

	// A batch of two events reading different fields, then a release.
	a := &event.Event{Source: "signinlogs", Raw: []byte(`{"properties":{"appDisplayName":"Azure Portal","x":"y"}}`)}
	a.Actor.UPN = "a@x"
	c.reset(a)
	if v, ok := read(a, app); !ok || v != "Azure Portal" {
		t.Fatalf("event a: %q %v", v, ok)
	}
	if v, ok := read(a, upn); !ok || v != "a@x" {
		t.Fatalf("event a upn: %q %v", v, ok)
	}
	if kw := c.keywordSubjects(a); len(kw) != 2 {
		t.Fatalf("event a keywords: %d", len(kw))
	}
	b := &event.Event{Source: "signinlogs", Raw: []byte(`{"properties":{"x":"z"}}`)}
	c.reset(b)
	if v, ok := read(b, other); !ok || v != "z" {
		t.Fatalf("event b: %q %v", v, ok)
	}
	c.release()
	checkReleased(t, c, "first release")

	// The next event lacks a's fields: they read as missing.
	d := &event.Event{Source: "signinlogs", Raw: []byte(`{"properties":{"y":"q"}}`)}
	c.reset(d)
	if v, ok := read(d, app); ok {
		t.Errorf("after release: appDisplayName reads %q from the previous batch", v)
	}
	if v, ok := read(d, upn); ok {
		t.Errorf("after release: actor.upn reads %q from the previous batch", v)
	}
	if vals, found := c.get(d, "properties.x", keyID("properties.x")); found {
		t.Errorf("after release: properties.x reads %v from the previous batch", vals)
	}
	if kw := c.keywordSubjects(d); len(kw) != 1 || kw[0].raw != "q" {
		t.Errorf("after release: keywords %v", kw)
	}
	// Fields read again after a release are cleared by the next one.
	e := &event.Event{Source: "signinlogs", Raw: []byte(`{"properties":{"appDisplayName":"Other","x":"w"}}`)}
	e.Actor.UPN = "e@x"
	c.reset(e)
	if v, ok := read(e, app); !ok || v != "Other" {
		t.Fatalf("event e: %q %v", v, ok)
	}
	if v, ok := read(e, upn); !ok || v != "e@x" {
		t.Fatalf("event e upn: %q %v", v, ok)
	}
	c.release()
	checkReleased(t, c, "second release")
}
