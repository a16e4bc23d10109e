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
