package archive

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Kind is what a container of the archive holds, recognised from the path
// diagnostic settings and Storage Analytics write (functions-contract §5).
// The records themselves are still recognised by their own fields.
type Kind string

const (
	KindActivityLog      Kind = "activity-log"      // insights-activity-logs: JSON Lines, append blobs
	KindResourceLog      Kind = "resource-log"      // insights-logs-<category>: JSON Lines, append blobs
	KindFlowLog          Kind = "flow-log"          // NSG and VNet flow logs: one records document, block blobs
	KindStorageAnalytics Kind = "storage-analytics" // $logs: semicolon lines, block blobs
	KindOther            Kind = "other"
)

// Containers diagnostic settings write to.
const (
	ContainerActivity = "insights-activity-logs"
	containerLogs     = "insights-logs-"
	ContainerNSGFlow  = "insights-logs-networksecuritygroupflowevent"
	ContainerVNetFlow = "insights-logs-flowlogflowevent"
	ContainerStorage  = "$logs"
)

// KindOf recognises a container.
func KindOf(container string) Kind {
	c := strings.ToLower(container)
	switch {
	case c == ContainerActivity:
		return KindActivityLog
	case c == ContainerNSGFlow || c == ContainerVNetFlow:
		return KindFlowLog
	case strings.HasPrefix(c, containerLogs):
		return KindResourceLog
	case c == ContainerStorage:
		return KindStorageAnalytics
	}
	return KindOther
}

var (
	// .../y=2026/m=11/d=20/h=09/m=00/PT1H.json (insights-*).
	insightsHour = regexp.MustCompile(`(?i)(?:^|/)y=(\d{4})/m=(\d{2})/d=(\d{2})/h=(\d{2})(?:/|$)`)
	// blob/2026/11/20/0900/000001.log ($logs).
	analyticsHour = regexp.MustCompile(`^[a-z]+/(\d{4})/(\d{2})/(\d{2})/(\d{2})\d{2}/`)
)

// HourOf returns the hour a blob's records belong to, from its name, and
// false when the name carries none.
func HourOf(container, name string) (time.Time, bool) {
	re := insightsHour
	if KindOf(container) == KindStorageAnalytics {
		re = analyticsHour
	}
	m := re.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	var n [4]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	if n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] > 23 {
		return time.Time{}, false
	}
	return time.Date(n[0], time.Month(n[1]), n[2], n[3], 0, 0, 0, time.UTC), true
}
