// The one user-assigned identity azdetect runs as. Every data-plane
// connection of the Function App (host storage, Event Hubs trigger, blob
// trigger, Table state, Service Bus alerts, Application Insights) signs in
// with it; roles.bicep gives it the least roles those connections need.

@description('Name of the user-assigned managed identity.')
param name string

param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
