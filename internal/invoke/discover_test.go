package invoke

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const ehFunction = `{"bindings":[{"type":"eventHubTrigger","name":"events","direction":"in","cardinality":"many","dataType":"string"}]}`

// FunctionsRoot finds the functions the way the host does in a staged
// package, and functions/ in a checkout: one rule, both layouts.
func TestFunctionsRootPackageAndCheckout(t *testing.T) {
	checkout := t.TempDir()
	writeFile(t, filepath.Join(checkout, "host.json"), []byte(`{"version":"2.0"}`))
	writeFile(t, filepath.Join(checkout, "functions", "ingest-eventhub", "function.json"), []byte(ehFunction))
	writeFile(t, filepath.Join(checkout, "handler", "main.go"), []byte("package main\n"))

	pkg := t.TempDir()
	writeFile(t, filepath.Join(pkg, "host.json"), []byte(`{"version":"2.0"}`))
	writeFile(t, filepath.Join(pkg, "ingest-eventhub", "function.json"), []byte(ehFunction))
	writeFile(t, filepath.Join(pkg, "maintenance", "function.json"), []byte(`{"bindings":[{"type":"timerTrigger","name":"timer","direction":"in","schedule":"0 */5 * * * *"}]}`))
	writeFile(t, filepath.Join(pkg, "notes", "README.txt"), []byte("not a function"))
	writeFile(t, filepath.Join(pkg, "notes", "deeper", "function.json"), []byte(ehFunction)) // nothing deeper is read

	for _, tc := range []struct {
		name, root, dir, want string
		functions             []string
	}{
		{"checkout", checkout, "functions", filepath.Join(checkout, "functions"), []string{"ingest-eventhub"}},
		{"package", pkg, "functions", pkg, []string{"ingest-eventhub", "maintenance"}},
		{"absolute folder wins", pkg, filepath.Join(checkout, "functions"), filepath.Join(checkout, "functions"), []string{"ingest-eventhub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FunctionsRoot(tc.root, tc.dir)
			if got != tc.want {
				t.Fatalf("FunctionsRoot(%s, %s) = %s, want %s", tc.root, tc.dir, got, tc.want)
			}
			fns, err := LoadFunctions(got)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, fn := range fns {
				names = append(names, fn.Name)
			}
			if !slices.Equal(names, tc.functions) {
				t.Errorf("functions %v, want %v", names, tc.functions)
			}
		})
	}

	// The repository itself is a checkout: its root holds no function
	// folder, so functions/ is read.
	if got := FunctionsRoot(filepath.Join("..", ".."), "functions"); got != filepath.Join("..", "..", "functions") {
		t.Errorf("the repository root resolves to %s, want its functions/", got)
	}
}

// CheckAppRoot refuses what the host would load with zero functions, and
// says why when the function folders are nested one level too deep.
func TestCheckAppRoot(t *testing.T) {
	pkg := t.TempDir()
	writeFile(t, filepath.Join(pkg, "ingest-eventhub", "function.json"), []byte(ehFunction))
	if names, err := CheckAppRoot(pkg); err != nil || !slices.Equal(names, []string{"ingest-eventhub"}) {
		t.Errorf("package: %v, %v", names, err)
	}

	old := t.TempDir()
	writeFile(t, filepath.Join(old, "host.json"), []byte(`{"version":"2.0"}`))
	writeFile(t, filepath.Join(old, "functions", "ingest-eventhub", "function.json"), []byte(ehFunction))
	_, err := CheckAppRoot(old)
	if err == nil || !strings.Contains(err.Error(), "nested") || !strings.Contains(err.Error(), "functions/ingest-eventhub/function.json") ||
		!strings.Contains(err.Error(), "zero functions") {
		t.Errorf("old layout: %v, want an error naming the nested function folder", err)
	}

	empty := t.TempDir()
	if _, err := CheckAppRoot(empty); err == nil || !strings.Contains(err.Error(), "zero functions") {
		t.Errorf("empty app root: %v", err)
	}
}
