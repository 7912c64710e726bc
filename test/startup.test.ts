import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PassReport } from '../src/report.js';
import { RegistryState } from './emulators/acr/registryState.js';
import { DAY, digestOf, inventoryOf, manifest } from './support/builders.js';
import { startEmulator } from './support/emulator.js';
import { writeScenario } from './support/scenario.js';
import { bundleCli, CLI_PROGRAM } from '../scripts/bundle.mjs';

// Start-up: the Azure SDKs are most of what a run loads before it reads a byte; --help and an offline run
// (--log-dir, --inventory) need none of them. The time itself is measured by `npm run bench`, not here.

const root = join(import.meta.dirname, '..');

async function modulesLoadedBy(args: string[], program: string[] = ['--import', 'tsx', '--import', './test/support/importRecorder.mjs', 'src/bin.ts']): Promise<string[]> {
  const record = join(await mkdtemp(join(tmpdir(), 'imports-')), 'modules.txt');
  await promisify(execFile)(process.execPath, [...program, ...args], {
    cwd: root,
    env: { ...process.env, IMPORT_RECORD: record },
  });
  return (await readFile(record, 'utf8')).split('\n').filter((url) => url.length > 0);
}

const HELP = ['--help'];
const OFFLINE = ['--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z', '--output', 'json'];

const azureModules = (urls: string[]) => [...new Set(urls.filter((url) => url.includes('/node_modules/@azure/')).map((url) => /node_modules\/(@azure\/[^/]+)/.exec(url)![1]))];

describe('start-up', () => {
  it('--help loads no Azure SDK, and not zod (the settings table is apart from the schemas)', async () => {
    const loaded = await modulesLoadedBy(HELP);
    expect(loaded.some((url) => url.endsWith('/src/cli.ts'))).toBe(true);
    expect(azureModules(loaded)).toEqual([]);
    expect(loaded.filter((url) => url.includes('/node_modules/zod/'))).toEqual([]);
  });

  it('an offline run (log folder and inventory snapshot) loads no Azure SDK', async () => {
    const loaded = await modulesLoadedBy(OFFLINE);
    expect(loaded.some((url) => url.endsWith('/src/accessLog/sources/localDir.ts'))).toBe(true);
    expect(azureModules(loaded)).toEqual([]);
  });
});

