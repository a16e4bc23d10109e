// Package state keeps what stateful detections remember between batches:
// threshold counters and distinct-value sets per group key and window,
// new-term baselines, spike histories, sequence records of one correlation
// id, alert suppression and the blob-ingestion cursors.
//
// A Store holds entities in named tables. An entity is addressed by a
// partition key and a row key, carries an ETag that changes on every write
// and an expiry time, and has a small fixed set of typed properties. Reads
// and writes take many keys at once and are grouped by partition, because
// one batch of records is one unit of work: a batch reads what it needs in
// few round trips and writes it back as entity-group transactions of at most
// MaxTransactionOps operations, each all-or-nothing.
//
// Concurrency is optimistic. A writer reads an entity, computes, and writes
// it back with Replace (or Delete) guarded by the ETag it read, or Insert
// when it found nothing. If another writer got there first, Apply returns a
// *ConflictError (errors.Is(err, ErrConflict)) listing the keys whose
// operations were not applied; the caller re-reads exactly those and
// retries. Every other error is a dependency failure: the invocation fails
// and the host redelivers the batch.
//
// Nothing grows without bound: every entity that belongs to a window carries
// Expires, and the maintenance timer calls Sweep, which deletes the entities
// past it. Get returns expired entities until they are swept; callers treat
// them as absent for their window (Entity.Expired) and replace them.
//
// Keys decide the cost. A batch's round trips are about two per partition
// it touches (one query, Get or Find, and one transaction per
// MaxTransactionOps operations), so put what one batch updates together in
// one partition. Reads for update (ForUpdate) take one: Table answers them
// from its view of the partition, which the transaction checks against the
// partition's version row (cache.go), and which a conflict drops. Counters are kept per writer (the Event Hub partition,
// archive blob or file whose records they count, event.Position), so
// instances never write the same counter row, and with a position
// watermark, so a redelivered batch counts nothing twice in constant space.
// Layouts of the rule kinds (internal/detect):
//
//	threshold          PK JoinKey("thr", rule, TimeKey(window))  RK Escape(group)|Escape(writer)  Count; Data: watermark, sum, distinct hashes
//	spike history      PK JoinKey("spk", rule, group)            RK TimeKey(window)|Escape(writer) Count; Data: watermark; RK ~first|Escape(writer)
//	sequence           PK JoinKey("seq", rule, bucket)           RK Escape(group)|Escape(writer)  Data: steps, snapshots, watermark
//	new-term baseline  PK JoinKey("nt", rule, bucket)            RK JoinKey(entity, term...)      Time=first seen, Expires=last seen+lookback
//	suppression        PK JoinKey(rule)                          RK fingerprint                   Time=sent, Expires=sent+window
//	blob cursor        PK Escape(container)                      RK Escape(blob URI)              Text=URI, Count=offset; Replace with ETag
//
// The rows of one group over every writer share the prefix Escape(group)|
// and are read together with Find. infra/SCALE.md gives the figures.
//
// Two implementations pass one conformance suite (storetest): Memory, the
// embedded default for scan and tests, and Table, Azure Table Storage.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Store is the state the detection engine reads and writes once per batch.
type Store interface {
	// Get reads the entities with the given keys. Keys not found are absent
	// from the map. Reads are grouped by partition: one point read for a
	// single key, one query by key up to MaxQueryKeys keys, and for more one
	// query of the whole partition while it holds at most a page (1,000
	// entities), else one query per MaxQueryKeys keys.
	Get(ctx context.Context, table string, keys []Key) (map[Key]Entity, error)

	// List reads every entity of one partition whose row key starts with
	// rowPrefix ("" for the whole partition), ordered by row key.
	List(ctx context.Context, table, partitionKey, rowPrefix string) ([]Entity, error)

	// Find reads every entity of one partition whose row key starts with
	// one of rowPrefixes: the rows of some groups whatever their suffixes
	// (a threshold counter's writers). It is one query (a page per 1,000
	// entities read): up to MaxQueryPrefixes prefixes exactly, more as that
	// many ranges spanning neighbouring prefixes, whose rows between them
	// are read and dropped.
	Find(ctx context.Context, table, partitionKey string, rowPrefixes []string) ([]Entity, error)

	// Apply runs the operations, grouped by partition into transactions of
	// at most MaxTransactionOps operations, in the order given within each
	// partition. A key may appear once per call. Each transaction is
	// all-or-nothing; different partitions (and the transactions of one
	// partition beyond the first hundred operations) are independent.
	// It returns nil, a *ConflictError when the only failures were
	// preconditions, or another error (a dependency failure).
	// Apply does not return the new ETags: read again before the next write.
	Apply(ctx context.Context, table string, ops []Op) error

	// Sweep deletes the entities whose Expires is before now and returns how
	// many it deleted. An entity rewritten meanwhile (new ETag) is kept.
	Sweep(ctx context.Context, table string, now time.Time) (int, error)

	// Ops is the number of storage round trips made so far (table creation,
	// point reads, query pages, transactions, single deletes), so a
	// benchmark can report operations per 1,000 records.
	Ops() int64
}

