/**
 * End-to-end benchmark of one night's run. Azurite holds 7 days × N access records/day as hourly append blobs
 * in the archive layout; the ACR emulator (its own process) holds R repositories and M manifests (5 % multi-arch
 * indexes, 1 % locked) with ~20 ms latency and ACR Standard's per-identity limits (5,000 reads and 500 deletes a
 * minute) scaled in time by --scale so the run finishes in minutes. The cleaner runs in its own process and
 * reports wall time, requests and peak RSS per phase, and its delete rate against the limit.
 *
 * Usage: npm run bench:e2e [-- --records-per-day 1000000 --repositories 5000 --manifests 100000 --scale 20]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AccessCounts } from '../src/accessLog/counts.js';
import { StorageArchiveLogSource } from '../src/accessLog/sources/storageArchive.js';
import { parseStorageAccount } from '../src/config.js';
import { inventoryToSnapshot } from '../src/inventory.js';
import { planCleanup } from '../src/plan/plan.js';
import { AcrInventorySource, type RegistryConnection } from '../src/registry/acr.js';
import { EmulatorCredential } from '../src/registry/credential.js';
import { RunBudget } from '../src/registry/budget.js';
import { AcrDeleter, policyRecheck } from '../src/registry/deleter.js';
import { LOG_CONTAINER } from '../test/support/archiveUpload.js';
import { startAzurite } from '../test/support/azurite.js';
import { rssSampler, runMeasured, startEmulatorProcess } from '../test/support/processes.js';
import { buildRegistry, DAY, NOW, uploadLogs, type Scenario } from './syntheticNight.js';

if (process.env.BENCH_E2E_CHILD === undefined) {
  const { values } = parseArgs({
    options: {
      'records-per-day': { type: 'string', default: '1000000' },
      'max-old-space-mb': { type: 'string', default: '256' },
      repositories: { type: 'string', default: '5000' },
      manifests: { type: 'string', default: '100000' },
      scale: { type: 'string', default: '20' },
    },
  });
  const scenario: Scenario = { recordsPerDay: Number(values['records-per-day']), repositories: Number(values.repositories), manifests: Number(values.manifests), scale: Number(values.scale) };
  const { inventory, active } = buildRegistry(scenario);
  const directory = await mkdtemp(join(tmpdir(), 'bench-e2e-'));
  const seed = join(directory, 'seed.json');
  await writeFile(seed, JSON.stringify(inventoryToSnapshot(inventory)));
  const windowMs = Math.round(60_000 / scenario.scale);
  const azurite = await startAzurite();
  const emulator = await startEmulatorProcess(['--seed', seed, '--latency-ms', '20', '--read-limit', '5000', '--delete-limit', '500', '--window-ms', String(windowMs)]);
  try {
    const started = performance.now();
    const logs = await uploadLogs(azurite.connectionString, active, scenario.recordsPerDay);
    console.log(
      `setup: ${scenario.repositories} repositories, ${inventory.repositories.reduce((sum, r) => sum + r.manifests.length, 0)} manifests; ${logs.records} records in ${logs.blobs} hourly blobs (${(logs.bytes / 1e9).toFixed(2)} GB) uploaded in ${((performance.now() - started) / 1000).toFixed(0)} s; ACR Standard limits scaled ${scenario.scale}x (5,000 reads and 500 deletes per ${windowMs} ms window)`,
    );
    await runMeasured(import.meta.filename, {
      // A heap cap (docs/performance.md's figures used 256); 0 leaves V8's default. The app's own: bench/memory.bench.ts.
      NODE_OPTIONS: `--expose-gc${values['max-old-space-mb'] === '0' ? '' : ` --max-old-space-size=${values['max-old-space-mb']}`}`,
      BENCH_E2E_CHILD: '1',
      NODE_EXTRA_CA_CERTS: emulator.caFile,
      BENCH_ENDPOINT: emulator.endpoint,
      BENCH_STORAGE: azurite.connectionString,
      BENCH_SCALE: String(scenario.scale),
    });
  } finally {
    await emulator.stop();
    await azurite.stop();
  }
} else {
  const scale = Number(process.env.BENCH_SCALE);
  const deletesPerMinute = 500 * scale;
  const readsPerMinute = 5000 * scale;
  const memory = rssSampler();
  const phases: { name: string; seconds: number; requests: string; peakRssMiB: number; liveHeapMiB: number }[] = [];
  const requests = new Map<string, number>();
  const connection: RegistryConnection = {
    endpoint: process.env.BENCH_ENDPOINT!,
    credential: new EmulatorCredential(),
    audience: 'https://containerregistry.azure.net',
    onRequest: (method, url, status) => {
      const path = new URL(url).pathname;
      const kind = path.startsWith('/oauth2') ? 'token' : method === 'DELETE' ? 'delete' : path.includes('/_manifests/') ? 'index lookup' : 'page';
      requests.set(`${kind} ${status}`, (requests.get(`${kind} ${status}`) ?? 0) + 1);
    },
  };
  const phase = async <T>(name: string, work: () => Promise<T>, describeRequests: () => string): Promise<T> => {
    requests.clear();
    const started = performance.now();
    const result = await work();
    const seconds = (performance.now() - started) / 1000;
    (globalThis as { gc?: () => void }).gc?.();
    phases.push({ name, seconds, requests: describeRequests(), peakRssMiB: memory.peak() / 2 ** 20, liveHeapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
    return result;
  };
  const registryRequests = () => [...requests].sort().map(([kind, count]) => `${kind}: ${count}`).join(', ');

  const window = { startMs: NOW.getTime() - 7 * DAY, endMs: NOW.getTime() };
  const source = new StorageArchiveLogSource({ account: parseStorageAccount(process.env.BENCH_STORAGE!)!, container: LOG_CONTAINER, pathPattern: '*.json' });
  const logs = await phase('logs', () => source.read({ window, registryName: 'cicache' }), () => `${source.archive.listCalls} list calls, ${source.archive.blobsRead} blob downloads`);
  const lister = new AcrInventorySource(connection, { concurrency: 8, readsPerMinute });
  const inventory = await phase('listing', () => lister.load(), registryRequests);
  const plan = await phase(
    'planning',
    async () => planCleanup({ inventory, accesses: logs.counts as AccessCounts, policy: { historyDays: 7, minAccessCount: 1, graceDays: 7, logMaxStalenessHours: 24, logMaxUnusablePercent: 0.1, maxDeletePercent: 100 }, now: NOW }),
    () => 'none',
  );
  // Limits are scaled 20x in time but latency is not: twice the workers keep the delete pipeline full.
  const deleter = new AcrDeleter(connection, { concurrency: 16, deletesPerMinute, recheck: policyRecheck(plan.policy, () => NOW, readsPerMinute) });
  const execution = await phase('deletion', () => deleter.execute(plan, { budget: new RunBudget(Date.now() + 3_600_000, 30_000) }), registryRequests);
  memory.stop();

  const manifests = inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0);
  const minimumListing = Math.ceil(inventory.repositories.length / 1000) + inventory.repositories.reduce((sum, repository) => sum + Math.ceil(repository.manifests.length / 1000), 0) + lister.stats.indexes;
  console.log(`logs: ${logs.stats.records} records (${(logs.stats.bytesRead / 1e9).toFixed(2)} GB), ${logs.stats.accessesCounted} accesses to ${logs.counts.size} manifests`);
  console.log(`registry: ${inventory.repositories.length} repositories, ${manifests} manifests (${lister.stats.indexes} indexes); listing data requests ${lister.stats.pages + lister.stats.propertyLookups}, minimum ${minimumListing}`);
  console.log(`plan: ${plan.deletions.length} to delete; reasons ${JSON.stringify(Object.fromEntries(Object.entries(plan.decisions.reduce<Record<string, number>>((acc, d) => ((acc[d.reason] = (acc[d.reason] ?? 0) + 1), acc), {})).sort()))}`);
  console.log(`cleaner process: node ${process.execArgv.join(' ') || ''} ${process.env.NODE_OPTIONS ?? ''}`.trim());
  for (const entry of phases) {
    console.log(`  ${entry.name.padEnd(9)} ${entry.seconds.toFixed(1).padStart(7)} s   peak RSS so far ${entry.peakRssMiB.toFixed(0)} MiB   live heap after GC ${entry.liveHeapMiB.toFixed(0)} MiB   requests: ${entry.requests}`);
  }
  console.log(`deletion: ${execution.deleted.length} deleted, ${execution.failed.length} failed, ${(execution.deletesPerMinute / 60).toFixed(1)} deletes/s of a ${(deletesPerMinute / 60).toFixed(1)}/s limit = ${((execution.deletesPerMinute / deletesPerMinute) * 100).toFixed(1)} %`);
  console.log(`peak RSS of the cleaner's process: ${(memory.peak() / 2 ** 20).toFixed(0)} MiB`);
}