// The command runs the bundle (scripts/bundle.mjs): its lazy imports must have stayed lazy there. The bundle is
// built afresh into a folder of the repository (the Azure SDKs it leaves out load from node_modules); esbuild's
// metafile says which sources each chunk holds, so the chunks a run loads say which sources it loaded.
describe('start-up of the bundled command', () => {
  /** What a run must not load without a live registry or log service: the Azure adapters. */
  const ADAPTERS = ['src/registry/acr.ts', 'src/registry/credential.ts', 'src/registry/deleter.ts', 'src/accessLog/sources/storageArchive.ts', 'src/accessLog/sources/logAnalytics.ts'];
  let dir: string;
  let meta: Metafile;

  beforeAll(async () => {
    await mkdir(join(root, '.tools'), { recursive: true });
    dir = await mkdtemp(join(root, '.tools', 'startup-bundle-'));
    meta = await bundleCli(dir);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => modulesLoadedBy(args, ['--import', './test/support/importRecorder.mjs', join(dir, CLI_PROGRAM)]);
  /** The sources in the chunks among `urls`. */
  const sourcesIn = (urls: string[]) => Object.entries(meta.outputs).filter(([output]) => urls.includes(pathToFileURL(join(root, output)).href)).flatMap(([, output]) => Object.keys(output.inputs));

  /** What loading the chunk `output` loads with it: chunks and external packages, through its static imports. */
  function staticImportsOf(output: string, seen = new Set<string>()): string[] {
    for (const imported of meta.outputs[output]!.imports) {
      if (imported.kind !== 'import-statement' || seen.has(imported.path)) continue;
      seen.add(imported.path);
      if (!imported.external) staticImportsOf(imported.path, seen);
    }
    return [...seen];
  }

  it('holds each Azure adapter in a chunk apart from the entry, one that imports an Azure SDK', () => {
    for (const adapter of ADAPTERS) {
      const chunks = Object.entries(meta.outputs).filter(([, output]) => adapter in output.inputs);
      expect(chunks, adapter).toHaveLength(1);
      expect(chunks[0]![0], adapter).toMatch(/\/chunks\//);
      expect(staticImportsOf(chunks[0]![0]).some((imported) => imported.startsWith('@azure/')), adapter).toBe(true);
    }
  });

  it('holds only the parts of zod the schemas use (zod is imported as a namespace, which esbuild can tree-shake)', () => {
    const bundled = Object.values(meta.outputs).flatMap((output) => Object.entries(output.inputs)).filter(([source, input]) => source.includes('node_modules/zod/') && input.bytesInOutput > 0);
    expect(bundled.map(([source]) => source)).toContain('node_modules/zod/v4/locales/en.js');
    expect(bundled.map(([source]) => source).filter((source) => source.includes('/locales/') && !source.endsWith('/en.js'))).toEqual([]);
  });

  it('--help loads no Azure adapter or SDK, and not zod', async () => {
    const loaded = await run(HELP);
    const sources = sourcesIn(loaded);
    expect(sources).toContain('src/cli.ts');
    expect(sources.filter((source) => ADAPTERS.includes(source))).toEqual([]);
    expect(sources.filter((source) => source.includes('node_modules/zod/'))).toEqual([]);
    expect(azureModules(loaded)).toEqual([]);
  });

  it('an offline run loads no Azure adapter or SDK, and reports what the sources report', async () => {
    const loaded = await run(OFFLINE);
    const sources = sourcesIn(loaded);
    expect(sources).toContain('src/accessLog/sources/localDir.ts');
    expect(sources.filter((source) => ADAPTERS.includes(source))).toEqual([]);
    expect(azureModules(loaded)).toEqual([]);
    const reportOf = async (program: string[]) => {
      const { stdout } = await promisify(execFile)(process.execPath, [...program, ...OFFLINE], { cwd: root });
      return { ...(JSON.parse(stdout) as Record<string, unknown>), phaseSeconds: 'varies' };
    };
    expect(await reportOf([join(dir, CLI_PROGRAM)])).toEqual(await reportOf(['--import', 'tsx', 'src/bin.ts']));
  });

  it('a live run loads the adapters and the SDKs when it needs them, and deletes the plan', async () => {
    const registry = inventoryOf({ app: [manifest('used'), manifest('unused'), manifest('locked', { canDelete: false })] });
    const emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    try {
      const { directory, logDir } = await writeScenario(registry, [{ time: new Date(Date.now() - DAY / 2), operationName: 'Pull', repository: 'app', digest: digestOf('used'), registry: 'cicache' }]);
      const args = ['--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--max-delete-percent', '100', '--journal', join(directory, 'journal.jsonl'), '--output', 'json'];
      const record = join(directory, 'modules.txt');
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', './test/support/importRecorder.mjs', join(dir, CLI_PROGRAM), ...args], { cwd: root, env: { ...process.env, IMPORT_RECORD: record } });
      expect((JSON.parse(stdout) as PassReport).execution!.deleted.map((entry) => entry.digest)).toEqual([digestOf('unused')]);
      expect([...emulator.state.repositories.get('app')!.manifests.keys()].sort()).toEqual([digestOf('locked'), digestOf('used')].sort());
      const loaded = (await readFile(record, 'utf8')).split('\n');
      expect(sourcesIn(loaded)).toEqual(expect.arrayContaining(['src/registry/acr.ts', 'src/registry/credential.ts', 'src/registry/deleter.ts']));
      expect(azureModules(loaded)).toContain('@azure/container-registry');
    } finally {
      await emulator.stop();
    }
  });

  it('has stack traces name the TypeScript sources', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'source-map-')), 'sources.json');
    await promisify(execFile)(process.execPath, ['--import', './test/support/sourceMapProbe.mjs', join(dir, CLI_PROGRAM), '--version'], {
      cwd: root,
      env: { ...process.env, SOURCE_MAP_PROBE: pathToFileURL(join(dir, 'main.js')).href, SOURCE_MAP_PROBE_OUT: out },
    });
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(expect.arrayContaining([expect.stringMatching(/\/src\/cli\.ts$/)]));
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
