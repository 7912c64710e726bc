import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadHostStorage } from '../src/config.js';

const storage = { CONTAINER_REGISTRY: 'cicache', LOG_STORAGE_ACCOUNT: 'cilogs' };
const workspace = { CONTAINER_REGISTRY: 'cicache', LOG_ANALYTICS_WORKSPACE_ID: '6b7f1c9e-2f3a-4c55-9d21-0e4c8b7a1f00' };

describe('AZURE_CLOUD: one setting for a sovereign cloud', () => {
  it('defaults to the public cloud', () => {
    const config = loadConfig(workspace);
    expect(config.cloud).toBe('AzureCloud');
    expect(config.logs).toMatchObject({ kind: 'workspace', endpoint: 'https://api.loganalytics.io/v1', audience: 'https://api.loganalytics.io' });
    expect(config.registry!.endpoint).toBe('https://cicache.azurecr.io');
    expect(config.audience).toBe('https://containerregistry.azure.net');
  });

  it.each([
    ['AzureUSGovernment', 'https://api.loganalytics.us', 'core.usgovcloudapi.net', 'azurecr.us'],
    ['AzureChinaCloud', 'https://api.loganalytics.azure.cn', 'core.chinacloudapi.cn', 'azurecr.cn'],
  ])('%s sets the Log Analytics endpoint and token audience, and the storage and registry suffixes', (cloud, logAnalytics, storageSuffix, registrySuffix) => {
    const fromWorkspace = loadConfig({ ...workspace, AZURE_CLOUD: cloud });
    expect(fromWorkspace.logs).toMatchObject({ endpoint: `${logAnalytics}/v1`, audience: logAnalytics });
    expect(fromWorkspace.registry).toEqual({ endpoint: `https://cicache.${registrySuffix}`, name: 'cicache' });
    // The registry's audience is the same in every cloud.
    expect(fromWorkspace.audience).toBe('https://containerregistry.azure.net');
    const fromStorage = loadConfig({ ...storage, AZURE_CLOUD: cloud });
    expect(fromStorage.logs).toMatchObject({ kind: 'storage', account: { kind: 'url', url: `https://cilogs.blob.${storageSuffix}`, accountName: 'cilogs' } });
    const host = loadHostStorage({ AZURE_CLOUD: cloud, AzureWebJobsStorage__accountName: 'stacrclean', AzureWebJobsStorage__credential: 'managedidentity' });
    expect(host.account).toEqual({ kind: 'url', url: `https://stacrclean.blob.${storageSuffix}`, accountName: 'stacrclean' });
  });

  it('lets the explicit settings win: an endpoint, a full login server, a blob URL, an audience', () => {
    const config = loadConfig({
      ...workspace,
      AZURE_CLOUD: 'AzureUSGovernment',
      LOG_ANALYTICS_ENDPOINT: 'https://logs.example.us/v1',
      CONTAINER_REGISTRY: 'cicache.azurecr.us',
      ACR_AUDIENCE: 'https://management.usgovcloudapi.net',
    });
    expect(config.logs).toMatchObject({ endpoint: 'https://logs.example.us/v1', audience: 'https://api.loganalytics.us' });
    expect(config.registry!.endpoint).toBe('https://cicache.azurecr.us');
    expect(config.audience).toBe('https://management.usgovcloudapi.net');
  });

  it('names AZURE_CLOUD when its value is unknown, and lists the valid ones', () => {
    expect(() => loadConfig({ ...workspace, AZURE_CLOUD: 'AzureGermanCloud' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...workspace, AZURE_CLOUD: 'AzureGermanCloud' })).toThrow(/AZURE_CLOUD: must be AzureCloud, AzureUSGovernment, AzureChinaCloud/);
  });
});
