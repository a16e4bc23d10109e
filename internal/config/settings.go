// Package config holds azdetect's settings, read from the environment with
// envconfig (prefix AZDETECT_) and validated at start with errors that name
// the variable.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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
	RuleOverrides []string `split_words:"true" desc:"rule overrides for stateful rules, comma-separated RULE.PARAM=VALUE (RULE: the rule id or name; PARAM: threshold, window, lookback, learning, baseline, factor, min_history), e.g. azure_password_spray.threshold=8,azure_brute_force.window=15m"`

	PrivateRanges      []string `split_words:"true" default:"10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,fc00::/7,fe80::/10,::1/128" desc:"address ranges (CIDR, comma-separated) of your own networks: flow tuples from or to them are not internet traffic (exfiltration, exposed management ports and scans compare against them); add your on-premises and peered ranges"`
	AzureServiceRanges []string `split_words:"true" default:"168.63.129.16/32,169.254.169.254/32" desc:"address ranges (CIDR, comma-separated) of Azure's own services (platform DNS/DHCP/health probes, instance metadata): flow tuples to or from them are neither private nor internet traffic"`

	SilenceAfter time.Duration `split_words:"true" default:"24h" desc:"serve raises a medium alert (azdetect-log-source-silent) when a source that sent records (per source and subscription) sends none for longer than this; 0 turns it off; scan never checks"`

	State                 string        `default:"memory" desc:"where detection state and alert suppression are kept: memory (one process, lost on exit) or table (Azure Table Storage, shared by every instance)"`
	TableConnectionString string        `split_words:"true" desc:"Table Storage connection string for AZDETECT_STATE=table (Azurite: UseDevelopmentStorage=true or its full string); set this or AZDETECT_TABLE_ACCOUNT_URL; never logged"`
	TableAccountURL       string        `envconfig:"TABLE_ACCOUNT_URL" desc:"Table Storage account URL (https://ACCOUNT.table.core.windows.net) reached with managed identity (azidentity's default credential) for AZDETECT_STATE=table; set this or AZDETECT_TABLE_CONNECTION_STRING"`
	SuppressionWindow     time.Duration `split_words:"true" default:"24h" desc:"how long an alert id already sent is not sent again (a redelivered batch, the same window raised by a later batch)"`
	ClaimLease            time.Duration `split_words:"true" default:"3m" desc:"with AZDETECT_STATE=table, how long the instance that claimed an alert (an insert into the suppression table that only one instance wins) has to send it; past it, a redelivered batch or the maintenance timer sends a pending claim whose instance died; keep it plus the timer's 5 minutes under the Service Bus entity's duplicate detection window (10 minutes by default)"`

	// The archive storage account (DESIGN.md "Archive ingestion"): set one
	// of the two to follow archive blobs with range reads; with neither, the
	// blob function evaluates the blob the host sends.
	ArchiveConnectionString string        `split_words:"true" desc:"Blob Storage connection string of the archive storage account the ingest-blob and maintenance functions read with range reads (Azurite: UseDevelopmentStorage=true or its full string); set this or AZDETECT_ARCHIVE_ACCOUNT_URL, or neither to evaluate the blob the host sends; never logged"`
	ArchiveAccountURL       string        `envconfig:"ARCHIVE_ACCOUNT_URL" desc:"Blob service URL of the archive storage account (https://ACCOUNT.blob.core.windows.net) reached with managed identity (azidentity's default credential, Storage Blob Data Reader); set this or AZDETECT_ARCHIVE_CONNECTION_STRING"`
	ArchiveFollow           time.Duration `split_words:"true" default:"1h" desc:"how long after its hour ends an archive blob is still swept for new bytes by the maintenance timer (1h: the current and the previous hour); less than 24h"`
	ArchiveLease            time.Duration `split_words:"true" default:"10m" desc:"how long one instance owns an archive blob's cursor while it reads and evaluates a range; a crashed instance's range is read again after it"`
	ArchiveListContainers   []string      `split_words:"true" default:"$logs" desc:"archive containers the maintenance timer lists for new blobs of the followed hours, because they raise no Event Grid event (the classic Storage Analytics container $logs never does); comma-separated, empty for none"`

	MinSeverity string `split_words:"true" default:"informational" desc:"lowest alert severity sent to the alert sink: informational, low, medium, high, critical"`

	AlertSink string `split_words:"true" default:"stdout" desc:"where alerts go: stdout (JSON lines), jsonl (a file, see AZDETECT_ALERT_FILE), servicebus (a queue or topic, see AZDETECT_SERVICEBUS_ENTITY)"`
	AlertFile string `split_words:"true" default:"azdetect-alerts.jsonl" desc:"JSON-lines file alerts are appended to when AZDETECT_ALERT_SINK=jsonl"`

	// Service Bus. The field names spell "Servicebus" so that split_words
	// gives AZDETECT_SERVICEBUS_*; an envconfig:"SERVICEBUS_..." tag would
	// also read the bare SERVICEBUS_CONNECTION_STRING the tests use.
	ServicebusEntity           string        `split_words:"true" default:"alerts" desc:"Service Bus queue or topic alerts are sent to when AZDETECT_ALERT_SINK=servicebus, and that azdetect alerts tail reads"`
	ServicebusConnectionString string        `split_words:"true" desc:"Service Bus connection string (a shared access policy's, or the emulator's with UseDevelopmentEmulator=true); set this or AZDETECT_SERVICEBUS_NAMESPACE; never logged"`
	ServicebusNamespace        string        `split_words:"true" desc:"fully qualified Service Bus namespace (NAME.servicebus.windows.net) reached with managed identity (azidentity's default credential); set this or AZDETECT_SERVICEBUS_CONNECTION_STRING"`
	ServicebusSubscription     string        `split_words:"true" desc:"topic subscription azdetect alerts tail receives from (empty: the entity is a queue)"`
	ServicebusMaxRetries       int           `split_words:"true" default:"3" desc:"how many times the Service Bus client retries a failed operation (0: none) before the error fails the invocation, whose batch the host redelivers"`
	ServicebusRetryDelay       time.Duration `split_words:"true" default:"4s" desc:"the Service Bus client's delay before its first retry, doubled at each retry up to 2m"`

	DeadLetterFile string `split_words:"true" default:"azdetect-deadletter.jsonl" desc:"JSON-lines file malformed records are appended to (created only when there is one); serve uses the dead-letter container instead when AZDETECT_DEADLETTER_CONNECTION_STRING or AZDETECT_DEADLETTER_ACCOUNT_URL is set"`
	// Dead letters in Blob Storage (serve): durable where the instance's
	// disk is not. Field names spell "Deadletter" for AZDETECT_DEADLETTER_*.
	DeadletterConnectionString string `split_words:"true" desc:"Blob Storage connection string of the account holding the dead-letter container (Azurite: UseDevelopmentStorage=true or its full string); set this or AZDETECT_DEADLETTER_ACCOUNT_URL to keep serve's dead letters in append blobs (one per hour and instance); never logged"`
	DeadletterAccountURL       string `envconfig:"DEADLETTER_ACCOUNT_URL" desc:"Blob service URL (https://ACCOUNT.blob.core.windows.net) of the account holding the dead-letter container, reached with managed identity (azidentity's default credential); set this or AZDETECT_DEADLETTER_CONNECTION_STRING"`
	DeadletterContainer        string `split_words:"true" default:"azdetect-deadletter" desc:"container serve's dead-letter append blobs go to (YYYY/MM/DD/HH/INSTANCE.jsonl); it must exist (infra/ creates it)"`

	Port                     string        `envconfig:"FUNCTIONS_CUSTOMHANDLER_PORT" default:"8080" desc:"port the handler listens on (127.0.0.1 only); set by the Functions host"`
	MaxBodyBytes             int64         `split_words:"true" default:"536870912" desc:"largest invocation body accepted, in bytes; larger requests get 413 (default 512 MiB: 100 Event Hub events of 1 MB, double-encoded)"`
	ShutdownGrace            time.Duration `split_words:"true" default:"25s" desc:"how long serve waits for running invocations on SIGTERM"`
	MaxConcurrentInvocations int           `split_words:"true" default:"4" desc:"invocations serve runs at once (the host sends one at a time per Event Hub partition); one more is answered 503 before its body is read, and the host retries it"`
	FunctionsDir             string        `split_words:"true" default:"functions" desc:"functions folder of a checkout, below the app root (FUNCTIONS_APP_ROOT_PATH, else the working directory); read only when the app root itself holds no NAME/function.json, as in a staged package (dist/app), which is read as the Functions host reads it; an absolute path is used as given; one handler route per function folder"`
}

