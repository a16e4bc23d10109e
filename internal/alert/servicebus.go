package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/rs/zerolog"
)

// Application properties every alert message carries, so that topic
// subscriptions can filter (SQL filter: severity_rank >= 4 AND
// techniques LIKE '%T1110%').
const (
	PropSeverity     = "severity"      // informational .. critical
	PropSeverityRank = "severity_rank" // 1 (informational) .. 5 (critical)
	PropRuleID       = "rule_id"
	PropTechniques   = "techniques"   // ATT&CK technique ids, comma-separated
	PropTactics      = "tactics"      // ATT&CK tactic names, comma-separated
	PropSourceType   = "source_type"  // the log source (activitylogs, signinlogs, ...)
	PropSubscription = "subscription" // Azure subscription id(s), comma-separated
	PropTruncated    = "truncated"    // true when evidence or entities were cut to fit
)

// ContentType is the content type of alert messages: the body is the alert
// as JSON, the same document the JSON-lines sinks write.
const ContentType = "application/json"

// ServiceBusOptions configure a ServiceBus sink.
type ServiceBusOptions struct {
	// Entity is the queue or topic alerts are sent to.
	Entity string
	// MaxBatchBytes caps one message batch; 0 takes what the link reports
	// (256 KiB on Standard, up to 100 MiB on Premium).
	MaxBatchBytes uint64
	// Logger receives one line per batch sent (debug) and per alert cut to
	// fit (warn).
	Logger zerolog.Logger
}

// ServiceBus sends alerts to a Service Bus queue or topic: one message per
// alert whose message id is the alert's deterministic id, so that the
// entity's duplicate detection drops a retried send; as few message
// batches as fit. It closes its sender, not the client it was given.
type ServiceBus struct {
	sender   *azservicebus.Sender
	entity   string
	maxBatch uint64
	log      zerolog.Logger
}

// NewServiceBus builds a sink on a ready client. No I/O happens until the
// first Publish.
func NewServiceBus(client *azservicebus.Client, opts ServiceBusOptions) (*ServiceBus, error) {
	if client == nil {
		return nil, errors.New("service bus sink: no client")
	}
	if strings.TrimSpace(opts.Entity) == "" {
		return nil, errors.New("service bus sink: no entity (queue or topic)")
	}
	sender, err := client.NewSender(opts.Entity, nil)
	if err != nil {
		return nil, fmt.Errorf("service bus sender for %s: %w", opts.Entity, redacted(err))
	}
	return &ServiceBus{
		sender:   sender,
		entity:   opts.Entity,
		maxBatch: opts.MaxBatchBytes,
		log:      opts.Logger.With().Str("component", "servicebus").Str("entity", opts.Entity).Logger(),
	}, nil
}

// Publish implements Sink. It returns once Service Bus accepted every
// batch. When a batch fails after the SDK's retries, the error is an
// *UndeliveredError holding that batch's alerts and every later one; the
// earlier batches were delivered (and are dropped as duplicates if sent
// again).
func (s *ServiceBus) Publish(ctx context.Context, alerts []Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	batch, err := s.newBatch(ctx)
	if err != nil {
		return undelivered(alerts, fmt.Errorf("new message batch for %s: %w", s.entity, err))
	}
	first := 0 // index of the first alert in batch
	batches := 0
	for i := range alerts {
		msg, err := ServiceBusMessage(alerts[i])
		if err != nil {
			return undelivered(alerts[first:], err)
		}
		err = batch.AddMessage(msg, nil)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) && batch.NumMessages() > 0 {
			// The batch is full: send it and start the next with this alert.
			if err := s.send(ctx, batch, alerts[first:i]); err != nil {
				return undelivered(alerts[first:], err)
			}
			batches++
			first = i
			if batch, err = s.newBatch(ctx); err != nil {
				return undelivered(alerts[first:], fmt.Errorf("new message batch for %s: %w", s.entity, err))
			}
			err = batch.AddMessage(msg, nil)
		}
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			// Alone too large for a batch: cut its evidence and entities.
			err = s.addTrimmed(batch, alerts[i])
		}
		if err != nil {
			return undelivered(alerts[first:], fmt.Errorf("add alert %s to batch: %w", alerts[i].ID, err))
		}
	}
	if err := s.send(ctx, batch, alerts[first:]); err != nil {
		return undelivered(alerts[first:], err)
	}
	batches++
	s.log.Debug().Int("alerts", len(alerts)).Int("batches", batches).Msg("alerts sent")
	return nil
}

func (s *ServiceBus) newBatch(ctx context.Context) (*azservicebus.MessageBatch, error) {
	var opts *azservicebus.MessageBatchOptions
	if s.maxBatch > 0 {
		opts = &azservicebus.MessageBatchOptions{MaxBytes: s.maxBatch}
	}
	b, err := s.sender.NewMessageBatch(ctx, opts)
	return b, redacted(err)
}

func (s *ServiceBus) send(ctx context.Context, batch *azservicebus.MessageBatch, alerts []Alert) error {
	if err := s.sender.SendMessageBatch(ctx, batch, nil); err != nil {
		return fmt.Errorf("send %d alert(s) to %s: %w", len(alerts), s.entity, redacted(err))
	}
	return nil
}

