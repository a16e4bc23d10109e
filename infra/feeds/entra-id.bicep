// Feed: Microsoft Entra ID sign-in, audit and risk logs to the Event Hub.
// Scope: tenant. Deploy with
//   az deployment tenant create -l <region> -f infra/feeds/entra-id.bicep \
//     -p eventHubAuthorizationRuleId=<main output> eventHubName=<main output> entraLicence=p2
// Who can: a Global Administrator or Security Administrator in Entra ID, who
// also needs ARM rights at the tenant root scope ("/") for a tenant-scope
// deployment (e.g. elevate access, or a role assignment at "/"), plus
// Microsoft.EventHub/namespaces/authorizationRules/listkeys/action on the rule.
//
// Licence: audit logs export with any edition; sign-in logs need Microsoft
// Entra ID P1 or P2; Identity Protection risk logs (RiskyUsers, UserRiskEvents)
// need P2; service-principal risk logs need Workload Identities Premium.
// Asking for a category the tenant is not licensed for fails the deployment:
// set entraLicence to what the tenant has.
targetScope = 'tenant'

param name string = 'azdetect-entra-id'

@description('Resource id of the Event Hubs namespace authorization rule (Manage, Send, Listen). main.bicep outputs it as diagnosticsAuthorizationRuleId.')
param eventHubAuthorizationRuleId string

param eventHubName string

@description('Entra ID licence of the tenant: free (audit only), p1 (audit and sign-in), p2 (plus risk).')
@allowed([
  'free'
  'p1'
  'p2'
])
param entraLicence string = 'p2'

@description('Also export service-principal risk logs (Workload Identities Premium).')
param includeWorkloadIdentityRisk bool = false

var auditCategories = [
  'AuditLogs'
]

var signInCategories = [
  'SignInLogs'
  'NonInteractiveUserSignInLogs'
  'ServicePrincipalSignInLogs'
  'ManagedIdentitySignInLogs'
]

var riskCategories = [
  'RiskyUsers'
  'UserRiskEvents'
]

var workloadRiskCategories = [
  'RiskyServicePrincipals'
  'ServicePrincipalRiskEvents'
]

var categories = concat(auditCategories, entraLicence == 'free' ? [] : signInCategories, entraLicence == 'p2' ? riskCategories : [], includeWorkloadIdentityRisk ? workloadRiskCategories : [])

// The published type of this old API lists only AuditLogs and SignInLogs as
// categories; Bicep warns on the others (BCP036-style warning), the service
// accepts them.
resource entra 'microsoft.aadiam/diagnosticSettings@2017-04-01' = {
  name: name
  properties: {
    eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
    eventHubName: eventHubName
    logs: [
      for c in categories: {
        category: c
        enabled: true
      }
    ]
  }
}

output categories array = categories
