package source

import (
	stdjson "encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/event"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" = must fail
	}{
		{"2019-10-18T09:45:48.0729893Z", "2019-10-18T09:45:48.0729893Z"},
		{"2025-10-17T11:50:07.22Z", "2025-10-17T11:50:07.22Z"},
		{"2023-04-11T13:35:20Z", "2023-04-11T13:35:20Z"},
		{"2017-07-21T09:24:13.5Z", "2017-07-21T09:24:13.5Z"},
		{"2022-01-24T04:59:49.2279838+00:00", "2022-01-24T04:59:49.2279838Z"},
		{"2019-10-18T04:45:48.0729893-05:00", "2019-10-18T09:45:48.0729893Z"},
		{"2022-09-09T9:59:27.958Z", "2022-09-09T09:59:27.958Z"},
		{"2023-04-11T13:35:20", "2023-04-11T13:35:20Z"},
		{"8/22/2022 6:11:52 PM", "2022-08-22T18:11:52Z"},
		{"11/14/2025 1:48:53 AM", "2025-11-14T01:48:53Z"},
		{"7/5/2022 12:32:21 PM", "2022-07-05T12:32:21Z"},
		{"12/12/2025 3:03:58 PM", "2025-12-12T15:03:58Z"},
		{"11/3/2020 9:06:42 AM +00:00", "2020-11-03T09:06:42Z"},
		{"11/3/2020 9:06:42 AM +02:00", "2020-11-03T07:06:42Z"},
		{"Fri, 21 Jul 2017 01:00:51 GMT", "2017-07-21T01:00:51Z"},
		{"Thursday, 19-Jun-14 22:58:10 GMT", "2014-06-19T22:58:10Z"},
		{" 2023-04-11T13:35:20Z ", "2023-04-11T13:35:20Z"},
		{"yesterday", ""},
		{"2022-13-01T00:00:00Z", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseTime(tc.in)
			if tc.want == "" {
				if ok {
					t.Fatalf("parsed %q as %v, want failure", tc.in, got)
				}
				return
			}
			if !ok {
				t.Fatalf("cannot parse %q", tc.in)
			}
			if got.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Location())
			}
			if s := got.Format(time.RFC3339Nano); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
		})
	}
	if _, err := eventTime(""); !errors.Is(err, ErrMissingTime) {
		t.Errorf("empty time: %v, want ErrMissingTime", err)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		lower, upper string
		want         string
	}{
		{"Informational", "", event.SeverityInformational},
		{"Information", "", event.SeverityInformational},
		{"", "4", event.SeverityInformational},
		{"4", "", event.SeverityInformational},
		{"Informational", "5", event.SeverityInformational}, // the word wins over the number
		{"", "5", event.SeverityVerbose},
		{"Warning", "", event.SeverityWarning},
		{"ERROR", "", event.SeverityError},
		{"", "1", event.SeverityCritical},
		{"Critical", "", event.SeverityCritical},
		{"odd", "3", event.SeverityWarning},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := severity(tc.lower, tc.upper); got != tc.want {
			t.Errorf("severity(%q, %q) = %q, want %q", tc.lower, tc.upper, got, tc.want)
		}
	}
}

func TestCallerIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"81.2.69.143", "81.2.69.143"},
		{"10.0.0.1:52311", "10.0.0.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"},
		{"::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"},
		{" 1.2.3.4 ", "1.2.3.4"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := callerIP(text(tc.in)); got != tc.want {
			t.Errorf("callerIP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := callerIP("", "5.6.7.8"); got != "5.6.7.8" {
		t.Errorf("fallback: got %q", got)
	}
}

// TestDecoderDrift checks the typed decoding against the type drift Azure
// writes, with the package decoder and encoding/json agreeing.
func TestDecoderDrift(t *testing.T) {
	type rec struct {
		envelope
		Duration   text                       `json:"durationMs"`
		Identity   text                       `json:"identity"`
		Properties embedded[struct{ A text }] `json:"properties"`
	}
	tests := []struct {
		name, in                       string
		upper, lower, dur, identity, a string
	}{
		{"both levels", `{"Level":5,"level":"Informational"}`, "5", "Informational", "", "", ""},
		{"level order reversed", `{"level":"Warning","Level":"3"}`, "3", "Warning", "", "", ""},
		{"duration number", `{"durationMs":78}`, "", "", "78", "", ""},
		{"duration string", `{"durationMs":"78"}`, "", "", "78", "", ""},
		{"identity string", `{"identity":"John Doe"}`, "", "", "", "John Doe", ""},
		{"identity object", `{"identity":{"claims":{}}}`, "", "", "", `{"claims":{}}`, ""},
		{"properties object", `{"properties":{"A":"x"}}`, "", "", "", "", "x"},
		{"properties string", `{"properties":"{\"A\":\"x\"}"}`, "", "", "", "", "x"},
		{"properties pseudo JSON", `{"properties":"{'A':'x'}"}`, "", "", "", "", ""},
		{"properties null", `{"properties":null}`, "", "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for dec, fn := range map[string]func([]byte, any) error{"unmarshal": unmarshal, "encoding/json": stdjson.Unmarshal} {
				var r rec
				if err := fn([]byte(tc.in), &r); err != nil {
					t.Fatalf("%s: %v", dec, err)
				}
				got := [5]string{string(r.LevelUpper), string(r.LevelLower), string(r.Duration), string(r.Identity), string(r.Properties.V.A)}
				want := [5]string{tc.upper, tc.lower, tc.dur, tc.identity, tc.a}
				if got != want {
					t.Errorf("%s: got %q, want %q", dec, got, want)
				}
			}
		})
	}
}
