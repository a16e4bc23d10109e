// Package source turns raw Azure log records into normalised events: framing
// of bodies (decode.go), recognition of each record's source by its own
// cheap top-level fields, and one parser per source (one file each).
//
// # Extra values
//
// Besides the normalised fields of event.Event, sources set these Extra
// values (read by rules with Event.Get under the same name; absent when the
// record has no value):
//
//	activitylogs  activity.status_code        properties.statusCode (Created, OK, Forbidden)
//	              activity.result_signature   resultSignature (Started., Succeeded.Created, Failed.Forbidden)
//	              activity.event_name         properties.eventName
//	              activity.principal_type     identity.authorization.evidence.principalType
//	              activity.role               identity.authorization.evidence.role
//	              activity.authn_methods      claim authnmethodsreferences (pwd, mfa, ...)
//	              defender.severity           Security alerts: properties.Severity/severity, lower case
//	              defender.alert_name         Security alerts: properties.AlertDisplayName, else eventName
//	              defender.compromised_entity Security alerts: properties.compromisedEntity
//	signinlogs    signin.authentication_requirement  singleFactorAuthentication / multiFactorAuthentication
//	              signin.authentication_protocol     none, ropc, deviceCode, ...
//	              signin.client_app                  clientAppUsed (Browser, IMAP4, ...)
//	              signin.conditional_access_status   success, failure, notApplied
//	              signin.risk_level_during_signin    none, low, medium, high, hidden
//	              signin.risk_level_aggregated
//	              signin.risk_state
//	              signin.is_interactive             true / false
//	              signin.user_type                  Member / Guest
//	              signin.cross_tenant_access_type
//	              signin.token_issuer_type          AzureAD, ADFederationServices
//	              signin.resource_id                the accessed resource's app id
//	              signin.device_id, signin.device_os, signin.device_browser, signin.device_trust_type
//	              signin.mfa_method                 mfaDetail.authMethod
//	auditlogs     audit.service          loggedByService (Core Directory, Conditional Access, PIM, ...)
//	              audit.category         properties.category (UserManagement, RoleManagement, ...)
//	              audit.operation_type   Add, Update, Delete, Assign, Unassign
//	              audit.target_type      first targetResources[].type
//	              audit.target_id        first targetResources[].id
//	riskdetection risk.event_type        riskEventType (riskType when absent)
//	              risk.level             riskLevel
//	              risk.state             riskState
//	              risk.detail            riskDetail
//	              risk.source            source (IdentityProtection, ...)
//	              risk.detection_timing  detectionTimingType
//	              risk.activity          activity (signin, user)
//	nsgflowlogs   flow.version           properties.Version (1, 2); VNet: flowLogVersion (4)
//	vnetflowlogs  flow.mac               the NIC's MAC: macAddress, else the first flows[].flows[].mac
//	              flow.tuples            number of flow tuples in the record
//	              flow.denied            number of denied tuples (NSG decision D, VNet state D)
//	              flow.log_resource_id   VNet: flowLogResourceID (the event's resource is targetResourceID)
//	              (per-tuple facts: event.FlowTuples, which walks Raw one tuple at a time)
//	flowlogs      not a registry source: the pipeline's one event per flow tuple
//	              (Registry.ExpandFlow), with flow.src_ip, flow.dst_port, flow.allowed,
//	              flow.bytes_sent, flow.remote_class... (flowtuple.go)
//	storageanalytics  storage.auth_type       anonymous, sas, accountkey, oauth (others lower-cased as written;
//	                                          $logs 1.0 lines say authenticated: a key or OAuth, 1.0 cannot tell)
//	storagelogs       storage.status          $logs request-status / statusText (Success, SASSuccess, AuthorizationPermissionMismatch...)
//	                  storage.service         blob, queue, table, file
//	                  storage.account         the account that owns the data
//	                  storage.requester_account  $logs requester-account-name (key callers; another account on cross-account copy)
//	                  storage.object_key      /<account>/<container>/<blob> (a URL for copy sources)
//	                  storage.request_bytes   request body bytes (uploads)
//	                  storage.response_bytes  response body bytes (downloads: exfiltration volume)
//	                  storage.user_agent      User-Agent (AzCopy, Storage Explorer, SDKs)
//	                  storage.request_version $logs x-ms-version
//	                  storage.token_hash      storagelogs identity.tokenHash (key1(...) / key2(...): which key)
//	              (storageanalytics: Raw is the text line; Category is the service type)
//	keyvault      keyvault.http_status          properties.httpStatusCode (200, 401, 403...)
//	              keyvault.object_type          secret, key, certificate, storage, vault
//	              keyvault.object_name          the secret/key/certificate name in properties.id
//	              keyvault.result_signature     resultSignature (OK, Forbidden, NotFound)
//	              keyvault.duration_ms          durationMs (a number or a string)
//	              keyvault.access_policy_match  properties.isAccessPolicyMatch (true / false)
//	              keyvault.rbac_authorized      properties.isRbacAuthorized (true / false)
//	              keyvault.added_policy_object_id     addedAccessPolicy.ObjectId (who was granted)
//	              keyvault.added_policy_permissions   "certificates:get;keys:get,list;secrets:all"
//	              keyvault.removed_policy_object_id   removedAccessPolicy.ObjectId
//	              keyvault.removed_policy_permissions
package source

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// Source is one kind of log: how to recognise its records and parse them.
type Source struct {
	Name        string   // Sigma logsource service name, the rules' selector
	Description string   // one line, for `azdetect rules` and docs
	Reference   string   // URL of the schema documentation
	Categories  []string // the record categories it may own (compared case-insensitively)

	// Line recognises a plain text line (not JSON) by its shape, for the
	// sources whose records are not JSON (Storage Analytics $logs). Such a
	// source owns no categories; text lines are offered to the Line sources
	// in registry order.
	Line func(line []byte) bool

	// Recognise settles whether a record of one of Categories is this
	// source's, from cheap top-level fields only. nil accepts every record
	// of Categories.
	Recognise func(c Candidate) bool

	// Parse fills ev from the record. ev.Source and ev.Raw are set already.
	// An error makes the record malformed. A JSON source's Parse must
	// check the whole record as encoding/json would (decodeEvent does):
	// Registry.Records hands it JSON Lines framed by their line ends only,
	// and a record it parses is not checked again.
	Parse func(raw []byte, ev *event.Event) error

	// Extras is how many Extra values Parse sets at most: each event is
	// allocated with room for them (event.NewEvent). More still work, at
	// the cost of another allocation.
	Extras int
}

