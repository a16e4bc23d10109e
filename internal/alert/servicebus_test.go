package alert_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/alert/sbpeer"
	"github.com/azdetect/azdetect/internal/alert/sinktest"
	"github.com/azdetect/azdetect/internal/state"
)

// The peer's emulator connection string carries this well-known dummy key;
// no log line or error may show it.
const peerKey = "SAS_KEY_VALUE"

// fastRetries keep outage tests short; production uses the SDK's defaults.
var fastRetries = azservicebus.RetryOptions{MaxRetries: 2, RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond}

// bus is one Service Bus to test against: the Proton peer, or the
// namespace or emulator SERVICEBUS_CONNECTION_STRING names.
type bus struct {
	peer   *sbpeer.Peer // nil for an external namespace
	client *azservicebus.Client
	entity string
	idle   time.Duration // how long a receive waits before "nothing more"
}

func newClient(t *testing.T, conn string) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(conn, &azservicebus.ClientOptions{RetryOptions: fastRetries})
	if err != nil {
		t.Fatalf("client: %s", alert.Redact(err.Error()))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func peerBus(t *testing.T, opts sbpeer.Options) bus {
	t.Helper()
	p := sbpeer.StartT(t, opts)
	return bus{peer: p, client: newClient(t, p.ConnectionString()), entity: "alerts", idle: 300 * time.Millisecond}
}

// externalBus uses SERVICEBUS_CONNECTION_STRING and the queue
// SERVICEBUS_QUEUE (default "alerts", created with duplicate detection),
// drained first.
func externalBus(t *testing.T) bus {
	t.Helper()
	conn := os.Getenv("SERVICEBUS_CONNECTION_STRING")
	if conn == "" {
		t.Skip("SERVICEBUS_CONNECTION_STRING not set: no real namespace or emulator to test against")
	}
	entity := os.Getenv("SERVICEBUS_QUEUE")
	if entity == "" {
		entity = "alerts"
	}
	b := bus{client: newClient(t, conn), entity: entity, idle: 3 * time.Second}
	b.receive(t)
	return b
}

func (b bus) sink(t *testing.T, log *bytes.Buffer) *alert.ServiceBus {
	t.Helper()
	logger := zerolog.Nop()
	if log != nil {
		logger = zerolog.New(log)
	}
	s, err := alert.NewServiceBus(b.client, alert.ServiceBusOptions{Entity: b.entity, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// receive takes every message the entity holds through the real client,
// completing each, in the order the entity enqueued them (sequence
// number).
//
// Not in the order received: between two ReceiveMessages calls the SDK
// releases the messages that arrive on the link's leftover credit, and
// the broker (Service Bus, as the peer) may hand out later messages on the
// next call's credit before it takes the released ones back. Under CPU
// load that reordered reads and failed ManyAlertsArriveOnceInOrder
// although the sink had sent, and the entity enqueued, every alert in
// order.
//
// On the peer, which says how many messages it holds, receive waits for
// exactly those: an idle timeout alone also timed out the first receive,
// link set-up included, under load and read nothing.
func (b bus) receive(t *testing.T) []*azservicebus.ReceivedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := -1
	if b.peer != nil {
		held, err := b.peer.Messages(b.entity)
		if err != nil {
			t.Fatalf("peer messages: %v", err)
		}
		want = len(held)
	}
	r, err := b.client.NewReceiverForQueue(b.entity, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	var out []*azservicebus.ReceivedMessage
	for want < 0 || len(out) < want {
		rctx, rcancel := ctx, context.CancelFunc(func() {})
		if want < 0 {
			rctx, rcancel = context.WithTimeout(ctx, b.idle)
		}
		msgs, err := r.ReceiveMessages(rctx, 100, nil)
		rcancel()
		if err != nil && (want >= 0 || rctx.Err() == nil) {
			t.Fatalf("receive (%d of %d so far): %v", len(out), want, err)
		}
		for _, m := range msgs {
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatalf("complete %s: %v", m.MessageID, err)
			}
		}
		out = append(out, msgs...)
		if want < 0 && len(msgs) == 0 {
			break
		}
	}
	slices.SortStableFunc(out, func(x, y *azservicebus.ReceivedMessage) int {
		return cmp.Compare(seq(x), seq(y))
	})
	return out
}

func seq(m *azservicebus.ReceivedMessage) int64 {
	if m.SequenceNumber == nil {
		return 0
	}
	return *m.SequenceNumber
}

func (b bus) alerts(t *testing.T) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, m := range b.receive(t) {
		var a alert.Alert
		if err := json.Unmarshal(m.Body, &a); err != nil {
			t.Fatalf("message %s: %v", m.MessageID, err)
		}
		out = append(out, a)
	}
	return out
}

// backends are what the Service Bus tests that need no fault run on: the
// peer always, a real namespace or the emulator when configured.
var backends = []struct {
	name string
	new  func(t *testing.T) bus
}{
	{"peer", func(t *testing.T) bus { return peerBus(t, sbpeer.Options{}) }},
	{"external", externalBus},
}

func TestServiceBusSuite(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.name, func(t *testing.T) {
			sinktest.Run(t, func(t *testing.T) sinktest.Target {
				b := backend.new(t)
				return sinktest.Target{
					Sink:            b.sink(t, nil),
					Delivered:       b.alerts,
					MaxMessageBytes: 256 << 10,
				}
			})
		})
	}
}

