package sbpeer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"

	"github.com/azdetect/azdetect/internal/alert/sbpeer"
)

func newClient(t *testing.T, p *sbpeer.Peer) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(p.ConnectionString(), &azservicebus.ClientOptions{
		RetryOptions: azservicebus.RetryOptions{MaxRetries: 2, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// TestPeerServesTheRealClient sends one message and a batch through the
// real client, then receives and completes them.
func TestPeerServesTheRealClient(t *testing.T) {
	p := sbpeer.StartT(t, sbpeer.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t, p)

	s, err := c.NewSender("alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if err := s.SendMessage(ctx, &azservicebus.Message{MessageID: to.Ptr("one"), Body: []byte(`{"n":1}`)}, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	b, err := s.NewMessageBatch(ctx, nil)
	if err != nil {
		t.Fatalf("new batch: %v", err)
	}
	for i := 2; i <= 4; i++ {
		m := &azservicebus.Message{
			MessageID:             to.Ptr(fmt.Sprint(i)),
			Body:                  []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Subject:               to.Ptr("rule"),
			ApplicationProperties: map[string]any{"severity": "high"},
		}
		if err := b.AddMessage(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendMessageBatch(ctx, b, nil); err != nil {
		t.Fatalf("send batch: %v", err)
	}
	// The same id again: duplicate detection drops it.
	if err := s.SendMessage(ctx, &azservicebus.Message{MessageID: to.Ptr("one"), Body: []byte(`{"n":1}`)}, nil); err != nil {
		t.Fatalf("send duplicate: %v", err)
	}
	held, err := p.Messages("alerts")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 4 || held[1].Subject != "rule" || held[1].ApplicationProperties["severity"] != "high" {
		t.Fatalf("peer holds %+v", held)
	}

	r, err := c.NewReceiverForQueue("alerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	var got []string
	for len(got) < 4 {
		msgs, err := r.ReceiveMessages(ctx, 10, nil)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range msgs {
			got = append(got, m.MessageID)
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatalf("complete %s: %v", m.MessageID, err)
			}
		}
	}
	if fmt.Sprint(got) != "[one 2 3 4]" {
		t.Fatalf("received %v", got)
	}
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Duplicates != 1 || st.Completed != 4 || st.Tokens == 0 {
		t.Fatalf("stats %+v", st)
	}
	held, _ = p.Messages("alerts")
	if len(held) != 0 {
		t.Fatalf("completed messages still held: %+v", held)
	}
}

// TestPeerFaults shows each fault as the client sees it.
func TestPeerFaults(t *testing.T) {
	p := sbpeer.StartT(t, sbpeer.Options{})
	c := newClient(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := c.NewSender("faults", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	send := func(id string) error {
		return s.SendMessage(ctx, &azservicebus.Message{MessageID: to.Ptr(id), Body: []byte("{}")}, nil)
	}

	// Busy once: the client retries and succeeds.
	if err := p.Busy(1); err != nil {
		t.Fatal(err)
	}
	if err := send("busy"); err != nil {
		t.Fatalf("busy once: %v", err)
	}
	// Stored, then the connection drops before the ack: the retry is a
	// duplicate the peer drops.
	if err := p.CloseAfterStore(1); err != nil {
		t.Fatal(err)
	}
	if err := send("after-store"); err != nil {
		t.Fatalf("close after store: %v", err)
	}
	// Dropped before storing: the retry stores it.
	if err := p.CloseMidSend(1); err != nil {
		t.Fatal(err)
	}
	if err := send("mid-send"); err != nil {
		t.Fatalf("close mid send: %v", err)
	}
	held, err := p.Messages("faults")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 3 {
		t.Fatalf("peer holds %d messages, want 3: %+v", len(held), held)
	}
	st, _ := p.Stats()
	if st.Busy != 1 || st.Duplicates != 1 || st.ClosedMidSend != 1 || st.ClosedAfterStore != 1 {
		t.Fatalf("stats %+v", st)
	}

	// Down: the send fails after the client's retries.
	if err := p.Down(); err != nil {
		t.Fatal(err)
	}
	if err := send("down"); err == nil {
		t.Fatal("send to a peer that is down succeeded")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if err := send("up"); err != nil {
		t.Fatalf("send after up: %v", err)
	}

	// Refused links with a fatal condition fail at once.
	if err := p.Refuse("amqp:not-found"); err != nil {
		t.Fatal(err)
	}
	s2, err := c.NewSender("refused", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s2.SendMessage(ctx, &azservicebus.Message{Body: []byte("{}")}, nil)
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Condition != amqp.ErrCondNotFound {
		t.Fatalf("refused link: %v", err)
	}
}

// TestPeerSASLPlain: a plain AMQP client (go-amqp) authenticating with
// SASL PLAIN sends to a queue and receives it back; the peer records the
// mechanism.
func TestPeerSASLPlain(t *testing.T) {
	p := sbpeer.StartT(t, sbpeer.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, fmt.Sprintf("amqp://127.0.0.1:%d", p.Port()), &amqp.ConnOptions{
		SASLType: amqp.SASLTypePlain("RootManageSharedAccessKey", "SAS_KEY_VALUE"),
	})
	if err != nil {
		t.Fatalf("dial with PLAIN: %v", err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, &amqp.Message{Properties: &amqp.MessageProperties{MessageID: "p1"}, Data: [][]byte{[]byte("hi")}}, nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	rcv, err := sess.NewReceiver(ctx, "plain", &amqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if string(m.GetData()) != "hi" {
		t.Fatalf("received %q", m.GetData())
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatalf("accept: %v", err)
	}
	// Settle mode first: AcceptMessage does not wait for the peer.
	var st sbpeer.Stats
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = p.Stats(); err != nil || st.Completed == 1 {
			break
		}
	}
	if st.SASLPlain != 1 || st.SASLAnonymous != 0 || st.Completed != 1 {
		t.Fatalf("stats %+v", st)
	}
}
