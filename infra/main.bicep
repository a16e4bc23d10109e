// azdetect: the whole system in one deployment, from nothing to alerts in
// Service Bus.
//
//   azd up                                   (azure.yaml: provision, package, deploy, subscribe)
//   make deploy LOCATION=<region>            (az deployment sub create with main.parameters.json
//                                             rendered: ${AZURE_ENV_NAME} and the rest filled in)
//
// Creates the resource group and in it: a user-assigned identity, Log
// Analytics + Application Insights, the storage account (runtime, state,
// dead letter, outbox, archive), the Event Hubs namespace/hub/consumer group
// the diagnostic settings stream into, the Service Bus alerts topic with a
// subscription per severity, the Function App (Flex Consumption or Elastic
// Premium, hostingPlan) and the identity's roles. Then the log feeds at their
// own scopes: the subscription's Activity Log, and optionally VNet flow logs,
// Key Vault and Storage diagnostic settings. Entra ID logs are tenant-scoped
// and need a directory role: infra/feeds/entra-id.bicep, one more command
// (the entraFeedCommand output prints it).
//
// README.md walks the full path: deploy, publish, subscribe the archive
// events, first alert.
targetScope = 'subscription'

@description('Region of every resource (Flex Consumption must be available there: az functionapp list-flexconsumption-locations).')
param location string = deployment().location

@description('Name of the environment (azd\'s AZURE_ENV_NAME): names the resource group and tags every resource azd-env-name, by which azd finds them.')
@minLength(1)
@maxLength(64)
param environmentName string = 'azdetect'

@description('Resource group to create (or reuse) for azdetect.')
param resourceGroupName string = 'rg-${environmentName}'

@description('Object id of the deploying user or principal (azd\'s AZURE_PRINCIPAL_ID): reads alerts (Azure Service Bus Data Receiver on the alerts topic) when alertReaderPrincipalId is empty, so that `azdetect alerts tail` works after `azd up`. Empty for none.')
param principalId string = ''

@description('Type of principalId: User for a person running azd, ServicePrincipal in a pipeline.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Short name prefix of every resource.')
@minLength(2)
@maxLength(10)
param namePrefix string = 'azdetect'

@description('flex: Flex Consumption (FC1), the target. premium: Elastic Premium (EP1), the fallback; see README for the choice.')
@allowed([
  'flex'
  'premium'
])
param hostingPlan string = 'flex'

param tags object = {
  application: 'azdetect'
}

// azd finds the environment's resources by azd-env-name and the Function App
// it deploys to by azd-service-name (the service's name in azure.yaml).
var azdServiceName = 'azdetect'
var allTags = union(tags, {
  'azd-env-name': environmentName
})

@description('Partitions of the log hub: the most function instances that read it in parallel.')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 4

@description('Service Bus duplicate detection window (ISO 8601, at most P7D). Must outlast the host\'s retries and redeliveries.')
param duplicateDetectionWindow string = 'P1D'

@description('Object id of the group (or user, app) that reads alerts; gets Azure Service Bus Data Receiver on the alerts topic. Empty for none.')
param alertReaderPrincipalId string = ''

@allowed([
  'Group'
  'User'
  'ServicePrincipal'
])
param alertReaderPrincipalType string = 'Group'

@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@allowed([
  'informational'
  'low'
  'medium'
  'high'
  'critical'
])
param minSeverity string = 'informational'

@description('Archive container the ingest-blob function follows (AZDETECT_ARCHIVE_CONTAINER): by default azdetect-import, created empty, where exported logs (a responder\'s folder, another tenant\'s archive) are dropped to be evaluated. Every diagnostic-settings and flow-log container already has its own archive-* function, so this must be another container: two functions following one container would evaluate every blob twice; ingest-blob gets an Event Grid subscription only for a container none of them follows.')
param archiveContainer string = 'azdetect-import'

@description('Create the Event Grid subscriptions that feed archive blobs to the blob functions (one per container). Needs the app published first (README step 4).')
param subscribeArchiveEvents bool = false

@description('Feed: the subscription\'s Activity Log (all categories) to the hub.')
param feedActivityLog bool = true

@description('Feed: resource ids of virtual networks (or subnets, NICs) in this region whose flow logs go to the storage account.')
param flowLogTargetIds array = []

@description('Resource group of the region\'s Network Watcher.')
param networkWatcherResourceGroup string = 'NetworkWatcherRG'

@description('Name of the region\'s Network Watcher.')
param networkWatcherName string = 'NetworkWatcher_${location}'

@description('Feed: resource ids of Key Vaults whose audit logs go to the hub.')
param keyVaultIds array = []

@description('Feed: resource ids of storage accounts whose blob logs go to the hub (not azdetect\'s own).')
param storageDiagnosticsAccountIds array = []

var token = take(uniqueString(subscription().id, resourceGroupName, namePrefix), 8)
var names = {
  identity: 'id-${namePrefix}-${token}'
  workspace: 'log-${namePrefix}-${token}'
  appInsights: 'appi-${namePrefix}-${token}'
  storage: take(toLower('st${replace(namePrefix, '-', '')}${token}'), 24)
  eventHubs: 'evhns-${namePrefix}-${token}'
  serviceBus: 'sbns-${namePrefix}-${token}'
  plan: 'plan-${namePrefix}-${token}'
  app: 'func-${namePrefix}-${token}'
  deploymentContainer: 'app-package'
}

