package detect

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/azdetect/azdetect/internal/event"
)

// Field mapping: SigmaHQ's Azure rules name fields the way Log Analytics
// (Sentinel) tables and the Azure portal do (ResultType, Status,
// OperationNameValue, TargetResources...), not as the diagnostic-settings
// JSON that reaches azdetect writes them. For each logsource service, a
// Sigma name maps to an ordered list of candidates; by default the first
// candidate present in the event wins, and a name falls back to itself and
// then to properties.<name> when no candidate is present (raw lookups ignore
// key case, so an unmapped DeviceDetail.trusttype finds
// properties.deviceDetail.trustType). A few names take the union of their
// candidates instead (anyOf): those have no fallback, the list is complete.
//
// azdetect's own rules go through the same table, which is harmless for
// them: they use event.Get names (event.result, actor.upn, raw paths), and
// every mapped raw name below resolves to the field the name means anyway.
// Shapes: reference/log-schemas.md §4 (activity), §6 (sign-in), §7 (audit),
// §8 (Identity Protection).

// candidate reads one possible source of a field's values.
// id is the candidate's key's number (keyID), which the cache memoises by.
type candidate interface {
	get(ev *event.Event, c *fieldCache, id int32) ([]event.Value, bool)
	key() string
}

// getName is event.Get(name): a normalised name or a raw path. fixed is
// fixedOf(name) (newGetName): a fixed name is read by its number, not
// compared with the event's names again.
type getName struct {
	name  string
	fixed uint8
}

func newGetName(name string) getName { return getName{name: name, fixed: fixedOf(name)} }

func (g getName) get(ev *event.Event, c *fieldCache, id int32) ([]event.Value, bool) {
	return c.getFixed(ev, g.name, id, g.fixed)
}
func (g getName) key() string { return g.name }

// pickByName reads a list of {name, value} objects (audit modifiedProperties,
// additionalDetails key/value lists) and yields the value member of the
// elements whose name member equals want (case-insensitively). JSON-encoded
// string values ("\"False\"", "[\"Member\"]") are decoded one level when the
// decoded text is itself a JSON string, so `false` compares with "False".
type pickByName struct {
	list      string // path to the array (fanned out by Lookup)
	nameKey   string // member holding the name: displayName, key
	want      string // name to select
	valueKey  string // member holding the value: newValue, value
	unwrapStr bool
	listID    int32 // keyID(list), set by newResolver
}

func (p pickByName) key() string {
	return "pick:" + p.list + "|" + p.nameKey + "=" + p.want + "|" + p.valueKey
}

func (p pickByName) get(ev *event.Event, c *fieldCache, id int32) ([]event.Value, bool) {
	if v, found, ok := c.lookup(ev, id); ok {
		return v, found
	}
	elems, _ := c.get(ev, p.list, p.listID)
	var out []event.Value
	found := false
	for _, el := range elems {
		if !el.IsContainer() {
			continue
		}
		obj := el.Raw()
		walkedBytes.Add(int64(len(obj)))
		n, ok := event.Member(obj, p.nameKey)
		if !ok {
			continue
		}
		if !strings.EqualFold(strings.TrimSpace(event.JSONValue(n).Text()), p.want) {
			continue
		}
		val, ok := event.Member(obj, p.valueKey)
		if !ok {
			continue
		}
		found = true
		v := event.JSONValue(val)
		if p.unwrapStr && v.IsString() {
			s := strings.TrimSpace(v.String())
			if len(s) >= 2 && s[0] == '"' {
				if u, ok := event.Unquote([]byte(s)); ok {
					v = event.StringValue(u)
				}
			}
		}
		out = append(out, v)
	}
	c.store(ev, id, out, found)
	return out, found
}

// fieldMode says how a mapped field combines its candidates.
type fieldMode int

const (
	firstFound fieldMode = iota // the first candidate present wins
	union                       // every candidate present contributes values
)

type mapping struct {
	mode  fieldMode
	cands []candidate
}

func first(names ...string) mapping {
	m := mapping{mode: firstFound}
	for _, n := range names {
		m.cands = append(m.cands, newGetName(n))
	}
	return m
}

func anyOf(names ...string) mapping {
	m := first(names...)
	m.mode = union
	return m
}

