// Package event is azdetect's normalised record: who did what, when, where,
// with what result, plus access to any raw field of the record by path.
//
// Sources fill the normalised fields when they parse a record; rules read
// them through Get, which also resolves raw JSON paths lazily, so a record is
// never decoded into a map unless a rule asks for a field outside the model.
package event

import (
	"math"
	"strings"
	"time"
)

// Result is the normalised outcome of the operation a record describes.
type Result string

// Results.
const (
	ResultUnknown    Result = ""
	ResultSuccess    Result = "success"
	ResultFailure    Result = "failure"
	ResultInProgress Result = "inprogress"
)

// Severity words used by Event.Severity (the record's own level, normalised).
const (
	SeverityCritical      = "critical"
	SeverityError         = "error"
	SeverityWarning       = "warning"
	SeverityInformational = "informational"
	SeverityVerbose       = "verbose"
)

// Actor types.
const (
	ActorUser             = "user"
	ActorServicePrincipal = "serviceprincipal"
	ActorManagedIdentity  = "managedidentity"
	ActorPlatform         = "platform"
)

// Actor is who did it.
type Actor struct {
	UPN       string // user principal name (users), lower-cased is not applied
	Name      string // display name
	ObjectID  string // Entra object id of the user or service principal
	AppID     string // client application id
	AppName   string // client application display name
	Type      string // one of the Actor* constants, or ""
	IP        string // caller IP, port stripped
	UserAgent string
}

// ID returns the best single identifier for the actor: UPN, then name,
// then app id, then object id.
func (a Actor) ID() string {
	switch {
	case a.UPN != "":
		return a.UPN
	case a.Name != "":
		return a.Name
	case a.AppID != "":
		return a.AppID
	default:
		return a.ObjectID
	}
}

// Geo is where the event happened from, when the log tells.
type Geo struct {
	Region  string // Azure region of the service (location), when meaningful
	Country string // two-letter country code (sign-ins)
	City    string
}

// Event is one normalised log record.
type Event struct {
	Source        string // registry name of the source: activitylogs, signinlogs, ...
	Category      string // the record's category as written
	Time          time.Time
	Operation     string // operationName / activity
	Result        Result
	ResultCode    string // resultType, error code or status as written ("0", "50126", "Success")
	ResultReason  string // failure text when the log gives one
	Severity      string // the record's own level, normalised to the Severity* words
	CorrelationID string
	TenantID      string
	RecordID      string // the record's own unique id when it has one (dedupe)
	Actor         Actor
	Target        string // what was acted on when it is not an ARM resource (user, role, app)
	Resource      Resource
	Geo           Geo

	// Raw is the record exactly as received (JSON for every source but the
	// semicolon-separated Storage Analytics lines). Rules read it by path,
	// through Record: an event made in numbers (a flow tuple) leaves Raw
	// nil and writes its record only when something asks (RawRecorder).
	Raw []byte

	// Extra holds source-specific normalised values a source wants rules to
	// read by a stable name (for example "signin.authentication_requirement").
	Extra Extra

	// Pos is where the record came from in its writer's stream: stateful
	// rules count it once by it (see Position). Set by the pipeline; not
	// part of the event's JSON form (golden files, evidence).
	Pos Position `json:"-"`

	// Layout is where the members of Raw's objects are, when the source's
	// decoder kept it (see Layout); the rule engine releases it once read.
	Layout *Layout `json:"-"`

	// Fields, when set, answers names besides the normalised ones before
	// Extra: the values of an event that has many and is made in numbers
	// (a flow tuple), kept in a struct of its own instead of a map.
	Fields FieldReader `json:"-"`

	key    [16]byte // Key's digits, once SetKey computed them
	keySet bool

	// rawValidLen is Raw's length when its source's strict decoder found
	// it one valid JSON value (MarkRawValid), 0 otherwise: in the room
	// after keySet, the event no larger for it.
	rawValidLen int32
}

// MarkRawValid records that Raw, as it is now, is one JSON value that
// json.Valid accepts: the source's strict decoder checked all of it, the
// bytes after the value included. Raw must not be changed or replaced
// after (a parsed record's never is; an event made anew is not marked):
// RawValid checks only that Raw still has the length marked. A Raw of
// 2 GiB or more is not marked.
func (e *Event) MarkRawValid() {
	if len(e.Raw) <= math.MaxInt32 {
		e.rawValidLen = int32(len(e.Raw))
	}
}

