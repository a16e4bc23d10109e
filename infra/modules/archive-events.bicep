// Blob-created events from the archive storage account to the ingest-blob
// function (blob trigger with source EventGrid, the only blob source Flex
// Consumption offers).
//
// The system topic is created with the rest of the system. The subscription
// points at the blobs extension webhook of the running app:
//   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.ingest-blob&code=<blobs_extension key>
// That system key exists only once the host has started with the blob
// function deployed, and Event Grid validates the endpoint when the
// subscription is created, so the subscription is a second step: deploy
// main.bicep again with subscribeArchiveEvents=true after `make publish`
// (README, step 4). The key goes into the endpoint URL and nowhere else; it
// is not a deployment output.

param storageAccountName string
param location string
param tags object = {}

param functionAppName string

@description('Function that receives the events (the folder name under functions/).')
param functionName string = 'ingest-blob'

@description('Create the event subscription (needs the app published; see README).')
param subscribe bool = false

@description('Containers whose blob-created events go to the function (subject prefixes after /containers/; end a whole container name with /).')
param containerPrefixes array = [
  'insights-logs-flowlogflowevent/'
]

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

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (subscribe) {
  parent: systemTopic
  name: '${functionName}-blob-created'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${listKeys('${site.id}/host/default', '2023-12-01').systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'subject'
          values: map(containerPrefixes, p => '/blobServices/default/containers/${p}')
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output systemTopicName string = systemTopic.name
output subscribed bool = subscribe