// Candidate is what recognition reads: a record's top-level fields, taken
// in one pass without decoding the rest.
type Candidate struct {
	Category      string // category (or Category) as written
	ResourceID    string
	OperationName string
}

// Status is the outcome of parsing one record.
type Status int

// Statuses.
const (
	Parsed       Status = iota // ev is filled
	Unrecognised               // no source owns the record (unknown category, a text line): count and keep it
	Malformed                  // the record is broken or lacks what every event needs (time): dead-letter it
)

func (s Status) String() string {
	switch s {
	case Parsed:
		return "parsed"
	case Unrecognised:
		return "unrecognised"
	case Malformed:
		return "malformed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Errors that tell why a record was not parsed (wrapped with detail).
var (
	ErrNotObject       = errors.New("record is not a JSON object")
	ErrTextLine        = errors.New("text line")
	ErrNoCategory      = errors.New("record has no category")
	ErrUnknownCategory = errors.New("no source for category")
	ErrNotRecognised   = errors.New("no source recognises the record")
	ErrLogAnalytics    = errors.New("log analytics export (TimeGenerated and PascalCase columns), not the diagnostic-settings shape")
	ErrMissingTime     = errors.New("record has no time")
	ErrInvalidTime     = errors.New("unparseable time")
	ErrParserPanic     = errors.New("parser panic")
	ErrMemberType      = errors.New("member of the wrong type")
)

// sources is the one list of sources. Adding a source is one line here and
// one file beside this one.
func sources() []Source {
	return []Source{
		activitySource,
		signInSource,
		auditSource,
		riskSource,
		nsgFlowSource,
		vnetFlowSource,
		storageAnalyticsSource,
		storageBlobSource,
		keyVaultSource,
	}
}

// Registry recognises records and parses them with their source.
type Registry struct {
	list       []Source
	byCategory map[string][]int // lower-cased category -> indexes into list
	// written holds the same lists under each category as its source
	// declares it, so a record that writes it that way is found without
	// lower-casing (an allocation per record); a table of its own, not a
	// map: recognition looks the category up two or three times a record,
	// and each map look-up hashed it anew.
	written categoryTable
	text    []int     // indexes of the sources with Line, in list order
	nets    *Networks // flow tuple address classes (flowtuple.go); nil: DefaultNetworks
}

// NewRegistry builds the registry of every built-in source, checking the
// list (unique names, documentation, categories, a parser).
func NewRegistry() (*Registry, error) {
	return newRegistry(sources())
}

func newRegistry(list []Source) (*Registry, error) {
	r := &Registry{list: list, byCategory: make(map[string][]int)}
	seen := make(map[string]bool, len(list))
	var errs []error
	for i, s := range list {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("source %d: no name", i))
			continue
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("source %s: name used twice", s.Name))
		}
		seen[s.Name] = true
		if strings.TrimSpace(s.Description) == "" || strings.TrimSpace(s.Reference) == "" {
			errs = append(errs, fmt.Errorf("source %s: description and reference are required", s.Name))
		}
		if s.Parse == nil {
			errs = append(errs, fmt.Errorf("source %s: no Parse", s.Name))
		}
		switch {
		case s.Line != nil && len(s.Categories) > 0:
			errs = append(errs, fmt.Errorf("source %s: a text source owns no categories", s.Name))
		case s.Line != nil:
			r.text = append(r.text, i)
		case len(s.Categories) == 0:
			errs = append(errs, fmt.Errorf("source %s: no categories", s.Name))
		}
		for _, c := range s.Categories {
			k := strings.ToLower(c)
			r.byCategory[k] = append(r.byCategory[k], i)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("source registry: %w", err)
	}
	asWritten := make(map[string][]int)
	for _, s := range list {
		for _, c := range s.Categories {
			asWritten[c] = r.byCategory[strings.ToLower(c)]
		}
	}
	r.written = newCategoryTable(asWritten)
	return r, nil
}

