import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// Start-up: the Azure SDKs are most of what a run loads before it reads a byte; --help and an offline run
// (--log-dir, --inventory) need none of them. The time itself is measured by `npm run bench`, not here.

const root = join(import.meta.dirname, '..');

async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const record = join(await mkdtemp(join(tmpdir(), 'imports-')), 'modules.txt');
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', './test/support/importRecorder.mjs', 'src/bin.ts', ...args], {
    cwd: root,
    env: { ...process.env, IMPORT_RECORD: record },
  });
  return (await readFile(record, 'utf8')).split('\n').filter((url) => url.length > 0);
}

const azureModules = (urls: string[]) => [...new Set(urls.filter((url) => url.includes('/node_modules/@azure/')).map((url) => /node_modules\/(@azure\/[^/]+)/.exec(url)![1]))];

describe('start-up', () => {
  it('--help loads no Azure SDK', async () => {
    const loaded = await modulesLoadedBy(['--help']);
    expect(loaded.some((url) => url.endsWith('/src/cli.ts'))).toBe(true);
    expect(azureModules(loaded)).toEqual([]);
  });

  it('an offline run (log folder and inventory snapshot) loads no Azure SDK', async () => {
    const loaded = await modulesLoadedBy(['--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z', '--output', 'json']);
    expect(loaded.some((url) => url.endsWith('/src/accessLog/sources/localDir.ts'))).toBe(true);
    expect(azureModules(loaded)).toEqual([]);
  });
});

describe('deferred adapters', () => {
  it('describe themselves as the adapters they stand for', async () => {
    const { loadConfig } = await import('../src/config.js');
    const { createLogSource } = await import('../src/wiring.js');
    const { StorageArchiveLogSource } = await import('../src/accessLog/sources/storageArchive.js');
    const { LogAnalyticsLogSource } = await import('../src/accessLog/sources/logAnalytics.js');
    const storage = loadConfig({ CONTAINER_REGISTRY: 'cicache', LOG_STORAGE_ACCOUNT: 'https://logs.blob.core.windows.net' });
    const workspace = loadConfig({ CONTAINER_REGISTRY: 'cicache', LOG_ANALYTICS_WORKSPACE_ID: '00000000-0000-0000-0000-000000000001' });
    if (storage.logs.kind !== 'storage' || workspace.logs.kind !== 'workspace') throw new Error('unexpected log settings');
    expect(createLogSource(storage).description).toBe(new StorageArchiveLogSource({ account: storage.logs.account, container: storage.logs.container, pathPattern: storage.logs.pathPattern }).description);
    expect(createLogSource(workspace).description).toBe(new LogAnalyticsLogSource({ workspaceId: workspace.logs.workspaceId, credential: { getToken: async () => null } }).description);
  });
});
