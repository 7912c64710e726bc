// Read access to the existing Log Analytics workspace that holds the registry's logs.

@description('Name of the existing Log Analytics workspace.')
param workspaceName string

@description('Principal id of the function app\'s managed identity.')
param principalId string

var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource readWorkspace 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, logAnalyticsReader)
  scope: workspace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
  }
}

output id string = workspace.id
output customerId string = workspace.properties.customerId
