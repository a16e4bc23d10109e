// Package invoke is the Functions host <-> custom handler contract: it
// decodes the host's invocation requests (Event Hubs, blob and timer
// triggers), hands their bodies to the pipeline, encodes the responses the
// host expects, serves them on loopback, and replays log files as
// host-shaped invocations for local runs.
//
// The contract is described in reference/functions-contract.md; its traps
// are handled here once: strings, numbers and arrays arrive double-encoded
// (DecodeValue), byte arrays arrive base64, and every answer carries
// Content-Type application/json and a non-empty body.
package invoke

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/source"
)

// Request is one invocation as the host posts it: binding values under
// Data, trigger metadata under Metadata. Values are kept raw because the
// host encodes them differently by .NET type (see DecodeValue).
type Request struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`

	// strs holds the Data values ParseRequest found to be the host's
	// double-encoded array of strings, decoded (hostStrings), by name.
	strs map[string][][]byte
	// ends holds, beside strs, where each body's records end (hostStrings).
	ends map[string][][]int32
	// buf is the body the values are slices of, when the server read it
	// into a buffer it reuses (Server.release).
	buf []byte
	// text is the buffer strs were decoded into, when it was one the
	// server reuses (Server.releaseText): the event bodies are slices of it.
	text []byte
}

// Sys is the "sys" metadata the host adds to every invocation.
type Sys struct {
	MethodName string `json:"MethodName"` // the function name
	UtcNow     string `json:"UtcNow"`
	RandGuid   string `json:"RandGuid"`
}

// RetryContext is present under a retry policy, on every attempt
// (RetryCount 0 first).
type RetryContext struct {
	RetryCount    int `json:"RetryCount"`
	MaxRetryCount int `json:"MaxRetryCount"`
}

// BadRequestError is a request that is not what the host sends: not its
// JSON shape, a missing binding, bad base64. The server answers 400.
type BadRequestError struct {
	Reason string
	Err    error
}

func (e *BadRequestError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *BadRequestError) Unwrap() error { return e.Err }

func badRequest(err error, format string, args ...any) error {
	return &BadRequestError{Reason: fmt.Sprintf(format, args...), Err: err}
}

// DecodeRequest reads one invocation body; see ParseRequest. A read error
// (such as *http.MaxBytesError) is returned wrapped.
func DecodeRequest(r io.Reader) (Request, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Request{}, fmt.Errorf("read request body: %w", err)
	}
	return ParseRequest(b)
}

// ParseRequest decodes one invocation body. It needs a JSON object with a
// Data object; Metadata may be missing. Property names match
// case-insensitively, as the host's own reader does; unknown keys are
// ignored. The values are slices of b, which the Request keeps.
func ParseRequest(b []byte) (Request, error) {
	return parseRequestText(b, nil)
}

// parseRequestText is ParseRequest decoding the host's array of event
// bodies into text's memory when it has room (Request.text).
func parseRequestText(b, text []byte) (Request, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Request{}, badRequest(nil, "request body is empty: want {\"Data\":{...},\"Metadata\":{...}}")
	}
	req, err := parseRequestInto(b, text)
	if err != nil {
		return Request{}, badRequest(err, "request body is not the host's {\"Data\":{...},\"Metadata\":{...}} object")
	}
	if req.Data == nil {
		return Request{}, badRequest(nil, "request has no Data object: want {\"Data\":{...},\"Metadata\":{...}}")
	}
	if req.Metadata == nil {
		req.Metadata = map[string]json.RawMessage{}
	}
	return req, nil
}

// Binding returns the raw Data value of a binding; binding names match
// case-insensitively.
func (r Request) Binding(name string) (json.RawMessage, bool) {
	return lookup(r.Data, name)
}

// bindingStrings returns the Data value of a binding as the elements of
// the host's double-encoded array of strings, when it is one: decoded by
// ParseRequest, or now for a Request built otherwise.
// ends is where each element's records end, as hostStrings found them.
func (r Request) bindingStrings(name string) (strs [][]byte, ends [][]int32, ok bool) {
	key, raw, ok := lookupKey(r.Data, name)
	if !ok {
		return nil, nil, false
	}
	if strs, ok := r.strs[key]; ok {
		return strs, r.ends[key], true
	}
	raw = bytes.TrimSpace(raw)
	strs, ends, end, err := hostStrings(raw, 0)
	return strs, ends, err == nil && end == len(raw)
}

// Meta returns the raw Metadata value of a key; keys match
// case-insensitively.
func (r Request) Meta(key string) (json.RawMessage, bool) {
	return lookup(r.Metadata, key)
}

// Sys decodes the "sys" metadata; a missing or odd one gives a zero Sys.
func (r Request) Sys() Sys {
	var s Sys
	if raw, ok := r.Meta("sys"); ok {
		_ = DecodeValue(raw, &s)
	}
	return s
}

// RetryContext decodes the "RetryContext" metadata, if any.
func (r Request) RetryContext() (RetryContext, bool) {
	var rc RetryContext
	raw, ok := r.Meta("RetryContext")
	if !ok || DecodeValue(raw, &rc) != nil {
		return RetryContext{}, false
	}
	return rc, true
}

func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	_, v, ok := lookupKey(m, key)
	return v, ok
}

// lookupKey is lookup that also returns the name the value was found by.
func lookupKey(m map[string]json.RawMessage, key string) (string, json.RawMessage, bool) {
	if v, ok := m[key]; ok && !isNull(v) {
		return key, v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) && !isNull(v) {
			return k, v, true
		}
	}
	return "", nil, false
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// DecodeValue unmarshals one Data or Metadata value into v, undoing the
// host's double encoding: strings, numbers, booleans and arrays arrive as a
// JSON string whose content is their JSON text ("\"abc\"", "88121",
// "[1,2]"), so a JSON string whose content is JSON is unmarshalled twice.
// Objects arrive as plain JSON and are unmarshalled once. A string whose
// content is not JSON is taken as the value itself when v is a *string
// (a value sent single-encoded).
func DecodeValue(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return errors.New("empty value")
	}
	if raw[0] != '"' {
		return json.Unmarshal(raw, v)
	}
	var inner string
	if err := json.Unmarshal(raw, &inner); err != nil {
		return err
	}
	err := json.Unmarshal([]byte(inner), v)
	if err == nil {
		return nil
	}
	if sp, ok := v.(*string); ok {
		if json.Valid([]byte(inner)) {
			// Double-encoded number or bool ("88121") read as text.
			*sp = strings.TrimSpace(inner)
			return nil
		}
		*sp = inner
		return nil
	}
	return err
}

// DecodeString reads a value meant as text: a double-encoded string, a
// double-encoded number, or a plain string.
func DecodeString(raw json.RawMessage) (string, error) {
	var s string
	if err := DecodeValue(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// hostTimeLayouts are the shapes the host writes times in: RFC 3339 with an
// offset, or .NET's DateTime with no zone suffix (UTC by contract).
var hostTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// hasZone reports whether a time's text ends in a zone (Z or an offset
// after its clock): RFC 3339's, which .NET's DateTime layouts never match.
func hasZone(s string) bool {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		return true
	}
	clock := strings.LastIndexAny(s, "T ")
	return clock >= 0 && strings.ContainsAny(s[clock:], "+-")
}

// ParseHostTime parses a time as the host writes it; a time without a zone
// is UTC.
func ParseHostTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, ok := parseDotNetUTC(s); ok {
		return t, nil
	}
	return parseHostTimeLayouts(s)
}

// parseHostTimeLayouts is ParseHostTime by time.Parse alone: s is trimmed.
func parseHostTimeLayouts(s string) (time.Time, error) {
	layouts := hostTimeLayouts
	if !hasZone(s) {
		// Event Hubs' enqueued times have none: a failed RFC 3339 parse
		// first would be two allocations for its error, per event.
		layouts = layouts[1:]
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: not RFC 3339 nor .NET DateTime", s)
}

// parseDotNetUTC reads the shape Event Hubs' enqueued times have,
// 2006-01-02T15:04:05 with 1 to 9 digits of fraction or none and no zone,
// as time.Parse reads it with hostTimeLayouts[1] (UTC), about a tenth of
// its cost (a hundred times a batch): source.ParseUTCClock, which reads a
// record's stamp too; ok is false for anything else (a blank, a zone, a
// field out of its range), which ParseHostTime then parses as before.
func parseDotNetUTC(s string) (time.Time, bool) { return source.ParseUTCClock(s) }
