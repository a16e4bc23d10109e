// Feed: VNet flow logs (or, for existing ones, NSG flow logs) through Network
// Watcher to the storage account, where the ingest-blob function (Event Grid
// BlobCreated) and the maintenance sweep read them.
// Scope: the resource group of the region's Network Watcher (Azure creates
// NetworkWatcher_<region> in NetworkWatcherRG). Deploy on its own with
//   az deployment group create -g NetworkWatcherRG -f infra/feeds/flow-logs.bicep \
//     -p storageAccountId=<main output> targetResourceIds='["<vnet id>"]'
// or let main.bicep do it (flowLogTargetIds).
//
// The targets, the watcher and the storage account must be in one region.
// New NSG flow logs can no longer be created (since 30 June 2025; retirement
// 30 September 2027): target virtual networks, subnets or NICs.
// The storage account has shared-key access off, so the flow log writes with
// a user-assigned identity that holds a blob data role on it.

param location string = resourceGroup().location

param networkWatcherName string = 'NetworkWatcher_${location}'

@description('Resource ids of the virtual networks (or subnets, NICs) to log.')
param targetResourceIds array

@description('Storage account the flow logs are written to (same region as the targets).')
param storageAccountId string

@description('User-assigned identity the flow logs write with (needs Storage Blob Data Contributor or Owner on the account). Empty: Network Watcher uses account access, which fails when shared-key access is off.')
param writerIdentityId string = ''

@description('Days Network Watcher keeps flow log blobs; 0 keeps them (the storage lifecycle rule still applies).')
@minValue(0)
@maxValue(365)
param retentionDays int = 7

param tags object = {}

resource watcher 'Microsoft.Network/networkWatchers@2024-01-01' existing = {
  name: networkWatcherName
}

resource flowLogs 'Microsoft.Network/networkWatchers/flowLogs@2024-01-01' = [
  for target in targetResourceIds: {
    parent: watcher
    name: 'azdetect-${last(split(target, '/'))}'
    location: location
    tags: tags
    identity: empty(writerIdentityId)
      ? null
      : {
          type: 'UserAssigned'
          userAssignedIdentities: {
            '${writerIdentityId}': {}
          }
        }
    properties: {
      targetResourceId: target
      storageId: storageAccountId
      enabled: true
      format: {
        type: 'JSON'
        version: 2
      }
      retentionPolicy: {
        days: retentionDays
        enabled: retentionDays > 0
      }
    }
  }
]

output flowLogIds array = [for (t, i) in targetResourceIds: flowLogs[i].id]