// sourcesOf returns the indexes into list of the sources of category
// (compared case-insensitively), and whether there are any.
func (r *Registry) sourcesOf(category string) ([]int, bool) {
	if idx, ok := r.written.find(category); ok {
		return idx, true
	}
	idx, ok := r.byCategory[strings.ToLower(category)]
	return idx, ok
}

// categoryDecides reports whether a record's category alone settles its
// source: the first source listed for it recognises every record of it.
func (r *Registry) categoryDecides(category string) bool {
	idx, _ := r.sourcesOf(category)
	return len(idx) > 0 && r.list[idx[0]].Recognise == nil
}

// categoryNames reports whether a record's category names its one
// candidate source, which still has to recognise the record: the parse is
// then speculative (see recognise).
func (r *Registry) categoryNames(category string) bool {
	idx, _ := r.sourcesOf(category)
	return len(idx) == 1
}

// categoryDecidesOrNames is categoryDecides || categoryNames, with one
// look-up of the category.
func (r *Registry) categoryDecidesOrNames(category string) bool {
	idx, _ := r.sourcesOf(category)
	return len(idx) == 1 || len(idx) > 0 && r.list[idx[0]].Recognise == nil
}

// categoryTable maps the categories as sources write them to their
// sources' indexes, as a map does: an open-addressing table hashed by the
// name's length and its first and last eight bytes, with the hash's
// multiplier chosen when the table is made so that names rarely share a
// slot (the built-in ones never do): a look-up is then one hash and one
// compare. Read-only once made, so safe to share.
type categoryTable struct {
	slots []categorySlot // a power of two, at least four a name
	seed  uint64
}

type categorySlot struct {
	name string // "": an empty slot
	idx  []int
	// a and b are categoryWords(name): a name of up to sixteen bytes is
	// compared by them and its length alone.
	a, b uint64
}

func newCategoryTable(m map[string][]int) categoryTable {
	size := 8
	for size < 4*len(m) {
		size *= 2
	}
	// Odd multipliers, tried in turn: with four slots a name, about one
	// in twenty leaves no two names in one slot; else the one that left
	// the fewest.
	t := categoryTable{slots: make([]categorySlot, size)}
	best, bestShared := uint64(0), -1
	for k := uint64(0); k < 256 && bestShared != 0; k++ {
		t.seed = 0xff51afd7ed558ccd + 2*k
		clear(t.slots)
		if shared := t.fill(m); bestShared < 0 || shared < bestShared {
			best, bestShared = t.seed, shared
		}
	}
	t.seed = best
	clear(t.slots)
	t.fill(m)
	return t
}

