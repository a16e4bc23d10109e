package detect

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// TestBuiltinRuleTestsDecode: the built-in rules load without decoding
// their test cases (a scan never reads them), and every rule's cases then
// decode, the same as ParseRule decodes them at load: a malformed built-in
// test case fails here rather than at every start-up.
func TestBuiltinRuleTestsDecode(t *testing.T) {
	rules, err := LoadDefault("")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.tests.src == nil || r.tests.cases != nil {
			t.Fatalf("%s: test cases decoded at load", r.File)
		}
	}
	for _, r := range rules {
		lazy, err := r.Tests()
		if err != nil {
			t.Fatal(err)
		}
		if len(lazy) == 0 {
			t.Errorf("%s: no test cases", r.File)
		}
		data, err := builtin.ReadFile(r.File)
		if err != nil {
			t.Fatal(err)
		}
		eager, err := ParseRule(r.File, data)
		if err != nil {
			t.Fatal(err)
		}
		if r.condition != eager.condition || r.Kind.Name() != eager.Kind.Name() || r.Level != eager.Level ||
			len(r.sels) != len(eager.sels) || !reflect.DeepEqual(r.summary, eager.summary) || !reflect.DeepEqual(r.Correlation(), eager.Correlation()) {
			t.Errorf("%s: the rule loaded without its tests differs from the rule loaded whole", r.File)
		}
		if !reflect.DeepEqual(lazy, mustTests(t, eager)) {
			t.Errorf("%s: test cases decoded on use differ from those decoded at load", r.File)
		}
	}
}

// TestLazyTestsMalformed: a malformed test case of a rule whose cases decode
// on use is reported by Tests and fails RunTests, naming file, rule and
// case; a rule loaded from disk with one still fails to load.
func TestLazyTestsMalformed(t *testing.T) {
	bad := strings.Replace(goodRule, "    record: '{\"category\"", "    name2: '{\"category\"", 1)
	r, err := parseRule("rules/auditlogs/ca.yml", []byte(bad), func() ([]byte, error) { return []byte(bad), nil })
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	_, err = r.Tests()
	if err == nil || !strings.HasPrefix(err.Error(), "rules/auditlogs/ca.yml: rule "+r.ID+": test 2: ") || !strings.Contains(err.Error(), `unknown key "tests.name2"`) {
		t.Fatalf("Tests: err = %v", err)
	}
	res := RunTests([]*Rule{r}, func([]byte) (*event.Event, error) { t.Fatal("parsed a record"); return nil, nil })
	if len(res) != 1 || res[0].OK() || !strings.Contains(res[0].String(), `unknown key "tests.name2"`) {
		t.Fatalf("RunTests = %v", res)
	}
	// The file read again fails: reported the same way.
	r, err = parseRule("gone.yml", []byte(goodRule), func() ([]byte, error) { return nil, os.ErrNotExist })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Tests(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Tests: err = %v", err)
	}

	dir := t.TempDir()
	if err := writeFile(dir+"/extra.yml", bad); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDefault(dir); err == nil || !strings.Contains(err.Error(), `unknown key "tests.name2"`) {
		t.Fatalf("LoadDefault with a malformed test in the folder: err = %v", err)
	}
}

func TestCutTests(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"title: a\ntests:\n  - name: x\n    record: '{}'\n", "title: a\n"},
		{"title: a\ntests:\n- name: x\n# c\n\n  record: |\n    {}\nlevel: low\n", "title: a\nlevel: low\n"},
		{"tests: []\ntitle: a", "title: a"},
		{"title: a\ntests: []", "title: a\n"},
	} {
		if got := string(cutTests([]byte(tc.in))); got != tc.want {
			t.Errorf("cutTests(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"title: a\n", "tests: []\ntests: []\n"} {
		if got := cutTests([]byte(in)); got != nil {
			t.Errorf("cutTests(%q) = %q, want nil", in, got)
		}
	}
}
