package alert

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints alerts as a table a person reads on a terminal, most
// severe first within the given order kept stable.
func WriteTable(w io.Writer, alerts []Alert) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tTIME (UTC)\tRULE\tTECHNIQUE\tSUMMARY")
	for _, rank := range []int{5, 4, 3, 2, 1, 0} {
		for _, a := range alerts {
			if Rank(a.Severity) != rank {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n",
				strings.ToUpper(a.Severity),
				a.FirstSeen.UTC().Format("2006-01-02 15:04:05"),
				clip(a.Title, 60),
				strings.Join(a.Techniques, ","),
				clip(a.Summary, 140))
		}
	}
	return tw.Flush()
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// CountBySeverity counts alerts per severity word, for summaries.
func CountBySeverity(alerts []Alert) map[string]int {
	m := make(map[string]int, 5)
	for _, a := range alerts {
		m[a.Severity]++
	}
	return m
}