// fill puts the names of m in the table and returns how many are not in
// their own slot.
func (t *categoryTable) fill(m map[string][]int) (shared int) {
	mask := len(t.slots) - 1
	for name, idx := range m {
		if name == "" {
			continue // never looked up (recognise wants a category)
		}
		a, b := categoryWords(name)
		h := t.slot(a, b, len(name))
		if t.slots[h].name != "" {
			shared++
		}
		for t.slots[h].name != "" {
			h = (h + 1) & mask
		}
		t.slots[h] = categorySlot{name, idx, a, b}
	}
	return shared
}

// find returns the indexes of name, exactly as written.
func (t *categoryTable) find(name string) ([]int, bool) {
	n := len(name)
	if len(t.slots) == 0 || n == 0 {
		return nil, false
	}
	a, b := categoryWords(name)
	mask := len(t.slots) - 1
	for h := t.slot(a, b, n); ; h = (h + 1) & mask {
		s := &t.slots[h]
		if len(s.name) == n && s.a == a && s.b == b && (n <= 16 || s.name == name) {
			return s.idx, true
		}
		if s.name == "" {
			return nil, false
		}
	}
}

// categoryWords returns the first and last eight bytes of s as
// little-endian words; a shorter s is all in a, a byte at a time (so
// that a and the length tell it).
func categoryWords(s string) (a, b uint64) {
	if n := len(s); n >= 8 {
		p := unsafe.Slice(unsafe.StringData(s), n) // read, never written
		return event.Word(p, 0), event.Word(p, n-8)
	}
	for i := 0; i < len(s); i++ {
		a = a<<8 | uint64(s[i])
	}
	return a, 0
}

// slot is the home slot of a name of n bytes whose categoryWords are a
// and b.
func (t *categoryTable) slot(a, b uint64, n int) int {
	return int(((a*0x9e3779b97f4a7c15)^b^uint64(n))*t.seed>>32) & (len(t.slots) - 1)
}

// Sources returns the registered sources, in registry order.
func (r *Registry) Sources() []Source { return append([]Source(nil), r.list...) }

// Recognise returns the name of the source that owns raw, or "" and the
// reason none does (or the record is malformed before any parser runs).
func (r *Registry) Recognise(raw []byte) (name string, status Status, err error) {
	s, status, _, err := r.recognise(raw, false)
	if s == nil {
		return "", status, err
	}
	return s.Name, status, err
}

// recognise is Recognise's work. With speculate, a category that names
// one candidate source (Key Vault's AuditEvent) ends the scan of the
// top-level members there, and s is returned with confirm set, before its
// Recognise had the candidate: the caller parses the record with s and
// confirms with Recognise on what the parse read (Candidate of the
// event), else asks again without speculating. Key Vault writes
// resourceId after identity and properties, so waiting for it walked the
// whole record once more before the parse.
func (r *Registry) recognise(raw []byte, speculate bool) (s *Source, status Status, confirm bool, err error) {
	i := event.SkipSpace(raw, 0)
	if i >= len(raw) {
		return nil, Malformed, false, fmt.Errorf("%w: empty", ErrNotObject)
	}
	switch raw[i] {
	case '{':
	case '[', '"':
		return nil, Malformed, false, ErrNotObject
	default:
		// A non-JSON line: the shape-only sources, in a fixed order.
		for _, j := range r.text {
			if s := &r.list[j]; s.Line(raw[i:]) {
				return s, Parsed, false, nil
			}
		}
		return nil, Unrecognised, false, fmt.Errorf("%w: no text source recognises it", ErrTextLine)
	}
	decides := r.categoryDecides
	if speculate {
		decides = r.categoryDecidesOrNames
	}
	top, err := scanTop(raw[i:], false, decides)
	if err != nil {
		return nil, Malformed, false, err // wraps ErrInvalidJSON
	}
	if top.logAnalytics() {
		return nil, Malformed, false, ErrLogAnalytics
	}
	if !top.complete {
		// The scan stopped before time or TimeGenerated: a record no
		// source takes is checked for the Log Analytics shape in full.
		defer func() {
			if status != Parsed && isLogAnalytics(raw[i:]) {
				s, status, err = nil, Malformed, ErrLogAnalytics
			}
		}()
	}
	if top.Category == "" {
		return nil, Unrecognised, false, ErrNoCategory
	}
	idx, ok := r.sourcesOf(top.Category)
	if !ok {
		return nil, Unrecognised, false, fmt.Errorf("%w %q", ErrUnknownCategory, top.Category)
	}
	if speculate && top.early && len(idx) == 1 && r.list[idx[0]].Recognise != nil {
		// Stopped at the category that names it: the parse confirms.
		return &r.list[idx[0]], Parsed, true, nil
	}
	for _, j := range idx {
		if c := &r.list[j]; c.Recognise == nil || c.Recognise(top.Candidate) {
			return c, Parsed, false, nil
		}
	}
	return nil, Unrecognised, false, fmt.Errorf("%w (category %q, resourceId %q)", ErrNotRecognised, top.Category, top.ResourceID)
}

