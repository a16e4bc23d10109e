package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/source"
)

// Event Hubs metadata keys (reference/functions-contract.md §2.1).
const (
	metaPartitionContext        = "PartitionContext"
	metaTriggerPartitionContext = "TriggerPartitionContext"
	metaSequenceNumberArray     = "SequenceNumberArray"
	metaOffsetStringArray       = "OffsetStringArray"
	metaOffsetArray             = "OffsetArray"
	metaEnqueuedTimeUtcArray    = "EnqueuedTimeUtcArray"
	metaPartitionKeyArray       = "PartitionKeyArray"
	metaPropertiesArray         = "PropertiesArray"
	metaSystemPropertiesArray   = "SystemPropertiesArray"
)

// Event Hubs dataType values of the trigger binding.
const (
	DataTypeString = "string"
	DataTypeBinary = "binary"
)

// PartitionContext says which partition a batch came from.
type PartitionContext struct {
	FullyQualifiedNamespace string `json:"FullyQualifiedNamespace"`
	EventHubName            string `json:"EventHubName"`
	ConsumerGroup           string `json:"ConsumerGroup"`
	PartitionID             string `json:"PartitionId"`
}

// Event is one Event Hub event of a batch.
type Event struct {
	Body           []byte
	SequenceNumber int64 // -1 when the host sent none
	Offset         string
	EnqueuedTime   time.Time
	PartitionKey   string
	Properties     map[string]json.RawMessage // application properties

	// recordEnds is where Body's records end, when decoding the host's
	// text found them (hostStrings): the framer then need not walk each
	// record for its end (source.RecordEnds).
	recordEnds []int32
}

// EventBatch is one Event Hubs trigger invocation ("cardinality": "many").
type EventBatch struct {
	Partition PartitionContext
	Events    []Event
}

