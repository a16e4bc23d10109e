package detect

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"gopkg.in/yaml.v3"
)

// lazyTests is a rule's tests: list, decoded when first asked for. Decoding
// the built-in rules' test records (YAML maps turned into JSON, generators
// expanded) was over a third of a scan's start-up, and only `azdetect rules
// test`, `rules list` and the Go tests read them. The built-in rules' test
// cases are checked by TestBuiltinRuleTestsDecode instead; rules loaded from
// a folder on disk still have theirs decoded (and refused when malformed)
// at load.
type lazyTests struct {
	once  sync.Once
	cases []TestCase
	err   error
	// src re-reads the rule file (the embedded copy: nothing is kept on the
	// heap meanwhile); nil when cases and err are already set.
	src      func() ([]byte, error)
	file, id string
	stateful string // the kind's name for a stateful rule, else ""
}

// Tests returns the rule's own test cases, decoding them on first call. The
// error names the file, rule and test case, as a load error would.
func (r *Rule) Tests() ([]TestCase, error) {
	cases, err := r.testCases()
	if err != nil {
		return nil, ruleError(r.tests.file, r.tests.id, err)
	}
	return cases, nil
}

// testCases is Tests with an error that does not name the file and rule.
func (r *Rule) testCases() ([]TestCase, error) {
	t := &r.tests
	t.once.Do(func() {
		if t.src == nil {
			return
		}
		t.cases, t.err = t.decode()
		t.src = nil
	})
	return t.cases, t.err
}

func (t *lazyTests) decode() ([]TestCase, error) {
	data, err := t.src()
	if err != nil {
		return nil, fmt.Errorf("read again: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("want a YAML map at the top")
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "tests" {
			return decodeRuleTests(root.Content[i+1], t.stateful)
		}
	}
	return nil, nil
}

// decodeRuleTests decodes a tests: list and checks that a stateful rule's
// cases give records.
func decodeRuleTests(n *yaml.Node, stateful string) ([]TestCase, error) {
	tests, err := decodeTests(n)
	if err != nil {
		return nil, err
	}
	if stateful != "" {
		for _, tc := range tests {
			if tc.Records == nil {
				return nil, fmt.Errorf("test %q: a %s rule's test gives records (a list fed in order) and alerts", tc.Name, stateful)
			}
		}
	}
	return tests, nil
}
