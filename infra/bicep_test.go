package infra_test

// A small reader for the Bicep this folder is written in: enough to find
// declarations, object literals and string literals without the Bicep CLI,
// which cannot run where these tests run. It understands strings (with
// escapes, ${} interpolation and ''' multi-line strings), comments, nested
// brackets, and properties separated by newlines or commas.

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// bicepFile is one .bicep file, its comments removed.
type bicepFile struct {
	path  string // relative to infra/
	text  string
	decls []decl
}

// decl is one top-level declaration: param, var, output, resource, module.
type decl struct {
	kind   string // param, var, output, resource, module
	name   string
	header string // the declaration line up to '=' (type, resource type, condition)
	value  string // the expression after '='
}

func readBicep(t *testing.T, path string) *bicepFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	f := &bicepFile{path: filepath.ToSlash(path), text: stripComments(string(b))}
	f.decls = splitDecls(f.text)
	return f
}

// stripComments removes // and /* */ comments outside strings.
func stripComments(s string) string {
	var out strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\'':
			j := skipString(s, i)
			out.WriteString(s[i:j])
			i = j
		case strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return out.String()
			}
			// Keep line structure: declarations are found by line.
			out.WriteString(strings.Repeat("\n", strings.Count(s[i:i+2+end+2], "\n")))
			i += 2 + end + 2
		default:
			out.WriteByte(s[i])
			i++
		}
	}
	return out.String()
}

// skipString returns the index just after the string literal starting at
// s[i] == '\”.
func skipString(s string, i int) int {
	if strings.HasPrefix(s[i:], "'''") {
		end := strings.Index(s[i+3:], "'''")
		if end < 0 {
			return len(s)
		}
		return i + 3 + end + 3
	}
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\':
			j++
		case s[j] == '\'':
			return j + 1
		case strings.HasPrefix(s[j:], "${"):
			j = matchClose(s, j+1) // index of the closing brace
		}
	}
	return len(s)
}

// matchClose returns the index of the bracket closing the one at s[i].
func matchClose(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\'':
			j = skipString(s, j) - 1
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(s) - 1
}

var declStart = regexp.MustCompile(`^(param|var|output|resource|module)\s+([A-Za-z_][A-Za-z0-9_]*)`)

// splitDecls cuts the file at each line that starts, unindented, a new
// statement (formatted Bicep indents every continuation line).
func splitDecls(text string) []decl {
	lines := strings.SplitAfter(text, "\n")
	var decls []decl
	var cur *decl
	var body strings.Builder
	flush := func() {
		if cur == nil {
			return
		}
		full := body.String()
		if eq := topLevelIndex(full, '='); eq >= 0 {
			cur.header = strings.TrimSpace(full[:eq])
			cur.value = strings.TrimSpace(full[eq+1:])
		} else {
			cur.header = strings.TrimSpace(full)
		}
		decls = append(decls, *cur)
		cur = nil
		body.Reset()
	}
	for _, line := range lines {
		starts := len(line) > 0 && (isLetter(line[0]) || line[0] == '@')
		if starts {
			flush()
			if m := declStart.FindStringSubmatch(line); m != nil {
				cur = &decl{kind: m[1], name: m[2]}
			}
		}
		if cur != nil {
			body.WriteString(line)
		}
	}
	flush()
	return decls
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// topLevelIndex finds c outside strings and brackets; for '=' it skips
// comparison operators (==, !=, <=, >=, =~).
func topLevelIndex(s string, c byte) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			i = skipString(s, i) - 1
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		case c:
			if depth != 0 {
				continue
			}
			if c == '=' {
				prev := byte(' ')
				if i > 0 {
					prev = s[i-1]
				}
				next := byte(' ')
				if i+1 < len(s) {
					next = s[i+1]
				}
				if next == '=' || next == '~' || prev == '=' || prev == '!' || prev == '<' || prev == '>' {
					continue
				}
			}
			return i
		}
	}
	return -1
}

func (f *bicepFile) decl(kind, name string) (decl, bool) {
	for _, d := range f.decls {
		if d.kind == kind && d.name == name {
			return d, true
		}
	}
	return decl{}, false
}

func (f *bicepFile) declsOf(kind string) []decl {
	var out []decl
	for _, d := range f.decls {
		if d.kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// prop is one property of an object literal.
type prop struct {
	key   string
	value string
}

// objects returns every object literal in s, outermost first, each with
// the text between its braces.
func objects(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			i = skipString(s, i) - 1
		case '{':
			end := matchClose(s, i)
			out = append(out, s[i+1:end])
			// Descend: nested objects are listed too.
			out = append(out, objects(s[i+1:end])...)
			i = end
		}
	}
	return out
}

// topObjects returns the object literals of s that are not inside another
// object (inside ternaries, function calls and arrays they still count).
func topObjects(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			i = skipString(s, i) - 1
		case '{':
			end := matchClose(s, i)
			out = append(out, s[i+1:end])
			i = end
		}
	}
	return out
}

// props parses the body of an object literal.
func props(body string) []prop {
	var items []string
	start, depth := 0, 0
	cut := func(end int) {
		item := strings.TrimSpace(body[start:end])
		if item == "" {
			return
		}
		// A line continuing a ternary or a boolean belongs to the item before.
		if len(items) > 0 && (strings.HasPrefix(item, "?") || strings.HasPrefix(item, ":") ||
			strings.HasPrefix(item, "&&") || strings.HasPrefix(item, "||") || strings.HasPrefix(item, ".")) {
			items[len(items)-1] += " " + item
			return
		}
		items = append(items, item)
	}
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '\'':
			i = skipString(body, i) - 1
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		case '\n', ',':
			if depth == 0 {
				cut(i)
				start = i + 1
			}
		}
	}
	cut(len(body))

	var out []prop
	for _, item := range items {
		var key, rest string
		if item[0] == '\'' {
			end := skipString(item, 0)
			key, _ = stringLiteral(item[:end])
			rest = strings.TrimSpace(item[end:])
			if !strings.HasPrefix(rest, ":") {
				continue
			}
			rest = rest[1:]
		} else {
			colon := strings.IndexByte(item, ':')
			if colon < 0 {
				continue
			}
			key = strings.TrimSpace(item[:colon])
			rest = item[colon+1:]
		}
		out = append(out, prop{key: key, value: strings.TrimSpace(rest)})
	}
	return out
}

