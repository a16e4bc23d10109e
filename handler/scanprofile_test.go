package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestScanWritesACPUProfile: with AZDETECT_SCAN_CPUPROFILE set, scan
// writes a CPU profile there (gzip'd, as runtime/pprof writes them) and
// still scans; a path it cannot create is a usage error naming the
// variable, before anything is scanned.
func TestScanWritesACPUProfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cpu.pprof")
	t.Setenv("AZDETECT_SCAN_CPUPROFILE", path)
	var stdout, stderr bytes.Buffer
	code := run([]string{"scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"), "../testdata/demo"}, nil, &stdout, &stderr)
	if code != exitOK && code != exitAlerts {
		t.Fatalf("scan exited %d: %s", code, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Error("no alert printed for the demo")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the profile is not gzip'd: %v", err)
	}
	if b, err := io.ReadAll(zr); err != nil || len(b) == 0 {
		t.Fatalf("the profile: %d bytes, %v", len(b), err)
	}

	t.Setenv("AZDETECT_SCAN_CPUPROFILE", filepath.Join(dir, "no-such-folder", "cpu.pprof"))
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"), "../testdata/demo"}, nil, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "AZDETECT_SCAN_CPUPROFILE") || stdout.Len() != 0 {
		t.Errorf("unwritable profile: exit %d, stdout %d bytes, stderr %q", code, stdout.Len(), stderr.String())
	}
}

// TestScanWritesAMemoryProfile: with AZDETECT_SCAN_MEMPROFILE set, scan
// writes a heap profile there (gzip'd) holding allocation samples, and
// prints the same alerts as without it; a path it cannot create is a
// usage error naming the variable, before anything is scanned.
func TestScanWritesAMemoryProfile(t *testing.T) {
	dir := t.TempDir()
	args := []string{"scan", "--format", "json", "--progress", "never", "--dead-letter", filepath.Join(dir, "dead.jsonl"), "../testdata/demo"}
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	// Without it, scan samples nothing: the binary links the profile
	// writer, which leaves the runtime sampling at its default rate.
	runtime.MemProfileRate = defaultMemProfileRate
	var plain, stderr bytes.Buffer
	if code := run(args, nil, &plain, &stderr); code != exitOK && code != exitAlerts {
		t.Fatalf("scan exited %d: %s", code, stderr.String())
	}
	if runtime.MemProfileRate != 0 {
		t.Errorf("MemProfileRate %d in a scan without AZDETECT_SCAN_MEMPROFILE, want 0", runtime.MemProfileRate)
	}
	path := filepath.Join(dir, "mem.pprof")
	t.Setenv("AZDETECT_SCAN_MEMPROFILE", path)
	var stdout bytes.Buffer
	stderr.Reset()
	code := run(args, nil, &stdout, &stderr)
	if code != exitOK && code != exitAlerts {
		t.Fatalf("scan exited %d: %s", code, stderr.String())
	}
	if stdout.Len() == 0 || !bytes.Equal(stdout.Bytes(), plain.Bytes()) {
		t.Errorf("with the profile: %d bytes of alerts, want the %d of a scan without", stdout.Len(), plain.Len())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the profile is not gzip'd: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil || len(b) == 0 {
		t.Fatalf("the profile: %d bytes, %v", len(b), err)
	}
	if !bytes.Contains(b, []byte("alloc_space")) {
		t.Error("the profile has no alloc_space sample type")
	}

	t.Setenv("AZDETECT_SCAN_MEMPROFILE", filepath.Join(dir, "no-such-folder", "mem.pprof"))
	stdout.Reset()
	stderr.Reset()
	code = run(args, nil, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "AZDETECT_SCAN_MEMPROFILE") || stdout.Len() != 0 {
		t.Errorf("unwritable profile: exit %d, stdout %d bytes, stderr %q", code, stdout.Len(), stderr.String())
	}
}
