package main

import (
	"fmt"
	"io"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/config"
)

// alertSink builds the configured alert sink behind the minimum severity.
func alertSink(s config.Settings, stdout io.Writer) (alert.Sink, error) {
	var sink alert.Sink
	switch s.AlertSink {
	case "stdout":
		sink = alert.NewJSONLines(stdout)
	case "jsonl":
		j, err := alert.OpenJSONLines(s.AlertFile)
		if err != nil {
			return nil, err
		}
		sink = j
	default:
		return nil, fmt.Errorf("AZDETECT_ALERT_SINK=%q: unknown sink", s.AlertSink)
	}
	return alert.Fanout{{Sink: sink, MinSeverity: s.MinSeverity, Name: s.AlertSink}}, nil
}
