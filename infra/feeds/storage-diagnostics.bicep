// Feed: Blob Storage resource logs (StorageRead, StorageWrite, StorageDelete:
// the StorageBlobLogs azdetect parses) to the Event Hub.
// Scope: the resource group of the accounts. Deploy on its own with
//   az deployment group create -g <storage rg> -f infra/feeds/storage-diagnostics.bicep \
//     -p storageAccountNames='["st1"]' eventHubAuthorizationRuleId=<main output> eventHubName=<main output>
// or let main.bicep do it (storageDiagnosticsAccountIds).
//
// Do not list azdetect's own storage account: its state and checkpoint
// traffic would stream back into the hub it reads (a feedback loop).

param storageAccountNames array

param eventHubAuthorizationRuleId string
param eventHubName string

param settingName string = 'azdetect'

resource accounts 'Microsoft.Storage/storageAccounts@2023-05-01' existing = [
  for n in storageAccountNames: {
    name: n
  }
]

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = [
  for (n, i) in storageAccountNames: {
    parent: accounts[i]
    name: 'default'
  }
]

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = [
  for (n, i) in storageAccountNames: {
    name: settingName
    scope: blobServices[i]
    properties: {
      eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
      eventHubName: eventHubName
      logs: [
        {
          categoryGroup: 'allLogs'
          enabled: true
        }
      ]
    }
  }
]