// TestServiceBusMessage: the message an alert travels in, without a network.
func TestServiceBusMessage(t *testing.T) {
	a := sinktest.Alert(4, 1)
	m, err := alert.ServiceBusMessage(a)
	if err != nil {
		t.Fatal(err)
	}
	if *m.MessageID != a.ID || *m.Subject != a.RuleID || *m.ContentType != "application/json" {
		t.Fatalf("id %q subject %q content type %q", *m.MessageID, *m.Subject, *m.ContentType)
	}
	var back alert.Alert
	if err := json.Unmarshal(m.Body, &back); err != nil || !sinktest.Equal(back, a) {
		t.Fatalf("body does not round-trip: %v", err)
	}
	want := map[string]any{
		"severity":      a.Severity,
		"severity_rank": int32(alert.Rank(a.Severity)),
		"rule_id":       a.RuleID,
		"techniques":    "T1110.003,T1078.004",
		"tactics":       "credential-access",
		"source_type":   "signinlogs",
		"subscription":  "6f2c1d2e-0000-4000-8000-000000000001",
	}
	if fmt.Sprint(m.ApplicationProperties) != fmt.Sprint(want) {
		t.Fatalf("application properties\n got %v\nwant %v", m.ApplicationProperties, want)
	}
	bare := alert.Alert{ID: "x", RuleID: "r", Severity: "low"}
	m, _ = alert.ServiceBusMessage(bare)
	for _, k := range []string{"techniques", "tactics", "subscription"} {
		if _, ok := m.ApplicationProperties[k]; ok {
			t.Errorf("empty %s sent as a property", k)
		}
	}
}

// TestServiceBusPropertiesArrive: what a subscriber's filter sees, read
// back through the real client.
func TestServiceBusPropertiesArrive(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.name, func(t *testing.T) { testPropertiesArrive(t, backend.new(t)) })
	}
}

func testPropertiesArrive(t *testing.T, b bus) {
	s := b.sink(t, nil)
	defer s.Close()
	a := sinktest.Alert(9, 1)
	if err := s.Publish(context.Background(), []alert.Alert{a}); err != nil {
		t.Fatal(err)
	}
	msgs := b.receive(t)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages", len(msgs))
	}
	m := msgs[0]
	if m.MessageID != a.ID || m.Subject == nil || *m.Subject != a.RuleID || m.ContentType == nil || *m.ContentType != alert.ContentType {
		t.Fatalf("message id %q subject %v content type %v", m.MessageID, m.Subject, m.ContentType)
	}
	p := m.ApplicationProperties
	if p["severity"] != a.Severity || p["rule_id"] != a.RuleID || p["techniques"] != "T1110.003,T1078.004" ||
		p["source_type"] != "signinlogs" || p["subscription"] != a.Entities.Subscriptions[0] ||
		fmt.Sprint(p["severity_rank"]) != fmt.Sprint(alert.Rank(a.Severity)) {
		t.Fatalf("application properties %v", p)
	}
}

// TestServiceBusSplitsBatches: with a small max message size on the link,
// one Publish sends several batches and every alert arrives once, in order.
func TestServiceBusSplitsBatches(t *testing.T) {
	t.Run("peer", func(t *testing.T) {
		// The link reports 16 KB: the batches follow it.
		b := peerBus(t, sbpeer.Options{MaxMessageSize: 16 << 10})
		testSplitsBatches(t, b, b.sink(t, nil))
	})
	t.Run("external", func(t *testing.T) {
		b := externalBus(t)
		s, err := alert.NewServiceBus(b.client, alert.ServiceBusOptions{Entity: b.entity, MaxBatchBytes: 16 << 10})
		if err != nil {
			t.Fatal(err)
		}
		testSplitsBatches(t, b, s)
	})
}

