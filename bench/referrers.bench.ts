/**
 * Referrer discovery benchmark, from the ACR emulator (own process) through the real SDK under the registry
 * benchmark's scaled limits (200 reads/s, 10 ms latency), three registries:
 * - `signed`: a signed CI cache, listed reading the documents of the manifests that can be referrers
 *   (`manifest-documents`), asking the OCI referrers API about every manifest (`referrers-api`), and then twice
 *   with the subject cache (cold, then warm);
 * - `untagged`: only untagged OCI images (every manifest a possible referrer), cold then warm cache;
 * - `one-repository`: one repository of untagged OCI images, its documents read one at a time (concurrency 1)
 *   and eight at a time.
 * Usage: npm run bench:referrers [-- --repositories N --per-repository N --untagged-repositories N --one-repository N]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inventoryToSnapshot, type Inventory, type ManifestInfo } from '../src/inventory.js';
import { AcrInventorySource, type RegistryConnection } from '../src/registry/acr.js';
import { EmulatorCredential } from '../src/registry/credential.js';
import type { ReferrerDiscovery } from '../src/registry/referrers.js';
import type { SubjectCacheStore } from '../src/registry/subjectCache.js';
import { runMeasured, startEmulatorProcess } from '../test/support/processes.js';
import { generateCiCache, OCI_MANIFEST, prng, randomDigest } from '../test/support/syntheticCache.js';

const NOW = new Date('2026-11-27T02:00:00Z');
const READS_PER_SECOND = 200;

/** The CI cache of the demo, with a cosign signature on 20 % of its images and a signed SBOM on 5 %. */
function signedCache(repositories: number, perRepository: number): Inventory {
  const { inventory } = generateCiCache({ seed: 7, registry: 'cicache', now: NOW, repositories, manifestsPerRepository: perRepository, historyDays: 7 });
  const random = prng(11);
  const attach = (subject: ManifestInfo, artifactType: string): ManifestInfo => ({
    digest: randomDigest(random),
    sizeInBytes: 700,
    createdOn: subject.createdOn,
    lastUpdatedOn: subject.createdOn,
    tags: [],
    canDelete: true,
    mediaType: OCI_MANIFEST,
    relatedArtifacts: [],
    subject: subject.digest,
    artifactType,
  });
  for (const repository of inventory.repositories) {
    const children = new Set(repository.manifests.flatMap((manifest) => manifest.relatedArtifacts.map((child) => child.digest)));
    const added: ManifestInfo[] = [];
    for (const manifest of repository.manifests) {
      if (children.has(manifest.digest)) continue;
      const draw = random();
      if (draw < 0.2) added.push(attach(manifest, 'application/vnd.dev.cosign.artifact.sig.v1+json'));
      if (draw < 0.05) {
        const sbom = attach(manifest, 'application/spdx+json');
        added.push(sbom, attach(sbom, 'application/vnd.dev.cosign.artifact.sig.v1+json'));
      }
    }
    repository.manifests.push(...added);
  }
  return inventory;
}

/** Only untagged OCI images, as the registry benchmark's synthetic registry. */
function untaggedImages(repositories: number, perRepository: number): Inventory {
  const random = prng(42);
  const old = new Date(NOW.getTime() - 30 * 86_400_000);
  return {
    registry: 'cicache.azurecr.io',
    repositories: Array.from({ length: repositories }, (_, r) => ({
      name: `ci/repo-${String(r).padStart(5, '0')}`,
      manifests: Array.from({ length: perRepository }, () => ({ digest: randomDigest(random), sizeInBytes: 100_000_000, createdOn: old, lastUpdatedOn: old, tags: [], canDelete: true, mediaType: OCI_MANIFEST, relatedArtifacts: [] })),
    })),
  };
}

const SCENARIOS = ['signed', 'untagged', 'one-repository'] as const;
type Scenario = (typeof SCENARIOS)[number];

function inventoryOf(scenario: Scenario, sizes: Record<string, string>): Inventory {
  switch (scenario) {
    case 'signed':
      return signedCache(Number(sizes.repositories), Number(sizes['per-repository']));
    case 'untagged':
      return untaggedImages(Number(sizes['untagged-repositories']), 25);
    case 'one-repository':
      return untaggedImages(1, Number(sizes['one-repository']));
  }
}

const SIZES = { repositories: '100', 'per-repository': '20', 'untagged-repositories': '200', 'one-repository': '1000' };

