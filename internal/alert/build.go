package alert

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/event"
)

// MaxEvidence is how many records an alert carries as evidence.
const MaxEvidence = 5

// Spec is what a rule says about the alerts it raises.
type Spec struct {
	RuleID     string
	Title      string
	Severity   string
	Tactics    []string
	Techniques []string
	// Summary overrides the generated one-line summary when not empty.
	Summary string
	// GroupKey identifies what the alert is about within the rule (a caller,
	// an IP); empty for single-event rules, where the record's own identity
	// is used so that a redelivered record gives the same alert id.
	GroupKey string
	// WindowStart is the start of the rule's window (zero for single-event
	// rules).
	WindowStart time.Time
	// Count is how many events the rule counted (0 means len(events)).
	Count int
	// Group is the rule's alert group (empty: none): rules detecting the
	// same thing in two exports of one log share their alerts.
	Group string
}

// IndicatorWindow is the window single-event rules' alerts are grouped
// by: one alert per rule, entity and UTC day, with the count and the
// first and last time of the records behind it (five risky sign-ins of one
// user from one address are one alert). A later batch raising the same
// id within the suppression window is dropped as already sent.
const IndicatorWindow = 24 * time.Hour

// groupWindow is the window of alert groups' ids: their rules' windows
// may differ (a new term is raised at the record's time), the hour holds
// both exports of one request.
const groupWindow = time.Hour

// New builds an alert from a rule's spec and the events behind it.
func New(spec Spec, events []*event.Event) Alert {
	a := Alert{
		RuleID:     spec.RuleID,
		Title:      spec.Title,
		Severity:   spec.Severity,
		Tactics:    spec.Tactics,
		Techniques: spec.Techniques,
		GroupKey:   spec.GroupKey,
		Count:      spec.Count,
	}
	if a.Count == 0 {
		a.Count = len(events)
	}
	key, window := spec.GroupKey, spec.WindowStart
	if key == "" && window.IsZero() && len(events) > 0 {
		// A single-event rule: one alert per entity and day.
		a.indicator = true
		a.ops = map[string]bool{OperationKey(events[0]): true}
		key = EntityKey(events[0])
		window = events[0].Time.UTC().Truncate(IndicatorWindow)
		a.GroupKey = key
	}
	idRule := spec.RuleID
	if spec.Group != "" {
		a.AlertGroup = spec.Group
		idRule = spec.Group
		window = window.UTC().Truncate(groupWindow)
	}
	a.ID = Fingerprint(idRule, key, window)
	var ents entitySet
	for i, ev := range events {
		if i == 0 || ev.Time.Before(a.FirstSeen) {
			a.FirstSeen = ev.Time
		}
		if ev.Time.After(a.LastSeen) {
			a.LastSeen = ev.Time
		}
		if a.SourceType == "" {
			a.SourceType = ev.Source
		}
		ents.add(ev)
		if i < MaxEvidence {
			a.Evidence = append(a.Evidence, evidenceOf(ev))
		}
	}
	a.Entities = ents.result()
	a.Summary = spec.Summary
	if a.Summary == "" && len(events) > 0 {
		a.Summary = Summarise(events[0])
		if len(events) > 1 {
			a.Summary += fmt.Sprintf(" (%d events)", a.Count)
		}
	}
	a.summary = a.Summary
	return a
}

// EntityKey is what a single-event rule's alert is about: who (actor),
// from where (address), on what (resource, and the target unless the
// record is a sign-in, whose target is the application signed in to) and
// which operation. The same party doing the same thing again within the
// window adds to one alert; another target, resource or operation is
// another alert. A record with none of them (no actor, address, resource
// or target) is keyed by its own identity.
func EntityKey(ev *event.Event) string {
	target := ev.Target
	if ev.Source == "signinlogs" {
		target = ""
	}
	actor := ev.Actor.ID()
	if actor == "" && ev.Actor.IP == "" && ev.Resource.ID == "" && target == "" {
		return RecordKey(ev)
	}
	// source|operation|actor|ip|resource|target, lower-cased but for the
	// source and the address, built in one buffer (on the stack for the
	// usual sizes) and copied once.
	var room [512]byte
	b := append(room[:0], ev.Source...)
	b = append(b, '|')
	b = event.AppendLower(b, ev.Operation)
	b = append(b, '|')
	b = event.AppendLower(b, actor)
	b = append(b, '|')
	b = append(b, ev.Actor.IP...)
	b = append(b, '|')
	b = event.AppendLower(b, ev.Resource.ID)
	b = append(b, '|')
	b = event.AppendLower(b, target)
	return string(b)
}

