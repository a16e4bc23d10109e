"""Azure log records as diagnostic settings export them (Activity Log, sign-in, service principal
sign-in, audit): the shapes of reference/log-schemas.md, for generate.py."""
import json, uuid, hashlib
TENANT="7f3c2a91-5d4e-4b8a-9c6f-2e1d0b8a7c35"
SUB="3b8e6f21-9a4c-4d7e-b5f2-8c1a0e9d6b47"
def gid(*a):
    h=hashlib.sha1("|".join(map(str,a)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{'89ab'[int(h[16],16)%4]}{h[17:20]}-{h[20:32]}"
def claims(upn=None, name=None, ip="203.0.113.31", appid="c44b4083-3bb0-49c1-b47d-974e53cbdf3c", oid=None, mfa=True, sp=False):
    c={"aud":"https://management.core.windows.net/","iss":f"https://sts.windows.net/{TENANT}/",
       "appid":appid,"appidacr":"1" if sp else "0","ipaddr":ip,
       "http://schemas.microsoft.com/identity/claims/objectidentifier":oid or gid("oid",upn or appid),
       "http://schemas.microsoft.com/identity/claims/tenantid":TENANT,"ver":"1.0"}
    if sp:
        c["idtyp"]="app"
    else:
        c.update({"idtyp":"user","name":name or upn.split("@")[0].replace("."," ").title(),
          "http://schemas.microsoft.com/claims/authnmethodsreferences":"pwd,mfa" if mfa else "pwd",
          "http://schemas.microsoft.com/identity/claims/scope":"user_impersonation",
          "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":upn,
          "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":upn})
    return c
def activity(time, op, rid, result="Success", upn="marek.nowak@tailspintoys.com", ip="185.220.101.47", corr=None,
             props=None, category="Administrative", sig=None, level="Informational", sp_app=None, status=None, scope=None):
    sigs={"Start":"Started.","Accept":"Accepted.Created","Success":"Succeeded.OK","Failure":"Failed.Forbidden"}
    codes={"Start":"","Accept":"Accepted","Success":"OK","Failure":"Forbidden"}
    corr=corr or gid("corr",time,op,rid)
    p={"statusCode": status if status is not None else codes.get(result,"OK"),"serviceRequestId":None,"eventCategory":category,
       "entity":rid.lower() if False else rid,"message":op,"hierarchy":f"{TENANT}/{SUB}"}
    if result=="Start": p.pop("statusCode")
    if props: p.update(props)
    rec={"time":time,"resourceId":rid.upper(),"operationName":op.upper() if category=="Administrative" else op,"category":category,
         "resultType":result,"resultSignature":sig or sigs.get(result,"Succeeded."),"durationMs":"0" if result=="Start" else "812",
         "callerIpAddress":ip,"correlationId":corr,
         "identity":{"authorization":{"scope":scope or rid,"action":op,"evidence":{"role":"Owner","roleAssignmentScope":f"/subscriptions/{SUB}","roleAssignmentId":gid("ra",upn).replace("-",""),"roleDefinitionId":"8e3af657a8ff443ca75c2fe8c4bcb635","principalId":gid("oid",upn or sp_app).replace("-",""),"principalType":"ServicePrincipal" if sp_app else "User"}},
                     "claims":claims(upn=upn, ip=ip, appid=sp_app or "04b07795-8ddb-461a-bbee-02f9e1bf7b46", sp=bool(sp_app))},
         "level":level,"location":"global","properties":p}
    return rec
def signin(time, upn, ip, result=0, city="Seattle", country="US", lat=47.6062, lon=-122.3321, app="Microsoft Office",
           appid="d3590ed6-52b3-4102-aeff-aad2292ab01c", category="SignInLogs", agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
           client="Browser", protocol="none", req="multiFactorAuthentication", reason=None, details=None, risk="none", rstate="none", interactive=True, sid=None, auth_details=None, extra=None):
    sid=sid or gid("signin",time,upn,ip,result)
    failure={50126:"Error validating credentials due to invalid username or password.",500121:"Authentication failed during strong authentication request.",50074:"Strong Authentication is required.",50053:"Account is locked because user tried to sign in too many times with an incorrect user ID or password."}
    p={"id":sid,"createdDateTime":time.replace("Z","+00:00"),"userDisplayName":upn.split("@")[0].replace("."," ").title(),
       "userPrincipalName":upn,"userId":gid("oid",upn),"appId":appid,"appDisplayName":app,"ipAddress":ip,
       "status":{"errorCode":result} if result==0 else {"errorCode":result,"failureReason":reason or failure.get(result,"Sign-in failed."),"additionalDetails":details or ""},
       "clientAppUsed":client,"userAgent":agent,
       "location":{"city":city,"state":"","countryOrRegion":country,"geoCoordinates":{"latitude":lat,"longitude":lon}},
       "conditionalAccessStatus":"success" if result==0 else "notApplied","isInteractive":interactive,
       "riskDetail":"none","riskLevelAggregated":risk,"riskLevelDuringSignIn":risk,"riskState":rstate,
       "resourceDisplayName":"Office 365 Exchange Online","resourceId":"00000002-0000-0ff1-ce00-000000000000",
       "authenticationRequirement":req,"userType":"Member","tokenIssuerType":"AzureAD","authenticationProtocol":protocol,
       "incomingTokenType":"none","correlationId":gid("sc",sid),"originalRequestId":sid}
    if auth_details is not None: p["authenticationDetails"]=auth_details
    if extra: p.update(extra)
    return {"time":time,"resourceId":f"/tenants/{TENANT}/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0",
            "category":category,"tenantId":TENANT,"resultType":str(result),"resultSignature":"SUCCESS" if result==0 else "None",
            "resultDescription":"" if result==0 else p["status"]["failureReason"],"durationMs":0,"callerIpAddress":ip,"correlationId":p["correlationId"],
            "identity":p["userDisplayName"],"Level":4,"location":country,"properties":p}
def spsignin(time, app, appid, ip, result=0, reason=None, category="ServicePrincipalSignInLogs", sid=None):
    sid=sid or gid("spsignin",time,appid,ip,result)
    p={"id":sid,"createdDateTime":time.replace("Z","+00:00"),"appId":appid,"appDisplayName":app,"servicePrincipalId":gid("sp",appid),
       "servicePrincipalName":app,"ipAddress":ip,"status":{"errorCode":result} if result==0 else {"errorCode":result,"failureReason":reason or "Invalid client secret provided."},
       "location":{"city":"Amsterdam","countryOrRegion":"NL","geoCoordinates":{"latitude":52.37,"longitude":4.89}},
       "resourceDisplayName":"Microsoft Graph","resourceId":"00000003-0000-0000-c000-000000000000","servicePrincipalCredentialKeyId":gid("key",appid),
       "correlationId":gid("spc",sid),"conditionalAccessStatus":"notApplied","clientCredentialType":"clientSecret"}
    return {"time":time,"resourceId":f"/tenants/{TENANT}/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0",
            "category":category,"tenantId":TENANT,"resultType":str(result),"resultSignature":"SUCCESS" if result==0 else "None",
            "resultDescription":"" if result==0 else p["status"]["failureReason"],"durationMs":0,"callerIpAddress":ip,"correlationId":p["correlationId"],
            "identity":app,"Level":4,"location":"NL","properties":p}
def audit(time, activity, category, service="Core Directory", actor="marek.nowak@tailspintoys.com", ip="185.220.101.47", targets=None, result="success", optype="Update", details=None, app_actor=None, aid=None):
    aid=aid or ("Directory_"+gid("audit",time,activity,json.dumps(targets))+"_"+gid("x",time)[:5].upper())
    ib={"user":{"id":gid("oid",actor),"displayName":None,"userPrincipalName":actor,"ipAddress":ip,"roles":[]}} if not app_actor else {"app":{"appId":gid("app",app_actor),"displayName":app_actor,"servicePrincipalId":gid("sp",app_actor),"servicePrincipalName":None}}
    p={"id":aid,"category":category,"correlationId":gid("ac",aid),"result":result,"resultReason":"","activityDisplayName":activity,
       "activityDateTime":time.replace("Z","+00:00"),"loggedByService":service,"operationType":optype,"initiatedBy":ib,
       "targetResources":targets or [],"additionalDetails":details or []}
    return {"time":time,"resourceId":f"/tenants/{TENANT}/providers/Microsoft.aadiam","operationName":activity,"operationVersion":"1.0",
            "category":"AuditLogs","tenantId":TENANT,"resultSignature":"None","durationMs":0,"callerIpAddress":ip or "",
            "correlationId":p["correlationId"],"identity":actor if not app_actor else app_actor,"Level":4,"properties":p}
def mp(name, old, new):
    return {"displayName":name,"oldValue":json.dumps(old) if old is not None else None,"newValue":json.dumps(new)}
def j(r): return json.dumps(r, separators=(", ",": "), ensure_ascii=False)
