// Package benchcorpus generates the benchmark corpus: a realistic mix of
// every log source azdetect parses, as Azure writes the records, with
// thousands of distinct users and addresses. It is generated
// deterministically (a fixed seed) rather than committed, so that `make
// bench` and `make bench-instructions` measure the same bytes on every run
// and machine.
//
// The mix (shares of records): Activity Log Administrative 30 % (Start and
// Success records of one operation, sharing a correlation id), sign-ins 25 %
// (interactive, non-interactive, service principal, managed identity),
// Entra audit 12 %, Identity Protection risk events 3 %, NSG flow logs v2
// 6 % and VNet flow logs 4 % (each record with many flow tuples), Key
// Vault 9 %, StorageBlobLogs 7 %, Storage Analytics $logs lines 4 %.
package benchcorpus

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Record is one generated record: one line of the corpus.
type Record struct {
	Source string // the registry source expected to own it (activitylogs, ...)
	Line   []byte // the record, without its line end
}

// Users and Addresses are how many distinct principals and client
// addresses the corpus draws from.
const (
	Users     = 3000
	Addresses = 6000
)

// kinds, with their relative share of picks (an activity pick is two records).
var kinds = []struct {
	name  string
	share int
}{
	{"activity", 158}, // two records a pick (Start and outcome)
	{"signin", 100}, {"signin-noninteractive", 80}, {"signin-sp", 40}, {"signin-mi", 30},
	{"audit", 120},
	{"risk", 30},
	{"nsgflow", 60},
	{"vnetflow", 40},
	{"keyvault", 90},
	{"storageblob", 70},
	{"storagelogs", 40},
}

// Generate returns n records in a fixed, interleaved order.
func Generate(n int) []Record {
	out := make([]Record, 0, n)
	Each(func(r Record) bool {
		out = append(out, r)
		return len(out) < n
	})
	return out
}

