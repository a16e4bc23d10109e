package source

import (
	"errors"
	"fmt"
	"html"
	"math/bits"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// storageAnalyticsSource is classic Storage Analytics logging, the `$logs`
// container (log-schemas §11): one request per semicolon-separated text
// line, versions 1.0 (30 fields) and 2.0 (38 fields, OAuth identity added).
// A line has no category: Event.Category is its service type (blob, queue,
// table) and the resource is the owner account, by name only.
var storageAnalyticsSource = Source{
	Name:        "storageanalytics",
	Description: "Storage Analytics logging ($logs text lines, versions 1.0 and 2.0): blob, queue and table requests",
	Reference:   "https://learn.microsoft.com/rest/api/storageservices/storage-analytics-log-format",
	Line:        isStorageAnalyticsLine,
	Parse:       parseStorageAnalytics,
	Extras:      10,
}

// isStorageAnalyticsLine is the shape `^[12]\.0;\d{4}-`.
func isStorageAnalyticsLine(line []byte) bool {
	if len(line) < 9 || (line[0] != '1' && line[0] != '2') || line[1] != '.' || line[2] != '0' || line[3] != ';' {
		return false
	}
	for _, c := range line[4:8] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return line[8] == '-'
}

// Field positions (0-based) of a $logs line.
const (
	saVersion           = 0
	saStartTime         = 1
	saOperation         = 2
	saStatus            = 3
	saHTTPStatus        = 4
	saAuthType          = 7
	saRequesterAccount  = 8
	saOwnerAccount      = 9
	saServiceType       = 10
	saObjectKey         = 12
	saRequestID         = 13
	saOperationCount    = 14
	saRequesterIP       = 15
	saRequestVersion    = 16
	saRequestPacketSize = 18
	saResponsePacket    = 20
	saUserAgent         = 27
	saUserObjectID      = 30 // 2.0 from here on
	saTenantID          = 31
	saApplicationID     = 32
	saUPN               = 35

	saFieldsV1 = 30
	saFieldsV2 = 38
)

// saDecoded has a bit set for each field parseStorageAnalytics reads: the
// others (latencies, request-url, checksums, the ETag written
// "&quot;0x8D...&quot;", conditions, referrer...) are split off but not
// HTML-decoded, which took a copy of each that held an entity.
const saDecoded = 1<<saVersion | 1<<saStartTime | 1<<saOperation | 1<<saStatus | 1<<saHTTPStatus |
	1<<saAuthType | 1<<saRequesterAccount | 1<<saOwnerAccount | 1<<saServiceType | 1<<saObjectKey |
	1<<saRequestID | 1<<saOperationCount | 1<<saRequesterIP | 1<<saRequestVersion | 1<<saRequestPacketSize |
	1<<saResponsePacket | 1<<saUserAgent | 1<<saUserObjectID | 1<<saTenantID | 1<<saApplicationID | 1<<saUPN

// ErrFieldCount is a $logs line with the wrong number of fields for its
// version.
var ErrFieldCount = errors.New("wrong number of fields")

func parseStorageAnalytics(raw []byte, ev *event.Event) error {
	// raw is ev.Raw, never written once parsed: the fields share its bytes
	// (as the JSON sources' strings do) instead of a copy of the line.
	line := strings.TrimSpace(shared(raw))
	var buf [saFieldsV2]string
	f := splitStorageFields(line, buf[:0], saDecoded)
	want := saFieldsV1
	if f[saVersion] == "2.0" {
		want = saFieldsV2
	} else if f[saVersion] != "1.0" {
		return fmt.Errorf("unknown log version %q", f[saVersion])
	}
	if len(f) != want {
		return fmt.Errorf("%w: version %s line has %d, want %d", ErrFieldCount, f[saVersion], len(f), want)
	}
	at := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}

	t, err := eventTime(f[saStartTime])
	if err != nil {
		return err
	}
	ev.Time = t
	ev.Category = f[saServiceType]
	ev.Operation = f[saOperation]
	status := f[saStatus]
	ev.ResultCode = f[saHTTPStatus]
	ev.Result = storageResult(status, ev.ResultCode)
	if ev.Result == event.ResultFailure {
		ev.ResultReason = status
	}
	ev.RecordID = f[saRequestID] + "/" + f[saOperationCount]
	ev.TenantID = at(saTenantID)
	ev.Target = f[saObjectKey]
	ev.Resource = storageAccount(f[saOwnerAccount])

	a := &ev.Actor
	a.IP = stripPort(f[saRequesterIP])
	a.UserAgent = f[saUserAgent]
	a.UPN = at(saUPN)
	a.ObjectID = at(saUserObjectID)
	a.AppID = at(saApplicationID)
	auth := f[saAuthType]
	if want == saFieldsV2 {
		// Only 2.0 lines tell an OAuth caller from an account key.
		auth = storageAuthType(auth, a.UPN != "" || a.ObjectID != "" || a.AppID != "")
	} else {
		auth = lowerAs(auth, "authenticated", storageAuthAnonymous, storageAuthSAS) // authenticated: a key or OAuth
	}
	if auth == storageAuthAccountKey || auth == "authenticated" {
		a.Name = f[saRequesterAccount]
	}
	a.Type = storageActorType(a)

	ev.SetAll(
		"storage.auth_type", auth,
		"storage.status", status,
		"storage.service", f[saServiceType],
		"storage.account", f[saOwnerAccount],
		"storage.requester_account", f[saRequesterAccount],
		"storage.object_key", f[saObjectKey],
		"storage.request_bytes", f[saRequestPacketSize],
		"storage.response_bytes", f[saResponsePacket],
		"storage.user_agent", f[saUserAgent],
		"storage.request_version", f[saRequestVersion],
	)
	return nil
}

