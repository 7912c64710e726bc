// acr-cache-cleaner: a Flex Consumption function app (Linux, Node 22) with a user-assigned managed identity
// that holds exactly the roles the nightly cleanup needs, and no keys anywhere.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('Name of the azd environment; names and tags derive from it.')
param environmentName string

@description('Region of the app: one that offers Flex Consumption (az functionapp list-flexconsumption-locations). The diagnostic setting\'s storage account must be in the registry\'s region.')
@metadata({ azd: { type: 'location' } })
param location string = resourceGroup().location

// ---- the registry and its logs --------------------------------------------------------------------------------

@description('Name of the existing container registry to clean.')
param registryName string

@description('Resource group of the registry (empty: this deployment\'s resource group).')
param registryResourceGroupName string = ''

@description('rbac: AcrPull + AcrDelete; abac: for registries in "RBAC registry + ABAC repository permissions" mode.')
@allowed([
  'rbac'
  'abac'
])
param registryPermissionMode string = 'rbac'

@description('The one log source, part 1: the existing storage account where a diagnostic setting archives the registry\'s logs. Set exactly one of this and logAnalyticsWorkspaceName.')
param logStorageAccountName string = ''

@description('Resource group of the log storage account (empty: the registry\'s).')
param logStorageResourceGroupName string = ''

@description('The one log source, part 2: the existing Log Analytics workspace holding the registry\'s logs. Set exactly one of this and logStorageAccountName.')
param logAnalyticsWorkspaceName string = ''

@description('Resource group of the log workspace (empty: the registry\'s).')
param logAnalyticsResourceGroupName string = ''

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

@description('LOG_ANALYTICS_ENDPOINT (empty: the cloud\'s own)')
param logAnalyticsEndpoint string = ''

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

@description('LOG_MAX_UNUSABLE_PERCENT (a decimal, as a string: Bicep has no decimal type)')
param logMaxUnusablePercent string = '0.1'

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

@description('REQUEST_TIMEOUT_SECONDS: each request\'s own time limit; a run ends at most this long after TIME_BUDGET_SECONDS (keep the sum below functionTimeout).')
@minValue(1)
@maxValue(60)
param requestTimeoutSeconds int = 30


@description('ACR_AUDIENCE (empty: the registry audience, the same in every cloud)')
param acrAudience string = ''

@description('Instance memory (MB) of the Flex Consumption plan. 2048 runs a registry of 500,000 manifests (peak live heap 613 MiB, npm run bench:memory); 512 is too small (100,000 manifests already take 390 MiB RSS). docs/deploy.md, "Memory".')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('AZURE_CLOUD: the cloud this deploys to (default: the deployment\'s own).')
@allowed([
  'AzureCloud'
  'AzureUSGovernment'
  'AzureChinaCloud'
])
param azureCloud string = any(environment().name)

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
// azd passes an unset variable as '', which would override a parameter's default: resolve the defaults here.
var registryResourceGroup = empty(registryResourceGroupName) ? resourceGroup().name : registryResourceGroupName
var logStorageResourceGroup = empty(logStorageResourceGroupName) ? registryResourceGroup : logStorageResourceGroupName
var logAnalyticsResourceGroup = empty(logAnalyticsResourceGroupName) ? registryResourceGroup : logAnalyticsResourceGroupName

// Exactly one log source, checked when the deployment runs: the app refuses to start with two or none.
var logSourceProblem = empty(logStorageAccountName) == empty(logAnalyticsWorkspaceName)
  ? 'acr-cache-cleaner needs exactly one log source: set logStorageAccountName (azd env set LOG_STORAGE_ACCOUNT <account>) or logAnalyticsWorkspaceName (azd env set LOG_ANALYTICS_WORKSPACE <workspace>), not ${empty(logStorageAccountName) ? 'neither' : 'both'}.'
  : ''
var readsFromStorage = empty(logSourceProblem) ? !empty(logStorageAccountName) : fail(logSourceProblem)
var readsFromWorkspace = !readsFromStorage

