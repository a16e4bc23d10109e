package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/alert/sbpeer"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
	"github.com/azdetect/azdetect/internal/state"
)

// outageKey is the shared access key of the test's connection string: the
// peer takes any, and this one is easy to look for in the logs.
const outageKey = "0utageTestKey+NeverLogged/4b1f8e2c9d7a6e5f3c2b1a0d9e8f7a6b5c4d3e2f1a0="

// TestServeServiceBusOutageLosesNothing is issue 3's outage criterion:
// with the peer stopped during the invocations, they answer 500 (the host
// retries) and the outbox in the state store keeps their alerts; once the
// peer is back the maintenance timer flushes the outbox and the host's
// redelivery of the same batches answers 200; the entity then holds every
// alert scan raises exactly once and the outbox is empty. Nothing logged
// meanwhile holds the connection string's key.
//
// Both stores (the outbox lives where the state does) and two outages: the
// peer down before the first send, and the peer going down in the middle of
// an invocation whose alerts take several message batches (some delivered,
// the rest kept).
func TestServeServiceBusOutageLosesNothing(t *testing.T) {
	want, _, code := scan(t, "--format", "json", "../testdata/demo")
	if code != exitOK || len(want) == 0 {
		t.Fatalf("scan: exit %d, %d alerts", code, len(want))
	}
	for _, store := range []string{"memory", "table"} {
		for _, outage := range []outage{
			// A few files per invocation: the peer is down when the
			// first one that raises alerts sends them.
			{name: "down", batchEvents: 3, stop: (*sbpeer.Peer).Down},
			// The demo in one invocation whose alerts take several 8 KiB
			// message batches: the peer acknowledges the first, takes
			// the second (its acknowledgement may be lost) and goes down.
			{name: "down-mid-invocation", peer: sbpeer.Options{MaxMessageSize: 8 << 10}, mid: true,
				stop: func(p *sbpeer.Peer) error { return p.DownAfter(2) }},
		} {
			t.Run(store+"/"+outage.name, func(t *testing.T) {
				peer := sbpeer.StartT(t, outage.peer)
				s := outageSettings(t, peer, store)
				testOutage(t, s, peer, outage, want)
			})
		}
	}
}

type outage struct {
	name        string
	peer        sbpeer.Options
	batchEvents int // events per Event Hub invocation (0: replay's default, the demo in one)
	stop        func(*sbpeer.Peer) error
	mid         bool // the peer stores some of the failing invocation's alerts
}

