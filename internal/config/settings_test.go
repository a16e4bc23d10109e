package config

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

func TestValidateNamesTheSetting(t *testing.T) {
	base := func() Settings {
		var s Settings
		if err := envconfig.Process(Prefix, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name   string
		mutate func(*Settings)
		want   string
	}{
		{"defaults are valid", func(*Settings) {}, ""},
		{"log level", func(s *Settings) { s.LogLevel = "loud" }, "AZDETECT_LOG_LEVEL"},
		{"severity", func(s *Settings) { s.MinSeverity = "urgent" }, "AZDETECT_MIN_SEVERITY"},
		{"sink", func(s *Settings) { s.AlertSink = "kafka" }, "AZDETECT_ALERT_SINK"},
		{"jsonl needs a file", func(s *Settings) { s.AlertSink = "jsonl"; s.AlertFile = " " }, "AZDETECT_ALERT_FILE"},
		{"dead letters", func(s *Settings) { s.DeadLetterFile = "" }, "AZDETECT_DEAD_LETTER_FILE"},
		{"port", func(s *Settings) { s.Port = "" }, "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{"body limit", func(s *Settings) { s.MaxBodyBytes = 10 }, "AZDETECT_MAX_BODY_BYTES"},
		{"rules dir", func(s *Settings) { s.RulesDir = "/does/not/exist" }, "AZDETECT_RULES_DIR"},
		{"servicebus needs a way in", func(s *Settings) { s.AlertSink = "servicebus" }, "AZDETECT_SERVICEBUS_CONNECTION_STRING or AZDETECT_SERVICEBUS_NAMESPACE"},
		{"servicebus by connection string", func(s *Settings) {
			s.AlertSink, s.ServicebusConnectionString = "servicebus", testConn
		}, ""},
		{"servicebus by namespace", func(s *Settings) {
			s.AlertSink, s.ServicebusNamespace = "servicebus", "ns.servicebus.windows.net"
		}, ""},
		{"servicebus not both", func(s *Settings) {
			s.AlertSink, s.ServicebusConnectionString, s.ServicebusNamespace = "servicebus", testConn, "ns.servicebus.windows.net"
		}, "both set"},
		{"servicebus entity", func(s *Settings) {
			s.AlertSink, s.ServicebusNamespace, s.ServicebusEntity = "servicebus", "ns.servicebus.windows.net", " "
		}, "AZDETECT_SERVICEBUS_ENTITY"},
		{"servicebus namespace is a host", func(s *Settings) {
			s.AlertSink, s.ServicebusNamespace = "servicebus", "sb://ns.servicebus.windows.net/"
		}, "AZDETECT_SERVICEBUS_NAMESPACE"},
		{"servicebus connection string has an endpoint", func(s *Settings) {
			s.AlertSink, s.ServicebusConnectionString = "servicebus", "SharedAccessKey=k"
		}, "AZDETECT_SERVICEBUS_CONNECTION_STRING"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.mutate(&s)
			err := s.Validate()
			if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
				t.Fatalf("error quotes the key: %v", err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v does not name %s", err, tc.want)
			}
		})
	}
}

func TestLoadReadsEnvironment(t *testing.T) {
	t.Setenv("AZDETECT_MIN_SEVERITY", "high")
	t.Setenv("AZDETECT_DISABLED_RULES", "a,b")
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "7071")
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.MinSeverity != "high" || s.Port != "7071" || len(s.DisabledRules) != 2 {
		t.Fatalf("got %+v", s)
	}
	t.Setenv("AZDETECT_MAX_BODY_BYTES", "lots")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "MAX_BODY_BYTES") {
		t.Fatalf("bad number: %v", err)
	}
}

// TestReadmeDocumentsEverySetting keeps README's settings table equal to
// what the binary reads: name, default and meaning.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	var buf bytes.Buffer
	var s Settings
	if err := envconfig.Usagef(Prefix, &s, &buf, "{{range .}}{{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|\\s*`?([^|`]*?)`?\\s*\\| (.*) \\|$")
	documented := map[string][2]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = [2]string{strings.TrimSpace(m[2]), strings.TrimSpace(m[3])}
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("usage line %q", line)
		}
		key, def, desc := f[0], f[1], f[2]
		// Host settings (envconfig:"FUNCTIONS_...") are read under their
		// bare name; envconfig's usage shows the prefixed alternative.
		if bare := strings.TrimPrefix(key, Prefix+"_"); strings.HasPrefix(bare, "FUNCTIONS_CUSTOMHANDLER") {
			key = bare
		}
		doc, ok := documented[key]
		if !ok {
			t.Errorf("README's settings table lacks %s", key)
			continue
		}
		if doc[0] != def {
			t.Errorf("README gives %s the default %q, the binary %q", key, doc[0], def)
		}
		if doc[1] != desc {
			t.Errorf("README describes %s as %q, the binary as %q", key, doc[1], desc)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("README documents %s, which the binary does not read", key)
	}
}

