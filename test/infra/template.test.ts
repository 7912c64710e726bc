import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { APP_SETTINGS, CLOUDS, HOST_STORAGE_SETTINGS } from '../../src/config.js';
import { TELEMETRY_SETTINGS } from '../../src/telemetry/settings.js';
import { ArmFail, evaluate, type ArmScope } from './armExpression.js';

const root = join(import.meta.dirname, '..', '..');
const bicep = join(root, '.tools', 'bicep', 'bicep');
const available = existsSync(bicep);
if (!available && process.env.CI === 'true') throw new Error('the Bicep CLI is not installed (scripts/install-bicep.sh): in CI the ARM template tests must run');

interface ArmResource {
  type: string;
  name: string;
  scope?: string;
  resourceGroup?: string;
  condition?: string;
  kind?: string;
  sku?: { name?: string; tier?: string };
  properties?: Record<string, unknown> & { template?: ArmTemplate; parameters?: Record<string, unknown> };
}
interface ArmTemplate {
  parameters?: Record<string, { type: string; defaultValue?: unknown; allowedValues?: unknown[]; metadata?: Record<string, unknown> }>;
  resources: ArmResource[] | Record<string, ArmResource>;
  variables?: Record<string, unknown>;
  outputs?: Record<string, { value: unknown }>;
}

let template: ArmTemplate;
let text: string;

function resourcesOf(armTemplate: ArmTemplate): ArmResource[] {
  const list = Array.isArray(armTemplate.resources) ? armTemplate.resources : Object.values(armTemplate.resources);
  return list.flatMap((resource) => [resource, ...(resource.properties?.template ? resourcesOf(resource.properties.template) : [])]);
}
const all = () => resourcesOf(template);
const ofType = (type: string) => all().filter((resource) => resource.type === type);

