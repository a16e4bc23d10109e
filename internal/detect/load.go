package detect

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"
)

// builtin holds azdetect's own rules, one YAML file per rule under
// rules/<service>/.
//
//go:embed rules
var builtin embed.FS

// LoadDefault loads the built-in rules and, when extraDir is not "", every
// rule file under extraDir on disk. Rule ids must be unique across both.
func LoadDefault(extraDir string) ([]*Rule, error) {
	// The built-in rules' test cases decode on first use (TestBuiltinRules
	// checks them); extraDir's are checked at load, as LoadFS does.
	rules, err := loadDir(builtin, "rules", "", true)
	if err != nil {
		return rules, fmt.Errorf("built-in rules: %w", err)
	}
	if extraDir == "" {
		return rules, nil
	}
	extra, err := loadDir(os.DirFS(extraDir), ".", extraDir, false)
	if err != nil {
		return append(rules, extra...), fmt.Errorf("rules in %s: %w", extraDir, err)
	}
	all := append(rules, extra...)
	if err := checkUniqueIDs(all); err != nil {
		return all, err
	}
	return all, nil
}

// LoadFS loads every *.yml and *.yaml file under dir in fsys, one rule per
// file, in lexical path order. Errors are joined, one per bad file, each
// naming the file and rule id; the rules that did load are returned beside
// the error (for linting), but a caller that runs rules must not use them.
func LoadFS(fsys fs.FS, dir string) ([]*Rule, error) {
	return loadDir(fsys, dir, "", false)
}

// loadDir walks dir; display prefixes the file names in Rule.File and
// errors (the folder on disk for os.DirFS). With lazyTests, the rules'
// test cases are decoded on first use, from the file read again from fsys.
func loadDir(fsys fs.FS, dir, display string, lazyTests bool) ([]*Rule, error) {
	type file struct {
		path string
		name string
		rule *Rule
		err  error
	}
	var files []file
	walkErr := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		ext := strings.ToLower(path.Ext(p))
		if ext != ".yml" && ext != ".yaml" {
			return nil
		}
		name := p
		if display != "" {
			name = filepath.Join(display, filepath.FromSlash(p))
		}
		files = append(files, file{path: p, name: name})
		return nil
	})
	// Read and parse on every core (the YAML and the rules' regular
	// expressions are most of a scan's start-up; reading an embedded file
	// is a copy of it, 6 % of a one-record scan's CPU when the walk did
	// it on one goroutine before the parsing began); rules and errors
	// keep the files' order.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(files); i = int(next.Add(1)) - 1 {
				f := &files[i]
				data, err := fs.ReadFile(fsys, f.path)
				if err != nil {
					f.err = fmt.Errorf("%s: %w", f.name, err)
					continue
				}
				var src func() ([]byte, error)
				if lazyTests {
					p := f.path
					src = func() ([]byte, error) { return fs.ReadFile(fsys, p) }
				}
				f.rule, f.err = parseRule(f.name, data, src)
			}
		}()
	}
	wg.Wait()
	var rules []*Rule
	var errs []error
	for _, f := range files {
		if f.err != nil {
			errs = append(errs, f.err)
			continue
		}
		rules = append(rules, f.rule)
	}
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("walk %s: %w", dir, walkErr))
	}
	if err := checkUniqueIDs(rules); err != nil {
		errs = append(errs, err)
	}
	return rules, errors.Join(errs...)
}

// checkUniqueIDs fails for every id held by more than one rule.
func checkUniqueIDs(rules []*Rule) error {
	byID := make(map[string][]string)
	for _, r := range rules {
		id := strings.ToLower(r.ID)
		byID[id] = append(byID[id], r.File)
	}
	var errs []error
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if files := byID[id]; len(files) > 1 {
			errs = append(errs, fmt.Errorf("rule %s: duplicate id in %s", id, strings.Join(files, ", ")))
		}
	}
	return errors.Join(errs...)
}

// Top-level keys a rule file may hold: Sigma's standard keys and azdetect's
// extensions. Anything else fails the load.
var ruleKeys = map[string]bool{
	"title": true, "id": true, "name": true, "status": true, "description": true,
	"references": true, "author": true, "date": true, "modified": true, "tags": true,
	"logsource": true, "detection": true, "fields": true, "falsepositives": true,
	"level": true, "related": true, "license": true, "scope": true,
	// azdetect extensions
	"severity_field": true, "summary": true, "tests": true, "correlation": true, "alert_group": true,
}