// modifiedProperty selects targetResources[].modifiedProperties[] by display
// name and yields its newValue.
func modifiedProperty(name string) mapping {
	return mapping{cands: []candidate{pickByName{
		list: "properties.targetResources.modifiedProperties", nameKey: "displayName",
		want: name, valueKey: "newValue", unwrapStr: true,
	}}}
}

// fieldMaps is keyed by logsource service, then by lower-cased Sigma name.
var fieldMaps = map[string]map[string]mapping{
	"activitylogs": {
		// Log Analytics' AzureActivity columns. properties.message is the
		// operation name in natural case on Administrative records; other
		// categories lack it, so fall back to operationName.
		"properties.message": first("properties.message", "operationName"),
		// OperationNameValue is the same operation name.
		"operationnamevalue": first("operationName", "properties.message"),
		// CategoryValue: the category as exported (Administrative, Security,
		// ...), or the event's own copy in properties.eventCategory.
		"categoryvalue": first("category", "properties.eventCategory"),
		// ResourceProviderValue: the provider namespace of the resource id
		// (MICROSOFT.ADHYBRIDHEALTHSERVICE upper-case in exports; compared
		// case-insensitively), or the REST shape's resourceProviderName.
		"resourceprovidervalue": first(event.FieldProvider, "properties.resourceProviderName.value", "properties.resourceProviderName"),
		"resourceid":            first("resourceId", event.FieldResourceID),
		// Caller: the export has no caller field; the source derives the
		// actor from the claims (log-schemas.md §4.2).
		"caller": first(event.FieldActorID),
	},
	"auditlogs": {
		// In AuditLogs the activity is properties.activityDisplayName (the
		// envelope's operationName repeats it). Sigma rules name it five ways.
		"properties.message":  first("properties.activityDisplayName", "operationName"),
		"operationname":       first("properties.activityDisplayName", "operationName"),
		"activitydisplayname": first("properties.activityDisplayName", "operationName"),
		"activitytype":        first("properties.activityDisplayName", "operationName"),
		// Category is the audit category (UserManagement, Policy, ...) in
		// properties.category, not the envelope's "AuditLogs".
		"category":        first("properties.category"),
		"loggedbyservice": first("properties.loggedByService"),
		// Status: the outcome (success/failure) or, for rules that put the
		// result reason there ("Admin registered temporary access pass
		// method for user"), properties.resultReason: any of them may match.
		"status":                        anyOf(event.FieldResult, "properties.result", "properties.resultReason"),
		"result":                        first(event.FieldResult, "properties.result"),
		"failure_status_reason":         first("properties.resultReason", event.FieldResultReason, "resultDescription"),
		"resultreason":                  first("properties.resultReason", event.FieldResultReason),
		"initiatedby":                   anyOf("properties.initiatedBy.user.userPrincipalName", "properties.initiatedBy.app.displayName", "properties.initiatedBy.app.servicePrincipalName", event.FieldActorUPN),
		"target":                        anyOf(event.FieldTarget, "properties.targetResources.userPrincipalName", "properties.targetResources.displayName"),
		"targetresources":               first("properties.targetResources"),
		"targetresources.type":          first("properties.targetResources.type"),
		"additionaldetails":             first("properties.additionalDetails"),
		"ipaddress":                     first(event.FieldActorIP, "properties.initiatedBy.user.ipAddress", "callerIpAddress"),
		"consentcontext.isadminconsent": modifiedProperty("ConsentContext.IsAdminConsent"),
		"consentcontext.isapponly":      modifiedProperty("ConsentContext.IsAppOnly"),
		"consentcontext.onbehalfofall":  modifiedProperty("ConsentContext.OnBehalfOfAll"),
		// additionalDetails is a key/value list; Sigma's LAPS rule reads the
		// value of the "additionalInfo" entry.
		"additionaldetails.additionalinfo": {cands: []candidate{pickByName{
			list: "properties.additionalDetails", nameKey: "key", want: "additionalInfo", valueKey: "value",
		}}},
	},
	"signinlogs": {
		// Status in SigninLogs is the status object: "Status: Success" means
		// the sign-in succeeded (event.result, from status.errorCode 0), and
		// "Status|contains: MFA Denied" reads the failure text or details.
		"status":     anyOf(event.FieldResult, "properties.status.failureReason", "properties.status.additionalDetails"),
		"resulttype": first("resultType", "properties.status.errorCode", event.FieldResultCode),
		// ResultDescription: the envelope's text, else the status' reason.
		"resultdescription":         first("resultDescription", "properties.status.failureReason", event.FieldResultReason),
		"authenticationrequirement": first("signin.authentication_requirement", "properties.authenticationRequirement"),
		"clientapp":                 first("signin.client_app", "properties.clientAppUsed"),
		"clientappused":             first("signin.client_app", "properties.clientAppUsed"),
		"username":                  first(event.FieldActorUPN, "properties.userPrincipalName"),
		"userprincipalname":         first(event.FieldActorUPN, "properties.userPrincipalName"),
		"useragent":                 first(event.FieldActorAgent, "properties.userAgent"),
		"ipaddress":                 first(event.FieldActorIP, "properties.ipAddress", "callerIpAddress"),
		"appid":                     first("properties.appId", event.FieldActorAppID),
		"appdisplayname":            first("properties.appDisplayName", event.FieldActorAppName),
		// Sigma's device-code and ROPC rules put the portal's "Authentication
		// Protocol" column in properties.message. The log writes ropc and
		// deviceCode, so "ROPC" matches and "Device Code" does not: use
		// azdetect's azure_signin_device_code (rules/signinlogs/
		// device_code_signin.yml) for device code.
		"properties.message": first("signin.authentication_protocol", "properties.authenticationProtocol"),
		// ActivityDetails ("Sign-ins") is a portal label with no field in
		// the log: left unmapped, so the rule using it never matches.
	},
	"riskdetection": {
		// UserRiskEvents: riskEventType, with riskType as the legacy name.
		"riskeventtype": first("risk.event_type", "properties.riskEventType", "properties.riskType"),
		"username":      first(event.FieldActorUPN, "properties.userPrincipalName"),
	},
	"pim": {
		// PIM alerts are not in log-schemas.md; Sigma's rules read
		// riskEventType and the record is expected to carry it in properties.
		"riskeventtype": first("properties.riskEventType"),
	},
}

