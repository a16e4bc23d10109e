// Command benchmem writes the inputs of scripts/bench-memory.sh (issue 17
// item 3, issue 12 item 3): a realistic mix of a given size, a gzip of long
// malformed lines, and a gzip bomb. Nothing it writes is committed.
//
//	benchmem mix MB FILE            JSON Lines: Activity, sign-ins, audit, risk; thousands of users and addresses
//	benchmem malformed N MB FILE    N malformed lines of MB megabytes each (FILE ending .gz: gzip)
//	benchmem bomb GB FILE           a gzip of GB gigabytes of zeros after one record
package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchmem:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: benchmem mix MB FILE | malformed N MB FILE | bomb GB FILE")
	}
	switch args[0] {
	case "mix":
		mb, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return write(args[2], func(w io.Writer) error { return mix(w, int64(mb)<<20) })
	case "malformed":
		if len(args) < 4 {
			return fmt.Errorf("usage: benchmem malformed N MB FILE")
		}
		n, err1 := strconv.Atoi(args[1])
		mb, err2 := strconv.Atoi(args[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("malformed: N and MB are numbers")
		}
		return write(args[3], func(w io.Writer) error { return malformed(w, n, mb<<20) })
	case "bomb":
		gb, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return bomb(args[2], int64(gb)<<30)
	}
	return fmt.Errorf("unknown input %q", args[0])
}