// Load reads the settings from the environment and validates them.
func Load() (Settings, error) {
	var s Settings
	if err := envconfig.Process(Prefix, &s); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			// envconfig's own message names the struct field and the Go
			// type; the reader set a variable, so name that.
			return s, fmt.Errorf("%s=%q: want %s", settingName(pe.KeyName), pe.Value, wantType(pe.TypeName))
		}
		return s, fmt.Errorf("read settings: %w", err)
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// settingName is the variable a reader set: envconfig reports a field
// tagged with a bare name (FUNCTIONS_CUSTOMHANDLER_PORT) under the prefixed
// key it tried first.
func settingName(key string) string {
	bare := strings.TrimPrefix(key, Prefix+"_")
	if _, ok := os.LookupEnv(key); !ok {
		if _, ok := os.LookupEnv(bare); ok {
			return bare
		}
	}
	return key
}

// wantType says in words what a setting of a Go type takes.
func wantType(goType string) string {
	switch goType {
	case "time.Duration", "Duration":
		return "a duration such as 90s, 15m or 24h (units s, m, h)"
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return "a whole number"
	case "bool":
		return "true or false"
	case "float64", "float32":
		return "a number"
	}
	return "a value of type " + goType
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
	case "servicebus":
		errs = append(errs, s.validateServicebus()...)
	default:
		errs = append(errs, fmt.Errorf("AZDETECT_ALERT_SINK=%q: want stdout, jsonl or servicebus", s.AlertSink))
	}
	errs = append(errs, s.validateState()...)
	errs = append(errs, s.validateArchive()...)
	if strings.TrimSpace(s.DeadLetterFile) == "" {
		errs = append(errs, errors.New("AZDETECT_DEAD_LETTER_FILE is empty: malformed records must be kept somewhere"))
	}
	if s.Port == "" {
		errs = append(errs, errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is empty"))
	} else if p, err := strconv.Atoi(s.Port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("FUNCTIONS_CUSTOMHANDLER_PORT=%q: want a port number (0 to 65535; 0: any free port)", s.Port))
	}
	if s.MaxBodyBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("AZDETECT_MAX_BODY_BYTES=%d: want at least 1048576 (one Event Hub event)", s.MaxBodyBytes))
	}
	if s.MaxConcurrentInvocations < 1 {
		errs = append(errs, fmt.Errorf("AZDETECT_MAX_CONCURRENT_INVOCATIONS=%d: want at least 1", s.MaxConcurrentInvocations))
	}
	if s.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_SHUTDOWN_GRACE=%s: must not be negative", s.ShutdownGrace))
	}
	errs = append(errs, validRanges("AZDETECT_PRIVATE_RANGES", s.PrivateRanges)...)
	errs = append(errs, validRanges("AZDETECT_AZURE_SERVICE_RANGES", s.AzureServiceRanges)...)
	if s.SilenceAfter < 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_SILENCE_AFTER=%s: must not be negative (0 turns the check off)", s.SilenceAfter))
	}
	if s.RulesDir != "" {
		if fi, err := os.Stat(s.RulesDir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("AZDETECT_RULES_DIR=%q: not a readable folder", s.RulesDir))
		}
	}
	return errors.Join(errs...)
}

