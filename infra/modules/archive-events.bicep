// Blob-created events from the archive storage account to the blob
// functions (blob trigger with source EventGrid, the only blob source Flex
// Consumption offers).
//
// An Event Grid blob trigger follows the one container named in its path, so
// every archive container has its own function (functions/archive-*, path
// '<container>/{name}') and its own subscription here, filtered to that
// container. ingest-blob follows the container of the archiveContainer param
// (%AZDETECT_ARCHIVE_CONTAINER%); it gets a subscription only when no
// archive-* function follows that container already. The classic $logs
// container raises no Event Grid events at all: the maintenance sweep lists
// it (AZDETECT_ARCHIVE_LIST_CONTAINERS).
//
// The system topic is created with the rest of the system. Each subscription
// points at the blobs extension webhook of the running app:
//   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.<function>&code=<blobs_extension key>
// That system key exists only once the host has started with the blob
// functions deployed, and Event Grid validates the endpoint when the
// subscription is created, so the subscriptions are a second step: deploy
// main.bicep again with subscribeArchiveEvents=true after `make publish`
// (README, step 4). The key goes into the endpoint URL and nowhere else; it
// is not a deployment output. listKeys is guarded by the same condition as
// the subscriptions: ARM may evaluate a condition-false resource's
// properties, and before the first publish the key does not exist.

param storageAccountName string
param location string
param tags object = {}

param functionAppName string

@description('Function that follows the archiveContainer container (%AZDETECT_ARCHIVE_CONTAINER% in its path).')
param functionName string = 'ingest-blob'

@description('Container of that function: the app setting AZDETECT_ARCHIVE_CONTAINER.')
param archiveContainer string = 'azdetect-import'

@description('Create the event subscriptions (needs the app published; see README).')
param subscribe bool = false

// One blob function per archive container (functions/<function>/function.json,
// path '<container>/{name}'). infra_test.go checks both directions.
var archiveRoutes = [
  {
    function: 'archive-activity-logs'
    container: 'insights-activity-logs'
  }
  {
    function: 'archive-auditevent'
    container: 'insights-logs-auditevent'
  }
  {
    function: 'archive-storageread'
    container: 'insights-logs-storageread'
  }
  {
    function: 'archive-storagewrite'
    container: 'insights-logs-storagewrite'
  }
  {
    function: 'archive-storagedelete'
    container: 'insights-logs-storagedelete'
  }
  {
    function: 'archive-signinlogs'
    container: 'insights-logs-signinlogs'
  }
  {
    function: 'archive-noninteractiveusersigninlogs'
    container: 'insights-logs-noninteractiveusersigninlogs'
  }
  {
    function: 'archive-serviceprincipalsigninlogs'
    container: 'insights-logs-serviceprincipalsigninlogs'
  }
  {
    function: 'archive-managedidentitysigninlogs'
    container: 'insights-logs-managedidentitysigninlogs'
  }
  {
    function: 'archive-microsoftserviceprincipalsigninlogs'
    container: 'insights-logs-microsoftserviceprincipalsigninlogs'
  }
  {
    function: 'archive-adfssigninlogs'
    container: 'insights-logs-adfssigninlogs'
  }
  {
    function: 'archive-auditlogs'
    container: 'insights-logs-auditlogs'
  }
  {
    function: 'archive-riskyusers'
    container: 'insights-logs-riskyusers'
  }
  {
    function: 'archive-userriskevents'
    container: 'insights-logs-userriskevents'
  }
  {
    function: 'archive-riskyserviceprincipals'
    container: 'insights-logs-riskyserviceprincipals'
  }
  {
    function: 'archive-serviceprincipalriskevents'
    container: 'insights-logs-serviceprincipalriskevents'
  }
  {
    function: 'archive-networksecuritygroupflowevent'
    container: 'insights-logs-networksecuritygroupflowevent'
  }
  {
    function: 'archive-flowlogflowevent'
    container: 'insights-logs-flowlogflowevent'
  }
]

var customRoute = contains(map(archiveRoutes, r => r.container), archiveContainer)
  ? []
  : [
      {
        function: functionName
        container: archiveContainer
      }
    ]

var routes = concat(archiveRoutes, customRoute)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: '${storageAccountName}-blob-events'
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

@batchSize(4)
resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [
  for r in routes: if (subscribe) {
    parent: systemTopic
    name: '${r.function}-blob-created'
    properties: {
      destination: {
        endpointType: 'WebHook'
        properties: {
          endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${r.function}&code=${subscribe ? listKeys('${site.id}/host/default', '2023-12-01').systemKeys.blobs_extension : ''}'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      eventDeliverySchema: 'EventGridSchema'
      filter: {
        subjectBeginsWith: '/blobServices/default/containers/${r.container}/'
        includedEventTypes: [
          'Microsoft.Storage.BlobCreated'
        ]
      }
      retryPolicy: {
        maxDeliveryAttempts: 30
        eventTimeToLiveInMinutes: 1440
      }
    }
  }
]

output systemTopicName string = systemTopic.name
output subscribed bool = subscribe
output routedContainers array = map(routes, r => r.container)
