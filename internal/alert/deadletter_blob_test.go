package alert_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/azdetect/azdetect/internal/alert"
)

// deadContainer creates a container of its own on Azurite's Blob service.
func deadContainer(t *testing.T) *container.Client {
	t.Helper()
	svc, err := service.NewClientFromConnectionString(emulator.BlobConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	c := svc.NewContainerClient("deadletter-" + hex.EncodeToString(b))
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// blobLines downloads a blob and decodes its JSON lines.
func blobLines(t *testing.T, c *container.Client, name string) (blob.BlobType, []map[string]any) {
	t.Helper()
	ctx := context.Background()
	bc := c.NewBlobClient(name)
	props, err := bc.GetProperties(ctx, nil)
	if err != nil {
		t.Fatalf("blob %s: %v", name, err)
	}
	resp, err := bc.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("blob %s: line %.80q is not JSON: %v", name, sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return *props.BlobType, out
}

// TestDeadLetterBlob: dead letters go to one append blob per hour and
// instance in the container, each line the record with its origin, offset
// and reason, binary records in base64; appends bigger than one block
// arrive whole and in order.
func TestDeadLetterBlob(t *testing.T) {
	ctx := context.Background()
	c := deadContainer(t)
	hour := time.Date(2026, 11, 20, 9, 59, 58, 0, time.UTC)
	now := hour
	d, err := alert.NewDeadLetterBlob(c, alert.DeadLetterBlobOptions{Instance: "a1b2/../c3 d4", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	first := []alert.Dead{
		{Origin: "eventhub/0/123", Index: 0, Offset: 0, Source: "signinlogs", Reason: "invalid JSON", Bytes: []byte(`{"time": "2026-`)},
		{Origin: "eventhub/0/123", Index: 1, Offset: 17, Reason: "not valid UTF-8", Bytes: []byte{0xff, 0xfe, 0x00, 0x01}},
	}
	if err := d.Keep(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Three records of 2 MiB: more than one 4 MiB append.
	big := bytes.Repeat([]byte("x"), 2<<20)
	var second []alert.Dead
	for i := 0; i < 3; i++ {
		second = append(second, alert.Dead{Origin: "blob/x", Index: i, Offset: int64(i) << 21, Reason: "record too large", Bytes: big})
	}
	if err := d.Keep(ctx, second); err != nil {
		t.Fatal(err)
	}
	name := d.BlobName(hour)
	if name != "2026/11/20/09/a1b2..c3d4.jsonl" {
		t.Fatalf("blob name %q", name)
	}
	typ, lines := blobLines(t, c, name)
	if typ != blob.BlobTypeAppendBlob {
		t.Fatalf("blob type %s, want an append blob", typ)
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	if lines[0]["origin"] != "eventhub/0/123" || lines[0]["reason"] != "invalid JSON" || lines[0]["record"] != `{"time": "2026-` || lines[0]["source"] != "signinlogs" {
		t.Errorf("line 1: %v", lines[0])
	}
	if got, _ := base64.StdEncoding.DecodeString(lines[1]["record_base64"].(string)); !bytes.Equal(got, first[1].Bytes) || lines[1]["offset"] != float64(17) {
		t.Errorf("line 2: %v", lines[1])
	}
	for i, l := range lines[2:] {
		if l["index"] != float64(i) || len(l["record"].(string)) != len(big) {
			t.Errorf("big line %d: index %v, %d bytes", i, l["index"], len(l["record"].(string)))
		}
	}
	// The next hour goes to the next blob.
	now = hour.Add(5 * time.Second)
	if err := d.Keep(ctx, first[:1]); err != nil {
		t.Fatal(err)
	}
	if _, lines := blobLines(t, c, d.BlobName(now)); len(lines) != 1 || !strings.HasPrefix(d.BlobName(now), "2026/11/20/10/") {
		t.Fatalf("next hour: %s holds %d lines", d.BlobName(now), len(lines))
	}
	// A second process (a restart) appends to the same hour's blob.
	again, _ := alert.NewDeadLetterBlob(c, alert.DeadLetterBlobOptions{Instance: "a1b2/../c3 d4", Now: func() time.Time { return hour }})
	if err := again.Keep(ctx, first[:1]); err != nil {
		t.Fatal(err)
	}
	if _, lines := blobLines(t, c, name); len(lines) != 6 {
		t.Fatalf("after a restart the hour's blob holds %d lines, want 6", len(lines))
	}
	if d.Count() != 6 {
		t.Errorf("count %d, want 6", d.Count())
	}
}

// TestDeadLetterBlobMissingContainer: a container that does not exist
// fails Keep (the invocation fails and is retried) naming the container.
func TestDeadLetterBlobMissingContainer(t *testing.T) {
	svc, err := service.NewClientFromConnectionString(emulator.BlobConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := alert.NewDeadLetterBlob(svc.NewContainerClient("no-such-container"), alert.DeadLetterBlobOptions{Container: "no-such-container", Instance: "i"})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Keep(context.Background(), []alert.Dead{{Origin: "o", Reason: "r", Bytes: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "no-such-container") {
		t.Fatalf("keep into a missing container: %v", err)
	}
}

// TestKeptOnce: a rerun over the same input adds no line to the
// dead-letter file; new records still go in.
func TestKeptOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	recs := []alert.Dead{
		{Origin: "a.json", Index: 3, Offset: 120, Reason: "invalid JSON", Bytes: []byte("{")},
		{Origin: "a.json", Index: 9, Offset: 400, Reason: "invalid JSON", Bytes: []byte{0xff}},
	}
	for run := 0; run < 3; run++ {
		f := alert.NewDeadLetterFile(path)
		k, err := alert.NewKeptOnce(f, path)
		if err != nil {
			t.Fatal(err)
		}
		batch := recs
		if run == 2 {
			batch = append(batch, alert.Dead{Origin: "b.json", Index: 0, Offset: 0, Reason: "invalid JSON", Bytes: []byte("[")})
		}
		if err := k.Keep(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
		if run > 0 && k.Skipped() != 2 {
			t.Errorf("run %d skipped %d, want 2", run, k.Skipped())
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 3 {
		t.Fatalf("the file holds %d lines after three runs, want 3:\n%s", n, b)
	}
}