// flowService is the logsource service of flow tuple events
// (source.FlowTupleSource).
const flowService = "flowlogs"

// resolver reads one rule field from an event: the service's mapping, then
// the name itself, then properties.<name>.
type resolver struct {
	// flowName is the name a flow tuple event answers (its one
	// candidate), read from the tuple directly when its value is
	// canonical (canonicalField); "" for the other resolvers.
	flowName  string
	flowID    event.FlowField // flowName's number, when flowKnown
	flowKnown bool
	key       string // service and name
	id        int32  // keyID(key): what the engine's cache memoises by
	name      string
	mode      fieldMode
	cands     []candidate
	ids       []int32 // per candidate: keyID(its key)
	// fixed: every candidate is one of the event's own fields
	// (actor.upn, geo.country: Normalised's fixed names), so single
	// answers for any event and no read goes to the record or a cache.
	fixed bool
}

func newResolver(service, name string) *resolver {
	r := newResolverCands(service, name)
	r.id = keyID(r.key)
	registerResolverPaths(service, r)
	r.ids = make([]int32, len(r.cands))
	for i, c := range r.cands {
		if p, ok := c.(pickByName); ok {
			p.listID = keyID(p.list)
			r.cands[i] = p
		}
		r.ids[i] = keyID(c.key())
	}
	r.fixed = fixedFields(r)
	return r
}

// fixedFields reports whether r reads only the event's own fields, for
// any event: single then always answers (ok), and what it returns is what
// get would (no record or cache is read).
func fixedFields(r *resolver) bool {
	if r.mode != firstFound && len(r.cands) != 1 {
		return false
	}
	for _, c := range r.cands {
		if g, isName := c.(getName); !isName || g.fixed == 0 {
			return false
		}
	}
	return len(r.cands) > 0
}

