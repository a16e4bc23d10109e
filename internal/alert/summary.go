package alert

import (
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// Summarise writes the one line a person reads first: who did what to what,
// where, from where ("mallory@contoso.com deleted diagnostic setting
// send-to-siem on subscription 6f2c… from 185.220.101.47").
func Summarise(ev *event.Event) string {
	var b strings.Builder
	b.WriteString(ev.Who())
	b.WriteByte(' ')
	b.WriteString(describeOperation(ev))
	if obj := objectOf(ev); obj != "" {
		b.WriteByte(' ')
		b.WriteString(obj)
	}
	if sub := ev.Resource.Subscription; sub != "" {
		b.WriteString(" on subscription ")
		b.WriteString(short(strings.ToLower(sub)))
	}
	if ip := ev.Actor.IP; ip != "" {
		b.WriteString(" from ")
		b.WriteString(ip)
	}
	switch ev.Result {
	case event.ResultFailure:
		b.WriteString(" (failed")
		if ev.ResultCode != "" {
			b.WriteString(": ")
			b.WriteString(ev.ResultCode)
		}
		b.WriteString(")")
	case event.ResultInProgress:
		b.WriteString(" (in progress)")
	}
	return b.String()
}

// short abbreviates a GUID to its first group: 6f2c1d2e-… becomes "6f2c1d2e…".
func short(id string) string {
	if len(id) == 36 && id[8] == '-' {
		return id[:8] + "…"
	}
	return id
}

// describeOperation turns an ARM operation name into words:
// MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE becomes "deleted
// diagnosticsettings"; Entra activity names are kept as they are.
func describeOperation(ev *event.Event) string {
	op := strings.TrimSpace(ev.Operation)
	if !strings.Contains(op, "/") {
		if op == "" {
			return "did something"
		}
		if ev.Source == "signinlogs" {
			if ev.Result == event.ResultFailure {
				return "failed to sign in"
			}
			return "signed in"
		}
		return "performed \"" + op + "\""
	}
	parts := strings.Split(op, "/")
	verb := strings.ToLower(parts[len(parts)-1])
	noun := ""
	if len(parts) >= 2 {
		noun = strings.ToLower(parts[len(parts)-2])
	}
	if verb == "action" && len(parts) >= 2 {
		verb = strings.ToLower(parts[len(parts)-2])
		noun = ""
		if len(parts) >= 3 {
			noun = strings.ToLower(parts[len(parts)-3])
		}
		return "ran " + verb + " on " + singular(noun)
	}
	switch verb {
	case "write":
		verb = "wrote"
	case "delete":
		verb = "deleted"
	case "read":
		verb = "read"
	}
	return verb + " " + singular(noun)
}

// nouns spells the ARM resource types alerts name most often as words.
var nouns = map[string]string{
	"diagnosticsettings":        "diagnostic setting",
	"roleassignments":           "role assignment",
	"roledefinitions":           "role definition",
	"networksecuritygroups":     "network security group",
	"securityrules":             "security rule",
	"virtualmachines":           "virtual machine",
	"storageaccounts":           "storage account",
	"policyassignments":         "policy assignment",
	"policydefinitions":         "policy definition",
	"policysetdefinitions":      "policy set definition",
	"policyexemptions":          "policy exemption",
	"logprofiles":               "log profile",
	"transparentdataencryption": "transparent data encryption",
	"encryptionprotector":       "encryption protector",
	"resourcegroups":            "resource group",
	"accesspolicies":            "access policy",
	"alertssuppressionrules":    "alert suppression rule",
	"securitycontacts":          "security contact",
	"autoprovisioningsettings":  "auto-provisioning setting",
	"pricings":                  "Defender plan",
	"workspaces":                "workspace",
	"vaults":                    "vault",
	"locks":                     "lock",
}

func singular(noun string) string {
	if w, ok := nouns[noun]; ok {
		return w
	}
	if strings.HasSuffix(noun, "ies") {
		return noun[:len(noun)-3] + "y"
	}
	return strings.TrimSuffix(noun, "s")
}

func objectOf(ev *event.Event) string {
	if ev.Source == "signinlogs" {
		if to := firstNonEmpty(ev.Target, ev.Actor.AppName); to != "" {
			return "to " + to
		}
		return ""
	}
	switch {
	case ev.Resource.Name != "" && ev.Resource.Provider != "":
		// Exports upper-case resource ids; names are case-insensitive and
		// read better as people type them.
		if strings.ToUpper(ev.Resource.ID) == ev.Resource.ID {
			return strings.ToLower(ev.Resource.Name)
		}
		return ev.Resource.Name
	case ev.Target != "":
		return ev.Target
	}
	return ""
}
