// Read access to the existing storage account that archives the registry's logs.

@description('Name of the existing storage account holding the archived logs.')
param storageAccountName string

@description('Principal id of the function app\'s managed identity.')
param principalId string

var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource logStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource readLogs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(logStorage.id, principalId, storageBlobDataReader)
  scope: logStorage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
  }
}

output id string = logStorage.id
output blobEndpoint string = logStorage.properties.primaryEndpoints.blob
