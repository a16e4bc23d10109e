// Package report renders a scan's alerts for a person: a table that fits
// the terminal and a self-contained HTML report. It takes alerts and a
// summary of the scan; it never runs the pipeline.
package report

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/azdetect/azdetect/internal/alert"
)

// MaxItems is how many actors, addresses or targets a row names before
// "+N more".
const MaxItems = 5

// Row is what a person reads of one alert, or of repeated alerts of one
// rule about the same who, from and target (Alerts says how many).
type Row struct {
	First, Last time.Time
	Severity    string
	RuleID      string
	Title       string
	Who         []string // actors: users, applications, service principals
	From        []string // addresses, with their country where known
	Target      []string
	Techniques  []string
	Summary     string
	Alerts      int // alerts behind the row (1 unless repeated)
	Members     []alert.Alert
}

// Rows groups repeated alerts (one rule, same who, from and target) and
// sorts them: by time (first seen), or by severity then time when
// bySeverity.
func Rows(alerts []alert.Alert, bySeverity bool) []Row {
	var rows []Row
	index := map[string]int{}
	for _, a := range alerts {
		r := Row{
			First: a.FirstSeen, Last: a.LastSeen, Severity: a.Severity, RuleID: a.RuleID, Title: a.Title,
			Who: Who(a), From: From(a), Target: Targets(a), Techniques: a.Techniques,
			Summary: HumanSizes(a.Summary), Alerts: 1, Members: []alert.Alert{a},
		}
		key := strings.Join([]string{a.RuleID, strings.Join(r.Who, ","), strings.Join(r.From, ","), strings.Join(r.Target, ",")}, "|")
		if i, ok := index[key]; ok {
			g := &rows[i]
			g.Alerts++
			g.Members = append(g.Members, a)
			if a.FirstSeen.Before(g.First) {
				g.First = a.FirstSeen
			}
			if a.LastSeen.After(g.Last) {
				g.Last = a.LastSeen
			}
			if alert.Rank(a.Severity) > alert.Rank(g.Severity) {
				g.Severity = a.Severity
			}
			continue
		}
		index[key] = len(rows)
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if bySeverity && alert.Rank(a.Severity) != alert.Rank(b.Severity) {
			return alert.Rank(a.Severity) > alert.Rank(b.Severity)
		}
		if !a.First.Equal(b.First) {
			return a.First.Before(b.First)
		}
		if alert.Rank(a.Severity) != alert.Rank(b.Severity) {
			return alert.Rank(a.Severity) > alert.Rank(b.Severity)
		}
		return a.Title < b.Title
	})
	return rows
}

// Who is who acted: the evidence's actors, else the alert's users, else
// its applications.
func Who(a alert.Alert) []string {
	var out []string
	for _, e := range a.Evidence {
		out = appendNew(out, e.Actor)
	}
	if len(out) == 0 {
		for _, u := range a.Entities.Users {
			out = appendNew(out, u)
		}
	}
	if len(out) == 0 {
		for _, app := range a.Entities.Apps {
			out = appendNew(out, app)
		}
	}
	return capItems(out)
}

// From is where from: the evidence's addresses first (with the country
// the log gives), then the alert's other addresses.
func From(a alert.Alert) []string {
	country := map[string]string{}
	var ips []string
	for _, e := range a.Evidence {
		if e.IP == "" {
			continue
		}
		ips = appendNew(ips, e.IP)
		if e.Country != "" {
			country[e.IP] = e.Country
		}
	}
	for _, ip := range a.Entities.IPs {
		ips = appendNew(ips, ip)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		if c := country[ip]; c != "" {
			ip += " (" + c + ")"
		}
		out = append(out, ip)
	}
	return capItems(out)
}

// Targets is what was acted on: the evidence's targets, or the last part
// of its resources' ids (KV-PAYMENTS-PROD rather than the whole ARM path).
func Targets(a alert.Alert) []string {
	var out []string
	for _, e := range a.Evidence {
		t := e.Target
		if t == "" || t == e.Actor {
			t = e.Resource
		}
		out = appendNew(out, ShortResource(t))
	}
	if len(out) == 0 {
		for _, r := range a.Entities.Resources {
			out = appendNew(out, ShortResource(r))
		}
	}
	return capItems(out)
}

// ShortResource is the last segment of an Azure resource id, or the
// object of a Key Vault or Storage URL (its name, without a version);
// other values are kept.
func ShortResource(id string) string {
	id = strings.TrimRight(id, "/")
	if u, err := url.Parse(id); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) > 1 && versionID.MatchString(segs[len(segs)-1]) {
			segs = segs[:len(segs)-1]
		}
		host, _, _ := strings.Cut(u.Host, ".")
		if name := segs[len(segs)-1]; name != "" {
			return host + "/" + name
		}
		return host
	}
	if !strings.HasPrefix(id, "/") {
		return id
	}
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// versionID is a Key Vault object version (32 hex digits).
var versionID = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

func appendNew(list []string, v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return list
	}
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return list
		}
	}
	return append(list, v)
}

func capItems(list []string) []string {
	if len(list) <= MaxItems {
		return list
	}
	more := len(list) - (MaxItems - 1)
	return append(list[:MaxItems-1:MaxItems-1], "+"+strconv.Itoa(more)+" more")
}

var byteCount = regexp.MustCompile(`\b(\d{4,}) bytes\b`)

// HumanSizes rewrites byte counts in a text ("1185713915 bytes") as sizes
// a person reads ("1.1 GB").
func HumanSizes(s string) string {
	return byteCount.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseInt(strings.TrimSuffix(m, " bytes"), 10, 64)
		if err != nil {
			return m
		}
		return Bytes(n)
	})
}

// Bytes formats a size in bytes with binary multiples: 1185713915 is
// "1.1 GB", 2048 is "2.0 KB", 512 is "512 B".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "B"
}

// SeverityWord is the severity's short form in the table.
func SeverityWord(s string) string {
	switch s {
	case alert.SeverityCritical:
		return "CRIT"
	case alert.SeverityHigh:
		return "HIGH"
	case alert.SeverityMedium:
		return "MED"
	case alert.SeverityLow:
		return "LOW"
	case alert.SeverityInformational:
		return "INFO"
	}
	return strings.ToUpper(s)
}
