package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/invoke"
)

// stagePackage runs `make package` into a temporary folder: the package
// exactly as `make publish` and azd deploy it.
func stagePackage(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed to stage the package (make package): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("make", "--no-print-directory", "-C", "..", "package", "APP_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	return dir
}

// hostExecutable is customHandler.description.defaultExecutablePath.
func hostExecutable(t *testing.T, hostJSON string) string {
	t.Helper()
	b, err := os.ReadFile(hostJSON)
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	return host.CustomHandler.Description.DefaultExecutablePath
}

// TestPackageRunsAsTheHostRunsIt is issue 16's criterion: `make package`
// stages host.json, the static linux/amd64 binary host.json names and every
// function folder of functions/ at the root, nothing else; replay --app
// then starts it as the host does and every function answers as the
// contract requires. The old layout (function folders nested in
// functions/) and a binary name host.json does not give both fail, saying
// why.
func TestPackageRunsAsTheHostRunsIt(t *testing.T) {
	app := stagePackage(t)
	exe := hostExecutable(t, filepath.Join("..", "host.json"))
	if exe == "" || strings.Contains(exe, "/") {
		t.Fatalf("host.json defaultExecutablePath %q: want a file name at the app root", exe)
	}

	// The layout: exactly host.json, the binary and functions/*/function.json.
	var want []string
	srcFunctions, err := filepath.Glob(filepath.Join("..", "functions", "*", "function.json"))
	if err != nil || len(srcFunctions) == 0 {
		t.Fatalf("functions/*/function.json: %v, %d", err, len(srcFunctions))
	}
	var names []string
	for _, f := range srcFunctions {
		name := filepath.Base(filepath.Dir(f))
		names = append(names, name)
		want = append(want, name+"/function.json")
		src, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(app, name, "function.json"))
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("package %s/function.json differs from functions/%s/function.json (%v)", name, name, err)
		}
	}
	want = append(want, "host.json", exe)
	slices.Sort(want)
	var got []string
	filepath.WalkDir(app, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(app, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("package holds %v\nwant exactly      %v", got, want)
	}
	bin := filepath.Join(app, exe)
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("%s: %v, not executable", bin, err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("%s is %s, want x86-64", bin, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (PT_INTERP): build it with CGO_ENABLED=0", bin)
		}
	}
	f.Close()

	// Run it as the host does. The settings live outside the package,
	// which must hold nothing else.
	settings := filepath.Join(t.TempDir(), "local.settings.json")
	writeSettings(t, settings, map[string]string{
		"FUNCTIONS_WORKER_RUNTIME":         "custom",
		"AZDETECT_EVENTHUB_NAME":           "azure-logs",
		"AZDETECT_EVENTHUB_CONSUMER_GROUP": "azdetect",
		"AZDETECT_ARCHIVE_CONTAINER":       "azdetect-import",
		"AZDETECT_STATE":                   "memory",
		"AZDETECT_ALERT_SINK":              "stdout",
		"AZDETECT_DEAD_LETTER_FILE":        filepath.Join(t.TempDir(), "dead.jsonl"),
		"AZDETECT_LOG_LEVEL":               "debug",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := invoke.ReplayApp(ctx, invoke.AppOptions{Dir: app, SettingsFile: settings})
	if err != nil {
		t.Fatalf("replay --app on the staged package: %v", err)
	}
	var found []string
	for _, fn := range rep.Functions {
		found = append(found, fn.Name)
	}
	slices.Sort(names)
	if !slices.Equal(found, names) {
		t.Errorf("the host would find %v, functions/ holds %v", found, names)
	}
	answered := map[string]int{}
	for _, inv := range rep.Invocations {
		if inv.Status == 200 && len(inv.Logs) > 0 {
			answered[inv.Function]++
		}
	}
	for _, n := range names {
		if answered[n] == 0 {
			t.Errorf("function %s did not answer 200 with logs", n)
		}
	}
	if rep.ExitCode != 0 {
		t.Errorf("handler exit %d after SIGTERM", rep.ExitCode)
	}
	checkHostLevels(t, rep.Lines)

	// The old layout: the same files with the function folders under
	// functions/, as publishing the repository root did.
	old := t.TempDir()
	copyFile(t, filepath.Join(app, "host.json"), filepath.Join(old, "host.json"), 0o644)
	copyFile(t, bin, filepath.Join(old, exe), 0o755)
	for _, n := range names {
		copyFile(t, filepath.Join(app, n, "function.json"), filepath.Join(old, "functions", n, "function.json"), 0o644)
	}
	_, err = invoke.ReplayApp(ctx, invoke.AppOptions{Dir: old, SettingsFile: settings})
	if err == nil || !strings.Contains(err.Error(), "nested") || !strings.Contains(err.Error(), "zero functions") {
		t.Errorf("old layout: %v, want an error saying the function folders are nested and the host finds none", err)
	}

	// A binary under another name than host.json's.
	renamed := t.TempDir()
	copyFile(t, filepath.Join(app, "host.json"), filepath.Join(renamed, "host.json"), 0o644)
	copyFile(t, bin, filepath.Join(renamed, exe+"-linux-amd64"), 0o755)
	copyFile(t, filepath.Join(app, names[0], "function.json"), filepath.Join(renamed, names[0], "function.json"), 0o644)
	_, err = invoke.ReplayApp(ctx, invoke.AppOptions{Dir: renamed, SettingsFile: settings})
	if err == nil || !strings.Contains(err.Error(), "defaultExecutablePath is \""+exe+"\"") || !strings.Contains(err.Error(), exe+"-linux-amd64") {
		t.Errorf("renamed binary: %v, want an error naming host.json's executable and the one found", err)
	}
}

func writeSettings(t *testing.T, path string, values map[string]string) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"IsEncrypted": false, "Values": values})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