func testSplitsBatches(t *testing.T, b bus, s *alert.ServiceBus) {
	defer s.Close()
	want := sinktest.Alerts(40, 3) // about 2 KB each: 80 KB
	if err := s.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if b.peer != nil {
		st, err := b.peer.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Transfers < 5 {
			t.Fatalf("%d transfers for 80 KB through 16 KB batches", st.Transfers)
		}
	}
	got := b.alerts(t)
	if len(got) != len(want) {
		t.Fatalf("received %d alerts, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("alert %d is %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
}

// TestServiceBusRedeliveryIsADuplicate: the host redelivers a batch whose
// alerts were already sent (the invocation failed later), or the client
// retries a send whose acknowledgement was lost: the message ids are the
// alerts' ids, so Service Bus keeps one copy.
func TestServiceBusRedeliveryIsADuplicate(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.name, func(t *testing.T) { testRedeliveryIsADuplicate(t, backend.new(t)) })
	}
}

func testRedeliveryIsADuplicate(t *testing.T, b bus) {
	s := b.sink(t, nil)
	defer s.Close()
	ctx := context.Background()
	want := sinktest.Alerts(5, 1)
	if err := s.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, want); err != nil { // the redelivered batch
		t.Fatal(err)
	}
	more := sinktest.Alerts(8, 1)[5:]
	if b.peer != nil {
		if err := b.peer.CloseAfterStore(1); err != nil { // stored, ack lost, SDK retries
			t.Fatal(err)
		}
	}
	if err := s.Publish(ctx, more); err != nil {
		t.Fatalf("publish through a lost acknowledgement: %v", err)
	}
	if b.peer != nil {
		if st, _ := b.peer.Stats(); st.Duplicates != 5+3 {
			t.Errorf("peer dropped %d duplicates, want 8", st.Duplicates)
		}
	}
	got := b.alerts(t)
	seen := map[string]int{}
	for _, a := range got {
		seen[a.ID]++
	}
	if len(got) != 8 || len(seen) != 8 {
		t.Fatalf("received %d alerts (%d distinct), want 8 once each", len(got), len(seen))
	}
}

// TestServiceBusFailureFailsThePublish: when the namespace cannot be
// reached after the SDK's retries, Publish fails (so the invocation does
// and the host redelivers) and says which alerts were not delivered.
func TestServiceBusFailureFailsThePublish(t *testing.T) {
	tests := []struct {
		name  string
		fault func(p *sbpeer.Peer) error
	}{
		{"namespace down", (*sbpeer.Peer).Down},
		{"busy beyond retries", func(p *sbpeer.Peer) error { return p.Busy(100) }},
		{"link refused", func(p *sbpeer.Peer) error { return p.Refuse("amqp:unauthorized-access") }},
		{"connection drops every send", func(p *sbpeer.Peer) error { return p.CloseMidSend(100) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := peerBus(t, sbpeer.Options{})
			s := b.sink(t, nil)
			defer s.Close()
			if err := tc.fault(b.peer); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			alerts := sinktest.Alerts(3, 1)
			err := s.Publish(ctx, alerts)
			var u *alert.UndeliveredError
			if !errors.As(err, &u) || len(u.Alerts) != 3 {
				t.Fatalf("publish: %v, want an *UndeliveredError with 3 alerts", err)
			}
			if held, _ := b.peer.Messages(b.entity); len(held) != 0 {
				t.Fatalf("peer holds %d messages after a failed publish", len(held))
			}
		})
	}
}

// TestServiceBusOutageMidInvocation: the peer stops after the first batch
// of an invocation. The publish fails, the outbox keeps the alerts that
// were not sent, the host redelivers the batch while the peer is still
// down (kept again, idempotently), the peer comes back, the timer flushes
// the outbox, the host's last redelivery succeeds: every alert arrives
// exactly once.
func TestServiceBusOutageMidInvocation(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testOutageMidInvocation(t, st.new(t)) })
	}
}

