import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PassReport } from '../src/report.js';
import { RegistryState } from './emulators/acr/registryState.js';
import { DAY, digestOf, inventoryOf, manifest } from './support/builders.js';
import { startEmulator } from './support/emulator.js';
import { writeScenario } from './support/scenario.js';
import { bundleCli, CLI_BUNDLE, CLI_PROGRAM } from '../scripts/bundle.mjs';

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

const HELP = ['--help'];
const OFFLINE = ['--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z', '--output', 'json'];

/** The Azure packages among the modules loaded (URLs or paths). */
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

// The command runs the bundle (scripts/bundle.mjs): one file, in which each module reached through an `import()` is
// evaluated on its first import, so the lazy imports must have stayed lazy there. The bundle is built afresh into a
// folder of the repository (the Azure SDKs it leaves out are required from node_modules). Which of its modules a run
// evaluated, V8's coverage says: esbuild names the function that evaluates such a module after its source.
describe('start-up of the bundled command', () => {
  /** What a run must not load without a live registry or log service: the Azure adapters. */
  const ADAPTERS = ['src/registry/acr.ts', 'src/registry/credential.ts', 'src/registry/deleter.ts', 'src/accessLog/sources/storageArchive.ts', 'src/accessLog/sources/logAnalytics.ts'];
  let dir: string;
  let meta: Metafile;
  const copies: string[] = [];

  beforeAll(async () => {
    await mkdir(join(root, '.tools'), { recursive: true });
    dir = await mkdtemp(join(root, '.tools', 'startup-bundle-'));
    meta = await bundleCli(dir);
  }, 60_000);
  afterAll(async () => {
    for (const folder of [dir, ...copies]) if (folder) await rm(folder, { recursive: true, force: true });
  });

  interface BundledRun {
    stdout: string;
    /** The bundle's modules that the run evaluated, and all it holds that evaluate on first import. */
    evaluated: string[];
    lazy: string[];
    /** The files it required (the unbundled packages among them), and Node's own modules it loaded. */
    required: string[];
    builtins: string[];
    /** The stack trace of an error made where the run first wrote to stdout. */
    stack: string;
  }

  async function runBundled(args: string[], program = join(dir, CLI_PROGRAM)): Promise<BundledRun> {
    const scratch = await mkdtemp(join(tmpdir(), 'bundled-run-'));
    const probe = join(scratch, 'probe.json');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', './test/support/bundleProbe.mjs', program, ...args], {
      cwd: root,
      env: { ...process.env, BUNDLE_PROBE_OUT: probe, NODE_V8_COVERAGE: join(scratch, 'coverage') },
    });
    const { required, builtins, stack } = JSON.parse(await readFile(probe, 'utf8')) as { required: string[]; builtins: string[]; stack: string };
    const bundle = pathToFileURL(join(dirname(program), CLI_BUNDLE)).href;
    const functions: { functionName: string; ranges: { count: number }[] }[] = [];
    for (const file of await readdir(join(scratch, 'coverage'))) {
      const { result } = JSON.parse(await readFile(join(scratch, 'coverage', file), 'utf8')) as { result: { url: string; functions: typeof functions }[] };
      functions.push(...result.filter((script) => script.url === bundle).flatMap((script) => script.functions));
    }
    const modules = functions.filter((fn) => /\.[cm]?[jt]s$/.test(fn.functionName)).map((fn) => ({ source: sourceOf(fn.functionName), ran: fn.ranges[0]!.count > 0 }));
    return { stdout, evaluated: modules.filter((m) => m.ran).map((m) => m.source), lazy: modules.map((m) => m.source), required, builtins, stack };
  }
  /** A module's source as the metafile names it (node_modules may be reached through a link). */
  const sourceOf = (path: string) => path.replace(/^.*?(?=node_modules\/)/, '');
  const zod = (sources: string[]) => sources.filter((source) => source.startsWith('node_modules/zod/'));

  /** The packages that evaluating `source` imports, through the static imports of the bundle's modules. */
  function packagesImportedBy(source: string, seen = new Set<string>()): string[] {
    if (seen.has(source)) return [];
    seen.add(source);
    return meta.inputs[source]!.imports.filter((imported) => imported.kind === 'import-statement').flatMap((imported) => (imported.external ? [imported.path] : packagesImportedBy(imported.path, seen)));
  }

  it('holds each Azure adapter as a module that imports an Azure SDK and is evaluated on its first import', async () => {
    for (const adapter of ADAPTERS) expect(packagesImportedBy(adapter).some((name) => name.startsWith('@azure/')), adapter).toBe(true);
    const { lazy } = await runBundled(['--version']);
    expect(lazy).toEqual(expect.arrayContaining(ADAPTERS));
  });

  it('holds only the parts of zod the schemas use (zod is imported as a namespace, which esbuild can tree-shake)', () => {
    const bundled = Object.values(meta.outputs).flatMap((output) => Object.entries(output.inputs)).filter(([source, input]) => source.includes('node_modules/zod/') && input.bytesInOutput > 0);
    expect(bundled.map(([source]) => sourceOf(source))).toContain('node_modules/zod/v4/locales/en.js');
    // The locales' index is there as the empty function esbuild gives every ES module it bundles as CommonJS.
    const locales = bundled.map(([source]) => source).filter((source) => source.includes('/locales/') && !source.endsWith('/locales/index.js'));
    expect(locales.filter((source) => !source.endsWith('/en.js'))).toEqual([]);
  });

  it('--help evaluates no Azure adapter, and not zod, and requires no Azure SDK (nor node:crypto)', async () => {
    const { stdout, evaluated, lazy, required, builtins } = await runBundled(HELP);
    expect(stdout).toMatch(/^usage: acr-cache-cleaner/);
    expect(evaluated).toContain('src/settings.ts');
    expect(evaluated.filter((source) => ADAPTERS.includes(source))).toEqual([]);
    expect(zod(lazy)).not.toEqual([]);
    expect(zod(evaluated)).toEqual([]);
    expect(azureModules(required)).toEqual([]);
    expect(builtins).toContain('fs');
    expect(builtins).not.toContain('crypto');
  });

  it('an offline run evaluates no Azure adapter, requires no Azure SDK (nor node:crypto), and reports what the sources report', async () => {
    const { stdout, evaluated, required, builtins } = await runBundled(OFFLINE);
    expect(evaluated).toEqual(expect.arrayContaining(['src/accessLog/sources/localDir.ts', 'src/config.ts']));
    expect(evaluated.filter((source) => ADAPTERS.includes(source))).toEqual([]);
    expect(azureModules(required)).toEqual([]);
    expect(builtins).not.toContain('crypto');
    const reportOf = (json: string) => ({ ...(JSON.parse(json) as Record<string, unknown>), phaseSeconds: 'varies' });
    const { stdout: fromSources } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/bin.ts', ...OFFLINE], { cwd: root });
    expect(reportOf(stdout)).toEqual(reportOf(fromSources));
  });

  it('a live run evaluates the adapters and requires the SDKs when it needs them, and deletes the plan', async () => {
    const registry = inventoryOf({ app: [manifest('used'), manifest('unused'), manifest('locked', { canDelete: false })] });
    const emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    try {
      const { directory, logDir } = await writeScenario(registry, [{ time: new Date(Date.now() - DAY / 2), operationName: 'Pull', repository: 'app', digest: digestOf('used'), registry: 'cicache' }]);
      const args = ['--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--max-delete-percent', '100', '--journal', join(directory, 'journal.jsonl'), '--output', 'json'];
      const { stdout, evaluated, required } = await runBundled(args);
      expect((JSON.parse(stdout) as PassReport).execution!.deleted.map((entry) => entry.digest)).toEqual([digestOf('unused')]);
      expect([...emulator.state.repositories.get('app')!.manifests.keys()].sort()).toEqual([digestOf('locked'), digestOf('used')].sort());
      expect(evaluated).toEqual(expect.arrayContaining(['src/registry/acr.ts', 'src/registry/credential.ts', 'src/registry/deleter.ts']));
      expect(azureModules(required)).toContain('@azure/container-registry');
    } finally {
      await emulator.stop();
    }
  });

  it('has stack traces name the TypeScript sources', async () => {
    const { stack } = await runBundled(['--version']);
    expect(stack).toMatch(/\(.*\/src\/cli\.ts:\d+:\d+\)/);
    expect(stack).not.toContain(CLI_BUNDLE);
  });

  // The bundle is compiled with the V8 code cache the build recorded. V8 refuses a cache of another Node version, but
  // of the source it checks only the length, of the cache's own bytes nothing, and it keeps the path the cache was
  // made at: the program checks all three.
  describe('its code cache', () => {
    /** Runs `check` with the built bundle changed in place by `change` (given the bundle's path), then puts it back. */
    async function withBundleChanged(change: (bundle: string) => Promise<void>, check: () => Promise<void>): Promise<void> {
      const kept = `${dir}-kept`;
      copies.push(kept);
      await cp(dir, kept, { recursive: true });
      try {
        await change(join(dir, CLI_BUNDLE));
        await check();
      } finally {
        await rm(dir, { recursive: true, force: true });
        await cp(kept, dir, { recursive: true });
        await rm(kept, { recursive: true, force: true });
      }
    }

    const version = async (program = join(dir, CLI_PROGRAM)) => (await promisify(execFile)(process.execPath, [program, '--version'], { cwd: root })).stdout;
    const compiledWithCache = async (program = join(dir, CLI_PROGRAM)) =>
      (await promisify(execFile)(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(program)}).compile().cachedDataRejected === false))`], { cwd: root })).stdout === 'true';

    it('compiles from the code cache the build recorded', async () => {
      expect(await compiledWithCache()).toBe(true);
    });

    it('runs the bundle as it is when it was changed since the cache was made, even to the same length', async () => {
      const { version: toolVersion } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
      const edited = toolVersion.replace(/\d/g, '9');
      expect(edited).not.toBe(toolVersion);
      const edit = async (bundle: string) => {
        const code = await readFile(bundle, 'latin1');
        expect(code).toContain(`"${toolVersion}"`);
        await writeFile(bundle, code.replaceAll(`"${toolVersion}"`, `"${edited}"`), 'latin1');
      };
      await withBundleChanged(edit, async () => {
        expect(await version()).toBe(`${edited}\n`);
        expect(await compiledWithCache()).toBe(false);
      });
    });

    it('runs without the cache when the cache is damaged, cut short or gone (V8 would crash on damaged data)', async () => {
      const expected = await version();
      const damage = async (bundle: string) => {
        const cache = await readFile(`${bundle}.cache`);
        for (let i = 64; i < cache.length; i += 997) cache[i] = cache[i]! ^ 0xff;
        await writeFile(`${bundle}.cache`, cache);
      };
      const cut = async (bundle: string) => writeFile(`${bundle}.cache`, (await readFile(`${bundle}.cache`)).subarray(0, 4096));
      const remove = (bundle: string) => rm(`${bundle}.cache`);
      for (const change of [damage, cut, remove]) {
        await withBundleChanged(change, async () => {
          expect(await version(), change.name).toBe(expected);
          expect(await compiledWithCache(), change.name).toBe(false);
        });
      }
    });

    it('runs a copy of the command elsewhere without the cache, whose stack traces would name the old place', async () => {
      const moved = `${dir}-moved`;
      copies.push(moved);
      await cp(dir, moved, { recursive: true });
      const program = join(moved, CLI_PROGRAM);
      expect(await compiledWithCache(program)).toBe(false);
      const { stack } = await runBundled(['--version'], program);
      expect(stack).toMatch(/\(.*\/src\/cli\.ts:\d+:\d+\)/);
    });
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