func testOutage(t *testing.T, s config.Settings, peer *sbpeer.Peer, o outage, want []alert.Alert) {
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", logs.String())
		}
	})
	h := startServe(t, s, &logs)
	h.batchEvents = o.batchEvents

	// The outage: the first invocation that raises alerts cannot deliver
	// them all and answers 500; replay, like the host, stops there.
	if err := o.stop(peer); err != nil {
		t.Fatal(err)
	}
	rep, err := h.replay(invoke.FunctionEventHub, "../testdata/demo")
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("replay while Service Bus is down: %v, want a 500", err)
	}
	if n := len(rep.Invocations); n == 0 || rep.Invocations[n-1].Status != 500 {
		t.Fatalf("replay while Service Bus is down: %+v, want the last invocation answered 500", rep.Invocations)
	}
	// A timer tick while it is still down fails too: the flush error is
	// not hidden behind a 200.
	if _, err := h.replay(invoke.FunctionMaintenance); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("maintenance while Service Bus is down: %v, want a 500", err)
	}
	kept := keptInLogs(t, logs.String())
	if kept == 0 {
		t.Fatal("the outbox kept nothing from the failed invocation")
	}
	if o.mid {
		if held, err := peer.Messages("alerts"); err != nil || len(held) == 0 || kept >= len(want) {
			t.Fatalf("the peer holds %d messages (%v) and the outbox kept %d of %d alerts: the outage was not in the middle of the invocation",
				len(held), err, kept, len(want))
		}
	}
	if n := outboxLen(t, s); n >= 0 && n != kept {
		t.Fatalf("the outbox table holds %d alerts, serve logged %d kept", n, kept)
	}
	// Only what the peer holds is marked sent: the redelivery publishes
	// the rest again.
	if s.State == "table" {
		st := tableStore(t, s)
		for _, a := range want {
			k := alert.SuppressionKey(a)
			got, err := st.Get(context.Background(), alert.SuppressionTable, []state.Key{k})
			if err != nil {
				t.Fatal(err)
			}
			if alert.Sent(got[k]) && !peerHolds(t, peer, a.ID) {
				t.Fatalf("alert %s is marked sent but the peer does not hold it", a.ID)
			}
		}
	}

	// The peer is back: the timer flushes the outbox, then the host
	// redelivers the failed batch and goes on with the ones after it
	// (replay sends the ones before it again too: a harder redelivery).
	if err := peer.Up(); err != nil {
		t.Fatal(err)
	}
	rep, err = h.replay(invoke.FunctionMaintenance)
	if err != nil {
		t.Fatalf("maintenance once Service Bus is back: %v", err)
	}
	if n := flushed(t, rep); n != kept {
		t.Fatalf("maintenance flushed %d alerts, the outbox kept %d", n, kept)
	}
	if n := outboxLen(t, s); n > 0 {
		t.Fatalf("outbox holds %d alert(s) after the flush", n)
	}
	if _, err := h.replay(invoke.FunctionEventHub, "../testdata/demo"); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	rep, err = h.replay(invoke.FunctionMaintenance)
	if err != nil {
		t.Fatalf("maintenance after the redelivery: %v", err)
	}
	if n := flushed(t, rep); n != 0 {
		t.Fatalf("maintenance after the redelivery flushed %d alerts: the redelivery kept some", n)
	}
	if n := outboxLen(t, s); n > 0 {
		t.Fatalf("outbox holds %d alert(s) at the end", n)
	}
	h.stop(t)

	assertHeldOnce(t, peer, want)
	st, err := peer.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != len(want) || st.Duplicates == 0 {
		t.Fatalf("peer stored %d messages and dropped %d duplicates; want %d stored and the resends dropped",
			st.Messages, st.Duplicates, len(want))
	}
	t.Logf("%d alerts kept in the outbox, %d messages stored, %d duplicates dropped", kept, st.Messages, st.Duplicates)

	// The consumer's view, through the real client: each alert once.
	if g, w := strings.Join(receiveAll(t, s, len(want)), " "), strings.Join(ids(want), " "); g != w {
		t.Fatalf("received\n%s\nscan raised\n%s", g, w)
	}
	if left, err := peer.Messages("alerts"); err != nil || len(left) != 0 {
		t.Fatalf("the entity still holds %d messages after they were completed (%v)", len(left), err)
	}

	// The outage was logged, and without the key.
	out := logs.String()
	if !strings.Contains(out, "alerts kept in the outbox") || !strings.Contains(out, "invocation failed") {
		t.Fatalf("serve did not log the outage:\n%.3000s", out)
	}
	checkNoKey(t, out)
}

// checkNoKey fails when a log holds the test key, or any
// SharedAccessKey=/SharedAccessSignature value that is not REDACTED.
func checkNoKey(t *testing.T, logs string) {
	t.Helper()
	if strings.Contains(logs, outageKey) || strings.Contains(logs, strings.SplitN(outageKey, "+", 2)[0]) {
		t.Fatalf("serve logged the Service Bus key")
	}
	for _, m := range regexp.MustCompile(`(?i)(SharedAccessKey|SharedAccessSignature|AccountKey|sig)\s*[=\s]\s*([^;\s"'\\&]*)`).FindAllStringSubmatch(logs, -1) {
		if v := m[2]; v != "" && v != "REDACTED" && !strings.EqualFold(m[1], "SharedAccessSignature") {
			t.Errorf("serve logged %s", m[0])
		}
	}
}