// Parse recognises the record and parses it with its source. err says why
// when status is not Parsed. ev.Raw is a copy of raw: raw may be reused
// after Parse returns (Records reuses its buffer).
//
// Unrecognised is for records that are fine but no source owns: an unknown
// category (FunctionAppLogs, ProvisioningLogs...), no category, a text line.
// Malformed is for records that cannot become an event: invalid JSON, a
// member of the wrong type, no or an unparseable time, a parser panic, and
// a Log Analytics export (TimeGenerated and PascalCase columns: a known
// shape, but another schema, kept for the dead-letter sink rather than
// counted as an unknown category).
func (r *Registry) Parse(raw []byte) (ev *event.Event, status Status, err error) {
	return r.parse(raw, nil)
}

// parse is Parse, making the event from slab when there is one.
func (r *Registry) parse(raw []byte, slab *event.Slab) (ev *event.Event, status Status, err error) {
	s, status, confirm, err := r.recognise(raw, true)
	if s == nil {
		return nil, status, err
	}
	ev, err = parseWith(s, raw, slab)
	if confirm && (err != nil || !s.Recognise(Candidate{Category: ev.Category, ResourceID: ev.Resource.ID, OperationName: ev.Operation})) {
		// The speculation failed: recognise as without it. The same
		// source keeps the parse's outcome (a record it recognises on the
		// scanned fields but not on the parsed ones has a duplicate
		// member: the scan's word stands, as before speculation).
		s2, status, _, rerr := r.recognise(raw, false)
		switch {
		case s2 == nil:
			return nil, status, rerr
		case s2 != s: // a later duplicate category
			s = s2
			ev, err = parseWith(s, raw, slab)
		}
	}
	if err != nil {
		if errors.Is(err, ErrMissingTime) && isLogAnalytics(raw) {
			return nil, Malformed, ErrLogAnalytics
		}
		return nil, Malformed, &ParseError{Source: s.Name, Err: err}
	}
	ev.SetKey()
	return ev, Parsed, nil
}

// parseWith makes an event of raw (from slab when there is one) and
// parses it with s.
func parseWith(s *Source, raw []byte, slab *event.Slab) (*event.Event, error) {
	var ev *event.Event
	if slab != nil {
		ev = slab.NewEvent(s.Extras)
		ev.Raw = slab.Copy(raw)
	} else {
		ev = event.NewEvent(s.Extras)
		ev.Raw = bytes.Clone(raw)
	}
	ev.Source = s.Name
	return ev, safeParse(s, ev)
}

// Records frames a body as the package's Records does and parses each
// record with its source, calling fn with the record and what Parse
// returns for it (for a record that could not be framed, rec.Err set: no
// event, Malformed and rec.Err). Framing JSON Lines and parsing them are
// one walk over each record's bytes: a line is framed by its line end and
// checked by its parser's strict decoding, and only a line that turns out
// not to be one JSON value is framed again byte by byte. rec.Bytes is
// valid until fn returns; the event keeps a copy.
func (r *Registry) Records(body io.Reader, fn func(rec Record, ev *event.Event, status Status, err error) error) error {
	return records(body, r.parsing(new(event.Slab), fn), true)
}

// A Reader reads bodies as Records does, one after another, calling the
// same fn: the events of every body it reads are made together, as those
// of one body are (the pipeline drops the events of a batch's bodies
// together: an Event Hub message of a few records no longer costs a run
// of events per size, a chunk of raw bytes and a callback). Not safe for
// concurrent use.
type Reader struct {
	slab  event.Slab
	parse func(Record) error
}

// NewReader returns a Reader calling fn as Records does.
func (r *Registry) NewReader(fn func(rec Record, ev *event.Event, status Status, err error) error) *Reader {
	rd := new(Reader)
	rd.parse = r.parsing(&rd.slab, fn)
	return rd
}

