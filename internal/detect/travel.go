package detect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/state"
)

// CorrTravel is the impossible-travel kind: an entity (group-by: a user)
// seen at two places (fields: latitude and longitude) farther apart than
// minTravelKm, at a speed (km/h) that meets the condition, within timespan.
const CorrTravel = "impossible_travel"

// TravelKind raises a match when an entity's successive events are too far
// apart for the time between them. Each event is compared with its
// neighbours in time among the entity's recent points (kept in the store:
// records arrive in any order and batch), so a user who flew from Seattle to
// London raises nothing (about 770 km/h) while a sign-in from Frankfurt ten
// minutes after one from Seattle does. Only the first point at the far
// place raises: the next ones have a neighbour there.
//
// Entity: PK JoinKey("trv", rule, bucket), RK Escape(entity); Data holds
// the entity's points within timespan of its latest (time, coordinates,
// address, place, the event's key), at most maxTravelPoints; Expires is the
// latest point plus timespan. The match's identity is the entity and the
// later point's time, so a replayed batch raises the same alert id again
// (suppression drops it).
type TravelKind struct{ base }

// Name implements Kind.
func (k *TravelKind) Name() string { return CorrTravel }

const (
	// minTravelKm: closer places are geolocation noise (one ISP's
	// addresses placed in neighbouring cities), whatever the speed.
	minTravelKm = 500
	// maxTravelPoints bounds an entity's kept points.
	maxTravelPoints = 32
	// maxTravelIP and maxTravelPlace bound each kept point's address and
	// place (boundedTo): 32 points of values at MaxKeptValue, escaped
	// six-fold in JSON (control characters), would outgrow an entity's
	// 64 KiB data property and fail the batch.
	maxTravelIP, maxTravelPlace = 64, 96
)

type travelPoint struct {
	Key   string    `json:"k"`
	T     time.Time `json:"t"`
	Lat   float64   `json:"la"`
	Lon   float64   `json:"lo"`
	IP    string    `json:"ip,omitempty"`
	Place string    `json:"pl,omitempty"`
}

type travelData struct {
	Points []travelPoint `json:"p"`
}

// point reads the event's coordinates (the first two fields).
func (k *TravelKind) point(ev *event.Event) (travelPoint, bool) {
	if len(k.c.termRes) < 2 {
		return travelPoint{}, false
	}
	var ll [2]float64
	for i := 0; i < 2; i++ {
		s, ok := firstValue(ev, k.c.termRes[i].res)
		if !ok {
			return travelPoint{}, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return travelPoint{}, false
		}
		ll[i] = f
	}
	if ll[0] < -90 || ll[0] > 90 || ll[1] < -180 || ll[1] > 180 || (ll[0] == 0 && ll[1] == 0) {
		return travelPoint{}, false // unknown location written as 0,0
	}
	place := strings.Trim(strings.Join([]string{ev.Geo.City, ev.Geo.Country}, ", "), ", ")
	return travelPoint{Key: eventKey(ev), T: ev.Time.UTC(), Lat: ll[0], Lon: ll[1], IP: boundedTo(ev.Actor.IP, maxTravelIP), Place: boundedTo(place, maxTravelPlace)}, true
}