var (
	logsourceKeys = map[string]bool{"product": true, "service": true, "category": true, "definition": true}
	testKeys      = map[string]bool{"name": true, "match": true, "record": true, "records": true, "alerts": true}
)

// isUUID says whether id is a UUID written 8-4-4-4-12 in hex digits of
// either case: what `^[0-9a-fA-F]{8}-...-[0-9a-fA-F]{12}$` matches, by
// hand (the regexp's compilation cost every process's start-up;
// FuzzIsUUID holds the two to the same answer).
func isUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ruleFile is the YAML shape of a rule, decoded after the keys were checked.
type ruleFile struct {
	Title          string    `yaml:"title"`
	ID             string    `yaml:"id"`
	Name           string    `yaml:"name"`
	Status         string    `yaml:"status"`
	Description    string    `yaml:"description"`
	References     []string  `yaml:"references"`
	Author         string    `yaml:"author"`
	Date           string    `yaml:"date"`
	Modified       string    `yaml:"modified"`
	Tags           []string  `yaml:"tags"`
	Logsource      Logsource `yaml:"logsource"`
	Detection      yaml.Node `yaml:"detection"`
	Fields         []string  `yaml:"fields"`
	FalsePositives []string  `yaml:"falsepositives"`
	Level          string    `yaml:"level"`
	Related        yaml.Node `yaml:"related"`
	License        string    `yaml:"license"`
	Scope          yaml.Node `yaml:"scope"`
	SeverityField  string    `yaml:"severity_field"`
	AlertGroup     string    `yaml:"alert_group"`
	Summary        string    `yaml:"summary"`
	Tests          yaml.Node `yaml:"tests"`
	Correlation    yaml.Node `yaml:"correlation"`
}

// ruleError names the file and rule id of a load error.
func ruleError(file, id string, err error) error {
	if id == "" {
		id = "(no id)"
	}
	return fmt.Errorf("%s: rule %s: %w", file, id, err)
}

// ParseRule decodes and compiles one rule file; file names it in errors.
// Its test cases are decoded and checked too: a malformed one fails it.
func ParseRule(file string, data []byte) (*Rule, error) {
	return parseRule(file, data, nil)
}

// parseRule is ParseRule; with src non-nil, the rule's test cases are left
// to decode on first use (Rule.Tests) from the file src reads again.
func parseRule(file string, data []byte, src func() ([]byte, error)) (*Rule, error) {
	if src != nil {
		// The tests: list is most of a rule file: parsing it into YAML
		// nodes is most of the rest of loading. Try without it; on any
		// error, parse the whole file for the error a user would see.
		if cut := cutTests(data); cut != nil {
			if r, err := parseRule(file, cut, nil); err == nil {
				r.tests = lazyTests{src: src, file: r.tests.file, id: r.tests.id, stateful: r.tests.stateful}
				return r, nil
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ruleError(file, "", errors.New("empty file"))
		}
		return nil, ruleError(file, "", fmt.Errorf("yaml: %w", err))
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, ruleError(file, "", errors.New("want a YAML map at the top"))
	}
	root := doc.Content[0]
	id := ""
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "id" && root.Content[i+1].Kind == yaml.ScalarNode {
			id = root.Content[i+1].Value
		}
	}
	fail := func(err error) (*Rule, error) { return nil, ruleError(file, id, err) }
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fail(errors.New("more than one YAML document: one rule per file"))
	}
	if err := checkKeys(root, ruleKeys, ""); err != nil {
		return fail(err)
	}
	var rf ruleFile
	if err := root.Decode(&rf); err != nil {
		return fail(fmt.Errorf("yaml: %w", err))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "logsource" {
			if err := checkKeys(root.Content[i+1], logsourceKeys, "logsource."); err != nil {
				return fail(err)
			}
		}
	}
	r := &Rule{
		ID: strings.TrimSpace(rf.ID), Name: strings.TrimSpace(rf.Name), Title: strings.TrimSpace(rf.Title), Status: rf.Status,
		Description: rf.Description, Author: rf.Author, Date: rf.Date, Modified: rf.Modified,
		References: rf.References, Tags: rf.Tags, FalsePositives: rf.FalsePositives,
		Logsource: rf.Logsource, service: strings.ToLower(strings.TrimSpace(rf.Logsource.Service)),
		SeverityField: strings.TrimSpace(rf.SeverityField), AlertGroup: strings.ToLower(strings.TrimSpace(rf.AlertGroup)),
		File: file, Kind: MatchKind{},
	}
	switch {
	case r.ID == "":
		return fail(errors.New("id is required"))
	case !isUUID(r.ID):
		return fail(fmt.Errorf("id %q is not a UUID", r.ID))
	case r.Title == "":
		return fail(errors.New("title is required"))
	case r.service == "":
		return fail(errors.New("logsource.service is required: it selects the events the rule reads"))
	}
	level, ok := NormaliseLevel(rf.Level)
	if !ok {
		return fail(fmt.Errorf("level %q: want informational, low, medium, high or critical", rf.Level))
	}
	r.Level = level
	if err := compileDetection(r, &rf.Detection); err != nil {
		return fail(fmt.Errorf("detection: %w", err))
	}
	if rf.Correlation.Kind != 0 && !isNull(&rf.Correlation) {
		c, err := parseCorrelation(r, &rf.Correlation)
		if err != nil {
			return fail(err)
		}
		r.Kind = unboundKind{c: c}
	}
	if r.SeverityField != "" {
		r.sevRes = newResolver(r.service, r.SeverityField)
	}
	if rf.Summary != "" {
		parts, err := parseSummary(rf.Summary, r.service)
		if err != nil {
			return fail(err)
		}
		r.summary = parts
	}
	r.tests.file, r.tests.id = file, id
	if sk, stateful := r.Kind.(statefulKind); stateful {
		r.tests.stateful = sk.Name()
	}
	if src == nil {
		r.tests.cases, r.tests.err = decodeRuleTests(&rf.Tests, r.tests.stateful)
		if r.tests.err != nil {
			return fail(r.tests.err)
		}
	} else {
		r.tests.src = src
	}
	r.cacheAttack()
	return r, nil
}