func newResolverCands(service, name string) *resolver {
	r := &resolver{key: service + "\x00" + name, name: name}
	if service == flowService && len(name) > 5 && strings.EqualFold(name[:5], "flow.") {
		// Flow tuple events answer every flow.* name themselves
		// (source/flowtuple.go): one with no value is absent, and the
		// tuple's small raw record is never searched for it.
		r.mode = union
		r.cands = []candidate{newGetName(strings.ToLower(name))}
		r.flowName = strings.ToLower(name)
		r.flowID, r.flowKnown = event.FlowFieldOf(r.flowName)
		return r
	}
	if m, ok := fieldMaps[service][strings.ToLower(name)]; ok {
		r.mode = m.mode
		r.cands = append(r.cands, m.cands...)
		if m.mode == union {
			return r
		}
	}
	seen := make(map[string]bool, len(r.cands)+2)
	for _, c := range r.cands {
		seen[strings.ToLower(c.key())] = true
	}
	add := func(n string) {
		if !seen[strings.ToLower(n)] {
			seen[strings.ToLower(n)] = true
			r.cands = append(r.cands, newGetName(n))
		}
	}
	add(name)
	// A normalised name (event.result, actor.upn) is never a raw path.
	if _, fixed := event.FixedFieldOf(name); !fixed &&
		!strings.HasPrefix(strings.ToLower(name), "properties.") {
		add("properties." + name)
	}
	return r
}

// get returns the field's values and whether the event has the field.
func (r *resolver) get(ev *event.Event, c *fieldCache) ([]event.Value, bool) {
	if r.mode == firstFound {
		for i, cand := range r.cands {
			if v, ok := cand.get(ev, c, r.ids[i]); ok {
				return v, true
			}
		}
		return nil, false
	}
	if len(r.cands) == 1 {
		return r.cands[0].get(ev, c, r.ids[0])
	}
	var out []event.Value
	found := false
	for i, cand := range r.cands {
		if v, ok := cand.get(ev, c, r.ids[i]); ok {
			found = true
			out = append(out, v...)
		}
	}
	return out, found
}

// getInto is get without a field cache, the values appended to dst (the
// caller's room, often on its stack) rather than to slices of their own:
// an alert's summary and severity read a few fields of the matched
// record after its cache moved on, and each read was a new slice
// (growslice, ~0.3k instructions a field: 1.4k a riskdetection alert).
// The values and found are get(ev, nil)'s (TestGetIntoAgrees).
func (r *resolver) getInto(ev *event.Event, dst []event.Value) ([]event.Value, bool) {
	if r.mode == firstFound {
		for i, cand := range r.cands {
			n := len(dst)
			var ok bool
			if dst, ok = candInto(ev, cand, r.ids[i], dst); ok {
				return dst, true
			}
			dst = dst[:n]
		}
		return dst, false
	}
	if len(r.cands) == 1 {
		return candInto(ev, r.cands[0], r.ids[0], dst)
	}
	found := false
	for i, cand := range r.cands {
		n := len(dst)
		var ok bool
		if dst, ok = candInto(ev, cand, r.ids[i], dst); ok {
			found = true
		} else {
			dst = dst[:n]
		}
	}
	return dst, found
}

// candInto appends cand.get(ev, nil, id)'s values to dst; a name's read
// through the shared index without a slice of its own.
func candInto(ev *event.Event, cand candidate, id int32, dst []event.Value) ([]event.Value, bool) {
	g, isName := cand.(getName)
	if !isName {
		vals, found := cand.get(ev, nil, id)
		return append(dst, vals...), found
	}
	if s, ok := normalisedAt(ev, g.name, g.fixed); ok {
		if s == "" {
			return dst, false
		}
		return append(dst, event.StringValue(s)), true
	}
	return sharedLookupInto(ev, g.name, id, dst)
}

// single reads the field without building a slice of values when every
// candidate it may read is a normalised name (actor.upn, event.result):
// the field then has at most one value. ok is false when a candidate is a
// raw path or a pick (use get); otherwise found says whether the event has
// the field, and s is its value.
func (r *resolver) single(ev *event.Event) (s string, found, ok bool) {
	if r.mode != firstFound && len(r.cands) != 1 {
		return "", false, false
	}
	for _, cand := range r.cands {
		g, isName := cand.(getName)
		if !isName {
			return "", false, false
		}
		v, isNormalised := normalisedAt(ev, g.name, g.fixed)
		if !isNormalised {
			return "", false, false
		}
		if v != "" {
			return v, true, true
		}
	}
	return "", false, true
}

