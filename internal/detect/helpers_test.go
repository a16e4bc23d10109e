package detect

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// testParse is a stand-in for the source registry in this package's tests:
// it recognises the five Sigma services by category and fills the few
// normalised fields the field mapping reads, the way internal/source does.
func testParse(raw []byte) (*event.Event, error) {
	var rec struct {
		Category      string          `json:"category"`
		OperationName string          `json:"operationName"`
		ResultType    string          `json:"resultType"`
		ResourceID    string          `json:"resourceId"`
		Properties    json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	var p struct {
		UPN    string `json:"userPrincipalName"`
		Result string `json:"result"`
		Status struct {
			ErrorCode *int `json:"errorCode"`
		} `json:"status"`
		AuthReq     string `json:"authenticationRequirement"`
		InitiatedBy struct {
			User struct {
				UPN string `json:"userPrincipalName"`
			} `json:"user"`
		} `json:"initiatedBy"`
	}
	if len(rec.Properties) > 0 {
		_ = json.Unmarshal(rec.Properties, &p)
	}
	ev := &event.Event{Raw: raw, Category: rec.Category, Operation: rec.OperationName, ResultCode: rec.ResultType}
	switch strings.ToLower(rec.Category) {
	case "administrative", "write", "delete", "action", "security", "policy", "servicehealth", "alert", "recommendation", "autoscale", "resourcehealth":
		ev.Source = "activitylogs"
		ev.Resource = event.ParseResourceID(rec.ResourceID)
		switch strings.ToLower(rec.ResultType) {
		case "success", "succeeded":
			ev.Result = event.ResultSuccess
		case "failure", "failed":
			ev.Result = event.ResultFailure
		case "start", "accept":
			ev.Result = event.ResultInProgress
		}
	case "signinlogs", "noninteractiveusersigninlogs", "serviceprincipalsigninlogs", "managedidentitysigninlogs":
		ev.Source = "signinlogs"
		ev.Actor.UPN = p.UPN
		if p.Status.ErrorCode != nil {
			ev.Result = event.ResultFailure
			if *p.Status.ErrorCode == 0 {
				ev.Result = event.ResultSuccess
			}
		}
		ev.Set("signin.authentication_requirement", p.AuthReq)
	case "auditlogs":
		ev.Source = "auditlogs"
		ev.Actor.UPN = p.InitiatedBy.User.UPN
		ev.Result = event.Result(strings.ToLower(p.Result))
	case "userriskevents", "riskyusers":
		ev.Source = "riskdetection"
		ev.Actor.UPN = p.UPN
	case "pimalerts":
		ev.Source = "pim"
	default:
		return nil, fmt.Errorf("unrecognised category %q", rec.Category)
	}
	return ev, nil
}

// mustEvent parses a raw record with testParse.
func mustEvent(t testing.TB, raw string) *event.Event {
	t.Helper()
	ev, err := testParse([]byte(raw))
	if err != nil {
		t.Fatalf("test record: %v\n%s", err, raw)
	}
	return ev
}

// mustRule parses a rule from YAML text.
func mustRule(t testing.TB, text string) *Rule {
	t.Helper()
	r, err := ParseRule("test.yml", []byte(text))
	if err != nil {
		t.Fatalf("ParseRule: %v", err)
	}
	return r
}

// ruleWith builds a rule text around a detection block (indented two
// spaces already).
func ruleWith(service, detection string) string {
	return "title: t\nid: 11111111-2222-3333-4444-555555555555\nlevel: medium\nlogsource: {product: azure, service: " +
		service + "}\ndetection:\n" + detection
}

func writeFile(name, text string) error { return os.WriteFile(name, []byte(text), 0o644) }

// mustTests is r.Tests(), failing t on an error.
func mustTests(t testing.TB, r *Rule) []TestCase {
	t.Helper()
	tests, err := r.Tests()
	if err != nil {
		t.Fatal(err)
	}
	return tests
}
