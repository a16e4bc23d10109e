// Feed: the subscription's Activity Log (every category) to the Event Hub.
// Scope: subscription. Deploy on its own with
//   az deployment sub create -l <region> -f infra/feeds/activity-log.bicep \
//     -p eventHubAuthorizationRuleId=<main output> eventHubName=<main output>
// or let main.bicep do it (feedActivityLog=true, the default).
targetScope = 'subscription'

param name string = 'azdetect-activity-log'

@description('Resource id of the Event Hubs namespace authorization rule (Manage, Send, Listen). main.bicep outputs it as diagnosticsAuthorizationRuleId.')
param eventHubAuthorizationRuleId string

param eventHubName string

@description('Also archive to this storage account (PT1H.json append blobs under insights-activity-logs). Empty: stream only. Records archived and streamed are processed twice, so leave empty unless the hub is not read.')
param archiveStorageAccountId string = ''

// All Activity Log categories.
var categories = [
  'Administrative'
  'Security'
  'ServiceHealth'
  'Alert'
  'Recommendation'
  'Policy'
  'Autoscale'
  'ResourceHealth'
]

resource activityLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: name
  properties: {
    eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
    eventHubName: eventHubName
    storageAccountId: empty(archiveStorageAccountId) ? null : archiveStorageAccountId
    logs: [
      for c in categories: {
        category: c
        enabled: true
      }
    ]
  }
}

output categories array = categories
