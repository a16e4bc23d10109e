package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/report"
)

// runAlerts is `azdetect alerts tail`: the example of how users consume
// azdetect's alerts from Service Bus. It receives from the queue, or from
// a subscription of the topic, prints each alert and completes its message
// once printed (peek-lock: a tail that dies before printing leaves the
// message for the next reader).
func runAlerts(ctx context.Context, s config.Settings, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && helpRequested(args[:1]) {
		printHelp(stdout, "alerts", nil)
		return exitOK
	}
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprintln(stderr, "azdetect alerts: want a subcommand: tail (azdetect help alerts)")
		return exitUsage
	}
	fset := flag.NewFlagSet("alerts tail", flag.ContinueOnError)
	entity := fset.String("entity", s.ServicebusEntity, "queue or topic to receive from")
	subscription := fset.String("subscription", s.ServicebusSubscription, "topic subscription to receive from (empty: the entity is a queue)")
	format := fset.String("format", defaultFormat(stdout), "output: table or json (one alert per line)")
	count := fset.Int("count", 0, "stop after this many alerts (0: run until interrupted)")
	idle := durationVar(fset, "idle", 0, "stop after this `duration` with no alert (0: wait for ever)")
	if code, stop := parseFlags(fset, args[1:], stdout, stderr); stop {
		return code
	}
	switch {
	case fset.NArg() > 0:
		fmt.Fprintf(stderr, "azdetect alerts tail: unexpected arguments %q\n", fset.Args())
		return exitUsage
	case *format != "table" && *format != "json":
		fmt.Fprintf(stderr, "azdetect alerts tail: --format %q: want table or json\n", *format)
		return exitUsage
	case strings.TrimSpace(*entity) == "":
		fmt.Fprintln(stderr, "azdetect alerts tail: no entity: set AZDETECT_SERVICEBUS_ENTITY or --entity")
		return exitUsage
	case *count < 0 || *idle < 0:
		fmt.Fprintln(stderr, "azdetect alerts tail: --count and --idle must not be negative")
		return exitUsage
	}
	client, err := servicebusClient(s)
	if err != nil {
		fmt.Fprintf(stderr, "azdetect alerts tail: %v\n", err)
		return exitUsage
	}
	defer closeClient(client)

	t := tail{out: stdout, format: *format, count: *count, idle: *idle}
	from := *entity
	if *subscription != "" {
		from += "/Subscriptions/" + *subscription
	}
	if err := t.run(ctx, client, *entity, *subscription); err != nil {
		fmt.Fprintf(stderr, "azdetect alerts tail %s: %s\n", from, alert.Redact(err.Error()))
		var sbErr *azservicebus.Error
		if *subscription == "" && errors.As(err, &sbErr) && sbErr.Code == azservicebus.CodeNotFound {
			fmt.Fprintln(stderr, "azdetect alerts tail: no such queue; if the entity is a topic, name one of its subscriptions with --subscription")
		}
		return exitFailure
	}
	fmt.Fprintf(stderr, "azdetect alerts tail %s: %d alert(s)\n", from, t.printed)
	return exitOK
}

type tail struct {
	out     io.Writer
	format  string
	count   int
	idle    time.Duration
	printed int
	table   *report.Stream
}

func (t *tail) run(ctx context.Context, client *azservicebus.Client, entity, subscription string) error {
	var r *azservicebus.Receiver
	var err error
	if subscription != "" {
		r, err = client.NewReceiverForSubscription(entity, subscription, nil)
	} else {
		r, err = client.NewReceiverForQueue(entity, nil)
	}
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = r.Close(cctx)
	}()
	// Reach the entity before waiting on it: a namespace or entity that
	// cannot be reached is an error, whatever --idle says, never a quiet
	// queue.
	if err := reach(ctx, r, max(t.idle, reachTimeout)); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted
		}
		return err
	}
	for t.count == 0 || t.printed < t.count {
		want := 50
		if t.count > 0 {
			want = min(want, t.count-t.printed)
		}
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if t.idle > 0 {
			rctx, cancel = context.WithTimeout(ctx, t.idle)
		}
		msgs, err := r.ReceiveMessages(rctx, want, nil)
		idle := rctx.Err() != nil && ctx.Err() == nil
		cancel()
		for _, m := range msgs {
			if err := t.handle(ctx, r, m); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted: the message is redelivered
				}
				return err
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil // interrupted: a normal end of a tail
		case idle && len(msgs) == 0:
			return nil // nothing arrived for --idle
		case err != nil && !idle:
			return err
		}
	}
	return nil
}

// reachTimeout bounds the first contact with the entity (the client's own
// retries included) when --idle is shorter.
const reachTimeout = 30 * time.Second

// reach peeks at the entity (one message, not locked): a connection that
// fails, an entity not found, access refused or no answer within limit is
// an error.
func reach(ctx context.Context, r *azservicebus.Receiver, limit time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	_, err := r.PeekMessages(pctx, 1, nil)
	if err == nil {
		return nil
	}
	if pctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("cannot reach the entity within %s: %w", limit, err)
	}
	return fmt.Errorf("cannot reach the entity: %w", err)
}

// handle prints one message's alert and completes the message; a message
// that is not an alert is dead-lettered with the reason.
func (t *tail) handle(ctx context.Context, r *azservicebus.Receiver, m *azservicebus.ReceivedMessage) error {
	var a alert.Alert
	if err := json.Unmarshal(m.Body, &a); err != nil || a.ID == "" {
		reason := "not an azdetect alert"
		desc := fmt.Sprintf("message %s: body is not an alert", m.MessageID)
		if err != nil {
			desc = fmt.Sprintf("message %s: %v", m.MessageID, err)
		}
		return r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc})
	}
	if err := t.print(a); err != nil {
		return err
	}
	t.printed++
	return r.CompleteMessage(ctx, m, nil)
}

func (t *tail) print(a alert.Alert) error {
	if t.format == "json" {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(t.out, "%s\n", b)
		return err
	}
	// One row per alert as it arrives: the scan table's columns, fixed
	// once for the terminal's width, without re-sorting what was printed.
	if t.table == nil {
		t.table = report.NewStream(t.out, termWidth(t.out))
	}
	return t.table.Write(a)
}
