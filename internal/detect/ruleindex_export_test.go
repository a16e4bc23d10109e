package detect

import (
	"context"

	"github.com/azdetect/azdetect/internal/event"
)

// SelectPairs runs the condition pass over events and returns, in pick
// order, each (rule index, event index) selected: through the rule index,
// or (all) evaluating every rule of the event's source.
func SelectPairs(e *Engine, events []*event.Event, all bool) ([][2]int, error) {
	eng := *e
	eng.noIndex = all
	var out [][2]int
	err := eng.selectEach(context.Background(), events, func(i, at int) { out = append(out, [2]int{i, at}) }, nil)
	return out, err
}

// IndexedRules is how many of the engine's rules the index evaluates only
// for some values of a field, and over how many fields.
func IndexedRules(e *Engine) (rules, fields int) {
	for _, si := range e.bySource {
		fields += len(si.fields)
		for p := range si.rules {
			for _, f := range si.fields {
				if f.free[p/64]&(1<<(p%64)) == 0 {
					rules++
					break
				}
			}
		}
	}
	return rules, fields
}
