package alert

import (
	"context"
	"errors"
	"fmt"
)

// Sink delivers alerts. Publish returns only after the alerts are
// acknowledged (written, flushed, accepted by the broker): the invocation
// answers the host only then, so a failed publish makes the host retry.
type Sink interface {
	Publish(ctx context.Context, alerts []Alert) error
	Close() error
}

// Filtered pairs a sink with the lowest severity it takes.
type Filtered struct {
	Sink        Sink
	MinSeverity string
	Name        string
}

// Fanout calls each sink in order, synchronously, with the alerts at or
// above that sink's minimum severity, and joins their errors.
type Fanout []Filtered

// Publish implements Sink.
func (f Fanout) Publish(ctx context.Context, alerts []Alert) error {
	var errs []error
	for _, s := range f {
		sel := alerts
		if s.MinSeverity != "" {
			sel = atLeast(alerts, s.MinSeverity)
		}
		if len(sel) == 0 {
			continue
		}
		if err := s.Sink.Publish(ctx, sel); err != nil {
			errs = append(errs, fmt.Errorf("publish to %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// atLeast returns the alerts of at least severity least, in order: alerts
// itself when every one is (a scan's output at --min-severity low: no
// copy of the chunk's alerts per sink), otherwise a copy.
func atLeast(alerts []Alert, least string) []Alert {
	i := 0
	for i < len(alerts) && AtLeast(alerts[i].Severity, least) {
		i++
	}
	if i == len(alerts) {
		return alerts
	}
	sel := make([]Alert, i, len(alerts)-1)
	copy(sel, alerts[:i])
	for _, a := range alerts[i+1:] {
		if AtLeast(a.Severity, least) {
			sel = append(sel, a)
		}
	}
	return sel
}

// Close implements Sink.
func (f Fanout) Close() error {
	var errs []error
	for _, s := range f {
		if err := s.Sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Collector keeps the alerts it is given, in order: the sink of tests and of
// the scan's end-of-run table.
type Collector struct{ Alerts []Alert }

// Publish implements Sink.
func (c *Collector) Publish(_ context.Context, alerts []Alert) error {
	c.Alerts = append(c.Alerts, alerts...)
	return nil
}

// Close implements Sink.
func (c *Collector) Close() error { return nil }

var (
	_ Sink = Fanout(nil)
	_ Sink = (*Collector)(nil)
)
