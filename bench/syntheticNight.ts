/**
 * The synthetic night both end-to-end benchmarks run (bench/e2e.bench.ts, bench/memory.bench.ts): a CI cache
 * registry (5 % multi-arch indexes, 1 % locked, 2 % fresh) and seven days of its access logs as hourly append
 * blobs in the archive layout, deterministic for a given scenario.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { forEachConcurrently } from '../src/concurrency.js';
import type { Inventory, ManifestInfo } from '../src/inventory.js';
import { LOG_CONTAINER } from '../test/support/archiveUpload.js';
import { archiveBlobPath, logRecord, prng, randomDigest, registryResourceId } from '../test/support/syntheticCache.js';

export const NOW = new Date('2026-11-27T02:30:00Z');
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
const INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Scenario {
  recordsPerDay: number;
  repositories: number;
  manifests: number;
  scale: number;
}

/** The registry, and which manifests CI still uses (deterministic). */
export function buildRegistry(scenario: Scenario): { inventory: Inventory; active: { repository: string; digest: string }[] } {
  const random = prng(99);
  const perRepository = Math.max(3, Math.round(scenario.manifests / scenario.repositories));
  const inventory: Inventory = { registry: 'cicache.azurecr.io', repositories: [] };
  const active: { repository: string; digest: string }[] = [];
  for (let r = 0; r < scenario.repositories; r++) {
    const name = `ci/team-${r % 50}/component-${String(r).padStart(5, '0')}`;
    const manifests: ManifestInfo[] = [];
    for (let m = 0; m < perRepository; m++) {
      const ageDays = random() < 0.02 ? random() * 3 : 10 + random() * 80;
      const created = new Date(NOW.getTime() - ageDays * DAY);
      manifests.push({ digest: randomDigest(random), sizeInBytes: 30_000_000 + Math.floor(random() * 500_000_000), createdOn: created, lastUpdatedOn: created, tags: m === 0 ? ['buildcache'] : [], canDelete: random() >= 0.01, mediaType: 'application/vnd.oci.image.manifest.v1+json', relatedArtifacts: [] });
    }
    // 5 % of the manifests are indexes over two of the others.
    for (let m = 0; m + 2 < perRepository; m += 20) {
      const index = manifests[m]!;
      index.mediaType = INDEX;
      index.relatedArtifacts = [
        { digest: manifests[m + 1]!.digest, architecture: 'amd64', operatingSystem: 'linux' },
        { digest: manifests[m + 2]!.digest, architecture: 'arm64', operatingSystem: 'linux' },
      ];
    }
    for (const manifest of manifests) if (random() < 0.6 && manifest.relatedArtifacts.length === 0) active.push({ repository: name, digest: manifest.digest });
    manifests.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    inventory.repositories.push({ name, manifests });
  }
  inventory.repositories.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { inventory, active };
}

/** Seven days of hourly append blobs, generated and appended hour by hour (never the whole archive in memory). */
export async function uploadLogs(connectionString: string, active: { repository: string; digest: string }[], recordsPerDay: number): Promise<{ blobs: number; bytes: number; records: number }> {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(LOG_CONTAINER);
  await container.createIfNotExists();
  const random = prng(7);
  const perHour = Math.round(recordsPerDay / 24);
  const resourceId = registryResourceId('cicache');
  let bytes = 0;
  let records = 0;
  const hours = Array.from({ length: 7 * 24 }, (_, index) => NOW.getTime() - (7 * 24 - index) * HOUR);
  await forEachConcurrently(hours, 4, async (hourStart) => {
    const blob = container.getAppendBlobClient(archiveBlobPath(resourceId, new Date(hourStart)));
    await blob.createIfNotExists();
    let lines: string[] = [];
    let size = 0;
    const flush = async () => {
      if (lines.length === 0) return;
      const block = Buffer.from(lines.join('\n') + '\n');
      await blob.appendBlock(block, block.length);
      bytes += block.length;
      lines = [];
      size = 0;
    };
    for (let k = 0; k < perHour; k++) {
      const target = active[Math.floor(random() ** 1.5 * active.length)]!;
      const roll = random();
      const line = JSON.stringify(
        logRecord({
          time: new Date(hourStart + (k * HOUR) / perHour),
          operationName: roll < 0.9 ? 'Pull' : 'Push',
          repository: target.repository,
          digest: target.digest,
          registry: 'cicache',
          resultDescription: roll > 0.97 ? '404' : undefined,
          userAgent: roll > 0.95 && roll <= 0.97 ? 'Trivy/0.56.2 (linux; amd64)' : undefined,
        }),
      );
      lines.push(line);
      size += line.length + 1;
      records++;
      if (size > 3_900_000) await flush();
    }
    await flush();
  });
  return { blobs: hours.length, bytes, records };
}