func propMap(body string) map[string]string {
	m := map[string]string{}
	for _, p := range props(body) {
		m[p.key] = p.value
	}
	return m
}

// stringLiteral returns the content of a plain string literal (escapes
// resolved); ok is false for anything else, interpolated strings included.
func stringLiteral(expr string) (string, bool) {
	expr = strings.TrimSpace(expr)
	if len(expr) < 2 || expr[0] != '\'' || skipString(expr, 0) != len(expr) {
		return "", false
	}
	if strings.HasPrefix(expr, "'''") {
		return expr[3 : len(expr)-3], true
	}
	inner := expr[1 : len(expr)-1]
	if strings.Contains(inner, "${") && !strings.Contains(inner, `\${`) {
		return "", false
	}
	r := strings.NewReplacer(`\'`, `'`, `\\`, `\`, `\n`, "\n", `\r`, "\r", `\t`, "\t", `\$`, `$`)
	return r.Replace(inner), true
}

// interpolate renders an interpolated string literal, each ${expr}
// replaced by resolve(expr).
func interpolate(expr string, resolve func(string) string) (string, bool) {
	expr = strings.TrimSpace(expr)
	if len(expr) < 2 || expr[0] != '\'' || strings.HasPrefix(expr, "'''") || skipString(expr, 0) != len(expr) {
		return "", false
	}
	inner := expr[1 : len(expr)-1]
	var out strings.Builder
	for i := 0; i < len(inner); i++ {
		switch {
		case inner[i] == '\\' && i+1 < len(inner):
			out.WriteByte(inner[i+1])
			i++
		case strings.HasPrefix(inner[i:], "${"):
			end := matchClose(inner, i+1)
			out.WriteString(resolve(strings.TrimSpace(inner[i+2 : end])))
			i = end
		default:
			out.WriteByte(inner[i])
		}
	}
	return out.String(), true
}

var guidRe = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// resolveGUID finds the role definition GUID an expression names: a GUID
// literal in it, or a var of this file holding one.
func (f *bicepFile) resolveGUID(expr string) string {
	if g := guidRe.FindString(expr); g != "" {
		return strings.ToLower(g)
	}
	for _, id := range identifiers(expr) {
		if d, ok := f.decl("var", id); ok {
			if g := guidRe.FindString(d.value); g != "" {
				return strings.ToLower(g)
			}
		}
	}
	return ""
}

var identRe = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// identifiers lists the identifiers of an expression outside string
// literals (interpolations included).
func identifiers(expr string) []string {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		if expr[i] == '\'' {
			j := skipString(expr, i)
			// Keep the interpolated parts.
			lit := expr[i:j]
			for k := 0; k < len(lit); k++ {
				if strings.HasPrefix(lit[k:], "${") {
					end := matchClose(lit, k+1)
					b.WriteString(" " + lit[k+2:end] + " ")
					k = end
				}
			}
			i = j - 1
			continue
		}
		b.WriteByte(expr[i])
	}
	return identRe.FindAllString(b.String(), -1)
}

// paramDefault returns the literal default of a param of this file.
func (f *bicepFile) paramDefault(name string) (string, bool) {
	d, ok := f.decl("param", name)
	if !ok || d.value == "" {
		return "", false
	}
	if s, ok := stringLiteral(d.value); ok {
		return s, true
	}
	return strings.TrimSpace(d.value), true
}

// bicepFiles lists the .bicep files under dir, sorted.
func bicepFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	return paths
}

func TestBicepReader(t *testing.T) {
	src := `param a string = 'x${b}y' // c
var settings = cond
  ? {}
  : {
      K1: 'v1'
      'k-2': f(1, 2), K3: 'it\'s'
    }
/* block
comment */
output o string = a == 'x' ? 'y' : 'z'
`
	f := &bicepFile{text: stripComments(src)}
	f.decls = splitDecls(f.text)
	if len(f.decls) != 3 {
		t.Fatalf("decls = %d, want 3: %+v", len(f.decls), f.decls)
	}
	d, _ := f.decl("var", "settings")
	objs := topObjects(d.value)
	if len(objs) != 2 {
		t.Fatalf("objects = %q", objs)
	}
	m := propMap(objs[1])
	if m["K1"] != "'v1'" || m["k-2"] != "f(1, 2)" || m["K3"] != `'it\'s'` {
		t.Errorf("props = %q", m)
	}
	if s, ok := stringLiteral(m["K3"]); !ok || s != "it's" {
		t.Errorf("stringLiteral = %q %v", s, ok)
	}
	o, _ := f.decl("output", "o")
	if o.value != "a == 'x' ? 'y' : 'z'" {
		t.Errorf("output value = %q", o.value)
	}
	p, _ := f.decl("param", "a")
	if got, _ := interpolate(p.value, func(string) string { return "B" }); got != "xBy" {
		t.Errorf("interpolate = %q", got)
	}
	if ids := identifiers(p.value); len(ids) != 1 || ids[0] != "b" {
		t.Errorf("identifiers = %q", ids)
	}
}
