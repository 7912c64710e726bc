/**
 * Referrer discovery benchmark: lists a signed CI cache from the ACR emulator through the real SDK twice, once
 * reading the documents of the manifests that can be referrers (`manifest-documents`), once asking the OCI
 * referrers API about every manifest (`referrers-api`), under the registry benchmark's scaled limits (200 reads/s,
 * 10 ms latency). Usage: npm run bench:referrers [-- --repositories N --per-repository N]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inventoryToSnapshot, type Inventory, type ManifestInfo } from '../src/inventory.js';
import { AcrInventorySource, type RegistryConnection } from '../src/registry/acr.js';
import { EmulatorCredential } from '../src/registry/credential.js';
import type { ReferrerDiscovery } from '../src/registry/referrers.js';
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

if (process.env.BENCH_ENDPOINT === undefined) {
  const { values } = parseArgs({ options: { repositories: { type: 'string', default: '100' }, 'per-repository': { type: 'string', default: '20' } } });
  const inventory = signedCache(Number(values.repositories), Number(values['per-repository']));
  const directory = await mkdtemp(join(tmpdir(), 'bench-referrers-'));
  const seed = join(directory, 'seed.json');
  await writeFile(seed, JSON.stringify(inventoryToSnapshot(inventory)));
  const emulator = await startEmulatorProcess(['--seed', seed, '--read-limit', String(READS_PER_SECOND), '--window-ms', '1000', '--latency-ms', '10']);
  try {
    await runMeasured(import.meta.filename, { NODE_EXTRA_CA_CERTS: emulator.caFile, BENCH_ENDPOINT: emulator.endpoint, BENCH_REPOSITORIES: values.repositories!, BENCH_PER_REPOSITORY: values['per-repository']! });
  } finally {
    await emulator.stop();
  }
} else {
  const inventory = signedCache(Number(process.env.BENCH_REPOSITORIES), Number(process.env.BENCH_PER_REPOSITORY));
  const manifests = inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0);
  const referrers = inventory.repositories.reduce((sum, repository) => sum + repository.manifests.filter((manifest) => manifest.subject !== undefined).length, 0);
  console.log(`referrer discovery: ${inventory.repositories.length} repositories, ${manifests} manifests of which ${referrers} referrers; ${READS_PER_SECOND} reads/s, 10 ms latency`);
  for (const discovery of ['manifest-documents', 'referrers-api'] as ReferrerDiscovery[]) {
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
    const source = new AcrInventorySource(connection, { concurrency: 8, readsPerMinute: READS_PER_SECOND * 60, referrerDiscovery: discovery });
    const listed = await source.load();
    const seconds = (performance.now() - started) / 1000;
    const found = listed.repositories.reduce((sum, repository) => sum + repository.manifests.filter((manifest) => manifest.subject !== undefined).length, 0);
    const all = [...requests.values()].reduce((sum, count) => sum + count, 0);
    console.log(`${discovery}: ${seconds.toFixed(1)} s, ${source.stats.referrerLookups} lookups, ${found} referrers found, ${all} requests (${[...requests].sort().map(([kind, count]) => `${kind}: ${count}`).join(', ')})`);
  }
}
