import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { APP_SETTINGS, HOST_STORAGE_SETTINGS } from '../../src/config.js';
import { TELEMETRY_SETTINGS } from '../../src/telemetry/settings.js';

const root = join(import.meta.dirname, '..', '..');
const bicep = join(root, '.tools', 'bicep', 'bicep');
const available = existsSync(bicep);
if (!available && process.env.CI === 'true') throw new Error('the Bicep CLI is not installed (scripts/install-bicep.sh): in CI the ARM template tests must run');

interface ArmResource {
  type: string;
  name: string;
  condition?: string;
  scope?: string;
  resourceGroup?: string;
  kind?: string;
  sku?: { name?: string; tier?: string };
  properties?: Record<string, unknown> & { template?: ArmTemplate; parameters?: Record<string, unknown> };
}
interface ArmTemplate {
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

describe.skipIf(!available)('the compiled ARM template', () => {
  it('sets one app setting per config setting, and none the app does not read', () => {
    const [config] = ofType('Microsoft.Web/sites/config');
    const names = Object.keys(config!.properties!).sort();
    const hostOnly = ['APPLICATIONINSIGHTS_CONNECTION_STRING', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', 'languageWorkers__node__arguments'];
    const identityHostStorage = ['AzureWebJobsStorage__accountName', 'AzureWebJobsStorage__credential', 'AzureWebJobsStorage__clientId'];
    expect(names).toEqual([...APP_SETTINGS, ...identityHostStorage, ...hostOnly].sort());
    const readByTheApp = new Set<string>([...APP_SETTINGS, ...HOST_STORAGE_SETTINGS]);
    expect(names.filter((name) => !readByTheApp.has(name) && !hostOnly.includes(name))).toEqual([]);
    for (const forbidden of ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'WEBSITE_RUN_FROM_PACKAGE', 'AzureWebJobsStorage']) expect(names).not.toContain(forbidden);
    expect(config!.properties!.CREDENTIAL).toBe('managed-identity');
    // The run telemetry reads these two (src/telemetry/settings.ts): Entra-only ingestion with the app's identity.
    for (const name of TELEMETRY_SETTINGS) expect(names).toContain(name);
    expect(String(config!.properties!.APPLICATIONINSIGHTS_AUTHENTICATION_STRING)).toMatch(/ClientId=\{0\};Authorization=AAD/);
    expect(config!.properties!.AzureWebJobsStorage__credential).toBe('managedidentity');
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
      '974c5e8b-45b9-4653-ba55-5f855dd0fb88', // Storage Queue Data Contributor
      '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', // Storage Table Data Contributor
      '3913510d-42f4-4e42-8a64-420c390055eb', // Monitoring Metrics Publisher
    ].sort();
    const guids = new Set((text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? []).filter((guid) => guid !== '00000000-0000-0000-0000-000000000000'));
    expect([...guids].sort()).toEqual(expected);
    const assignments = ofType('Microsoft.Authorization/roleAssignments');
    // Host storage (a loop of 3), App Insights, the registry (a loop of 2), the log storage, the workspace.
    expect(assignments).toHaveLength(5);
    for (const assignment of assignments) {
      expect(assignment.scope, `${assignment.name} must be scoped to a resource`).toMatch(/Microsoft\.(Storage\/storageAccounts|Insights\/components|ContainerRegistry\/registries|OperationalInsights\/workspaces)/);
      expect(assignment.properties!.principalType).toBe('ServicePrincipal');
      expect(String(assignment.properties!.roleDefinitionId)).toContain("subscriptionResourceId('Microsoft.Authorization/roleDefinitions'");
    }
    expect(text).not.toMatch(/"(Owner|Contributor)"|8e3af657-a8ff-443c-a75c-2fe8c4bcb635|b24988ac-6180-42a0-ab88-20f7382dd24c/);
  });

  it('reaches the registry and its logs in their own resource groups', () => {
    const deployments = ofType('Microsoft.Resources/deployments');
    const byName = (fragment: string) => deployments.find((deployment) => deployment.name.includes(fragment))!;
    expect(byName('registry-access').resourceGroup).toBe("[parameters('registryResourceGroupName')]");
    expect(byName('log-storage-access').resourceGroup).toBe("[parameters('logStorageResourceGroupName')]");
    expect(byName('log-workspace-access').resourceGroup).toBe("[parameters('logAnalyticsResourceGroupName')]");
    const diagnostic = ofType('Microsoft.Insights/diagnosticSettings')[0]!;
    expect(JSON.stringify(diagnostic.properties)).toContain('ContainerRegistryRepositoryEvents');
  });

  it('locks the host storage down: HTTPS, TLS 1.2, no shared keys, no public blobs', () => {
    const storage = ofType('Microsoft.Storage/storageAccounts')[0]!;
    expect(storage.properties).toMatchObject({ supportsHttpsTrafficOnly: true, minimumTlsVersion: 'TLS1_2', allowSharedKeyAccess: false, allowBlobPublicAccess: false });
    expect(ofType('Microsoft.Storage/storageAccounts/blobServices/containers')[0]!.properties).toMatchObject({ publicAccess: 'None' });
  });

  it('runs on Flex Consumption, Linux, Node 22, HTTPS only, FTPS off, with Entra-only telemetry', () => {
    const plan = ofType('Microsoft.Web/serverfarms')[0]!;
    expect(plan.sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
    const site = ofType('Microsoft.Web/sites')[0]!;
    expect(site.kind).toBe('functionapp,linux');
    expect(site.properties).toMatchObject({ httpsOnly: true, siteConfig: { ftpsState: 'Disabled', minTlsVersion: '1.2' }, functionAppConfig: { runtime: { name: 'node', version: '22' } } });
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
});
