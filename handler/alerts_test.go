package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/alert/sbpeer"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
)

// TestServeDeliversToServiceBus is issue 3's end to end: the handler, over
// HTTP, with AZDETECT_ALERT_SINK=servicebus pointed at the Proton peer by an
// emulator connection string; the demo replayed as Event Hub invocations;
// every alert scan raises arrives once, with its properties, and
// `azdetect alerts tail` receives and completes them through the real
// azservicebus client.
func TestServeDeliversToServiceBus(t *testing.T) {
	want, _, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(want) == 0 {
		t.Fatalf("scan: exit %d, %d alerts", code, len(want))
	}
	peer := sbpeer.StartT(t, sbpeer.Options{})
	s := servicebusSettings(t, peer)

	var logs syncBuffer
	if err := serveOnce(t, s, &logs, "../testdata/demo"); err != nil {
		t.Fatalf("replay: %v", err)
	}

	// What the entity holds, as a subscription filter sees it.
	held, err := peer.Messages("alerts")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != len(want) {
		t.Errorf("the entity holds %d messages, scan raised %d alerts", len(held), len(want))
	}
	byID := map[string]alert.Alert{}
	for _, a := range want {
		byID[a.ID] = a
	}
	for _, m := range held {
		a, ok := byID[m.MessageID]
		if !ok {
			t.Errorf("message %s is no alert scan raised", m.MessageID)
			continue
		}
		p := m.ApplicationProperties
		if m.Subject != a.RuleID || m.ContentType != "application/json" || p["severity"] != a.Severity ||
			p["rule_id"] != a.RuleID || p["source_type"] != a.SourceType ||
			p["severity_rank"] != float64(alert.Rank(a.Severity)) ||
			(len(a.Techniques) > 0 && p["techniques"] != strings.Join(a.Techniques, ",")) ||
			(len(a.Tactics) > 0 && p["tactics"] != strings.Join(a.Tactics, ",")) ||
			(len(a.Entities.Subscriptions) > 0 && p["subscription"] != strings.Join(a.Entities.Subscriptions, ",")) {
			t.Errorf("message %s: subject %q content type %q properties %v", m.MessageID, m.Subject, m.ContentType, p)
		}
	}

	// The consumer's side: alerts tail, JSON, until idle.
	var stdout, stderr bytes.Buffer
	code = run([]string{"alerts", "tail", "--format", "json", "--idle", "2s"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("alerts tail: exit %d: %s", code, stderr.String())
	}
	var got []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var a alert.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("tail line %q: %v", sc.Text(), err)
		}
		got = append(got, a.ID)
	}
	sort.Strings(got)
	if g, w := strings.Join(got, " "), strings.Join(ids(want), " "); g != w {
		t.Fatalf("tail received %d alerts, scan raised %d\ntail: %s\nscan: %s", len(got), len(want), g, w)
	}
	if left, _ := peer.Messages("alerts"); len(left) != 0 {
		t.Fatalf("tail left %d messages uncompleted", len(left))
	}
	for _, secret := range []string{"SAS_KEY_VALUE", "SharedAccessSignature sr="} {
		if strings.Contains(logs.String()+stderr.String(), secret) {
			t.Fatalf("serve or tail logged %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "set (endpoint 127.0.0.1:") {
		t.Errorf("serve's settings line does not show the redacted connection string:\n%.2000s", logs.String())
	}
}

// TestAlertsTailTableAndSubscription: table output, a topic subscription,
// and a message that is not an alert dead-lettered, not printed.
func TestAlertsTailTableAndSubscription(t *testing.T) {
	peer := sbpeer.StartT(t, sbpeer.Options{})
	t.Setenv("AZDETECT_SERVICEBUS_CONNECTION_STRING", peer.ConnectionString())
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	client, err := servicebusClient(s)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(client)
	sb, err := alert.NewServiceBus(client, alert.ServiceBusOptions{Entity: "azdetect-alerts"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	first := time.Date(2026, 11, 20, 9, 12, 0, 0, time.UTC)
	alerts := []alert.Alert{
		{ID: "a1", RuleID: "r1", Title: "Diagnostic setting deleted", Severity: "high", Summary: "mallory deleted send-to-siem", FirstSeen: first, Techniques: []string{"T1562.008"}},
		{ID: "a2", RuleID: "r2", Title: "Password spray", Severity: "medium", Summary: "185.220.101.47 failed 12 users", FirstSeen: first},
	}
	sender, err := client.NewSender("azdetect-alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	if err := sender.SendMessage(context.Background(), &azservicebus.Message{Body: []byte("not an alert")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sb.Publish(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	t.Setenv("COLUMNS", "") // the table's width: 100 when stdout is no terminal
	code := run([]string{"alerts", "tail", "--entity", "azdetect-alerts", "--subscription", "soc", "--format", "table", "--count", "2"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.HasPrefix(out, "TIME (UTC)") || strings.Count(out, "TIME (UTC)") != 1 || !strings.Contains(out, "HIGH") ||
		!strings.Contains(out, "Password spray") || !strings.Contains(out, "mallory deleted send-to-siem") ||
		!strings.Contains(out, "2026-11-20 09:12:00") {
		t.Fatalf("table:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > defaultWidth {
			t.Errorf("line over %d characters: %q", defaultWidth, l)
		}
	}
	if !strings.Contains(stderr.String(), "azdetect-alerts/Subscriptions/soc: 2 alert(s)") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	if st, _ := peer.Stats(); st.DeadLettered != 1 || st.Completed != 2 {
		t.Fatalf("peer: %d dead-lettered, %d completed; want 1 and 2", st.DeadLettered, st.Completed)
	}
	if code := run([]string{"alerts", "tail", "--format", "yaml"}, nil, &stdout, &stderr); code != exitUsage {
		t.Fatalf("bad format: exit %d", code)
	}
}

// servicebusSettings are serve's settings with the servicebus sink on peer.
func servicebusSettings(t *testing.T, peer *sbpeer.Peer) config.Settings {
	t.Helper()
	t.Setenv("AZDETECT_ALERT_SINK", "servicebus")
	t.Setenv("AZDETECT_SERVICEBUS_CONNECTION_STRING", peer.ConnectionString())
	t.Setenv("AZDETECT_SERVICEBUS_ENTITY", "alerts")
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	t.Setenv("AZDETECT_FUNCTIONS_DIR", "../functions")
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	s, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveOnce runs one handler process (serve) for one replay of paths as
// Event Hub invocations, and returns the replay's error: the first
// invocation that did not answer 2xx.
func serveOnce(t *testing.T, s config.Settings, logs *syncBuffer, paths ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(zerolog.New(logs).WithContext(context.Background()))
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, s, os.Stdout, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen")
	}
	_, err := invoke.Replay(context.Background(), invoke.ReplayOptions{
		URL: "http://" + addr.String(), Function: "ingest-eventhub", FunctionsDir: "../functions", Paths: paths,
	})
	cancel()
	if serr := <-done; serr != nil {
		t.Fatalf("serve: %v", serr)
	}
	return err
}

// TestServeServiceBusFailureFailsTheInvocation: when Service Bus refuses
// the send, the invocation answers 500 so the host redelivers; the
// redelivery (through a lost acknowledgement), and a second handler
// process replaying everything again, leave each alert in the entity once.
func TestServeServiceBusFailureFailsTheInvocation(t *testing.T) {
	want, _, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(want) == 0 {
		t.Fatalf("scan: exit %d, %d alerts", code, len(want))
	}
	peer := sbpeer.StartT(t, sbpeer.Options{})
	s := servicebusSettings(t, peer)
	var logs syncBuffer

	if err := peer.Refuse("amqp:unauthorized-access"); err != nil {
		t.Fatal(err)
	}
	err := serveOnce(t, s, &logs, "../testdata/demo")
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("replay while Service Bus refuses: %v, want a 500", err)
	}
	if held, _ := peer.Messages("alerts"); len(held) != 0 {
		t.Fatalf("peer holds %d messages after a refused send", len(held))
	}

	if err := peer.Refuse(""); err != nil {
		t.Fatal(err)
	}
	if err := peer.CloseAfterStore(1); err != nil {
		t.Fatal(err)
	}
	if err := serveOnce(t, s, &logs, "../testdata/demo"); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if err := serveOnce(t, s, &logs, "../testdata/demo"); err != nil { // a new process, a new in-memory dedupe
		t.Fatalf("second process: %v", err)
	}
	held, err := peer.Messages("alerts")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range held {
		got = append(got, m.MessageID)
	}
	sort.Strings(got)
	if g, w := strings.Join(got, " "), strings.Join(ids(want), " "); g != w {
		t.Fatalf("entity holds %d messages, scan raised %d alerts\nheld: %s\nscan: %s", len(got), len(want), g, w)
	}
	if st, _ := peer.Stats(); st.Duplicates < len(want) {
		t.Fatalf("peer dropped %d duplicates, want at least %d (the second process's)", st.Duplicates, len(want))
	}
	for _, secret := range []string{"SAS_KEY_VALUE", "SharedAccessSignature sr="} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("serve logged %q", secret)
		}
	}
}

// syncBuffer is a log destination the handler's goroutines share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAlertsTailUnreachableFails: a namespace that cannot be reached is an
// error (exit 3) even when --idle is shorter than the client's retries,
// and the message carries no unrelated hint about topics.
func TestAlertsTailUnreachableFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv("AZDETECT_SERVICEBUS_CONNECTION_STRING", "Endpoint=sb://"+addr+";SharedAccessKeyName=k;SharedAccessKey=SECRETKEY;UseDevelopmentEmulator=true;")
	t.Setenv("AZDETECT_SERVICEBUS_MAX_RETRIES", "2")
	t.Setenv("AZDETECT_SERVICEBUS_RETRY_DELAY", "500ms")
	t.Setenv("AZDETECT_DEAD_LETTER_FILE", filepath.Join(t.TempDir(), "dead.jsonl"))
	for _, idle := range []string{"200ms", "0"} {
		t.Run("idle "+idle, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run([]string{"alerts", "tail", "--idle", idle}, nil, &stdout, &stderr)
			if code != exitFailure {
				t.Errorf("exit %d after %s, want %d; stderr: %s", code, time.Since(start).Round(time.Millisecond), exitFailure, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, "cannot reach") || strings.Contains(msg, "--subscription") || strings.Contains(msg, "0 alert(s)") {
				t.Errorf("stderr: %s", msg)
			}
			if strings.Contains(msg, "SECRETKEY") {
				t.Errorf("stderr shows the key: %s", msg)
			}
		})
	}
}