// distanceKm is the great-circle distance between two points.
func distanceKm(a, b travelPoint) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// Matches implements Kind.
func (k *TravelKind) Matches(ctx context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	type group struct {
		entity string
		events []*event.Event
		points []travelPoint
		merged []travelPoint // the entity's points after the call
		at     uint8         // its partition's bucket (bucketOf)
	}
	// Groups by entity: a row's key is built once per entity of the
	// batch, not per event (the map by key is made for a retry).
	groups := make(map[string]*group, len(events)) // most of a batch's users distinct
	var byKey map[state.Key]*group
	var keys []state.Key
	var list []*group // the groups of keys, in its order
	var arena keyArena
	// Groups and the first event and point of each come from slabs.
	var groupSlab slab[group]
	var evSlab slab[*event.Event]
	var pointSlab slab[travelPoint]
	for _, ev := range events {
		g, ok := k.groupKey(ev, &arena)
		if !ok || ev.Time.IsZero() {
			continue
		}
		p, ok := k.point(ev)
		if !ok {
			continue
		}
		gr := groups[g]
		if gr == nil {
			at := bucketIndex(g)
			key := state.Key{PartitionKey: k.buckets[at], RowKey: state.Escape(g)}
			gr = groupSlab.next()
			gr.entity, gr.events, gr.points, gr.at = g, evSlab.one(), pointSlab.one(), at
			groups[g] = gr
			keys, list = append(keys, key), append(list, gr)
		}
		gr.events = append(gr.events, ev)
		gr.points = append(gr.points, p)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	// Read and written partition by partition (the store meets each
	// partition key in one run); the matches come in the batch's order.
	txKeys, txList := byBucket(keys, list, func(gr *group) uint8 { return gr.at })
	pending := txKeys
	// Every read and write below is for update, and every key escaped by
	// construction (the partitions JoinKey's, the rows Escape's): the
	// store checks the lengths of the keys written, not their bytes again
	// (TestEscapedKeysHoldKinds). Derived once.
	ctx = state.EscapedKeys(state.ForUpdate(ctx))
	for attempt := 0; ; attempt++ {
		// A read for update: written back below, read again on a conflict.
		got, err := k.store.Get(ctx, StateTable, pending)
		if err != nil {
			return nil, fmt.Errorf("read travel state: %w", err)
		}
		var ops []state.Op
		for i, key := range pending {
			cur, found := got[key]
			var d travelData
			if err := loadTravel(key, cur, found, &d); err != nil {
				if !unreadableRow(ctx, r.ID, err) {
					return nil, err
				}
				d = travelData{} // the points it held are lost; rewritten below
			}
			var gr *group
			if attempt == 0 {
				gr = txList[i] // pending is txKeys
			} else {
				if byKey == nil {
					byKey = make(map[state.Key]*group, len(keys))
					for j, k := range txKeys {
						byKey[k] = txList[j]
					}
				}
				gr = byKey[key]
			}
			pts, changed := k.mergePoints(d.Points, gr.points)
			gr.merged = pts
			if !changed {
				continue
			}
			data := (&travelData{Points: pts}).encodeRow(found, len(key.RowKey)+len(gr.entity))
			last := pts[len(pts)-1].T
			e := state.Entity{PartitionKey: key.PartitionKey, RowKey: key.RowKey, Text: gr.entity,
				Time: last, Data: data, Expires: k.expiry(last, k.c.Timespan)}
			ops = append(ops, writeOp(state.Packed(e), cur, found))
		}
		if len(ops) == 0 {
			break
		}
		err = k.store.Apply(ctx, StateTable, ops)
		var ce *state.ConflictError
		if err == nil {
			break
		}
		if !errors.As(err, &ce) {
			return nil, fmt.Errorf("write travel state: %w", err)
		}
		if attempt >= maxConflictRetries {
			return nil, fmt.Errorf("write travel state: still conflicting after %d retries: %w", attempt, err)
		}
		if pending = ce.Uncommitted; len(pending) == 0 {
			pending = txKeys
		}
		if err := conflictPause(ctx, attempt); err != nil {
			return nil, err
		}
	}
	var out []Match
	for _, gr := range list {
		pts := gr.merged
		var seen map[string]bool // made at a group's first match
		for i, ev := range gr.events {
			p := gr.points[i]
			// The event's neighbours in time among the entity's points.
			at := slices.IndexFunc(pts, func(q travelPoint) bool { return q.Key == p.Key })
			if at < 0 {
				continue // dropped as older than the timespan
			}
			for _, j := range []int{at - 1, at + 1} {
				if j < 0 || j >= len(pts) {
					continue
				}
				m, ok := k.impossible(r, gr.entity, pts[at], pts[j], ev)
				if ok && !seen[m.WindowStart.String()] {
					if seen == nil {
						seen = map[string]bool{}
					}
					seen[m.WindowStart.String()] = true
					out = append(out, m)
				}
			}
		}
	}
	return out, nil
}

// mergePoints adds the batch's points to the stored ones (by event key),
// sorted by time, within timespan of the latest, at most maxTravelPoints.
// The stored points are the caller's own (decoded for this call): they
// are appended to, not copied.
func (k *TravelKind) mergePoints(stored, batch []travelPoint) ([]travelPoint, bool) {
	pts := stored
	changed := false
	for _, p := range batch {
		if !slices.ContainsFunc(pts, func(q travelPoint) bool { return q.Key == p.Key }) {
			pts = append(pts, p)
			changed = true
		}
	}
	slices.SortStableFunc(pts, func(a, b travelPoint) int { return a.T.Compare(b.T) })
	if n := len(pts); n > 0 {
		cut := pts[n-1].T.Add(-k.c.Timespan)
		i := slices.IndexFunc(pts, func(q travelPoint) bool { return !q.T.Before(cut) })
		if i > 0 {
			pts, changed = pts[i:], true
		}
	}
	if len(pts) > maxTravelPoints {
		pts, changed = pts[len(pts)-maxTravelPoints:], true
	}
	return pts, changed
}

// impossible tells whether travelling between a (the event's point) and b
// is too fast; the match names the later point's event first.
func (k *TravelKind) impossible(r *Rule, entity string, a, b travelPoint, ev *event.Event) (Match, bool) {
	km := distanceKm(a, b)
	if km < minTravelKm {
		return Match{}, false
	}
	dt := a.T.Sub(b.T)
	if dt < 0 {
		dt = -dt
	}
	if dt > k.c.Timespan {
		return Match{}, false
	}
	hours := math.Max(dt.Hours(), 1.0/60) // within a minute counts as a minute
	speed := km / hours
	if !k.c.met(speed) {
		return Match{}, false
	}
	later, earlier := a, b
	if b.T.After(a.T) {
		later, earlier = b, a
	}
	other := &event.Event{Source: ev.Source, Category: ev.Category, Time: earlier.T, Operation: ev.Operation,
		Result: ev.Result, Actor: event.Actor{UPN: ev.Actor.UPN, Name: ev.Actor.Name, IP: earlier.IP, Type: ev.Actor.Type}}
	other.Geo.City, other.Geo.Country, _ = strings.Cut(earlier.Place, ", ")
	if other.Geo.Country == "" {
		other.Geo.City, other.Geo.Country = "", earlier.Place
	}
	evs := []*event.Event{ev, other}
	if later.Key != a.Key {
		// The event is the earlier point: the stored later one leads.
		lead := *other
		lead.Time, lead.Actor.IP = later.T, later.IP
		lead.Geo.City, lead.Geo.Country, _ = strings.Cut(later.Place, ", ")
		evs = []*event.Event{&lead, ev}
	}
	desc := fmt.Sprintf("%s (%s) at %s after %s (%s) at %s: %.0f km in %s, %.0f km/h",
		later.Place, later.IP, later.T.Format("15:04"), earlier.Place, earlier.IP, earlier.T.Format("15:04"),
		km, dt.Round(time.Minute), speed)
	return Match{Rule: r, Events: evs, GroupKey: strings.Clone(entity), WindowStart: later.T, Count: 2, Values: []string{desc}}, true
}

var _ Kind = (*TravelKind)(nil)