// write creates file, gzip'd when its name ends in .gz.
func write(name string, fn func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var zw *gzip.Writer
	if strings.HasSuffix(name, ".gz") {
		zw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
		w = zw
	}
	if err := fn(w); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// malformed writes n lines of size bytes: a record whose string never
// closes, with a NUL byte every 64 bytes (JSON escapes each into six).
func malformed(w io.Writer, n, size int) error {
	chunk := []byte(strings.Repeat("A", 63) + "\x00")
	for i := 0; i < n; i++ {
		if _, err := fmt.Fprintf(w, `{"time":"2026-11-20T08:00:00Z","category":"SignInLogs","properties":{"userAgent":"`); err != nil {
			return err
		}
		for k := 0; k < size/len(chunk); k++ {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		if _, err := w.Write([]byte("\n")); err != nil {
			return err
		}
	}
	return nil
}

// bomb writes one record then size bytes of zeros, gzip'd at the best
// ratio: one 64 MiB member written once and repeated (a gzip body may hold
// many members).
func bomb(name string, size int64) error {
	var member strings.Builder
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	head := gzip.NewWriter(f)
	_, _ = head.Write([]byte(`{"time":"2026-11-20T08:00:00Z","category":"Administrative","operationName":"x"}` + "\n"))
	if err := head.Close(); err != nil {
		return err
	}
	for n := int64(0); n < size; n += 64 << 20 {
		if _, err := f.WriteString(member.String()); err != nil {
			return err
		}
	}
	return f.Close()
}

// mix writes size bytes of JSON Lines shaped like Azure's: Activity Log
// Start/Success pairs 40 %, sign-ins 30 % (one in ten failing), audit 20 %,
// risk events 10 %; 5,000 users, 20,000 addresses, one record every 50 ms.
func mix(w io.Writer, size int64) error {
	r := rand.New(rand.NewPCG(1, 2))
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &counter{w: bw}
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	ops := []string{
		"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE",
		"MICROSOFT.NETWORK/NETWORKINTERFACES/WRITE", "MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE",
		"MICROSOFT.WEB/SITES/RESTART/ACTION", "MICROSOFT.COMPUTE/DISKS/DELETE",
	}
	activities := []string{"Update user", "Add member to group", "Update application", "Update device"}
	for i := 0; cw.n < size; i++ {
		t := base.Add(time.Duration(i) * 50 * time.Millisecond).Format("2006-01-02T15:04:05.0000000Z")
		user := fmt.Sprintf("user%04d@contoso.com", r.IntN(5000))
		ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(20), r.IntN(250)+1)
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
		sub := r.IntN(20)
		switch k := i % 10; {
		case k < 4:
			op := ops[r.IntN(len(ops))]
			result, sig, status := "Start", "Started.", "Started"
			if i%2 == 1 {
				result, sig, status = "Success", "Succeeded.OK", "OK"
			}
			fmt.Fprintf(cw, `{"time":"%s","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-0000000000%02d/RESOURCEGROUPS/RG-APP%d/PROVIDERS/%s/VM-%d","operationName":"%s","category":"Administrative","resultType":"%s","resultSignature":"%s","durationMs":%d,"callerIpAddress":"%s","correlationId":"%s","identity":{"claims":{"appid":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","ipaddr":"%s","name":"%s","http://schemas.microsoft.com/identity/claims/objectidentifier":"%s","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"%s"}},"level":"Information","location":"global","properties":{"statusCode":"%s","eventCategory":"Administrative","entity":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-app%d/providers/%s/vm-%d","message":"%s"}}`+"\n",
				t, sub, i%5, op, i%400, op, result, sig, r.IntN(900), ip, id, ip, user, id, user, status, sub, i%5, op, i%400, op)
		case k < 7:
			code, reason := 0, "Other."
			if r.IntN(10) == 0 {
				code, reason = 50126, "Error validating credentials due to invalid username or password."
			}
			fmt.Fprintf(cw, `{"Level":4,"callerIpAddress":"%s","category":"SignInLogs","correlationId":"%s","durationMs":0,"identity":"Some User","location":"NL","operationName":"Sign-in activity","operationVersion":"1.0","properties":{"appDisplayName":"Azure Portal","appId":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","authenticationRequirement":"multiFactorAuthentication","clientAppUsed":"Browser","conditionalAccessStatus":"success","correlationId":"%s","createdDateTime":"%s","deviceDetail":{"browser":"Edge 131.0.0","operatingSystem":"Windows10"},"id":"%s","ipAddress":"%s","isInteractive":true,"location":{"city":"Amsterdam","countryOrRegion":"NL"},"resourceDisplayName":"Windows Azure Service Management API","riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","status":{"errorCode":%d,"failureReason":"%s"},"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0","userDisplayName":"Some User","userId":"%s","userPrincipalName":"%s","userType":"Member"},"resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","resultDescription":"%s","resultSignature":"None","resultType":"%d","tenantId":"72f988bf-0000-4000-8000-000000000001","time":"%s"}`+"\n",
				ip, id, id, t, id, ip, code, reason, id, user, reason, code, t)
		case k < 9:
			act := activities[r.IntN(len(activities))]
			fmt.Fprintf(cw, `{"time":"%s","resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","operationName":"%s","operationVersion":"1.0","category":"AuditLogs","tenantId":"72f988bf-0000-4000-8000-000000000001","resultSignature":"None","durationMs":0,"callerIpAddress":"%s","correlationId":"%s","identity":"Helpdesk","Level":4,"properties":{"id":"Directory_%s","category":"UserManagement","correlationId":"%s","result":"success","activityDisplayName":"%s","activityDateTime":"%s","loggedByService":"Core Directory","operationType":"Update","initiatedBy":{"user":{"id":"%s","userPrincipalName":"%s","ipAddress":"%s"}},"targetResources":[{"id":"%s","type":"User","userPrincipalName":"user%04d@contoso.com"}]}}`+"\n",
				t, act, ip, id, id, id, act, t, id, user, ip, id, r.IntN(5000))
		default:
			fmt.Fprintf(cw, `{"time":"%s","resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","operationName":"User Risk Detection","category":"UserRiskEvents","tenantId":"72f988bf-0000-4000-8000-000000000001","Level":4,"callerIpAddress":"%s","correlationId":"%s","identity":"Identity Protection","properties":{"activity":"signin","activityDateTime":"%s","correlationId":"%s","detectedDateTime":"%s","detectionTimingType":"realtime","id":"%s","ipAddress":"%s","riskEventType":"unfamiliarFeatures","riskLevel":"low","riskState":"atRisk","source":"IdentityProtection","userId":"%s","userPrincipalName":"%s"}}`+"\n",
				t, ip, id, t, id, t, id, ip, id, user)
		}
	}
	return bw.Flush()
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