// DecodeEventHub reads the batch of binding from an Event Hubs trigger
// request. dataType is the binding's function.json dataType: "string"
// (bodies are text), "binary" (bodies are base64) or "" (bodies are JSON
// values); a string body is also read as base64 when dataType is "" and it
// does not look like JSON. Data.<binding> is one JSON string holding the
// JSON array of bodies; a plain array is accepted too.
func DecodeEventHub(req Request, binding, dataType string) (EventBatch, error) {
	raw, ok := req.Binding(binding)
	if !ok {
		return EventBatch{}, badRequest(nil, "request has no Data.%s: the Event Hubs binding of this function", binding)
	}
	var batch EventBatch
	if strs, ends, ok := req.bindingStrings(binding); ok {
		// The host's shape, decoded in one pass.
		batch.Events = make([]Event, len(strs))
		for i, s := range strs {
			body, err := stringBody(s, dataType)
			if err != nil {
				return EventBatch{}, badRequest(err, "Data.%s[%d]", binding, i)
			}
			batch.Events[i] = Event{Body: body, SequenceNumber: -1}
			if len(ends) == len(strs) && len(body) == len(s) && (len(s) == 0 || &body[0] == &s[0]) {
				batch.Events[i].recordEnds = ends[i] // the text itself, not base64
			}
		}
	} else {
		var elems []json.RawMessage
		if err := DecodeValue(raw, &elems); err != nil {
			return EventBatch{}, badRequest(err, "Data.%s is not a JSON array of event bodies (double-encoded as the host sends it)", binding)
		}
		batch.Events = make([]Event, len(elems))
		for i, el := range elems {
			body, err := eventBody(el, dataType)
			if err != nil {
				return EventBatch{}, badRequest(err, "Data.%s[%d]", binding, i)
			}
			batch.Events[i] = Event{Body: body, SequenceNumber: -1}
		}
	}

	if pc, ok := req.Meta(metaPartitionContext); ok {
		if err := DecodeValue(pc, &batch.Partition); err != nil {
			return EventBatch{}, badRequest(err, "Metadata.%s is not the partition context object", metaPartitionContext)
		}
	} else if pc, ok := req.Meta(metaTriggerPartitionContext); ok {
		if err := DecodeValue(pc, &batch.Partition); err != nil {
			return EventBatch{}, badRequest(err, "Metadata.%s is not the partition context object", metaTriggerPartitionContext)
		}
	}

	n := len(batch.Events)
	var seqs []int64
	if err := metaArray(req, metaSequenceNumberArray, n, &seqs); err != nil {
		return EventBatch{}, err
	}
	// Offsets: OffsetStringArray (6.5+) first; OffsetArray holds numbers or
	// numeric strings (or -1 on geo-replicated namespaces).
	var offsets []json.RawMessage
	if err := metaArray(req, metaOffsetStringArray, n, &offsets); err != nil {
		return EventBatch{}, err
	}
	if offsets == nil {
		if err := metaArray(req, metaOffsetArray, n, &offsets); err != nil {
			return EventBatch{}, err
		}
	}
	// The system properties repeat the arrays above: read only when one
	// is missing (100 maps a batch otherwise).
	var sys []map[string]json.RawMessage
	if seqs == nil || offsets == nil {
		if err := metaArray(req, metaSystemPropertiesArray, n, &sys); err != nil {
			return EventBatch{}, err
		}
	}
	var times []string
	if err := metaArray(req, metaEnqueuedTimeUtcArray, n, &times); err != nil {
		return EventBatch{}, err
	}
	var keys []*string
	if err := metaArray(req, metaPartitionKeyArray, n, &keys); err != nil {
		return EventBatch{}, err
	}
	var props []map[string]json.RawMessage
	if err := metaArray(req, metaPropertiesArray, n, &props); err != nil {
		return EventBatch{}, err
	}

	for i := range batch.Events {
		ev := &batch.Events[i]
		switch {
		case seqs != nil:
			ev.SequenceNumber = seqs[i]
		case sys != nil:
			if v, ok := sys[i]["SequenceNumber"]; ok {
				var s int64
				if json.Unmarshal(v, &s) == nil {
					ev.SequenceNumber = s
				}
			}
		}
		if offsets != nil {
			ev.Offset = scalarText(offsets[i])
		} else if sys != nil {
			if v, ok := sys[i]["OffsetString"]; ok {
				ev.Offset = scalarText(v)
			} else if v, ok := sys[i]["Offset"]; ok {
				ev.Offset = scalarText(v)
			}
		}
		if times != nil && times[i] != "" {
			t, err := ParseHostTime(times[i])
			if err != nil {
				return EventBatch{}, badRequest(err, "Metadata.%s[%d]", metaEnqueuedTimeUtcArray, i)
			}
			ev.EnqueuedTime = t.UTC()
		}
		if keys != nil && keys[i] != nil {
			ev.PartitionKey = *keys[i]
		}
		if props != nil {
			ev.Properties = props[i]
		}
	}
	return batch, nil
}

// metaArray decodes one double-encoded metadata array parallel to the
// events. A missing key leaves *dst nil; a length that differs from the
// number of events is a bad request.
func metaArray[T any](req Request, key string, n int, dst *[]T) error {
	raw, ok := req.Meta(key)
	if !ok {
		return nil
	}
	var v []T
	if !plainArray(raw, &v) {
		if err := DecodeValue(raw, &v); err != nil {
			return badRequest(err, "Metadata.%s is not a JSON array (double-encoded as the host sends it)", key)
		}
	}
	if len(v) != n {
		return badRequest(nil, "Metadata.%s has %d entries for %d events", key, len(v), n)
	}
	if v == nil {
		v = []T{}
	}
	*dst = v
	return nil
}

