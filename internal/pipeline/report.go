package pipeline

import (
	"io"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/coverage"
)

// Input is one body of records: a file, one Event Hub event, a blob.
type Input struct {
	// Origin names where the bytes came from, for reports and dead letters:
	// a file path, "eventhub://<namespace>/<hub>/<partition>/<sequence>",
	// a blob URI.
	Origin string
	Body   io.Reader
	// Open, when set, opens the body (Body is not used) when its turn to
	// be read comes, and the body is closed once read: RunEach reads a few
	// inputs ahead, never every one at once.
	Open func() (io.ReadCloser, error)
	// Writer and Seq place the input's records in the ordered stream they
	// come from (event.Position): stateful rules count each record once by
	// (Writer, Seq, record index). Writer "" means Origin with Seq 0 (a
	// file, a whole blob); NoPosition means the records have none (they are
	// deduplicated by their event key, within a bound).
	Writer string
	Seq    int64
}

// NoPosition is the Writer of inputs whose records have no position.
const NoPosition = "-"

// position is the input's stream, for event.Position.
func (in Input) position() (writer string, seq int64) {
	switch in.Writer {
	case "":
		return in.Origin, 0
	case NoPosition:
		return "", 0
	}
	return in.Writer, in.Seq
}

// Malformed is a dead letter as a Report lists it: where the record was
// and why it was kept, without its bytes (those went to the dead-letter
// sink).
type Malformed = alert.Dead

// ReadError is an input that could not be read to its end: an I/O error, a
// corrupt gzip stream, a decompression cap (source.ErrInflateLimit). What
// was read before it was evaluated.
type ReadError struct {
	Origin string
	Reason string
}

// Report is what one run of the pipeline did. Its size does not grow with
// the input: it counts, and lists at most MaxListed dead letters.
type Report struct {
	Records      int            // records read: parsed (BySource) + Unrecognised + Malformed
	BySource     map[string]int // recognised and parsed records per source name
	Unrecognised int            // well-formed records no source claimed (kept in the dead-letter sink)
	Malformed    int            // records that could not be framed or parsed (kept in the dead-letter sink)
	// Rejected counts parsed records a rule could not evaluate because of
	// their content (a value its state cannot hold, a panic): kept in the
	// dead-letter sink with the rule and the reason; every other rule saw
	// them.
	Rejected    int
	DeadLetters []Malformed    // the first MaxListed malformed and rejected records and cut inputs, for the log
	ReadErrors  []ReadError    // inputs read only in part
	AlertCount  int            // alerts delivered (after dedupe)
	Alerts      []alert.Alert  // those alerts, in order; empty with Options.OmitAlerts
	Coverage    coverage.Tally // parsed records per source, category, subscription and resource type
	Duration    time.Duration
}

// Add adds o to r (several runs into one summary); the list of dead
// letters stays within MaxListed.
func (r *Report) Add(o Report) {
	r.Records += o.Records
	if r.BySource == nil {
		r.BySource = map[string]int{}
	}
	for k, v := range o.BySource {
		r.BySource[k] += v
	}
	r.Unrecognised += o.Unrecognised
	r.Malformed += o.Malformed
	r.Rejected += o.Rejected
	room := max(MaxListed-len(r.DeadLetters), 0)
	r.DeadLetters = append(r.DeadLetters, o.DeadLetters[:min(room, len(o.DeadLetters))]...)
	r.ReadErrors = append(r.ReadErrors, o.ReadErrors...)
	r.AlertCount += o.AlertCount
	r.Alerts = append(r.Alerts, o.Alerts...)
	r.Coverage.Merge(&o.Coverage)
	r.Duration += o.Duration
}
