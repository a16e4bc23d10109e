package alert

// CountBySeverity counts alerts per severity word, for summaries.
func CountBySeverity(alerts []Alert) map[string]int {
	m := make(map[string]int, 5)
	for _, a := range alerts {
		m[a.Severity]++
	}
	return m
}
