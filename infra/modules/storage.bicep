// The storage account azdetect owns: the Functions runtime (AzureWebJobsStorage:
// host locks, Event Hubs checkpoints, timer schedules, blob-trigger receipts and
// poison queue), the Flex Consumption deployment package, the state tables
// (thresholds, baselines, archive cursors), the dead-letter and outbox
// containers, and the archive that diagnostic settings and flow logs write to.
//
// Shared-key access is off: every client uses Entra ID (the Function App's
// user-assigned identity). Azure Monitor diagnostic settings and Network
// Watcher flow logs write as trusted Microsoft services.

@minLength(3)
@maxLength(24)
param name string
param location string
param tags object = {}

@description('Blob container holding the Function App package (Flex Consumption deployment storage, or WEBSITE_RUN_FROM_PACKAGE on Elastic Premium).')
param deploymentContainerName string

@description('Table names azdetect keeps state in.')
param tableNames array = [
  'azdetectstate'
  'azdetectcursors'
]

@description('Blob containers for records that could not be parsed (dead letter) and alerts waiting for delivery (outbox).')
param containerNames array = [
  'azdetect-deadletter'
  'azdetect-outbox'
]

@description('Container ingest-blob follows (AZDETECT_ARCHIVE_CONTAINER): created here so that exported logs can be dropped into it. Empty for none.')
param importContainerName string = ''

var allContainerNames = empty(importContainerName) ? containerNames : union(containerNames, array(importContainerName))

@description('Days after which archived diagnostic logs (insights-* containers) are deleted. 0 keeps them.')
@minValue(0)
param archiveRetentionDays int = 30

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_LRS'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource dataContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for c in allContainerNames: {
    parent: blobService
    name: c
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for t in tableNames: {
    parent: tableService
    name: t
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Diagnostic settings write hourly PT1H.json blobs under insights-logs-* and
// insights-activity-logs; flow logs under insights-logs-flowlogflowevent and
// insights-logs-networksecuritygroupflowevent. Expire them so the archive does
// not grow without bound.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (archiveRetentionDays > 0) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-diagnostic-archive'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
                'appendBlob'
              ]
              prefixMatch: [
                'insights-logs-'
                'insights-activity-logs/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: archiveRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