// keyIDs numbers the keys the field cache memoises by (resolvers, names,
// picks), as resolvers are built (rules load): the cache is then slices
// indexed by number, which an event's reset need not clear.
var keyIDs struct {
	mu  sync.Mutex
	ids map[string]int32
}

// keyID returns k's number, giving it the next one the first time.
func keyID(k string) int32 {
	keyIDs.mu.Lock()
	defer keyIDs.mu.Unlock()
	id, ok := keyIDs.ids[k]
	if !ok {
		if keyIDs.ids == nil {
			keyIDs.ids = make(map[string]int32)
		}
		id = int32(len(keyIDs.ids))
		keyIDs.ids[k] = id
	}
	return id
}

// keyCount is how many keys are numbered.
func keyCount() int {
	keyIDs.mu.Lock()
	defer keyIDs.mu.Unlock()
	return len(keyIDs.ids)
}

// fieldCache memoises field lookups for one event: the engine evaluates
// many rules against each event and most read the same few fields, each a
// walk of the raw record. It also keeps the record's member index, the
// values of resolved fields as matchers take them (trimmed, lower-cased),
// and the string values keyword searches read. A nil cache, or one pointed
// at another event, looks every field up afresh.
//
// Entries are by key number (keyID) and belong to the current event when
// their gen is the cache's: reset moves gen on instead of clearing them.
type fieldCache struct {
	ev       *event.Event
	gen      uint32
	entries  []cacheEntry    // by the number of a name or pick
	resolved []resolvedField // by the number of a resolver
	idx      recordIndex
	keywords []subject
	kwDone   bool
	// singles backs the one-value slices of normalised fields, reused
	// from event to event.
	singles []event.Value
	// lowers holds the lower-cased values of this event's subjects.
	lowers lowerArena
	// memo holds field tests' outcomes (fieldMatch.memo), by number.
	memo []matchMemo
	// canon is the subject of a canonical value being matched.
	canon subject
	// relGen is gen at the last release (or wrap): an entry or resolved
	// field whose gen is above it was written since, and its number is
	// in usedEntries or usedResolved, what release clears.
	relGen       uint32
	usedEntries  []int32
	usedResolved []int32
	// kwHigh is the most keywords held since the last release.
	kwHigh int
	// flow is the event's fields as a flow tuple's reader, when they
	// are one (reset): asked for by number (canonical).
	flow event.CanonicalReader
	// combo is the flow tuple's combination (flowCombo), when flow tells
	// it; -1 otherwise.
	combo int
}

type cacheEntry struct {
	vals  []event.Value
	found bool
	gen   uint32 // the event's it is (fieldCache.gen)
}

// resolvedField is a rule field's values for the current event.
type resolvedField struct {
	vals     []event.Value
	found    bool
	subjects []subject // built on first use, one per value (zero for nulls)
	built    bool      // subjects is built
	arena    *lowerArena
	gen      uint32 // the event's it is (fieldCache.gen)
}

func newFieldCache() *fieldCache {
	n := keyCount()
	return &fieldCache{
		combo:    -1,
		entries:  make([]cacheEntry, n),
		resolved: make([]resolvedField, n),
		idx: recordIndex{
			objects: make(map[*byte]*objIndex, 8),
			decoded: make(map[*byte][]byte, 4),
		},
	}
}

// reset points the cache at a new event.
func (c *fieldCache) reset(ev *event.Event) {
	c.ev = ev
	c.gen++
	if c.gen == 0 {
		// Wrapped: entries of 2^32 events ago would look current.
		clear(c.entries)
		clear(c.resolved)
		clear(c.memo)
		c.gen = 1
		c.relGen = 0
		c.usedEntries = c.usedEntries[:0]
		c.usedResolved = c.usedResolved[:0]
	}
	c.idx.reset()
	if ev.Layout != nil {
		c.idx.seed(ev.Raw, ev.Layout, tableFor(ev.Source))
	}
	c.flow, c.combo = nil, -1
	if ev.Fields != nil {
		// One assertion for a tuple's fields, which tell both.
		if ff, ok := ev.Fields.(tupleFields); ok {
			c.flow, c.combo = ff, flowCombo(ff.FlowValues())
		} else {
			c.flow, _ = ev.Fields.(event.CanonicalReader)
		}
	}
	c.keywords = c.keywords[:0]
	c.kwDone = false
	clear(c.singles)
	c.singles = c.singles[:0]
	c.lowers.b = c.lowers.b[:0]
}