// Each hands fn the records of Generate one at a time, in the same order,
// until fn returns false: a corpus of any size without holding it (the
// memory benchmark writes hundreds of megabytes of it).
func Each(fn func(Record) bool) {
	g := &gen{r: rand.New(rand.NewPCG(20261201, 7)), base: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	// A weighted round robin keeps every prefix of the corpus a mix.
	credit := make([]int, len(kinds))
	total := 0
	for _, k := range kinds {
		total += k.share
	}
	for n := 0; ; {
		best := 0
		for k := range kinds {
			credit[k] += kinds[k].share
			if credit[k] > credit[best] {
				best = k
			}
		}
		credit[best] -= total
		g.i = n
		for _, r := range g.record(kinds[best].name) {
			if !fn(r) {
				return
			}
			n++
		}
	}
}

// JSONLines joins records one per line.
func JSONLines(recs []Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.Line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BySource groups records by the source expected to own them.
func BySource(recs []Record) map[string][]Record {
	m := map[string][]Record{}
	for _, r := range recs {
		m[r.Source] = append(m[r.Source], r)
	}
	return m
}

type gen struct {
	r    *rand.Rand
	base time.Time
	i    int
}

const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

func (g *gen) when() time.Time { return g.base.Add(time.Duration(g.i) * 97 * time.Millisecond) }

func (g *gen) user() (upn, oid string) {
	u := g.r.IntN(Users)
	return fmt.Sprintf("user%04d@contoso.com", u), fmt.Sprintf("%08x-1c2d-4e3f-8a9b-%012x", u*7919, u)
}

func (g *gen) addr() string {
	a := g.r.IntN(Addresses)
	return fmt.Sprintf("%d.%d.%d.%d", 20+a%180, (a/180)%250+1, (a*7)%250+1, a%253+1)
}

func (g *gen) guid() string {
	r := g.r
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *gen) record(kind string) []Record {
	switch kind {
	case "activity":
		return g.activity()
	case "signin", "signin-noninteractive", "signin-sp", "signin-mi":
		return []Record{{"signinlogs", g.signin(kind)}}
	case "audit":
		return []Record{{"auditlogs", g.audit()}}
	case "risk":
		return []Record{{"riskdetection", g.risk()}}
	case "nsgflow":
		return []Record{{"nsgflowlogs", g.nsgFlow()}}
	case "vnetflow":
		return []Record{{"vnetflowlogs", g.vnetFlow()}}
	case "keyvault":
		return []Record{{"keyvault", g.keyVault()}}
	case "storageblob":
		return []Record{{"storagelogs", g.storageBlob()}}
	case "storagelogs":
		return []Record{{"storageanalytics", g.storageAnalytics()}}
	}
	panic("benchcorpus: unknown kind " + kind)
}

var armOps = []string{
	"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE",
	"MICROSOFT.NETWORK/NETWORKINTERFACES/WRITE", "MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE",
	"MICROSOFT.WEB/SITES/RESTART/ACTION", "MICROSOFT.COMPUTE/DISKS/DELETE",
	"MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE", "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
	"MICROSOFT.KEYVAULT/VAULTS/WRITE", "MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE",
	"MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", "MICROSOFT.COMPUTE/SNAPSHOTS/WRITE",
}

// activity is one operation: its Start record and, for most, its outcome,
// sharing the correlation id (the rule engine's sequences join them).
func (g *gen) activity() []Record {
	op := pick(g.r, armOps)
	upn, oid := g.user()
	ip := g.addr()
	corr := g.guid()
	sub := g.r.IntN(40)
	rg := g.r.IntN(25)
	name := fmt.Sprintf("res-%d", g.r.IntN(500))
	one := func(status, sig, result string, level string) Record {
		t := g.when().Format("2006-01-02T15:04:05.0000000Z")
		line := fmt.Sprintf(`{"time":"%s","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-0000000000%02d/RESOURCEGROUPS/RG-APP%d/PROVIDERS/%s/%s","operationName":"%s","category":"Administrative","resultType":"%s","resultSignature":"%s","durationMs":%d,"callerIpAddress":"%s","correlationId":"%s","identity":{"authorization":{"scope":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-app%d","action":"%s","evidence":{"role":"Contributor","roleAssignmentScope":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d","roleAssignmentId":"1b2c3d4e5f60718293a4b5c6d7e8f901","roleDefinitionId":"b24988ac618042a0ab8820f7382dd24c","principalId":"%s","principalType":"User"}},"claims":{"aud":"https://management.core.windows.net/","iss":"https://sts.windows.net/%s/","iat":"1763625600","nbf":"1763625600","exp":"1763629500","http://schemas.microsoft.com/claims/authnclassreference":"1","aio":"AVQAq/8TAAAA","http://schemas.microsoft.com/claims/authnmethodsreferences":"pwd,mfa","appid":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appidacr":"2","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname":"User","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname":"Some","ipaddr":"%s","name":"%s","http://schemas.microsoft.com/identity/claims/objectidentifier":"%s","puid":"10037FFE8D4C2E1A","http://schemas.microsoft.com/identity/claims/scope":"user_impersonation","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"c2bVxGx0ZzqQ","http://schemas.microsoft.com/identity/claims/tenantid":"%s","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":"%s","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"%s","uti":"Zq3kHkYy0kGQ","ver":"1.0"}},"level":"%s","location":"global","properties":{"statusCode":"%s","serviceRequestId":null,"eventCategory":"Administrative","entity":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-app%d/providers/%s/%s","message":"%s","hierarchy":"%s/6f2c1d2e-0000-4000-8000-0000000000%02d"}}`,
			t, sub, rg, op, name, op, result, sig, g.r.IntN(900), ip, corr, sub, rg, op, sub, oid, tenant, ip, upn, oid, tenant, upn, upn, level, status, sub, rg, op, name, op, tenant, sub)
		return Record{"activitylogs", []byte(line)}
	}
	recs := []Record{one("Started", "Started.", "Start", "Informational")}
	switch g.r.IntN(10) {
	case 0:
		g.i++
		recs = append(recs, one("Forbidden", "Failed.Forbidden", "Failure", "Error"))
	case 1:
	default:
		g.i++
		recs = append(recs, one("OK", "Succeeded.OK", "Success", "Informational"))
	}
	return recs
}

var (
	browsers = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"python-requests/2.32.3",
	}
	countries = []struct{ code, city, state string }{
		{"NL", "Amsterdam", "Noord-Holland"}, {"US", "Seattle", "Washington"}, {"GB", "London", "England"},
		{"DE", "Berlin", "Berlin"}, {"IN", "Bengaluru", "Karnataka"}, {"BR", "Sao Paulo", "Sao Paulo"},
	}
	apps = []struct{ id, name string }{
		{"c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal"},
		{"00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"},
		{"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"},
		{"04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI"},
	}
)

func (g *gen) signin(kind string) []byte {
	t := g.when().Format("2006-01-02T15:04:05.0000000Z")
	corr, id := g.guid(), g.guid()
	ip := g.addr()
	code, reason := 0, "Other."
	switch n := g.r.IntN(20); {
	case n == 0:
		code, reason = 50126, "Error validating credentials due to invalid username or password."
	case n == 1:
		code, reason = 50074, "Strong Authentication is required."
	case n == 2:
		code, reason = 53003, "Access has been blocked by Conditional Access policies."
	}
	cty := pick(g.r, countries)
	app := pick(g.r, apps)
	switch kind {
	case "signin-sp":
		sp := g.r.IntN(200)
		return fmt.Appendf(nil, `{"time":"%s","resourceId":"/tenants/%s/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"ServicePrincipalSignInLogs","tenantId":"%s","resultType":"%d","resultSignature":"None","resultDescription":"%s","durationMs":0,"callerIpAddress":"%s","correlationId":"%s","Level":4,"location":"%s","properties":{"id":"%s","createdDateTime":"%s","userId":null,"appId":"6b1d2f3e-4a5b-4c6d-8e7f-%012d","ipAddress":"%s","status":{"errorCode":%d,"failureReason":"%s"},"location":{"city":"%s","countryOrRegion":"%s"},"conditionalAccessStatus":"notApplied","servicePrincipalName":"deploy-pipeline-%d","servicePrincipalId":"aa11bb22-cc33-4d44-8e55-%012d","servicePrincipalCredentialKeyId":"f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f","resourceDisplayName":"Windows Azure Service Management API","resourceId":"797f4846-ba00-4fd7-ba43-dac1f8f63013","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none"}}`,
			t, tenant, tenant, code, reason, ip, corr, cty.code, id, t, sp, ip, code, reason, cty.city, cty.code, sp, sp)
	case "signin-mi":
		mi := g.r.IntN(100)
		return fmt.Appendf(nil, `{"time":"%s","resourceId":"/tenants/%s/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"ManagedIdentitySignInLogs","tenantId":"%s","resultType":"0","resultSignature":"None","durationMs":0,"correlationId":"%s","Level":4,"properties":{"id":"%s","createdDateTime":"%s","userId":null,"appId":"5e4d3c2b-1a09-4f8e-9d7c-%012d","ipAddress":"","status":{"errorCode":0},"location":{"city":"","countryOrRegion":"","state":""},"servicePrincipalName":"func-app-%d","servicePrincipalId":"3c2b1a09-f8e7-4d6c-9b5a-%012d","resourceDisplayName":"Azure Storage","resourceId":"e406a681-f3d4-42a8-90b6-c2b029497af1"}}`,
			t, tenant, tenant, corr, id, t, mi, mi, mi)
	}
	upn, oid := g.user()
	category, interactive := "SignInLogs", "true"
	if kind == "signin-noninteractive" {
		category, interactive = "NonInteractiveUserSignInLogs", "false"
	}
	return fmt.Appendf(nil, `{"Level":4,"callerIpAddress":"%s","category":"%s","correlationId":"%s","durationMs":0,"identity":"Some User","location":"%s","operationName":"Sign-in activity","operationVersion":"1.0","properties":{"appDisplayName":"%s","appId":"%s","appliedConditionalAccessPolicies":[{"displayName":"Require MFA for admins","enforcedGrantControls":["Mfa"],"enforcedSessionControls":[],"id":"5b0e7c1a-0000-4000-8000-00000000000a","result":"success"}],"authenticationDetails":[{"authenticationMethod":"Password","authenticationStepDateTime":"%s","authenticationStepRequirement":"Primary authentication","succeeded":true},{"authenticationMethod":"Mobile app notification","authenticationStepDateTime":"%s","authenticationStepRequirement":"Multi-factor authentication","succeeded":true}],"authenticationRequirement":"multiFactorAuthentication","clientAppUsed":"Browser","conditionalAccessStatus":"success","correlationId":"%s","createdDateTime":"%s","deviceDetail":{"browser":"Edge 131.0.0","deviceId":"","displayName":"","isCompliant":false,"isManaged":false,"operatingSystem":"Windows10","trustType":""},"id":"%s","ipAddress":"%s","isInteractive":%s,"location":{"city":"%s","countryOrRegion":"%s","geoCoordinates":{"latitude":52.37,"longitude":4.89},"state":"%s"},"mfaDetail":{"authDetail":null,"authMethod":"Mobile app notification"},"originalRequestId":"%s","resourceDisplayName":"Windows Azure Service Management API","resourceId":"797f4846-ba00-4fd7-ba43-dac1f8f63013","riskDetail":"none","riskEventTypes":[],"riskEventTypes_v2":[],"riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","status":{"errorCode":%d,"failureReason":"%s"},"tokenIssuerType":"AzureAD","userAgent":"%s","userDisplayName":"Some User","userId":"%s","userPrincipalName":"%s","userType":"Member"},"resourceId":"/tenants/%s/providers/Microsoft.aadiam","resultDescription":"%s","resultSignature":"None","resultType":"%d","tenantId":"%s","time":"%s"}`,
		ip, category, corr, cty.code, app.name, app.id, t, t, corr, t, id, ip, interactive, cty.city, cty.code, cty.state, id, code, reason, pick(g.r, browsers), oid, upn, tenant, reason, code, tenant, t)
}

var auditActivities = []struct{ name, category, opType, target string }{
	{"Update user", "UserManagement", "Update", "User"},
	{"Add member to group", "GroupManagement", "Assign", "Group"},
	{"Update application", "ApplicationManagement", "Update", "Application"},
	{"Add owner to group", "GroupManagement", "Assign", "Group"},
	{"Reset user password", "UserManagement", "Update", "User"},
	{"Add member to role", "RoleManagement", "Assign", "Role"},
	{"Consent to application", "ApplicationManagement", "Assign", "ServicePrincipal"},
}

func (g *gen) audit() []byte {
	t := g.when().Format("2006-01-02T15:04:05.0000000Z")
	act := pick(g.r, auditActivities)
	upn, oid := g.user()
	tupn, toid := g.user()
	ip, corr := g.addr(), g.guid()
	return fmt.Appendf(nil, `{"time":"%s","resourceId":"/tenants/%s/providers/Microsoft.aadiam","operationName":"%s","operationVersion":"1.0","category":"AuditLogs","tenantId":"%s","resultSignature":"None","durationMs":0,"callerIpAddress":"%s","correlationId":"%s","identity":"Helpdesk","Level":4,"properties":{"id":"Directory_%s_9VXYZ_%d","category":"%s","correlationId":"%s","result":"success","resultReason":"","activityDisplayName":"%s","activityDateTime":"%s","loggedByService":"Core Directory","operationType":"%s","initiatedBy":{"user":{"id":"%s","displayName":null,"userPrincipalName":"%s","ipAddress":"%s","roles":[]}},"targetResources":[{"id":"%s","displayName":null,"type":"%s","userPrincipalName":"%s","modifiedProperties":[{"displayName":"StrongAuthenticationPhoneAppDetail","oldValue":"[]","newValue":"[{\"DeviceName\":\"Phone\",\"DeviceToken\":\"x\"}]"},{"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"StrongAuthenticationPhoneAppDetail\""}],"administrativeUnits":[]}],"additionalDetails":[{"key":"UserType","value":"Member"},{"key":"User-Agent","value":"%s"}]}}`,
		t, tenant, act.name, tenant, ip, corr, corr, g.i, act.category, corr, act.name, t, act.opType, oid, upn, ip, toid, act.target, tupn, pick(g.r, browsers))
}

func (g *gen) risk() []byte {
	t := g.when().Format("2006-01-02T15:04:05.000Z")
	upn, oid := g.user()
	ip, id, corr := g.addr(), g.guid(), g.guid()
	cty := pick(g.r, countries)
	typ := pick(g.r, []string{"unfamiliarFeatures", "anonymizedIPAddress", "impossibleTravel", "leakedCredentials", "passwordSpray"})
	level := pick(g.r, []string{"low", "medium", "high"})
	return fmt.Appendf(nil, `{"time":"%s","resourceId":"/tenants/%s/providers/Microsoft.aadiam","operationName":"User Risk Detection","operationVersion":"1.0","category":"UserRiskEvents","tenantId":"%s","resultSignature":"None","durationMs":0,"callerIpAddress":"%s","correlationId":"%s","identity":"Some User","Level":4,"location":"%s","properties":{"id":"%s","requestId":"%s","correlationId":"%s","riskType":"%s","riskEventType":"%s","riskState":"atRisk","riskLevel":"%s","riskDetail":"none","source":"IdentityProtection","detectionTimingType":"realtime","activity":"signin","ipAddress":"%s","location":{"city":"%s","state":"%s","countryOrRegion":"%s","geoCoordinates":{"altitude":0,"latitude":47.6062,"longitude":-122.3321}},"activityDateTime":"%s","detectedDateTime":"%s","lastUpdatedDateTime":"%s","userId":"%s","userDisplayName":"Some User","userPrincipalName":"%s","additionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"%s\"}]","tokenIssuerType":"AzureAD","resourceTenantId":null,"homeTenantId":"%s","userType":"member","crossTenantAccessType":"none"}}`,
		t, tenant, tenant, ip, id, cty.code, id, g.guid(), corr, typ, typ, level, ip, cty.city, cty.state, cty.code, t, t, t, oid, upn, pick(g.r, browsers), tenant)
}

var rules = []string{"DefaultRule_AllowInternetOutBound", "DefaultRule_AllowVnetOutBound", "DefaultRule_DenyAllInBound", "UserRule_Allow-HTTPS", "UserRule_Allow-RDP-Any", "UserRule_Deny-SMB"}

// tuple is one NSG flow tuple v2 (or, vnet, a VNet flow tuple).
func (g *gen) tuple(ts int64, vnet bool) string {
	inbound := g.r.IntN(3) == 0
	local := fmt.Sprintf("10.20.%d.%d", g.r.IntN(8), g.r.IntN(250)+1)
	remote := g.addr()
	if g.r.IntN(4) == 0 {
		remote = fmt.Sprintf("10.20.%d.%d", g.r.IntN(8), g.r.IntN(250)+1)
	}
	src, dst, dir := local, remote, "O"
	sport, dport := 49152+g.r.IntN(16000), pick(g.r, []int{443, 443, 443, 80, 53, 22, 3389, 445, 1433})
	if inbound {
		src, dst, dir = remote, local, "I"
	}
	proto := "T"
	if dport == 53 {
		proto = "U"
	}
	if vnet {
		proto = "6"
		if dport == 53 {
			proto = "17"
		}
		state := pick(g.r, []string{"B", "C", "E", "E", "D"})
		if state == "B" || state == "D" {
			return fmt.Sprintf("%d,%s,%s,%d,%d,%s,%s,%s,NX,,,,", ts*1000+int64(g.r.IntN(1000)), src, dst, sport, dport, proto, dir, state)
		}
		return fmt.Sprintf("%d,%s,%s,%d,%d,%s,%s,%s,NX,%d,%d,%d,%d", ts*1000+int64(g.r.IntN(1000)), src, dst, sport, dport, proto, dir, state,
			g.r.IntN(5000), g.r.IntN(5000000), g.r.IntN(5000), g.r.IntN(5000000))
	}
	decision := "A"
	if g.r.IntN(6) == 0 {
		decision = "D"
	}
	state := pick(g.r, []string{"B", "C", "E", "E"})
	if state == "B" || decision == "D" {
		return fmt.Sprintf("%d,%s,%s,%d,%d,%s,%s,%s,B,,,,", ts, src, dst, sport, dport, proto, dir, decision)
	}
	return fmt.Sprintf("%d,%s,%s,%d,%d,%s,%s,%s,%s,%d,%d,%d,%d", ts, src, dst, sport, dport, proto, dir, decision, state,
		g.r.IntN(5000), g.r.IntN(5000000), g.r.IntN(5000), g.r.IntN(5000000))
}

func (g *gen) tuples(ts int64, n int, vnet bool) string {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(g.tuple(ts+int64(i), vnet))
		b.WriteByte('"')
	}
	return b.String()
}

