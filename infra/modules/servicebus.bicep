// Service Bus namespace with the alerts topic and one subscription per
// severity band. azdetect sends with its managed identity (Azure Service Bus
// Data Sender on the topic); local (SAS) authentication is off.
//
// Every alert carries a deterministic message id (fingerprint of rule, group
// key and window), so a publish retried by the Functions host, or a batch the
// Event Hubs trigger redelivers on another instance, is dropped by duplicate
// detection. The window must outlast every way a batch can come back: the
// retry policy in function.json, the host's own redelivery when partition
// ownership moves, and the archive sweep re-reading a range after a crash.
// infra_test.go checks it against the retry policies in functions/*/function.json.

param namespaceName string
param location string
param tags object = {}

param topicName string = 'alerts'

@description('How long Service Bus remembers message ids for duplicate detection (ISO 8601; at most 7 days).')
param duplicateDetectionWindow string = 'P1D'

@description('Application property of each alert message that holds its severity (informational, low, medium, high, critical).')
param severityProperty string = 'severity'

@description('Principal (group, user or app) that reads alerts from the subscriptions; empty for none. Gets Azure Service Bus Data Receiver on the topic.')
param alertReaderPrincipalId string = ''

@allowed([
  'Group'
  'User'
  'ServicePrincipal'
])
param alertReaderPrincipalType string = 'Group'

// One subscription per severity band; a SQL filter on the alert's severity
// application property replaces the $Default (match-all) rule.
var subscriptions = [
  {
    name: 'high-critical'
    filter: '${severityProperty} IN (\'high\', \'critical\')'
  }
  {
    name: 'medium'
    filter: '${severityProperty} = \'medium\''
  }
  {
    name: 'low-informational'
    filter: '${severityProperty} IN (\'low\', \'informational\')'
  }
  {
    name: 'all'
    filter: '1=1'
  }
]

var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: namespaceName
  location: location
  tags: tags
  // Standard: topics and duplicate detection are not available on Basic.
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: true
  }
}

resource topic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: topicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    enableBatchedOperations: true
    supportOrdering: false
  }
}

resource topicSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [
  for s in subscriptions: {
    parent: topic
    name: s.name
    properties: {
      lockDuration: 'PT1M'
      maxDeliveryCount: 10
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
    }
  }
]

resource topicSubscriptionRules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2022-10-01-preview' = [
  for (s, i) in subscriptions: {
    parent: topicSubscriptions[i]
    name: '$Default'
    properties: {
      filterType: 'SqlFilter'
      sqlFilter: {
        sqlExpression: s.filter
      }
    }
  }
]

resource alertReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(alertReaderPrincipalId)) {
  name: guid(topic.id, alertReaderPrincipalId, serviceBusDataReceiver)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
    principalId: alertReaderPrincipalId
    principalType: alertReaderPrincipalType
  }
}

output namespaceId string = namespace.id
output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output topicId string = topic.id
output topicName string = topic.name
output subscriptionNames array = [for s in subscriptions: s.name]