// Limits of Azure Table Storage that both implementations keep.
const (
	// MaxTransactionOps is the most operations in one entity-group transaction.
	MaxTransactionOps = 100
	// MaxQueryKeys is how many row keys one partition query asks for: the
	// service allows 15 comparisons in a $filter, one is the partition key.
	MaxQueryKeys = 14
	// MaxQueryPrefixes is how many row-key prefixes one query asks for:
	// each is a range, two comparisons.
	MaxQueryPrefixes = 7
	// MaxKeyLen is the longest key JoinKey and Escape produce; longer keys
	// keep a readable prefix and end in a hash of the whole.
	MaxKeyLen = 128
	// MaxDataLen bounds Entity.Data (an Edm.Binary property holds 64 KiB).
	MaxDataLen = 64 << 10
	// MaxTextLen bounds Entity.Text in bytes (an Edm.String property holds
	// 32 Ki UTF-16 code units; bytes are the safe bound).
	MaxTextLen = 32 << 10
	// maxRawKeyLen is the service's limit on a partition or row key.
	maxRawKeyLen = 1024
	// pageSize is the service's page: a query returns at most 1,000
	// entities per round trip.
	pageSize = 1000
	// maxTransactionBytes keeps one transaction's body under the 4 MiB limit.
	maxTransactionBytes = 3 << 20
)

// ETagAny matches any ETag: Replace and Delete with it are unconditional
// (Replace still fails if the entity does not exist).
const ETagAny = "*"

// Key addresses one entity in a table.
type Key struct {
	PartitionKey string
	RowKey       string
}

func (k Key) String() string { return k.PartitionKey + "/" + k.RowKey }

// Entity is one stored row. The typed properties cover the rule kinds:
// Count for counters, spike buckets and cursor offsets; Time for first-seen
// and sent times; Text for the original value behind an escaped or hashed
// key (a distinct value, a blob URI); Data for anything structured (a
// document: a sequence record, a set, a cursor's blob ETag; the stateful
// kinds' are binary, the alerts' and cursors' JSON).
type Entity struct {
	PartitionKey string
	RowKey       string
	// ETag is set by the store on reads and ignored by Insert and Upsert;
	// Replace and Delete require it (or ETagAny).
	ETag string
	// Expires is when Sweep may delete the entity; zero means never. It is
	// a Stamp (8 bytes, 100 ns) so that an Entity fits 128 bytes.
	Expires Stamp

	Count int64
	Time  time.Time
	Text  string
	// Data is shared, not copied: what a store returns must not be
	// changed, and what is written must not be changed after Apply (the
	// stateful kinds decode strings and slices as views into it, and
	// write a fresh document each time).
	Data []byte
}

// Key returns the entity's key.
func (e Entity) Key() Key { return Key{e.PartitionKey, e.RowKey} }

// Packed returns e with its row key and Text copied into the room Data's
// capacity leaves after its length, when there is room for both: the
// stores keep a row key and Text packed so as they are (Data is kept
// anyway), where they otherwise keep copies of their own (either may be a
// view into a record's bytes). An entity written once per batch then
// costs one allocation, its document's. Without room e is returned as it
// is.
func Packed(e Entity) Entity {
	PackIn(&e)
	return e
}

