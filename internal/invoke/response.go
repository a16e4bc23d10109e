package invoke

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/pipeline"
)

// maxMalformedLogs caps the per-record lines of one response: each line
// becomes an Application Insights trace, and every malformed record is
// kept whole by the dead-letter sink anyway.
const maxMalformedLogs = 100

// Response is the body the host reads back. Logs are written at
// Information level through the invocation's logger. Outputs stays empty
// and ReturnValue null: azdetect has no output bindings.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// NewResponse returns a success response carrying logs.
func NewResponse(logs ...string) Response {
	if logs == nil {
		logs = []string{}
	}
	return Response{Outputs: map[string]any{}, Logs: logs}
}

// ErrorBody is the body of every non-2xx answer. The host discards it, but
// it is JSON and non-empty so that whoever reads it (replay, a person with
// curl) learns why.
type ErrorBody struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
	// Limit and Setting are set on 413 answers.
	Limit   int64  `json:"limit,omitempty"`
	Setting string `json:"setting,omitempty"`
}

// writeJSON writes v with an explicit Content-Type: Go would sniff JSON as
// text/plain, which the host refuses. v never encodes to an empty body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 {
		status = http.StatusInternalServerError
		b = []byte(`{"status":500,"error":"encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Status: status, Error: msg})
}

// SummaryLogs renders a pipeline report as response log lines: one summary
// line (records per source, unrecognised, malformed, alerts, duration),
// then one line per malformed record (origin, index, offset, reason; never
// the record's bytes), at most maxMalformedLogs of them.
func SummaryLogs(function string, rep pipeline.Report) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d records", function, rep.Records)
	if len(rep.BySource) > 0 {
		b.WriteString(" (")
		for i, name := range slices.Sorted(maps.Keys(rep.BySource)) {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s=%d", name, rep.BySource[name])
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", %d unrecognised, %d malformed", rep.Unrecognised, rep.Malformed)
	if rep.Rejected > 0 {
		fmt.Fprintf(&b, ", %d rejected by a rule", rep.Rejected)
	}
	fmt.Fprintf(&b, ", %d alerts in %s", rep.AlertCount, rep.Duration.Round(time.Millisecond))
	logs := []string{b.String()}
	for i, m := range rep.DeadLetters {
		if i == maxMalformedLogs {
			break
		}
		kind := m.Kind
		if kind == "" {
			kind = "malformed"
		}
		line := fmt.Sprintf("%s record: origin=%s index=%d offset=%d", kind, m.Origin, m.Index, m.Offset)
		if m.Source != "" {
			line += " source=" + m.Source
		}
		logs = append(logs, line+" reason="+oneLine(m.Reason))
	}
	if more := rep.Malformed + rep.Rejected + len(rep.ReadErrors) - min(len(rep.DeadLetters), maxMalformedLogs); more > 0 {
		logs = append(logs, fmt.Sprintf("%s: %d more malformed or rejected records not listed; all are in the dead-letter sink",
			function, more))
	}
	return logs
}

// oneLine keeps a reason on one line and short: it may quote input.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