// plainArray decodes the host's double-encoded metadata arrays in their
// plain shape into *dst as DecodeValue would, and reports whether it did:
// strings ("[\"a\",\"b\"]": offsets, enqueued times) into a *[]string,
// *[]json.RawMessage or *[]*string, integers ("[1,2]": sequence numbers)
// into a *[]int64 or *[]json.RawMessage, nulls into a *[]*string
// (partition keys) or *[]map[string]json.RawMessage, and empty objects
// into the latter (properties). It takes only that shape: no blank
// between tokens, strings with nothing to unescape (plainText) at either
// level, integers as JSON writes them that fit an int64; anything else
// (an escape, another type or element, a float) is left to DecodeValue.
// encoding/json unquotes the outer string into a new one and reads the
// array from it with reflection: most of the metadata's cost, for a
// hundred short values.
func plainArray[T any](raw []byte, dst *[]T) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 4 || raw[0] != '"' || raw[len(raw)-1] != '"' || raw[1] != '[' || raw[len(raw)-2] != ']' {
		return false
	}
	s := raw[2 : len(raw)-2]
	switch d := any(dst).(type) {
	case *[]string:
		return plainElems(s, d, func(k plainKind, el []byte) (string, bool) { return string(el), k == plainString })
	case *[]json.RawMessage:
		return plainElems(s, d, func(k plainKind, el []byte) (json.RawMessage, bool) {
			switch k {
			case plainString:
				m := make(json.RawMessage, len(el)+2)
				m[0], m[len(m)-1] = '"', '"'
				copy(m[1:], el)
				return m, true
			case plainInt:
				return append(json.RawMessage(nil), el...), true
			}
			return nil, false
		})
	case *[]int64:
		return plainElems(s, d, func(k plainKind, el []byte) (int64, bool) {
			if k != plainInt {
				return 0, false
			}
			v, err := strconv.ParseInt(string(el), 10, 64)
			return v, err == nil
		})
	case *[]*string:
		return plainElems(s, d, func(k plainKind, el []byte) (*string, bool) {
			if k != plainString {
				return nil, k == plainNull
			}
			v := string(el)
			return &v, true
		})
	case *[]map[string]json.RawMessage:
		return plainElems(s, d, func(k plainKind, _ []byte) (map[string]json.RawMessage, bool) {
			if k == plainObject {
				return map[string]json.RawMessage{}, true
			}
			return nil, k == plainNull
		})
	}
	return false
}

// plainKind is what an element of a plain metadata array is.
type plainKind uint8

const (
	plainString plainKind = iota // \"text\": el is the text
	plainInt                     // an integer as JSON writes it: el is its text
	plainNull                    // null
	plainObject                  // {}
)

// plainElems reads s, the inside of a plain double-encoded array
// (\"a\",\"b\" or 1,2 or null,{}), into *dst, each element made by
// conv; false when an element is none of plainKind's or conv refuses it.
func plainElems[E any](s []byte, dst *[]E, conv func(plainKind, []byte) (E, bool)) bool {
	out := []E{}
	for len(s) > 0 {
		var k plainKind
		var el []byte
		switch {
		case len(s) >= 4 && s[0] == '\\' && s[1] == '"':
			j := bytes.IndexByte(s[2:], '\\') + 2
			if j < 2 || j+1 >= len(s) || s[j+1] != '"' || !plainText(s[2:j]) {
				return false
			}
			k, el, s = plainString, s[2:j], s[j+2:]
		case bytes.HasPrefix(s, []byte("null")):
			k, s = plainNull, s[4:]
		case bytes.HasPrefix(s, []byte("{}")):
			k, s = plainObject, s[2:]
		default:
			j := bytes.IndexByte(s, ',')
			if j < 0 {
				j = len(s)
			}
			if !plainInteger(s[:j]) {
				return false
			}
			k, el, s = plainInt, s[:j], s[j:]
		}
		v, ok := conv(k, el)
		if !ok {
			return false
		}
		out = append(out, v)
		if len(s) > 0 {
			if s[0] != ',' || len(s) == 1 {
				return false // not a comma, or a trailing one
			}
			s = s[1:]
		}
	}
	*dst = out
	return true
}

// plainInteger reports whether b is an integer as JSON writes it:
// -?(0|[1-9][0-9]*).
func plainInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// eventBody turns one element of the bodies array into the event's bytes.
func eventBody(el json.RawMessage, dataType string) ([]byte, error) {
	el = bytes.TrimSpace(el)
	if len(el) == 0 || el[0] != '"' {
		// dataType unset: the host parsed each body as JSON; keep its text.
		return append([]byte(nil), el...), nil
	}
	var s string
	if err := json.Unmarshal(el, &s); err != nil {
		return nil, err
	}
	return stringBody([]byte(s), dataType)
}

