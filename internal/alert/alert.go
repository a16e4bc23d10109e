// Package alert is azdetect's alert: the model, its deterministic id, the
// one-line summary, and the sinks alerts are delivered to.
package alert

import "time"

// Severity levels, lowest first (Sigma's levels).
const (
	SeverityInformational = "informational"
	SeverityLow           = "low"
	SeverityMedium        = "medium"
	SeverityHigh          = "high"
	SeverityCritical      = "critical"
)

// Entities are the things an alert is about.
type Entities struct {
	Users         []string `json:"users,omitempty"`
	IPs           []string `json:"ips,omitempty"`
	Resources     []string `json:"resources,omitempty"`
	Subscriptions []string `json:"subscriptions,omitempty"`
	Apps          []string `json:"apps,omitempty"`
}

// Evidence is one record behind an alert, trimmed to what a person reads.
type Evidence struct {
	Source        string    `json:"source"`
	Time          time.Time `json:"time"`
	Operation     string    `json:"operation"`
	Result        string    `json:"result,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	IP            string    `json:"ip,omitempty"`
	Country       string    `json:"country,omitempty"` // of IP, where the log says (sign-ins)
	Resource      string    `json:"resource,omitempty"`
	Target        string    `json:"target,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	RecordID      string    `json:"record_id,omitempty"`
}

// Alert is one detection raised by a rule.
type Alert struct {
	ID         string     `json:"id"` // deterministic: Fingerprint(rule, group key, window)
	RuleID     string     `json:"rule_id"`
	Title      string     `json:"title"`
	Severity   string     `json:"severity"`
	Tactics    []string   `json:"tactics,omitempty"`    // ATT&CK tactic names (credential-access)
	Techniques []string   `json:"techniques,omitempty"` // ATT&CK technique ids (T1098.001)
	Summary    string     `json:"summary"`
	SourceType string     `json:"source_type"`
	GroupKey   string     `json:"group_key,omitempty"`
	FirstSeen  time.Time  `json:"first_seen"`
	LastSeen   time.Time  `json:"last_seen"`
	Count      int        `json:"count"`
	Entities   Entities   `json:"entities"`
	Evidence   []Evidence `json:"evidence"`
	// AlertGroup is the rule's alert group when it shares its alerts with
	// another rule (the same detection over another export of one log).
	AlertGroup string `json:"alert_group,omitempty"`

	// indicator: raised by a single-event rule, so merging the same id
	// adds the events up (a stateful rule's count is already the total).
	indicator bool
	// summary is Summary before merging added the count to it.
	summary string
	// op is the operation behind an indicator alert (operationHash, of
	// OperationKey), and ops those of the alerts merged into it (nil
	// until a merge), so that the Start and Success records of one
	// operation count once.
	op  uint64
	ops map[uint64]bool
}