// V8's old-space limit for the worker: above the measured peak live heap (613 MiB at 500,000 manifests) with room
// to grow, below the instance memory less the Functions host and Node's memory outside the heap (docs/deploy.md).
var nodeHeapMB = instanceMemoryMB == 4096 ? 3072 : 1024

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
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

// Blobs: the host keeps its timer schedule, locks and keys there, the app its run lease, reports and journals.
// Queues: the preview's requests for a fresh dry run (previewCleanup puts one, previewWorker takes it). No tables
// (docs/deploy.md, "Roles").
resource hostStorageRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, roleIds.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
  }
}

resource hostQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, roleIds.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
  }
}

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
  scope: resourceGroup(logStorageResourceGroup)
  params: {
    storageAccountName: logStorageAccountName
    principalId: identity.properties.principalId
  }
}

module logWorkspaceAccess 'app/logWorkspaceAccess.bicep' = if (readsFromWorkspace) {
  name: 'acrclean-log-workspace-access'
  scope: resourceGroup(logAnalyticsResourceGroup)
  params: {
    workspaceName: logAnalyticsWorkspaceName
    principalId: identity.properties.principalId
  }
}

module registryAccess 'app/registryAccess.bicep' = {
  name: 'acrclean-registry-access'
  scope: resourceGroup(registryResourceGroup)
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
    // No FTPS setting: Flex Consumption supports no FTPS and documents ftpsState among the properties not to set.
    siteConfig: {
      minTlsVersion: '1.2'
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
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
  dependsOn: [
    hostStorageRole
    hostQueueRole
  ]
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // The Functions host: identity-based storage and Entra-authenticated telemetry (local auth is disabled).
    // The blob endpoint as ARM reports it, right in every cloud (an account name alone assumes the public one).
    AzureWebJobsStorage__blobServiceUri: hostStorage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: hostStorage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    // Sized from npm run bench:memory, not left to V8: its default follows the memory Node sees (docs/deploy.md, "Memory").
    languageWorkers__node__arguments: '--max-old-space-size=${nodeHeapMB}'
    // acr-cache-cleaner's own settings.
    CLEANUP_SCHEDULE: cleanupSchedule
    CONTAINER_REGISTRY: registryAccess.outputs.loginServer
    LOG_STORAGE_ACCOUNT: readsFromStorage ? logStorageAccess!.outputs.blobEndpoint : ''
    LOG_STORAGE_ACCOUNT_CONTAINER: logStorageAccountContainer
    LOG_STORAGE_PATH_PATTERN: logStoragePathPattern
    LOG_STORAGE_RESOURCE_ID: empty(logStorageResourceId) && readsFromStorage ? resourceId(subscription().subscriptionId, registryResourceGroup, 'Microsoft.ContainerRegistry/registries', registryName) : logStorageResourceId
    LOG_ANALYTICS_WORKSPACE_ID: readsFromWorkspace ? logWorkspaceAccess!.outputs.customerId : ''
    LOG_ANALYTICS_ENDPOINT: logAnalyticsEndpoint
    CACHE_HISTORY_DAYS: string(cacheHistoryDays)
    CACHE_MIN_ACCESS_COUNT: string(cacheMinAccessCount)
    GRACE_DAYS: graceDays
    LOG_MAX_STALENESS_HOURS: string(logMaxStalenessHours)
    LOG_MAX_UNUSABLE_PERCENT: logMaxUnusablePercent
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
    REQUEST_TIMEOUT_SECONDS: string(requestTimeoutSeconds)
    CREDENTIAL: 'managed-identity'
    AZURE_CLIENT_ID: identity.properties.clientId
    ACR_AUDIENCE: acrAudience
    AZURE_CLOUD: azureCloud
  }
}

output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
output AZURE_IDENTITY_CLIENT_ID string = identity.properties.clientId
output AZURE_HOST_STORAGE_ACCOUNT string = hostStorage.name