const testConn = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=SECRETKEY="

// TestRedactedHidesTheConnectionString: the settings line every serve logs
// says a connection string is set and where it points, never its key.
func TestRedactedHidesTheConnectionString(t *testing.T) {
	s := Settings{ServicebusConnectionString: testConn}
	r := s.Redacted()
	for k, v := range r {
		if strings.Contains(v, "SECRETKEY") || strings.Contains(v, "SharedAccessKey") {
			t.Fatalf("%s=%q leaks the connection string", k, v)
		}
	}
	if got := r["servicebus_connection_string"]; got != "set (endpoint ns.servicebus.windows.net)" {
		t.Fatalf("servicebus_connection_string=%q", got)
	}
	if got := (Settings{}).Redacted()["servicebus_connection_string"]; got != "" {
		t.Fatalf("unset connection string shows %q", got)
	}
}

// TestLocalSettingsSample keeps local.settings.sample.json complete and
// valid: every setting the binary reads is there (but the port, which the
// Functions host sets), and the values load.
func TestLocalSettingsSample(t *testing.T) {
	data, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(data, &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	var buf bytes.Buffer
	var s Settings
	if err := envconfig.Usagef(Prefix, &s, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	for _, key := range strings.Fields(buf.String()) {
		if strings.HasPrefix(strings.TrimPrefix(key, Prefix+"_"), "FUNCTIONS_CUSTOMHANDLER") {
			continue // set by the Functions host
		}
		if _, ok := sample.Values[key]; !ok {
			t.Errorf("local.settings.sample.json lacks %s", key)
		}
	}
	for k, v := range sample.Values {
		if strings.HasPrefix(k, Prefix+"_") {
			t.Setenv(k, v)
		}
	}
	if _, err := Load(); err != nil {
		t.Errorf("the sample's values do not load: %v", err)
	}
}

// TestLoadNamesTheVariable: a value the environment gives in the wrong
// shape fails Load with one plain line naming the variable, never
// envconfig's internals (struct field, Go type).
func TestLoadNamesTheVariable(t *testing.T) {
	tests := []struct {
		env, value, want string
	}{
		{"AZDETECT_SUPPRESSION_WINDOW", "abc", `AZDETECT_SUPPRESSION_WINDOW="abc": want a duration`},
		{"AZDETECT_SHUTDOWN_GRACE", "10", `AZDETECT_SHUTDOWN_GRACE="10": want a duration`},
		{"AZDETECT_ARCHIVE_FOLLOW", "1 hour", `AZDETECT_ARCHIVE_FOLLOW="1 hour": want a duration`},
		{"AZDETECT_MAX_BODY_BYTES", "1MB", `AZDETECT_MAX_BODY_BYTES="1MB": want a whole number`},
		{"FUNCTIONS_CUSTOMHANDLER_PORT", "abc", `FUNCTIONS_CUSTOMHANDLER_PORT="abc": want a port number`},
		{"FUNCTIONS_CUSTOMHANDLER_PORT", "70000", `FUNCTIONS_CUSTOMHANDLER_PORT="70000": want a port number`},
	}
	for _, tc := range tests {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := Load()
			if err == nil {
				t.Fatalf("%s=%q loaded without error", tc.env, tc.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", msg, tc.want)
			}
			for _, internal := range []string{"envconfig", "time.Duration", "SuppressionWindow", "\n"} {
				if strings.Contains(msg, internal) {
					t.Errorf("error %q shows %q", msg, internal)
				}
			}
		})
	}
}

// TestContainerName: Blob container names (3 to 63 lower-case letters,
// digits and single hyphens between them) and the service's own.
func TestContainerName(t *testing.T) {
	for name, want := range map[string]bool{
		"$logs": true, "$root": true, "$web": true, "abc": true, "a-b-c": true, "0ab": true,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
		"ab": false, "a--b": false, "-ab": false, "ab-": false, "Abc": false, "a_b": false,
		"$logsx": false, "": false, "abc\n": false,
	} {
		if got := containerName().MatchString(name); got != want {
			t.Errorf("containerName(%q) = %v, want %v", name, got, want)
		}
	}
}