// splitStorageLine appends the decoded fields of a $logs line to dst. A
// field is split off at ';' only outside double quotes and outside an HTML
// entity (an unquoted request-url holds "&amp;"). A quoted field ends at a
// '"' followed by ';' or the end of the line, so the ETag written
// ""0x8D..."" keeps its inner quotes. Each field is then HTML-decoded.
func splitStorageLine(line string, dst []string) []string {
	return splitStorageFields(line, dst, ^uint64(0))
}

// splitStorageFields is splitStorageLine that HTML-decodes only the
// fields whose bit is set in decode (from the 65th on, every field): the
// others are appended as written.
func splitStorageFields(line string, dst []string, decode uint64) []string {
	i := 0
	for {
		var field string
		amp := false // the field holds a '&': HTML-decode it
		k := i
		if k < len(line) && line[k] == '"' {
			end := -1
			for j := k + 1; j < len(line); j++ {
				q := strings.IndexByte(line[j:], '"')
				if q < 0 {
					break
				}
				if j += q; j+1 == len(line) || line[j+1] == ';' {
					end = j
					break
				}
			}
			if end >= 0 {
				field, k = line[i+1:end], end+1
				amp = strings.IndexByte(field, '&') >= 0
			}
		}
		if k == i {
			// Unquoted (or a quote never closed): up to the next
			// separator, which an entity's ';' is not.
			// semiOrAmp's words, inlined (most fields are a word or two).
			for ; k+8 <= len(line); k += 8 {
				w := line[k : k+8] // one bounds check, one load
				x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
					uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
				a, b := x^(';'*lowBytes), x^('&'*lowBytes)
				if m := ((a - lowBytes) &^ a & highBytes) | ((b - lowBytes) &^ b & highBytes); m != 0 {
					k += bits.TrailingZeros64(m) >> 3
					goto stop
				}
			}
			k += semiOrAmp(line[k:])
		stop:
			if k < len(line) && line[k] == '&' {
				amp = true
				for k < len(line) && line[k] != ';' {
					if line[k] == '&' {
						if n := entityLen(line[k:]); n > 0 {
							k += n
							continue
						}
					}
					k++
				}
			}
			field = line[i:k]
		}
		if amp && (len(dst) >= 64 || decode&(1<<len(dst)) != 0) {
			field = html.UnescapeString(field)
		}
		dst = append(dst, field)
		if k >= len(line) {
			return dst
		}
		i = k + 1 // past the ';'
	}
}

const lowBytes, highBytes = 0x0101010101010101, 0x8080808080808080