func (g *gen) mac() string { return fmt.Sprintf("000D3A%06X", g.r.IntN(400)) }

func (g *gen) nsgFlow() []byte {
	when := g.when()
	ts := when.Unix() - 60
	mac := g.mac()
	var flows bytes.Buffer
	for k, n := 0, 1+g.r.IntN(3); k < n; k++ {
		if k > 0 {
			flows.WriteByte(',')
		}
		fmt.Fprintf(&flows, `{"rule":"%s","flows":[{"mac":"%s","flowTuples":[%s]}]}`, pick(g.r, rules), mac, g.tuples(ts, 4+g.r.IntN(12), false))
	}
	return fmt.Appendf(nil, `{"time":"%s","systemId":"%s","macAddress":"%s","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-0000000000%02d/RESOURCEGROUPS/RG-NET/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-%d","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[%s]}}`,
		when.Format("2006-01-02T15:04:05.0000000Z"), g.guid(), mac, g.r.IntN(40), g.r.IntN(60), flows.String())
}

func (g *gen) vnetFlow() []byte {
	when := g.when()
	ts := when.Unix() - 60
	mac := g.mac()
	sub := g.r.IntN(40)
	var groups bytes.Buffer
	for k, n := 0, 1+g.r.IntN(3); k < n; k++ {
		if k > 0 {
			groups.WriteByte(',')
		}
		fmt.Fprintf(&groups, `{"rule":"%s","flowTuples":[%s]}`, pick(g.r, rules), g.tuples(ts, 4+g.r.IntN(12), true))
	}
	return fmt.Appendf(nil, `{"time":"%s","flowLogVersion":4,"flowLogGUID":"%s","macAddress":"%s","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-0000000000%02d/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/VNET-FLOWLOG","targetResourceID":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-%d","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-net/providers/Microsoft.Network/networkSecurityGroups/nsg-%d","flowGroups":[%s]}]}}`,
		when.Format("2006-01-02T15:04:05.0000000Z"), g.guid(), mac, sub, sub, g.r.IntN(30), sub, g.r.IntN(60), groups.String())
}

