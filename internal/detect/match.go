package detect

import (
	"context"

	"github.com/azdetect/azdetect/internal/event"
)

// MatchKind is the stateless kind: every selected event is a match of its
// own ("indicator" rules that fire as soon as the log arrives).
type MatchKind struct{}

// Name implements Kind.
func (MatchKind) Name() string { return "match" }

// Matches implements Kind: one Match per event.
func (MatchKind) Matches(_ context.Context, r *Rule, events []*event.Event) ([]Match, error) {
	out := make([]Match, len(events))
	for i, ev := range events {
		out[i] = Match{Rule: r, Events: []*event.Event{ev}}
	}
	return out, nil
}

var _ Kind = MatchKind{}