// Read frames and parses body as Records does.
func (rd *Reader) Read(body io.Reader) error { return records(body, rd.parse, true) }

// parsing is the record callback of Records: parse each framed record,
// making its event from slab.
func (r *Registry) parsing(slab *event.Slab, fn func(rec Record, ev *event.Event, status Status, err error) error) func(Record) error {
	// The events of one framing are made together: the pipeline drops
	// them together, with the chunks they are evaluated in.
	return func(rec Record) error {
		if rec.Err != nil {
			return fn(rec, nil, Malformed, rec.Err)
		}
		ev, status, err := r.parseSafe(rec.Bytes, slab)
		// A line no parser took may be an envelope whose "records"
		// member is not the first (one it took has a time, which an
		// envelope has not): the framing decides, as for a line that
		// is not valid JSON.
		if rec.unchecked && status != Parsed && (containsRecordsName(rec.Bytes) || !strictJSON(rec.Bytes, err)) {
			return errReframe
		}
		rec.unchecked = false
		return fn(rec, ev, status, err)
	}
}

// parseSafe is Parse with a panic (in recognition, say) turned into a
// malformed record: one record must not take the batch down.
func (r *Registry) parseSafe(b []byte, slab *event.Slab) (ev *event.Event, status Status, err error) {
	defer func() {
		if p := recover(); p != nil {
			ev, status, err = nil, Malformed, fmt.Errorf("%w: %v", ErrParserPanic, p)
		}
	}()
	return r.parse(b, slab)
}

// strictJSON reports whether raw, a record Parse did not parse (err), is
// one valid JSON value, as encoding/json holds it. A syntax error from the
// strict decoder says no at once; other outcomes (an unknown category, a
// member of the wrong type) are checked with event's strict scanner.
func strictJSON(raw []byte, err error) bool {
	var se *stdjson.SyntaxError
	if errors.As(err, &se) {
		return false
	}
	s := event.Scanner{B: raw}
	s.End(s.Skip(0))
	return !s.Bad
}

// ParseError is a record that its source recognised but could not parse;
// Source names it for the dead-letter record (errors.As).
type ParseError struct {
	Source string
	Err    error
}

func (e *ParseError) Error() string { return "parse " + e.Source + " record: " + e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

// safeParse runs a parser, turning a panic into an error: one bad record
// must not take the batch down.
func safeParse(s *Source, ev *event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrParserPanic, p)
		}
	}()
	return s.Parse(ev.Raw, ev)
}

// topFields is the one-pass scan of a record's top-level members.
type topFields struct {
	Candidate
	hasTime          bool
	hasTimeGenerated bool
	complete         bool // every member was scanned
	early            bool // decides stopped the scan at the category
}

// logAnalytics reports the Log Analytics export shape: TimeGenerated and
// no time.
func (t *topFields) logAnalytics() bool { return !t.hasTime && t.hasTimeGenerated }

// isLogAnalytics scans every top-level member of obj for the Log
// Analytics shape.
func isLogAnalytics(obj []byte) bool {
	i := event.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	t, _ := scanTop(obj[i:], true, nil)
	return t.logAnalytics()
}

// scanTop reads the members recognition needs. Names are compared
// case-insensitively (category and Category both occur). It checks the
// structure of what it scans only; the typed decoding checks the rest.
// Unless full, it stops once it has category, resourceId and
// operationName, or once it has a category that decides the source alone
// (decides; sign-ins write resourceId after their whole payload): time (and TimeGenerated, which tells a Log Analytics
// export) often come last, after the whole payload (sign-ins), and the
// parser reads time anyway; complete tells whether it went to the end.
func scanTop(obj []byte, full bool, decides func(category string) bool) (topFields, error) {
	if !full {
		if t, ok := scanTopCompact(obj, decides); ok {
			return t, nil
		}
	}
	return scanTopWalk(obj, full, decides)
}

// scanTopWalk is scanTop's walk of any record, a member at a time.
func scanTopWalk(obj []byte, full bool, decides func(category string) bool) (topFields, error) {
	var t topFields
	t.complete = true
	err := event.ObjectEach(obj, func(key, val []byte) bool {
		return !t.member(key[1:len(key)-1], val, false, full, decides)
	})
	return t, err
}

