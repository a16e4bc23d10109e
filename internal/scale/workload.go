package scale

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Workload is the records each Event Hub partition delivers, in order: a
// realistic mix (interactive sign-ins, a few failures, resource writes) in
// which three attacks are spread over every partition at once.
type Workload struct {
	Start      time.Time
	Partitions [][]string // per partition, one JSON record per entry, in time order
	// Expected counts of the attacks' groups in their windows.
	SprayUsers      int // distinct users the spraying address failed on (one 30-minute window)
	BruteFailures   int // failures against the brute-forced user (one 10-minute window)
	MassDeletes     int // resources the attacker deleted (one 10-minute window)
	SprayIP         string
	BruteUser       string
	DeleteCaller    string
	SprayWindow     time.Time
	BruteWindow     time.Time
	DeletionWindow  time.Time
	BackgroundCount int
}

const (
	tenant       = "7f3c2a91-5d4e-4b8a-9c6f-2e1d0b8a7c35"
	subscription = "c5d2a8e3-1f6b-4e9a-a7c4-6b3e9d2f0a18"
	chrome       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

type timed struct {
	at  time.Time
	rec string
}

// NewWorkload builds records for partitions partitions, about perPartition
// each, deterministically from seed.
func NewWorkload(partitions, perPartition int, seed uint64) *Workload {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	w := &Workload{Start: start, SprayIP: "45.137.21.9", BruteUser: "marek.nowak@tailspintoys.com",
		DeleteCaller: "intruder@tailspintoys.com", SprayWindow: start, BruteWindow: start, DeletionWindow: start}
	var all []timed
	n := 0
	id := func() string {
		n++
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", seed&0xffffffff, n)
	}
	at := func(from, span time.Duration) time.Time {
		return start.Add(from + time.Duration(rng.Int64N(int64(span))))
	}
	// The attacks, inside their windows: a spray from one address over 60
	// users, 40 failures against one user from rotating addresses, 40 VMs
	// deleted by one caller.
	w.SprayUsers, w.BruteFailures, w.MassDeletes = 60, 40, 40
	for u := range w.SprayUsers {
		all = append(all, timed{rec: signIn(id(), fmt.Sprintf("user%03d@tailspintoys.com", u), w.SprayIP, "RU", 50126, at(time.Minute, 25*time.Minute))})
	}
	// The spray works once: a sign-in from the spraying address succeeds
	// (the sequence rule "success after spray").
	all = append(all, timed{rec: signIn(id(), "user007@tailspintoys.com", w.SprayIP, "RU", 0, start.Add(28*time.Minute))})
	for i := range w.BruteFailures {
		all = append(all, timed{rec: signIn(id(), w.BruteUser, fmt.Sprintf("185.220.101.%d", i%7+1), "NL", 50126, at(time.Minute, 8*time.Minute))})
	}
	for i := range w.MassDeletes {
		all = append(all, timed{rec: deletion(id(), w.DeleteCaller, fmt.Sprintf("vm-prod-%02d", i), at(time.Minute, 8*time.Minute))})
	}
	// Background: staff signing in from their own addresses, now and then a
	// mistyped password, and resource writes, over the hour.
	bg := partitions*perPartition - len(all)
	for i := 0; i < bg; i++ {
		u := rng.IntN(400)
		upn := fmt.Sprintf("staff%03d@tailspintoys.com", u)
		ip := fmt.Sprintf("203.0.%d.%d", 113+u/250, u%250+1)
		when := at(0, time.Hour)
		switch r := rng.IntN(10); {
		case r < 6:
			all = append(all, timed{rec: signIn(id(), upn, ip, "US", 0, when)})
		case r < 7: // a mistyped password on the phone, over the mobile network
			all = append(all, timed{rec: signIn(id(), upn, fmt.Sprintf("198.51.100.%d", rng.IntN(250)+1), "US", 50126, when)})
		default:
			all = append(all, timed{rec: write(id(), upn, fmt.Sprintf("vm-dev-%03d", rng.IntN(200)), when)})
		}
	}
	w.BackgroundCount = bg
	for i := range all {
		all[i].at = recordTime(all[i].rec)
	}
	// Every record goes to a random partition (as a hub without partition
	// keys spreads them); each partition delivers in time order.
	w.Partitions = make([][]string, partitions)
	var parts [][]timed = make([][]timed, partitions)
	for _, t := range all {
		p := rng.IntN(partitions)
		parts[p] = append(parts[p], t)
	}
	for p := range parts {
		slices.SortStableFunc(parts[p], func(a, b timed) int { return a.at.Compare(b.at) })
		for _, t := range parts[p] {
			w.Partitions[p] = append(w.Partitions[p], t.rec)
		}
	}
	return w
}

// Records is every record, partition after partition.
func (w *Workload) Records() []string {
	var out []string
	for _, p := range w.Partitions {
		out = append(out, p...)
	}
	return out
}

func recordTime(rec string) time.Time {
	i := strings.Index(rec, `"time":"`) + len(`"time":"`)
	t, _ := time.Parse(time.RFC3339Nano, rec[i:i+28])
	return t
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func signIn(id, upn, ip, country string, code int, at time.Time) string {
	result, sig := "0", "SUCCESS"
	if code != 0 {
		result, sig = fmt.Sprint(code), "FAILURE"
	}
	return fmt.Sprintf(`{"time":"%s","resourceId":"/tenants/%s/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"SignInLogs","tenantId":"%s","resultType":"%s","resultSignature":"%s","durationMs":0,"callerIpAddress":"%s","correlationId":"%s","identity":"%s","Level":4,"location":"%s","properties":{"id":"%s","createdDateTime":"%s","userPrincipalName":"%s","userId":"%s","appId":"4765445b-32c6-49b0-83e6-1d93765276ca","appDisplayName":"OfficeHome","ipAddress":"%s","status":{"errorCode":%d},"clientAppUsed":"Browser","userAgent":"%s","location":{"city":"Somewhere","countryOrRegion":"%s"},"conditionalAccessStatus":"notApplied","isInteractive":true,"authenticationRequirement":"singleFactorAuthentication","tokenIssuerType":"AzureAD"}}`,
		stamp(at), tenant, tenant, result, sig, ip, id, upn, country, id, stamp(at), upn, id, ip, code, chrome, country)
}

func activity(id, caller, op, name string, at time.Time) string {
	rid := fmt.Sprintf("/SUBSCRIPTIONS/%s/RESOURCEGROUPS/RG-PROD/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/%s", strings.ToUpper(subscription), strings.ToUpper(name))
	return fmt.Sprintf(`{"time":"%s","resourceId":"%s","operationName":"%s","category":"Administrative","resultType":"Success","resultSignature":"Succeeded.","durationMs":"0","callerIpAddress":"185.220.101.47","correlationId":"%s","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"%s","http://schemas.microsoft.com/identity/claims/tenantid":"%s"}},"level":"Information","location":"westeurope","properties":{"eventCategory":"Administrative","entity":"%s","message":"%s","hierarchy":"%s/%s"}}`,
		stamp(at), rid, op, id, caller, tenant, rid, strings.ToLower(op), tenant, subscription)
}

func deletion(id, caller, name string, at time.Time) string {
	return activity(id, caller, "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE", name, at)
}

func write(id, caller, name string, at time.Time) string {
	return activity(id, caller, "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", name, at)
}
