/**
 * Registry benchmark: lists 2,000 repositories / 50,000 manifests from the ACR emulator through the real
 * SDK and deletes 10,000 of them, under emulator limits scaled from ACR's per-minute windows to one-second
 * windows (200 reads/s, 50 deletes/s, 10 ms latency). Usage: npm run bench:registry [-- --repositories N]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AccessCounts } from '../src/accessLog/counts.js';
import { inventoryToSnapshot, type Inventory } from '../src/inventory.js';
import { planCleanup } from '../src/plan/plan.js';
import { AcrInventorySource, type RegistryConnection } from '../src/registry/acr.js';
import { EmulatorCredential } from '../src/registry/credential.js';
import { RunBudget } from '../src/registry/budget.js';
import { AcrDeleter, policyRecheck } from '../src/registry/deleter.js';
import { prng, randomDigest } from '../test/support/syntheticCache.js';
import { rssSampler, runMeasured, startEmulatorProcess } from '../test/support/processes.js';

const NOW = new Date('2026-11-27T02:00:00Z');
const READS_PER_SECOND = 200;
const DELETES_PER_SECOND = 50;

function registry(repositories: number, perRepository: number): { inventory: Inventory; used: Set<string> } {
  const random = prng(42);
  const used = new Set<string>();
  const old = new Date(NOW.getTime() - 30 * 86_400_000);
  const inventory: Inventory = { registry: 'cicache.azurecr.io', repositories: [] };
  const toDelete = Math.round(repositories * perRepository * 0.2);
  let unused = 0;
  for (let r = 0; r < repositories; r++) {
    const manifests = Array.from({ length: perRepository }, () => ({
      digest: randomDigest(random),
      sizeInBytes: 100_000_000,
      createdOn: old,
      lastUpdatedOn: old,
      tags: [],
      canDelete: true,
      relatedArtifacts: [],
    }));
    for (const manifest of manifests) {
      if (unused < toDelete && random() < 0.2 + (toDelete - unused) / (repositories * perRepository)) unused++;
      else used.add(`ci/repo-${String(r).padStart(5, '0')}@${manifest.digest}`);
    }
    inventory.repositories.push({ name: `ci/repo-${String(r).padStart(5, '0')}`, manifests });
  }
  return { inventory, used };
}

if (process.env.BENCH_ENDPOINT === undefined) {
  const { values } = parseArgs({ options: { repositories: { type: 'string', default: '2000' }, 'per-repository': { type: 'string', default: '25' } } });
  const { inventory } = registry(Number(values.repositories), Number(values['per-repository']));
  const directory = await mkdtemp(join(tmpdir(), 'bench-registry-'));
  const seed = join(directory, 'seed.json');
  await writeFile(seed, JSON.stringify(inventoryToSnapshot(inventory)));
  const emulator = await startEmulatorProcess(['--seed', seed, '--read-limit', String(READS_PER_SECOND), '--delete-limit', String(DELETES_PER_SECOND), '--window-ms', '1000', '--latency-ms', '10']);
  try {
    await runMeasured(import.meta.filename, {
      NODE_EXTRA_CA_CERTS: emulator.caFile,
      BENCH_ENDPOINT: emulator.endpoint,
      BENCH_REPOSITORIES: values.repositories!,
      BENCH_PER_REPOSITORY: values['per-repository']!,
    });
  } finally {
    await emulator.stop();
  }
} else {
  const repositories = Number(process.env.BENCH_REPOSITORIES);
  const perRepository = Number(process.env.BENCH_PER_REPOSITORY);
  const { used } = registry(repositories, perRepository);
  const requests = { listing: new Map<string, number>(), deletion: new Map<string, number>() };
  let phase: keyof typeof requests = 'listing';
  const connection: RegistryConnection = {
    endpoint: process.env.BENCH_ENDPOINT,
    credential: new EmulatorCredential(),
    audience: 'https://containerregistry.azure.net',
    onRequest: (method, url, status) => {
      const kind = `${method} ${new URL(url).pathname.startsWith('/oauth2') ? 'token' : new URL(url).pathname.includes('/_manifests/') ? 'manifest properties' : new URL(url).pathname.includes('_manifests') || new URL(url).pathname.includes('_catalog') ? 'page' : 'manifest'} ${status}`;
      requests[phase].set(kind, (requests[phase].get(kind) ?? 0) + 1);
    },
  };
  const memory = rssSampler();
  const listStarted = performance.now();
  const source = new AcrInventorySource(connection, { concurrency: 8, readsPerMinute: READS_PER_SECOND * 60 });
  const inventory = await source.load();
  const listSeconds = (performance.now() - listStarted) / 1000;
  const accesses = new AccessCounts();
  accesses.sawRecord(NOW.getTime() - 60_000, true);
  for (const key of used) {
    const [repository, digest] = key.split('@') as [string, string];
    accesses.add(repository, digest, NOW.getTime() - 86_400_000);
  }
  const planStarted = performance.now();
  const plan = planCleanup({ inventory, accesses, policy: { historyDays: 7, minAccessCount: 1, graceDays: 7, logMaxStalenessHours: 24, logMaxUnusablePercent: 0.1, maxDeletePercent: 100 }, now: NOW });
  const planSeconds = (performance.now() - planStarted) / 1000;
  phase = 'deletion';
  // Limits are scaled 60x in time but latency is not: twice the workers keep the delete pipeline full.
  const deleter = new AcrDeleter(connection, { concurrency: 16, deletesPerMinute: DELETES_PER_SECOND * 60, recheck: policyRecheck(plan.policy, () => NOW, READS_PER_SECOND * 60) });
  const report = await deleter.execute(plan, { budget: new RunBudget(Date.now() + 3_600_000, 30_000) });
  memory.stop();
  const minimumPages = Math.ceil(repositories / 1000) + repositories * Math.ceil(perRepository / 1000);
  const listingData = [...requests.listing].filter(([kind]) => !kind.includes('token') && kind.endsWith(' 200')).reduce((sum, [, count]) => sum + count, 0);
  const listingAll = [...requests.listing].reduce((sum, [, count]) => sum + count, 0);
  console.log(`registry benchmark: ${repositories} repositories, ${repositories * perRepository} manifests, limits ${READS_PER_SECOND} reads/s and ${DELETES_PER_SECOND} deletes/s, 10 ms latency`);
  console.log(`listing: ${listSeconds.toFixed(1)} s, ${inventory.repositories.length} repositories; data pages ${listingData} (minimum ${minimumPages + source.stats.indexes}), all requests ${listingAll}`);
  console.log(`  ${[...requests.listing].sort().map(([kind, count]) => `${kind}: ${count}`).join(', ')}`);
  console.log(`planning: ${(planSeconds * 1000).toFixed(0)} ms, ${plan.deletions.length} to delete`);
  console.log(`deletion: ${report.seconds.toFixed(1)} s, deleted ${report.deleted.length}, failed ${report.failed.length}, ${(report.deletesPerMinute / 60).toFixed(1)} deletes/s = ${((report.deletesPerMinute / 60 / DELETES_PER_SECOND) * 100).toFixed(1)} % of the limit`);
  console.log(`  ${[...requests.deletion].sort().map(([kind, count]) => `${kind}: ${count}`).join(', ')}`);
  console.log(`peak RSS of the cleaner's process: ${(memory.peak() / 2 ** 20).toFixed(0)} MiB`);
}