var kvOps = []struct{ op, kind string }{
	{"SecretGet", "secrets"}, {"SecretGet", "secrets"}, {"SecretList", "secrets"}, {"KeyGet", "keys"},
	{"KeySign", "keys"}, {"CertificateGet", "certificates"}, {"SecretSet", "secrets"}, {"Authentication", ""},
}

func (g *gen) keyVault() []byte {
	t := g.when().Format("2006-01-02T15:04:05.0000000Z")
	op := pick(g.r, kvOps)
	upn, oid := g.user()
	ip := g.addr()
	vault := fmt.Sprintf("kv-app-%d", g.r.IntN(50))
	status, sig, result := 200, "OK", "Success"
	if g.r.IntN(12) == 0 {
		status, sig, result = 403, "Forbidden", "Failure"
	}
	id := "https://" + vault + ".vault.azure.net/"
	if op.kind != "" {
		id += op.kind + "/item-" + strconv.Itoa(g.r.IntN(200)) + "/" + fmt.Sprintf("%032x", g.r.Uint64())
	}
	return fmt.Appendf(nil, `{"time":"%s","category":"AuditEvent","operationName":"%s","resultType":"%s","correlationId":"%s","callerIpAddress":"%s","identity":{"claim":{"oid":"%s","upn":"%s","appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46","idtyp":"user","tid":"%s","ipaddr":"%s"}},"properties":{"id":"%s","clientInfo":"azsdk-python-keyvault-secrets/4.8.0 Python/3.11.8 (Linux-6.5.0-1016-azure-x86_64-with-glibc2.35)","httpStatusCode":%d,"requestUri":"%s?api-version=7.5","isAccessPolicyMatch":false,"isRbacAuthorized":true,"tlsVersion":"TLS1_3"},"resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-0000000000%02d/RESOURCEGROUPS/RG-SEC/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%s","operationVersion":"7.5","resultSignature":"%s","durationMs":"%d"}`,
		t, op.op, result, g.guid(), ip, oid, upn, tenant, ip, id, status, id, g.r.IntN(40), vault, sig, g.r.IntN(90))
}

