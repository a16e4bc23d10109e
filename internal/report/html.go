package report

import (
	_ "embed"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
	"github.com/azdetect/azdetect/internal/coverage"
)

// Scan is what a scan read and raised: the input of the HTML report (and
// of the summaries).
type Scan struct {
	Generated        time.Time
	Version          string
	Paths            []string
	Files            int
	Bytes            int64
	Records          int
	BySource         map[string]int
	Unrecognised     int
	Malformed        int
	Suppressed       int // alerts not raised again: already raised within the suppression window
	BelowMinSeverity int // alerts raised but below --min-severity, not in Alerts
	Coverage         coverage.Report
	Alerts           []alert.Alert
	Rules            map[string]RuleDoc // by rule id
}

// RuleDoc is what the report says of a rule.
type RuleDoc struct {
	ID             string
	Name           string
	Title          string
	Level          string
	Description    string
	FalsePositives []string
	References     []string
	Techniques     []string
	Tactics        []string
}

//go:embed report.html.tmpl
var reportTemplate string

// tmpl is the report's template, parsed on first use (1.1 M instructions:
// a scan that writes no HTML report does not pay for it at start-up).
var tmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"bytes":    Bytes,
		"human":    HumanSizes,
		"sev":      SeverityWord,
		"short":    ShortResource,
		"join":     strings.Join,
		"attack":   attackURL,
		"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"lower":    strings.ToLower,
		"anchor":   anchor,
		"plural":   plural,
		"who":      Who,
		"from":     From,
		"targets":  Targets,
		"sevCount": func(m map[string]int, s string) int { return m[s] },
	}).Parse(reportTemplate))
})

// Entity is one user, address or resource and the alerts it is in.
type Entity struct {
	Kind   string // user, address, resource
	Name   string
	Alerts []alert.Alert
}

type htmlData struct {
	Scan
	Timeline   []alert.Alert
	BySeverity map[string]int
	Severities []string
	Entities   []Entity
	Fired      []RuleDoc
	Missing    int
}

// WriteHTML writes one self-contained HTML file: no script, style or image
// is fetched from anywhere (its Content-Security-Policy forbids it), so it
// opens offline. It holds the scan's counts, a timeline of the alerts, a
// section per user, address and resource, the coverage of the logs read,
// and each rule that fired with its description, false positives and
// ATT&CK links.
func WriteHTML(w io.Writer, s Scan) error {
	d := htmlData{Scan: s, BySeverity: alert.CountBySeverity(s.Alerts)}
	d.Timeline = append([]alert.Alert(nil), s.Alerts...)
	sort.SliceStable(d.Timeline, func(i, j int) bool { return d.Timeline[i].FirstSeen.Before(d.Timeline[j].FirstSeen) })
	sevs := alert.Severities()
	for i := len(sevs) - 1; i >= 0; i-- {
		d.Severities = append(d.Severities, sevs[i])
	}
	d.Entities = entities(d.Timeline)
	seen := map[string]bool{}
	for _, a := range d.Timeline {
		if seen[a.RuleID] {
			continue
		}
		seen[a.RuleID] = true
		doc, ok := s.Rules[a.RuleID]
		if !ok {
			doc = RuleDoc{ID: a.RuleID, Title: a.Title, Level: a.Severity, Techniques: a.Techniques, Tactics: a.Tactics}
		}
		d.Fired = append(d.Fired, doc)
	}
	sort.SliceStable(d.Fired, func(i, j int) bool { return d.Fired[i].Title < d.Fired[j].Title })
	for _, r := range s.Coverage.Recommended {
		if !r.Present {
			d.Missing++
		}
	}
	return tmpl().Execute(w, d)
}

// entities gathers, per user (actor or named user), address and resource,
// the alerts it appears in, most alerts first.
func entities(alerts []alert.Alert) []Entity {
	type key struct{ kind, name string }
	index := map[key]int{}
	var out []Entity
	add := func(kind, name string, a alert.Alert) {
		name = strings.TrimSpace(name)
		if name == "" {
			return
		}
		k := key{kind, strings.ToLower(name)}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Entity{Kind: kind, Name: name})
		}
		if n := len(out[i].Alerts); n == 0 || out[i].Alerts[n-1].ID != a.ID {
			out[i].Alerts = append(out[i].Alerts, a)
		}
	}
	for _, a := range alerts {
		for _, u := range Who(a) {
			if !strings.HasPrefix(u, "+") {
				add("user", u, a)
			}
		}
		for _, u := range a.Entities.Users {
			add("user", u, a)
		}
		for _, ip := range a.Entities.IPs {
			add("address", ip, a)
		}
		for _, e := range a.Evidence {
			add("address", e.IP, a)
		}
		for _, r := range a.Entities.Resources {
			if strings.HasPrefix(r, "/") {
				add("resource", r, a)
			}
		}
	}
	rank := map[string]int{"user": 0, "address": 1, "resource": 2}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return rank[out[i].Kind] < rank[out[j].Kind]
		}
		if len(out[i].Alerts) != len(out[j].Alerts) {
			return len(out[i].Alerts) > len(out[j].Alerts)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// attackURL is the MITRE ATT&CK page of a technique id (T1562.008).
func attackURL(id string) string {
	id = strings.ToUpper(strings.TrimSpace(id))
	if !strings.HasPrefix(id, "T") {
		return ""
	}
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/") + "/"
}

// anchor is an element id for a thing's name: letters and digits kept,
// the rest a hyphen.
func anchor(prefix, name string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('-')
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