// RawValid reports whether Raw is the record MarkRawValid vouched for:
// json.Valid(e.Raw) holds without being asked again.
func (e *Event) RawValid() bool {
	return e.rawValidLen > 0 && len(e.Raw) == int(e.rawValidLen)
}

// FieldReader answers source-specific field names (Event.Fields). ok
// reports whether name is one of the reader's names: a known name with no
// value returns "", true (the event has no such value, and its raw record
// is not searched for one).
type FieldReader interface {
	Field(name string) (value string, ok bool)
}

// CanonicalReader is a FieldReader of a flow tuple's names (FlowField)
// that answers them by number, and says when a value is canonical: not
// empty, printable ASCII with no blank and no upper case, so that its
// trimmed and lower-cased forms are itself (a tuple's addresses, ports,
// counts and words). A rule engine numbers the names it reads once and
// compares such a value as it is, without preparing it.
type CanonicalReader interface {
	FieldReader
	// CanonicalField is Field(f.Name()), and whether the value is
	// canonical (false says nothing: the value may still be).
	CanonicalField(f FlowField) (value string, canonical, ok bool)
}

// FlowField numbers the names of a flow tuple's event ("flow.src_ip").
type FlowField uint8

// The flow tuple events' names, in FlowFieldNames's order.
const (
	FlowLogType FlowField = iota
	FlowSrcIP
	FlowDstIP
	FlowSrcPort
	FlowDstPort
	FlowProtocol
	FlowDirection
	FlowAllowed
	FlowSrcClass
	FlowDstClass
	FlowLocalIP
	FlowLocalPort
	FlowLocalClass
	FlowRemoteIP
	FlowRemotePort
	FlowRemoteClass
	FlowState
	FlowBytesOut
	FlowBytesIn
	FlowPacketsOut
	FlowPacketsIn
	FlowBytesSent
	FlowBytesReceived
	FlowRule
	FlowACLID
	FlowMAC
	flowFieldEnd
)

// FlowFieldNames are the names of the FlowFields, by number.
var FlowFieldNames = [flowFieldEnd]string{
	"flow.log_type", "flow.src_ip", "flow.dst_ip", "flow.src_port", "flow.dst_port", "flow.protocol", "flow.direction",
	"flow.allowed", "flow.src_class", "flow.dst_class", "flow.local_ip", "flow.local_port", "flow.local_class",
	"flow.remote_ip", "flow.remote_port", "flow.remote_class", "flow.state", "flow.bytes_out", "flow.bytes_in",
	"flow.packets_out", "flow.packets_in", "flow.bytes_sent", "flow.bytes_received", "flow.rule", "flow.acl_id", "flow.mac",
}

// FlowFieldOf returns the number of a flow tuple's name (lower case).
func FlowFieldOf(name string) (FlowField, bool) {
	for i, n := range FlowFieldNames {
		if n == name {
			return FlowField(i), true
		}
	}
	return 0, false
}

// Name is the field's name ("flow.src_ip").
func (f FlowField) Name() string { return FlowFieldNames[f] }

