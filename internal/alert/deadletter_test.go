package alert

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeadLetterLinesAreBounded: a record of 3 MiB of NUL bytes (JSON would
// escape each into six) and one of 3 MiB of text are kept as their first
// MaxDeadBytes, with their length, on lines well under 1 MiB; a long reason
// is cut too.
func TestDeadLetterLinesAreBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	d := NewDeadLetterFile(path)
	defer d.Close()
	nul := make([]byte, 3<<20)
	text := []byte(strings.Repeat(`{"userAgent":"`, 3<<20/14))
	dead := []Dead{
		NewDead(DeadMalformed, "f", 0, 0, 0, "", strings.Repeat("why ", 1<<20), nul),
		// As a sink from elsewhere might pass it: not built by NewDead.
		{Origin: "f", Index: 1, Offset: int64(len(nul)), Length: int64(len(text)), Reason: "invalid JSON", Bytes: text},
	}
	if err := d.Keep(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		if len(line) > 4*MaxDeadBytes {
			t.Errorf("line %d is %d bytes", i, len(line))
		}
		var got struct {
			Length       int64  `json:"length"`
			Truncated    bool   `json:"truncated"`
			Reason       string `json:"reason"`
			Record       string `json:"record"`
			RecordBase64 string `json:"record_base64"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		kept := []byte(got.Record)
		if got.RecordBase64 != "" {
			kept, _ = base64.StdEncoding.DecodeString(got.RecordBase64)
		}
		want := [][]byte{nul, text}[i]
		if got.Length != int64(len(want)) || !got.Truncated || len(kept) != MaxDeadBytes || string(kept) != string(want[:MaxDeadBytes]) {
			t.Errorf("line %d: length %d truncated %v, %d bytes kept", i, got.Length, got.Truncated, len(kept))
		}
		if len(got.Reason) > MaxReasonSize+3 {
			t.Errorf("line %d: reason of %d bytes", i, len(got.Reason))
		}
	}
	if !strings.Contains(lines[0], `"record_base64"`) || !strings.Contains(lines[1], `"record":"{\"userAgent\"`) {
		t.Errorf("NUL bytes want base64, text wants text")
	}
}
