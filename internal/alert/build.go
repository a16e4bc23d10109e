package alert

import (
	"hash/maphash"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

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
	var r *Room // each piece an allocation of its own
	return r.New(spec, events)
}

// Room is where alerts built together (Room.New) keep their evidence,
// entity lists, keys and summaries: cut from runs and chunks they share,
// not allocations of their own (they were four an alert, half an
// allocation a record). The alerts of one chunk are delivered, kept and
// dropped together, so a run lives about as long as each of them. Nothing
// cut is written again: each piece's capacity ends at its length, and an
// alert's lists are copied before they grow (merge). The zero Room is
// ready; a nil one allocates each piece; not safe for concurrent use.
type Room struct {
	ev    []Evidence
	strs  []string
	bytes []byte
	// lows are the last strings lowered for the room's entity keys
	// (their operations and resources, shared by the records of one
	// source) and their lower-case forms (lower).
	lows    [roomLows]lowered
	nextLow int
}

// lowered is a string and strings.ToLower of it.
type lowered struct{ s, lower string }

// roomLows is how many lowered strings a Room keeps.
const roomLows = 4

const (
	// roomEvidence and roomStrings are the lengths of a Room's runs.
	roomEvidence = 32
	roomStrings  = 128
	// roomBytes is the size of a Room's chunks of strings; one longer
	// than maxRoomString is an allocation of its own.
	roomBytes     = 4 << 10
	maxRoomString = 512
)

// evidence returns an empty slice of capacity n.
func (r *Room) evidence(n int) []Evidence {
	if r == nil || n > roomEvidence {
		return make([]Evidence, 0, n)
	}
	if len(r.ev) < n {
		r.ev = make([]Evidence, roomEvidence)
	}
	e := r.ev[:0:n]
	r.ev = r.ev[n:]
	return e
}

// strings returns a slice of n empty strings.
func (r *Room) strings(n int) []string {
	if r == nil || n > roomStrings {
		return make([]string, n)
	}
	if len(r.strs) < n {
		r.strs = make([]string, roomStrings)
	}
	l := r.strs[:n:n]
	r.strs = r.strs[n:]
	return l
}

// String returns string(b), cut from the room's chunk of strings.
func (r *Room) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if r == nil || len(b) > maxRoomString {
		return string(b)
	}
	if cap(r.bytes)-len(r.bytes) < len(b) {
		r.bytes = make([]byte, 0, roomBytes)
	}
	n := len(r.bytes)
	r.bytes = append(r.bytes, b...)
	return unsafe.String(&r.bytes[n], len(b))
}

// New builds an alert from a rule's spec and the events behind it, as the
// package's New does, its pieces cut from the room.
func (r *Room) New(spec Spec, events []*event.Event) Alert {
	var a Alert
	r.Build(&a, spec, events)
	return a
}

// Build is New, the alert written into *a: the caller's slot in its
// slice of alerts (an Alert is ~340 bytes, and New's result was copied
// twice on its way there: 0.37k instructions an alert).
func (r *Room) Build(a *Alert, spec Spec, events []*event.Event) {
	*a = Alert{
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
		a.op = operationHash(events[0])
		key = entityKeyIn(r, events[0])
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
	var room [16]entity
	ents := entitySet(room[:0])
	if len(events) > 0 {
		a.Evidence = r.evidence(min(len(events), MaxEvidence))
	}
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
		ents = ents.add(ev, r)
		if i < MaxEvidence {
			a.Evidence = append(a.Evidence, evidenceOf(ev))
		}
	}
	a.Entities = ents.result(r)
	a.Summary = spec.Summary
	if a.Summary == "" && len(events) > 0 {
		a.Summary = Summarise(events[0])
		if len(events) > 1 {
			a.Summary = withCount(r, a.Summary, " (", a.Count, " events)")
		}
	}
	a.summary = a.Summary
}

// EntityKey is what a single-event rule's alert is about: who (actor),
// from where (address), on what (resource, and the target unless the
// record is a sign-in, whose target is the application signed in to) and
// which operation. The same party doing the same thing again within the
// window adds to one alert; another target, resource or operation is
// another alert. A record with none of them (no actor, address, resource
// or target) is keyed by its own identity.
func EntityKey(ev *event.Event) string { return entityKeyIn(nil, ev) }

