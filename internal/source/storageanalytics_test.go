package source

import (
	"html"
	"slices"
	"strings"
	"testing"
)

func TestStorageAnalyticsGolden(t *testing.T) { runGolden(t, "storageanalytics") }

func TestSplitStorageLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"plain", "a;b;c", []string{"a", "b", "c"}},
		{"empty fields", ";a;;", []string{"", "a", "", ""}},
		{"empty line", "", []string{""}},
		{"quoted with semicolon", `1;"WA-Storage/4.0.1 (.NET CLR 4.0.30319.34014; Win32NT 6.3.9600.0)";2`, []string{"1", "WA-Storage/4.0.1 (.NET CLR 4.0.30319.34014; Win32NT 6.3.9600.0)", "2"}},
		{"empty quoted", `"";x`, []string{"", "x"}},
		{"unquoted url with entities", `u;https://a/b?x=1&amp;sig=S&amp;sp=r;k`, []string{"u", "https://a/b?x=1&sig=S&sp=r", "k"}},
		{"numeric entities", `a&#59;b&#x3B;c;d`, []string{"a;b;c", "d"}},
		{"ampersand that is no entity", `a&b;c`, []string{"a&b", "c"}},
		{"etag old form", `x;""0x8D15A2913C934DE"";y`, []string{"x", `"0x8D15A2913C934DE"`, "y"}},
		{"etag encoded", `x;"&quot;0x8D9CEF88004E296&quot;";y`, []string{"x", `"0x8D9CEF88004E296"`, "y"}},
		{"conditions", `"If-None-Match=&quot;*&quot;;If-Modified-Since=Mon";z`, []string{`If-None-Match="*";If-Modified-Since=Mon`, "z"}},
		{"unterminated quote", `a;"bc;d`, []string{"a", `"bc`, "d"}},
		{"quote inside unquoted", `a"b;c`, []string{`a"b`, "c"}},
		{"last field quoted", `a;"b"`, []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitStorageLine(tc.line, nil); !slices.Equal(got, tc.want) {
				t.Errorf("splitStorageLine(%q)\n got %q\nwant %q", tc.line, got, tc.want)
			}
		})
	}
}

func TestStorageAnalyticsShape(t *testing.T) {
	for line, want := range map[string]bool{
		"1.0;2014-06-19T22:59:23Z;GetBlob": true,
		"2.0;2022-01-03T20:34:54Z;PutBlob": true,
		"3.0;2022-01-03T20:34:54Z;PutBlob": false,
		"1.0;14-06-19;GetBlob":             false,
		"1.0;2014":                         false,
		"1.1;2014-06-19":                   false,
		`{"a":1}`:                          false,
	} {
		if got := isStorageAnalyticsLine([]byte(line)); got != want {
			t.Errorf("isStorageAnalyticsLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestStripPort(t *testing.T) {
	for in, want := range map[string]string{
		"192.100.0.102:4362":   "192.100.0.102",
		"268.20.203.21:4362":   "268.20.203.21", // Microsoft's own example: not an address
		"73.157.16.8":          "73.157.16.8",
		"[2001:db8::15]:61000": "2001:db8::15",
		"2001:db8::15":         "2001:db8::15",
		"":                     "",
	} {
		if got := stripPort(in); got != want {
			t.Errorf("stripPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseStorageAnalytics(f *testing.F) {
	fuzzSource(f, storageAnalyticsSource, "storageanalytics")
}

// FuzzSplitStorageLine checks the splitter on arbitrary lines (no panic,
// no separator lost) and on lines written the way Storage writes them:
// fields joined by ';', each field that needs it HTML-encoded and quoted,
// which must split back into the same fields.
func FuzzSplitStorageLine(f *testing.F) {
	f.Add("1.0;2014-06-19T22:59:23Z;GetBlob", "a;b", `"x"&y`)
	f.Add(`u;https://a/b?x=1&amp;sig=S;k`, "", "&amp;")
	f.Add(`x;""0x8D15A2913C934DE"";y`, `"0x8D"`, ";")
	f.Fuzz(func(t *testing.T, line, a, b string) {
		fields := splitStorageLine(line, nil)
		if ref := splitStorageLineRef(line, nil); !slices.Equal(fields, ref) {
			t.Fatalf("%q split as %q, the byte-by-byte split says %q", line, fields, ref)
		}
		if len(fields) == 0 || len(fields) > strings.Count(line, ";")+1 {
			t.Fatalf("%d fields from %d separators: %q", len(fields), strings.Count(line, ";"), line)
		}
		// The fields not decoded are the same fields, as written.
		raw := splitStorageFields(line, nil, saDecoded)
		if len(raw) != len(fields) {
			t.Fatalf("%q: %d fields decoded, %d not", line, len(fields), len(raw))
		}
		for i := range raw {
			if i < 64 && saDecoded&(1<<i) != 0 && raw[i] != fields[i] || (i >= 64 || saDecoded&(1<<i) == 0) && html.UnescapeString(raw[i]) != fields[i] {
				t.Fatalf("%q: field %d %q, decoded %q", line, i, raw[i], fields[i])
			}
		}
		if !strings.ContainsAny(line, `"&`) && !slices.Equal(fields, strings.Split(line, ";")) {
			t.Fatalf("plain line %q split as %q", line, fields)
		}
		want := []string{a, "plain", b, ""}
		var enc []string
		for _, s := range want {
			if strings.ContainsAny(s, "\n\r") {
				return // one request per line: never inside a field
			}
			if strings.ContainsAny(s, `;"&`) {
				s = `"` + html.EscapeString(s) + `"`
			}
			enc = append(enc, s)
		}
		joined := strings.Join(enc, ";")
		if got := splitStorageLine(joined, nil); !slices.Equal(got, want) {
			t.Fatalf("fields %q written as %q split back as %q", want, joined, got)
		}
	})
}

// splitStorageLineRef is splitStorageLine as it was, byte by byte, and
// every field HTML-decoded: the fast one must split every line alike.
func splitStorageLineRef(line string, dst []string) []string {
	i := 0
	for {
		var field string
		k := i
		if k < len(line) && line[k] == '"' {
			end := -1
			for j := k + 1; j < len(line); j++ {
				if line[j] == '"' && (j+1 == len(line) || line[j+1] == ';') {
					end = j
					break
				}
			}
			if end >= 0 {
				field, k = line[i+1:end], end+1
			}
		}
		if k == i {
			// Unquoted (or a quote never closed): up to the next separator.
			for k < len(line) && line[k] != ';' {
				if line[k] == '&' {
					if n := entityLen(line[k:]); n > 0 {
						k += n
						continue
					}
				}
				k++
			}
			field = line[i:k]
		}
		dst = append(dst, html.UnescapeString(field))
		if k >= len(line) {
			return dst
		}
		i = k + 1 // past the ';'
	}
}
