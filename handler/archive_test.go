package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/archive"
	"github.com/azdetect/azdetect/internal/config"
)

// diagnosticSettingDeleted is the rule every activity record of these
// tests raises, once per record (each has its own correlation id).
const diagnosticSettingDeleted = "86bf92f8-0b78-4ac0-b8ba-287b4f085ae7"

// archiveHandler is the handler under test: serve on a free port with
// Table state and the archive on Azurite, alerts in a JSON-lines file.
type archiveHandler struct {
	url       string
	alerts    string
	container func(name string) *container.Client
}

func startArchiveHandler(t *testing.T) *archiveHandler {
	t.Helper()
	tableConn := emulator.TableConnectionString(t)
	blobConn := emulator.BlobConnectionString(t)
	dir := t.TempDir()
	h := &archiveHandler{alerts: filepath.Join(dir, "alerts.jsonl")}
	for k, v := range map[string]string{
		"AZDETECT_STATE":                     "table",
		"AZDETECT_TABLE_CONNECTION_STRING":   tableConn,
		"AZDETECT_ARCHIVE_CONNECTION_STRING": blobConn,
		"AZDETECT_ARCHIVE_LEASE":             archiveTestLease.String(),
		"AZDETECT_ALERT_SINK":                "jsonl",
		"AZDETECT_ALERT_FILE":                h.alerts,
		"AZDETECT_DEAD_LETTER_FILE":          filepath.Join(dir, "dead.jsonl"),
		"AZDETECT_FUNCTIONS_DIR":             "../functions",
		"FUNCTIONS_CUSTOMHANDLER_PORT":       "0",
	} {
		t.Setenv(k, v)
	}
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.NewClientFromConnectionString(blobConn, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.container = func(name string) *container.Client {
		c := svc.NewContainerClient(name)
		if _, err := c.Create(context.Background(), nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			t.Fatalf("create container %s: %v", name, err)
		}
		return c
	}

	ctx, cancel := context.WithCancel(zerolog.Nop().WithContext(context.Background()))
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, io.Discard, ready) }()
	select {
	case addr := <-ready:
		h.url = "http://" + addr.String()
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("serve did not listen")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return h
}

// post sends one host-shaped invocation and returns the status and the
// response's Logs.
func (h *archiveHandler) post(t *testing.T, function string, body []byte) (int, []string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/"+function, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", rand.Text())
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1037.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Logs  []string
		Error string
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s answered %d with %q: %v", function, resp.StatusCode, b, err)
	}
	if out.Error != "" {
		out.Logs = append(out.Logs, out.Error)
	}
	return resp.StatusCode, out.Logs
}

// blobCreated is the blob function's invocation for a BlobCreated event
// (functions-contract §2.2): the whole blob base64, Uri and name
// double-encoded, Properties as .NET writes them.
func blobCreated(uri, name string, blob []byte, blobType int) []byte {
	dbl := func(s string) json.RawMessage {
		inner, _ := json.Marshal(s)
		outer, _ := json.Marshal(string(inner))
		return outer
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"blob": base64.StdEncoding.EncodeToString(blob)},
		"Metadata": map[string]any{
			"Uri": dbl(uri),
			"Properties": map[string]any{
				"LastModified": now.Format("2006-01-02T15:04:05+00:00"), "ContentLength": len(blob),
				"BlobType": blobType, "BlobCommittedBlockCount": 1,
			},
			"Metadata": map[string]any{},
			"name":     dbl(name),
			"sys":      map[string]any{"MethodName": "ingest-blob", "UtcNow": now.Format(time.RFC3339Nano), "RandGuid": "9a1f0c44-5e2b-4c1d-8f7e-3b6a2d9c0e11"},
		},
	})
	return b
}

// timerFired is the maintenance function's invocation (§2.3).
func timerFired() []byte {
	now := time.Now().UTC()
	b, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"timer": map[string]any{
			"Schedule": map[string]any{"AdjustForDST": true},
			"ScheduleStatus": map[string]any{
				"Last": now.Add(-5 * time.Minute).Format("2006-01-02T15:04:05+00:00"), "Next": now.Add(5 * time.Minute).Format("2006-01-02T15:04:05+00:00"),
				"LastUpdated": now.Format("2006-01-02T15:04:05+00:00"),
			},
			"IsPastDue": false,
		}},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": "maintenance", "UtcNow": now.Format(time.RFC3339Nano), "RandGuid": "5c0e7d2a-1b3f-4e8d-9a6c-2f4b8e1d7a90"}},
	})
	return b
}

var (
	blobRecords  = regexp.MustCompile(`^ingest-blob: (\d+) records.*, (\d+) unrecognised, (\d+) malformed`)
	sweepRecords = regexp.MustCompile(`archive: \d+ blobs read, \d+ bytes, (\d+) records.*, (\d+) unrecognised, (\d+) malformed`)
)