// outageSettings are serve's settings with the servicebus sink on peer,
// retrying fast, the state (and so the outbox) in store, which starts
// empty.
func outageSettings(t *testing.T, peer *sbpeer.Peer, store string) config.Settings {
	t.Helper()
	if store == "table" {
		conn := emulator.TableConnectionString(t)
		clearState(t, conn)
		t.Setenv("AZDETECT_STATE", "table")
		t.Setenv("AZDETECT_TABLE_CONNECTION_STRING", conn)
	}
	t.Setenv("AZDETECT_SERVICEBUS_MAX_RETRIES", "1")
	t.Setenv("AZDETECT_SERVICEBUS_RETRY_DELAY", "50ms")
	s := servicebusSettings(t, peer)
	s.ServicebusConnectionString = strings.Replace(peer.ConnectionString(), "SAS_KEY_VALUE", outageKey, 1)
	if store == "table" {
		// Left by an earlier run.
		o, err := alert.NewOutbox(tableStore(t, s), &alert.Collector{}, alert.OutboxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func tableStore(t *testing.T, s config.Settings) state.Store {
	t.Helper()
	st, err := openState(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func peerHolds(t *testing.T, peer *sbpeer.Peer, id string) bool {
	t.Helper()
	held, err := peer.Messages("alerts")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range held {
		if m.MessageID == id {
			return true
		}
	}
	return false
}

// handler is one serve process the test posts invocations to.
type handler struct {
	url         string
	batchEvents int // Event Hub events per invocation (0: replay's default)
	cancel      context.CancelFunc
	done        chan error
}

// startServe runs serve until h.stop (or the end of the test), logging
// every level into logs.
func startServe(t *testing.T, s config.Settings, logs *syncBuffer) *handler {
	t.Helper()
	ctx, cancel := context.WithCancel(zerolog.New(logs).Level(zerolog.TraceLevel).WithContext(context.Background()))
	h := &handler{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { h.done <- serve(ctx, s, os.Stdout, ready) }()
	select {
	case addr := <-ready:
		h.url = "http://" + addr.String()
	case err := <-h.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen")
	}
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *handler) replay(function string, paths ...string) (invoke.ReplayReport, error) {
	return invoke.Replay(context.Background(), invoke.ReplayOptions{
		URL: h.url, Function: function, FunctionsDir: "../functions", Paths: paths,
		MaxBatchEvents: h.batchEvents,
	})
}

func (h *handler) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("serve: %v", err)
	}
}

// outboxLen is how many alerts the table outbox holds; -1 for the memory
// store, which only the process sees.
func outboxLen(t *testing.T, s config.Settings) int {
	t.Helper()
	if s.State != "table" {
		return -1
	}
	o, err := alert.NewOutbox(tableStore(t, s), &alert.Collector{}, alert.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := o.Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// keptInLogs adds up the alerts the outbox logged it kept.
func keptInLogs(t *testing.T, logs string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Message string `json:"message"`
			Alerts  int    `json:"alerts"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "alerts kept in the outbox until the sink is back" {
			n += l.Alerts
		}
	}
	return n
}

// flushed is the count a maintenance answer says the outbox delivered.
func flushed(t *testing.T, rep invoke.ReplayReport) int {
	t.Helper()
	logs := ""
	if len(rep.Invocations) > 0 {
		logs = strings.Join(rep.Invocations[0].Logs, " ")
	}
	m := regexp.MustCompile(`outbox flushed (\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("maintenance answered %q: no outbox count", logs)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestServicebusRetries: the settings' 0 means none, where the SDK's 0
// means its default.
func TestServicebusRetries(t *testing.T) {
	for _, c := range []struct {
		retries int
		delay   time.Duration
		want    azservicebus.RetryOptions
	}{
		{3, 4 * time.Second, azservicebus.RetryOptions{MaxRetries: 3, RetryDelay: 4 * time.Second}},
		{0, 0, azservicebus.RetryOptions{MaxRetries: -1, RetryDelay: -1}},
		{1, 50 * time.Millisecond, azservicebus.RetryOptions{MaxRetries: 1, RetryDelay: 50 * time.Millisecond}},
	} {
		got := servicebusRetries(config.Settings{ServicebusMaxRetries: c.retries, ServicebusRetryDelay: c.delay})
		if got != c.want {
			t.Errorf("retries %d, delay %s: %+v, want %+v", c.retries, c.delay, got, c.want)
		}
	}
	t.Setenv("AZDETECT_ALERT_SINK", "servicebus")
	t.Setenv("AZDETECT_SERVICEBUS_NAMESPACE", "ns.servicebus.windows.net")
	t.Setenv("AZDETECT_SERVICEBUS_MAX_RETRIES", "-1")
	t.Setenv("AZDETECT_SERVICEBUS_RETRY_DELAY", "-1s")
	_, err := config.Load()
	if err == nil || !strings.Contains(err.Error(), "AZDETECT_SERVICEBUS_MAX_RETRIES=-1") || !strings.Contains(err.Error(), "AZDETECT_SERVICEBUS_RETRY_DELAY=-1s") {
		t.Fatalf("negative retries: %v", err)
	}
}

// receiveAll receives and completes what the entity holds with a
// peek-lock receiver of the azservicebus client: want messages, then
// whatever more arrives within half a second. It returns the message ids,
// sorted.
func receiveAll(t *testing.T, s config.Settings, want int) []string {
	t.Helper()
	client, err := servicebusClient(s)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(client)
	r, err := client.NewReceiverForQueue(s.ServicebusEntity, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	var got []string
	for {
		wait := 10 * time.Second
		if len(got) >= want {
			wait = 500 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		msgs, err := r.ReceiveMessages(ctx, 100, nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("receive: %v", err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			got = append(got, m.MessageID)
			if err := r.CompleteMessage(context.Background(), m, nil); err != nil {
				t.Fatalf("complete %s: %v", m.MessageID, err)
			}
		}
	}
	sort.Strings(got)
	return got
}
