package detect

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/event"
)

// sharedDir finds ../shared/reference/<sub> beside the repository root.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "reference", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is missing (%v): the SigmaHQ reference rules are not beside this checkout", p, err)
	}
	return p
}

// loadSigma loads every SigmaHQ Azure rule; every one must load.
func loadSigma(t testing.TB) []*Rule {
	t.Helper()
	dir := sharedDir(t, "sigma-azure")
	rules, err := loadDir(os.DirFS(dir), ".", dir, false)
	if err != nil {
		t.Fatalf("SigmaHQ rules: %v", err)
	}
	return rules
}

func TestSigmaRulesLoad(t *testing.T) {
	rules := loadSigma(t)
	if len(rules) != 123 {
		t.Errorf("loaded %d SigmaHQ rules, want all 123", len(rules))
	}
	byService := map[string]int{}
	for _, r := range rules {
		byService[r.Service()]++
		if len(r.Techniques()) == 0 && len(r.Tactics()) == 0 {
			t.Logf("%s: no ATT&CK tags", r.File)
		}
	}
	t.Logf("rules by service: %v", byService)
}

// sampleEvents reads the public single-line JSON samples the test parser
// recognises.
func sampleEvents(t testing.TB) []*event.Event {
	t.Helper()
	base := sharedDir(t, "samples")
	var out []*event.Event
	for _, sub := range []string{"activitylogs", "auditlogs", "signinlogs", "identity_protection"} {
		files, _ := filepath.Glob(filepath.Join(base, sub, "*", "*.log"))
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<22)
			for sc.Scan() {
				line := append([]byte(nil), sc.Bytes()...)
				if !json.Valid(line) {
					continue
				}
				if ev, err := testParse(line); err == nil {
					out = append(out, ev)
				}
			}
			fh.Close()
		}
	}
	return out
}