// cutTests returns data without its top-level tests: key and value: from
// the line that starts "tests:" to the next line starting at column 0 with
// anything but a list item or a comment. It returns nil when data holds no
// such line, or two.
func cutTests(data []byte) []byte {
	start := -1
	for i := 0; i < len(data); {
		line := data[i:]
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j+1]
		}
		if bytes.HasPrefix(line, []byte("tests:")) {
			if start >= 0 {
				return nil
			}
			start = i
		}
		i += len(line)
	}
	if start < 0 {
		return nil
	}
	end := len(data)
	for i := start + bytes.IndexByte(data[start:], '\n') + 1; i > start && i < len(data); {
		if c := data[i]; c != ' ' && c != '\t' && c != '-' && c != '#' && c != '\n' && c != '\r' {
			end = i
			break
		}
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return append(data[:start:start], data[end:]...)
}

// checkKeys fails on a key of the map n not in allowed, and on a key given
// twice.
func checkKeys(n *yaml.Node, allowed map[string]bool, prefix string) error {
	if n.Kind != yaml.MappingNode {
		if prefix != "" && !isNull(n) {
			return fmt.Errorf("%s: want a map, got %s", strings.TrimSuffix(prefix, "."), kindName(n))
		}
		return nil
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if !allowed[k] {
			return fmt.Errorf("unknown key %q (line %d)", prefix+k, n.Content[i].Line)
		}
		if seen[k] {
			return fmt.Errorf("key %q given twice (line %d)", prefix+k, n.Content[i].Line)
		}
		seen[k] = true
	}
	return nil
}

// compileDetection compiles the selections and binds the condition.
func compileDetection(r *Rule, det *yaml.Node) error {
	if det.Kind != yaml.MappingNode || len(det.Content) == 0 {
		return errors.New("want a map of selections and a condition")
	}
	var condNode *yaml.Node
	var names []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(det.Content); i += 2 {
		name, val := det.Content[i].Value, det.Content[i+1]
		if seen[name] {
			return fmt.Errorf("%q given twice", name)
		}
		seen[name] = true
		switch name {
		case "condition":
			condNode = val
			continue
		case "timeframe":
			return errors.New("timeframe is not supported by match rules (use a correlation rule)")
		}
		if isKeyword(name) || strings.ContainsAny(name, " ()|*?") || name == "" {
			return fmt.Errorf("selection name %q is not usable in a condition", name)
		}
		sel, err := compileSelection(name, val, r.service)
		if err != nil {
			return fmt.Errorf("selection %s: %w", name, err)
		}
		names = append(names, name)
		r.sels = append(r.sels, sel)
	}
	if condNode == nil {
		return errors.New("condition is required")
	}
	var texts []string
	switch condNode.Kind {
	case yaml.ScalarNode:
		texts = []string{condNode.Value}
	case yaml.SequenceNode: // Sigma: a list of conditions is their OR
		for _, c := range condNode.Content {
			if c.Kind != yaml.ScalarNode {
				return errors.New("condition: want text or a list of texts")
			}
			texts = append(texts, c.Value)
		}
	default:
		return errors.New("condition: want text or a list of texts")
	}
	var parsed []Node
	for _, t := range texts {
		n, err := ParseCondition(t)
		if err != nil {
			return err
		}
		parsed = append(parsed, n)
	}
	tree := parsed[0]
	if len(parsed) > 1 {
		tree = Or(parsed)
	}
	c, err := bindCondition(tree, names)
	if err != nil {
		return err
	}
	r.condition = strings.Join(texts, " | ")
	r.cond = c
	return nil
}