// addTrimmed halves the alert's evidence, then its entity lists, until its
// message fits an empty batch. Every message keeps the alert's id, rule,
// severity and summary.
func (s *ServiceBus) addTrimmed(batch *azservicebus.MessageBatch, a Alert) error {
	t := a
	t.Evidence = append([]Evidence(nil), a.Evidence...)
	t.Entities = Entities{
		Users: a.Entities.Users, IPs: a.Entities.IPs, Resources: a.Entities.Resources,
		Subscriptions: a.Entities.Subscriptions, Apps: a.Entities.Apps,
	}
	for {
		if !shrink(&t) {
			return fmt.Errorf("alert %s: %w even without evidence and entities", a.ID, azservicebus.ErrMessageTooLarge)
		}
		msg, err := ServiceBusMessage(t)
		if err != nil {
			return err
		}
		msg.ApplicationProperties[PropTruncated] = true
		err = batch.AddMessage(msg, nil)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			continue
		}
		if err == nil {
			s.log.Warn().Str("rule_id", a.RuleID).Str("alert_id", a.ID).
				Int("evidence", len(t.Evidence)).Int("evidence_dropped", len(a.Evidence)-len(t.Evidence)).
				Msg("alert larger than a Service Bus message: evidence and entities cut")
		}
		return err
	}
}

// shrink halves the evidence, or when there is none the longest entity
// list; false when nothing is left to cut.
func shrink(a *Alert) bool {
	if n := len(a.Evidence); n > 0 {
		a.Evidence = a.Evidence[:n/2]
		return true
	}
	lists := []*[]string{&a.Entities.Users, &a.Entities.IPs, &a.Entities.Resources, &a.Entities.Apps, &a.Entities.Subscriptions}
	var longest *[]string
	for _, l := range lists {
		if longest == nil || len(*l) > len(*longest) {
			longest = l
		}
	}
	if len(*longest) == 0 {
		return false
	}
	*longest = (*longest)[:len(*longest)/2]
	return true
}

// Close implements Sink: it closes the sender (not the client).
func (s *ServiceBus) Close() error {
	// Close has no caller context (Sink.Close); bound it instead.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sender.Close(ctx); err != nil {
		return fmt.Errorf("close service bus sender for %s: %w", s.entity, redacted(err))
	}
	return nil
}

// ServiceBusMessage is the Service Bus message an alert travels in: body the alert as
// JSON, message id the alert id, subject the rule id, and the application
// properties subscriptions filter on. Pure: tested without a network.
func ServiceBusMessage(a Alert) (*azservicebus.Message, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	id, subject, contentType := a.ID, a.RuleID, ContentType
	props := map[string]any{
		PropSeverity:     a.Severity,
		PropSeverityRank: int32(Rank(a.Severity)),
		PropRuleID:       a.RuleID,
		PropSourceType:   a.SourceType,
	}
	// Service Bus properties are scalars; lists travel comma-separated and
	// are filtered with LIKE. Empty lists are left out (IS NULL filters).
	if len(a.Techniques) > 0 {
		props[PropTechniques] = strings.Join(a.Techniques, ",")
	}
	if len(a.Tactics) > 0 {
		props[PropTactics] = strings.Join(a.Tactics, ",")
	}
	if len(a.Entities.Subscriptions) > 0 {
		props[PropSubscription] = strings.Join(a.Entities.Subscriptions, ",")
	}
	return &azservicebus.Message{
		MessageID:             &id,
		Subject:               &subject,
		ContentType:           &contentType,
		Body:                  body,
		ApplicationProperties: props,
	}, nil
}

// UndeliveredError reports the alerts a sink could not deliver; the others
// of the same Publish were delivered. It is what an outbox keeps.
type UndeliveredError struct {
	Alerts []Alert
	Err    error
}

func (e *UndeliveredError) Error() string {
	return fmt.Sprintf("%d alert(s) not delivered: %v", len(e.Alerts), e.Err)
}

func (e *UndeliveredError) Unwrap() error { return e.Err }

func undelivered(alerts []Alert, err error) error {
	return &UndeliveredError{Alerts: append([]Alert(nil), alerts...), Err: err}
}

// Secrets that may appear in connection strings, SAS tokens and URLs.
var secretPatterns = []*regexp.Regexp{
	// SharedAccessKey=...; SharedAccessSignature=[SharedAccessSignature ]...; AccountKey=...
	regexp.MustCompile(`(?i)((?:SharedAccessKey|SharedAccessSignature|AccountKey)\s*=\s*)(?:SharedAccessSignature\s+)?[^;\s"']+`),
	// A bare SAS token: SharedAccessSignature sr=...&sig=...&se=...&skn=...
	regexp.MustCompile(`(?i)(SharedAccessSignature\s+)[^;\s"']+`),
	// A SAS query string: ?sv=...&sig=...
	regexp.MustCompile(`(?i)([?&;]sig=)[^&;\s"']+`),
}

// Redact replaces secrets in s (shared access keys and signatures, account
// keys) with REDACTED; the rest (endpoints, key names) stays readable.
func Redact(s string) string {
	for _, re := range secretPatterns {
		s = re.ReplaceAllString(s, "${1}REDACTED")
	}
	return s
}

// redactedError keeps an error's chain (errors.As still finds SDK errors)
// while its text never carries a secret.
type redactedError struct{ err error }

func (e redactedError) Error() string { return Redact(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

func redacted(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}

var _ Sink = (*ServiceBus)(nil)