// PackIn is Packed in place: e's row key and Text moved into the room
// behind its Data when there is room for both.
func PackIn(e *Entity) {
	d := e.Data
	if len(d) == 0 || cap(d)-len(d) < len(e.RowKey)+len(e.Text) {
		return
	}
	room := d[len(d):cap(d)]
	n := copy(room, e.RowKey)
	copy(room[n:], e.Text)
	if n > 0 {
		e.RowKey = unsafe.String(&room[0], n)
	}
	if len(e.Text) > 0 {
		e.Text = unsafe.String(&room[n], len(e.Text))
	}
}

// packedIn reports whether s lies in the room after data's length (see
// Packed). The empty string holds nothing.
func packedIn(s string, data []byte) bool {
	if s == "" {
		return true
	}
	if len(data) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= base+uintptr(len(data)) && p+uintptr(len(s)) <= base+uintptr(cap(data))
}

// Expired reports whether the entity is past its expiry at now.
func (e Entity) Expired(now time.Time) bool {
	return !e.Expires.IsZero() && e.Expires.Time().Before(now)
}

// OpKind is what an operation does.
type OpKind uint8

const (
	// Insert adds an entity that must not exist.
	Insert OpKind = iota + 1
	// Replace overwrites an entity that must exist with the given ETag.
	Replace
	// Upsert inserts or overwrites, unconditionally.
	Upsert
	// Delete removes an entity that must exist with the given ETag.
	Delete
)