var blobOps = []struct{ op, category string }{
	{"GetBlob", "StorageRead"}, {"GetBlob", "StorageRead"}, {"GetBlobProperties", "StorageRead"}, {"ListBlobs", "StorageRead"},
	{"PutBlob", "StorageWrite"}, {"PutBlock", "StorageWrite"}, {"DeleteBlob", "StorageDelete"},
}

func (g *gen) storageBlob() []byte {
	t := g.when().Format("2006-01-02T15:04:05.0000000Z")
	op := pick(g.r, blobOps)
	account := fmt.Sprintf("stapp%03d", g.r.IntN(80))
	_, oid := g.user()
	status, text := 200, "Success"
	switch g.r.IntN(15) {
	case 0:
		status, text = 403, "AuthorizationPermissionMismatch"
	case 1:
		status, text = 404, "BlobNotFound"
	}
	blob := fmt.Sprintf("/%s/data/file-%d.bin", account, g.r.IntN(10000))
	return fmt.Appendf(nil, `{"time":"%s","resourceId":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/%s/blobServices/default","category":"%s","operationName":"%s","operationVersion":"2022-11-02","schemaVersion":"1.0","statusCode":%d,"statusText":"%s","durationMs":%d,"callerIpAddress":"%s:%d","correlationId":"%s","identity":{"type":"OAuth","requester":{"objectId":"%s","appId":"9e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","tenantId":"%s","audience":"https://storage.azure.com","tokenIssuer":"https://sts.windows.net/%s/"}},"location":"westeurope","properties":{"accountName":"%s","userAgentHeader":"azsdk-net-Storage.Blobs/12.19.1 (.NET 8.0.8; Ubuntu 22.04)","clientRequestId":"%s","etag":"\"0x8DD09A1F2E3D4C5\"","serverLatencyMs":%d,"serviceType":"blob","objectKey":"%s","lastModifiedTime":"11/12/2026 2:00:00 AM","conditionsUsed":"","contentLengthHeader":0,"requestHeaderSize":512,"requestBodySize":0,"responseHeaderSize":402,"responseBodySize":%d,"tlsVersion":"TLS 1.2","accessTier":"Hot"},"uri":"https://%s.blob.core.windows.net%s","protocol":"HTTPS","resourceType":"Microsoft.Storage/storageAccounts/blobServices"}`,
		t, g.r.IntN(40), account, op.category, op.op, status, text, g.r.IntN(900), g.addr(), 30000+g.r.IntN(30000), g.guid(), oid, tenant, tenant, account, g.guid(), g.r.IntN(300), blob, g.r.IntN(5000000), account, blob[len(account)+1:])
}