// member reads one top-level member for scanTop (k its raw name without
// the quotes, val its raw value; plain: a string known to be plain ASCII)
// and reports whether the scan stops.
func (t *topFields) member(k, val []byte, plain, full bool, decides func(category string) bool) (stop bool) {
	// Of equal lengths, a name folds to one of these ASCII names only if
	// it is ASCII (a rune of two bytes and more folds to one byte at
	// most: strings.EqualFold would compare runes in the same number of
	// bytes), so ASCII folding decides.
	// The names as Azure writes them are compared first (inlined word
	// compares), folding only for other spellings.
	switch {
	case len(k) == 4 && (string(k) == "time" || equalFoldASCII(k, "time")):
		t.hasTime = true
	case len(k) == 8 && (string(k) == "category" || equalFoldASCII(k, "category")):
		t.Category = unquoteText(val, plain)
	case len(k) == 10 && (string(k) == "resourceId" || equalFoldASCII(k, "resourceid")):
		t.ResourceID = unquoteText(val, plain)
	case len(k) == 13 && (string(k) == "operationName" || equalFoldASCII(k, "operationname")):
		t.OperationName = unquoteText(val, plain)
	case len(k) == 13 && (string(k) == "TimeGenerated" || equalFoldASCII(k, "timegenerated")):
		t.hasTimeGenerated = true
	}
	// Exports write the envelope before properties: stop as soon as
	// recognition has all it reads, without scanning the payload.
	if t.Category != "" && t.ResourceID != "" && t.OperationName != "" && (t.hasTime || !full) {
		t.complete = t.hasTime
		return true
	}
	if !full && decides != nil && t.Category != "" && decides(t.Category) {
		t.complete, t.early = t.hasTime, true
		return true
	}
	return false
}

// topNameLens has bit n set for the lengths of the names topFields.member
// reads: time, category, resourceId, operationName and TimeGenerated.
const topNameLens = 1<<4 | 1<<8 | 1<<10 | 1<<13

// scanTopCompact is scanTop (not full) for the usual record, written
// compactly: members "name":"value" or "name":digits, the names and
// string values plain ASCII, up to the member the scan stops at. ok is
// false for anything else met before it (a blank, an escape, a nested
// value, the end of the object): scanTop then walks the record as
// before, from its start. What it reads, scanTop reads alike, so that
// it answers the same.
func scanTopCompact(obj []byte, decides func(category string) bool) (t topFields, ok bool) {
	t.complete = true
	if len(obj) < 2 || obj[0] != '{' || obj[1] != '"' {
		return t, false
	}
	for i := 1; ; {
		e := event.PlainStop(obj, i+1)
		if e+2 >= len(obj) || obj[e] != '"' || obj[e+1] != ':' {
			return t, false
		}
		vs, ve := e+2, 0
		switch c := obj[vs]; {
		case c == '"':
			if ve = event.PlainStop(obj, vs+1); ve >= len(obj) || obj[ve] != '"' {
				return t, false
			}
			ve++
		case '0' <= c && c <= '9':
			for ve = vs + 1; ve < len(obj) && '0' <= obj[ve] && obj[ve] <= '9'; ve++ {
			}
		default:
			return t, false
		}
		// A name of a length none of member's has changes nothing, and
		// member's stop tests would answer as at the member before.
		if n := e - i - 1; n < 64 && topNameLens&(1<<n) != 0 && t.member(obj[i+1:e], obj[vs:ve], obj[vs] == '"', false, decides) {
			return t, true
		}
		if ve+1 >= len(obj) || obj[ve] != ',' || obj[ve+1] != '"' {
			return t, false
		}
		i = ve + 1
	}
}

// unquoteText returns the content of a raw JSON string, or "" for anything
// else. A string without escapes or non-ASCII bytes (nearly all) shares
// raw's bytes instead of being copied: the Candidate is read during
// recognition only, never kept (raw may be reused after Parse). plain
// tells raw is a string whose content is known to be plain ASCII
// (scanTopCompact scanned it): it is not looked at again.
func unquoteText(raw []byte, plain bool) string {
	if plain {
		return trimSpace(shared(raw[1 : len(raw)-1]))
	}
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && event.PlainASCII(raw[1:len(raw)-1]) {
		return trimSpace(shared(raw[1 : len(raw)-1]))
	}
	s, _ := event.Unquote(raw)
	return trimSpace(s)
}
