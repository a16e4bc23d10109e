package detect

import (
	"regexp"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// Levels (Sigma's), lowest first.
const (
	LevelInformational = "informational"
	LevelLow           = "low"
	LevelMedium        = "medium"
	LevelHigh          = "high"
	LevelCritical      = "critical"
)

var levels = map[string]string{
	"informational": LevelInformational,
	"information":   LevelInformational,
	"info":          LevelInformational,
	"low":           LevelLow,
	"medium":        LevelMedium,
	"high":          LevelHigh,
	"critical":      LevelCritical,
}

// NormaliseLevel maps a level or severity word (any case) to one of the
// Level* constants; ok is false for anything else.
func NormaliseLevel(s string) (string, bool) {
	// The levels as written (Identity Protection's riskLevel, the rules'
	// level:) without ToLower and the map: a severity field is read for
	// every alert of its rule (0.3k instructions a riskdetection alert).
	switch s {
	case LevelInformational, LevelLow, LevelMedium, LevelHigh, LevelCritical:
		return s, true
	}
	l, ok := levels[strings.ToLower(strings.TrimSpace(s))]
	return l, ok
}

// Logsource is the rule's Sigma logsource. Service selects the events the
// rule sees (event.Event.Source).
type Logsource struct {
	Product    string `yaml:"product"`
	Service    string `yaml:"service"`
	Category   string `yaml:"category"`
	Definition string `yaml:"definition"`
}

// TestCase is one of a rule's own tests: a raw record as Azure writes it
// and whether the rule must match it.
type TestCase struct {
	Name   string
	Match  bool
	Record []byte
	// Records, for stateful rules: records fed in order (one batch, or
	// several: the outcome must not depend on it), after which Alerts
	// alerts are expected (-1: any number when Match, none otherwise).
	Records [][]byte
	Alerts  int
}

// Rule is one loaded, compiled detection rule.
type Rule struct {
	ID             string
	Name           string // Sigma's optional short name (correlation rules have one)
	Title          string
	Status         string
	Description    string
	Author         string
	Date           string
	Modified       string
	References     []string
	Tags           []string
	FalsePositives []string
	Level          string // one of the Level* constants
	Logsource      Logsource
	SeverityField  string // azdetect: take the severity from this event field when it holds a level
	// AlertGroup (azdetect) names the detection when two rules raise it
	// from two exports of one log (Storage Analytics $logs and
	// StorageBlobLogs): their alerts for one group key and hour are one.
	AlertGroup string
	File       string // where the rule was loaded from
	Kind       Kind   // how matches are raised: MatchKind, or a stateful kind bound by NewEngine

	// tests holds the rule's own test cases, decoded on first use (Tests):
	// a scan never reads them.
	tests lazyTests

	service   string
	condition string
	cond      cond
	sels      []*selection
	learn     *selection    // new_term correlation.learn: selected for the kind, never alerted on
	summary   []summaryPart // nil when the rule has no summary template
	sevRes    *resolver
	// The ATT&CK tags as Tactics and Techniques return them, worked out
	// once by ParseRule (every alert asks, and each asked regexps).
	tactics, techniques []string
	attackDone          bool
}

// cacheAttack works out Tactics and Techniques once, from the tags.
func (r *Rule) cacheAttack() {
	r.attackDone = false
	r.tactics, r.techniques = r.Tactics(), r.Techniques()
	r.attackDone = true
}

// Service is the logsource service, lower-cased: the event source
// (event.Event.Source) the rule reads.
func (r *Rule) Service() string { return r.service }

// Condition returns the condition text as written.
func (r *Rule) Condition() string { return r.condition }

// Match reports whether the rule's kind sees the event: it satisfies the
// rule's condition, or a new_term rule's learn selection. It does not check
// the event's source: the Engine hands a rule only the events of its
// service.
func (r *Rule) Match(ev *event.Event) bool {
	return r.match(&evalCtx{ev: ev})
}

func (r *Rule) match(e *evalCtx) bool {
	e.known |= condBit
	if r.cond.eval(r.sels, e) {
		e.hit |= condBit
		return true
	}
	return r.learn != nil && r.learn.match(e)
}

// condBit is the bit of evalCtx's known and hit that holds the condition's
// own outcome (selections 0-62 have theirs).
const condBit = uint64(1) << 63

// alerts reports whether the event satisfies the condition itself (a
// new_term rule learns from its learn selection's other events only).
func (r *Rule) alerts(e *evalCtx) bool { return r.cond.eval(r.sels, e) }

var techniqueTag = regexp.MustCompile(`^attack\.t\d{4}(\.\d{3})?$`)

// otherAttackTag matches ATT&CK ids that are neither tactics nor techniques:
// groups (g0016), software (s0002), campaigns (c0024).
var otherAttackTag = regexp.MustCompile(`^attack\.[gsc]\d{4}$`)

// Techniques returns the ATT&CK technique ids from the tags, upper-cased:
// attack.t1098.001 gives T1098.001.
func (r *Rule) Techniques() []string {
	if r.attackDone {
		return r.techniques[:len(r.techniques):len(r.techniques)] // appending copies
	}
	var out []string
	for _, t := range r.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if techniqueTag.MatchString(t) {
			out = append(out, strings.ToUpper(strings.TrimPrefix(t, "attack.")))
		}
	}
	return out
}

// Tactics returns the ATT&CK tactic names from the tags
// (attack.defense-evasion gives defense-evasion).
func (r *Rule) Tactics() []string {
	if r.attackDone {
		return r.tactics[:len(r.tactics):len(r.tactics)]
	}
	var out []string
	for _, t := range r.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if !strings.HasPrefix(t, "attack.") || techniqueTag.MatchString(t) || otherAttackTag.MatchString(t) {
			continue
		}
		out = append(out, strings.TrimPrefix(t, "attack."))
	}
	return out
}

// Severity returns the alert severity for an event: the level found in the
// rule's severity_field when it holds one (Defender writes High, Medium,
// Low, Informational), else the rule's level.
func (r *Rule) Severity(ev *event.Event) string {
	if r.sevRes != nil {
		if s, found, ok := r.sevRes.single(ev); ok {
			if l, isLevel := NormaliseLevel(s); found && isLevel {
				return l
			}
			return r.Level
		}
		var room [4]event.Value
		vals, _ := r.sevRes.getInto(ev, room[:0])
		for _, v := range vals {
			if l, ok := NormaliseLevel(v.String()); ok {
				return l
			}
		}
	}
	return r.Level
}

// Summary renders the rule's summary template for an event; ok is false
// when the rule has none. Each {field} is replaced by the field's values
// joined by ", " (through the same field resolution as the detection), or
// "unknown" when the event lacks it. {actor} is the event's best actor
// label and {target} its target when the template names no such field.
func (r *Rule) Summary(ev *event.Event) (string, bool) {
	if r.summary == nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range r.summary {
		if p.res == nil {
			b.WriteString(p.text)
			continue
		}
		b.WriteString(p.render(ev))
	}
	return b.String(), true
}
