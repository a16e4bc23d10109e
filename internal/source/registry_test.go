package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// samplesDir is the shared public sample corpus, relative to this package.
const samplesDir = "../../../shared/reference/samples"

func newTestRegistry(t testing.TB) *Registry {
	t.Helper()
	reg, err := NewRegistry()
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return reg
}

func TestNewRegistryValidates(t *testing.T) {
	parse := func([]byte, *event.Event) error { return nil }
	ok := Source{Name: "a", Description: "d", Reference: "r", Categories: []string{"X"}, Parse: parse}
	tests := []struct {
		name    string
		list    []Source
		wantErr string
	}{
		{"valid", []Source{ok}, ""},
		{"duplicate name", []Source{ok, ok}, "name used twice"},
		{"no name", []Source{{Description: "d", Reference: "r", Categories: []string{"X"}, Parse: parse}}, "no name"},
		{"no docs", []Source{{Name: "a", Categories: []string{"X"}, Parse: parse}}, "description and reference are required"},
		{"no parser", []Source{{Name: "a", Description: "d", Reference: "r", Categories: []string{"X"}}}, "no Parse"},
		{"no categories", []Source{{Name: "a", Description: "d", Reference: "r", Parse: parse}}, "no categories"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newRegistry(tc.list)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
	newTestRegistry(t) // the built-in list is valid
}

func TestParseStatus(t *testing.T) {
	reg := newTestRegistry(t)
	tests := []struct {
		name    string
		raw     string
		status  Status
		source  string
		wantErr error
	}{
		{"activity", `{"time":"2024-01-01T00:00:00Z","category":"Administrative","operationName":"X/WRITE"}`, Parsed, "activitylogs", nil},
		{"category case-insensitive", `{"time":"2024-01-01T00:00:00Z","category":"signinlogs"}`, Parsed, "signinlogs", nil},
		{"PascalCase Category", `{"time":"2024-01-01T00:00:00Z","Category":"RiskyUsers"}`, Parsed, "riskdetection", nil},
		{"unknown category", `{"time":"2024-01-01T00:00:00Z","category":"FunctionAppLogs"}`, Unrecognised, "", ErrUnknownCategory},
		{"provisioning", `{"time":"2024-01-01T00:00:00Z","category":"ProvisioningLogs"}`, Unrecognised, "", ErrUnknownCategory},
		{"no category", `{"time":"2024-01-01T00:00:00Z"}`, Unrecognised, "", ErrNoCategory},
		{"audit of another service", `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","resourceId":"/SUBSCRIPTIONS/S/PROVIDERS/MICROSOFT.KUSTO/CLUSTERS/C"}`, Unrecognised, "", ErrNotRecognised},
		{"no time", `{"category":"Administrative"}`, Malformed, "", ErrMissingTime},
		{"bad time", `{"time":"yesterday","category":"Administrative"}`, Malformed, "", ErrInvalidTime},
		{"log analytics export", `{"TimeGenerated":"2021-08-02T13:29:25.983Z","Category":"ApplicationManagement","Type":"AuditLogs"}`, Malformed, "", ErrLogAnalytics},
		{"text line", `1.0;2014-06-19T22:59:23.5893492Z;GetBlob;AnonymousSuccess`, Unrecognised, "", ErrTextLine},
		{"array", `[1,2]`, Malformed, "", ErrNotObject},
		{"invalid JSON", `{"category":}`, Malformed, "", ErrInvalidJSON},
		{"wrong member type", `{"time":"2024-01-01T00:00:00Z","category":"AuditLogs","resourceId":"/tenants/t/providers/Microsoft.aadiam","properties":{"targetResources":"x"}}`, Malformed, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, status, err := reg.Parse([]byte(tc.raw))
			if status != tc.status {
				t.Fatalf("status = %v (%v), want %v", status, err, tc.status)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if status == Parsed {
				if ev.Source != tc.source {
					t.Fatalf("source = %q, want %q", ev.Source, tc.source)
				}
				if !bytes.Equal(ev.Raw, []byte(tc.raw)) {
					t.Fatalf("Raw is not the record")
				}
			} else if err == nil || ev != nil {
				t.Fatalf("status %v must come with an error and no event (err %v)", status, err)
			}
		})
	}
}

func TestParseCopiesRaw(t *testing.T) {
	reg := newTestRegistry(t)
	raw := []byte(`{"time":"2024-01-01T00:00:00Z","category":"Administrative"}`)
	ev, _, err := reg.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw[2] = 'X'
	if ev.Raw[2] != 't' {
		t.Fatal("ev.Raw aliases the input buffer")
	}
}

func TestParsePanicIsMalformed(t *testing.T) {
	reg, err := newRegistry([]Source{{
		Name: "boom", Description: "d", Reference: "r", Categories: []string{"Boom"},
		Parse: func([]byte, *event.Event) error { panic("bad parser") },
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, status, err := reg.Parse([]byte(`{"category":"Boom"}`))
	if status != Malformed || !errors.Is(err, ErrParserPanic) {
		t.Fatalf("status %v err %v, want malformed parser panic", status, err)
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Source != "boom" {
		t.Fatalf("err %v does not name the source", err)
	}
}

// knownOdd are the sample files that are not diagnostic-settings records
// for our sources, with the status and reason each record must get.
var knownOdd = map[string]struct {
	status Status
	err    error
}{
	// PascalCase keys and no time at all (upstream's own invalid-time test).
	"signinlogs/elastic-integrations/test-invalid-time.log": {Malformed, ErrMissingTime},
	// A Log Analytics AuditLogs table export: another schema.
	"auditlogs/otrf-security-datasets/AADAuditEvents.json": {Malformed, ErrLogAnalytics},
	// One record per category holding only "category": no time, so no event
	// (never stamped with arrival time).
	"activitylogs/elastic-integrations/test-activitylogs-categories.log": {Malformed, ErrMissingTime},
}

// TestConformance parses every public sample of our sources: all parse,
// except the known odd files, which are reported with a clear reason.
func TestConformance(t *testing.T) {
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("sample corpus not found at %s: %v", samplesDir, err)
	}
	reg := newTestRegistry(t)
	want := map[string]string{
		"activitylogs": "activitylogs", "signinlogs": "signinlogs",
		"auditlogs": "auditlogs", "identity_protection": "riskdetection",
	}
	seenOdd := 0
	for dir, source := range want {
		walkSamples(t, filepath.Join(samplesDir, dir), func(rel string, rec Record) {
			rel = filepath.ToSlash(filepath.Join(dir, rel))
			if rec.Err != nil {
				t.Errorf("%s record %d: framing: %v", rel, rec.Index, rec.Err)
				return
			}
			ev, status, err := reg.Parse(rec.Bytes)
			if odd, ok := knownOdd[rel]; ok {
				seenOdd++
				if status != odd.status || !errors.Is(err, odd.err) {
					t.Errorf("%s record %d: got %v (%v), want %v (%v)", rel, rec.Index, status, err, odd.status, odd.err)
				}
				return
			}
			if status != Parsed {
				t.Errorf("%s record %d: %v: %v", rel, rec.Index, status, err)
				return
			}
			if ev.Source != source {
				t.Errorf("%s record %d: source %q, want %q", rel, rec.Index, ev.Source, source)
			}
			if ev.Time.IsZero() || ev.Category == "" {
				t.Errorf("%s record %d: no time or category", rel, rec.Index)
			}
		})
	}
	if seenOdd == 0 {
		t.Error("none of the known odd files was seen")
	}
}

// TestRecognisedByExactlyOne checks that each sample record is owned by one
// source only: no category is claimed by two sources whose Recognise both
// accept it.
func TestRecognisedByExactlyOne(t *testing.T) {
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("sample corpus not found at %s: %v", samplesDir, err)
	}
	reg := newTestRegistry(t)
	walkSamples(t, samplesDir, func(rel string, rec Record) {
		if rec.Err != nil || rec.Text {
			return
		}
		top, err := scanTop(rec.Bytes)
		if err != nil || top.Category == "" {
			return
		}
		var owners []string
		for _, s := range reg.Sources() {
			for _, c := range s.Categories {
				if strings.EqualFold(c, top.Category) && (s.Recognise == nil || s.Recognise(top.Candidate)) {
					owners = append(owners, s.Name)
				}
			}
		}
		if len(owners) > 1 {
			t.Errorf("%s record %d: recognised by %v", rel, rec.Index, owners)
		}
	})
}

// walkSamples frames every file under root.
func walkSamples(t *testing.T, root string, fn func(rel string, rec Record)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return Records(f, func(rec Record) error {
			fn(rel, rec)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
}

// goldenResult is what a golden file holds for each record of a case.
type goldenResult struct {
	Status string         `json:"status"`
	Error  string         `json:"error,omitempty"`
	Event  map[string]any `json:"event,omitempty"`
}

// runGolden parses testdata/<dir>/<case>.json and compares the results with
// <case>.golden.json (rewritten when AZDETECT_UPDATE_GOLDEN=1).
func runGolden(t *testing.T, dir string) {
	t.Helper()
	reg := newTestRegistry(t)
	inputs, err := filepath.Glob(filepath.Join("../../testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases int
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		cases++
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			got := goldenOutput(t, reg, in)
			goldenPath := strings.TrimSuffix(in, ".json") + ".golden.json"
			if os.Getenv("AZDETECT_UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run with AZDETECT_UPDATE_GOLDEN=1 to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s; got:\n%s", in, goldenPath, got)
			}
		})
	}
	if cases == 0 {
		t.Fatalf("no golden cases in testdata/%s", dir)
	}
}

func goldenOutput(t *testing.T, reg *Registry, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var results []goldenResult
	err = Records(f, func(rec Record) error {
		if rec.Err != nil {
			results = append(results, goldenResult{Status: "framing error", Error: rec.Err.Error()})
			return nil
		}
		ev, status, err := reg.Parse(rec.Bytes)
		r := goldenResult{Status: status.String()}
		if err != nil {
			r.Error = err.Error()
		}
		if ev != nil {
			r.Event = eventMap(t, ev)
		}
		results = append(results, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Maps marshal with sorted keys.
	out, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// eventMap turns an event into a map without Raw and empty fields, so the
// golden files show what was normalised.
func eventMap(t *testing.T, ev *event.Event) map[string]any {
	t.Helper()
	cp := *ev
	cp.Raw = nil
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return pruneEmpty(m).(map[string]any)
}

func pruneEmpty(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, val := range m {
		val = pruneEmpty(val)
		switch x := val.(type) {
		case nil:
			delete(m, k)
		case string:
			if x == "" {
				delete(m, k)
			}
		case map[string]any:
			if len(x) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}

// FuzzParse feeds arbitrary records to recognition and the parsers, called
// directly so that a panic fails the fuzzer instead of being recovered.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"activitylogs", "signinlogs", "auditlogs", "riskdetection"} {
		files, _ := filepath.Glob(filepath.Join("../../testdata", dir, "*.json"))
		for _, file := range files {
			if strings.HasSuffix(file, ".golden.json") {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			_ = Records(bytes.NewReader(data), func(rec Record) error {
				f.Add(bytes.Clone(rec.Bytes))
				return nil
			})
		}
	}
	reg := newTestRegistry(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, status, err := reg.recognise(raw)
		if s == nil {
			if status == Parsed || err == nil {
				t.Fatalf("no source but status %v err %v", status, err)
			}
			return
		}
		ev := &event.Event{Source: s.Name, Raw: raw}
		if err := s.Parse(raw, ev); err == nil && ev.Time.IsZero() {
			t.Fatalf("parsed without a time: %s", raw)
		}
	})
}

// BenchmarkParse measures framing and parsing of a mixed body of every
// golden input.
func BenchmarkParse(b *testing.B) {
	var body bytes.Buffer
	for _, dir := range []string{"activitylogs", "signinlogs", "auditlogs", "riskdetection"} {
		files, _ := filepath.Glob(filepath.Join("../../testdata", dir, "*.json"))
		for _, file := range files {
			if strings.HasSuffix(file, ".golden.json") || strings.Contains(file, "malformed") {
				continue
			}
			data, err := os.ReadFile(file)
			if err != nil {
				b.Fatal(err)
			}
			_ = Records(bytes.NewReader(data), func(rec Record) error {
				body.Write(rec.Bytes)
				body.WriteByte('\n')
				return nil
			})
		}
	}
	reg := newTestRegistry(b)
	data := body.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		err := Records(bytes.NewReader(data), func(rec Record) error {
			if _, status, err := reg.Parse(rec.Bytes); status != Parsed {
				return fmt.Errorf("record %d: %v: %w", rec.Index, status, err)
			}
			records++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// TestExtraKeysDocumented checks that every Extra key the goldens show is
// listed in the package documentation, where rule writers look.
func TestExtraKeysDocumented(t *testing.T) {
	doc, err := os.ReadFile("registry.go")
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegistry(t)
	files, _ := filepath.Glob("../../testdata/*/*.json")
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_ = Records(bytes.NewReader(data), func(rec Record) error {
			ev, _, _ := reg.Parse(rec.Bytes)
			if ev == nil {
				return nil
			}
			for k := range ev.Extra {
				if !bytes.Contains(doc, []byte(k)) {
					t.Errorf("Extra key %q (%s) is not in the package doc", k, file)
				}
			}
			return nil
		})
	}
}

// fuzzSource fuzzes one source's parser directly (no recover), seeded with
// its golden inputs: it may reject a record, never panic, and never accept
// one without a time.
func fuzzSource(f *testing.F, s Source, dir string) {
	files, _ := filepath.Glob(filepath.Join("../../testdata", dir, "*.json"))
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_ = Records(bytes.NewReader(data), func(rec Record) error {
			f.Add(bytes.Clone(rec.Bytes))
			return nil
		})
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev := &event.Event{Source: s.Name, Raw: raw}
		if err := s.Parse(raw, ev); err == nil && ev.Time.IsZero() {
			t.Fatalf("parsed without a time: %q", raw)
		}
	})
}
