package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/alert"
)

// longUserAgentFile writes testdata/demo/signin.jsonl with every sign-in's
// properties.userAgent set to n characters: the attacker's to choose.
func longUserAgentFile(t *testing.T, n int) string {
	t.Helper()
	data, err := os.ReadFile("../testdata/demo/signin.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("A", n)
	var b strings.Builder
	set := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if props, ok := rec["properties"].(map[string]any); ok {
			props["userAgent"] = long
			set++
		}
		out, _ := json.Marshal(rec)
		b.Write(out)
		b.WriteByte('\n')
	}
	if set == 0 {
		t.Fatal("no sign-in has properties")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "signin.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// deadLetters reads a dead-letter file.
func readDeadLetters(t *testing.T, path string) []alert.Dead {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []alert.Dead
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20) // no dead-letter line is over 1 MiB
	for sc.Scan() {
		var d alert.Dead
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("dead letter %.200s: %v", sc.Text(), err)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	return out
}

// TestLongUserAgentIsolated is issue 17's headline: with a 40,000
// character user agent on every sign-in of testdata/demo/signin.jsonl
// (over Table Storage's 32K string limit if a rule kept it whole), scan
// raises the alerts of the original file, exits 0 and rejects no record,
// and a batch of it through serve answers 200 with the same alerts. On the
// memory store and on Table Storage (Azurite).
func TestLongUserAgentIsolated(t *testing.T) {
	dir := longUserAgentFile(t, 40000)
	check := func(t *testing.T, fresh func()) {
		want, stderr, code := scan(t, "--format", "json", "../testdata/demo/signin.jsonl")
		if code != exitOK || len(want) == 0 {
			t.Fatalf("original: exit %d, %d alerts\n%s", code, len(want), stderr)
		}
		fresh() // the same alerts would be suppressed as sent
		deadPath := filepath.Join(t.TempDir(), "dead.jsonl")
		got, stderr, code := scan(t, "--format", "json", "--dead-letter", deadPath, dir)
		if code != exitOK {
			t.Fatalf("40 KB user agents: exit %d\n%s", code, stderr)
		}
		if g, w := strings.Join(ids(got), " "), strings.Join(ids(want), " "); g != w {
			t.Fatalf("40 KB user agents raised %d alerts, the original %d\ngot:  %v\nwant: %v\n%s", len(got), len(want), g, w, stderr)
		}
		// Every value a rule keeps is Bounded (a readable prefix and a
		// hash), so no rule refuses these records: nothing is rejected.
		// (Records a rule still cannot keep are dead-lettered with the
		// rule and reason: internal/detect's isolation tests.)
		if dead := readDeadLetters(t, deadPath); len(dead) != 0 || strings.Contains(lastLine(stderr), "rejected by a rule") {
			t.Fatalf("%d dead letters, want none: %s", len(dead), lastLine(stderr))
		}
	}
	t.Run("memory", func(t *testing.T) { check(t, func() {}) })
	t.Run("table", func(t *testing.T) {
		conn := emulator.TableConnectionString(t)
		t.Setenv("AZDETECT_STATE", "table")
		t.Setenv("AZDETECT_TABLE_CONNECTION_STRING", conn)
		fresh := func() { clearState(t, conn) }
		fresh()
		check(t, fresh)
		fresh()
	})
	t.Run("serve", func(t *testing.T) {
		want, _, _ := scan(t, "--format", "json", "../testdata/demo/signin.jsonl")
		got := serveAndReplay(t, "ingest-eventhub", dir) // fails unless every invocation answers 2xx
		if g, w := strings.Join(ids(got), " "), strings.Join(ids(want), " "); g != w {
			t.Fatalf("serve raised %d alerts, scan of the original %d\nserve: %v\nscan:  %v", len(got), len(want), g, w)
		}
	})
}
