#!/usr/bin/env python3
"""Two weeks of ordinary Tailspin Toys tenant activity, as Azure exports it.

The first week (23 to 29 November 2026) is what a deployment learns from (an entity's first week
only learns); the second (30 November to 6 December) is the week under test: `go test ./handler`
scans both and requires nothing above low. Deterministic (seeded): run it again to regenerate.

    python3 testdata/normal-week-generator/generate.py testdata/normal-week
"""
import json, os, random, sys
sys.dont_write_bytecode = True
from datetime import datetime, timedelta, timezone
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from azrec import activity, signin, spsignin, audit, mp, gid, SUB

rnd = random.Random(20261123)
START = datetime(2026, 11, 23, tzinfo=timezone.utc)
DAYS = 14
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "normal-week")

def ts(t): return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (t.microsecond * 10)

FIRST = ["ava","ben","cara","dev","eli","fay","gus","hana","ivan","jo","kai","lena","milo","nia","omar","pia","quinn","raj","sara","tom",
         "uma","vic","wes","xena","yuri","zoe","adam","bea","cole","dina","emil","fern","gio","hugo","iris","jack","kira","luca","maya","noah"]
LAST = ["lee","khan","silva","berg","ortiz","novak","ito","ward","costa","mayer"]
CITIES = [("Seattle","US",47.6062,-122.3321),("Bellevue","US",47.6101,-122.2015),("Redmond","US",47.674,-122.1215),("Tacoma","US",47.2529,-122.4443)]
EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)"
OFFICE_IP = "203.0.113.24"
APPS = [("Microsoft Office","d3590ed6-52b3-4102-aeff-aad2292ab01c"),("Microsoft Teams","1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
        ("Office 365 SharePoint Online","00000003-0000-0ff1-ce00-000000000000"),("Microsoft Outlook","5d661950-3475-41cd-a2c3-d671a3162bc1")]

users = []
for i in range(40):
    upn = f"{FIRST[i]}.{LAST[i % 10]}@tailspintoys.com"
    city = CITIES[i % 4]
    users.append({"upn": upn, "home_ip": f"198.51.100.{20 + i}", "city": city, "agent": MAC if i % 5 == 0 else EDGE})
admins = users[:3]
traveller = users[7]      # flies Seattle -> Chicago -> New York in the second week
londoner = users[11]      # works from London every other week (seen in the first week too)

signins, spins, audits, acts = [], [], [], []

def user_signin(u, t, ip=None, city=None, app=None, **kw):
    c = city or (u["city"] if ip != OFFICE_IP else CITIES[0])
    a = app or rnd.choice(APPS)
    signins.append(signin(ts(t), u["upn"], ip or u["home_ip"], city=c[0], country=c[1], lat=c[2], lon=c[3],
                          app=a[0], appid=a[1], agent=kw.pop("agent", u["agent"]), **kw))

for d in range(DAYS):
    day = START + timedelta(days=d)
    weekday = day.weekday() < 5
    week2 = d >= 7
    for n, u in enumerate(users):
        if not weekday and n % 4:
            continue
        where = []
        if u is traveller and week2 and d in (8, 9):
            where = [("198.51.100.230", ("Chicago","US",41.8781,-87.6298))] if d == 8 else [("198.51.100.231", ("New York","US",40.7128,-74.006))]
        elif u is londoner and (d // 7) in (0, 1) and day.weekday() in (1, 2):
            where = [("81.2.69.160", ("London","GB",51.5072,-0.1276))]
        else:
            where = [(OFFICE_IP if weekday and n % 3 else u["home_ip"], None)]
        ip, city = where[0]
        base = day + timedelta(hours=8 if city is None or city[1] == "US" else 0, minutes=rnd.randint(0, 50))
        if u is londoner and city and city[1] == "GB":
            base = day + timedelta(hours=9, minutes=rnd.randint(0, 50))  # London morning (the previous day's Seattle evening is 17h before)
        if u is traveller and city is not None:
            base = day + timedelta(hours=15, minutes=rnd.randint(0, 40))  # after the flight
        for k in range(rnd.randint(2, 4)):
            t = base + timedelta(hours=k * 2, minutes=rnd.randint(0, 30))
            if rnd.random() < 0.025:  # a typo, then the right password (at 4% the office NAT once reached six in an hour: see success_after_spray.yml)
                user_signin(u, t - timedelta(seconds=40), ip=ip, city=city, result=50126, req="singleFactorAuthentication")
            if rnd.random() < 0.02:   # a push missed once
                user_signin(u, t - timedelta(seconds=70), ip=ip, city=city, result=500121, details="MFA denied; user did not respond to mobile app notification")
            user_signin(u, t, ip=ip, city=city)
        # token refreshes through the day (non-interactive)
        for k in range(2):
            t = base + timedelta(hours=1 + k * 3, minutes=rnd.randint(0, 59))
            user_signin(u, t, ip=ip, city=city, category="NonInteractiveUserSignInLogs", interactive=False, app=APPS[1],
                        extra={"incomingTokenType": "refreshToken"})
    # the boardroom's Teams device signs in with a device code now and then (managed, compliant)
    if weekday and d % 3 == 0:
        signins.append(signin(ts(day + timedelta(hours=7, minutes=55)), "room-boardroom@tailspintoys.com", OFFICE_IP,
            app="Microsoft Teams Rooms", appid="1fec8e78-bce4-4aaf-ab1b-5451cc387264", client="Mobile Apps and Desktop clients",
            protocol="deviceCode", agent="Dalvik/2.1.0 (Linux; U; Android 12; TeamsRoom)",
            extra={"deviceDetail": {"deviceId": "5c1e8a2f-7d43-4b9e-a1c6-0f2d3e4b5a69", "displayName": "TT-ROOM-BOARD", "operatingSystem": "Android",
                   "browser": "", "isCompliant": True, "isManaged": True, "trustType": "Azure AD registered"}}))
    # pipelines: hourly client-credential sign-ins; an expired secret retried a few times a day
    for h in range(0, 24):
        t = day + timedelta(hours=h, minutes=5)
        spins.append(spsignin(ts(t), "deploy-pipeline", "7d3e5f2a-9b1c-4e6d-8a0f-2c4b6d8e0f13", "20.50.10.4"))
        if h % 6 == 0:
            spins.append(spsignin(ts(t + timedelta(minutes=1)), "backup-export", "b2c3d4e5-0000-4000-8000-0000000e1b0e", "20.50.10.9"))
    for h in (2, 10, 18):
        for k in range(3):
            spins.append(spsignin(ts(day + timedelta(hours=h, minutes=k)), "nightly-report", "c3d4e5f6-0000-4000-8000-00000000ab12",
                                  "20.50.10.11", result=7000222, reason="The provided client secret keys for app 'c3d4e5f6-0000-4000-8000-00000000ab12' are expired."))
    # helpdesk and admin directory work
    if weekday:
        admin = admins[d % 3]
        target = users[(d * 7) % 40]
        audits.append(audit(ts(day + timedelta(hours=10, minutes=12)), "Add member to group", "GroupManagement", actor=admin["upn"], ip=OFFICE_IP,
            optype="Assign", targets=[{"id": gid("oid", target["upn"]), "displayName": None, "type": "User", "userPrincipalName": target["upn"],
            "modifiedProperties": [mp("Group.ObjectID", None, gid("grp", d % 4)), mp("Group.DisplayName", None, ["Sales", "Engineering", "Finance", "Support"][d % 4])]}]))
        audits.append(audit(ts(day + timedelta(hours=11, minutes=3)), "Reset password (by admin)", "UserManagement", actor=admin["upn"], ip=OFFICE_IP,
            targets=[{"id": gid("oid", users[(d * 3) % 40]["upn"]), "displayName": None, "type": "User", "userPrincipalName": users[(d * 3) % 40]["upn"], "modifiedProperties": []}]))
        if d % 4 == 1:
            u = users[(d * 5) % 40]
            audits.append(audit(ts(day + timedelta(hours=14, minutes=20)), "Consent to application", "ApplicationManagement", actor=u["upn"], ip=OFFICE_IP, optype="Assign",
                targets=[{"id": gid("sp", "zoom"), "displayName": "Zoom", "type": "ServicePrincipal", "modifiedProperties": [
                    mp("ConsentContext.IsAdminConsent", None, "False"), mp("ConsentContext.OnBehalfOfAll", None, "False"),
                    mp("ConsentAction.Permissions", None, "[] => [[Id: z, ClientId: zz, PrincipalId: p, ResourceId: r, ConsentType: Principal, Scope:  openid profile email User.Read, CreatedDateTime: , LastModifiedDateTime ]]; ")]}]))
    # Azure control plane: admins and the deployment pipeline
    if weekday:
        admin = admins[d % 3]
        rg = f"/subscriptions/{SUB}/resourceGroups/rg-web-prod"
        for k in range(3):   # VMs started in the morning, stopped at night
            vm = f"{rg}/providers/Microsoft.Compute/virtualMachines/vm-web-{k + 1:02d}"
            c = gid("start", d, k)
            acts.append(activity(ts(day + timedelta(hours=7, minutes=k)), "Microsoft.Compute/virtualMachines/start/action", vm, result="Start", upn=admin["upn"], ip=OFFICE_IP, corr=c))
            acts.append(activity(ts(day + timedelta(hours=7, minutes=k, seconds=40)), "Microsoft.Compute/virtualMachines/start/action", vm, result="Success", upn=admin["upn"], ip=OFFICE_IP, corr=c))
        # the pipeline deploys the web app
        c = gid("deploy", d)
        dep = f"{rg}/providers/Microsoft.Resources/deployments/web-{d:02d}"
        for r_, off in (("Start", 0), ("Accept", 2), ("Success", 95)):
            acts.append(activity(ts(day + timedelta(hours=13, seconds=off)), "Microsoft.Resources/deployments/write", dep, result=r_, upn=None, sp_app="7d3e5f2a-9b1c-4e6d-8a0f-2c4b6d8e0f13", ip="20.50.10.4", corr=c))
        # the pipeline lists the web storage account's keys for the release
        st = f"{rg}/providers/Microsoft.Storage/storageAccounts/stwebassets"
        acts.append(activity(ts(day + timedelta(hours=13, minutes=2)), "Microsoft.Storage/storageAccounts/listKeys/action", st, result="Success", upn=None, sp_app="7d3e5f2a-9b1c-4e6d-8a0f-2c4b6d8e0f13", ip="20.50.10.4"))
        # a routine role grant: Reader or Storage Blob Data Reader on a resource group, Contributor for a new developer
        role = ["acdd72a7-3385-48ef-bd42-f606fba81ae7", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "b24988ac-6180-42a0-ab88-20f7382dd24c"][d % 3]
        aid = gid("ra", d)
        rid = f"{rg}/providers/Microsoft.Authorization/roleAssignments/{aid}"
        body = json.dumps({"Id": aid, "Properties": {"PrincipalId": gid("oid", users[(d * 11) % 40]["upn"]), "PrincipalType": "User",
                           "RoleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}", "Scope": rg}}, separators=(",", ":"))
        c = gid("rac", d)
        acts.append(activity(ts(day + timedelta(hours=15)), "Microsoft.Authorization/roleAssignments/write", rid, result="Start", upn=admin["upn"], ip=OFFICE_IP, corr=c, props={"requestbody": body}))
        acts.append(activity(ts(day + timedelta(hours=15, seconds=3)), "Microsoft.Authorization/roleAssignments/write", rid, result="Success", upn=admin["upn"], ip=OFFICE_IP, corr=c, sig="Succeeded.Created", status="Created"))
        # an NSG rule for the office range
        nsg = f"{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg-web/securityRules/allow-office-https"
        c = gid("nsg", d)
        acts.append(activity(ts(day + timedelta(hours=16)), "Microsoft.Network/networkSecurityGroups/securityRules/write", nsg, result="Start", upn=admin["upn"], ip=OFFICE_IP, corr=c,
            props={"requestbody": json.dumps({"properties": {"protocol": "Tcp", "sourceAddressPrefix": "203.0.113.0/24", "destinationPortRange": "443", "access": "Allow", "direction": "Inbound", "priority": 200}})}))
        acts.append(activity(ts(day + timedelta(hours=16, seconds=5)), "Microsoft.Network/networkSecurityGroups/securityRules/write", nsg, result="Success", upn=admin["upn"], ip=OFFICE_IP, corr=c))
        # a policy audit; once, in the second week, a developer's public storage account denied
        pol = activity(ts(day + timedelta(hours=12)), "Microsoft.Authorization/policies/audit/action", f"{rg}/providers/Microsoft.Storage/storageAccounts/stwebassets",
                       result="Success", upn=admin["upn"], ip=OFFICE_IP, category="Policy", sig="Succeeded", level="Warning",
                       props={"isComplianceCheck": "False", "policies": json.dumps([{"policyDefinitionEffect": "Audit", "policyAssignmentName": "audit-tls"}])})
        pol["operationName"] = "Microsoft.Authorization/policies/audit/action"
        pol["identity"]["authorization"]["action"] = "Microsoft.Storage/storageAccounts/write"
        acts.append(pol)
        if d == 9:
            dn = dict(pol, operationName="Microsoft.Authorization/policies/deny/action", resultType="Failure", resultSignature="Failed", level="Error")
            acts.append(dn)

def dump(name, recs):
    recs.sort(key=lambda r: r["time"])
    with open(os.path.join(OUT, name), "w") as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")

dump("signin.jsonl", signins)
dump("serviceprincipal-signin.jsonl", spins)
dump("audit.jsonl", audits)
dump("activity.jsonl", acts)