// semiOrAmp returns the index of the first ';' or '&' in s, or len(s),
// eight bytes at a time: fields are short, and a call to IndexByte each
// cost more than the bytes.
func semiOrAmp(s string) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8] // one bounds check, one load
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// The zero-byte test of x^';' and of x^'&': the lowest bit set
		// of each is exact (a false one only sits above a true one).
		a, b := x^(';'*lo), x^('&'*lo)
		if m := ((a - lo) &^ a & hi) | ((b - lo) &^ b & hi); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s); i++ {
		if s[i] == ';' || s[i] == '&' {
			return i
		}
	}
	return len(s)
}

// entityLen returns the length of the HTML entity s starts with (&amp;
// &quot; &lt; &gt; &apos; &#NN; &#xHH;), or 0.
func entityLen(s string) int {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 10 {
		return 0
	}
	name := s[1:end]
	switch name {
	case "amp", "quot", "lt", "gt", "apos", "nbsp":
		return end + 1
	}
	if name[0] != '#' || len(name) < 2 {
		return 0
	}
	digits := name[1:]
	hex := digits[0] == 'x' || digits[0] == 'X'
	if hex {
		digits = digits[1:]
	}
	if digits == "" {
		return 0
	}
	for _, c := range digits {
		switch {
		case c >= '0' && c <= '9':
		case hex && (c|0x20) >= 'a' && (c|0x20) <= 'f':
		default:
			return 0
		}
	}
	return end + 1
}

// storageResult: statuses ending in Success (Success, AnonymousSuccess,
// SASSuccess, and the resource logs' statusText) succeeded; any other
// status is an error class or code. Without a status, the HTTP code tells.
func storageResult(status, httpStatus string) event.Result {
	switch {
	case len(status) >= 7 && strings.EqualFold(status[len(status)-7:], "success"):
		return event.ResultSuccess
	case status != "":
		return event.ResultFailure
	case httpStatus == "":
		return event.ResultUnknown
	case httpStatus[0] == '2' || httpStatus[0] == '3':
		return event.ResultSuccess
	}
	return event.ResultFailure
}

// Normalised authentication types (storage.auth_type).
const (
	storageAuthAnonymous  = "anonymous"
	storageAuthSAS        = "sas"
	storageAuthAccountKey = "accountkey"
	storageAuthOAuth      = "oauth"
)

// storageAuthType normalises $logs authentication-type and the resource
// logs' identity.type: anonymous, sas, accountkey, oauth; others lower-cased
// as written. $logs says "authenticated" for both account keys and OAuth:
// the 2.0 identity fields tell them apart (1.0 lines keep "authenticated").
func storageAuthType(s string, oauth bool) string {
	var buf [40]byte
	switch l := lowerWord(&buf, strings.TrimSpace(s)); string(l) {
	case "anonymous":
		return storageAuthAnonymous
	case "sas":
		return storageAuthSAS
	case "accountkey":
		return storageAuthAccountKey
	case "oauth":
		return storageAuthOAuth
	case "authenticated":
		if oauth {
			return storageAuthOAuth
		}
		return storageAuthAccountKey
	default:
		return strings.ToLower(strings.TrimSpace(s))
	}
}

// storageActorType: a UPN is a user; an OAuth caller without one an app.
// Key, SAS and anonymous callers have no type.
func storageActorType(a *event.Actor) string {
	switch {
	case a.UPN != "":
		return event.ActorUser
	case a.ObjectID != "" || a.AppID != "":
		return event.ActorServicePrincipal
	}
	return ""
}

// stripPort removes the port of an "ip:port" requester address, also when
// the address itself does not parse (Microsoft's own example logs
// 268.20.203.21:4362); a bare IPv6 address is kept whole.
func stripPort(s string) string {
	s = strings.TrimSpace(s)
	if a, ok := addrOfAddrPort(s); ok {
		return a
	}
	if i := strings.IndexByte(s, ':'); i > 0 && strings.LastIndexByte(s, ':') == i {
		return s[:i]
	}
	return s
}

// storageAccount is the resource of a $logs line: the owner account, known
// by name only (the line carries no subscription).
func storageAccount(name string) event.Resource {
	if name == "" {
		return event.Resource{}
	}
	return event.Resource{Provider: "Microsoft.Storage", Type: "storageAccounts", Name: name}
}
