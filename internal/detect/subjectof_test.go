package detect

import (
	"encoding/json"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// FuzzSubjectAtAgrees: a field's subjects (built from TextASCII, which may
// say the text is ASCII) are newSubject's of each value's Text.
func FuzzSubjectAtAgrees(f *testing.F) {
	for _, s := range []string{"", " a ", "abc", "ABC\u00e9", "\u00a0x\u00a0", `a\"b`, "x\\u0041y", "\t", "null", "12", `{"a":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals := []event.Value{event.StringValue(string(b))}
		if q, err := json.Marshal(string(b)); err == nil {
			vals = append(vals, event.JSONValue(q))
		}
		if q := append(append([]byte{'"'}, b...), '"'); json.Valid(q) {
			vals = append(vals, event.JSONValue(q))
		}
		if json.Valid(b) {
			vals = append(vals, event.JSONValue(b))
		}
		rf := &resolvedField{vals: vals, found: true}
		for i, v := range vals {
			got := rf.subjectAt(i)
			if v.IsNull() {
				if *got != (subject{}) {
					t.Fatalf("null %q: subject %+v", b, *got)
				}
				continue
			}
			want := newSubject(v.Text())
			if got.raw != want.raw || got.trimmed != want.trimmed || got.ascii != want.ascii {
				t.Fatalf("value %d of %q: subject %+v, newSubject %+v", i, b, *got, want)
			}
		}
	})
}
