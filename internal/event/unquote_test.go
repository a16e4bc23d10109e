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
	// Runs of plain bytes (copied at once) around escapes, NUL, bytes
	// beyond ASCII (the Kelvin sign, invalid UTF-8) and raw quotes, on
	// either side of the eight-byte words the runs are found by.
	for _, s := range []string{
		`"abcdefgh\nijklmnopq\"rstuvwxyz0123456789"`,
		`"[{\"Key\":\"userAgent\",\"Value\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\"}]"`,
		"\"abcdefg\u212aKelvin \u212a sign\"", "\"abcdefghij\u212a\"", "\"abcdefghijklmno\x00pqr\"",
		"\"0123456789abcdef\\u0000\xe2\x84\xaa\xff0123456789\"", `"0123456\"0123456789"`, "\"01234567\"89abcdefghij\"",
		`"abcdefghijklmnopqrstuvwxyz\ud83d\ude00abcdefghijklmnopqrstuvwxyz\/"`, `"abcdefghijklmnopqrstuvwxyz\"`,
		"\"abcdefgh\xc3\xa9ijklmnop\xc3\"", `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\"`,
	} {
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
