// The Function App that runs the azdetect custom handler, on a Linux plan
// chosen by hostingPlan:
//   flex    Flex Consumption (FC1): the target. The runtime stack is set in
//           functionAppConfig.runtime ('custom'); Flex rejects the
//           FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION app settings.
//   premium Elastic Premium (EP1-EP3): the documented fallback. Same app
//           settings plus FUNCTIONS_WORKER_RUNTIME=custom, and the package run
//           from the deployment container with the managed identity (no Azure
//           Files content share, which would need a storage key).
//
// Every connection is identity-based: the <CONNECTION>__* settings name the
// service endpoint, credential=managedidentity and the user-assigned
// identity's client id. No key, SAS or connection string is set anywhere.
// infra_test.go reads these settings and fails when they drift from
// functions/*/function.json and internal/config.

@allowed([
  'flex'
  'premium'
])
param hostingPlan string = 'flex'

param appName string
param planName string
param location string
param tags object = {}

@description('Tags of the Function App alone (azd-service-name: the one resource azd deploys the package to).')
param siteTags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string
@description('Client id of that identity (AZURE_CLIENT_ID and every <CONNECTION>__clientId).')
param identityClientId string

param storageAccountName string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string

@description('Container the ingest-blob trigger follows (%AZDETECT_ARCHIVE_CONTAINER% in its path); the archive-* functions follow one fixed container each.')
param archiveContainer string

param eventHubsFullyQualifiedNamespace string
param eventHubName string
param eventHubConsumerGroup string

param serviceBusFullyQualifiedNamespace string
param alertTopicName string

param appInsightsName string

@description('AZDETECT_LOG_LEVEL')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('AZDETECT_MIN_SEVERITY: lowest severity sent to Service Bus. Subscriptions filter further.')
@allowed([
  'informational'
  'low'
  'medium'
  'high'
  'critical'
])
param minSeverity string = 'informational'

@description('AZDETECT_DISABLED_RULES: comma-separated rule ids to turn off.')
param disabledRules string = ''

@description('Flex Consumption: most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption: memory per instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Elastic Premium: plan size.')
@allowed([
  'EP1'
  'EP2'
  'EP3'
])
param premiumSku string = 'EP1'

@description('Elastic Premium: most instances the plan scales out to.')
param premiumMaximumElasticWorkerCount int = 20

@description('Extra app settings merged last (object of name: value). Never put keys here.')
param extraAppSettings object = {}

var isFlex = hostingPlan == 'flex'

