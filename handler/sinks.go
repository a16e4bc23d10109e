package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/state"
)

// alertSink builds the configured alert sink behind the minimum severity.
// Closing it closes what it opened (files, the Service Bus client). For
// Service Bus it also returns the outbox, kept in the state store, that
// holds the alerts an outage kept from being sent; the maintenance timer
// flushes it.
func alertSink(ctx context.Context, s config.Settings, stdout io.Writer, store state.Store) (alert.Sink, *alert.Outbox, error) {
	var outbox *alert.Outbox
	var sink alert.Sink
	switch s.AlertSink {
	case "stdout":
		sink = withFault(alert.NewJSONLines(stdout))
	case "jsonl":
		j, err := alert.OpenJSONLines(s.AlertFile)
		if err != nil {
			return nil, nil, err
		}
		sink = withFault(j)
	case "servicebus":
		client, err := servicebusClient(s)
		if err != nil {
			return nil, nil, err
		}
		sb, err := alert.NewServiceBus(client, alert.ServiceBusOptions{
			Entity: s.ServicebusEntity,
			Logger: zerolog.Ctx(ctx).With().Str("component", "servicebus").Logger(),
		})
		if err != nil {
			closeClient(client)
			return nil, nil, err
		}
		outbox, err = alert.NewOutbox(store, withFault(sb), alert.OutboxOptions{Logger: *zerolog.Ctx(ctx)})
		if err != nil {
			closeClient(client)
			return nil, nil, err
		}
		sink = clientSink{Sink: outbox, client: client}
	default:
		return nil, nil, fmt.Errorf("AZDETECT_ALERT_SINK=%q: unknown sink", s.AlertSink)
	}
	return alert.Fanout{{Sink: sink, MinSeverity: s.MinSeverity, Name: s.AlertSink}}, outbox, nil
}

// deadLetters builds where serve keeps malformed and unrecognised records:
// the dead-letter container (AZDETECT_DEADLETTER_CONNECTION_STRING, or
// AZDETECT_DEADLETTER_ACCOUNT_URL with the managed identity), durable
// across scale-in and restarts, else the local file
// AZDETECT_DEAD_LETTER_FILE.
func deadLetters(ctx context.Context, s config.Settings) (alert.DeadLetters, error) {
	conn, accountURL := strings.TrimSpace(s.DeadletterConnectionString), strings.TrimSpace(s.DeadletterAccountURL)
	if conn == "" && accountURL == "" {
		return alert.NewDeadLetterFile(s.DeadLetterFile), nil
	}
	var svc *service.Client
	var err error
	if conn != "" {
		if strings.EqualFold(conn, "UseDevelopmentStorage=true") {
			conn = azuriteBlobConnection
		}
		if svc, err = service.NewClientFromConnectionString(conn, nil); err != nil {
			// The SDK's error can quote the string: do not pass it on.
			return nil, errors.New("AZDETECT_DEADLETTER_CONNECTION_STRING: not a usable Blob Storage connection string (value not shown)")
		}
	} else {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("dead-letter storage credential: %w", err)
		}
		if svc, err = service.NewClient(accountURL, cred, nil); err != nil {
			return nil, fmt.Errorf("AZDETECT_DEADLETTER_ACCOUNT_URL=%s: %w", accountURL, err)
		}
	}
	return alert.NewDeadLetterBlob(svc.NewContainerClient(s.DeadletterContainer), alert.DeadLetterBlobOptions{
		Container: s.DeadletterContainer,
		Instance:  instanceName(),
		Logger:    *zerolog.Ctx(ctx),
	})
}

// instanceName names this process in dead-letter blob names: the Functions
// instance id in Azure, else the host name and process id.
func instanceName() string {
	if id, ok := os.LookupEnv("WEBSITE_INSTANCE_ID"); ok && strings.TrimSpace(id) != "" {
		return id
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// faultSink, set only in the child processes of the crash tests, wraps
// the sink (for Service Bus, inside the outbox) so that the process can
// be killed between a send and what follows it (the suppression mark, the
// outbox write), or a send made slow. Nil in the binary.
var faultSink func(alert.Sink) alert.Sink

func withFault(s alert.Sink) alert.Sink {
	if faultSink == nil {
		return s
	}
	return faultSink(s)
}

// servicebusClient builds the one Service Bus client of the process: from
// the connection string (a shared access policy, or the emulator's), or
// from the namespace with azidentity's default credential (managed
// identity in Azure, the developer's az login locally). Errors never carry
// the connection string.
func servicebusClient(s config.Settings) (*azservicebus.Client, error) {
	opts := &azservicebus.ClientOptions{ApplicationID: "azdetect", RetryOptions: servicebusRetries(s)}
	if conn := strings.TrimSpace(s.ServicebusConnectionString); conn != "" {
		c, err := azservicebus.NewClientFromConnectionString(conn, opts)
		if err != nil {
			return nil, fmt.Errorf("AZDETECT_SERVICEBUS_CONNECTION_STRING (endpoint %q): %s", config.ServicebusEndpoint(conn), alert.Redact(err.Error()))
		}
		return c, nil
	}
	ns := strings.TrimSpace(s.ServicebusNamespace)
	if ns == "" {
		return nil, errors.New("AZDETECT_SERVICEBUS_CONNECTION_STRING or AZDETECT_SERVICEBUS_NAMESPACE must be set for Service Bus")
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("credential for AZDETECT_SERVICEBUS_NAMESPACE=%s: %w", ns, err)
	}
	c, err := azservicebus.NewClient(ns, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("AZDETECT_SERVICEBUS_NAMESPACE=%s: %w", ns, err)
	}
	return c, nil
}

// servicebusRetries maps AZDETECT_SERVICEBUS_MAX_RETRIES and _RETRY_DELAY
// onto the SDK's options, where 0 means "the default" and a negative value
// means none.
func servicebusRetries(s config.Settings) azservicebus.RetryOptions {
	r := azservicebus.RetryOptions{MaxRetries: int32(min(s.ServicebusMaxRetries, math.MaxInt32)), RetryDelay: s.ServicebusRetryDelay}
	if s.ServicebusMaxRetries <= 0 {
		r.MaxRetries = -1
	}
	if s.ServicebusRetryDelay <= 0 {
		r.RetryDelay = -1
	}
	return r
}

func closeClient(c *azservicebus.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Close(ctx)
}

// clientSink closes the client its sink was built on after the sink.
type clientSink struct {
	alert.Sink
	client *azservicebus.Client
}

func (c clientSink) Close() error {
	err := c.Sink.Close()
	if cerr := closeClient(c.client); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close service bus client: %w", cerr))
	}
	return err
}
