// Package coverage counts which log sources an input holds, per source,
// category, subscription and resource type, and compares them with the
// sources a deployment should send: the first failure in an investigation
// is a log that was never enabled.
package coverage

import (
	"slices"
	"sort"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// Scopes of the recommended sources.
const (
	ScopeTenant       = "tenant"
	ScopeSubscription = "subscription"
	ScopeResource     = "resource"
)

// Expected is one recommended log: the sources (registry names) and
// categories (any when empty) that carry it.
type Expected struct {
	Scope      string
	Name       string
	Sources    []string
	Categories []string
	Why        string
}

const activitySource = "activitylogs"

// Recommended are the logs a deployment of azdetect should send: tenant
// (Entra ID), subscription (Activity Log) and resource logs.
var Recommended = []Expected{
	{ScopeTenant, "Entra ID interactive sign-ins", []string{"signinlogs"}, []string{"SignInLogs"}, "password spray, brute force, new country"},
	{ScopeTenant, "Entra ID non-interactive sign-ins", []string{"signinlogs"}, []string{"NonInteractiveUserSignInLogs"}, "token replay, refresh-token abuse"},
	{ScopeTenant, "Entra ID service principal sign-ins", []string{"signinlogs"}, []string{"ServicePrincipalSignInLogs"}, "stolen app credentials"},
	{ScopeTenant, "Entra ID managed identity sign-ins", []string{"signinlogs"}, []string{"ManagedIdentitySignInLogs"}, "managed identity token use"},
	{ScopeTenant, "Entra ID audit logs", []string{"auditlogs"}, []string{"AuditLogs"}, "role grants, app credentials, MFA changes"},
	{ScopeTenant, "Identity Protection (RiskyUsers, UserRiskEvents)", []string{"riskdetection"}, nil, "risk detections"},
	{ScopeSubscription, "Activity Log: Administrative", []string{"activitylogs"}, []string{"Administrative"}, "every control-plane write and delete"},
	{ScopeSubscription, "Activity Log: Security", []string{"activitylogs"}, []string{"Security"}, "Defender for Cloud alerts"},
	{ScopeSubscription, "Activity Log: Policy", []string{"activitylogs"}, []string{"Policy"}, "policy effects and exemptions"},
	{ScopeSubscription, "Activity Log: Alert", []string{"activitylogs"}, []string{"Alert"}, "Azure Monitor alerts"},
	{ScopeSubscription, "Activity Log: ServiceHealth", []string{"activitylogs"}, []string{"ServiceHealth"}, "outages that explain gaps"},
	{ScopeResource, "Key Vault AuditEvent", []string{"keyvault"}, nil, "secret, key and certificate access"},
	{ScopeResource, "Storage logs (StorageBlobLogs or $logs)", []string{"storagelogs", "storageanalytics"}, nil, "data access and exfiltration"},
	{ScopeResource, "NSG or VNet flow logs", []string{"nsgflowlogs", "vnetflowlogs"}, nil, "scans, exposed ports, outbound volume"},
}

// subscriptionScoped are the Activity Log categories checked per
// subscription seen in the input.
var subscriptionScoped = func() []Expected {
	var out []Expected
	for _, e := range Recommended {
		if e.Scope == ScopeSubscription {
			out = append(out, e)
		}
	}
	return out
}()

// Key is one row of counts.
type Key struct {
	Source       string `json:"source"`
	Category     string `json:"category"`
	Subscription string `json:"subscription,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
}

// Tally counts parsed records. The zero value is ready; not safe for
// concurrent use.
type Tally struct {
	counts map[Key]int
}

// Add counts one parsed record.
func (t *Tally) Add(ev *event.Event) {
	if t.counts == nil {
		t.counts = map[Key]int{}
	}
	rt := ""
	if ev.Resource.Provider != "" || ev.Resource.Type != "" {
		rt = strings.ToLower(strings.Trim(ev.Resource.Provider+"/"+ev.Resource.Type, "/"))
	}
	t.counts[Key{
		Source:       ev.Source,
		Category:     ev.Category,
		Subscription: strings.ToLower(ev.Resource.Subscription),
		ResourceType: rt,
	}]++
}

// Merge adds o's counts to t.
func (t *Tally) Merge(o *Tally) {
	if o == nil {
		return
	}
	if t.counts == nil {
		t.counts = map[Key]int{}
	}
	for k, n := range o.counts {
		t.counts[k] += n
	}
}

// Row is one count.
type Row struct {
	Key
	Records int `json:"records"`
}

// Rows returns the counts sorted by source, category, subscription, type.
func (t *Tally) Rows() []Row {
	out := make([]Row, 0, len(t.counts))
	for k, n := range t.counts {
		out = append(out, Row{Key: k, Records: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if !strings.EqualFold(a.Category, b.Category) {
			return strings.ToLower(a.Category) < strings.ToLower(b.Category)
		}
		if a.Subscription != b.Subscription {
			return a.Subscription < b.Subscription
		}
		return a.ResourceType < b.ResourceType
	})
	return out
}

// ByCategory returns "source/category" -> records, for a batch log line.
func (t *Tally) ByCategory() map[string]int {
	out := map[string]int{}
	for k, n := range t.counts {
		out[k.Source+"/"+k.Category] += n
	}
	return out
}

// Status is one recommended log and whether the input holds it.
type Status struct {
	Scope   string `json:"scope"`
	Name    string `json:"name"`
	Present bool   `json:"present"`
	Records int    `json:"records"`
	Why     string `json:"why"`
}

// SubscriptionStatus lists, for one subscription seen in the input, the
// Activity Log categories it sent and those it did not.
type SubscriptionStatus struct {
	Subscription  string         `json:"subscription"`
	Present       map[string]int `json:"present"`
	Missing       []string       `json:"missing"`
	ResourceTypes map[string]int `json:"resource_logs"` // "source resource-type" -> records, resource logs only
}

// Report is what `azdetect coverage` prints.
type Report struct {
	Recommended   []Status             `json:"recommended"`
	Subscriptions []SubscriptionStatus `json:"subscriptions"`
	Counts        []Row                `json:"counts"`
}

// Report compares the counts with Recommended, overall and per
// subscription.
func (t *Tally) Report() Report {
	rep := Report{Counts: t.Rows()}
	for _, e := range Recommended {
		n := t.records(e, "")
		rep.Recommended = append(rep.Recommended, Status{Scope: e.Scope, Name: e.Name, Present: n > 0, Records: n, Why: e.Why})
	}
	subs := map[string]bool{}
	for k := range t.counts {
		if k.Subscription != "" {
			subs[k.Subscription] = true
		}
	}
	for _, sub := range sortedSet(subs) {
		ss := SubscriptionStatus{Subscription: sub, Present: map[string]int{}, ResourceTypes: map[string]int{}}
		for _, e := range subscriptionScoped {
			if n := t.records(e, sub); n > 0 {
				ss.Present[e.Categories[0]] = n
			} else {
				ss.Missing = append(ss.Missing, e.Categories[0])
			}
		}
		for k, n := range t.counts {
			// Resource logs only: the Activity Log's resource types are
			// what was changed, not which logs are enabled.
			if k.Subscription == sub && k.ResourceType != "" && k.Source != activitySource {
				ss.ResourceTypes[k.Source+" "+k.ResourceType] += n
			}
		}
		rep.Subscriptions = append(rep.Subscriptions, ss)
	}
	return rep
}

// records counts the records of e, in subscription sub when sub is set.
func (t *Tally) records(e Expected, sub string) int {
	n := 0
	for k, c := range t.counts {
		if !slices.Contains(e.Sources, k.Source) || (sub != "" && k.Subscription != sub) {
			continue
		}
		if len(e.Categories) > 0 && !slices.ContainsFunc(e.Categories, func(c string) bool { return strings.EqualFold(c, k.Category) }) {
			continue
		}
		n += c
	}
	return n
}

// Missing returns the names of the recommended logs the report lacks.
func (r Report) Missing() []string {
	var out []string
	for _, s := range r.Recommended {
		if !s.Present {
			out = append(out, s.Name)
		}
	}
	return out
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