func (k OpKind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Replace:
		return "replace"
	case Upsert:
		return "upsert"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one write. For Delete only the key and ETag of Entity are used.
type Op struct {
	Kind   OpKind
	Entity Entity
}

// ErrConflict is what every *ConflictError is: a precondition failed (an
// ETag no longer matches, Insert found the entity, Replace or Delete did not).
var ErrConflict = errors.New("state: precondition failed")

// ErrInvalid is what a malformed call wraps: a bad table name or key, a
// duplicate key, a missing ETag, an oversized property. No I/O was done.
var ErrInvalid = errors.New("state: invalid request")

// ConflictError reports the partitions whose transaction failed a
// precondition. Every operation not listed in Uncommitted was applied.
type ConflictError struct {
	Table string
	// PartitionKey and RowKey name the first failing operation (sorted by
	// partition). RowKey is empty when the service did not say which
	// operation failed.
	PartitionKey string
	RowKey       string
	// Partitions lists every partition that had a conflict, sorted.
	Partitions []string
	// Uncommitted lists the keys of every operation not applied: the failed
	// transaction's and those of the same partition that came after it.
	Uncommitted []Key
}

func (e *ConflictError) Error() string {
	row := e.RowKey
	if row == "" {
		row = "?"
	}
	more := ""
	if n := len(e.Partitions); n > 1 {
		more = fmt.Sprintf(" (and %d more partitions)", n-1)
	}
	return fmt.Sprintf("state: table %s partition %q row %q%s: precondition failed, %d operations not applied",
		e.Table, e.PartitionKey, row, more, len(e.Uncommitted))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Keys: Table Storage forbids / \ # ? and control characters in partition
// and row keys, and keys end up in URLs and $filter strings. Escape keeps
// [A-Za-z0-9-_.:@] as they are and writes every other byte as !XX (upper-case
// hex); JoinKey separates escaped parts with '|'; a key longer than
// MaxKeyLen keeps its first bytes and ends in '~' and a hash of the whole.
// '!', '|' and '~' therefore never come from a value, so distinct inputs give
// distinct keys, and a key's prefix (the leading parts) still sorts and
// lists with List. Escaped keys are plain ASCII.
const (
	escapeByte = '!'
	keySep     = '|'
	hashMarker = '~'
	hashHexLen = 32 // 128 bits of SHA-256
)

// Escape turns any string into a valid, short key (or key part).
func Escape(s string) string {
	n := EscapeRoom(s)
	if n == len(s) && n <= MaxKeyLen {
		return s // nothing to escape: no copy
	}
	// One allocation: the escaped bytes (all of them, to hash when too
	// long), shortened in place.
	b := AppendEscape(make([]byte, 0, n), s)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// EscapeRoom is the room AppendEscape needs to append Escape(s): s's
// length escaped (at least Escape(s)'s, which may be shortened).
func EscapeRoom(s string) int {
	// Eight bytes at a time: the count of kept bytes among them, by
	// table, without a branch per byte.
	t := &keyBytesN
	kept := 0
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		kept += int(t[w[0]] + t[w[1]] + t[w[2]] + t[w[3]] + t[w[4]] + t[w[5]] + t[w[6]] + t[w[7]])
	}
	for ; i < len(s); i++ {
		kept += int(t[s[i]])
	}
	return len(s) + 2*(len(s)-kept)
}

// AppendEscape appends Escape(s) to b: a key built of escaped parts in one
// buffer, with no string per part.
func AppendEscape(b []byte, s string) []byte {
	if cap(b)-len(b) >= 3*len(s) {
		// Room for every byte escaped (a key arena's): one pass, not
		// EscapeRoom's count first.
		start := len(b)
		b = appendEscapedRoom(b, s, 0)
		if len(b)-start <= MaxKeyLen {
			return b
		}
		return shortenIn(b, start)
	}
	n := EscapeRoom(s)
	if n == len(s) && n <= MaxKeyLen {
		return append(b, s...)
	}
	start := len(b)
	b = appendEscapedRoom(b, s, n)
	if len(b)-start <= MaxKeyLen {
		return b
	}
	return shortenIn(b, start)
}

// shortenIn shortens b[start:], longer than MaxKeyLen, in place: its
// first bytes (cut before an escape sequence, never inside one), '~' and
// a hash of the whole.
func shortenIn(b []byte, start int) []byte {
	part := b[start:]
	sum := sha256.Sum256(part)
	cut := shortCut(part)
	b = append(b[:start+cut], hashMarker)
	return hex.AppendEncode(b, sum[:hashHexLen/2])
}

// shortCut is how many bytes of an over-long escaped key a shortened key
// keeps: cut before an escape sequence, never inside one.
func shortCut(b []byte) int {
	cut := MaxKeyLen - 1 - hashHexLen
	for i := cut - 2; i < cut && i >= 0; i++ {
		if b[i] == escapeByte {
			cut = i
			break
		}
	}
	return cut
}

// JoinKey escapes each part and joins them with '|' into one valid key of
// at most MaxKeyLen bytes: JoinKey(ruleID, groupValue, TimeKey(window)).
func JoinKey(parts ...string) string {
	b := AppendJoinKey(make([]byte, 0, JoinKeyRoom(parts...)), parts...)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used again: no second copy
}

// JoinKeyRoom is the room AppendJoinKey needs for these parts.
func JoinKeyRoom(parts ...string) int {
	n := max(len(parts)-1, 0)
	for _, p := range parts {
		n += EscapeRoom(p)
	}
	return n
}

// AppendJoinKey appends JoinKey(parts...) to b.
func AppendJoinKey(b []byte, parts ...string) []byte {
	start := len(b)
	for i, p := range parts {
		if i > 0 {
			b = append(b, keySep)
		}
		b = appendEscaped(b, p)
	}
	if len(b)-start <= MaxKeyLen {
		return b
	}
	return shortenIn(b, start)
}

// SplitKey undoes JoinKey (and Escape, as one part). A key that was
// shortened cannot be split: it returns an ErrInvalid error; keep the
// original in Text or Data when it must be recovered.
func SplitKey(key string) ([]string, error) {
	if strings.IndexByte(key, hashMarker) >= 0 {
		return nil, fmt.Errorf("%w: key %q was shortened to a hash", ErrInvalid, key)
	}
	parts := strings.Split(key, string(keySep))
	for i, p := range parts {
		u, err := unescape(p)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrInvalid, key, err)
		}
		parts[i] = u
	}
	return parts, nil
}

// TimeKey formats a window start as a fixed-width key part that sorts in
// time order: 20261123T0930Z (minute resolution, UTC).
func TimeKey(t time.Time) string {
	return t.UTC().Format("20060102T1504Z")
}

// PrefixOf is the prefix of every key JoinKey builds with these leading
// parts (and more parts after them), for List.
func PrefixOf(parts ...string) string {
	b := make([]byte, 0, 32)
	for _, p := range parts {
		b = appendEscaped(b, p)
		b = append(b, keySep)
	}
	return string(b)
}