// IsCanonical reports whether s is canonical (CanonicalReader).
func IsCanonical(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

// RawRecorder is a FieldReader that writes its event's raw record on
// demand: a flow tuple's event reads its values from the parsed tuple, and
// few tuples are ever read by path or kept as a snapshot, so the JSON
// document is not written for each of them.
type RawRecorder interface {
	// RawRecord returns the event's record; the same bytes on each call,
	// never to be written, safe to call from several goroutines.
	RawRecord() []byte
}

// Record returns the event's raw record: Raw, or the record its Fields
// write when Raw is nil (RawRecorder).
func (e *Event) Record() []byte {
	if e.Raw == nil && e.Fields != nil {
		if r, ok := e.Fields.(RawRecorder); ok {
			return r.RawRecord()
		}
	}
	return e.Raw
}

// Set stores a source-specific normalised value readable by Get(name).
// An empty value is not stored.
func (e *Event) Set(name, value string) {
	if value == "" {
		return
	}
	e.Extra.set(name, value)
}

// SetAll stores name/value pairs (kv alternates them) as Set does: a
// source's values come together, and room for the ones not empty is made
// once (none when the event was made with room for them: NewEvent). The
// names of one call are distinct (sources pass constants): each is
// compared only with the names set before the call, not with the others
// of the call (17 sign-in values were 136 comparisons of names).
func (e *Event) SetAll(kv ...string) {
	x := &e.Extra
	if cap(x.kv)-len(x.kv) < len(kv) {
		// Maybe not room for every pair: count those to set.
		n := 0
		for i := 1; i < len(kv); i += 2 {
			if kv[i] != "" {
				n++
			}
		}
		if n == 0 {
			return
		}
		if cap(x.kv)-len(x.kv) < 2*n {
			x.kv = append(make([]string, 0, len(x.kv)+2*n), x.kv...)
		}
	}
	// One pass, each pair written into the room made (or there) by
	// index: no count first, nor append's checks of the room each time.
	before := len(x.kv)
	out, w, lens := x.kv[:cap(x.kv)], before, x.lens
	for i := 0; i+1 < len(kv); i += 2 {
		name, v := kv[i], kv[i+1]
		if v == "" {
			continue
		}
		if before > 0 && (Extra{kv: out[:before]}).replace(name, v) {
			continue
		}
		out[w], out[w+1] = name, v
		w += 2
		lens |= nameBits(name)
	}
	x.kv, x.lens = out[:w], lens
}

// Normalised field names, readable by Get.
const (
	FieldSource        = "source"
	FieldCategory      = "event.category"
	FieldOperation     = "event.operation"
	FieldResult        = "event.result"
	FieldResultCode    = "event.result_code"
	FieldResultReason  = "event.result_reason"
	FieldSeverity      = "event.severity"
	FieldCorrelationID = "event.correlation_id"
	FieldTenantID      = "event.tenant_id"
	FieldRecordID      = "event.id"
	FieldTarget        = "event.target"
	FieldActorID       = "actor.id"
	FieldActorUPN      = "actor.upn"
	FieldActorName     = "actor.name"
	FieldActorObjectID = "actor.object_id"
	FieldActorAppID    = "actor.app_id"
	FieldActorAppName  = "actor.app_name"
	FieldActorType     = "actor.type"
	FieldActorIP       = "actor.ip"
	FieldActorAgent    = "actor.user_agent"
	FieldResourceID    = "resource.id"
	FieldSubscription  = "resource.subscription"
	FieldResourceGroup = "resource.group"
	FieldProvider      = "resource.provider"
	FieldResourceType  = "resource.type"
	FieldResourceName  = "resource.name"
	FieldRegion        = "geo.region"
	FieldCountry       = "geo.country"
	FieldCity          = "geo.city"
)

// FixedField numbers the event's own normalised names (the Field*
// constants), in their order there: a reader that asks for one name
// many times numbers it once (FixedFieldOf) and reads it by number
// (Fixed), without comparing the name with every one of them.
type FixedField uint8

// The FixedFields, in the order of the Field* constants they number.
const (
	fixedSource FixedField = iota
	fixedCategory
	fixedOperation
	fixedResult
	fixedResultCode
	fixedResultReason
	fixedSeverity
	fixedCorrelationID
	fixedTenantID
	fixedRecordID
	fixedTarget
	fixedActorID
	fixedActorUPN
	fixedActorName
	fixedActorObjectID
	fixedActorAppID
	fixedActorAppName
	fixedActorType
	fixedActorIP
	fixedActorAgent
	fixedResourceID
	fixedSubscription
	fixedResourceGroup
	fixedProvider
	fixedResourceType
	fixedResourceName
	fixedRegion
	fixedCountry
	fixedCity
)

// FixedFieldOf returns the number of a fixed normalised name, false for
// any other name (Extra's, Fields', raw paths).
func FixedFieldOf(name string) (FixedField, bool) {
	switch name {
	case FieldSource:
		return fixedSource, true
	case FieldCategory:
		return fixedCategory, true
	case FieldOperation:
		return fixedOperation, true
	case FieldResult:
		return fixedResult, true
	case FieldResultCode:
		return fixedResultCode, true
	case FieldResultReason:
		return fixedResultReason, true
	case FieldSeverity:
		return fixedSeverity, true
	case FieldCorrelationID:
		return fixedCorrelationID, true
	case FieldTenantID:
		return fixedTenantID, true
	case FieldRecordID:
		return fixedRecordID, true
	case FieldTarget:
		return fixedTarget, true
	case FieldActorID:
		return fixedActorID, true
	case FieldActorUPN:
		return fixedActorUPN, true
	case FieldActorName:
		return fixedActorName, true
	case FieldActorObjectID:
		return fixedActorObjectID, true
	case FieldActorAppID:
		return fixedActorAppID, true
	case FieldActorAppName:
		return fixedActorAppName, true
	case FieldActorType:
		return fixedActorType, true
	case FieldActorIP:
		return fixedActorIP, true
	case FieldActorAgent:
		return fixedActorAgent, true
	case FieldResourceID:
		return fixedResourceID, true
	case FieldSubscription:
		return fixedSubscription, true
	case FieldResourceGroup:
		return fixedResourceGroup, true
	case FieldProvider:
		return fixedProvider, true
	case FieldResourceType:
		return fixedResourceType, true
	case FieldResourceName:
		return fixedResourceName, true
	case FieldRegion:
		return fixedRegion, true
	case FieldCountry:
		return fixedCountry, true
	case FieldCity:
		return fixedCity, true
	}
	return 0, false
}

// Fixed returns the value of the fixed normalised name numbered f
// (FixedFieldOf): Normalised(name) for that name.
func (e *Event) Fixed(f FixedField) string {
	switch f {
	case fixedSource:
		return e.Source
	case fixedCategory:
		return e.Category
	case fixedOperation:
		return e.Operation
	case fixedResult:
		return string(e.Result)
	case fixedResultCode:
		return e.ResultCode
	case fixedResultReason:
		return e.ResultReason
	case fixedSeverity:
		return e.Severity
	case fixedCorrelationID:
		return e.CorrelationID
	case fixedTenantID:
		return e.TenantID
	case fixedRecordID:
		return e.RecordID
	case fixedTarget:
		return e.Target
	case fixedActorID:
		return e.Actor.ID()
	case fixedActorUPN:
		return e.Actor.UPN
	case fixedActorName:
		return e.Actor.Name
	case fixedActorObjectID:
		return e.Actor.ObjectID
	case fixedActorAppID:
		return e.Actor.AppID
	case fixedActorAppName:
		return e.Actor.AppName
	case fixedActorType:
		return e.Actor.Type
	case fixedActorIP:
		return e.Actor.IP
	case fixedActorAgent:
		return e.Actor.UserAgent
	case fixedResourceID:
		return e.Resource.ID
	case fixedSubscription:
		return e.Resource.Subscription
	case fixedResourceGroup:
		return e.Resource.Group
	case fixedProvider:
		return e.Resource.Provider
	case fixedResourceType:
		return e.Resource.Type
	case fixedResourceName:
		return e.Resource.Name
	case fixedRegion:
		return e.Geo.Region
	case fixedCountry:
		return e.Geo.Country
	case fixedCity:
		return e.Geo.City
	}
	return ""
}

// Normalised returns the value of a normalised field name and whether the
// name is one (a known name with an empty value returns "", true).
func (e *Event) Normalised(name string) (string, bool) {
	if f, ok := FixedFieldOf(name); ok {
		return e.Fixed(f), true
	}
	return e.NormalisedOther(name)
}

// NormalisedOther is Normalised for a name that is not a fixed one
// (FixedFieldOf): Fields' names, then Extra's.
func (e *Event) NormalisedOther(name string) (string, bool) {
	if e.Fields != nil {
		if v, ok := e.Fields.Field(name); ok {
			return v, true
		}
	}
	// Extra's filter here, where Lookup is not inlined: most raw
	// paths stop at it without a call.
	if b := nameBits(name); e.Extra.lens&b == b {
		return e.Extra.Lookup(name)
	}
	return "", false
}

// Get returns the values of a field: a normalised name (see the Field*
// constants and Extra) or else a raw JSON path into the record, resolved by
// Lookup. found is false when the field is absent from the record.
func (e *Event) Get(name string) (vals []Value, found bool) {
	if v, ok := e.Normalised(name); ok {
		if v == "" {
			return nil, false
		}
		return []Value{StringValue(v)}, true
	}
	return Lookup(e.Record(), name)
}

// Summary fields: a short label for the actor, for alerts and logs.
func (e *Event) Who() string {
	if id := e.Actor.ID(); id != "" {
		return id
	}
	return "unknown caller"
}

// EqualFold reports whether two operation names are the same, ignoring
// case and surrounding blanks: Azure writes one name in several cases.
func EqualFold(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
