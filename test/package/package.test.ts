/**
 * The deployment package as Azure gets it: built by `npm run package`, unpacked into an empty folder outside
 * the repository, and loaded there by a stand-in for the Functions Node.js worker (plain node, nothing from
 * the repository on its module path), which checks what the app registers and runs its timer against
 * Azurite and the ACR emulator.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORTS_CONTAINER } from '../../src/audit.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { uploadArchive } from '../support/archiveUpload.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { DAY, digestOf, inventoryOf, manifest } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { archiveBlobs } from '../support/syntheticCache.js';

const root = join(import.meta.dirname, '..', '..');
/** What the package may hold at its top, and nothing else. */
const PACKAGE_TOP = ['dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json'];
/** Bounds on the package's size (measured: see docs/deploy.md); a dev dependency slipping in breaks them. */
const MAX_ZIP_MIB = 25;
const MAX_UNPACKED_MIB = 90;

let work: string;
let zipBytes: number;
let entries: Record<string, Uint8Array>;
let app: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'acr-cache-cleaner-package-'));
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'package.mjs'), '--out', join(work, 'out')], { cwd: root, encoding: 'utf8' });
  expect(built.status, `${built.stdout}\n${built.stderr}`).toBe(0);
  const zipFile = join(work, 'out', 'acr-cache-cleaner.zip');
  zipBytes = statSync(zipFile).size;
  entries = unzipSync(readFileSync(zipFile));
  app = join(work, 'unpacked');
  mkdirSync(app);
  expect(readdirSync(app)).toEqual([]);
  for (const [name, data] of Object.entries(entries)) {
    if (name.endsWith('/')) continue;
    mkdirSync(dirname(join(app, name)), { recursive: true });
    writeFileSync(join(app, name), data);
  }
}, 300_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const names = () => Object.keys(entries).filter((name) => !name.endsWith('/'));
const mib = (bytes: number) => bytes / 2 ** 20;

describe('the deployment package', () => {
  it('holds the compiled app, host.json, package.json, the lock file and production node_modules, nothing else', () => {
    for (const name of names()) expect(name, 'a relative path inside the package').toMatch(/^(?!\/)(?!.*(^|\/)\.\.(\/|$))/);
    expect([...new Set(names().map((name) => name.split('/')[0]))].sort()).toEqual(PACKAGE_TOP);
    const packageJson = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { main: string; scripts?: Record<string, string> };
    expect(existsSync(join(app, packageJson.main))).toBe(true);
    expect(names().filter((name) => name.startsWith('dist/') && !/\.js(\.map)?$/.test(name))).toEqual([]);
    // Nothing runs at install time: no build step that would need TypeScript or another dev dependency.
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare', 'prepublish']) expect(packageJson.scripts ?? {}).not.toHaveProperty(hook);
  });

  it('has no dev dependency in its node_modules', () => {
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, info]) => path !== '' && info.dev === true).map(([path]) => path);
    expect(devOnly.length).toBeGreaterThan(100);
    expect(devOnly.filter((path) => existsSync(join(app, path)))).toEqual([]);
    const production = Object.entries(lock.packages).filter(([path, info]) => path !== '' && info.dev !== true).map(([path]) => path);
    expect(production.filter((path) => !existsSync(join(app, path)))).toEqual([]);
  });

  it(`stays small: under ${MAX_ZIP_MIB} MiB zipped and ${MAX_UNPACKED_MIB} MiB unpacked`, () => {
    const unpacked = Object.values(entries).reduce((sum, data) => sum + data.length, 0);
    expect(mib(zipBytes)).toBeLessThan(MAX_ZIP_MIB);
    expect(mib(unpacked)).toBeLessThan(MAX_UNPACKED_MIB);
  });

  it('registers the timer and the preview functions, as the Functions host will index them', async () => {
    const registered = (await runHost([])).filter((event) => event.registered).map((event) => event.registered as { name: string; bindings: Record<string, Record<string, unknown>> });
    expect(registered.map((metadata) => metadata.name).sort()).toEqual(['cleanImageCache', 'previewCleanup', 'previewWorker']);
    const timer = Object.values(registered.find((metadata) => metadata.name === 'cleanImageCache')!.bindings);
    expect(timer).toEqual([expect.objectContaining({ type: 'timerTrigger', direction: 'in', schedule: '%CLEANUP_SCHEDULE%', runOnStartup: false })]);
    const preview = Object.values(registered.find((metadata) => metadata.name === 'previewCleanup')!.bindings);
    expect(preview).toContainEqual(expect.objectContaining({ type: 'httpTrigger', direction: 'in', authLevel: 'function', methods: ['GET', 'POST'] }));
    expect(preview).toContainEqual(expect.objectContaining({ type: 'http', direction: 'out' }));
    expect(preview).toContainEqual(expect.objectContaining({ type: 'queue', direction: 'out', queueName: 'cleanup-preview-requests', connection: 'AzureWebJobsStorage' }));
    const worker = Object.values(registered.find((metadata) => metadata.name === 'previewWorker')!.bindings);
    expect(worker).toEqual([expect.objectContaining({ type: 'queueTrigger', direction: 'in', queueName: 'cleanup-preview-requests', connection: 'AzureWebJobsStorage' })]);
  });
});