// sigmaCases are hand-written records in raw diagnostic-settings shape for
// SigmaHQ rules, positive and negative: they check the field mapping.
var sigmaCases = []struct {
	file string
	name string
	want bool
	raw  string
}{
	// Sign-ins: Status is the outcome, AuthenticationRequirement the
	// normalised value.
	{"signin_logs/azure_ad_only_single_factor_auth_required.yml", "successful single-factor sign-in", true,
		`{"time":"2026-11-23T09:00:00Z","category":"SignInLogs","operationName":"Sign-in activity","resultType":"0","properties":{"userPrincipalName":"alice@contoso.com","status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication"}}`},
	{"signin_logs/azure_ad_only_single_factor_auth_required.yml", "failed single-factor sign-in", false,
		`{"time":"2026-11-23T09:00:00Z","category":"SignInLogs","operationName":"Sign-in activity","resultType":"50126","properties":{"userPrincipalName":"alice@contoso.com","status":{"errorCode":50126,"failureReason":"Invalid username or password."},"authenticationRequirement":"singleFactorAuthentication"}}`},
	{"signin_logs/azure_ad_only_single_factor_auth_required.yml", "successful MFA sign-in", false,
		`{"time":"2026-11-23T09:00:00Z","category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0,"additionalDetails":"MFA requirement satisfied by claim in the token"},"authenticationRequirement":"multiFactorAuthentication"}}`},
	{"signin_logs/azure_mfa_denies.yml", "MFA denied", true,
		`{"category":"SignInLogs","resultType":"500121","properties":{"status":{"errorCode":500121,"failureReason":"Authentication failed during strong authentication request.","additionalDetails":"MFA denied; user declined the authentication"},"authenticationRequirement":"multiFactorAuthentication"}}`},
	{"signin_logs/azure_mfa_denies.yml", "MFA completed", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0,"additionalDetails":"MFA completed in Azure AD"},"authenticationRequirement":"multiFactorAuthentication"}}`},
	{"signin_logs/azure_account_lockout.yml", "smart lockout 50053", true,
		`{"category":"SignInLogs","resultType":"50053","resultDescription":"Account is locked","properties":{"status":{"errorCode":50053}}}`},
	{"signin_logs/azure_account_lockout.yml", "bad password 50126", false,
		`{"category":"SignInLogs","resultType":"50126","properties":{"status":{"errorCode":50126}}}`},
	{"signin_logs/azure_account_lockout.yml", "error code only in status", true,
		`{"category":"SignInLogs","properties":{"status":{"errorCode":50053}}}`},
	{"signin_logs/azure_ad_risky_sign_ins_with_singlefactorauth_from_unknown_devices.yml", "at risk, no trust type", true,
		`{"category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication","riskState":"atRisk","deviceDetail":{"deviceId":"","operatingSystem":"Windows10"}}}`},
	{"signin_logs/azure_ad_risky_sign_ins_with_singlefactorauth_from_unknown_devices.yml", "at risk, empty trust type", true,
		`{"category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication","riskState":"atRisk","deviceDetail":{"trustType":""}}}`},
	{"signin_logs/azure_ad_risky_sign_ins_with_singlefactorauth_from_unknown_devices.yml", "at risk, joined device", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication","riskState":"atRisk","deviceDetail":{"trustType":"Azure AD joined"}}}`},
	{"signin_logs/azure_ad_sign_ins_from_unknown_devices.yml", "no device, no named location", true,
		`{"category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication","networkLocationDetails":[],"deviceDetail":{"deviceId":""}}}`},
	{"signin_logs/azure_ad_sign_ins_from_unknown_devices.yml", "trusted named location", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"status":{"errorCode":0},"authenticationRequirement":"singleFactorAuthentication","networkLocationDetails":[{"networkType":"namedNetwork","networkNames":["HQ"]}],"deviceDetail":{"deviceId":""}}}`},
	{"signin_logs/azure_ad_device_registration_or_join_without_mfa.yml", "device registration, single factor", true,
		`{"category":"SignInLogs","resultType":"0","properties":{"resourceDisplayName":"Device Registration Service","conditionalAccessStatus":"success","authenticationRequirement":"singleFactorAuthentication","status":{"errorCode":0}}}`},
	{"signin_logs/azure_ad_device_registration_or_join_without_mfa.yml", "device registration with MFA", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"resourceDisplayName":"Device Registration Service","conditionalAccessStatus":"success","authenticationRequirement":"multiFactorAuthentication","status":{"errorCode":0}}}`},
	// The rule holds placeholders (Username 'UPN', ActivityDetails
	// 'Sign-ins', ClientApp 'IMAP' where logs write IMAP4): the mapping of
	// ClientApp and Username works, but a real legacy sign-in does not match.
	{"signin_logs/azure_legacy_authentication_protocols.yml", "placeholders filled literally", true,
		`{"category":"SignInLogs","resultType":"0","properties":{"activityDetails":"Sign-ins","clientAppUsed":"IMAP","userPrincipalName":"UPN","status":{"errorCode":0}}}`},
	{"signin_logs/azure_legacy_authentication_protocols.yml", "real IMAP4 sign-in (rule placeholders)", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"clientAppUsed":"IMAP4","userPrincipalName":"alice@contoso.com","status":{"errorCode":0}}}`},
	{"signin_logs/azure_legacy_authentication_protocols.yml", "browser", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"activityDetails":"Sign-ins","clientAppUsed":"Browser","userPrincipalName":"UPN","status":{"errorCode":0}}}`},
	{"signin_logs/azure_app_ropc_authentication.yml", "ROPC protocol", true,
		`{"category":"SignInLogs","resultType":"0","properties":{"authenticationProtocol":"ropc","status":{"errorCode":0}}}`},
	{"signin_logs/azure_app_ropc_authentication.yml", "no protocol", false,
		`{"category":"SignInLogs","resultType":"0","properties":{"authenticationProtocol":"none","status":{"errorCode":0}}}`},

	// Audit logs: activity names in properties.activityDisplayName,
	// Category in properties.category, modified properties by name.
	{"audit_logs/azure_mfa_disabled.yml", "strong auth disabled", true,
		`{"category":"AuditLogs","operationName":"Disable Strong Authentication","properties":{"activityDisplayName":"Disable Strong Authentication","category":"UserManagement","loggedByService":"Core Directory","result":"success","targetResources":[{"type":"User","userPrincipalName":"bob@contoso.com"}]}}`},
	{"audit_logs/azure_mfa_disabled.yml", "strong auth disable failed", false,
		`{"category":"AuditLogs","operationName":"Disable Strong Authentication","properties":{"activityDisplayName":"Disable Strong Authentication","result":"failure"}}`},
	{"audit_logs/azure_user_account_mfa_disable.yml", "StrongAuthenticationRequirement state 0", true,
		`{"category":"AuditLogs","operationName":"Update user","properties":{"activityDisplayName":"Update user","category":"UserManagement","loggedByService":"Core Directory","result":"success","targetResources":[{"type":"User","userPrincipalName":"bob@contoso.com","modifiedProperties":[{"displayName":"StrongAuthenticationRequirement","oldValue":"[{\"RelyingParty\":\"*\",\"State\":1,\"RememberDevicesNotIssuedBefore\":\"2026-01-01T00:00:00Z\"}]","newValue":"[{\"RelyingParty\":\"*\",\"State\":0,\"RememberDevicesNotIssuedBefore\":\"2026-01-01T00:00:00Z\"}]"},{"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"StrongAuthenticationRequirement\""}]}]}}`},
	{"audit_logs/azure_user_account_mfa_disable.yml", "StrongAuthenticationRequirement enforced", false,
		`{"category":"AuditLogs","operationName":"Update user","properties":{"activityDisplayName":"Update user","category":"UserManagement","loggedByService":"Core Directory","result":"success","targetResources":[{"type":"User","modifiedProperties":[{"displayName":"StrongAuthenticationRequirement","oldValue":"[]","newValue":"[{\"RelyingParty\":\"*\",\"State\":2}]"}]}]}}`},
	{"audit_logs/azure_user_account_mfa_disable.yml", "Category is the audit category, not AuditLogs", false,
		`{"category":"AuditLogs","operationName":"Update user","properties":{"activityDisplayName":"Update user","category":"ApplicationManagement","loggedByService":"Core Directory","targetResources":[{"modifiedProperties":[{"displayName":"StrongAuthenticationRequirement","newValue":"[{\"State\":0}]"}]}]}}`},
	{"audit_logs/azure_app_credential_added.yml", "secret added (en dash, trailing blank)", true,
		`{"category":"AuditLogs","operationName":"Update application – Certificates and secrets management ","properties":{"activityDisplayName":"Update application – Certificates and secrets management ","category":"ApplicationManagement","result":"success","targetResources":[{"type":"Application","displayName":"SimuLandApp","modifiedProperties":[{"displayName":"KeyDescription","oldValue":"[]","newValue":"[\"[KeyIdentifier=59eaeebc-8a6b-44a6-9f24-7d55e64420c9,KeyType=Password,KeyUsage=Verify,DisplayName=SimuLandCreds]\"]"}]}]}}`},
	{"audit_logs/azure_app_credential_added.yml", "plain application update", false,
		`{"category":"AuditLogs","operationName":"Update application","properties":{"activityDisplayName":"Update application","category":"ApplicationManagement","result":"success"}}`},
	{"audit_logs/azure_ad_user_added_to_admin_role.yml", "added to Global Administrator", true,
		`{"category":"AuditLogs","operationName":"Add member to role","properties":{"activityDisplayName":"Add member to role","category":"RoleManagement","result":"success","targetResources":[{"type":"User","userPrincipalName":"eve@contoso.com","modifiedProperties":[{"displayName":"Role.DisplayName","oldValue":null,"newValue":"\"Global Administrator\""},{"displayName":"Role.TemplateId","oldValue":null,"newValue":"\"62e90394-69f5-4237-9190-012177145e10\""}]}]}}`},
	{"audit_logs/azure_ad_user_added_to_admin_role.yml", "added to Reports Reader", false,
		`{"category":"AuditLogs","operationName":"Add member to role","properties":{"activityDisplayName":"Add member to role","category":"RoleManagement","result":"success","targetResources":[{"type":"User","userPrincipalName":"eve@contoso.com","modifiedProperties":[{"displayName":"Role.DisplayName","oldValue":null,"newValue":"\"Reports Reader\""}]}]}}`},
	{"audit_logs/azure_ad_users_added_to_device_admin_roles.yml", "Global Administrator by template id", true,
		`{"category":"AuditLogs","operationName":"Add member to role","properties":{"activityDisplayName":"Add member to role","category":"RoleManagement","targetResources":[{"type":"User","modifiedProperties":[{"displayName":"Role.TemplateId","newValue":"\"62e90394-69f5-4237-9190-012177145e10\""}]}]}}`},
	{"audit_logs/azure_app_end_user_consent.yml", "user consent", true,
		`{"category":"AuditLogs","operationName":"Consent to application","properties":{"activityDisplayName":"Consent to application","category":"ApplicationManagement","result":"success","targetResources":[{"type":"ServicePrincipal","displayName":"Evil App","modifiedProperties":[{"displayName":"ConsentContext.IsAdminConsent","oldValue":null,"newValue":"\"False\""},{"displayName":"ConsentContext.IsAppOnly","oldValue":null,"newValue":"\"False\""}]}]}}`},
	{"audit_logs/azure_app_end_user_consent.yml", "admin consent", false,
		`{"category":"AuditLogs","operationName":"Consent to application","properties":{"activityDisplayName":"Consent to application","targetResources":[{"modifiedProperties":[{"displayName":"ConsentContext.IsAdminConsent","newValue":"\"True\""},{"displayName":"ConsentContext.IsAppOnly","newValue":"\"False\""}]}]}}`},
	{"audit_logs/azure_guest_invite_failure.yml", "failed invitation", true,
		`{"category":"AuditLogs","operationName":"Invite external user","properties":{"activityDisplayName":"Invite external user","category":"UserManagement","result":"failure","resultReason":"Guest invitations are disabled"}}`},
	{"audit_logs/azure_guest_invite_failure.yml", "successful invitation", false,
		`{"category":"AuditLogs","operationName":"Invite external user","properties":{"activityDisplayName":"Invite external user","category":"UserManagement","result":"success"}}`},
	{"audit_logs/azure_tap_added.yml", "temporary access pass registered", true,
		`{"category":"AuditLogs","operationName":"Admin registered security info","properties":{"activityDisplayName":"Admin registered security info","category":"UserManagement","loggedByService":"Authentication Methods","result":"success","resultReason":"Admin registered temporary access pass method for user"}}`},
	{"audit_logs/azure_tap_added.yml", "phone registered", false,
		`{"category":"AuditLogs","operationName":"Admin registered security info","properties":{"activityDisplayName":"Admin registered security info","result":"success","resultReason":"Admin registered phone method for user"}}`},
	{"audit_logs/azure_change_to_authentication_method.yml", "user registered security info", true,
		`{"category":"AuditLogs","operationName":"User registered security info","properties":{"activityDisplayName":"User registered security info","category":"UserManagement","loggedByService":"Authentication Methods","result":"success"}}`},
	{"audit_logs/azure_auditlogs_laps_credential_dumping.yml", "LAPS password recovered", true,
		`{"category":"AuditLogs","operationName":"Recover device local administrator password","properties":{"activityDisplayName":"Recover device local administrator password","category":"Device","loggedByService":"Device Registration Service","result":"success","additionalDetails":[{"key":"additionalInfo","value":"Successfully recovered local credential by device id: 3f1a"}]}}`},
	{"audit_logs/azure_auditlogs_laps_credential_dumping.yml", "LAPS recovery without the detail", false,
		`{"category":"AuditLogs","operationName":"Recover device local administrator password","properties":{"activityDisplayName":"Recover device local administrator password","category":"Device","additionalDetails":[{"key":"User-Agent","value":"Successfully recovered local credential by device id"}]}}`},
	{"audit_logs/azure_aad_secops_ca_policy_removedby_bad_actor.yml", "CA policy deleted", true,
		`{"category":"AuditLogs","operationName":"Delete conditional access policy","properties":{"activityDisplayName":"Delete conditional access policy","category":"Policy","loggedByService":"Conditional Access","result":"success"}}`},
	{"audit_logs/azure_ad_bitlocker_key_retrieval.yml", "BitLocker key read", true,
		`{"category":"AuditLogs","operationName":"Read BitLocker key","properties":{"activityDisplayName":"Read BitLocker key","category":"KeyManagement","loggedByService":"Device Registration Service","result":"success"}}`},

	// Identity Protection.
	{"identity_protection/azure_identity_protection_anonymous_ip_address.yml", "anonymized IP", true,
		`{"time":"8/22/2022 6:07:16 PM","category":"UserRiskEvents","operationName":"User Risk Detection","properties":{"riskEventType":"anonymizedIPAddress","riskLevel":"medium","userPrincipalName":"joe@contoso.com"}}`},
	{"identity_protection/azure_identity_protection_anonymous_ip_address.yml", "unfamiliar features", false,
		`{"category":"UserRiskEvents","operationName":"User Risk Detection","properties":{"riskEventType":"unfamiliarFeatures"}}`},
	{"identity_protection/azure_identity_protection_anonymous_ip_address.yml", "legacy riskType", true,
		`{"category":"UserRiskEvents","operationName":"User Risk Detection","properties":{"riskType":"anonymizedIPAddress"}}`},

	// Activity log: operationName, keywords, the *Value columns.
	{"activity_logs/azure_keyvault_modified_or_deleted.yml", "vault written", true,
		`{"time":"2026-11-23T09:00:00Z","category":"Administrative","operationName":"MICROSOFT.KEYVAULT/VAULTS/WRITE","resultType":"Success","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1"}`},
	{"activity_logs/azure_keyvault_modified_or_deleted.yml", "secret written is another rule", false,
		`{"time":"2026-11-23T09:00:00Z","category":"Administrative","operationName":"MICROSOFT.KEYVAULT/VAULTS/SECRETS/WRITE","resultType":"Success"}`},
	{"activity_logs/azure_keyvault_modified_or_deleted.yml", "natural case operation", true,
		`{"category":"Administrative","operationName":"Microsoft.KeyVault/vaults/delete","resultType":"Start"}`},
	{"activity_logs/azure_granting_permission_detection.yml", "role assignment written", true,
		`{"category":"Administrative","operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE","resultType":"Start","properties":{"requestbody":"{\"Id\":\"x\",\"Properties\":{\"PrincipalId\":\"p\",\"RoleDefinitionId\":\"/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635\"}}"}}`},
	{"activity_logs/azure_granting_permission_detection.yml", "role assignment deleted", false,
		`{"category":"Administrative","operationName":"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE","resultType":"Success"}`},
	{"activity_logs/azure_aadhybridhealth_adfs_new_server.yml", "AD FS server registered", true,
		`{"category":"Administrative","operationName":"MICROSOFT.ADHYBRIDHEALTHSERVICE/SERVICES/SERVICEMEMBERS/ACTION","resultType":"Success","resourceId":"/PROVIDERS/MICROSOFT.ADHYBRIDHEALTHSERVICE/SERVICES/ADFEDERATIONSERVICE-CONTOSO.COM","properties":{"message":"Microsoft.ADHybridHealthService/services/servicemembers/action"}}`},
	{"activity_logs/azure_aadhybridhealth_adfs_new_server.yml", "other provider", false,
		`{"category":"Administrative","operationName":"MICROSOFT.ADHYBRIDHEALTHSERVICE/SERVICES/SERVICEMEMBERS/ACTION","resultType":"Success","resourceId":"/SUBSCRIPTIONS/S1/PROVIDERS/MICROSOFT.WEB/SITES/ADFEDERATIONSERVICE"}`},
	{"activity_logs/azure_dns_zone_modified_or_deleted.yml", "DNS record set deleted", true,
		`{"category":"Administrative","operationName":"MICROSOFT.NETWORK/DNSZONES/A/DELETE","resultType":"Success"}`},
	{"activity_logs/azure_dns_zone_modified_or_deleted.yml", "DNS zone read", false,
		`{"category":"Administrative","operationName":"MICROSOFT.NETWORK/DNSZONES/READ","resultType":"Success"}`},
}