// validateState checks the state store settings: table needs exactly one
// way to reach the account. Errors never quote the connection string.
func (s Settings) validateState() []error {
	var errs []error
	conn, url := strings.TrimSpace(s.TableConnectionString), strings.TrimSpace(s.TableAccountURL)
	switch s.State {
	case "memory":
	case "table":
		switch {
		case conn == "" && url == "":
			errs = append(errs, errors.New("AZDETECT_STATE=table needs AZDETECT_TABLE_CONNECTION_STRING or AZDETECT_TABLE_ACCOUNT_URL"))
		default:
			errs = append(errs, oneAccess("AZDETECT_TABLE", "table", conn, url)...)
		}
	default:
		errs = append(errs, fmt.Errorf("AZDETECT_STATE=%q: want memory or table", s.State))
	}
	if s.ClaimLease <= 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_CLAIM_LEASE=%s: must be positive", s.ClaimLease))
	}
	if s.SuppressionWindow < 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_SUPPRESSION_WINDOW=%s: must not be negative", s.SuppressionWindow))
	}
	for _, o := range s.RuleOverrides {
		kv, v, ok := strings.Cut(o, "=")
		if !ok || !strings.Contains(kv, ".") || strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("AZDETECT_RULE_OVERRIDES entry %q: want RULE.PARAM=VALUE", o))
		}
	}
	return errs
}