beforeAll(() => {
  if (!available) return;
  const result = spawnSync(bicep, ['build', join(root, 'infra', 'main.bicep'), '--stdout'], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  text = result.stdout;
  template = JSON.parse(text) as ArmTemplate;
});

describe.skipIf(!available)(available ? 'the compiled ARM template' : 'the compiled ARM template (SKIPPED: no Bicep CLI; run scripts/install-bicep.sh)', () => {
  it('sets one app setting per config setting, and none the app does not read', () => {
    const [config] = ofType('Microsoft.Web/sites/config');
    const names = Object.keys(config!.properties!).sort();
    const hostOnly = ['APPLICATIONINSIGHTS_CONNECTION_STRING', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', 'languageWorkers__node__arguments'];
    // The queue endpoint is the host's, for the preview's queue binding (previewCleanup puts, previewWorker takes).
    const identityHostStorage = ['AzureWebJobsStorage__blobServiceUri', 'AzureWebJobsStorage__queueServiceUri', 'AzureWebJobsStorage__credential', 'AzureWebJobsStorage__clientId'];
    expect(names).toEqual([...APP_SETTINGS, ...identityHostStorage, ...hostOnly].sort());
    const readByTheApp = new Set<string>([...APP_SETTINGS, ...HOST_STORAGE_SETTINGS]);
    expect(names.filter((name) => !readByTheApp.has(name) && !hostOnly.includes(name) && name !== 'AzureWebJobsStorage__queueServiceUri')).toEqual([]);
    for (const forbidden of ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'WEBSITE_RUN_FROM_PACKAGE', 'AzureWebJobsStorage']) expect(names).not.toContain(forbidden);
    expect(config!.properties!.CREDENTIAL).toBe('managed-identity');
    // The run telemetry reads these two (src/telemetry/settings.ts): Entra-only ingestion with the app's identity.
    for (const name of TELEMETRY_SETTINGS) expect(names).toContain(name);
    expect(String(config!.properties!.APPLICATIONINSIGHTS_AUTHENTICATION_STRING)).toMatch(/ClientId=\{0\};Authorization=AAD/);
    expect(config!.properties!.AzureWebJobsStorage__credential).toBe('managedidentity');
    // The host's blob endpoint as ARM reports it (right in every cloud), not a name the host completes with the public suffix.
    expect(config!.properties!.AzureWebJobsStorage__blobServiceUri).toMatch(/^\[reference\(resourceId\('Microsoft\.Storage\/storageAccounts', .*\)\.primaryEndpoints\.blob\]$/);
  });

  it('grants exactly the expected roles, each on a resource rather than a resource group or subscription', () => {
    const expected = [
      '7f951dda-4ed3-4680-a7ca-43fe172d538d', // AcrPull
      'c2f4ef07-c644-48eb-af81-4b1b4947fb11', // AcrDelete
      'bfdb9389-c9a5-478a-bb2f-ba9ca092c3c7', // Container Registry Repository Catalog Lister
      '2efddaa5-3f1f-4df3-97df-af3f13818f4c', // Container Registry Repository Contributor
      '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1', // Storage Blob Data Reader (log storage)
      '73c42c96-874c-492b-b04d-ab87d138a893', // Log Analytics Reader
      'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', // Storage Blob Data Owner (host storage)
      '974c5e8b-45b9-4653-ba55-5f855dd0fb88', // Storage Queue Data Contributor (host storage: the preview's request queue; no table role, nothing uses tables)
      '3913510d-42f4-4e42-8a64-420c390055eb', // Monitoring Metrics Publisher
    ].sort();
    const guids = new Set((text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? []).filter((guid) => guid !== '00000000-0000-0000-0000-000000000000'));
    expect([...guids].sort()).toEqual(expected);
    const assignments = ofType('Microsoft.Authorization/roleAssignments');
    // Host storage (blobs, queues), App Insights, the registry (a loop of 2), the log storage, the workspace.
    expect(assignments).toHaveLength(6);
    for (const assignment of assignments) {
      expect(assignment.scope, `${assignment.name} must be scoped to a resource`).toMatch(/Microsoft\.(Storage\/storageAccounts|Insights\/components|ContainerRegistry\/registries|OperationalInsights\/workspaces)/);
      expect(assignment.properties!.principalType).toBe('ServicePrincipal');
      expect(String(assignment.properties!.roleDefinitionId)).toContain("subscriptionResourceId('Microsoft.Authorization/roleDefinitions'");
    }
    expect(text).not.toMatch(/"(Owner|Contributor)"|8e3af657-a8ff-443c-a75c-2fe8c4bcb635|b24988ac-6180-42a0-ab88-20f7382dd24c/);
  });

  it('reaches the registry and its logs in their own resource groups', () => {
    // Which resource groups: evaluated in 'defaults the registry's and the logs' resource groups…' below.
    const deployments = ofType('Microsoft.Resources/deployments');
    const byName = (fragment: string) => deployments.find((deployment) => deployment.name.includes(fragment))!;
    for (const fragment of ['registry-access', 'log-storage-access', 'log-workspace-access']) expect(byName(fragment).resourceGroup).toMatch(/^\[variables\('\w+ResourceGroup'\)\]$/);
    const diagnostic = ofType('Microsoft.Insights/diagnosticSettings')[0]!;
    expect(JSON.stringify(diagnostic.properties)).toContain('ContainerRegistryRepositoryEvents');
  });

  it('locks the host storage down: HTTPS, TLS 1.2, no shared keys, no public blobs', () => {
    const storage = ofType('Microsoft.Storage/storageAccounts')[0]!;
    expect(storage.properties).toMatchObject({ supportsHttpsTrafficOnly: true, minimumTlsVersion: 'TLS1_2', allowSharedKeyAccess: false, allowBlobPublicAccess: false });
    expect(ofType('Microsoft.Storage/storageAccounts/blobServices/containers')[0]!.properties).toMatchObject({ publicAccess: 'None' });
  });

  it('runs on Flex Consumption, Linux, Node 22, HTTPS only, with Entra-only telemetry', () => {
    const plan = ofType('Microsoft.Web/serverfarms')[0]!;
    expect(plan.sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
    const site = ofType('Microsoft.Web/sites')[0]!;
    expect(site.kind).toBe('functionapp,linux');
    expect(site.properties).toMatchObject({ httpsOnly: true, siteConfig: { minTlsVersion: '1.2' }, functionAppConfig: { runtime: { name: 'node', version: '22' } } });
    expect(JSON.stringify(site.properties)).toContain('UserAssignedIdentity');
    expect(ofType('Microsoft.Insights/components')[0]!.properties).toMatchObject({ DisableLocalAuth: true });
  });

  it('holds the run alerts and the workbook over Application Insights, e-mailing an operator only when given an address', () => {
    const monitoring = ofType('Microsoft.Resources/deployments').find((deployment) => deployment.name.includes('monitoring'))!;
    const inner = monitoring.properties!.template! as ArmTemplate & { parameters: Record<string, { defaultValue?: unknown }> };
    const variables = inner.variables as { alerts: { name: string; query: string; windowSize: string }[] } & Record<string, string>;
    const queryOf = (reference: string) => variables[/^\[variables\('([^']+)'\)\]$/.exec(reference)![1]!]!;
    const monitoringDir = join(root, 'infra', 'app', 'monitoring');
    expect(variables.alerts.map((alert) => [alert.name, alert.windowSize, queryOf(alert.query)])).toEqual([
      ['run-failed-or-refused', 'PT1H', readFileSync(join(monitoringDir, 'run-failed-or-refused.kql'), 'utf8')],
      ['no-completed-run', 'P2D', readFileSync(join(monitoringDir, 'completed-runs.kql'), 'utf8')],
      ['work-left-every-run', 'P2D', readFileSync(join(monitoringDir, 'work-left-every-run.kql'), 'utf8')],
    ]);
    for (const alert of variables.alerts) expect(queryOf(alert.query)).toMatch(/^customEvents\n\| where name == "AcrCacheCleanerRun"$/m);
    const [rules] = ofType('Microsoft.Insights/scheduledQueryRules') as (ArmResource & { kind: string; copy: { count: string } })[];
    expect(rules!.kind).toBe('LogAlert');
    expect(rules!.copy.count).toBe("[length(variables('alerts'))]");
    expect(rules!.properties).toMatchObject({ enabled: true, autoMitigate: true, scopes: ["[resourceId('Microsoft.Insights/components', parameters('appInsightsName'))]"] });
    expect(JSON.stringify(rules!.properties!.actions)).toContain("empty(parameters('alertEmail'))");

    const [group] = ofType('Microsoft.Insights/actionGroups') as (ArmResource & { condition: string })[];
    expect(group!.condition).toBe("[not(empty(parameters('alertEmail')))]");
    expect(inner.parameters.alertEmail!.defaultValue).toBe('');
    expect(monitoring.properties!.parameters).toMatchObject({ alertEmail: { value: "[parameters('alertEmail')]" }, appInsightsName: { value: expect.stringContaining('appi-acrclean-') } });

    const [workbook] = ofType('Microsoft.Insights/workbooks');
    expect(workbook!.properties).toMatchObject({ category: 'workbook', version: 'Notebook/1.0', sourceId: "[resourceId('Microsoft.Insights/components', parameters('appInsightsName'))]" });
    const serialized = String(workbook!.properties!.serializedData);
    const embedded = /^\[replace\(variables\('([^']+)'\), '__APP_INSIGHTS_ID__', resourceId\('Microsoft.Insights\/components', parameters\('appInsightsName'\)\)\)\]$/.exec(serialized);
    expect(embedded, serialized).not.toBeNull();
    expect(variables[embedded![1]!]).toBe(readFileSync(join(monitoringDir, 'workbook.json'), 'utf8'));
  });

  it('carries no key, SAS or storage connection string in any output or app setting', () => {
    expect(text).not.toMatch(/listKeys|listAccountSas|listServiceSas|listConnectionStrings|AccountKey=|SharedAccessSignature/);
    expect(Object.keys(template.outputs ?? {}).sort()).toEqual(['AZURE_FUNCTION_APP_NAME', 'AZURE_HOST_STORAGE_ACCOUNT', 'AZURE_IDENTITY_CLIENT_ID', 'AZURE_IDENTITY_PRINCIPAL_ID']);
    for (const output of Object.values(template.outputs ?? {})) expect(String(output.value)).not.toMatch(/ConnectionString|key/i);
  });
  it('sets none of the site properties and app settings that Flex Consumption documents as deprecated', () => {
    // https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
    const deprecatedSettings = [
      'ENABLE_ORYX_BUILD', 'FUNCTIONS_EXTENSION_VERSION', 'FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_WORKER_RUNTIME_VERSION', 'FUNCTIONS_MAX_HTTP_CONCURRENCY',
      'FUNCTIONS_WORKER_PROCESS_COUNT', 'FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED', 'SCM_DO_BUILD_DURING_DEPLOYMENT', 'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
      'WEBSITE_CONTENTOVERVNET', 'WEBSITE_CONTENTSHARE', 'WEBSITE_DNS_SERVER', 'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT', 'WEBSITE_NODE_DEFAULT_VERSION',
      'WEBSITE_RUN_FROM_PACKAGE', 'WEBSITE_SKIP_CONTENTSHARE_VALIDATION', 'WEBSITE_VNET_ROUTE_ALL',
    ];
    const deprecatedProperties = [
      'alwaysOn', 'containerSize', 'ftpsState', 'isReserved', 'IsXenon', 'javaVersion', 'LinuxFxVersion', 'netFrameworkVersion', 'powerShellVersion',
      'functionAppScaleLimit', 'preWarmedInstanceCount', 'use32BitWorkerProcess', 'vnetBackupRestoreEnabled', 'vnetContentShareEnabled',
      'vnetImagePullEnabled', 'vnetRouteAllEnabled', 'windowsFxVersion',
    ];
    const keysOf = (value: unknown): string[] =>
      value !== null && typeof value === 'object' ? Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]) : [];
    const lower = (names: string[]) => new Set(names.map((name) => name.toLowerCase()));
    const siteKeys = lower(ofType('Microsoft.Web/sites').flatMap((site) => keysOf(site.properties)));
    expect(deprecatedProperties.filter((name) => siteKeys.has(name.toLowerCase()))).toEqual([]);
    const settingNames = lower(ofType('Microsoft.Web/sites/config').flatMap((config) => Object.keys(config.properties ?? {})));
    expect(deprecatedSettings.filter((name) => settingNames.has(name.toLowerCase()))).toEqual([]);
  });

  describe('decisions made at deployment time', () => {
    const scopeWith = (parameters: Record<string, unknown>): ArmScope => ({
      parameters: { registryResourceGroupName: '', logStorageAccountName: '', logStorageResourceGroupName: '', logAnalyticsWorkspaceName: '', logAnalyticsResourceGroupName: '', ...parameters },
      variables: template.variables ?? {},
      resourceGroup: { name: 'rg-cleaner', location: 'westeurope', id: '/subscriptions/s/resourceGroups/rg-cleaner' },
      environment: { name: 'AzureCloud' },
    });
    const deployment = (fragment: string) => ofType('Microsoft.Resources/deployments').find((resource) => resource.name.includes(fragment))!;
    const deploys = (fragment: string, parameters: Record<string, unknown>) => evaluate(deployment(fragment).condition ?? true, scopeWith(parameters));

    it('reads exactly one log source, and fails with a clear message on both or neither', () => {
      expect([deploys('log-storage-access', { logStorageAccountName: 'cilogs' }), deploys('log-workspace-access', { logStorageAccountName: 'cilogs' })]).toEqual([true, false]);
      expect([deploys('log-storage-access', { logAnalyticsWorkspaceName: 'ws' }), deploys('log-workspace-access', { logAnalyticsWorkspaceName: 'ws' })]).toEqual([false, true]);
      for (const parameters of [{ logStorageAccountName: 'cilogs', logAnalyticsWorkspaceName: 'ws' }, {}]) {
        for (const fragment of ['log-storage-access', 'log-workspace-access']) {
          expect(() => deploys(fragment, parameters)).toThrow(ArmFail);
          expect(() => deploys(fragment, parameters)).toThrow(/exactly one log source: set logStorageAccountName \(azd env set LOG_STORAGE_ACCOUNT .*\) or logAnalyticsWorkspaceName \(azd env set LOG_ANALYTICS_WORKSPACE .*\), not (both|neither)/);
        }
      }
    });

    it('defaults the registry\'s and the logs\' resource groups to the deployment\'s, also when azd passes an unset variable as ""', () => {
      const resourceGroupOf = (fragment: string, parameters: Record<string, unknown>) => evaluate(deployment(fragment).resourceGroup, scopeWith({ logStorageAccountName: 'cilogs', ...parameters }));
      expect(resourceGroupOf('registry-access', {})).toBe('rg-cleaner');
      expect(resourceGroupOf('log-storage-access', {})).toBe('rg-cleaner');
      expect(resourceGroupOf('log-workspace-access', {})).toBe('rg-cleaner');
      expect(resourceGroupOf('registry-access', { registryResourceGroupName: 'rg-registry' })).toBe('rg-registry');
      expect(resourceGroupOf('log-storage-access', { registryResourceGroupName: 'rg-registry' })).toBe('rg-registry');
      expect(resourceGroupOf('log-storage-access', { registryResourceGroupName: 'rg-registry', logStorageResourceGroupName: 'rg-logs' })).toBe('rg-logs');
      expect(resourceGroupOf('log-workspace-access', { logAnalyticsResourceGroupName: 'rg-ws' })).toBe('rg-ws');
    });

    it('sizes the instance memory and the worker\'s heap from the measured figures, the heap inside the instance', () => {
      // npm run bench:memory -- --manifests 500000: peak live heap 613 MiB (docs/deploy.md, "Memory").
      const measuredLiveHeapMiB = 613;
      const reserveMiB = 1024; // the Functions host and Node's memory outside the heap
      const memory = template.parameters!.instanceMemoryMB!;
      expect(memory.defaultValue).toBe(2048);
      expect(memory.allowedValues).toEqual([2048, 4096]);
      const site = ofType('Microsoft.Web/sites')[0]!;
      expect(site.properties).toMatchObject({ functionAppConfig: { scaleAndConcurrency: { instanceMemoryMB: "[parameters('instanceMemoryMB')]" } } });
      const [config] = ofType('Microsoft.Web/sites/config');
      for (const instanceMemoryMB of memory.allowedValues as number[]) {
        const flag = String(evaluate(config!.properties!.languageWorkers__node__arguments, scopeWith({ instanceMemoryMB })));
        const heapMiB = Number(/^--max-old-space-size=(\d+)$/.exec(flag)?.[1]);
        expect(heapMiB, flag).toBeGreaterThanOrEqual(measuredLiveHeapMiB * 1.5);
        expect(heapMiB + reserveMiB, flag).toBeLessThanOrEqual(instanceMemoryMB);
      }
    });

    it('takes AZURE_CLOUD from the deployment\'s cloud and leaves the cloud-specific endpoints to it', () => {
      const parameters = template.parameters!;
      expect(parameters.azureCloud).toMatchObject({ defaultValue: '[environment().name]' });
      expect([...parameters.azureCloud!.allowedValues!].sort()).toEqual(Object.keys(CLOUDS).sort());
      expect(evaluate(parameters.azureCloud!.defaultValue, { ...scopeWith({}), environment: { name: 'AzureUSGovernment' } })).toBe('AzureUSGovernment');
      expect(parameters.logAnalyticsEndpoint!.defaultValue).toBe('');
      expect(parameters.acrAudience!.defaultValue).toBe('');
      // No public-cloud host name anywhere: endpoints come from ARM (primaryEndpoints, loginServer) or from AZURE_CLOUD.
      expect(text.replace(/"\$schema": "[^"]*"/g, '')).not.toMatch(/core\.windows\.net|azurecr\.io|loganalytics\.io|management\.azure\.com/);
    });
  });

  it('asks azd for a location and says where to check that it offers Flex Consumption', () => {
    const location = template.parameters!.location!;
    expect(location.metadata).toMatchObject({ azd: { type: 'location' } });
    expect(String(location.metadata!.description)).toContain('az functionapp list-flexconsumption-locations');
  });
  it('main.parameters.json passes only parameters the template has', () => {
    const file = JSON.parse(readFileSync(join(root, 'infra', 'main.parameters.json'), 'utf8')) as { parameters: Record<string, unknown> };
    expect(Object.keys(file.parameters).filter((name) => !(name in template.parameters!))).toEqual([]);
  });
});
