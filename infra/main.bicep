// acr-cache-cleaner: a Flex Consumption function app (Linux, Node 22) with a user-assigned managed identity
// that holds exactly the roles the nightly cleanup needs, and no keys anywhere.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; names and tags derive from it.')
param environmentName string

@description('Region of the app (the diagnostic setting\'s storage account must be in the registry\'s region).')
param location string = resourceGroup().location

// ---- the registry and its logs --------------------------------------------------------------------------------

@description('Name of the existing container registry to clean.')
param registryName string

@description('Resource group of the registry (default: this one).')
param registryResourceGroupName string = resourceGroup().name

@description('rbac: AcrPull + AcrDelete; abac: for registries in "RBAC registry + ABAC repository permissions" mode.')
@allowed([
  'rbac'
  'abac'
])
param registryPermissionMode string = 'rbac'

@description('Existing storage account where a diagnostic setting archives the registry\'s logs (set this or logAnalyticsWorkspaceName).')
param logStorageAccountName string = ''

@description('Resource group of the log storage account (default: the registry\'s).')
param logStorageResourceGroupName string = registryResourceGroupName

@description('Existing Log Analytics workspace holding the registry\'s logs (set this or logStorageAccountName).')
param logAnalyticsWorkspaceName string = ''

@description('Resource group of the log workspace (default: the registry\'s).')
param logAnalyticsResourceGroupName string = registryResourceGroupName

@description('Also create the registry\'s diagnostic setting that sends ContainerRegistryRepositoryEvents to the log storage account and/or workspace.')
param createDiagnosticSetting bool = false

// ---- one parameter per app setting (see the README's table) --------------------------------------------------

@description('CLEANUP_SCHEDULE: six-field NCRONTAB, UTC.')
param cleanupSchedule string = '0 30 2 * * *'

@description('LOG_STORAGE_ACCOUNT_CONTAINER')
param logStorageAccountContainer string = 'insights-logs-containerregistryrepositoryevents'

@description('LOG_STORAGE_PATH_PATTERN')
param logStoragePathPattern string = '*.json'

@description('LOG_STORAGE_RESOURCE_ID: read only below this registry\'s folder of the archive (default: the registry\'s resource id).')
param logStorageResourceId string = ''

@description('LOG_ANALYTICS_ENDPOINT')
param logAnalyticsEndpoint string = 'https://api.loganalytics.io/v1'

@description('CACHE_HISTORY_DAYS')
@minValue(1)
@maxValue(3650)
param cacheHistoryDays int = 7

@description('CACHE_MIN_ACCESS_COUNT')
@minValue(0)
param cacheMinAccessCount int = 1

@description('GRACE_DAYS (empty: the history window)')
param graceDays string = ''

@description('LOG_MAX_STALENESS_HOURS')
param logMaxStalenessHours int = 24

@description('MAX_DELETE_PERCENT')
@minValue(0)
@maxValue(100)
param maxDeletePercent int = 90

@description('MAX_DELETES (empty: no cap)')
param maxDeletes string = ''

@description('REPOSITORY_FILTER (regular expression, empty: all)')
param repositoryFilter string = ''

@description('PROTECT_TAGS (regular expression, empty: none)')
param protectTags string = ''

@description('IGNORE_USER_AGENTS (regular expression, empty: none)')
param ignoreUserAgents string = ''

@description('DRY_RUN: start with true, read the first reports, then set false.')
param dryRun bool = true

@description('CONCURRENCY')
@minValue(1)
@maxValue(64)
param concurrency int = 8

@description('READS_PER_MINUTE (ACR Standard: 5000 per identity; Premium: 10000)')
param readsPerMinute int = 5000

@description('DELETES_PER_MINUTE (ACR Standard: 500 per identity; Premium: 2000)')
param deletesPerMinute int = 500

@description('TIME_BUDGET_SECONDS: keep below host.json functionTimeout (30 minutes).')
@maxValue(1700)
param timeBudgetSeconds int = 1500

@description('ACR_AUDIENCE (sovereign clouds)')
param acrAudience string = 'https://containerregistry.azure.net'

@description('E-mail address the run alerts notify (empty: the alerts only show in the portal).')
param alertEmail string = ''

// ---- names -----------------------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
}
var appName = 'func-acrclean-${token}'
var hostStorageName = 'stacrclean${take(token, 12)}'
var deploymentContainerName = 'app-package-${take(token, 10)}'
var readsFromStorage = !empty(logStorageAccountName)
var readsFromWorkspace = !empty(logAnalyticsWorkspaceName)

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---- identity, host storage, monitoring ------------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-acrclean-${token}'
  location: location
  tags: tags
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: hostStorageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource hostStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in [roleIds.storageBlobDataOwner, roleIds.storageQueueDataContributor, roleIds.storageTableDataContributor]: {
    name: guid(hostStorage.id, identity.id, roleId)
    scope: hostStorage
    properties: {
      principalId: identity.properties.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    }
  }
]