// release drops the cache's hold on its last event's record before it
// waits in fieldCaches (reset makes every entry stale when it is used
// again): the values its tables kept point into that record, and the
// subjects and keywords into its text. The tables keep their capacity.
// Only what was written since the last release is cleared (the rest was
// cleared then): a release costs what its events used, not the tables.
func (c *fieldCache) release() {
	c.ev = nil
	c.idx.reset()
	for _, id := range c.usedEntries {
		c.entries[id].vals = nil
	}
	for _, id := range c.usedResolved {
		f := &c.resolved[id]
		f.vals = nil
		clear(f.subjects[:cap(f.subjects)])
	}
	c.usedEntries = c.usedEntries[:0]
	c.usedResolved = c.usedResolved[:0]
	c.relGen = c.gen
	clear(c.keywords[:min(c.kwHigh, cap(c.keywords))])
	c.keywords = c.keywords[:0]
	c.kwHigh = 0
	// reset clears singles up to their length: beyond it they are clear.
	clear(c.singles)
	c.singles = c.singles[:0]
	c.canon = subject{}
	c.flow, c.combo = nil, -1
}

// put writes key number id's entry for the current event, noting the
// number for release the first time since the last one.
func (c *fieldCache) put(id int32, e *cacheEntry, vals []event.Value, found bool) {
	if e.gen <= c.relGen {
		c.usedEntries = append(c.usedEntries, id)
	}
	*e = cacheEntry{vals, found, c.gen}
}

// entry returns the entry of key number id, growing the table for a key
// numbered after the cache was made.
func (c *fieldCache) entry(id int32) *cacheEntry {
	if int(id) >= len(c.entries) {
		c.entries = append(c.entries, make([]cacheEntry, int(id)+1-len(c.entries))...)
	}
	return &c.entries[id]
}

func (c *fieldCache) lookup(ev *event.Event, id int32) ([]event.Value, bool, bool) {
	if c == nil || c.ev != ev {
		return nil, false, false
	}
	e := c.entry(id)
	return e.vals, e.found, e.gen == c.gen
}

func (c *fieldCache) store(ev *event.Event, id int32, vals []event.Value, found bool) {
	if c != nil && c.ev == ev {
		c.put(id, c.entry(id), vals, found)
	}
}

// get is event.Get(name), memoised under id (keyID(name)).
func (c *fieldCache) get(ev *event.Event, name string, id int32) ([]event.Value, bool) {
	return c.getFixed(ev, name, id, fixedOf(name))
}

// getFixed is get for a name numbered by fixedOf (fixed).
func (c *fieldCache) getFixed(ev *event.Event, name string, id int32, fixed uint8) ([]event.Value, bool) {
	if c == nil || c.ev != ev {
		// ev.Get, with the raw lookup through the shared index.
		if s, ok := normalisedAt(ev, name, fixed); ok {
			if s == "" {
				return nil, false
			}
			return []event.Value{event.StringValue(s)}, true
		}
		return sharedLookup(ev, name, id)
	}
	e := c.entry(id)
	if e.gen == c.gen {
		return e.vals, e.found
	}
	var v []event.Value
	var found bool
	if s, ok := normalisedAt(ev, name, fixed); ok {
		if s != "" {
			// A full slice expression: appending to v never writes into
			// the next field's value.
			c.singles = append(c.singles, event.StringValue(s))
			n := len(c.singles)
			v, found = c.singles[n-1:n:n], true
		}
	} else {
		v, found = c.idx.lookupShortID(ev.Record(), name, id)
	}
	c.put(id, e, v, found)
	return v, found
}

// fixedOf numbers name for normalisedAt: 1 + its event.FixedField when
// it is one of the event's own names, 0 otherwise.
func fixedOf(name string) uint8 {
	if f, ok := event.FixedFieldOf(name); ok {
		return uint8(f) + 1
	}
	return 0
}

