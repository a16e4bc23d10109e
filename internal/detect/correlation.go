package detect

// # Stateful rules: the correlation block
//
// A rule file is still one rule with its own detection and tests. A rule
// that counts, baselines or joins records adds one top-level block,
// correlation:, whose type picks the kind. The detection's condition
// selects the events the kind sees (a new_term rule's learn: selection adds
// events it learns from and never alerts on); the correlation block says what the
// kind does with them. Sigma's correlation fields are used where they exist
// (type event_count and value_count, group-by, timespan, condition with
// gte/gt/lte/lt/eq and field); Sigma's rules: (references to other rule
// files) is not accepted: the detection lives in the same file. The kinds
// Sigma lacks extend the same block:
//
//	correlation:
//	  type: event_count | value_count | value_sum | new_term | spike | sequence
//	  group-by: [actor.ip]          # fields whose values make the group key
//	  timespan: 10m                 # window (threshold, spike), or the most a sequence may span
//	  condition: {gte: 10, field: actor.upn}   # field: value_count's distinct field, value_sum's number
//	  # new_term
//	  fields: [geo.country]         # the term: one field or a tuple; a field may end in |family (user agent family)
//	  lookback: 30d                 # a term not seen for this long is new again
//	  learning: 7d                  # an entity's first this-long only learns
//	  learn: signin                 # optional selection: its events teach terms too, and never alert
//	  # spike
//	  baseline: 6                   # earlier windows averaged
//	  factor: 3                     # the window must reach factor x the baseline mean (and condition.gte)
//	  min_history: 3                # windows of history needed before it alerts
//	  # sequence
//	  steps: [start, success]       # selection names, one per step; the first step's event leads the alert
//
// Durations are Go durations plus d (days) and w (weeks): 10m, 1h, 7d.
// Windows are fixed (tumbling) windows of timespan in UTC (time.Truncate:
// 10m windows start at :00, :10, ...; 1h on the hour), by event time: a late or out-of-order record is counted in the
// window its own time falls in. Fixed windows make the alert id
// deterministic (rule, group key, window start), so the alert a replayed
// batch raises again is the one already sent, and one batch's counters fall
// in one or two table partitions. A burst that straddles a boundary is split
// across two windows; pick the timespan with that in mind.

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Correlation types.
const (
	CorrEventCount = "event_count"
	CorrValueCount = "value_count"
	CorrValueSum   = "value_sum"
	CorrNewTerm    = "new_term"
	CorrSpike      = "spike"
	CorrSequence   = "sequence"
)

// Correlation is a stateful rule's correlation block, parsed.
type Correlation struct {
	Type       string
	GroupBy    []string
	Timespan   time.Duration
	Op         string  // gte, gt, lte, lt, eq
	Threshold  float64 // the condition's value
	Field      string  // value_count: the field whose distinct values are counted
	Fields     []string
	Lookback   time.Duration
	Learning   time.Duration
	Baseline   int
	Factor     float64
	MinHistory int
	Steps      []string
	Learn      string // new_term: a selection learned from as well as the condition's events

	groupRes  []*resolver
	fieldRes  *resolver
	termRes   []termField
	stepIndex []int // per step, the index of its selection in the rule
}

type termField struct {
	res    *resolver
	family bool
}

var correlationKeys = map[string]bool{
	"type": true, "group-by": true, "timespan": true, "condition": true, "generate": true,
	"rules": true, "fields": true, "lookback": true, "learning": true, "baseline": true,
	"factor": true, "min_history": true, "steps": true, "learn": true,
}

var conditionOps = map[string]bool{"gte": true, "gt": true, "lte": true, "lt": true, "eq": true, "field": true}

// Defaults of the kinds (a rule file or AZDETECT_RULE_OVERRIDES changes them).
const (
	defaultTimespan    = 10 * time.Minute
	defaultLookback    = 30 * 24 * time.Hour
	defaultLearning    = 7 * 24 * time.Hour
	defaultBaseline    = 6
	defaultFactor      = 3
	defaultSeqTimespan = time.Hour
)

