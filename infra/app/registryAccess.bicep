// The cleaner's rights on the existing registry (which may live in another resource group), and optionally
// the registry's diagnostic setting that archives ContainerRegistryRepositoryEvents.

@description('Name of the existing container registry.')
param registryName string

@description('Principal id of the function app\'s managed identity.')
param principalId string

@description('rbac: AcrPull + AcrDelete. abac: Container Registry Repository Catalog Lister + Repository Contributor (for registries in "RBAC registry + ABAC repository permissions" mode, where Acr* roles are ignored).')
@allowed([
  'rbac'
  'abac'
])
param permissionMode string

@description('Create the registry\'s diagnostic setting for ContainerRegistryRepositoryEvents.')
param createDiagnosticSetting bool

@description('Resource id of the storage account the diagnostic setting archives to (empty: none).')
param diagnosticStorageAccountId string

@description('Resource id of the Log Analytics workspace the diagnostic setting sends to (empty: none).')
param diagnosticWorkspaceId string

var roleIds = {
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  acrDelete: 'c2f4ef07-c644-48eb-af81-4b1b4947fb11'
  catalogLister: 'bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7'
  repositoryContributor: '2efddaa5-3f1f-4df3-97df-af3f13818f4c'
}
var registryRoles = permissionMode == 'rbac' ? [roleIds.acrPull, roleIds.acrDelete] : [roleIds.catalogLister, roleIds.repositoryContributor]

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource registryRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in registryRoles: {
    name: guid(registry.id, principalId, roleId)
    scope: registry
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

resource diagnosticSetting 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (createDiagnosticSetting) {
  name: 'acr-cache-cleaner-repository-events'
  scope: registry
  properties: {
    storageAccountId: empty(diagnosticStorageAccountId) ? null : diagnosticStorageAccountId
    workspaceId: empty(diagnosticWorkspaceId) ? null : diagnosticWorkspaceId
    logs: [
      {
        category: 'ContainerRegistryRepositoryEvents'
        enabled: true
      }
    ]
  }
}

output loginServer string = registry.properties.loginServer