// entityKeyIn is EntityKey, cut from r.
func entityKeyIn(r *Room, ev *event.Event) string {
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
	b = r.appendLower(b, ev.Operation)
	b = append(b, '|')
	b = event.AppendLower(b, actor)
	b = append(b, '|')
	b = append(b, ev.Actor.IP...)
	b = append(b, '|')
	b = r.appendLower(b, ev.Resource.ID)
	b = append(b, '|')
	b = event.AppendLower(b, target)
	return r.String(b)
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

// opSeed keys operationHash within this process (the hashes are compared
// only here: merging the alerts of one process's batches).
var opSeed = maphash.MakeSeed()

// operationHash is OperationKey's 64-bit hash, worked out without building
// the key: an indicator alert keeps the hashes of its operations, to count
// each once when alerts merge.
func operationHash(ev *event.Event) uint64 {
	var room [256]byte
	var b []byte
	switch {
	case ev.Source == "activitylogs" && ev.CorrelationID != "":
		b = event.AppendLower(append(room[:0], "op|"...), ev.CorrelationID)
	case ev.RecordID != "":
		b = append(append(append(room[:0], ev.Source...), '|'), ev.RecordID...)
	default:
		return maphash.String(opSeed, RecordKey(ev))
	}
	return maphash.Bytes(opSeed, b)
}

// withCount is s, before, n and after, cut from r (in one allocation
// without one).
func withCount(r *Room, s, before string, n int, after string) string {
	var room [256]byte
	b := room[:0]
	if need := len(s) + len(before) + 20 + len(after); need > len(room) {
		b = make([]byte, 0, need)
	}
	b = append(append(b, s...), before...)
	b = append(strconv.AppendInt(b, int64(n), 10), after...)
	if r == nil || len(b) > maxRoomString {
		if cap(b) > len(room) {
			return unsafe.String(unsafe.SliceData(b), len(b)) // made here, never written again
		}
		return string(b)
	}
	return r.String(b)
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

// Entity kinds of an entitySet.
const (
	kindUser = iota
	kindIP
	kindResource
	kindSubscription
	kindApp
	entityKinds
)

// entitySet gathers an alert's entities. An alert's events are few
// (often one) and so are their entities: one list searched in full keeps
// them distinct without a map per kind, on the stack for the usual
// counts (New gives it room), and result hands them out in one
// allocation.
type entitySet []entity

type entity struct {
	kind  uint8
	value string
}

// with is s with v of kind added (kept on the caller's side: appending
// through a pointer would move the room to the heap).
func (s entitySet) with(kind uint8, v string) entitySet {
	v = strings.TrimSpace(v)
	if v == "" {
		return s
	}
	for _, have := range s {
		if have.kind == kind && have.value == v {
			return s
		}
	}
	return append(s, entity{kind, v})
}

func (s entitySet) add(ev *event.Event, r *Room) entitySet {
	// Users are people (and the accounts named as targets); apps, managed
	// identities and Azure's own services are not.
	switch ev.Actor.Type {
	case event.ActorServicePrincipal, event.ActorManagedIdentity, event.ActorPlatform:
	default:
		s = s.with(kindUser, firstNonEmpty(ev.Actor.UPN, ev.Actor.Name))
	}
	sv := sourceValuesOf(ev)
	if ce, ok := sv.v[srcCompromised], sv.ok[srcCompromised]; ok {
		s = s.with(kindResource, ce)
	}
	if ev.Target != "" && strings.Contains(ev.Target, "@") {
		s = s.with(kindUser, ev.Target)
	} else if tt := sv.v[srcTargetType]; strings.EqualFold(tt, "Application") || strings.EqualFold(tt, "ServicePrincipal") {
		s = s.with(kindApp, ev.Target)
	}
	// A role assignment's grantee (the principal the summary names).
	if containsFold(ev.Operation, "/roleassignments/") {
		for _, body := range []string{"properties.requestbody.properties", "properties.responseBody.properties"} {
			id, _ := ev.Get(body + ".principalId")
			typ, _ := ev.Get(body + ".principalType")
			if len(id) == 0 || id[0].IsNull() {
				continue
			}
			if len(typ) > 0 && !strings.EqualFold(typ[0].String(), "User") && !strings.EqualFold(typ[0].String(), "Group") {
				s = s.with(kindApp, id[0].String())
			} else {
				s = s.with(kindUser, id[0].String())
			}
		}
	}
	s = s.with(kindIP, ev.Actor.IP)
	// A flow's other side is a party too (the exfiltration's destination).
	for j := srcFlowIPs; j < len(sourceNames); j++ {
		if sv.ok[j] {
			s = s.with(kindIP, sv.v[j])
		}
	}
	if ev.Resource.Provider != "" {
		s = s.with(kindResource, ev.Resource.ID)
	}
	if sub := ev.Resource.Subscription; sub != "" && !s.hasFold(kindSubscription, sub) {
		s = s.with(kindSubscription, lowerIn(r, sub))
	}
	return s.with(kindApp, firstNonEmpty(ev.Actor.AppName, ev.Actor.AppID))
}

// sourceNames are the names a source sets (event.Set, or a flow tuple's
// Fields) that an alert's entities come from: a Defender alert's
// compromised entity, an audit target's type, a flow's addresses.
var sourceNames = [...]string{"defender.compromised_entity", "audit.target_type", "flow.src_ip", "flow.dst_ip", "flow.remote_ip", "flow.local_ip"}

// Indexes into sourceNames.
const (
	srcCompromised = iota
	srcTargetType
	srcFlowIPs // the first of the four addresses
)

// sourceValues are the values of sourceNames, as ev.Normalised gives them.
type sourceValues struct {
	v  [len(sourceNames)]string
	ok [len(sourceNames)]bool
}

// sourceValuesOf reads sourceNames as ev.Normalised reads each (its Fields
// first, then the first of its Extra values by that name; none of them is
// one of the event's own fields), in one pass over Extra rather than a
// walk along it per name (TestSourceValuesAsNormalised).
func sourceValuesOf(ev *event.Event) sourceValues {
	var sv sourceValues
	x := ev.Extra
	for i := range x.Len() {
		name, v := x.At(i)
		if j := sourceIndex(name); j >= 0 && !sv.ok[j] {
			sv.v[j], sv.ok[j] = v, true
		}
	}
	if ev.Fields != nil {
		for j, n := range sourceNames {
			if v, ok := ev.Fields.Field(n); ok {
				sv.v[j], sv.ok[j] = v, true
			}
		}
	}
	return sv
}

// sourceIndex is name's index in sourceNames, or -1.
func sourceIndex(name string) int {
	switch name {
	case "defender.compromised_entity":
		return srcCompromised
	case "audit.target_type":
		return srcTargetType
	case "flow.src_ip":
		return srcFlowIPs
	case "flow.dst_ip":
		return srcFlowIPs + 1
	case "flow.remote_ip":
		return srcFlowIPs + 2
	case "flow.local_ip":
		return srcFlowIPs + 3
	}
	return -1
}

// lowerIn is strings.ToLower(s): s itself when it has no upper case, else
// cut from r. (Not through r.lower: the subscriptions of flow alerts are
// as many as their NSGs, and comparing them with the lowered strings
// cost more than it saved.)
func lowerIn(r *Room, s string) string {
	var room [128]byte
	b := event.AppendLower(room[:0], s)
	if string(b) == s {
		return s
	}
	return r.String(b)
}

// appendLower appends strings.ToLower(s) to b, through r.lower when
// there is a room.
func (r *Room) appendLower(b []byte, s string) []byte {
	if r == nil {
		return event.AppendLower(b, s)
	}
	return append(b, r.lower(s)...)
}

// lower is strings.ToLower(s): s itself when it has no upper case, else
// cut from r; a string lowered for one of the last alerts (compared by
// ==, its lower-case form kept) is not lowered again (a riskdetection
// alert's operation and resource were 0.5k instructions an alert, its
// records' the same words; TestRoomLowerAgrees).
func (r *Room) lower(s string) string {
	if r != nil {
		for i := range r.lows {
			if l := &r.lows[i]; l.s == s && l.lower != "" {
				return l.lower
			}
		}
	}
	low := lowerIn(r, s)
	if r != nil && low != "" && len(s) <= maxRoomString {
		r.lows[r.nextLow] = lowered{s, low}
		r.nextLow = (r.nextLow + 1) % roomLows
	}
	return low
}

// hasFold reports whether the set holds v of kind, compared without case.
func (s entitySet) hasFold(kind uint8, v string) bool {
	v = strings.TrimSpace(v)
	for _, have := range s {
		if have.kind == kind && strings.EqualFold(have.value, v) {
			return true
		}
	}
	return false
}

// containsFold reports whether s holds sub (lower-case ASCII) in any case.
// A sub beginning with an ASCII byte that is not a letter
// ("/roleassignments/") can only begin where that byte is (nothing else
// folds to it): only there is it compared (the compare at every place was 0.18k
// instructions an alert; TestContainsFoldAgrees).
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	if c := sub[0]; c < 0x80 && (c|0x20 < 'a' || c|0x20 > 'z') {
		for i := 0; i+len(sub) <= len(s); i++ {
			j := strings.IndexByte(s[i:len(s)-len(sub)+1], c)
			if j < 0 {
				return false
			}
			i += j
			if strings.EqualFold(s[i:i+len(sub)], sub) {
				return true
			}
		}
		return false
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// sorted returns the list sorted (nil when empty); a list of one is as
// it is (sort.Strings was 60 instructions even so, three lists an alert).
func sorted(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	if len(l) > 1 {
		sort.Strings(l)
	}
	return l
}

// result is the entities by kind, each list sorted, all of them in one
// slice's memory (each list's capacity ends at its length: an append
// copies instead of writing over the next list).
func (s entitySet) result(r *Room) Entities {
	if len(s) == 0 {
		return Entities{}
	}
	var at [entityKinds + 1]int
	for _, e := range s {
		at[e.kind+1]++
	}
	for k := 1; k <= entityKinds; k++ {
		at[k] += at[k-1]
	}
	all := r.strings(len(s))
	next := at
	for _, e := range s {
		all[next[e.kind]] = e.value
		next[e.kind]++
	}
	list := func(k int) []string { return sorted(all[at[k]:at[k+1]:at[k+1]]) }
	return Entities{
		Users:         list(kindUser),
		IPs:           list(kindIP),
		Resources:     list(kindResource),
		Subscriptions: list(kindSubscription),
		Apps:          list(kindApp),
	}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
