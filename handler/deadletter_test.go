package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
)

// TestScanRerunAddsNoDeadLetter: scanning the same input twice into the
// same dead-letter file leaves the lines of the first run only.
func TestScanRerunAddsNoDeadLetter(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	var lines []int
	for run := 0; run < 2; run++ {
		var stdout, stderr bytes.Buffer
		if code := runCmd(t, []string{"scan", "--format", "json", "--dead-letter", dead, "../testdata/demo"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("run %d: exit %d: %s", run, code, stderr.String())
		}
		b, err := os.ReadFile(dead)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Count(string(b), "\n"))
	}
	if lines[0] == 0 || lines[1] != lines[0] {
		t.Fatalf("dead-letter lines after each run: %v, want the first run's count twice", lines)
	}
}

func runCmd(t *testing.T, args []string, stdout, stderr io.Writer) int {
	t.Helper()
	return run(args, nil, stdout, stderr)
}

// TestServeKeepsDeadLettersInBlob: with AZDETECT_DEADLETTER_CONNECTION_STRING
// serve keeps the demo's malformed record in the dead-letter container
// (Azurite), in the hour's append blob of its instance, and writes no
// local file.
func TestServeKeepsDeadLettersInBlob(t *testing.T) {
	conn := emulator.BlobConnectionString(t)
	svc, err := service.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "deadletter-" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := svc.NewContainerClient(name).Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dead.jsonl")
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", file)
	t.Setenv("AZDETECT_DEADLETTER_CONNECTION_STRING", conn)
	t.Setenv("AZDETECT_DEADLETTER_CONTAINER", name)
	t.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	t.Setenv("WEBSITE_INSTANCE_ID", "instance-0a1b")
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	h := startServe(t, s, &logs)
	before := time.Now().UTC()
	if _, err := h.replay(invoke.FunctionEventHub, "../testdata/demo"); err != nil {
		t.Fatal(err)
	}
	h.stop(t)
	if _, err := os.Stat(file); err == nil {
		t.Fatal("serve wrote the local dead-letter file although the container is configured")
	}
	pager := svc.NewContainerClient(name).NewListBlobsFlatPager(nil)
	var blobs []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			blobs = append(blobs, *it.Name)
		}
	}
	want := before.Format("2006/01/02/15/") + "instance-0a1b.jsonl"
	if len(blobs) != 1 || (blobs[0] != want && !strings.HasSuffix(blobs[0], "/instance-0a1b.jsonl")) {
		t.Fatalf("container holds %v, want %s", blobs, want)
	}
	resp, err := svc.NewContainerClient(name).NewBlobClient(blobs[0]).DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var line struct {
		Origin string `json:"origin"`
		Reason string `json:"reason"`
		Record string `json:"record"`
	}
	if n := strings.Count(string(body), "\n"); n != 1 {
		t.Fatalf("blob holds %d lines, want the demo's 1 malformed record:\n%s", n, body)
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &line); err != nil || line.Reason == "" || line.Record == "" || line.Origin == "" {
		t.Fatalf("dead letter %s (%v)", body, err)
	}
}

// TestScanDeadLettersOnceForAFileNamedTwice: a file named twice, or named
// beside its folder, is read twice, and each of its dead letters is
// written once (the dead-letter sink remembers what it wrote for such a
// file only).
func TestScanDeadLettersOnceForAFileNamedTwice(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "logs.jsonl")
	body := `{"time":"2026-11-20T08:00:00Z","category":"SignInLogs",}` + "\n" + "not json\n"
	if err := os.WriteFile(input, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	var stdout, stderr bytes.Buffer
	args := []string{"scan", "--format", "json", "--dead-letter", dead, input, dir}
	if code := runCmd(t, args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "scanned 2 file(s), 4 record(s)") {
		t.Errorf("summary %q: want the file read twice", stderr.String())
	}
	b, err := os.ReadFile(dead)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("dead-letter file holds %d lines, want 2:\n%s", n, b)
	}
}
