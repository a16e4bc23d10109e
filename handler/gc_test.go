package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"
)

func TestContainerMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := write("memory.max", "2147483648\n")
	none := write("v2-max", "max\n")
	v1none := write("limit_in_bytes", "9223372036854771712\n")
	for _, tc := range []struct {
		name  string
		files []string
		want  int64
		ok    bool
	}{
		{"cgroup v2 limit", []string{v2}, 2 << 30, true},
		{"cgroup v2 without a limit", []string{none, v2}, 0, false},
		{"cgroup v1 without a limit", []string{v1none}, 0, false},
		{"no cgroup files", []string{filepath.Join(dir, "missing"), v2}, 2 << 30, true},
		{"nothing", []string{filepath.Join(dir, "missing")}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := containerMemoryLimit(tc.files)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %d, %t; want %d, %t", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestTuneGC: serve raises the GC percent unless GOGC is set.
func TestTuneGC(t *testing.T) {
	log := zerolog.Nop()
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "off") // the machine's cgroup is not this test's

	t.Setenv("GOGC", "") // restored at the end of the test
	os.Unsetenv("GOGC")
	debug.SetGCPercent(100)
	tuneGC(&log)
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("GC percent %d without GOGC, want %d", got, serveGCPercent)
	}
	t.Setenv("GOGC", "100")
	debug.SetGCPercent(150)
	tuneGC(&log)
	if got := debug.SetGCPercent(100); got != 150 {
		t.Errorf("GC percent %d with GOGC set, want it left as it was (150)", got)
	}
}
