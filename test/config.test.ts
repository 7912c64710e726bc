import { describe, expect, it } from 'vitest';
import { ConfigError, flagOf, loadConfig, parseRegistry, parseStorageAccount } from '../src/config.js';

const minimal = { CONTAINER_REGISTRY: 'cicache', LOG_STORAGE_ACCOUNT: 'cilogs' };

function problemsOf(settings: Record<string, string>): string[] {
  try {
    loadConfig(settings);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.setting);
    throw error;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the original script defaults', () => {
    const config = loadConfig(minimal);
    expect(config.policy).toMatchObject({ historyDays: 7, minAccessCount: 1, graceDays: 7 });
    expect(config.logs).toEqual({
      kind: 'storage',
      account: { kind: 'url', url: 'https://cilogs.blob.core.windows.net', accountName: 'cilogs' },
      container: 'insights-logs-containerregistryrepositoryevents',
      pathPattern: '*.json',
      resourceId: undefined,
    });
    expect(config.registry).toEqual({ endpoint: 'https://cicache.azurecr.io', name: 'cicache' });
    expect(config.dryRun).toBe(false);
  });

  it('lists every bad setting by name at once', () => {
    expect(
      problemsOf({ ...minimal, CACHE_HISTORY_DAYS: 'seven', CACHE_MIN_ACCESS_COUNT: '-1', PROTECT_TAGS: '([', DRY_RUN: 'maybe', CLEANUP_SCHEDULE: '0 2 * * *' }).sort(),
    ).toEqual(['CACHE_HISTORY_DAYS', 'CACHE_MIN_ACCESS_COUNT', 'CLEANUP_SCHEDULE', 'DRY_RUN', 'PROTECT_TAGS']);
  });

  it('takes LOG_MAX_UNUSABLE_PERCENT as a percentage, 0.1 by default', () => {
    expect(loadConfig(minimal).policy.logMaxUnusablePercent).toBe(0.1);
    expect(loadConfig({ ...minimal, LOG_MAX_UNUSABLE_PERCENT: '0' }).policy.logMaxUnusablePercent).toBe(0);
    expect(() => loadConfig({ ...minimal, LOG_MAX_UNUSABLE_PERCENT: '101' })).toThrow(/LOG_MAX_UNUSABLE_PERCENT: must be between 0 and 100/);
  });

  it('compiles the pattern settings as RE2, naming what RE2 refuses and why', () => {
    const config = loadConfig({ ...minimal, PROTECT_TAGS: '(?i)^V\\d', REPOSITORY_FILTER: '^ci/', IGNORE_USER_AGENTS: '^Trivy/' });
    expect(config.policy.protectTags!.test('v1.2')).toBe(true);
    expect(config.policy.repositoryFilter!.source).toBe('^ci/');
    expect(config.ignoreUserAgents!.test('Trivy/0.56')).toBe(true);
    expect(() => loadConfig({ ...minimal, REPOSITORY_FILTER: '^(?!tmp/)' })).toThrow(/REPOSITORY_FILTER: is not a valid regular expression: .*no lookaround and no backreferences/);
    expect(() => loadConfig({ ...minimal, PROTECT_TAGS: '(a)\\1' })).toThrow(/PROTECT_TAGS: is not a valid regular expression: invalid escape sequence/);
  });

  it('rejects an overflowing history (the "--ago 999999d" trap)', () => {
    expect(() => loadConfig({ ...minimal, CACHE_HISTORY_DAYS: '999999' })).toThrow(/CACHE_HISTORY_DAYS: must be between 1 and 3650/);
  });

  it('names the CLI flag when asked to', () => {
    try {
      loadConfig({ ...minimal, MAX_DELETE_PERCENT: '150' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).describe(flagOf)).toContain('--max-delete-percent: must be between 0 and 100');
    }
  });

  it('wants exactly one log source and a registry', () => {
    expect(() => loadConfig({ CONTAINER_REGISTRY: 'cicache' })).toThrow(/no log source/);
    expect(() => loadConfig({ ...minimal, LOG_ANALYTICS_WORKSPACE_ID: '00000000-0000-0000-0000-000000000001' })).toThrow(/more than one log source/);
    expect(() => loadConfig({ LOG_DIR: '/tmp' })).toThrow(/no registry/);
  });

  it('treats blank app settings as unset', () => {
    expect(loadConfig({ ...minimal, CACHE_HISTORY_DAYS: '', GRACE_DAYS: ' ' }).policy.historyDays).toBe(7);
  });

  it('refuses the static emulator credential for a non-loopback registry', () => {
    expect(() => loadConfig({ ...minimal, CREDENTIAL: 'emulator' })).toThrow(/CREDENTIAL: the emulator credential/);
    expect(loadConfig({ CONTAINER_REGISTRY: 'https://127.0.0.1:8443', LOG_DIR: 'logs', CREDENTIAL: 'emulator' }).registry).toEqual({ endpoint: 'https://127.0.0.1:8443', name: undefined });
  });

  it('refuses the static emulator credential for every non-loopback endpoint it would be sent to: storage and Log Analytics too', () => {
    const loopbackRegistry = { CONTAINER_REGISTRY: 'https://127.0.0.1:8443', CREDENTIAL: 'emulator' };
    expect(() => loadConfig({ ...loopbackRegistry, LOG_STORAGE_ACCOUNT: 'cilogs' })).toThrow(/CREDENTIAL: the emulator credential .* refused for https:\/\/cilogs\.blob\.core\.windows\.net \(LOG_STORAGE_ACCOUNT\)/);
    expect(() => loadConfig({ ...loopbackRegistry, LOG_ANALYTICS_WORKSPACE_ID: '00000000-0000-0000-0000-000000000001' })).toThrow(/refused for https:\/\/api\.loganalytics\.io\/v1 \(LOG_ANALYTICS_ENDPOINT\)/);
    expect(loadConfig({ ...loopbackRegistry, LOG_STORAGE_ACCOUNT: 'http://127.0.0.1:10000/devstoreaccount1' }).logs.kind).toBe('storage');
    expect(loadConfig({ ...loopbackRegistry, LOG_ANALYTICS_WORKSPACE_ID: '00000000-0000-0000-0000-000000000001', LOG_ANALYTICS_ENDPOINT: 'https://127.0.0.1:9443/v1' }).logs.kind).toBe('workspace');
    // A connection string carries its own key: the credential is not sent there.
    expect(loadConfig({ ...loopbackRegistry, LOG_STORAGE_ACCOUNT: 'DefaultEndpointsProtocol=https;AccountName=cilogs;AccountKey=abc;EndpointSuffix=core.windows.net' }).logs.kind).toBe('storage');
  });

  it('names a setting whose value looks like a connection string, key or SAS, and never prints it', () => {
    const connectionString = 'DefaultEndpointsProtocol=https;AccountName=cicache;AccountKey=c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs=;EndpointSuffix=core.windows.net';
    let message = '';
    try {
      loadConfig({ ...minimal, CONTAINER_REGISTRY: connectionString });
    } catch (error) {
      message = (error as ConfigError).describe(flagOf);
    }
    expect(message).toContain('--container-registry: the value of CONTAINER_REGISTRY (not shown: it looks like a connection string, key or SAS)');
    expect(message).not.toContain('c2VjcmV0');
    expect(message).not.toContain('AccountKey');
  });

  it('an inventory file implies a dry run', () => {
    expect(loadConfig({ INVENTORY_FILE: 'inv.json', LOG_DIR: 'logs' }).dryRun).toBe(true);
  });
});

describe('parsing registry and storage references', () => {
  it('accepts names, login servers and https endpoints', () => {
    expect(parseRegistry('CiCache')).toEqual({ endpoint: 'https://cicache.azurecr.io', name: 'cicache' });
    expect(parseRegistry('cicache.azurecr.cn')).toEqual({ endpoint: 'https://cicache.azurecr.cn', name: 'cicache' });
    expect(parseRegistry('http://cicache.azurecr.io')).toBeUndefined();
    expect(parseRegistry('ab')).toBeUndefined();
  });

  it('accepts account names, endpoints and connection strings', () => {
    expect(parseStorageAccount('UseDevelopmentStorage=true')?.kind).toBe('connectionString');
    expect(parseStorageAccount('DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=x;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;')?.kind).toBe('connectionString');
    expect(parseStorageAccount('https://cilogs.blob.core.windows.net/')).toEqual({ kind: 'url', url: 'https://cilogs.blob.core.windows.net', accountName: 'cilogs' });
    expect(parseStorageAccount('Not An Account')).toBeUndefined();
  });
});
