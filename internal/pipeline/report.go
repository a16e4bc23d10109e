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

// Malformed is a record that could not be framed or parsed. Its bytes are
// kept for the dead-letter sink; the batch goes on without it.
type Malformed = alert.Dead

// Report is what one run of the pipeline did.
type Report struct {
	Records      int            // records read (recognised, unrecognised and malformed)
	BySource     map[string]int // recognised and parsed records per source name
	Unrecognised int            // well-formed records no source claimed
	Malformed    []Malformed
	Alerts       []alert.Alert  // alerts raised (after dedupe), in order
	Coverage     coverage.Tally // parsed records per source, category, subscription and resource type
	Duration     time.Duration
}