func testOutageMidInvocation(t *testing.T, store state.Store) {
	b := peerBus(t, sbpeer.Options{MaxMessageSize: 16 << 10})
	var logs bytes.Buffer
	sb := b.sink(t, &logs)
	out, err := alert.NewOutbox(store, sb, alert.OutboxOptions{Table: uniqueTable(), Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx := context.Background()
	want := sinktest.Alerts(30, 3) // several 16 KB batches

	if err := b.peer.DownAfter(1); err != nil {
		t.Fatal(err)
	}
	err = out.Publish(ctx, want)
	var u *alert.UndeliveredError
	// Usually the first batch is acknowledged before the peer goes down;
	// when the acknowledgement itself is lost, every alert counts as
	// undelivered (and the first batch arrives twice under the same
	// message ids, which duplicate detection drops). Either is right.
	if !errors.As(err, &u) || len(u.Alerts) == 0 {
		t.Fatalf("publish across the outage: %v; want alerts undelivered", err)
	}
	kept, err := out.Len(ctx)
	if err != nil || kept != len(u.Alerts) {
		t.Fatalf("outbox holds %d (%v), want the %d undelivered", kept, err, len(u.Alerts))
	}
	if err := out.Publish(ctx, want); err == nil { // host retry, still down
		t.Fatal("publish while the peer is down succeeded")
	}
	if kept2, _ := out.Len(ctx); kept2 != len(want) {
		t.Fatalf("outbox holds %d after the retry while down, want %d", kept2, len(want))
	}
	if n, err := out.Flush(ctx); err == nil || n != 0 {
		t.Fatalf("flush while down: %d, %v", n, err)
	}

	if err := b.peer.Up(); err != nil {
		t.Fatal(err)
	}
	n, err := out.Flush(ctx)
	if err != nil || n != len(want) {
		t.Fatalf("flush when back: %d, %v; want %d", n, err, len(want))
	}
	if left, _ := out.Len(ctx); left != 0 {
		t.Fatalf("outbox still holds %d", left)
	}
	if err := out.Publish(ctx, want); err != nil { // the host's next redelivery
		t.Fatalf("publish when back: %v", err)
	}

	got := b.alerts(t)
	seen := map[string]int{}
	for _, a := range got {
		seen[a.ID]++
	}
	for _, a := range want {
		if seen[a.ID] != 1 {
			t.Errorf("alert %s received %d time(s)", a.ID, seen[a.ID])
		}
	}
	if len(got) != len(want) {
		t.Errorf("received %d alerts, want %d", len(got), len(want))
	}
	assertNoSecret(t, logs.String())
}

// TestServiceBusLogsNoSecret: the sink's log, the SDK's own log (with a
// listener, as AZURE_SDK_GO_LOGGING would set) and every error, across a
// handshake, a send and a failure, never hold the key or a SAS token.
func TestServiceBusLogsNoSecret(t *testing.T) {
	var mu sync.Mutex
	var logs bytes.Buffer
	azlog.SetListener(func(_ azlog.Event, msg string) {
		mu.Lock()
		defer mu.Unlock()
		logs.WriteString(msg + "\n")
	})
	t.Cleanup(func() { azlog.SetListener(nil) })

	b := peerBus(t, sbpeer.Options{})
	var sinkLog bytes.Buffer
	s := b.sink(t, &sinkLog)
	defer s.Close()
	ctx := context.Background()
	if err := s.Publish(ctx, sinktest.Alerts(2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.peer.Down(); err != nil {
		t.Fatal(err)
	}
	err := s.Publish(ctx, sinktest.Alerts(3, 1)[2:])
	if err == nil {
		t.Fatal("publish to a stopped peer succeeded")
	}
	mu.Lock()
	all := logs.String() + sinkLog.String() + err.Error()
	mu.Unlock()
	if st, _ := b.peer.Stats(); st.Tokens == 0 {
		t.Fatal("no put-token seen: the test did not exercise the handshake")
	}
	assertNoSecret(t, all)
}

func assertNoSecret(t *testing.T, text string) {
	t.Helper()
	text = strings.ReplaceAll(text, "sig=REDACTED", "")
	for _, secret := range []string{peerKey, "SharedAccessSignature sr=", "sig="} {
		if strings.Contains(text, secret) {
			i := strings.Index(text, secret)
			t.Fatalf("log or error holds a secret (%q) near %q", secret, text[max(0, i-80):min(len(text), i+80)])
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc+/=;EntityPath=alerts",
			"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=REDACTED;EntityPath=alerts"},
		{"token SharedAccessSignature sr=amqp%3A%2F%2Fns%2Falerts&sig=AbC%2Bd&se=1763900000&skn=send failed",
			"token SharedAccessSignature REDACTED failed"},
		{"Endpoint=sb://x/;SharedAccessSignature=SharedAccessSignature sr=a&sig=b&se=1",
			"Endpoint=sb://x/;SharedAccessSignature=REDACTED"},
		{"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==;EndpointSuffix=core.windows.net",
			"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=REDACTED;EndpointSuffix=core.windows.net"},
		{"https://a.blob.core.windows.net/c?sv=2022&sig=xyz%3D&se=1", "https://a.blob.core.windows.net/c?sv=2022&sig=REDACTED&se=1"},
		{"nothing secret here", "nothing secret here"},
	}
	for _, tc := range tests {
		if got := alert.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}