var alertTopicName = 'alerts'
var eventHubName = 'azure-logs'
var consumerGroupName = 'azdetect'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'azdetect-identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'azdetect-monitoring'
  scope: rg
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'azdetect-storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: allTags
    deploymentContainerName: names.deploymentContainer
    importContainerName: archiveContainer
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'azdetect-eventhubs'
  scope: rg
  params: {
    namespaceName: names.eventHubs
    location: location
    tags: allTags
    hubName: eventHubName
    consumerGroupName: consumerGroupName
    partitionCount: eventHubPartitionCount
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'azdetect-servicebus'
  scope: rg
  params: {
    namespaceName: names.serviceBus
    location: location
    tags: allTags
    topicName: alertTopicName
    duplicateDetectionWindow: duplicateDetectionWindow
    alertReaderPrincipalId: empty(alertReaderPrincipalId) ? principalId : alertReaderPrincipalId
    alertReaderPrincipalType: empty(alertReaderPrincipalId) ? principalType : alertReaderPrincipalType
  }
}

module roles 'modules/roles.bicep' = {
  name: 'azdetect-roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.hubName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    alertTopicName: serviceBus.outputs.topicName
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'azdetect-functionapp'
  scope: rg
  // The host reads its storage with the identity as soon as the app starts.
  dependsOn: [
    roles
  ]
  params: {
    hostingPlan: hostingPlan
    appName: names.app
    planName: names.plan
    location: location
    tags: allTags
    siteTags: {
      'azd-service-name': azdServiceName
    }
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    eventHubsFullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.hubName
    eventHubConsumerGroup: eventHubs.outputs.consumerGroupName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    alertTopicName: serviceBus.outputs.topicName
    archiveContainer: archiveContainer
    appInsightsName: monitoring.outputs.appInsightsName
    logLevel: logLevel
    minSeverity: minSeverity
  }
}

module archiveEvents 'modules/archive-events.bicep' = {
  name: 'azdetect-archive-events'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    location: location
    tags: allTags
    functionAppName: functionApp.outputs.name
    subscribe: subscribeArchiveEvents
    archiveContainer: archiveContainer
  }
}

// ---- Log feeds -------------------------------------------------------------

module activityLogFeed 'feeds/activity-log.bicep' = if (feedActivityLog) {
  name: 'azdetect-feed-activity-log'
  params: {
    eventHubAuthorizationRuleId: eventHubs.outputs.diagnosticsAuthorizationRuleId
    eventHubName: eventHubs.outputs.hubName
  }
}

module flowLogFeed 'feeds/flow-logs.bicep' = if (!empty(flowLogTargetIds)) {
  name: 'azdetect-feed-flow-logs'
  scope: resourceGroup(networkWatcherResourceGroup)
  dependsOn: [
    roles
  ]
  params: {
    location: location
    networkWatcherName: networkWatcherName
    targetResourceIds: flowLogTargetIds
    storageAccountId: storage.outputs.id
    // The account has shared-key access off: Network Watcher writes as
    // azdetect's identity, which already holds Storage Blob Data Owner on it.
    writerIdentityId: identity.outputs.id
    tags: allTags
  }
}

module keyVaultFeeds 'feeds/keyvault-diagnostics.bicep' = [
  for id in keyVaultIds: {
    name: 'azdetect-feed-kv-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      keyVaultNames: [
        last(split(id, '/'))
      ]
      eventHubAuthorizationRuleId: eventHubs.outputs.diagnosticsAuthorizationRuleId
      eventHubName: eventHubs.outputs.hubName
    }
  }
]

module storageFeeds 'feeds/storage-diagnostics.bicep' = [
  for id in storageDiagnosticsAccountIds: {
    name: 'azdetect-feed-st-${uniqueString(id)}'
    scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
    params: {
      storageAccountNames: [
        last(split(id, '/'))
      ]
      eventHubAuthorizationRuleId: eventHubs.outputs.diagnosticsAuthorizationRuleId
      eventHubName: eventHubs.outputs.hubName
    }
  }
]

// ---- Outputs (names and ids only: no key, SAS or connection string) --------

// What azd reads (AZURE_* become the environment's values; the hooks in
// azure.yaml use them), then the same names for `az deployment sub show`.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_HOSTING_PLAN string = hostingPlan

output resourceGroupName string = rg.name
output hostingPlan string = hostingPlan
output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output identityClientId string = identity.outputs.clientId
output storageAccountName string = storage.outputs.name
output eventHubNamespace string = eventHubs.outputs.fullyQualifiedNamespace
output eventHubName string = eventHubs.outputs.hubName
output eventHubConsumerGroup string = eventHubs.outputs.consumerGroupName
output diagnosticsAuthorizationRuleId string = eventHubs.outputs.diagnosticsAuthorizationRuleId
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output alertTopicName string = serviceBus.outputs.topicName
output alertSubscriptions array = serviceBus.outputs.subscriptionNames
output archiveEventsSubscribed bool = subscribeArchiveEvents
output entraFeedCommand string = 'az deployment tenant create -l ${location} -f infra/feeds/entra-id.bicep -p eventHubAuthorizationRuleId=${eventHubs.outputs.diagnosticsAuthorizationRuleId} eventHubName=${eventHubs.outputs.hubName} entraLicence=p2'
