package event

import (
	"encoding/json"
	"testing"
)

// Unquote decodes a JSON string exactly as encoding/json does.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"a\"b"`, `"\u00e9\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", `"\/\b\f\n\r\t"`, `"\x"`, `"\u12"`, `"a"b"`, "\"\x01\"", `"\'"`, `"\ud800\udc00"`, `"\udc00\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
			return
		}
		got, ok := Unquote(raw)
		var want string
		err := json.Unmarshal(raw, &want)
		if ok != (err == nil) || got != want {
			t.Fatalf("%q: got %q %v want %q %v", raw, got, ok, want, err)
		}
	})
}
