package event

import (
	"bytes"
	"strconv"
	"unsafe"
)

// Value is one value found in a record: the JSON text of it (or a plain
// string for normalised fields and non-JSON records).
type Value struct {
	raw   []byte // JSON text; nil when str is set
	str   string
	plain bool
}

// StringValue makes a Value from a plain string.
func StringValue(s string) Value { return Value{str: s, plain: true} }

// JSONValue makes a Value from the JSON text of a value.
func JSONValue(raw []byte) Value { return Value{raw: raw} }

// IsNull reports a JSON null.
func (v Value) IsNull() bool { return !v.plain && bytes.Equal(v.raw, []byte("null")) }

// IsString reports a string value (plain or JSON string).
func (v Value) IsString() bool { return v.plain || (len(v.raw) > 0 && v.raw[0] == '"') }

// IsContainer reports a JSON object or array.
func (v Value) IsContainer() bool {
	return !v.plain && len(v.raw) > 0 && (v.raw[0] == '{' || v.raw[0] == '[')
}

// Raw returns the JSON text of the value (a plain string is quoted).
func (v Value) Raw() []byte {
	if v.plain {
		return strconv.AppendQuote(nil, v.str)
	}
	return v.raw
}

// Text is String without copying what needs no decoding: the string
// shares the bytes the value was found in, so it is valid only while they
// are not written (a record's Raw never is once parsed). For reading a
// value during evaluation; keep String's copy when the value is kept.
func (v Value) Text() string {
	s, _ := v.TextASCII()
	return s
}

// TextASCII is Text, and whether the text is known to be ASCII (a JSON
// string of plain ASCII content, taken as it stands): false says only that
// Text did not find out, not that the text has a byte of 0x80 or above.
func (v Value) TextASCII() (string, bool) {
	if v.plain {
		return v.str, false
	}
	if len(v.raw) == 0 || v.IsNull() {
		return "", false
	}
	b := v.raw
	if b[0] == '"' {
		if len(b) >= 2 && b[len(b)-1] == '"' && PlainASCII(b[1:len(b)-1]) {
			return unsafe.String(&b[1], len(b)-2), true
		}
		return v.String(), false
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), false
}

// String returns a string's content, a number's or boolean's text, "" for
// null, and the JSON text of objects and arrays.
func (v Value) String() string {
	if v.plain {
		return v.str
	}
	if len(v.raw) == 0 || v.IsNull() {
		return ""
	}
	if v.raw[0] == '"' {
		s, ok := Unquote(v.raw)
		if ok {
			return s
		}
		// Not a valid string (JSONValue takes any bytes): its content
		// as written, without the quotes it has.
		b := v.raw[1:]
		if len(b) > 0 && b[len(b)-1] == '"' {
			b = b[:len(b)-1]
		}
		return string(b)
	}
	return string(v.raw)
}
