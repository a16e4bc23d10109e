package source

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/azdetect/azdetect/internal/event"
)

// unmarshal is the one typed JSON decoder of the package, so it can be
// swapped. goccy/go-json matches member names like encoding/json (exact
// case first, then case-insensitively), which envelope relies on for
// Level/level; decode_test.go checks both decoders agree on the samples.
func unmarshal(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The default text spells out the Go type; say which member and
		// what JSON it held, which is what a dead-letter reader needs.
		return fmt.Errorf("%w: %s holds a JSON %s, want %s", ErrMemberType, te.Field, te.Value, jsonKind(te.Type))
	}
	return err
}

// jsonKind names the JSON shape a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	}
	return t.Kind().String()
}

// text is a scalar Azure writes with drifting types: a string, a number
// ("Level": 4 or "4"; errorCode 0), a boolean, or null. It keeps the text
// of it; objects and arrays keep their JSON text.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		s, ok := event.Unquote(b)
		if !ok {
			return fmt.Errorf("invalid string %.40q", b)
		}
		*t = text(s)
	case 'n':
		*t = ""
	default:
		*t = text(b)
	}
	return nil
}

// String returns the value with surrounding blanks trimmed (claim values
// carry stray spaces).
func (t text) String() string { return strings.TrimSpace(string(t)) }

// embedded is a member written either as a JSON object or as a string that
// holds one (properties, additionalInfo, requestbody...). Null, an empty
// string or a string that is not JSON leave V zero: such a member is not
// what makes a record malformed.
type embedded[T any] struct{ V T }

func (e *embedded[T]) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == 'n' {
		return nil
	}
	if b[0] == '"' {
		s, ok := event.Unquote(b)
		s = strings.TrimSpace(s)
		if !ok || s == "" || (s[0] != '{' && s[0] != '[') {
			return nil
		}
		_ = unmarshal([]byte(s), &e.V) // a string holding pseudo-JSON is kept raw only
		return nil
	}
	if b[0] != '{' && b[0] != '[' {
		return nil
	}
	return unmarshal(b, &e.V)
}

// envelope is the common top level of resource-log records (log-schemas §3).
type envelope struct {
	Time              text `json:"time"`
	ResourceID        text `json:"resourceId"`
	OperationName     text `json:"operationName"`
	Category          text `json:"category"`
	ResultType        text `json:"resultType"`
	ResultSignature   text `json:"resultSignature"`
	ResultDescription text `json:"resultDescription"`
	CallerIPAddress   text `json:"callerIpAddress"`
	CorrelationID     text `json:"correlationId"`
	TenantID          text `json:"tenantId"`
	Location          text `json:"location"`
	// Both occur in one record (Alert, ServiceHealth: "Level": 5 beside
	// "level": "Informational"); distinct tags keep both.
	LevelUpper text `json:"Level"`
	LevelLower text `json:"level"`
}

// fill sets the fields every source reads the same way, and the event time.
func (e *envelope) fill(ev *event.Event) error {
	t, err := eventTime(e.Time.String())
	if err != nil {
		return err
	}
	ev.Time = t
	ev.Category = e.Category.String()
	ev.Operation = e.OperationName.String()
	ev.CorrelationID = e.CorrelationID.String()
	ev.TenantID = e.TenantID.String()
	ev.Severity = severity(e.LevelLower.String(), e.LevelUpper.String())
	ev.Resource = event.ParseResourceID(e.ResourceID.String())
	return nil
}

// eventTime parses the record's time; missing or unparseable is an error
// (the record is malformed: never stamped with arrival time).
func eventTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, ErrMissingTime
	}
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, fmt.Errorf("%w %q", ErrInvalidTime, s)
	}
	return t, nil
}

// timeLayouts are the forms of log-schemas §15, tried in order. Go's
// non-padded hour ("15" accepts "9") and month/day ("1/2") cover the
// one-digit forms; fractional seconds of any length parse after ".".
var timeLayouts = []string{
	time.RFC3339Nano,                      // 2019-10-18T09:45:48.0729893Z, +00:00, -05:00, T9:59:27.958Z
	"2006-01-02T15:04:05.999999999",       // no zone: UTC
	"2006-01-02 15:04:05.999999999Z07:00", // space separated
	"2006-01-02 15:04:05.999999999",
	"1/2/2006 3:04:05 PM",        // 8/22/2022 6:11:52 PM
	"1/2/2006 3:04:05 PM -07:00", // 11/3/2020 9:06:42 AM +00:00
	"1/2/2006 15:04:05",
	time.RFC1123,                     // Fri, 21 Jul 2017 01:00:51 GMT
	time.RFC1123Z,                    // Fri, 21 Jul 2017 01:00:51 +0000
	"Monday, 02-Jan-06 15:04:05 MST", // RFC 850
}

// parseTime parses any of timeLayouts, always returning UTC.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// severity normalises the first level of levels that means something:
// numbers 1..5 (Critical..Verbose) and the words, including the older
// "Information". The lower-case level is passed first by callers: where
// both exist it is the word and the number is the less precise one.
func severity(levels ...string) string {
	for _, l := range levels {
		switch strings.ToLower(strings.TrimSpace(l)) {
		case "1", "critical":
			return event.SeverityCritical
		case "2", "error":
			return event.SeverityError
		case "3", "warning":
			return event.SeverityWarning
		case "4", "informational", "information", "info":
			return event.SeverityInformational
		case "5", "verbose":
			return event.SeverityVerbose
		}
	}
	return ""
}

// callerIP returns the first non-empty address with any port removed
// ("1.2.3.4:443", "[::1]:443"). Anything that is not ip:port (a bare IPv6,
// a malformed "::"-prefixed one) is kept as written.
func callerIP(candidates ...text) string {
	for _, c := range candidates {
		s := c.String()
		if s == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().String()
		}
		return s
	}
	return ""
}

// first returns the first non-blank value, trimmed.
func first(vals ...text) string {
	for _, v := range vals {
		if s := v.String(); s != "" {
			return s
		}
	}
	return ""
}
