package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/pipeline/benchcorpus"
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
		{"text source", []Source{{Name: "a", Description: "d", Reference: "r", Parse: parse, Line: func([]byte) bool { return true }}}, ""},
		{"text source with categories", []Source{{Name: "a", Description: "d", Reference: "r", Categories: []string{"X"}, Parse: parse, Line: func([]byte) bool { return true }}}, "a text source owns no categories"},
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
		// Recognition stops before a late TimeGenerated; the shape is still told.
		{"log analytics export, TimeGenerated last", `{"Category":"Administrative","ResourceId":"/S","OperationName":"X","TimeGenerated":"2021-08-02T13:29:25.983Z"}`, Malformed, "", ErrLogAnalytics},
		{"log analytics export, unknown category, TimeGenerated last", `{"Category":"Nope","ResourceId":"/S","OperationName":"X","TimeGenerated":"2021-08-02T13:29:25.983Z"}`, Malformed, "", ErrLogAnalytics},
		{"time last", `{"category":"Administrative","resourceId":"/SUBSCRIPTIONS/S","operationName":"X/WRITE","properties":{"a":1},"time":"2024-01-01T00:00:00Z"}`, Parsed, "activitylogs", nil},
		{"text line", `2024-01-01 00:00:00 something happened`, Unrecognised, "", ErrTextLine},
		{"storage analytics line, too few fields", `1.0;2014-06-19T22:59:23.5893492Z;GetBlob;AnonymousSuccess`, Malformed, "", ErrFieldCount},
		{"storage analytics line", `1.0;2014-06-19T22:59:23.1967767Z;GetBlob;AnonymousSuccess;200;17;16;anonymous;;storagesample;blob;"https://storagesample.blob.core.windows.net/c/1.txt";"/storagesample/c/1.txt";61d2e3f6-bcb7-4cd1-a81e-4f8f497f0da2;0;192.100.0.102:4362;2014-02-14;283;0;354;23;0;;;"0x8D15A2913C934DE";Thursday, 19-Jun-14 22:58:10 GMT;;"WA-Storage/4.0.1";;"44dfd78e-7288-4898-8f70-c3478983d3b6"`, Parsed, "storageanalytics", nil},
		{"nsg flow", `{"time":"2024-01-01T00:00:00Z","category":"NetworkSecurityGroupFlowEvent","properties":{"Version":2,"flows":[]}}`, Parsed, "nsgflowlogs", nil},
		{"vnet flow", `{"time":"2024-01-01T00:00:00Z","category":"FlowLogFlowEvent","flowRecords":{"flows":[]}}`, Parsed, "vnetflowlogs", nil},
		{"key vault", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V","operationName":"SecretGet"}`, Parsed, "keyvault", nil},
		{"audit event of another service", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/A"}`, Unrecognised, "", ErrNotRecognised},
		// AuditEvent names Key Vault alone: the parse is speculative, and
		// confirmed on the resourceId it read (written last here).
		{"key vault, resourceId last", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","operationName":"SecretGet","properties":{"id":"https://v.vault.azure.net/secrets/s"},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V"}`, Parsed, "keyvault", nil},
		{"audit event of another service, resourceId last", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","operationName":"Get","properties":{"a":1},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/A"}`, Unrecognised, "", ErrNotRecognised},
		{"audit event of another service that Key Vault's parse refuses", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","operationName":"Get","properties":{"addedAccessPolicy":{"Permissions":"x"}},"resourceId":"/SUBSCRIPTIONS/S/PROVIDERS/MICROSOFT.COGNITIVESERVICES/ACCOUNTS/A"}`, Unrecognised, "", ErrNotRecognised},
		{"key vault record of a wrong member type, resourceId last", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","operationName":"Get","properties":{"addedAccessPolicy":{"Permissions":"x"}},"resourceId":"/SUBSCRIPTIONS/S/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V"}`, Malformed, "", ErrMemberType},
		{"audit event of another service, invalid JSON after the category", `{"time":"2024-01-01T00:00:00Z","category":"AuditEvent","properties":{,"resourceId":"/S/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V"}`, Malformed, "", ErrInvalidJSON},
		{"storage blob", `{"time":"2024-01-01T00:00:00Z","category":"StorageRead","resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a/blobServices/default"}`, Parsed, "storagelogs", nil},
		{"storage read of the account", `{"time":"2024-01-01T00:00:00Z","category":"StorageRead","resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a"}`, Unrecognised, "", ErrNotRecognised},
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
		"nsgflowlogs": "nsgflowlogs", "vnetflowlogs": "vnetflowlogs",
		"storageanalytics": "storageanalytics", "keyvault": "keyvault",
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
// accept it, and no text line by two shape-only sources. The records of
// the flow, Storage and Key Vault samples (and of their golden inputs) must
// be owned by exactly one.
func TestRecognisedByExactlyOne(t *testing.T) {
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("sample corpus not found at %s: %v", samplesDir, err)
	}
	reg := newTestRegistry(t)
	mustOwn := map[string]bool{
		"nsgflowlogs": true, "vnetflowlogs": true, "storageanalytics": true,
		"keyvault": true, "storagelogs": true,
	}
	check := func(rel string, rec Record) {
		if rec.Err != nil {
			return
		}
		var owners []string
		if rec.Text {
			for _, s := range reg.Sources() {
				if s.Line != nil && s.Line(rec.Bytes) {
					owners = append(owners, s.Name)
				}
			}
		} else {
			top, err := scanTop(rec.Bytes, true, nil)
			if err != nil || top.Category == "" {
				return
			}
			for _, s := range reg.Sources() {
				for _, c := range s.Categories {
					if strings.EqualFold(c, top.Category) && (s.Recognise == nil || s.Recognise(top.Candidate)) {
						owners = append(owners, s.Name)
					}
				}
			}
		}
		dir, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if len(owners) > 1 || (mustOwn[dir] && len(owners) != 1) {
			t.Errorf("%s record %d: recognised by %v", rel, rec.Index, owners)
		}
	}
	walkSamples(t, samplesDir, check)
	for dir := range mustOwn {
		walkSamples(t, filepath.Join("../../testdata", dir), func(rel string, rec Record) {
			if strings.HasSuffix(rel, ".golden.json") || strings.HasPrefix(rel, "malformed") {
				return
			}
			check(filepath.Join(dir, rel), rec)
		})
	}
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
	Status string           `json:"status"`
	Error  string           `json:"error,omitempty"`
	Event  map[string]any   `json:"event,omitempty"`
	Tuples []map[string]any `json:"tuples,omitempty"` // flow records: event.FlowTuples
}

// goldenInputs lists the case inputs of testdata/<dir>: <case>.json, and
// <case>.log for text sources.
func goldenInputs(t testing.TB, dir string) []string {
	t.Helper()
	var inputs []string
	for _, pattern := range []string{"*.json", "*.log"} {
		found, err := filepath.Glob(filepath.Join("../../testdata", dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range found {
			if !strings.HasSuffix(in, ".golden.json") {
				inputs = append(inputs, in)
			}
		}
	}
	return inputs
}

// runGolden parses testdata/<dir>/<case>.json (or .log) and compares the
// results with <case>.golden.json (rewritten when AZDETECT_UPDATE_GOLDEN=1).
func runGolden(t *testing.T, dir string) {
	t.Helper()
	reg := newTestRegistry(t)
	inputs := goldenInputs(t, dir)
	var cases int
	for _, in := range inputs {
		cases++
		name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
		t.Run(name, func(t *testing.T) {
			got := goldenOutput(t, reg, in)
			goldenPath := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden.json"
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
			r.Tuples = tupleMaps(t, ev)
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

// tupleMaps lists a flow record's tuples as the iterator yields them, or
// nil for other records.
func tupleMaps(t *testing.T, ev *event.Event) []map[string]any {
	t.Helper()
	var out []map[string]any
	err := event.FlowTuples(ev, func(ft event.FlowTuple) bool {
		m := map[string]any{
			"time": ft.Time.Format(time.RFC3339Nano), "src": ft.SrcIP.String(), "dst": ft.DstIP.String(),
			"src_port": ft.SrcPort, "dst_port": ft.DstPort, "protocol": ft.Protocol,
			"direction": string(ft.Direction), "allowed": ft.Allowed, "rule": ft.Rule, "mac": ft.MAC,
		}
		if ft.State != 0 {
			m["state"] = string(ft.State)
		}
		if ft.Encryption != "" {
			m["encryption"] = ft.Encryption
		}
		if ft.ACLID != "" {
			m["acl_id"] = ft.ACLID
		}
		if ft.HasCounts {
			m["packets_out"], m["bytes_out"], m["packets_in"], m["bytes_in"] = ft.PacketsOut, ft.BytesOut, ft.PacketsIn, ft.BytesIn
		}
		out = append(out, m)
		return true
	})
	if err != nil && !errors.Is(err, event.ErrNotFlowRecord) {
		t.Fatalf("FlowTuples of a parsed record: %v", err)
	}
	return out
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

// goldenDirs are the testdata folders of the sources' golden cases.
var goldenDirs = []string{
	"activitylogs", "signinlogs", "auditlogs", "riskdetection",
	"nsgflowlogs", "vnetflowlogs", "storageanalytics", "storagelogs", "keyvault",
}

// FuzzParse feeds arbitrary records to recognition and the parsers, called
// directly so that a panic fails the fuzzer instead of being recovered.
func FuzzParse(f *testing.F) {
	for _, dir := range goldenDirs {
		for _, file := range goldenInputs(f, dir) {
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
		s, status, _, err := reg.recognise(raw, false)
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
	for _, dir := range goldenDirs {
		for _, file := range goldenInputs(b, dir) {
			if strings.Contains(file, "malformed") {
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
// listed in the package documentation, where rule writers look, and that
// no event has more Extra values than its source declares (Source.Extras:
// the room each event is allocated with).
func TestExtraKeysDocumented(t *testing.T) {
	declared := map[string]int{}
	for _, s := range sources() {
		declared[s.Name] = s.Extras
	}
	doc, err := os.ReadFile("registry.go")
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegistry(t)
	files, _ := filepath.Glob("../../testdata/*/*.json")
	logs, _ := filepath.Glob("../../testdata/*/*.log")
	for _, file := range append(files, logs...) {
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
			for k := range ev.Extra.All() {
				if !bytes.Contains(doc, []byte(k)) {
					t.Errorf("Extra key %q (%s) is not in the package doc", k, file)
				}
			}
			if n := ev.Extra.Len(); n > declared[ev.Source] {
				t.Errorf("%s (%s): %d Extra values, the source declares %d", ev.Source, file, n, declared[ev.Source])
			}
			return nil
		})
	}
}

// fuzzSource fuzzes one source's parser directly (no recover), seeded with
// its golden inputs: it may reject a record, never panic, and never accept
// one without a time.
func fuzzSource(f *testing.F, s Source, dir string) {
	for _, file := range goldenInputs(f, dir) {
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
		err := s.Parse(raw, ev)
		if err == nil && ev.Time.IsZero() {
			t.Fatalf("parsed without a time: %q", raw)
		}
		if err == nil && ev.RawValid() && !json.Valid(raw) {
			t.Fatalf("vouched for as valid JSON, json.Valid says no: %q", raw)
		}
	})
}

// TestExtraNamesDistinct: every parser sets each Extra name once per
// record (Event.SetAll compares a call's names only with those set before
// it, as its callers pass distinct constants).
func TestExtraNamesDistinct(t *testing.T) {
	reg := newTestRegistry(t)
	parsed := 0
	for _, raw := range decodeCorpus(t) {
		ev, status, _ := reg.Parse(raw)
		if status != Parsed {
			continue
		}
		parsed++
		seen := map[string]bool{}
		for name := range ev.Extra.All() {
			if seen[name] {
				t.Fatalf("%s record sets %q twice: %s", ev.Source, name, raw)
			}
			seen[name] = true
		}
	}
	if parsed == 0 {
		t.Fatal("no record parsed")
	}
}

// scanTopCompact answers as scanTop's walk wherever it answers: on the
// corpus's records, the samples, and fuzzed records.
func TestScanTopCompact(t *testing.T) {
	reg := newTestRegistry(t)
	compact := 0
	for _, raw := range decodeCorpus(t) {
		if checkScanTopCompact(t, reg, raw) {
			compact++
		}
	}
	for _, r := range benchcorpus.Generate(600) {
		if checkScanTopCompact(t, reg, r.Line) {
			compact++
		}
	}
	// Names spelt otherwise (folded), values with blanks around them.
	for _, raw := range []string{
		`{"CATEGORY":" SignInLogs ","ResourceID":"r","operationname":"o","TIME":"t"}`,
		`{"Time":"t","timeGenerated":"g","Category":"c","resourceid":" r","OperationName":"o "}`,
		`{"timegenerated":"g","category":"","resourceId":"","operationName":"","category":"AuditLogs"}`,
		`{"categorY":5,"resourceId":"r","operationName":"o","category":"\t"}`,
	} {
		checkScanTopCompact(t, reg, []byte(raw))
	}
	if compact == 0 {
		t.Fatal("scanTopCompact answered for no record")
	}
}

func checkScanTopCompact(t *testing.T, reg *Registry, raw []byte) bool {
	t.Helper()
	for _, decides := range []func(string) bool{nil, reg.categoryDecides, reg.categoryNames, reg.categoryDecidesOrNames} {
		got, ok := scanTopCompact(raw, decides)
		if !ok {
			continue
		}
		want, err := scanTopWalk(raw, false, decides)
		if err != nil || got != want {
			t.Fatalf("%q: scanTopCompact %+v, the walk %+v (%v)", raw, got, want, err)
		}
	}
	_, ok := scanTopCompact(raw, reg.categoryDecides)
	return ok
}

// FuzzScanTopCompact: go test -run '^$' -fuzz FuzzScanTopCompact ./internal/source/
func FuzzScanTopCompact(f *testing.F) {
	for _, raw := range decodeCorpus(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"Level":4,"category":"SignInLogs"}`))
	f.Add([]byte(`{"Level":4.5,"category":"SignInLogs"}`))
	f.Add([]byte(`{"time":"x","resourceId":"r","operationName":"o","category":"c"`))
	reg := newTestRegistry(f)
	f.Fuzz(func(t *testing.T, raw []byte) { checkScanTopCompact(t, reg, raw) })
}

// sourcesOfMap is Registry.sourcesOf as it was, by maps: the category as
// its sources write it, else lower-cased.
func sourcesOfMap(r *Registry, category string) ([]int, bool) {
	for _, s := range r.list {
		for _, c := range s.Categories {
			if c == category {
				idx := r.byCategory[strings.ToLower(c)]
				return idx, true
			}
		}
	}
	idx, ok := r.byCategory[strings.ToLower(category)]
	return idx, ok
}

func checkSourcesOf(t *testing.T, reg *Registry, category string) {
	t.Helper()
	got, gotOK := reg.sourcesOf(category)
	want, wantOK := sourcesOfMap(reg, category)
	if gotOK != wantOK || !slices.Equal(got, want) {
		t.Fatalf("sourcesOf(%q) = %v %v, want %v %v", category, got, gotOK, want, wantOK)
	}
	d := len(want) > 0 && reg.list[want[0]].Recognise == nil
	n := len(want) == 1
	if reg.categoryDecides(category) != d || reg.categoryNames(category) != n || reg.categoryDecidesOrNames(category) != (d || n) {
		t.Fatalf("%q: categoryDecides %v, categoryNames %v, categoryDecidesOrNames %v; want %v, %v", category,
			reg.categoryDecides(category), reg.categoryNames(category), reg.categoryDecidesOrNames(category), d, n)
	}
}

// TestSourcesOf: the category table answers as the maps did, for every
// category as written, in other cases, cut short, run on, and for names
// no source has (empty, long, invalid UTF-8, the Kelvin sign).
func TestSourcesOf(t *testing.T) {
	reg := newTestRegistry(t)
	found := 0
	for _, s := range reg.list {
		for _, c := range s.Categories {
			for _, v := range []string{c, strings.ToLower(c), strings.ToUpper(c), c[:len(c)-1], c + " ", " " + c, c + "\x00", c + c} {
				checkSourcesOf(t, reg, v)
			}
			if a, b := categoryWords(c); reg.written.slots[reg.written.slot(a, b, len(c))].name != c {
				t.Fatalf("%q not in its own slot of the table", c)
			}
			found++
		}
	}
	if found < 10 {
		t.Fatalf("only %d categories", found)
	}
	for _, c := range []string{"", "a", "Policy\xff", "\xff\xfe", strings.Repeat("SignInLogs", 100), "AuditKogs", "auditlogsK"} {
		checkSourcesOf(t, reg, c)
	}
}

// FuzzSourcesOf: go test -run '^$' -fuzz FuzzSourcesOf ./internal/source/
func FuzzSourcesOf(f *testing.F) {
	reg := newTestRegistry(f)
	for _, s := range reg.list {
		for _, c := range s.Categories {
			f.Add(c)
		}
	}
	f.Add("")
	f.Add("\xffSignInLogs")
	f.Fuzz(func(t *testing.T, c string) { checkSourcesOf(t, reg, c) })
}

// TestCategoryTableMany: a table of many names, some sharing their
// first and last eight bytes, finds each of them and nothing else.
func TestCategoryTableMany(t *testing.T) {
	m := map[string][]int{}
	for i := range 300 {
		m[fmt.Sprintf("SignIn%dLogs", i)] = []int{i}
		m[fmt.Sprintf("Storage%03dxxxxxxxxWrite", i)] = []int{i, i}
	}
	m["a"] = []int{7}
	m["\x00a"] = []int{8}
	m["12345678x12345678"] = []int{9} // 17 bytes: a middle byte the words miss
	tb := newCategoryTable(m)
	for _, other := range []string{"12345678y12345678", "\x00\x00a", "A", "aa"} {
		if got, ok := tb.find(other); ok {
			t.Fatalf("find(%q) = %v, want nothing", other, got)
		}
	}
	for name, idx := range m {
		if got, ok := tb.find(name); !ok || !slices.Equal(got, idx) {
			t.Fatalf("find(%q) = %v %v, want %v", name, got, ok, idx)
		}
		for _, other := range []string{name + "x", name[1:], strings.ToUpper(name), ""} {
			if _, in := m[other]; in {
				continue
			}
			if got, ok := tb.find(other); ok {
				t.Fatalf("find(%q) = %v, want nothing", other, got)
			}
		}
	}
}
