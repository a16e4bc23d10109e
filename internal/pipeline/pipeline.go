// Package pipeline is the one data path under both serve and scan: frame
// the records of each input, recognise and parse them, evaluate the rules,
// deduplicate and publish the alerts, keep the malformed records.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/detect"
	"github.com/azdetect/azdetect/internal/event"
	"github.com/azdetect/azdetect/internal/silence"
	"github.com/azdetect/azdetect/internal/source"
)

// chunk is how many parsed events are evaluated together: large enough to
// amortise per-batch work, small enough that a huge file is never held in
// memory whole.
const chunk = 2048

// Options are the parts a Pipeline runs on; all are built by the caller.
type Options struct {
	Registry    *source.Registry
	Engine      *detect.Engine
	Sink        alert.Sink        // where alerts go; required
	DeadLetters alert.DeadLetters // where malformed records go; required
	Deduper     *alert.Deduper    // optional: drops alerts already delivered
	// Suppressor, when set, replaces Deduper: alert suppression kept in a
	// store shared by every instance (Table Storage).
	Suppressor alert.Suppressor
	Now        func() time.Time // optional: clock for dedupe
	// Silence, when set, records which sources arrived in each batch and
	// raises an alert for those silent too long (AZDETECT_SILENCE_AFTER).
	Silence *silence.Tracker
	// BatchLogLevel is the level of the one log line per batch: info for
	// the handler (zero value), debug for scan, where a summary ends the run.
	BatchLogLevel zerolog.Level
}

// Pipeline runs batches. It is safe for concurrent use when its parts are.
type Pipeline struct {
	opts Options
}