// normalisedAt is ev.Normalised(name) for name numbered fixed (fixedOf):
// a fixed name is read by its number, another is asked of the event's
// Fields and Extra without being compared with the fixed names first.
func normalisedAt(ev *event.Event, name string, fixed uint8) (string, bool) {
	if fixed != 0 {
		return ev.Fixed(event.FixedField(fixed - 1)), true
	}
	return ev.NormalisedOther(name)
}

// canonicalField is the value of a flow tuple's field when the tuple
// answers it with a canonical value (event.CanonicalReader): what r.get
// would find, its one value already as a matcher prepares it. ok is false
// when r is not such a field or the value is not canonical (use field);
// v is "" when the tuple has no value (r.get finds nothing).
func (r *resolver) canonicalField(ev *event.Event) (v string, ok bool) {
	if r == nil || !r.flowKnown || ev.Fields == nil {
		return "", false
	}
	cr, isCR := ev.Fields.(event.CanonicalReader)
	if !isCR {
		return "", false
	}
	v, canonical, known := cr.CanonicalField(r.flowID)
	if !known {
		return "", false
	}
	return v, canonical || v == ""
}

// canonical is r.canonicalField(c.ev) for a flow field (r.flowKnown),
// through the reader reset found: the event's fields are not asked for
// their type again on each field a rule reads.
func (c *fieldCache) canonical(r *resolver) (v string, ok bool) {
	if c.flow == nil {
		return "", false
	}
	v, canonical, known := c.flow.CanonicalField(r.flowID)
	if !known {
		return "", false
	}
	return v, canonical || v == ""
}

// canonicalSubject is a canonical value (event.CanonicalReader) as
// newSubject and lowerText would make it, in the cache's room.
func (c *fieldCache) canonicalSubject(v string) *subject {
	c.canon = subject{raw: v, trimmed: v, lower: v, lowered: true, ascii: true}
	return &c.canon
}

// field resolves a rule field, memoised by the resolver's number.
func (c *fieldCache) field(ev *event.Event, r *resolver) *resolvedField {
	if c == nil || c.ev != ev {
		vals, found := r.get(ev, nil)
		return &resolvedField{vals: vals, found: found}
	}
	if int(r.id) >= len(c.resolved) {
		c.resolved = append(c.resolved, make([]resolvedField, int(r.id)+1-len(c.resolved))...)
	}
	if f := &c.resolved[r.id]; f.gen == c.gen {
		return f
	}
	vals, found := r.get(ev, c)
	f := &c.resolved[r.id] // r.get grows entries only
	if f.gen <= c.relGen {
		c.usedResolved = append(c.usedResolved, r.id)
	}
	// Field by field, not a whole new value: the subjects' room and the
	// arena stay as they are (the arena is the cache's for good), and
	// are not written again on every field of every event.
	f.vals, f.found, f.built, f.gen = vals, found, false, c.gen
	f.subjects = f.subjects[:0]
	if f.arena != &c.lowers {
		f.arena = &c.lowers
	}
	return f
}

// subjects returns the field's values prepared for matchers.
func (f *resolvedField) subjectAt(i int) *subject {
	if !f.built {
		f.subjects = slices.Grow(f.subjects[:0], len(f.vals))[:len(f.vals)]
		for j, v := range f.vals {
			if v.IsNull() {
				f.subjects[j] = subject{} // zero for nulls
				continue
			}
			// A JSON string Text takes as it stands is ASCII: newSubject
			// need not look at its bytes again.
			t, ascii := v.TextASCII()
			f.subjects[j].set(t, ascii, f.arena)
		}
		f.built = true
	}
	return &f.subjects[i]
}

// keywordSubjects returns every string value of the record, prepared for
// matchers, once per event.
func (c *fieldCache) keywordSubjects(ev *event.Event) []subject {
	if c != nil && c.ev == ev && c.kwDone {
		return c.keywords
	}
	var out []subject
	if c != nil && c.ev == ev {
		out = c.keywords[:0]
	}
	raw := bytes.TrimSpace(ev.Record())
	switch {
	case len(raw) == 0:
	case raw[0] != '{' && raw[0] != '[':
		out = append(out, newSubject(string(raw)))
	default:
		walkedBytes.Add(int64(len(raw)))
		walkStrings(raw, 0, func(s string) bool {
			out = append(out, newSubject(s))
			return true
		})
	}
	if c != nil && c.ev == ev {
		c.keywords, c.kwDone = out, true
		if len(out) > c.kwHigh {
			c.kwHigh = len(out)
		}
	}
	return out
}