func parseCorrelation(r *Rule, n *yaml.Node) (*Correlation, error) {
	if err := checkKeys(n, correlationKeys, "correlation."); err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("correlation: want a map")
	}
	c := &Correlation{Op: "gte", Baseline: -1, MinHistory: -1, Factor: -1}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		var err error
		switch k {
		case "type":
			c.Type = strings.ToLower(strings.TrimSpace(v.Value))
		case "group-by":
			c.GroupBy, err = stringList(v)
		case "timespan":
			c.Timespan, err = ParseDuration(v.Value)
		case "lookback":
			c.Lookback, err = ParseDuration(v.Value)
		case "learning":
			c.Learning, err = ParseDuration(v.Value)
		case "fields":
			c.Fields, err = stringList(v)
		case "steps":
			c.Steps, err = stringList(v)
		case "learn":
			c.Learn, err = selectionName(v)
		case "baseline":
			c.Baseline, err = strconv.Atoi(v.Value)
		case "min_history":
			c.MinHistory, err = strconv.Atoi(v.Value)
		case "factor":
			c.Factor, err = strconv.ParseFloat(v.Value, 64)
		case "generate":
		case "rules":
			err = errors.New("not supported: the detection is in the same file (one rule per file)")
		case "condition":
			err = c.parseCondition(v)
		}
		if err != nil {
			return nil, fmt.Errorf("correlation.%s: %w", k, err)
		}
	}
	if err := c.defaults(); err != nil {
		return nil, err
	}
	if err := c.compile(r); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Correlation) parseCondition(v *yaml.Node) error {
	if err := checkKeys(v, conditionOps, "condition."); err != nil {
		return err
	}
	if v.Kind != yaml.MappingNode {
		return errors.New("want a map such as {gte: 10}")
	}
	ops := 0
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i].Value, v.Content[i+1].Value
		if k == "field" {
			c.Field = strings.TrimSpace(val)
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("%s: %q is not a number", k, val)
		}
		c.Op, c.Threshold = k, f
		ops++
	}
	if ops != 1 {
		return errors.New("want exactly one of gte, gt, lte, lt, eq")
	}
	return nil
}

func (c *Correlation) defaults() error {
	switch c.Type {
	case CorrEventCount, CorrValueCount, CorrValueSum, CorrSpike:
		if c.Timespan == 0 {
			c.Timespan = defaultTimespan
		}
	case CorrNewTerm:
		if c.Lookback == 0 {
			c.Lookback = defaultLookback
		}
		if c.Learning < 0 {
			return errors.New("correlation.learning: must not be negative")
		}
	case CorrTravel: // travel.go
		if c.Timespan == 0 {
			c.Timespan = 24 * time.Hour
		}
	case CorrSequence:
		if c.Timespan == 0 {
			c.Timespan = defaultSeqTimespan
		}
		if len(c.GroupBy) == 0 {
			c.GroupBy = []string{"event.correlation_id"}
		}
	case "":
		return errors.New("correlation.type is required")
	default:
		return fmt.Errorf("correlation.type %q: want event_count, value_count, value_sum, new_term, spike, sequence or impossible_travel", c.Type)
	}
	if c.Type == CorrSpike {
		if c.Baseline < 0 {
			c.Baseline = defaultBaseline
		}
		if c.Factor < 0 {
			c.Factor = defaultFactor
		}
		if c.MinHistory < 0 {
			c.MinHistory = (c.Baseline + 1) / 2
		}
	}
	return c.check()
}

// check validates values after defaults and overrides.
func (c *Correlation) check() error {
	switch {
	case c.Timespan < 0 || c.Lookback < 0 || c.Learning < 0:
		return errors.New("correlation: durations must not be negative")
	case (c.Type == CorrEventCount || c.Type == CorrValueCount || c.Type == CorrValueSum || c.Type == CorrSpike) && c.Timespan < time.Minute:
		return fmt.Errorf("correlation.timespan %s: want at least 1m", c.Timespan)
	case (c.Type == CorrValueCount || c.Type == CorrValueSum) && c.Field == "":
		return fmt.Errorf("correlation.condition.field is required for %s", c.Type)
	case c.Type == CorrTravel && (len(c.Fields) != 2 || c.Threshold <= 0):
		return errors.New("correlation: impossible_travel wants fields [latitude, longitude] and condition {gte: km/h}")
	case c.Type == CorrNewTerm && len(c.Fields) == 0:
		return errors.New("correlation.fields is required for new_term")
	case c.Type == CorrSpike && (c.Baseline < 1 || c.Baseline > 48):
		return fmt.Errorf("correlation.baseline %d: want 1 to 48 windows", c.Baseline)
	case c.Type == CorrSpike && (c.MinHistory < 0 || c.MinHistory > c.Baseline):
		return fmt.Errorf("correlation.min_history %d: want 0 to baseline", c.MinHistory)
	case c.Type == CorrSequence && len(c.Steps) < 2:
		return errors.New("correlation.steps: want at least two selection names")
	case c.Type != CorrSequence && len(c.Steps) > 0:
		return errors.New("correlation.steps: only for sequence")
	case c.Type != CorrNewTerm && c.Learn != "":
		return errors.New("correlation.learn: only for new_term")
	}
	return nil
}

