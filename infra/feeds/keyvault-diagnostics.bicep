// Feed: Key Vault audit logs (AuditEvent) to the Event Hub.
// Scope: the resource group of the vaults. Deploy on its own with
//   az deployment group create -g <vault rg> -f infra/feeds/keyvault-diagnostics.bicep \
//     -p keyVaultNames='["kv1","kv2"]' eventHubAuthorizationRuleId=<main output> eventHubName=<main output>
// or let main.bicep do it (keyVaultIds).

param keyVaultNames array

param eventHubAuthorizationRuleId string
param eventHubName string

param settingName string = 'azdetect'

resource vaults 'Microsoft.KeyVault/vaults@2023-07-01' existing = [
  for n in keyVaultNames: {
    name: n
  }
]

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [
  for (n, i) in keyVaultNames: {
    name: settingName
    scope: vaults[i]
    properties: {
      eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
      eventHubName: eventHubName
      logs: [
        {
          categoryGroup: 'audit'
          enabled: true
        }
      ]
    }
  }
]