// shared is a record index for the lookups made without a cache (alert
// severities and summaries, stateful kinds' group keys): they come in runs
// on one record, and each was a scan of the record from its first byte.
// It answers as event.Lookup does and keeps the last record it indexed
// (by its bytes' identity: a record's bytes are never written again),
// seeded with the event's layout while the event has one (the engine
// keeps an event's layout until its chunk's last reader is done).
// Busy (another goroutine holds it), a lookup scans the record itself.
var shared sharedIndex

type sharedIndex struct {
	mu     sync.Mutex
	raw    []byte
	layout *event.Layout // what idx was seeded with: compared, never read once its event let go
	idx    recordIndex
	// read are the paths read into idx's arena since it was pointed at
	// the record (sharedLookupInto): an alert's severity field is often
	// in its summary too (riskLevel), read once.
	read []sharedRead
}

// sharedRead is a path's values in the shared index's arena.
type sharedRead struct {
	id         int32
	start, end int
	found      bool
}

// use returns the index, pointed at ev's record (the caller holds mu).
// A layout is the event's only while the event holds it: the index is
// seeded afresh whenever the event's layout is not the one it was seeded
// with (released since, or the record indexed without one).
func (s *sharedIndex) use(ev *event.Event) *recordIndex {
	x := &s.idx
	if x.objects == nil {
		x.objects = make(map[*byte]*objIndex, 8)
		x.decoded = make(map[*byte][]byte, 4)
	}
	raw := ev.Record()
	if len(s.raw) != len(raw) || cap(s.raw) != cap(raw) || &s.raw[0] != &raw[0] || s.layout != ev.Layout {
		x.reset()
		s.raw, s.layout, s.read = raw, nil, s.read[:0]
		if ev.Layout != nil && ev.Raw != nil {
			x.seed(ev.Raw, ev.Layout, tableFor(ev.Source))
			s.layout = ev.Layout
		}
	}
	return x
}

func sharedLookup(ev *event.Event, path string, id int32) ([]event.Value, bool) {
	raw := ev.Record()
	if len(raw) == 0 || !shared.mu.TryLock() {
		walkedBytes.Add(int64(len(raw)))
		return event.Lookup(raw, path)
	}
	defer shared.mu.Unlock()
	return shared.use(ev).lookupID(raw, path, id) // a new slice each call
}

// sharedLookupInto is sharedLookup, its values appended to dst (read
// into the shared index's arena, copied out before it is let go); a path
// read before on the record is copied from the arena again.
func sharedLookupInto(ev *event.Event, path string, id int32, dst []event.Value) ([]event.Value, bool) {
	raw := ev.Record()
	if len(raw) == 0 || !shared.mu.TryLock() {
		walkedBytes.Add(int64(len(raw)))
		vals, found := event.Lookup(raw, path)
		return append(dst, vals...), found
	}
	defer shared.mu.Unlock()
	x := shared.use(ev)
	for _, r := range shared.read {
		if r.id == id {
			return append(dst, x.vals[r.start:r.end]...), r.found
		}
	}
	start := len(x.vals)
	vals, found := x.lookupShortID(raw, path, id)
	if id >= 0 && (len(vals) == 0 || &vals[0] == &x.vals[start]) {
		shared.read = append(shared.read, sharedRead{id: id, start: start, end: start + len(vals), found: found})
	}
	return append(dst, vals...), found
}

// sharedFirst is firstText(sharedLookup(ev, path)) without the slice of
// values: they stay in the shared index's arena, and the text returned is
// a copy.
func sharedFirst(ev *event.Event, path string, id int32) (string, bool) {
	raw := ev.Record()
	if len(raw) == 0 || !shared.mu.TryLock() {
		walkedBytes.Add(int64(len(raw)))
		vals, found := event.Lookup(raw, path)
		return firstText(vals), found
	}
	defer shared.mu.Unlock()
	x := shared.use(ev)
	vals, found := x.lookupShortID(raw, path, id)
	return firstText(vals), found
}