describe('.funcignore and azure.yaml', () => {
  /** Everything a deployment from the repository root could pick up: tracked files and what builds and tools leave. */
  function topLevelEntries(): string[] {
    const tracked = spawnSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    const generated = ['.azure', '.demo', '.git', '.package', '.tools', 'dist', 'local.settings.json', 'node_modules'];
    return [...new Set([...tracked.map((path) => path.split('/')[0]!), ...generated])].sort();
  }

  it('.funcignore leaves out everything at the top of the repository but the package\'s files', () => {
    const lines = readFileSync(join(root, '.funcignore'), 'utf8').split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
    // One anchored name per line, so Core Tools, azd and this test all read it the same way.
    for (const line of lines) expect(line).toMatch(/^\/[^/*?![\]]+\/?$/);
    const ignored = new Set(lines.map((line) => line.replace(/^\/|\/$/g, '')));
    expect(topLevelEntries().filter((name) => !PACKAGE_TOP.includes(name) && !ignored.has(name))).toEqual([]);
    expect(PACKAGE_TOP.filter((name) => ignored.has(name))).toEqual([]);
  });

  it('azure.yaml deploys the staged package with remote build off, and builds it first', () => {
    const yaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(/^ {4}language: ts$/m);
    expect(yaml).toMatch(/^ {4}host: function$/m);
    expect(yaml).toMatch(/^ {4}dist: \.package\/app$/m);
    expect(yaml).toMatch(/^ {4}remoteBuild: false$/m);
    expect(yaml).toMatch(/^ {6}prepackage:\n( {8}\w+:\n {10}shell: \w+\n {10}run: npm run package\n){2}/m);
  });
});

describe('the unpacked package, run as the host runs it', () => {
  let azurite: Azurite;
  let emulator: AcrEmulator;
  beforeAll(async () => {
    azurite = await startAzurite();
    const old = new Date(Date.now() - 30 * DAY);
    emulator = await startEmulator({
      state: RegistryState.fromInventory(
        inventoryOf({ 'ci/app': [manifest('used', { createdOn: old, lastUpdatedOn: old }), manifest('unused', { createdOn: old, lastUpdatedOn: old })] }),
      ),
    });
    const pulled = { time: new Date(Date.now() - 2 * 3_600_000), operationName: 'Pull', repository: 'ci/app', digest: digestOf('used'), registry: 'cicache' };
    await uploadArchive(azurite.connectionString, archiveBlobs([pulled]));
  }, 120_000);
  afterAll(async () => {
    await emulator?.stop();
    await azurite?.stop();
  });

  it('runs a timer invocation from the unpacked copy alone: deletes the unused manifest, writes the report, logs its heap limit', async () => {
    const now = new Date().toISOString();
    const timerInput = JSON.stringify({ Schedule: { AdjustForDST: true }, ScheduleStatus: { Last: now, Next: now, LastUpdated: now }, IsPastDue: false });
    const events = await runHost(['--invoke', 'cleanImageCache', '--input', timerInput], {
      AzureWebJobsStorage: azurite.connectionString,
      CLEANUP_SCHEDULE: '0 30 2 * * *',
      CONTAINER_REGISTRY: emulator.endpoint,
      CREDENTIAL: 'emulator',
      LOG_STORAGE_ACCOUNT: azurite.connectionString,
      MAX_DELETE_PERCENT: '100',
    }, ['--max-old-space-size=321']); // as languageWorkers__node__arguments passes it to the worker's node
    const result = events.find((event) => event.result)?.result as { ok: boolean; invocationId: string; error?: string };
    expect(result, JSON.stringify(events)).toMatchObject({ ok: true });
    const messages = events.map((event) => String((event.log as { message?: string } | undefined)?.message));
    expect(messages.some((message) => message.includes('cleanup summary'))).toBe(true);
    // The run says which heap limit it got, so the first night in Azure shows whether the flag arrived.
    expect(messages.find((message) => message.includes('V8 heap limit'))).toMatch(/V8 heap limit 3[2-9]\d MiB/);
    const remaining = [...emulator.state.repositories.values()].flatMap((repository) => [...repository.manifests.keys()]);
    expect(remaining).toEqual([digestOf('used')]);
    const reports = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(REPORTS_CONTAINER);
    const written: string[] = [];
    for await (const blob of reports.listBlobsFlat()) written.push(blob.name);
    expect(written.filter((name) => name.endsWith(`-${result.invocationId}.json`))).toHaveLength(1);
  });
});

/**
 * The worker stand-in in its own process, in the unpacked folder, with only the given app settings added.
 * Asynchronous: the ACR emulator answers from this process's event loop.
 */
function runHost(args: string[], settings: Record<string, string> = {}, nodeArguments: string[] = []): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, [...nodeArguments, join(root, 'test', 'support', 'functionsHost.mjs'), app, ...args], {
    cwd: app,
    env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...settings },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the worker stand-in exited with ${code}:\n${stderr}`));
      resolve(
        stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      );
    });
  });
}