// oneAccess checks a storage account's two ways in, PREFIX_CONNECTION_STRING
// (conn) and PREFIX_ACCOUNT_URL (url): at most one set, and the URL an
// http(s) one (service: table or blob, for the example). Never quotes conn.
func oneAccess(prefix, service, conn, url string) []error {
	switch {
	case conn != "" && url != "":
		return []error{fmt.Errorf("%s_CONNECTION_STRING and %s_ACCOUNT_URL are both set: set one", prefix, prefix)}
	case url != "" && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://"):
		return []error{fmt.Errorf("%s_ACCOUNT_URL=%q: want https://ACCOUNT.%s.core.windows.net", prefix, url, service)}
	}
	return nil
}

// validateArchive checks the archive settings: at most one way to reach
// the account, and a follow time shorter than the cursors' day. Errors
// never quote the connection string.
func (s Settings) validateArchive() []error {
	var errs []error
	conn, url := strings.TrimSpace(s.ArchiveConnectionString), strings.TrimSpace(s.ArchiveAccountURL)
	errs = append(errs, oneAccess("AZDETECT_ARCHIVE", "blob", conn, url)...)
	dconn, durl := strings.TrimSpace(s.DeadletterConnectionString), strings.TrimSpace(s.DeadletterAccountURL)
	errs = append(errs, oneAccess("AZDETECT_DEADLETTER", "blob", dconn, durl)...)
	if (dconn != "" || durl != "") && !containerName().MatchString(s.DeadletterContainer) {
		errs = append(errs, fmt.Errorf("AZDETECT_DEADLETTER_CONTAINER=%q: not a container name (lower-case letters, digits and hyphens, 3 to 63)", s.DeadletterContainer))
	}
	if s.ArchiveFollow <= 0 || s.ArchiveFollow >= 24*time.Hour {
		errs = append(errs, fmt.Errorf("AZDETECT_ARCHIVE_FOLLOW=%s: want more than 0 and less than 24h", s.ArchiveFollow))
	}
	if s.ArchiveLease <= 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_ARCHIVE_LEASE=%s: must be positive", s.ArchiveLease))
	}
	for _, c := range s.ArchiveListContainers {
		if c = strings.TrimSpace(c); c != "" && !containerName().MatchString(c) {
			errs = append(errs, fmt.Errorf("AZDETECT_ARCHIVE_LIST_CONTAINERS entry %q: not a container name (lower-case letters, digits and hyphens, 3 to 63; or $logs)", c))
		}
	}
	return errs
}