func (c *Correlation) compile(r *Rule) error {
	svc := r.service
	c.groupRes = nil
	for _, g := range c.GroupBy {
		c.groupRes = append(c.groupRes, newResolver(svc, g))
	}
	if c.Field != "" {
		c.fieldRes = newResolver(svc, c.Field)
	}
	c.termRes = nil
	for _, f := range c.Fields {
		name, family := strings.CutSuffix(f, "|family")
		if strings.Contains(name, "|") {
			return fmt.Errorf("correlation.fields %q: the only field modifier is |family", f)
		}
		c.termRes = append(c.termRes, termField{res: newResolver(svc, name), family: family})
	}
	c.stepIndex = nil
	for _, s := range c.Steps {
		idx := -1
		for i, sel := range r.sels {
			if sel.name == s {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Errorf("correlation.steps: no selection named %q", s)
		}
		c.stepIndex = append(c.stepIndex, idx)
	}
	r.learn = nil
	if c.Learn != "" {
		for _, sel := range r.sels {
			if sel.name == c.Learn {
				r.learn = sel
			}
		}
		if r.learn == nil {
			return fmt.Errorf("correlation.learn: no selection named %q", c.Learn)
		}
	}
	return nil
}

// selectionName reads one selection name (correlation.learn).
func selectionName(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || isNull(n) || strings.TrimSpace(n.Value) == "" {
		return "", errors.New("want one selection name")
	}
	return strings.TrimSpace(n.Value), nil
}

// met reports whether n satisfies the condition.
func (c *Correlation) met(n float64) bool {
	switch c.Op {
	case "gt":
		return n > c.Threshold
	case "lte":
		return n <= c.Threshold
	case "lt":
		return n < c.Threshold
	case "eq":
		return n == c.Threshold
	}
	return n >= c.Threshold
}

// Override sets one tunable by name: threshold, window (timespan),
// lookback, learning, baseline, factor, min_history.
func (c *Correlation) Override(param, value string) error {
	var err error
	switch strings.ToLower(param) {
	case "threshold":
		c.Threshold, err = strconv.ParseFloat(value, 64)
	case "window", "timespan":
		c.Timespan, err = ParseDuration(value)
	case "lookback":
		c.Lookback, err = ParseDuration(value)
	case "learning":
		c.Learning, err = ParseDuration(value)
	case "baseline":
		c.Baseline, err = strconv.Atoi(value)
	case "factor":
		c.Factor, err = strconv.ParseFloat(value, 64)
	case "min_history":
		c.MinHistory, err = strconv.Atoi(value)
	default:
		return fmt.Errorf("unknown setting %q: want threshold, window, lookback, learning, baseline, factor or min_history", param)
	}
	if err != nil {
		return fmt.Errorf("%s=%q: %w", param, value, err)
	}
	return c.check()
}

// ParseDuration reads a Sigma timespan: a Go duration, or a number of days
// (d) or weeks (w).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q", s)
		}
		return time.Duration(f * 24 * float64(time.Hour)), nil
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q", s)
		}
		return time.Duration(f * 7 * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want 30s, 10m, 1h, 7d", s)
	}
	return d, nil
}

func stringList(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return nil, nil
		}
		return []string{strings.TrimSpace(n.Value)}, nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || strings.TrimSpace(c.Value) == "" {
				return nil, errors.New("want a list of field names")
			}
			out = append(out, strings.TrimSpace(c.Value))
		}
		return out, nil
	}
	return nil, errors.New("want a name or a list of names")
}

// clone copies c for one engine (overrides must not change the loaded rule).
func (c *Correlation) clone() *Correlation {
	cp := *c
	return &cp
}

// ParseOverrides reads AZDETECT_RULE_OVERRIDES entries, each
// "rule.param=value" (rule: the rule's id or name), into rule -> param ->
// value.
func ParseOverrides(entries []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		kv, val, ok := strings.Cut(e, "=")
		dot := strings.LastIndexByte(kv, '.')
		if !ok || dot <= 0 || dot == len(kv)-1 || strings.TrimSpace(val) == "" {
			errs = append(errs, fmt.Errorf("override %q: want rule.param=value", e))
			continue
		}
		rule := strings.ToLower(strings.TrimSpace(kv[:dot]))
		if out[rule] == nil {
			out[rule] = map[string]string{}
		}
		out[rule][strings.TrimSpace(kv[dot+1:])] = strings.TrimSpace(val)
	}
	return out, errors.Join(errs...)
}

// windowStart is the start of the fixed window of length d holding t.
func windowStart(t time.Time, d time.Duration) time.Time {
	return t.UTC().Truncate(d)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
