// Package coverage counts which log sources an input holds, per source,
// category, subscription and resource type, and compares them with the
// sources a deployment should send: the first failure in an investigation
// is a log that was never enabled.
package coverage

import (
	"bytes"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/rowindex"
)

// Scopes of the recommended sources.
const (
	ScopeTenant       = "tenant"
	ScopeSubscription = "subscription"
	ScopeResource     = "resource"
)

// Expected is one recommended log: the sources (registry names) and
// categories (any when empty) that carry it.
type Expected struct {
	Scope      string
	Name       string
	Sources    []string
	Categories []string
	Why        string
}

const activitySource = "activitylogs"

// Recommended are the logs a deployment of azdetect should send: tenant
// (Entra ID), subscription (Activity Log) and resource logs.
var Recommended = []Expected{
	{ScopeTenant, "Entra ID interactive sign-ins", []string{"signinlogs"}, []string{"SignInLogs"}, "password spray, brute force, new country"},
	{ScopeTenant, "Entra ID non-interactive sign-ins", []string{"signinlogs"}, []string{"NonInteractiveUserSignInLogs"}, "token replay, refresh-token abuse"},
	{ScopeTenant, "Entra ID service principal sign-ins", []string{"signinlogs"}, []string{"ServicePrincipalSignInLogs"}, "stolen app credentials"},
	{ScopeTenant, "Entra ID managed identity sign-ins", []string{"signinlogs"}, []string{"ManagedIdentitySignInLogs"}, "managed identity token use"},
	{ScopeTenant, "Entra ID audit logs", []string{"auditlogs"}, []string{"AuditLogs"}, "role grants, app credentials, MFA changes"},
	{ScopeTenant, "Identity Protection (RiskyUsers, UserRiskEvents)", []string{"riskdetection"}, nil, "risk detections"},
	{ScopeSubscription, "Activity Log: Administrative", []string{"activitylogs"}, []string{"Administrative"}, "every control-plane write and delete"},
	{ScopeSubscription, "Activity Log: Security", []string{"activitylogs"}, []string{"Security"}, "Defender for Cloud alerts"},
	{ScopeSubscription, "Activity Log: Policy", []string{"activitylogs"}, []string{"Policy"}, "policy effects and exemptions"},
	{ScopeSubscription, "Activity Log: Alert", []string{"activitylogs"}, []string{"Alert"}, "Azure Monitor alerts"},
	{ScopeSubscription, "Activity Log: ServiceHealth", []string{"activitylogs"}, []string{"ServiceHealth"}, "outages that explain gaps"},
	{ScopeResource, "Key Vault AuditEvent", []string{"keyvault"}, nil, "secret, key and certificate access"},
	{ScopeResource, "Storage logs (StorageBlobLogs or $logs)", []string{"storagelogs", "storageanalytics"}, nil, "data access and exfiltration"},
	{ScopeResource, "NSG or VNet flow logs", []string{"nsgflowlogs", "vnetflowlogs"}, nil, "scans, exposed ports, outbound volume"},
}

// subscriptionScoped are the Activity Log categories checked per
// subscription seen in the input.
var subscriptionScoped = func() []Expected {
	var out []Expected
	for _, e := range Recommended {
		if e.Scope == ScopeSubscription {
			out = append(out, e)
		}
	}
	return out
}()