// evaluated reads how many records an answered invocation evaluated, and
// fails the test on unrecognised or malformed ones (a record cut at a
// range's edge, a piece of the records document).
func evaluated(t *testing.T, re *regexp.Regexp, logs []string) int {
	t.Helper()
	for _, l := range logs {
		if m := re.FindStringSubmatch(l); m != nil {
			if m[2] != "0" || m[3] != "0" {
				t.Errorf("unrecognised or malformed records: %q", l)
			}
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	t.Fatalf("no record count in %q", logs)
	return 0
}

// hourPath is the y=/m=/d=/h= part of an archive path for the current hour.
func hourPath() string {
	return time.Now().UTC().Format("y=2006/m=01/d=02/h=15/m=00")
}

// activityRecord is one JSON line a diagnostic setting writes to
// insights-activity-logs.
func activityRecord(run string, i int) string {
	// Each record deletes another setting: one alert each (the same
	// setting deleted again the same day would be one alert).
	return fmt.Sprintf(`{"time":"%s","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-000000000001/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/SEND-TO-SIEM-%[2]s-%04[3]d","operationName":"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE","category":"Administrative","resultType":"Success","resultSignature":"Succeeded.OK","callerIpAddress":"185.220.101.47","correlationId":"%[2]s-%04[3]d","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@contoso.com"}},"level":"Informational","properties":{"statusCode":"OK"}}`+"\n",
		time.Now().UTC().Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), run, i)
}

// nsgRecord is one NSG flow-log record (version 2).
func nsgRecord(i int) string {
	return fmt.Sprintf(`{"time":"%s","systemId":"7f3c2b1a-0d9e-4c8b-a7f6-5e4d3c2b1a09","macAddress":"000D3A1B2C3D","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/11111111-2222-3333-4444-555555555555/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WEB01-NSG","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"DefaultRule_AllowVnetInBound","flows":[{"mac":"000D3A1B2C3D","flowTuples":["%d,10.0.1.5,10.0.1.4,%d,443,T,I,A,B,,,,"]}]}]}}`,
		time.Now().UTC().Format(time.RFC3339Nano), time.Now().Unix(), 40000+i)
}

// crashOnce makes the n-th range evaluated panic before its cursor moves,
// as a crashed instance would stop.
func crashOnce(t *testing.T, n int32) *atomic.Int32 {
	t.Helper()
	var calls, crashed atomic.Int32
	archiveBeforeMove = func(context.Context, archive.Cursor) {
		if calls.Add(1) == n {
			crashed.Add(1)
			panic("test: instance killed between evaluating a range and moving its cursor")
		}
	}
	t.Cleanup(func() { archiveBeforeMove = nil })
	return &crashed
}

// sweep posts the maintenance timer. When the sweep was killed it answers
// 500; once the dead instance's lease ended, the next sweep reads its range
// again.
func (h *archiveHandler) sweep(t *testing.T, crashed *atomic.Int32) int {
	t.Helper()
	before := int32(0)
	if crashed != nil {
		before = crashed.Load()
	}
	status, logs := h.post(t, "maintenance", timerFired())
	if crashed != nil && crashed.Load() != before {
		if status != http.StatusInternalServerError {
			t.Fatalf("killed sweep answered %d: %q", status, logs)
		}
		if status, logs = h.post(t, "maintenance", timerFired()); status != http.StatusOK {
			t.Fatalf("sweep while the dead lease holds answered %d: %q", status, logs)
		}
		if n := evaluated(t, sweepRecords, logs); n != 0 {
			t.Fatalf("a sweep read %d records of a cursor another instance still holds", n)
		}
		time.Sleep(archiveTestLease + 100*time.Millisecond) // the dead lease ends
		status, logs = h.post(t, "maintenance", timerFired())
	}
	if status != http.StatusOK {
		t.Fatalf("maintenance answered %d: %q", status, logs)
	}
	return evaluated(t, sweepRecords, logs)
}

// TestArchiveAppendBlobExactlyOnce: an activity-log append blob registered
// by its BlobCreated invocation, then appended to three times (once ending
// mid-line) with a sweep after each: every record is evaluated once, and
// its alert delivered once, also when a sweep is killed after evaluating a
// range and before moving its cursor.
func TestArchiveAppendBlobExactlyOnce(t *testing.T) {
	for _, killed := range []bool{false, true} {
		t.Run(fmt.Sprintf("killed=%t", killed), func(t *testing.T) {
			var crashed *atomic.Int32
			if killed {
				crashed = crashOnce(t, 2) // the first sweep's range
			}
			h := startArchiveHandler(t)
			run := strings.ToLower(rand.Text()[:10])
			name := "resourceId=/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-" + run[:10] + "AB/" + hourPath() + "/PT1H.json"
			ab := h.container("insights-activity-logs").NewAppendBlobClient(name)
			ctx := context.Background()
			if _, err := ab.Create(ctx, nil); err != nil {
				t.Fatal(err)
			}
			var content []byte
			appendBytes := func(s string) {
				t.Helper()
				if _, err := ab.AppendBlock(ctx, streaming.NopCloser(strings.NewReader(s)), nil); err != nil {
					t.Fatal(err)
				}
				content = append(content, s...)
			}
			rec := make([]string, 8)
			for i := 1; i <= 7; i++ {
				rec[i] = activityRecord(run, i)
			}

			appendBytes(rec[1] + rec[2])
			status, logs := h.post(t, "ingest-blob", blobCreated(ab.URL(), name, content, 2))
			if status != http.StatusOK {
				t.Fatalf("ingest-blob answered %d: %q", status, logs)
			}
			total := evaluated(t, blobRecords, logs)
			if total != 2 {
				t.Errorf("blob created: %d records evaluated, want 2", total)
			}

			half := len(rec[6]) / 2
			for i, step := range []struct {
				appendix string
				want     int
			}{
				{rec[3] + rec[4], 2},
				{rec[5] + rec[6][:half], 1}, // ends mid-line: the half line waits
				{rec[6][half:] + rec[7], 2},
				{"", 0}, // nothing new
			} {
				if step.appendix != "" {
					appendBytes(step.appendix)
				}
				n := h.sweep(t, crashed)
				if n != step.want {
					t.Errorf("sweep %d: %d records evaluated, want %d", i+1, n, step.want)
				}
				total += n
			}
			if total != 7 {
				t.Errorf("%d records evaluated in all, want 7", total)
			}
			if killed && crashed.Load() != 1 {
				t.Errorf("the sweep was killed %d times, want 1", crashed.Load())
			}
			assertAlertsOnce(t, h.alerts, run, 7)
		})
	}
}

// assertAlertsOnce: each record's alert was delivered exactly once.
func assertAlertsOnce(t *testing.T, path, run string, want int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var a alert.Alert
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		if a.RuleID != diagnosticSettingDeleted || !strings.Contains(string(line), run) {
			continue
		}
		seen[a.ID]++
	}
	if len(seen) != want {
		t.Errorf("%d distinct alerts delivered, want %d (one per record)", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("alert %s delivered %d times", id, n)
		}
	}
}