// containerName matches a Blob container name, or one of the service's
// own ($logs, $root, $web). Compiled on first use: its counted repetition
// compiles to 1,400 allocations, and only archive and dead-letter
// settings are checked against it (not scan's).
var containerName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\$logs|\$root|\$web|[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62})$`)
})

// ArchiveConfigured reports whether archive blobs are followed with range
// reads.
func (s Settings) ArchiveConfigured() bool {
	return strings.TrimSpace(s.ArchiveConnectionString) != "" || strings.TrimSpace(s.ArchiveAccountURL) != ""
}

// validateServicebus checks what the servicebus sink (and alerts tail)
// need: an entity, and exactly one way to reach the namespace. Errors never
// quote the connection string.
func (s Settings) validateServicebus() []error {
	var errs []error
	if strings.TrimSpace(s.ServicebusEntity) == "" {
		errs = append(errs, errors.New("AZDETECT_SERVICEBUS_ENTITY is empty: name the queue or topic alerts go to"))
	}
	conn, ns := strings.TrimSpace(s.ServicebusConnectionString), strings.TrimSpace(s.ServicebusNamespace)
	switch {
	case conn == "" && ns == "":
		errs = append(errs, errors.New("AZDETECT_ALERT_SINK=servicebus needs AZDETECT_SERVICEBUS_CONNECTION_STRING or AZDETECT_SERVICEBUS_NAMESPACE"))
	case conn != "" && ns != "":
		errs = append(errs, errors.New("AZDETECT_SERVICEBUS_CONNECTION_STRING and AZDETECT_SERVICEBUS_NAMESPACE are both set: set one"))
	case conn != "" && ServicebusEndpoint(conn) == "":
		errs = append(errs, errors.New("AZDETECT_SERVICEBUS_CONNECTION_STRING has no Endpoint=sb://HOST (value not shown)"))
	case ns != "" && (strings.Contains(ns, "/") || strings.Contains(ns, ";")):
		errs = append(errs, fmt.Errorf("AZDETECT_SERVICEBUS_NAMESPACE=%q: want the host name only (NAME.servicebus.windows.net)", ns))
	}
	if s.ServicebusMaxRetries < 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_SERVICEBUS_MAX_RETRIES=%d: must not be negative", s.ServicebusMaxRetries))
	}
	if s.ServicebusRetryDelay < 0 {
		errs = append(errs, fmt.Errorf("AZDETECT_SERVICEBUS_RETRY_DELAY=%s: must not be negative", s.ServicebusRetryDelay))
	}
	return errs
}

// ServicebusEndpoint returns the host (and port) of a connection string's
// Endpoint=sb://HOST/ part, "" when it has none: what may be logged of it.
func ServicebusEndpoint(conn string) string {
	for _, part := range strings.Split(conn, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "Endpoint") {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.Index(v, "://"); i >= 0 {
			v = v[i+3:]
		}
		host, _, _ := strings.Cut(v, "/")
		return host
	}
	return ""
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
		"log_level":                    s.LogLevel,
		"rules_dir":                    s.RulesDir,
		"disabled_rules":               strings.Join(s.DisabledRules, ","),
		"rule_overrides":               strings.Join(s.RuleOverrides, ","),
		"private_ranges":               strings.Join(s.PrivateRanges, ","),
		"azure_service_ranges":         strings.Join(s.AzureServiceRanges, ","),
		"silence_after":                s.SilenceAfter.String(),
		"state":                        s.State,
		"table_connection_string":      isSet(s.TableConnectionString),
		"table_account_url":            s.TableAccountURL,
		"suppression_window":           s.SuppressionWindow.String(),
		"claim_lease":                  s.ClaimLease.String(),
		"archive_connection_string":    isSet(s.ArchiveConnectionString),
		"archive_account_url":          s.ArchiveAccountURL,
		"archive_follow":               s.ArchiveFollow.String(),
		"archive_lease":                s.ArchiveLease.String(),
		"archive_list_containers":      strings.Join(s.ArchiveListContainers, ","),
		"min_severity":                 s.MinSeverity,
		"alert_sink":                   s.AlertSink,
		"alert_file":                   s.AlertFile,
		"servicebus_entity":            s.ServicebusEntity,
		"servicebus_connection_string": redactedConnection(s.ServicebusConnectionString),
		"servicebus_namespace":         s.ServicebusNamespace,
		"servicebus_subscription":      s.ServicebusSubscription,
		"servicebus_max_retries":       fmt.Sprint(s.ServicebusMaxRetries),
		"servicebus_retry_delay":       s.ServicebusRetryDelay.String(),
		"dead_letter_file":             s.DeadLetterFile,
		"deadletter_connection_string": isSet(s.DeadletterConnectionString),
		"deadletter_account_url":       s.DeadletterAccountURL,
		"deadletter_container":         s.DeadletterContainer,
		"port":                         s.Port,
		"max_body_bytes":               fmt.Sprint(s.MaxBodyBytes),
		"shutdown_grace":               s.ShutdownGrace.String(),
		"max_concurrent_invocations":   fmt.Sprint(s.MaxConcurrentInvocations),
		"functions_dir":                s.FunctionsDir,
	}
}

// isSet says whether a secret is set, never what it is.
func isSet(secret string) string {
	if strings.TrimSpace(secret) == "" {
		return ""
	}
	return "set"
}

// redactedConnection says whether a connection string is set and where it
// points, never its keys.
func redactedConnection(conn string) string {
	if strings.TrimSpace(conn) == "" {
		return ""
	}
	if host := ServicebusEndpoint(conn); host != "" {
		return "set (endpoint " + host + ")"
	}
	return "set"
}

// validRanges checks a list of CIDR prefixes or bare addresses.
func validRanges(name string, list []string) []error {
	var errs []error
	for _, r := range list {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if _, err := netip.ParsePrefix(r); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(r); err == nil {
			continue
		}
		errs = append(errs, fmt.Errorf("%s entry %q: want a CIDR prefix such as 10.0.0.0/8 or an address", name, r))
	}
	return errs
}