// stringBody is the event's bytes from the text of a string element of
// the bodies array: the text itself (dataType string), base64 (binary), or
// either (no dataType). The result may share s's memory.
func stringBody(s []byte, dataType string) ([]byte, error) {
	switch strings.ToLower(dataType) {
	case DataTypeString:
		return s, nil
	case DataTypeBinary:
		b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(b, s)
		if err != nil {
			return nil, fmt.Errorf("body is not base64 (dataType binary): %w", err)
		}
		return b[:n], nil
	default:
		// No dataType: a JSON string body, or base64 bytes. Base64 has no
		// '{', '[' nor blanks, so JSON text is never mistaken for it.
		if t := bytes.TrimSpace(s); len(t) > 0 && t[0] != '{' && t[0] != '[' {
			b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			if n, err := base64.StdEncoding.Decode(b, s); err == nil {
				return b[:n], nil
			}
		}
		return s, nil
	}
}

// scalarText renders a JSON number or string as text.
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && plainText(raw[1:len(raw)-1]) {
		return string(raw[1 : len(raw)-1]) // a plain string (an offset): as encoding/json reads it
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if isNull(raw) {
		return ""
	}
	return string(raw)
}

// plainText reports whether b is a JSON string's content with nothing to
// decode: no escape, quote nor control character, valid UTF-8.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// Origin names an event for reports and dead letters:
// eventhub://<namespace>/<hub>/<partition>/<sequence>. An event without a
// sequence number is named by its index in the batch instead ("#3").
func (b EventBatch) Origin(i int) string {
	p := b.Partition
	o := make([]byte, 0, len("eventhub://")+len(p.FullyQualifiedNamespace)+len(p.EventHubName)+len(p.PartitionID)+24)
	o = b.appendWriter(o)
	o = append(o, '/')
	if seq := b.Events[i].SequenceNumber; seq >= 0 {
		o = strconv.AppendInt(o, seq, 10)
	} else {
		o = strconv.AppendInt(append(o, '#'), int64(i), 10)
	}
	return unsafe.String(unsafe.SliceData(o), len(o)) // o is not used again
}

// appendWriter appends the batch's partition as a stream:
// eventhub://<namespace>/<hub>/<partition>.
func (b EventBatch) appendWriter(o []byte) []byte {
	o = append(append(o, "eventhub://"...), orDash(b.Partition.FullyQualifiedNamespace)...)
	o = append(append(o, '/'), orDash(b.Partition.EventHubName)...)
	return append(append(o, '/'), orDash(b.Partition.PartitionID)...)
}

// Inputs returns one pipeline input per event, in batch order. Each is
// placed in its partition's stream by its sequence number (the writer is
// the partition), so stateful rules count a redelivered event once; an
// event without a sequence number has no position.
func (b EventBatch) Inputs() []pipeline.Input {
	in := make([]pipeline.Input, len(b.Events))
	writer := string(b.appendWriter(nil))
	for i, ev := range b.Events {
		var body io.Reader = bytes.NewReader(ev.Body)
		if ev.recordEnds != nil {
			body = &framedBody{Reader: bytes.NewReader(ev.Body), ends: ev.recordEnds}
		}
		in[i] = pipeline.Input{Origin: b.Origin(i), Body: body, Writer: writer, Seq: ev.SequenceNumber}
		if ev.SequenceNumber < 0 {
			in[i].Writer = pipeline.NoPosition
		}
	}
	return in
}

// framedBody is an event's body with where its records end.
type framedBody struct {
	*bytes.Reader
	ends []int32
}

// RecordEnds implements source.RecordEnds.
func (b *framedBody) RecordEnds() []int32 { return b.ends }

var _ source.RecordEnds = (*framedBody)(nil)

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