// keyBytes holds the bytes Escape keeps as they are: [A-Za-z0-9-_.:@].
var keyBytes = func() (ok [256]bool) {
	for c := range 256 {
		b := byte(c)
		ok[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '-' || b == '_' || b == '.' || b == ':' || b == '@'
	}
	return ok
}()

// keyBytesN is keyBytes as numbers (1: kept), to add up.
var keyBytesN = ones(&keyBytes)

// ones returns t as bytes, 1 where t holds, to add up or AND together.
func ones(t *[256]bool) (n [256]uint8) {
	for c, ok := range t {
		if ok {
			n[c] = 1
		}
	}
	return n
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped appends s with every byte Escape does not keep written as
// !XX: the room grown once, the bytes written in place. With room for
// every byte escaped (a key arena's), in one pass, not EscapeRoom's count
// first.
func appendEscaped(b []byte, s string) []byte {
	if cap(b)-len(b) >= 3*len(s) {
		return appendEscapedRoom(b, s, 0)
	}
	return appendEscapedRoom(b, s, EscapeRoom(s))
}

// appendEscapedRoom is appendEscaped with EscapeRoom(s) known (or 0 when
// b has room enough): the escaped bytes are written in place, in b's
// room, a word at a time. Each word of s is stored as it is, then checked
// (a table look-up per byte, the eight answers combined before one
// branch): a word all kept is done; one that is not is kept up to its
// first byte to escape, which is written as !XX over the rest, and the
// next word starts after it. The store past that byte is in room: the
// escape and the word's later bytes take more. The tail, less than a
// word, goes byte by byte. A group key (addresses joined with '|') is a
// few words and an escape or two, with no copy through a call.
func appendEscapedRoom(b []byte, s string, room int) []byte {
	b = slices.Grow(b, room)
	t := &keyBytesN
	start := len(b)
	out := b[start:cap(b)] // room for Escape(s), unshortened: the caller's promise
	j, i := 0, 0
	for i+8 <= len(s) {
		w := s[i : i+8]
		binary.LittleEndian.PutUint64(out[j:j+8], le64(w))
		if t[w[0]]&t[w[1]]&t[w[2]]&t[w[3]]&t[w[4]]&t[w[5]]&t[w[6]]&t[w[7]] != 0 {
			i, j = i+8, j+8
			continue
		}
		p := 0
		for t[w[p]] != 0 {
			p++
		}
		c := w[p]
		o := out[j+p : j+p+3]
		o[0], o[1], o[2] = escapeByte, hexDigits[c>>4], hexDigits[c&0xF]
		i, j = i+p+1, j+p+3
	}
	for ; i < len(s); i++ {
		c := s[i]
		if t[c] != 0 {
			out[j] = c
			j++
			continue
		}
		o := out[j : j+3]
		o[0], o[1], o[2] = escapeByte, hexDigits[c>>4], hexDigits[c&0xF]
		j += 3
	}
	return b[:start+j]
}

func unescape(s string) (string, error) {
	if strings.IndexByte(s, escapeByte) < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != escapeByte {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated escape")
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("bad escape %q", s[i:i+3])
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// keyASCII holds the bytes a key may hold that are ASCII characters
// allowed as they are: not a control character, a slash, a backslash, '#', '?' or a single quote.
var keyASCII = func() (ok [256]bool) {
	for c := 0x20; c < 0x7F; c++ {
		ok[c] = !strings.ContainsRune(`/\#?'`, rune(c))
	}
	return ok
}()

// keyASCIISafe reports whether s is all ASCII a key may hold as it is
// (keyASCII): eight bytes at a time, each a table look-up, the eight
// answers combined before one branch.
func keyASCIISafe(s string) bool {
	t := &keyASCIIBits
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		if t[w[0]]&t[w[1]]&t[w[2]]&t[w[3]]&t[w[4]]&t[w[5]]&t[w[6]]&t[w[7]] == 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if t[s[i]] == 0 {
			return false
		}
	}
	return true
}

// validUTF8 is utf8.ValidString(s), ASCII decided first: a Text (a group
// key, mostly ASCII and a few dozen bytes) in a few word loads ORed
// together and one test of their high bits, where ValidString steps
// through a short string's tail byte by byte.
func validUTF8(s string) bool {
	return asciiOnly(s) || utf8.ValidString(s)
}

// asciiOnly reports whether every byte of s is below 0x80.
func asciiOnly(s string) bool {
	var or uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		or |= le64(s[i : i+8])
	}
	switch {
	case i == len(s):
	case len(s) >= 8:
		or |= le64(s[len(s)-8:]) // the tail, in a word that overlaps the last one read
	default:
		for ; i < len(s); i++ {
			or |= uint64(s[i])
		}
	}
	return or&0x8080808080808080 == 0
}

// le64 is w's first eight bytes as a little-endian number (one load).
func le64(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// keyASCIIBits is keyASCII as bytes (1: allowed), to AND together.
var keyASCIIBits = ones(&keyASCII)

// escapedKeysKey marks a context of EscapedKeys.
type escapedKeysKey struct{}

// EscapedKeys returns a context under which Get, Find and Apply take the
// partition keys, row keys and row prefixes they are given as built of
// what Escape, AppendEscape, JoinKey and TimeKey write, joined with '|'
// (and constants of such bytes, '~' included): such a key holds no byte a
// key may not hold, by construction, and its check is its length alone
// (checkEscapedKey), not a pass over its bytes at each Get, each Find and
// again at each Apply. The caller vouches for every key of the calls made
// under it; Text and Data are checked as ever. A context already so is
// returned as it is.
func EscapedKeys(ctx context.Context) context.Context {
	if keysEscaped(ctx) {
		return ctx
	}
	return context.WithValue(ctx, escapedKeysKey{}, true)
}

func keysEscaped(ctx context.Context) bool {
	v, _ := ctx.Value(escapedKeysKey{}).(bool)
	return v
}

// distinctKeysKey marks a context of DistinctKeys.
type distinctKeysKey struct{}

// DistinctKeys returns a context under which Get takes the keys it is
// given as distinct (no key twice), by construction of the caller's: Get
// then needs no sort to make them so where nothing searches its row keys
// (the in-memory store without a view cache looks each one up), and reads
// them in the order given. What it returns is the same either way. The
// caller vouches for every Get made under it. A context already so is
// returned as it is.
func DistinctKeys(ctx context.Context) context.Context {
	if keysDistinct(ctx) {
		return ctx
	}
	return context.WithValue(ctx, distinctKeysKey{}, true)
}

func keysDistinct(ctx context.Context) bool {
	v, _ := ctx.Value(distinctKeysKey{}).(bool)
	return v
}

// checkEscapedKey is checkKey for a key of EscapedKeys: its bytes are all
// ones Escape keeps, '!', '|' or '~' (and hex digits), each a byte
// checkKey accepts (TestEscapedKeysPass), so only its length can make it
// one Table Storage refuses.
func checkEscapedKey(s string) error {
	if len(s) > maxRawKeyLen {
		return fmt.Errorf("longer than %d bytes", maxRawKeyLen)
	}
	return nil
}

// key checks one key as c checks keys: checkKey, or under EscapedKeys
// checkEscapedKey.
func (c *keyCheck) key(s string) error {
	if c.escaped {
		return checkEscapedKey(s)
	}
	return checkKey(s)
}

// checkKey reports why s cannot be a partition or row key as it is.
func checkKey(s string) error {
	if len(s) > maxRawKeyLen {
		return fmt.Errorf("longer than %d bytes", maxRawKeyLen)
	}
	// Keys are mostly ASCII (JoinKey escapes what is not safe): eight
	// bytes at a time decide (keyASCIISafe), the last few a table look-up
	// each; anything else is checked rune by rune.
	if keyASCIISafe(s) {
		return nil
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '/' || r == '\\' || r == '#' || r == '?':
			return fmt.Errorf("contains %q (use state.Escape or state.JoinKey)", r)
		case r == '\'':
			// The SDK does not double quotes in the URLs of transaction
			// operations, so a quote cannot travel in a batch.
			return errors.New("contains a single quote (use state.Escape or state.JoinKey)")
		case r < 0x20 || 0x7F <= r && r <= 0x9F:
			return fmt.Errorf("contains control character %U (use state.Escape or state.JoinKey)", r)
		}
	}
	return nil
}

// checkTable applies Table Storage's table-name rule: 3-63 letters and
// digits, starting with a letter.
func checkTable(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%w: table name %q: 3 to 63 characters", ErrInvalid, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return fmt.Errorf("%w: table name %q: letters and digits, starting with a letter", ErrInvalid, name)
		}
	}
	return nil
}
