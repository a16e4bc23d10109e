package config

import (
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

func TestValidateState(t *testing.T) {
	const secret = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SECRETKEY=="
	tests := []struct {
		name   string
		mutate func(*Settings)
		want   string
	}{
		{"memory by default", func(*Settings) {}, ""},
		{"table by connection string", func(s *Settings) { s.State = "table"; s.TableConnectionString = secret }, ""},
		{"table by account URL", func(s *Settings) { s.State = "table"; s.TableAccountURL = "https://a.table.core.windows.net" }, ""},
		{"table needs one", func(s *Settings) { s.State = "table" }, "AZDETECT_TABLE_CONNECTION_STRING or AZDETECT_TABLE_ACCOUNT_URL"},
		{"table takes only one", func(s *Settings) {
			s.State = "table"
			s.TableConnectionString = secret
			s.TableAccountURL = "https://a.table.core.windows.net"
		}, "both set"},
		{"unknown state", func(s *Settings) { s.State = "redis" }, "AZDETECT_STATE"},
		{"bad URL", func(s *Settings) { s.State = "table"; s.TableAccountURL = "a.table.core.windows.net" }, "AZDETECT_TABLE_ACCOUNT_URL"},
		{"bad override", func(s *Settings) { s.RuleOverrides = []string{"threshold=3"} }, "AZDETECT_RULE_OVERRIDES"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Settings
			if err := envconfig.Process(Prefix, &s); err != nil {
				t.Fatal(err)
			}
			tc.mutate(&s)
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v does not say %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
				t.Fatalf("error quotes the connection string: %v", err)
			}
		})
	}
}

func TestRedactedHidesTheTableConnectionString(t *testing.T) {
	s := Settings{State: "table", TableConnectionString: "AccountKey=SECRETKEY=="}
	r := s.Redacted()
	if r["table_connection_string"] != "set" || r["state"] != "table" {
		t.Fatalf("redacted: %v", r)
	}
	for k, v := range r {
		if strings.Contains(v, "SECRETKEY") {
			t.Fatalf("%s shows the key: %q", k, v)
		}
	}
}