// New checks the options and returns a pipeline.
func New(opts Options) (*Pipeline, error) {
	switch {
	case opts.Registry == nil:
		return nil, errors.New("pipeline: no source registry")
	case opts.Engine == nil:
		return nil, errors.New("pipeline: no rule engine")
	case opts.Sink == nil:
		return nil, errors.New("pipeline: no alert sink")
	case opts.DeadLetters == nil:
		return nil, errors.New("pipeline: no dead-letter sink")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pipeline{opts: opts}, nil
}

// Process implements the handler's processor: one invocation is one Run.
func (p *Pipeline) Process(ctx context.Context, inputs []Input) (Report, error) {
	return p.Run(ctx, inputs)
}

// Run processes the inputs as one unit of work. Malformed records are
// counted, logged and kept, and never fail the run; only a failing
// dependency (a sink, the dead-letter store) or a cancelled context does.
// Alerts are published once, at the end, after dedupe; the returned report
// lists them.
func (p *Pipeline) Run(ctx context.Context, inputs []Input) (Report, error) {
	start := time.Now()
	log := zerolog.Ctx(ctx)
	rep := Report{BySource: map[string]int{}}
	var matches []detect.Match
	batch := make([]*event.Event, 0, 64)

	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		m, err := p.opts.Engine.Evaluate(ctx, batch)
		if err != nil {
			return fmt.Errorf("%w: %w", errEvaluate, err)
		}
		matches = append(matches, m...)
		batch = batch[:0]
		return nil
	}

	for _, in := range inputs {
		err := p.opts.Registry.Records(in.Body, func(rec source.Record, ev *event.Event, status source.Status, err error) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			rep.Records++
			if rec.Err != nil {
				rep.Malformed = append(rep.Malformed, malformed(in.Origin, rec, "", rec.Err))
				return nil
			}
			switch status {
			case source.Parsed:
				rep.BySource[ev.Source]++
				rep.Coverage.Add(ev)
				batch = append(batch, ev)
				if len(batch) >= chunk {
					if err := flush(); err != nil {
						return err
					}
				}
				if source.IsFlow(ev) {
					// One event per tuple, evaluated in chunks (flowtuple.go).
					return p.opts.Registry.ExpandFlow(ev, func(t *event.Event) error {
						batch = append(batch, t)
						if len(batch) >= chunk {
							return flush()
						}
						return nil
					})
				}
			case source.Unrecognised:
				rep.Unrecognised++
				log.Debug().Str("origin", in.Origin).Int("index", rec.Index).Msg("record not recognised")
			default:
				name := ""
				var perr *source.ParseError
				if errors.As(err, &perr) {
					name = perr.Source
				}
				rep.Malformed = append(rep.Malformed, malformed(in.Origin, rec, name, err))
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			if errors.Is(err, errEvaluate) {
				return rep, err
			}
			// The body could not be read at all (I/O, gzip): keep what was
			// read as one malformed record and go on with the next input.
			rep.Malformed = append(rep.Malformed, alert.Dead{
				Origin: in.Origin, Index: -1, Reason: fmt.Sprintf("read input: %v", err),
			})
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}

	for _, m := range rep.Malformed {
		log.Warn().Str("origin", m.Origin).Int("index", m.Index).Int64("offset", m.Offset).
			Str("source", m.Source).Str("reason", m.Reason).Msg("malformed record kept")
	}
	if err := p.opts.DeadLetters.Keep(ctx, rep.Malformed); err != nil {
		return rep, fmt.Errorf("keep malformed records: %w", err)
	}

	alerts := make([]alert.Alert, 0, len(matches))
	for _, m := range matches {
		alerts = append(alerts, AlertOf(m))
	}
	now := p.opts.Now()
	if p.opts.Silence != nil {
		silent, err := p.checkSilence(ctx, now, &rep)
		if err != nil {
			return rep, err
		}
		alerts = append(alerts, silent...)
	}
	alerts, err := p.deliver(ctx, now, alerts)
	if err != nil {
		return rep, err
	}
	rep.Alerts = alerts
	rep.Duration = time.Since(start)
	log.WithLevel(p.opts.BatchLogLevel).Int("records", rep.Records).Interface("sources", rep.BySource).
		Interface("categories", rep.Coverage.ByCategory()).
		Int("unrecognised", rep.Unrecognised).Int("malformed", len(rep.Malformed)).
		Int("alerts", len(rep.Alerts)).Int64("duration_ms", rep.Duration.Milliseconds()).
		Msg("batch processed")
	return rep, nil
}

var errEvaluate = errors.New("evaluate rules")

func malformed(origin string, rec source.Record, src string, err error) alert.Dead {
	reason := "malformed record"
	if err != nil {
		reason = err.Error()
	}
	b := make([]byte, len(rec.Bytes))
	copy(b, rec.Bytes)
	return alert.Dead{Origin: origin, Index: rec.Index, Offset: rec.Offset, Source: src, Reason: reason, Bytes: b}
}

// AlertOf turns a rule match into an alert.
func AlertOf(m detect.Match) alert.Alert {
	ev := m.Events[0]
	spec := alert.Spec{
		RuleID:     m.Rule.ID,
		Title:      m.Rule.Title,
		Severity:   m.Rule.Severity(ev),
		Tactics:    m.Rule.Tactics(),
		Techniques: m.Rule.Techniques(),
	}
	if s, ok := m.Summary(); ok {
		spec.Summary = s
	}
	// Stateful kinds name the group and window: the alert id is theirs.
	spec.GroupKey, spec.WindowStart, spec.Count = m.GroupKey, m.WindowStart, m.Count
	return alert.New(spec, m.Events)
}

// deliver drops the alerts already delivered within the suppression
// window, publishes the rest and marks them delivered once the sink
// acknowledged them; it returns what was published.
func (p *Pipeline) deliver(ctx context.Context, now time.Time, alerts []alert.Alert) ([]alert.Alert, error) {
	sup := p.opts.Suppressor
	if sup == nil && p.opts.Deduper != nil {
		sup = alert.MemorySuppressor{Deduper: p.opts.Deduper}
	}
	if sup != nil {
		var err error
		if alerts, err = sup.Fresh(ctx, now, alerts); err != nil {
			return nil, err
		}
	} else {
		alerts = alert.NewDeduper(time.Hour, len(alerts)+1).Fresh(now, alerts)
	}
	if len(alerts) > 0 {
		if err := p.opts.Sink.Publish(ctx, alerts); err != nil {
			return nil, fmt.Errorf("deliver alerts: %w", err)
		}
		if sup != nil {
			if err := sup.Mark(ctx, now, alerts); err != nil {
				return nil, err
			}
		}
	}
	return alerts, nil
}

// CheckSilence raises, without a batch, the alerts of sources that went
// quiet: the maintenance timer calls it, so that a silence is noticed even
// when every source stopped at once and no batch arrives. It returns how
// many alerts it delivered; without a Silence tracker it does nothing.
func (p *Pipeline) CheckSilence(ctx context.Context) (int, error) {
	if p.opts.Silence == nil {
		return 0, nil
	}
	now := p.opts.Now()
	silent, err := p.opts.Silence.Check(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("check silent sources: %w", err)
	}
	sent, err := p.deliver(ctx, now, silent)
	return len(sent), err
}

// checkSilence records the sources of this batch and returns the alerts of
// the sources silent for too long.
func (p *Pipeline) checkSilence(ctx context.Context, now time.Time, rep *Report) ([]alert.Alert, error) {
	var keys []silence.Key
	for _, r := range rep.Coverage.Rows() {
		keys = append(keys, silence.Key{Source: r.Source, Subscription: r.Subscription})
	}
	if err := p.opts.Silence.Seen(ctx, now, keys); err != nil {
		return nil, err
	}
	return p.opts.Silence.Check(ctx, now)
}
