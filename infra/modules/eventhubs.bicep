// The Event Hubs namespace and the hub that diagnostic settings stream into,
// with a consumer group of azdetect's own (so other readers, a SIEM for one,
// can keep $Default).
//
// Azure Monitor diagnostic settings (Activity Log, Entra ID, resource logs)
// send to an Event Hub through a namespace authorization rule: they take its
// resource id (never its key) and need Manage, Send and Listen on it. That is
// why local (SAS) authentication stays enabled on this namespace by default.
// azdetect itself never uses a key: it reads with its managed identity
// (Azure Event Hubs Data Receiver on the hub).

param namespaceName string
param location string
param tags object = {}

@description('Hub that every diagnostic setting streams into.')
param hubName string = 'azure-logs'

@description('Consumer group the azdetect function reads with.')
param consumerGroupName string = 'azdetect'

@description('Partitions of the hub: the upper bound of parallel function instances reading it. Fixed after creation on Standard.')
@minValue(1)
@maxValue(32)
param partitionCount int = 4

@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 3

@minValue(1)
@maxValue(40)
param capacity int = 1

@description('Turn SAS authentication off. Diagnostic settings authenticate with an authorization rule, so leave this false unless you have checked that your log sources deliver without it.')
param disableLocalAuth bool = false

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  // Standard: Basic allows only the $Default consumer group and 256 KB events.
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: disableLocalAuth
    isAutoInflateEnabled: true
    maximumThroughputUnits: 4
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: hubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
  properties: {
    userMetadata: 'azdetect detection engine'
  }
}

// The rule diagnostic settings are pointed at (eventHubAuthorizationRuleId).
// Azure Monitor requires Manage, Send and Listen on it.
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: namespace
  name: 'azdetect-diagnostic-settings'
  properties: {
    rights: [
      'Manage'
      'Send'
      'Listen'
    ]
  }
}

output namespaceId string = namespace.id
output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output hubId string = hub.id
output hubName string = hub.name
output consumerGroupName string = consumerGroup.name
// A resource id, not a key: diagnostic settings take the id and Azure Monitor
// resolves the key on its side.
output diagnosticsAuthorizationRuleId string = diagnosticsRule.id