// TestArchiveBlockBlobExactlyOnce: an NSG flow-log block blob, one
// {"records":[...]} document committed again with more blocks before its
// closing one, as Network Watcher writes it: every record once.
func TestArchiveBlockBlobExactlyOnce(t *testing.T) {
	for _, killed := range []bool{false, true} {
		t.Run(fmt.Sprintf("killed=%t", killed), func(t *testing.T) {
			var crashed *atomic.Int32
			if killed {
				crashed = crashOnce(t, 2)
			}
			h := startArchiveHandler(t)
			run := strings.ToLower(rand.Text()[:10])
			name := "resourceId=/SUBSCRIPTIONS/11111111-2222-3333-4444-555555555555/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/" +
				run + "-NSG/" + hourPath() + "/macAddress=000D3A1B2C3D/PT1H.json"
			bb := h.container("insights-logs-networksecuritygroupflowevent").NewBlockBlobClient(name)
			ctx := context.Background()
			blockID := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-16s", s))) }
			stage := func(id, body string) {
				t.Helper()
				if _, err := bb.StageBlock(ctx, blockID(id), streaming.NopCloser(strings.NewReader(body)), nil); err != nil {
					t.Fatal(err)
				}
			}
			var list []string // committed ids, the closing block left out
			bodies := map[string]string{}
			commit := func(end string) []byte {
				t.Helper()
				ids := make([]string, 0, len(list)+1)
				var doc []byte
				for _, id := range append(list, end) {
					ids = append(ids, blockID(id))
					doc = append(doc, bodies[id]...)
				}
				if _, err := bb.CommitBlockList(ctx, ids, nil); err != nil {
					t.Fatal(err)
				}
				return doc
			}
			add := func(id, body string) {
				stage(id, body)
				bodies[id] = body
				list = append(list, id)
			}
			closing := func(n int) string {
				id := fmt.Sprintf("end%d", n)
				stage(id, "]}")
				bodies[id] = "]}"
				return id
			}

			add("prefix", `{"records":[`)
			add("r1", nsgRecord(1))
			doc := commit(closing(0))
			status, logs := h.post(t, "ingest-blob", blobCreated(bb.URL(), name, doc, 0))
			if status != http.StatusOK {
				t.Fatalf("ingest-blob answered %d: %q", status, logs)
			}
			total := evaluated(t, blobRecords, logs)
			if total != 1 {
				t.Errorf("blob created: %d records evaluated, want 1", total)
			}
			next := 2
			for i, records := range []int{2, 1, 2, 0} {
				for range records {
					add(fmt.Sprintf("r%d", next), ","+nsgRecord(next))
					next++
				}
				if records > 0 {
					commit(closing(i + 1))
				}
				n := h.sweep(t, crashed)
				if n != records {
					t.Errorf("sweep %d: %d records evaluated, want %d", i+1, n, records)
				}
				total += n
			}
			if total != 6 {
				t.Errorf("%d records evaluated in all, want 6", total)
			}
			if killed && crashed.Load() != 1 {
				t.Errorf("the sweep was killed %d times, want 1", crashed.Load())
			}
		})
	}
}

