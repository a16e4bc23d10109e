package event

import (
	"bytes"
	"strconv"
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
		return string(v.raw[1 : len(v.raw)-1])
	}
	return string(v.raw)
}