func (g *gen) storageAnalytics() []byte {
	t := g.when().Format("2006-01-02T15:04:05.0000000Z")
	op := pick(g.r, blobOps)
	account := fmt.Sprintf("stlegacy%02d", g.r.IntN(30))
	status, code, auth := "Success", 200, "authenticated"
	switch g.r.IntN(10) {
	case 0:
		status, auth = "SASSuccess", "sas"
	case 1:
		status, code, auth = "AnonymousSuccess", 200, "anonymous"
	}
	blob := fmt.Sprintf("/%s/backups/file-%d.bak", account, g.r.IntN(10000))
	return fmt.Appendf(nil, `1.0;%s;%s;%s;%d;%d;%d;%s;;%s;blob;"https://%s.blob.core.windows.net%s";"%s";%s;0;%s:%d;2022-11-02;512;0;402;%d;0;;"42b3f4028ca6d256a1d48afe319c958d";"&quot;0x8DD09A225F4319A&quot;";Thursday, 12-Nov-26 02:00:00 GMT;;"AzCopy/10.27.1 azsdk-go-azblob/v1.4.0 (go1.22.5; linux)";;"%s"`,
		t, op.op, status, code, g.r.IntN(400), g.r.IntN(200), auth, account, account, blob[len(account)+1:], blob, g.guid(), g.addr(), 30000+g.r.IntN(30000), g.r.IntN(50000000), g.guid())
}
