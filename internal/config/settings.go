// Package config holds azdetect's settings, read from the environment with
// envconfig (prefix AZDETECT_) and validated at start with errors that name
// the variable.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Prefix is the environment prefix of every azdetect setting.
const Prefix = "AZDETECT"

// Settings is every setting of the binary. Each field documents itself
// through its desc tag; README's settings table is checked against them.
type Settings struct {
	LogLevel string `split_words:"true" default:"info" desc:"log level: debug, info, warn, error"`
	RulesDir string `split_words:"true" desc:"folder of extra rule files (*.yml) loaded beside the embedded rules"`

	DisabledRules []string `split_words:"true" desc:"comma-separated rule ids to turn off"`

	MinSeverity string `split_words:"true" default:"informational" desc:"lowest alert severity sent to the alert sink: informational, low, medium, high, critical"`

	AlertSink string `split_words:"true" default:"stdout" desc:"where alerts go: stdout (JSON lines), jsonl (a file, see AZDETECT_ALERT_FILE)"`
	AlertFile string `split_words:"true" default:"azdetect-alerts.jsonl" desc:"JSON-lines file alerts are appended to when AZDETECT_ALERT_SINK=jsonl"`

	DeadLetterFile string `split_words:"true" default:"azdetect-deadletter.jsonl" desc:"JSON-lines file malformed records are appended to (created only when there is one)"`

	Port          string        `envconfig:"FUNCTIONS_CUSTOMHANDLER_PORT" default:"8080" desc:"port the handler listens on (127.0.0.1 only); set by the Functions host"`
	MaxBodyBytes  int64         `split_words:"true" default:"536870912" desc:"largest invocation body accepted, in bytes; larger requests get 413 (default 512 MiB: 100 Event Hub events of 1 MB, double-encoded)"`
	ShutdownGrace time.Duration `split_words:"true" default:"25s" desc:"how long serve waits for running invocations on SIGTERM"`
	FunctionsDir  string        `split_words:"true" default:"functions" desc:"folder of function.json folders; one handler route per folder"`
}

// Load reads the settings from the environment and validates them.
func Load() (Settings, error) {
	var s Settings
	if err := envconfig.Process(Prefix, &s); err != nil {
		return s, fmt.Errorf("read settings: %w", err)
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

var severities = []string{"informational", "low", "medium", "high", "critical"}

// Validate checks values and cross-field rules. It never fills defaults.
func (s Settings) Validate() error {
	var errs []error
	switch strings.ToLower(s.LogLevel) {
	case "debug", "info", "warn", "error", "trace":
	default:
		errs = append(errs, fmt.Errorf("AZDETECT_LOG_LEVEL=%q: want debug, info, warn or error", s.LogLevel))
	}
	if !oneOf(s.MinSeverity, severities) {
		errs = append(errs, fmt.Errorf("AZDETECT_MIN_SEVERITY=%q: want one of %s", s.MinSeverity, strings.Join(severities, ", ")))
	}
	switch s.AlertSink {
	case "stdout":
	case "jsonl":
		if strings.TrimSpace(s.AlertFile) == "" {
			errs = append(errs, errors.New("AZDETECT_ALERT_FILE is empty but AZDETECT_ALERT_SINK=jsonl needs a file"))
		}
	default:
		errs = append(errs, fmt.Errorf("AZDETECT_ALERT_SINK=%q: want stdout or jsonl", s.AlertSink))
	}
	if strings.TrimSpace(s.DeadLetterFile) == "" {
		errs = append(errs, errors.New("AZDETECT_DEAD_LETTER_FILE is empty: malformed records must be kept somewhere"))
	}
	if s.Port == "" {
		errs = append(errs, errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is empty"))
	}
	if s.MaxBodyBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("AZDETECT_MAX_BODY_BYTES=%d: want at least 1048576 (one Event Hub event)", s.MaxBodyBytes))
	}
	if s.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_SHUTDOWN_GRACE=%s: must not be negative", s.ShutdownGrace))
	}
	if s.RulesDir != "" {
		if fi, err := os.Stat(s.RulesDir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("AZDETECT_RULES_DIR=%q: not a readable folder", s.RulesDir))
		}
	}
	return errors.Join(errs...)
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// Redacted returns the settings as key=value pairs safe to log: secrets
// (connection strings, keys, tokens) are replaced.
func (s Settings) Redacted() map[string]string {
	return map[string]string{
		"log_level":        s.LogLevel,
		"rules_dir":        s.RulesDir,
		"disabled_rules":   strings.Join(s.DisabledRules, ","),
		"min_severity":     s.MinSeverity,
		"alert_sink":       s.AlertSink,
		"alert_file":       s.AlertFile,
		"dead_letter_file": s.DeadLetterFile,
		"port":             s.Port,
		"max_body_bytes":   fmt.Sprint(s.MaxBodyBytes),
		"shutdown_grace":   s.ShutdownGrace.String(),
		"functions_dir":    s.FunctionsDir,
	}
}