// OperationKey identifies the operation a record belongs to: the Activity
// Log's Start, Accept and Success records of one operation share their
// correlation id; other records are their own operation.
func OperationKey(ev *event.Event) string {
	if ev.Source == "activitylogs" && ev.CorrelationID != "" {
		return "op|" + strings.ToLower(ev.CorrelationID)
	}
	return RecordKey(ev)
}

// RecordKey identifies one record for alert ids: its own id when the log has
// one, else what the Activity Log shares across the records of one
// operation plus the operation, resource and time.
func RecordKey(ev *event.Event) string {
	if ev.RecordID != "" {
		return ev.Source + "|" + ev.RecordID
	}
	return strings.Join([]string{
		ev.Source,
		ev.CorrelationID,
		strings.ToLower(ev.Operation),
		strings.ToLower(ev.Resource.ID),
		string(ev.Result),
		ev.Time.UTC().Format(time.RFC3339Nano),
	}, "|")
}

func evidenceOf(ev *event.Event) Evidence {
	return Evidence{
		Source:        ev.Source,
		Time:          ev.Time,
		Operation:     ev.Operation,
		Result:        string(ev.Result),
		Actor:         ev.Actor.ID(),
		IP:            ev.Actor.IP,
		Country:       ev.Geo.Country,
		Resource:      ev.Resource.ID,
		Target:        ev.Target,
		CorrelationID: ev.CorrelationID,
		RecordID:      ev.RecordID,
	}
}

// entitySet gathers an alert's entities. An alert's events are few
// (often one) and so are their entities: a list searched in full keeps
// them distinct without a map per kind.
type entitySet struct {
	users, ips, resources, subs, apps []string
}

func addTo(m *[]string, v string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return
	}
	for _, have := range *m {
		if have == v {
			return
		}
	}
	*m = append(*m, v)
}

func (s *entitySet) add(ev *event.Event) {
	// Users are people (and the accounts named as targets); apps, managed
	// identities and Azure's own services are not.
	switch ev.Actor.Type {
	case event.ActorServicePrincipal, event.ActorManagedIdentity, event.ActorPlatform:
	default:
		addTo(&s.users, firstNonEmpty(ev.Actor.UPN, ev.Actor.Name))
	}
	if ce, ok := ev.Normalised("defender.compromised_entity"); ok {
		addTo(&s.resources, ce)
	}
	if ev.Target != "" && strings.Contains(ev.Target, "@") {
		addTo(&s.users, ev.Target)
	} else if tt, _ := ev.Normalised("audit.target_type"); strings.EqualFold(tt, "Application") || strings.EqualFold(tt, "ServicePrincipal") {
		addTo(&s.apps, ev.Target)
	}
	// A role assignment's grantee (the principal the summary names).
	if strings.Contains(strings.ToLower(ev.Operation), "/roleassignments/") {
		for _, body := range []string{"properties.requestbody.properties", "properties.responseBody.properties"} {
			id, _ := ev.Get(body + ".principalId")
			typ, _ := ev.Get(body + ".principalType")
			if len(id) == 0 || id[0].IsNull() {
				continue
			}
			if len(typ) > 0 && !strings.EqualFold(typ[0].String(), "User") && !strings.EqualFold(typ[0].String(), "Group") {
				addTo(&s.apps, id[0].String())
			} else {
				addTo(&s.users, id[0].String())
			}
		}
	}
	addTo(&s.ips, ev.Actor.IP)
	// A flow's other side is a party too (the exfiltration's destination).
	for _, f := range []string{"flow.src_ip", "flow.dst_ip", "flow.remote_ip", "flow.local_ip"} {
		if v, ok := ev.Normalised(f); ok {
			addTo(&s.ips, v)
		}
	}
	if ev.Resource.Provider != "" {
		addTo(&s.resources, ev.Resource.ID)
	}
	addTo(&s.subs, strings.ToLower(ev.Resource.Subscription))
	addTo(&s.apps, firstNonEmpty(ev.Actor.AppName, ev.Actor.AppID))
}

// sorted returns the list sorted (nil when empty).
func sorted(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	sort.Strings(l)
	return l
}

func (s *entitySet) result() Entities {
	return Entities{
		Users:         sorted(s.users),
		IPs:           sorted(s.ips),
		Resources:     sorted(s.resources),
		Subscriptions: sorted(s.subs),
		Apps:          sorted(s.apps),
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