func TestSigmaRulesOnEvents(t *testing.T) {
	rules := loadSigma(t)
	byFile := map[string]*Rule{}
	for _, r := range rules {
		rel, _ := filepath.Rel(sharedDir(t, "sigma-azure"), r.File)
		byFile[filepath.ToSlash(rel)] = r
	}
	covered := map[string]bool{}
	for _, tc := range sigmaCases {
		t.Run(strings.TrimSuffix(filepath.Base(tc.file), ".yml")+"/"+tc.name, func(t *testing.T) {
			r := byFile[tc.file]
			if r == nil {
				t.Fatalf("no rule %s", tc.file)
			}
			ev := mustEvent(t, withEnvelope(tc.raw))
			if ev.Source != r.Service() {
				t.Fatalf("record parses as %s, rule reads %s", ev.Source, r.Service())
			}
			if got := r.Match(ev); got != tc.want {
				t.Fatalf("%s (%s) over %s = %t, want %t", r.Title, r.Condition(), tc.raw, got, tc.want)
			}
		})
		covered[tc.file] = true
	}
	if len(covered) < 12 {
		t.Errorf("hand-written cases cover %d rules, want at least 12", len(covered))
	}
}

// TestSigmaRulesEngine runs every SigmaHQ rule through the engine over the
// hand-written records and the public samples.
func TestSigmaRulesEngine(t *testing.T) {
	rules := loadSigma(t)
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	events := sampleEvents(t)
	for _, tc := range sigmaCases {
		events = append(events, mustEvent(t, withEnvelope(tc.raw)))
	}
	matches, err := eng.Evaluate(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	hits := map[string]int{}
	for _, m := range matches {
		if len(m.Events) != 1 || m.Events[0].Source != m.Rule.Service() {
			t.Fatalf("match %s: %d events, source %s", m.Rule.ID, len(m.Events), m.Events[0].Source)
		}
		hits[filepath.Base(m.Rule.File)]++
	}
	names := make([]string, 0, len(hits))
	for n := range hits {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("%4d %s", hits[n], n)
	}
	t.Logf("%d events, %d matches", len(events), len(matches))
	// Every positive hand-written case must come out of the engine too.
	for _, tc := range sigmaCases {
		if tc.want && hits[filepath.Base(tc.file)] == 0 {
			t.Errorf("engine raised nothing for %s", tc.file)
		}
	}
}

// withEnvelope completes a hand-written record with the envelope fields
// every diagnostic-settings record carries and the cases leave out for
// brevity: time, and the tenant-scoped resourceId of Entra records.
func withEnvelope(raw string) string {
	add := ""
	if !strings.Contains(raw, `"time"`) {
		add += `"time":"2026-11-23T09:00:00.1234567Z",`
	}
	if !strings.Contains(raw, `"resourceId"`) {
		lower := strings.ToLower(raw)
		switch {
		case strings.Contains(lower, `"category":"administrative"`):
			add += `"resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/RG1",`
		default:
			add += `"resourceId":"/tenants/5611623b-9128-461e-9d7f-a0d9c270ead2/providers/Microsoft.aadiam","tenantId":"5611623b-9128-461e-9d7f-a0d9c270ead2",`
		}
	}
	return "{" + add + raw[1:]
}