resource logWorkspaceForApp 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-acrclean-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-acrclean-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logWorkspaceForApp.id
    DisableLocalAuth: true
  }
}

resource appInsightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
  }
}

// What an operator sees: alerts on the runs' telemetry and a workbook (infra/app/monitoring.bicep).
module monitoring 'app/monitoring.bicep' = {
  name: 'acrclean-monitoring'
  params: {
    location: location
    tags: tags
    nameSuffix: token
    appInsightsName: appInsights.name
    alertEmail: alertEmail
  }
}

// ---- rights on the registry and its logs (possibly in other resource groups) ----------------------------------------

module logStorageAccess 'app/logStorageAccess.bicep' = if (readsFromStorage) {
  name: 'acrclean-log-storage-access'
  scope: resourceGroup(logStorageResourceGroupName)
  params: {
    storageAccountName: logStorageAccountName
    principalId: identity.properties.principalId
  }
}

module logWorkspaceAccess 'app/logWorkspaceAccess.bicep' = if (readsFromWorkspace) {
  name: 'acrclean-log-workspace-access'
  scope: resourceGroup(logAnalyticsResourceGroupName)
  params: {
    workspaceName: logAnalyticsWorkspaceName
    principalId: identity.properties.principalId
  }
}

module registryAccess 'app/registryAccess.bicep' = {
  name: 'acrclean-registry-access'
  scope: resourceGroup(registryResourceGroupName)
  params: {
    registryName: registryName
    principalId: identity.properties.principalId
    permissionMode: registryPermissionMode
    createDiagnosticSetting: createDiagnosticSetting
    diagnosticStorageAccountId: readsFromStorage ? logStorageAccess!.outputs.id : ''
    diagnosticWorkspaceId: readsFromWorkspace ? logWorkspaceAccess!.outputs.id : ''
  }
}

// ---- the function app ----------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-acrclean-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'cleaner' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
  dependsOn: [
    hostStorageRoles
  ]
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // The Functions host: identity-based storage and Entra-authenticated telemetry (local auth is disabled).
    AzureWebJobsStorage__accountName: hostStorage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    // V8 grows its heap lazily; a cap makes it collect instead (the run's live heap is far below; docs/performance.md).
    languageWorkers__node__arguments: '--max-old-space-size=256'
    // acr-cache-cleaner's own settings.
    CLEANUP_SCHEDULE: cleanupSchedule
    CONTAINER_REGISTRY: registryAccess.outputs.loginServer
    LOG_STORAGE_ACCOUNT: logStorageAccountName
    LOG_STORAGE_ACCOUNT_CONTAINER: logStorageAccountContainer
    LOG_STORAGE_PATH_PATTERN: logStoragePathPattern
    LOG_STORAGE_RESOURCE_ID: empty(logStorageResourceId) && readsFromStorage ? resourceId(subscription().subscriptionId, registryResourceGroupName, 'Microsoft.ContainerRegistry/registries', registryName) : logStorageResourceId
    LOG_ANALYTICS_WORKSPACE_ID: readsFromWorkspace ? logWorkspaceAccess!.outputs.customerId : ''
    LOG_ANALYTICS_ENDPOINT: logAnalyticsEndpoint
    CACHE_HISTORY_DAYS: string(cacheHistoryDays)
    CACHE_MIN_ACCESS_COUNT: string(cacheMinAccessCount)
    GRACE_DAYS: graceDays
    LOG_MAX_STALENESS_HOURS: string(logMaxStalenessHours)
    MAX_DELETE_PERCENT: string(maxDeletePercent)
    MAX_DELETES: maxDeletes
    REPOSITORY_FILTER: repositoryFilter
    PROTECT_TAGS: protectTags
    IGNORE_USER_AGENTS: ignoreUserAgents
    DRY_RUN: string(dryRun)
    CONCURRENCY: string(concurrency)
    READS_PER_MINUTE: string(readsPerMinute)
    DELETES_PER_MINUTE: string(deletesPerMinute)
    TIME_BUDGET_SECONDS: string(timeBudgetSeconds)
    CREDENTIAL: 'managed-identity'
    AZURE_CLIENT_ID: identity.properties.clientId
    ACR_AUDIENCE: acrAudience
  }
}

output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output AZURE_IDENTITY_CLIENT_ID string = identity.properties.clientId
output AZURE_HOST_STORAGE_ACCOUNT string = hostStorage.name