// Key is one row of counts.
type Key struct {
	Source       string `json:"source"`
	Category     string `json:"category"`
	Subscription string `json:"subscription,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
}

// Tally counts parsed records. The zero value is ready; not safe for
// concurrent use.
//
// Its memory does not grow with the input: it holds at most about
// 2*MaxKeys rows (see Add), and a row's strings are copies, never views
// into a record's bytes (a decoder's strings are), which would keep the
// whole record alive for the rest of a scan.
type Tally struct {
	// counts finds a row's number by its hash (hashKey): keys[i] is row
	// i, n[i] its records. A record seen before is counted by number,
	// without hashing its row.
	counts rowindex.Index
	keys   []Key
	n      []int
	// seen finds, by their hash (hashFields), the fields of records
	// already counted, as written: rows[i] holds them (copies too) and
	// the row they were counted under. The same fields come back record
	// after record, and lower-casing them each time was three allocations
	// per record. It holds at most maxSeen. Both tables hash a key's
	// bytes once, where a map with a struct key hashed each of its
	// strings, per look-up and per assignment (a tenth of a mixed
	// input's instructions a record went to Add).
	seen rowindex.Index
	rows []seenRow
	// lasts are the fields of the record of each source counted last
	// and their row's number (by the address of the source name's
	// bytes, hashed: a source's events share them): records come
	// in runs of one resource, a source's even among other sources'
	// (a tenant's sign-ins, audit logs: a few rows), and comparing is
	// cheaper than hashing.
	lasts [1 << lastBits]lastSeen
	// room is where the copies of new rows are cut from: chunks, not an
	// allocation per row (an Activity Log's resource types are many).
	// Behind a pointer: a copy of the Tally shares it (and never cuts
	// over what the other cut).
	room *keyRoom
}

// lastSeen is the fields of the record of a source counted last, and
// their row's number.
type lastSeen struct {
	// at is the address of the source name's bytes the record had: an
	// address alone (no pointer, which would keep a record's bytes
	// alive), only to find the entry, whose fields are compared.
	at  uintptr
	key seenKey
	row int32
}

// lastBits sizes Tally.lasts: room for the sources of a registry.
const lastBits = 5

// lastSlot is the entry of Tally.lasts for the source name at p: a few
// names fall in distinct entries mostly, and two that share one take
// turns.
func lastSlot(p uintptr) int {
	return int(uint64(p) * 0x9E3779B97F4A7C15 >> (64 - lastBits))
}

// nameAt is the address of s's bytes.
func nameAt(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

// keyRoom is the unused end of a chunk of key copies.
type keyRoom struct{ b []byte }

const (
	// keyChunk is the size of a chunk of key copies.
	keyChunk = 4 << 10
	// maxChunkedKey is the longest copy cut from a chunk: a longer one is
	// its own allocation, so a chunk's waste stays small.
	maxChunkedKey = 512
)

// cut returns an empty slice of capacity n, written only by its caller.
func (t *Tally) cut(n int) []byte {
	if n > maxChunkedKey {
		return make([]byte, 0, n)
	}
	if t.room == nil {
		t.room = new(keyRoom)
	}
	r := t.room
	if cap(r.b)-len(r.b) < n {
		r.b = make([]byte, 0, keyChunk)
	}
	d := r.b[len(r.b) : len(r.b) : len(r.b)+n]
	r.b = r.b[:len(r.b)+n]
	return d
}

// seenRow is a seen key's row's number, and the key (the Tally's copy
// of it).
type seenRow struct {
	key seenKey
	row int32
}

// seenKey is what Add reads of an event, as written.
type seenKey struct {
	source, category, subscription, provider, typ string
}

// maxSeen bounds Tally.seen; past it, Add folds every new record afresh.
const maxSeen = 4 * MaxKeys

// MaxKeys is how many rows a Tally keeps as written. Past it, the records
// of a new row are counted under their source, category and subscription
// with the resource type Other; past twice that, under their source and
// category alone (subscription Other too: categories are few, a source
// recognises its own). Real inputs have a few hundred rows; the Activity
// Log's resource types are whatever was changed, and a record's fields
// may be anyone's.
const MaxKeys = 4096

// Other stands for the values a full Tally no longer tells apart.
const Other = "(other)"

// Add counts one parsed record.
func (t *Tally) Add(ev *event.Event) {
	sk := seenKey{ev.Source, ev.Category, ev.Resource.Subscription, ev.Resource.Provider, ev.Resource.Type}
	at := nameAt(ev.Source)
	last := &t.lasts[lastSlot(at)]
	if last.at == at && last.key == sk && at != 0 {
		t.n[last.row]++
		return
	}
	h := hashFields(sk.source, sk.category, sk.subscription, sk.provider, sk.typ)
	for s := t.seen.First(h); ; s++ {
		var i int32
		if s, i = t.seen.Probe(h, s); i < 0 {
			break
		}
		if r := &t.rows[i]; r.key == sk {
			// The row r was counted under stays what add would choose:
			// rows are never removed, so it is still there.
			t.n[r.row]++
			*last = lastSeen{at, r.key, r.row}
			return
		}
	}
	// One copy of the fields as written (they may be views into the
	// record) and of the row's, together.
	r := &ev.Resource
	b := t.cut(2*(len(sk.source)+len(sk.category)+len(sk.subscription)+len(sk.provider)+len(sk.typ)) + 1)
	k, b := keyOf(b, ev)
	row := t.add(k, 1)
	if len(t.rows) < maxSeen {
		var c seenKey
		b, c.source = appendString(b, sk.source)
		b, c.category = appendString(b, sk.category)
		b, c.subscription = appendString(b, sk.subscription)
		b, c.provider = appendString(b, r.Provider)
		_, c.typ = appendString(b, r.Type)
		t.seen.Insert(h, int32(len(t.rows)))
		t.rows = append(t.rows, seenRow{c, row})
		*last = lastSeen{at, c, row}
	}
}

// secrets seed the hashes of every Tally's tables: they never leave the
// process. Random: a record's fields may be anyone's, and hashes they
// could make collide (or a multiplier they could make zero) would make
// every look-up a walk.
var secrets = [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}

// hashBits masks every hash: all of them, but a test keeps a few, so that
// most look-ups meet hashes equal for other fields and must compare.
var hashBits = ^uint64(0)

// hashFields returns a hash of the strings, each with its length: the
// mixing of wyhash (the runtime's string hash where it has no AES), with
// random secrets, read off the fields in place. Hashing each field
// through hash/maphash cost a call and a finish of its own, and copying
// them to one buffer first cost as much.
func hashFields(a, b, c, d, e string) uint64 {
	h := secrets[0]
	h = hashField(h, a)
	h = hashField(h, b)
	h = hashField(h, c)
	h = hashField(h, d)
	h = hashField(h, e)
	return h & hashBits
}

// hashField mixes s and its length into h.
func hashField(h uint64, s string) uint64 {
	n := len(s)
	for len(s) > 16 {
		h = mum(le64(s, 0)^secrets[1], le64(s, 8)^h)
		s = s[16:]
	}
	var x, y uint64
	switch m := len(s); {
	case m > 8:
		x, y = le64(s, 0), le64(s, m-8)
	case m >= 4:
		x, y = uint64(le32(s, 0)), uint64(le32(s, m-4))
	case m > 0:
		x = uint64(s[0])<<16 | uint64(s[m>>1])<<8 | uint64(s[m-1])
	}
	return mum(x^secrets[1], y^h^(uint64(n)*secrets[2]))
}

// mum is wyhash's mix: the two halves of a*b, folded.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// le64 is the little-endian number of s[i:i+8].
func le64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// le32 is the little-endian number of s[i:i+4].
func le32(s string, i int) uint32 {
	s = s[i : i+4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// hashKey is the hash a row is found by in Tally.counts.
func hashKey(k *Key) uint64 {
	return hashFields(k.Source, k.Category, k.Subscription, k.ResourceType, "")
}

// keyOf appends the row of ev to b, whose capacity holds it: its strings
// a copy, never views into the record.
func keyOf(b []byte, ev *event.Event) (Key, []byte) {
	r := &ev.Resource
	var k Key
	b, k.Source = appendString(b, ev.Source)
	b, k.Category = appendString(b, ev.Category)
	start := len(b)
	b = event.AppendLower(b, r.Subscription)
	k.Subscription = view(b[start:])
	if r.Provider != "" || r.Type != "" {
		// strings.ToLower(strings.Trim(provider+"/"+type, "/")).
		start := len(b)
		b = event.AppendLower(b, r.Provider)
		b = append(b, '/')
		b = event.AppendLower(b, r.Type)
		k.ResourceType = view(bytes.Trim(b[start:], "/"))
	}
	return k, b
}

// appendString appends s to b, whose capacity holds it, and returns the
// copy as a string sharing b's array (never written again).
func appendString(b []byte, s string) ([]byte, string) {
	start := len(b)
	b = append(b, s...)
	return b, view(b[start:])
}

// view returns b as a string without copying: b is never written again.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// add counts n records under k (whose strings are the Tally's own), or
// under k folded when k is a new row of a full Tally, and returns the
// number of the row counted.
func (t *Tally) add(k Key, n int) int32 {
	i, h := t.row(&k)
	if i < 0 {
		if len(t.keys) >= MaxKeys && k.ResourceType != "" {
			k.ResourceType = Other
			i, h = t.row(&k)
		}
		if i < 0 && len(t.keys) >= 2*MaxKeys {
			k.Subscription, k.ResourceType = Other, Other
			i, h = t.row(&k)
		}
		if i < 0 {
			i = int32(len(t.keys))
			t.counts.Insert(h, i)
			t.keys = append(t.keys, k)
			t.n = append(t.n, 0)
		}
	}
	t.n[i] += n
	return i
}

// row returns the number of row k, or -1, and k's hash.
func (t *Tally) row(k *Key) (int32, uint64) {
	h := hashKey(k)
	for s := t.counts.First(h); ; s++ {
		var i int32
		if s, i = t.counts.Probe(h, s); i < 0 {
			return -1, h
		}
		if t.keys[i] == *k {
			return i, h
		}
	}
}

// Merge adds o's counts to t.
func (t *Tally) Merge(o *Tally) {
	if o == nil {
		return
	}
	// Rows o brings may be what a record seen before would now count
	// under: forget what was seen.
	if len(t.rows) > 0 {
		t.seen.Reserve(0) // empties it
		t.rows = t.rows[:0]
	}
	t.lasts = [len(t.lasts)]lastSeen{}
	if len(t.keys) == 0 {
		// Into an empty Tally (a scan's total, its first unit), o's
		// rows are what adding them one by one makes: copied, not
		// hashed and placed again (a new row of the mix cost as much
		// again at the end of the unit).
		t.counts = o.counts.Clone()
		t.keys = append(t.keys, o.keys...)
		t.n = append(t.n, o.n...)
		return
	}
	for i, k := range o.keys {
		t.add(k, o.n[i])
	}
}

// Row is one count.
type Row struct {
	Key
	Records int `json:"records"`
}

// EachKey calls fn with each key counted, in the order they were first
// counted: Rows without its sort, for who needs the keys alone (serve's
// silence check, every batch: sorting a batch's few hundred rows cost
// more than the check).
func (t *Tally) EachKey(fn func(Key)) {
	for _, k := range t.keys {
		fn(k)
	}
}

// Rows returns the counts sorted by source, category, subscription, type.
func (t *Tally) Rows() []Row {
	out := make([]Row, 0, len(t.keys))
	for i, k := range t.keys {
		out = append(out, Row{Key: k, Records: t.n[i]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if !strings.EqualFold(a.Category, b.Category) {
			return lessLower(a.Category, b.Category)
		}
		if a.Subscription != b.Subscription {
			return a.Subscription < b.Subscription
		}
		return a.ResourceType < b.ResourceType
	})
	return out
}

// lessLower reports whether strings.ToLower(a) < strings.ToLower(b),
// without their copies when the bytes that decide are ASCII (serve sorts
// a batch's rows: two copies a comparison were a fifth of an allocation a
// record).
func lessLower(a, b string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca >= utf8.RuneSelf || cb >= utf8.RuneSelf {
			return strings.ToLower(a) < strings.ToLower(b)
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return ca < cb
		}
	}
	// One is the other's prefix, folded: ToLower maps a non-empty rest
	// to a non-empty one.
	return len(a) < len(b)
}

// ByCategory returns "source/category" -> records, for a batch log line.
func (t *Tally) ByCategory() map[string]int {
	out := map[string]int{}
	for i, k := range t.keys {
		out[k.Source+"/"+k.Category] += t.n[i]
	}
	return out
}

// Status is one recommended log and whether the input holds it.
type Status struct {
	Scope   string `json:"scope"`
	Name    string `json:"name"`
	Present bool   `json:"present"`
	Records int    `json:"records"`
	Why     string `json:"why"`
}

// SubscriptionStatus lists, for one subscription seen in the input, the
// Activity Log categories it sent and those it did not.
type SubscriptionStatus struct {
	Subscription  string         `json:"subscription"`
	Present       map[string]int `json:"present"`
	Missing       []string       `json:"missing"`
	ResourceTypes map[string]int `json:"resource_logs"` // "source resource-type" -> records, resource logs only
}

// Report is what `azdetect coverage` prints.
type Report struct {
	Recommended   []Status             `json:"recommended"`
	Subscriptions []SubscriptionStatus `json:"subscriptions"`
	Counts        []Row                `json:"counts"`
}

// Report compares the counts with Recommended, overall and per
// subscription.
func (t *Tally) Report() Report {
	rep := Report{Counts: t.Rows()}
	for _, e := range Recommended {
		n := records(rep.Counts, e)
		rep.Recommended = append(rep.Recommended, Status{Scope: e.Scope, Name: e.Name, Present: n > 0, Records: n, Why: e.Why})
	}
	// Rows sort by source first: group them by subscription once.
	bySub := map[string][]Row{}
	for _, r := range rep.Counts {
		if r.Subscription != "" {
			bySub[r.Subscription] = append(bySub[r.Subscription], r)
		}
	}
	subs := make([]string, 0, len(bySub))
	for sub := range bySub {
		subs = append(subs, sub)
	}
	sort.Strings(subs)
	for _, sub := range subs {
		rows := bySub[sub]
		ss := SubscriptionStatus{Subscription: sub, Present: map[string]int{}, ResourceTypes: map[string]int{}}
		for _, e := range subscriptionScoped {
			if n := records(rows, e); n > 0 {
				ss.Present[e.Categories[0]] = n
			} else {
				ss.Missing = append(ss.Missing, e.Categories[0])
			}
		}
		for _, r := range rows {
			// Resource logs only: the Activity Log's resource types are
			// what was changed, not which logs are enabled.
			if r.ResourceType != "" && r.Source != activitySource {
				ss.ResourceTypes[r.Source+" "+r.ResourceType] += r.Records
			}
		}
		rep.Subscriptions = append(rep.Subscriptions, ss)
	}
	return rep
}

// records counts the records of e in rows.
func records(rows []Row, e Expected) int {
	n := 0
	for _, r := range rows {
		if !slices.Contains(e.Sources, r.Source) {
			continue
		}
		if len(e.Categories) > 0 && !slices.ContainsFunc(e.Categories, func(c string) bool { return strings.EqualFold(c, r.Category) }) {
			continue
		}
		n += r.Records
	}
	return n
}

// Missing returns the names of the recommended logs the report lacks.
func (r Report) Missing() []string {
	var out []string
	for _, s := range r.Recommended {
		if !s.Present {
			out = append(out, s.Name)
		}
	}
	return out
}