// TestArchiveContainerFunctions: each archive container has its own blob
// function (Event Grid names one container per function); a blob-created
// invocation of the NSG flow-log function registers the blob and reads
// it, as ingest-blob does. Then the classic $logs container, which raises
// no Event Grid event, is found by the maintenance sweep's listing.
func TestArchiveContainerFunctions(t *testing.T) {
	h := startArchiveHandler(t)
	ctx := context.Background()
	run := strings.ToLower(rand.Text()[:10])

	name := "resourceId=/SUBSCRIPTIONS/11111111-2222-3333-4444-555555555555/RESOURCEGROUPS/PROD-RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/" +
		run + "-NSG/" + hourPath() + "/macAddress=000D3A1B2C3D/PT1H.json"
	bb := h.container("insights-logs-networksecuritygroupflowevent").NewBlockBlobClient(name)
	doc := `{"records":[` + nsgRecord(1) + `,` + nsgRecord(2) + `]}`
	blockID := base64.StdEncoding.EncodeToString([]byte("block-0"))
	if _, err := bb.StageBlock(ctx, blockID, streaming.NopCloser(strings.NewReader(doc)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bb.CommitBlockList(ctx, []string{blockID}, nil); err != nil {
		t.Fatal(err)
	}
	status, logs := h.post(t, "archive-networksecuritygroupflowevent", blobCreated(bb.URL(), name, []byte(doc), 0))
	if status != http.StatusOK {
		t.Fatalf("archive-networksecuritygroupflowevent answered %d: %q", status, logs)
	}
	re := regexp.MustCompile(`^archive-networksecuritygroupflowevent: (\d+) records.*, (\d+) unrecognised, (\d+) malformed`)
	if n := evaluated(t, re, logs); n != 2 {
		t.Errorf("blob created: %d records evaluated, want 2 (logs %q)", n, logs)
	}
	// Registered: the same event again reads nothing.
	if status, logs = h.post(t, "archive-networksecuritygroupflowevent", blobCreated(bb.URL(), name, []byte(doc), 0)); status != http.StatusOK {
		t.Fatalf("repeated event answered %d: %q", status, logs)
	}
	if n := evaluated(t, re, logs); n != 0 {
		t.Errorf("repeated event: %d records evaluated again", n)
	}

	// $logs: no event; the sweep lists it (AZDETECT_ARCHIVE_LIST_CONTAINERS
	// defaults to $logs).
	sample, err := os.ReadFile("../testdata/storageanalytics/v2_oauth.log")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(sample), "\n")
	fields := strings.SplitN(first, ";", 3) // version;time;rest: a line of this hour
	line := fields[0] + ";" + time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z") + ";" + fields[2] + "\n"
	lb := h.container("$logs").NewBlockBlobClient("blob/" + time.Now().UTC().Format("2006/01/02/15") + "00/" + run + ".log")
	if _, err := lb.StageBlock(ctx, blockID, streaming.NopCloser(strings.NewReader(line)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.CommitBlockList(ctx, []string{blockID}, nil); err != nil {
		t.Fatal(err)
	}
	status, logs = h.post(t, "maintenance", timerFired())
	if status != http.StatusOK {
		t.Fatalf("maintenance answered %d: %q", status, logs)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "1 found by listing") {
		t.Errorf("sweep did not find the $logs blob: %q", logs)
	}
	if n := evaluated(t, sweepRecords, logs); n != 1 {
		t.Errorf("sweep read %d $logs records, want 1: %q", n, logs)
	}
}

// archiveTestLease is AZDETECT_ARCHIVE_LEASE in these tests: long enough
// that the sweep right after a killed one still meets the dead lease on a
// loaded machine (at 1 s it did not, under a load average of 14), short
// enough to wait out.
const archiveTestLease = 4 * time.Second