// decodeTests reads the tests: list. A record is a YAML map (converted to
// JSON, keys in order) or a string holding the record's text.
func decodeTests(n *yaml.Node) ([]TestCase, error) {
	if n.Kind == 0 || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("tests: want a list, got %s", kindName(n))
	}
	var out []TestCase
	for i, t := range n.Content {
		if err := checkKeys(t, testKeys, "tests."); err != nil {
			return nil, fmt.Errorf("test %d: %w", i+1, err)
		}
		if t.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("test %d: want a map", i+1)
		}
		tc := TestCase{Alerts: -1}
		var haveMatch, haveRecord bool
		for j := 0; j+1 < len(t.Content); j += 2 {
			k, v := t.Content[j].Value, t.Content[j+1]
			switch k {
			case "name":
				tc.Name = v.Value
			case "match":
				if err := v.Decode(&tc.Match); err != nil {
					return nil, fmt.Errorf("test %d: match: want true or false", i+1)
				}
				haveMatch = true
			case "record":
				// A record, or one copy of another made by a generator
				// ({record: *x, set: {...}}, see decodeRecords).
				var rec []byte
				var err error
				if gen, ok := generator(aliased(v)); ok && gen.repeat == 1 {
					var recs [][]byte
					if recs, err = gen.expand(); err == nil {
						rec = recs[0]
					}
				} else {
					rec, err = recordBytes(v)
				}
				if err != nil {
					return nil, fmt.Errorf("test %d: record: %w", i+1, err)
				}
				tc.Record = rec
				haveRecord = true
			case "records":
				recs, err := decodeRecords(v)
				if err != nil {
					return nil, fmt.Errorf("test %d: records: %w", i+1, err)
				}
				tc.Records = recs
			case "alerts":
				if err := v.Decode(&tc.Alerts); err != nil || tc.Alerts < 0 {
					return nil, fmt.Errorf("test %d: alerts: want a number of alerts", i+1)
				}
			}
		}
		if tc.Name == "" {
			tc.Name = fmt.Sprintf("test %d", i+1)
		}
		switch {
		case tc.Records != nil && haveRecord:
			return nil, fmt.Errorf("test %q: give record or records, not both", tc.Name)
		case tc.Records != nil:
			if !haveMatch && tc.Alerts < 0 {
				return nil, fmt.Errorf("test %q: records need alerts (or match)", tc.Name)
			}
			if !haveMatch {
				tc.Match = tc.Alerts > 0
			} else if tc.Alerts >= 0 && tc.Match != (tc.Alerts > 0) {
				return nil, fmt.Errorf("test %q: match and alerts disagree", tc.Name)
			}
		case !haveMatch || !haveRecord:
			return nil, fmt.Errorf("test %q: match and record are required", tc.Name)
		}
		out = append(out, tc)
	}
	return out, nil
}

func recordBytes(n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return nil, errors.New("empty")
		}
		return []byte(n.Value), nil
	case yaml.MappingNode:
		var b bytes.Buffer
		if err := nodeJSON(&b, n, 0); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	return nil, fmt.Errorf("want a map or a string, got %s", kindName(n))
}

// nodeJSON writes a YAML node as JSON, keeping key order and scalar text.
func nodeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 100 {
		return errors.New("nested too deep")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return nodeJSON(b, n.Alias, depth+1)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			if err := nodeJSON(b, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := nodeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return err
			}
			fmt.Fprint(b, v)
		case "!!int", "!!float":
			if json.Valid([]byte(n.Value)) {
				b.WriteString(n.Value)
				return nil
			}
			var v any
			if err := n.Decode(&v); err != nil {
				return err
			}
			out, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("number %q: %w", n.Value, err)
			}
			b.Write(out)
		default:
			s, _ := json.Marshal(n.Value)
			b.Write(s)
		}
	default:
		return fmt.Errorf("unsupported YAML node")
	}
	return nil
}