// Name of the package blob on Elastic Premium (WEBSITE_RUN_FROM_PACKAGE).
// publish.mk uploads it there; Flex Consumption picks its own name in the
// same container.
var premiumPackageBlob = 'azdetect.zip'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// AzureWebJobsStorage, identity-based: the host's own blobs (locks, keys,
// Event Hubs checkpoints, timer schedule), queues (blob-trigger work items and
// poison queue) and tables (diagnostic events).
var hostStorageSettings = {
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

// Trigger connections named in functions/*/function.json.
//   ingest-eventhub: eventHubTrigger, connection AZDETECT_EVENTHUB,
//                    eventHubName %AZDETECT_EVENTHUB_NAME%,
//                    consumerGroup %AZDETECT_EVENTHUB_CONSUMER_GROUP%
//   ingest-blob:     blobTrigger (source EventGrid), connection AZDETECT_ARCHIVE,
//                    path %AZDETECT_ARCHIVE_CONTAINER%/{name}; the blob trigger
//                    also needs the queue service (work items, poison queue).
//   archive-*:       the same, one per archive container, path <container>/{name}.
var triggerSettings = {
  AZDETECT_EVENTHUB__fullyQualifiedNamespace: eventHubsFullyQualifiedNamespace
  AZDETECT_EVENTHUB__credential: 'managedidentity'
  AZDETECT_EVENTHUB__clientId: identityClientId
  AZDETECT_EVENTHUB_NAME: eventHubName
  AZDETECT_EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroup
  AZDETECT_ARCHIVE__blobServiceUri: storageBlobEndpoint
  AZDETECT_ARCHIVE__queueServiceUri: storageQueueEndpoint
  AZDETECT_ARCHIVE__credential: 'managedidentity'
  AZDETECT_ARCHIVE__clientId: identityClientId
  AZDETECT_ARCHIVE_CONTAINER: archiveContainer
}

// The binary's own settings (internal/config, prefix AZDETECT_). Its Azure
// SDK clients authenticate with azidentity, which picks the user-assigned
// identity from AZURE_CLIENT_ID.
var azdetectSettings = {
  AZURE_CLIENT_ID: identityClientId
  AZDETECT_LOG_LEVEL: logLevel
  AZDETECT_MIN_SEVERITY: minSeverity
  AZDETECT_STATE: 'table'
  AZDETECT_TABLE_ACCOUNT_URL: storageTableEndpoint
  // Archive blobs are followed with range reads (cursor per blob, sweep on the
  // maintenance timer) instead of the base64 body the blob trigger sends.
  AZDETECT_ARCHIVE_ACCOUNT_URL: storageBlobEndpoint
  AZDETECT_ALERT_SINK: 'servicebus'
  AZDETECT_SERVICEBUS_NAMESPACE: serviceBusFullyQualifiedNamespace
  AZDETECT_SERVICEBUS_ENTITY: alertTopicName
  // Dead letters go to the azdetect-deadletter container (storage.bicep),
  // durable across scale-in and restarts; the file is not used by serve
  // then (the package is read-only: /tmp if it ever is).
  AZDETECT_DEADLETTER_ACCOUNT_URL: storageBlobEndpoint
  AZDETECT_DEAD_LETTER_FILE: '/tmp/azdetect-deadletter.jsonl'
}

// Set only when non-empty: an empty variable still counts as set.
var disabledRulesSettings = empty(disabledRules)
  ? {}
  : {
      AZDETECT_DISABLED_RULES: disabledRules
    }

// Application Insights with Entra ID authentication (local auth is disabled
// on the component, so the connection string carries no usable secret).
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// Elastic Premium only (Flex Consumption sets these through functionAppConfig
// and refuses them as app settings).
var premiumSettings = {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  WEBSITE_RUN_FROM_PACKAGE: '${storageBlobEndpoint}${deploymentContainerName}/${premiumPackageBlob}'
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
}

var appSettings = union(hostStorageSettings, triggerSettings, azdetectSettings, disabledRulesSettings, monitoringSettings, isFlex ? {} : premiumSettings, extraAppSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex
    ? {
        name: 'FC1'
        tier: 'FlexConsumption'
      }
    : {
        name: premiumSku
        tier: 'ElasticPremium'
      }
  properties: isFlex
    ? {
        reserved: true
      }
    : {
        reserved: true
        maximumElasticWorkerCount: premiumMaximumElasticWorkerCount
      }
}

var flexFunctionAppConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: '${storageBlobEndpoint}${deploymentContainerName}'
      authentication: {
        type: 'UserAssignedIdentity'
        userAssignedIdentityResourceId: identityId
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  runtime: {
    name: 'custom'
    version: '1.0'
  }
}

var siteConfigCommon = {
  minTlsVersion: '1.2'
}

var siteConfigPremium = {
  ftpsState: 'Disabled'
  minimumElasticInstanceCount: 1
  functionAppScaleLimit: premiumMaximumElasticWorkerCount
  use32BitWorkerProcess: false
}

var siteProperties = {
  serverFarmId: plan.id
  httpsOnly: true
  keyVaultReferenceIdentity: identityId
  siteConfig: isFlex ? siteConfigCommon : union(siteConfigCommon, siteConfigPremium)
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, siteTags, {
    'azdetect-hosting-plan': hostingPlan
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: isFlex
    ? union(siteProperties, {
        functionAppConfig: flexFunctionAppConfig
      })
    : siteProperties
}

// The app settings as one object (the sites/config 'appsettings' resource
// replaces the whole set, so this template owns every setting). A loop over
// them in siteConfig.appSettings is not possible: the Application Insights
// connection string is only known at run time.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output planId string = plan.id
output storageAccountName string = storageAccountName