if (process.env.BENCH_ENDPOINT === undefined) {
  const { values } = parseArgs({ options: Object.fromEntries(Object.entries(SIZES).map(([name, value]) => [name, { type: 'string' as const, default: value }])) });
  const directory = await mkdtemp(join(tmpdir(), 'bench-referrers-'));
  for (const scenario of SCENARIOS) {
    const seed = join(directory, `${scenario}.json`);
    await writeFile(seed, JSON.stringify(inventoryToSnapshot(inventoryOf(scenario, values as Record<string, string>))));
    const emulator = await startEmulatorProcess(['--seed', seed, '--read-limit', String(READS_PER_SECOND), '--window-ms', '1000', '--latency-ms', '10']);
    try {
      await runMeasured(import.meta.filename, { NODE_EXTRA_CA_CERTS: emulator.caFile, BENCH_ENDPOINT: emulator.endpoint, BENCH_SCENARIO: scenario, BENCH_SIZES: JSON.stringify(values) });
    } finally {
      await emulator.stop();
    }
  }
} else {
  const scenario = process.env.BENCH_SCENARIO as Scenario;
  const inventory = inventoryOf(scenario, JSON.parse(process.env.BENCH_SIZES!) as Record<string, string>);
  const manifests = inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0);
  const referrers = inventory.repositories.reduce((sum, repository) => sum + repository.manifests.filter((manifest) => manifest.subject !== undefined).length, 0);
  console.log(`${scenario}: ${inventory.repositories.length} repositories, ${manifests} manifests of which ${referrers} referrers; ${READS_PER_SECOND} reads/s, 10 ms latency`);
  let stored: string | undefined;
  const memory: SubjectCacheStore = { description: 'memory', read: async () => stored, write: async (text) => void (stored = text) };
  const runs: { label: string; discovery: ReferrerDiscovery; concurrency: number; cache?: SubjectCacheStore }[] =
    scenario === 'signed'
      ? [
          { label: 'manifest-documents', discovery: 'manifest-documents', concurrency: 8 },
          { label: 'referrers-api', discovery: 'referrers-api', concurrency: 8 },
          { label: 'cache cold', discovery: 'manifest-documents', concurrency: 8, cache: memory },
          { label: 'cache warm', discovery: 'manifest-documents', concurrency: 8, cache: memory },
        ]
      : scenario === 'untagged'
        ? [
            { label: 'cache cold', discovery: 'manifest-documents', concurrency: 8, cache: memory },
            { label: 'cache warm', discovery: 'manifest-documents', concurrency: 8, cache: memory },
          ]
        : [
            { label: 'concurrency 1', discovery: 'manifest-documents', concurrency: 1 },
            { label: 'concurrency 8', discovery: 'manifest-documents', concurrency: 8 },
          ];
  for (const run of runs) {
    const requests = new Map<string, number>();
    const connection: RegistryConnection = {
      endpoint: process.env.BENCH_ENDPOINT!,
      credential: new EmulatorCredential(),
      audience: 'https://containerregistry.azure.net',
      onRequest: (method, url, status) => {
        const path = new URL(url).pathname;
        const kind = path.startsWith('/oauth2') ? 'token' : path.includes('/referrers/') ? 'referrers' : path.startsWith('/v2/') ? 'document' : path.includes('/_manifests/') ? 'properties' : 'page';
        const key = `${kind} ${status}`;
        requests.set(key, (requests.get(key) ?? 0) + 1);
      },
    };
    const started = performance.now();
    const source = new AcrInventorySource(connection, { concurrency: run.concurrency, readsPerMinute: READS_PER_SECOND * 60, referrerDiscovery: run.discovery, subjectCache: run.cache });
    const listed = await source.load();
    const seconds = (performance.now() - started) / 1000;
    const found = listed.repositories.reduce((sum, repository) => sum + repository.manifests.filter((manifest) => manifest.subject !== undefined).length, 0);
    const all = [...requests.values()].reduce((sum, count) => sum + count, 0);
    console.log(
      `  ${run.label}: ${seconds.toFixed(1)} s, ${source.stats.referrerLookups} lookups, ${source.stats.referrerCacheHits} from the cache, ${found} referrers found, ${all} requests (${[...requests].sort().map(([kind, count]) => `${kind}: ${count}`).join(', ')})`,
    );
  }
}
