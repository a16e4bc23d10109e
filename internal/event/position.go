package event

import "cmp"

// Position is where a record sits in the ordered stream of the one writer
// that delivers it: an Event Hub partition (Seq its sequence number), an
// archive blob (Seq the offset its range starts at), a file (Seq 0). Index
// is the record's place in that event, range or file, Sub an event's place
// among those one record expands to (flow tuples).
//
// Stateful rules count each event once by it: a writer's records are
// evaluated in order, and what a writer delivers again after a failure is
// always a repeat of what came after its last checkpoint, so a watermark per
// counter and writer makes a redelivered batch count nothing twice, in
// constant space. Evaluators that run one writer's records out of order (a
// parallel scan of one file) must give each ordered part its own Writer.
type Position struct {
	// Writer names the stream; "" when the record has no position (it is
	// then deduplicated by its event key, within a bound).
	Writer string
	Seq    int64
	Index  int
	Sub    int
}

// Compare orders two positions of one writer.
func (p Position) Compare(q Position) int {
	return cmp.Or(cmp.Compare(p.Seq, q.Seq), cmp.Compare(p.Index, q.Index), cmp.Compare(p.Sub, q.Sub))
}
