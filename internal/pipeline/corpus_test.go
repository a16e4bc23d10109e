package pipeline

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"
)

// corpus generates n realistic mixed records as JSON Lines, shaped like the
// public samples: Activity Log Administrative 40 % (Start/Success pairs,
// claims), sign-ins 30 %, Entra audit 20 %, Identity Protection risk events
// 10 %. Values vary so that nothing is cached by accident; the seed is fixed
// so that runs compare.
func corpus(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	base := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	users := []string{"alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dave@contoso.com", "erin@contoso.com"}
	ops := []string{
		"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE",
		"MICROSOFT.NETWORK/NETWORKINTERFACES/WRITE", "MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE",
		"MICROSOFT.WEB/SITES/RESTART/ACTION", "MICROSOFT.COMPUTE/DISKS/DELETE",
	}
	activities := []string{"Update user", "Add member to group", "Update application", "Update device", "Add owner to group"}
	for i := 0; i < n; i++ {
		t := base.Add(time.Duration(i) * 173 * time.Millisecond).Format("2006-01-02T15:04:05.0000000Z")
		user := users[r.IntN(len(users))]
		ip := fmt.Sprintf("203.0.113.%d", r.IntN(250)+1)
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
		switch k := i % 10; {
		case k < 4:
			op := ops[r.IntN(len(ops))]
			result, sig, status := "Start", "Started.", "Started"
			if i%2 == 1 {
				result, sig, status = "Success", "Succeeded.OK", "OK"
			}
			fmt.Fprintf(&b, `{"time":"%s","resourceId":"/SUBSCRIPTIONS/6F2C1D2E-0000-4000-8000-0000000000%02d/RESOURCEGROUPS/RG-APP%d/PROVIDERS/%s/VM-%d","operationName":"%s","category":"Administrative","resultType":"%s","resultSignature":"%s","durationMs":%d,"callerIpAddress":"%s","correlationId":"%s","identity":{"authorization":{"scope":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-app%d","action":"%s","evidence":{"role":"Contributor","roleAssignmentScope":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d","roleAssignmentId":"1b2c3d4e5f60718293a4b5c6d7e8f901","roleDefinitionId":"b24988ac618042a0ab8820f7382dd24c","principalId":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","principalType":"User"}},"claims":{"aud":"https://management.core.windows.net/","iss":"https://sts.windows.net/72f988bf-0000-4000-8000-000000000001/","iat":"1763625600","nbf":"1763625600","exp":"1763629500","http://schemas.microsoft.com/claims/authnclassreference":"1","aio":"AVQAq/8TAAAA","http://schemas.microsoft.com/claims/authnmethodsreferences":"pwd,mfa","appid":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appidacr":"2","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname":"User","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname":"Some","ipaddr":"%s","name":"%s","http://schemas.microsoft.com/identity/claims/objectidentifier":"%s","puid":"10037FFE8D4C2E1A","http://schemas.microsoft.com/identity/claims/scope":"user_impersonation","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"c2bVxGx0ZzqQ","http://schemas.microsoft.com/identity/claims/tenantid":"72f988bf-0000-4000-8000-000000000001","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":"%s","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"%s","uti":"Zq3kHkYy0kGQ","ver":"1.0"}},"level":"Information","location":"global","properties":{"statusCode":"%s","serviceRequestId":null,"eventCategory":"Administrative","entity":"/subscriptions/6f2c1d2e-0000-4000-8000-0000000000%02d/resourceGroups/rg-app%d/providers/%s/vm-%d","message":"%s","hierarchy":"72f988bf-0000-4000-8000-000000000001/6f2c1d2e-0000-4000-8000-0000000000%02d"}}`+"\n",
				t, i%7, i%5, op, i%40, op, result, sig, r.IntN(900), ip, id, i%7, i%5, op, i%7, ip, user, id, user, user, status, i%7, i%5, op, i%40, op, i%7)
		case k < 7:
			code, reason := 0, "Other."
			if r.IntN(10) == 0 {
				code, reason = 50126, "Error validating credentials due to invalid username or password."
			}
			fmt.Fprintf(&b, `{"Level":4,"callerIpAddress":"%s","category":"SignInLogs","correlationId":"%s","durationMs":0,"identity":"Some User","location":"NL","operationName":"Sign-in activity","operationVersion":"1.0","properties":{"appDisplayName":"Azure Portal","appId":"c44b4083-3bb0-49c1-b47d-974e53cbdf3c","appliedConditionalAccessPolicies":[{"displayName":"Require MFA for admins","enforcedGrantControls":["Mfa"],"enforcedSessionControls":[],"id":"5b0e7c1a-0000-4000-8000-00000000000a","result":"success"}],"authenticationDetails":[{"authenticationMethod":"Password","authenticationStepDateTime":"%s","authenticationStepRequirement":"Primary authentication","succeeded":true},{"authenticationMethod":"Mobile app notification","authenticationStepDateTime":"%s","authenticationStepRequirement":"Multi-factor authentication","succeeded":true}],"authenticationRequirement":"multiFactorAuthentication","clientAppUsed":"Browser","conditionalAccessStatus":"success","correlationId":"%s","createdDateTime":"%s","deviceDetail":{"browser":"Edge 131.0.0","deviceId":"","displayName":"","isCompliant":false,"isManaged":false,"operatingSystem":"Windows10","trustType":""},"id":"%s","ipAddress":"%s","isInteractive":true,"location":{"city":"Amsterdam","countryOrRegion":"NL","geoCoordinates":{"latitude":52.37,"longitude":4.89},"state":"Noord-Holland"},"mfaDetail":{"authDetail":null,"authMethod":"Mobile app notification"},"originalRequestId":"%s","resourceDisplayName":"Windows Azure Service Management API","resourceId":"797f4846-ba00-4fd7-ba43-dac1f8f63013","riskDetail":"none","riskEventTypes":[],"riskEventTypes_v2":[],"riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","status":{"errorCode":%d,"failureReason":"%s"},"tokenIssuerType":"AzureAD","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0","userDisplayName":"Some User","userId":"%s","userPrincipalName":"%s","userType":"Member"},"resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","resultDescription":"%s","resultSignature":"None","resultType":"%d","tenantId":"72f988bf-0000-4000-8000-000000000001","time":"%s"}`+"\n",
				ip, id, t, t, id, t, id, ip, id, code, reason, id, user, reason, code, t)
		case k < 9:
			act := activities[r.IntN(len(activities))]
			fmt.Fprintf(&b, `{"time":"%s","resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","operationName":"%s","operationVersion":"1.0","category":"AuditLogs","tenantId":"72f988bf-0000-4000-8000-000000000001","resultSignature":"None","durationMs":0,"callerIpAddress":"%s","correlationId":"%s","identity":"Helpdesk","Level":4,"properties":{"id":"Directory_%s_9VXYZ_123456","category":"UserManagement","correlationId":"%s","result":"success","resultReason":"","activityDisplayName":"%s","activityDateTime":"%s","loggedByService":"Core Directory","operationType":"Update","initiatedBy":{"user":{"id":"%s","displayName":null,"userPrincipalName":"%s","ipAddress":"%s","roles":[]}},"targetResources":[{"id":"%s","displayName":null,"type":"User","userPrincipalName":"%s","modifiedProperties":[{"displayName":"StrongAuthenticationPhoneAppDetail","oldValue":"[]","newValue":"[{\"DeviceName\":\"Phone\",\"DeviceToken\":\"x\"}]"},{"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"StrongAuthenticationPhoneAppDetail\""}],"administrativeUnits":[]}],"additionalDetails":[{"key":"UserType","value":"Member"}]}}`+"\n",
				t, act, ip, id, id, id, act, t, id, user, ip, id, users[(i+1)%len(users)])
		default:
			fmt.Fprintf(&b, `{"time":"%s","resourceId":"/tenants/72f988bf-0000-4000-8000-000000000001/providers/Microsoft.aadiam","operationName":"User Risk Detection","category":"UserRiskEvents","tenantId":"72f988bf-0000-4000-8000-000000000001","Level":4,"durationMs":0,"callerIpAddress":"%s","correlationId":"%s","identity":"Identity Protection","properties":{"activity":"signin","activityDateTime":"%s","additionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"Mozilla/5.0\"}]","correlationId":"%s","detectedDateTime":"%s","detectionTimingType":"realtime","id":"%s","ipAddress":"%s","lastUpdatedDateTime":"%s","location":{"city":"Amsterdam","countryOrRegion":"NL","geoCoordinates":{"latitude":52.37,"longitude":4.89},"state":"Noord-Holland"},"requestId":"%s","riskDetail":"none","riskEventType":"unfamiliarFeatures","riskLevel":"low","riskState":"atRisk","riskType":"unfamiliarFeatures","source":"IdentityProtection","tokenIssuerType":"AzureAD","userDisplayName":"Some User","userId":"%s","userPrincipalName":"%s"}}`+"\n",
				t, ip, id, t, id, t, id, ip, t, id, id, user)
		}
	}
	return b.Bytes()
}
