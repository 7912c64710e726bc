import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessCounts } from '../../src/accessLog/counts.js';
import { LocalDirLogSource } from '../../src/accessLog/sources/localDir.js';
import { StorageArchiveLogSource } from '../../src/accessLog/sources/storageArchive.js';
import { LogSourceError } from '../../src/accessLog/sources/source.js';
import { BlobServiceClient } from '@azure/storage-blob';
import type { RecordFilter } from '../../src/accessLog/record.js';
import { parseStorageAccount } from '../../src/config.js';
import { uploadArchive } from '../support/archiveUpload.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { archiveBlobPath, archiveBlobs, logRecord, prng, randomDigest, registryResourceId, writeArchiveTree, type LogRecordInput } from '../support/syntheticCache.js';

const NOW = new Date('2026-11-27T02:30:00Z');
const HOUR = 3_600_000;
const window = { startMs: NOW.getTime() - 7 * 24 * HOUR, endMs: NOW.getTime() };

/** 60 days of hourly blobs for two registries, with the archive's awkward cases. */
function archive(): Map<string, string> {
  const random = prng(11);
  const digests = Array.from({ length: 40 }, () => randomDigest(random));
  const records: LogRecordInput[] = [];
  for (const registry of ['cicache', 'othercache']) {
    for (let hour = 60 * 24; hour >= 1; hour--) {
      for (let k = 0; k < 3; k++) {
        records.push({
          time: new Date(NOW.getTime() - hour * HOUR + k * 600_000),
          operationName: k === 2 ? 'Push' : 'Pull',
          repository: `ci/app-${k}`,
          digest: digests[Math.floor(random() * digests.length)]!,
          registry,
        });
      }
    }
  }
  const blobs = archiveBlobs(records);
  const cicache = registryResourceId('cicache');
  // Records received in the hour after their own (late delivery): the blob of h+1 holds records of h.
  const lateHour = new Date(window.startMs + 30 * 60_000);
  blobs.set(
    archiveBlobPath(cicache, new Date(lateHour.getTime() + HOUR)),
    (blobs.get(archiveBlobPath(cicache, new Date(lateHour.getTime() + HOUR))) ?? '') +
      JSON.stringify(logRecord({ time: lateHour, operationName: 'Pull', repository: 'ci/late', digest: digests[0]!, registry: 'cicache' })) +
      '\n',
  );
  // The old {"records":[…]} document format, in an hour of the window.
  const oldFormatPath = archiveBlobPath(cicache, new Date(NOW.getTime() - 30 * HOUR)).replace('PT1H.json', 'PT1H-old.json');
  blobs.set(oldFormatPath, JSON.stringify({ records: [logRecord({ time: new Date(NOW.getTime() - 30 * HOUR), operationName: 'Pull', repository: 'ci/old-format', digest: digests[1]!, registry: 'cicache' })] }, null, 2));
  // The current hour's blob is still being appended to: it ends mid-line.
  const current = archiveBlobPath(cicache, new Date(NOW.getTime() - 10 * 60_000));
  blobs.set(current, `${JSON.stringify(logRecord({ time: new Date(NOW.getTime() - 10 * 60_000), operationName: 'Pull', repository: 'ci/current', digest: digests[2]!, registry: 'cicache' }))}\n{"time":"2026-11-27T02:25:01.1234567Z","categ`);
  return blobs;
}

function countsOf(counts: AccessCounts): string[] {
  return [...counts.entries()].map(([repository, digest, access]) => `${repository}@${digest}=${access.count}/${access.lastAccessMs}`).sort();
}

let azurite: Azurite;
let blobs: Map<string, string>;
let localDir: string;

beforeAll(async () => {
  azurite = await startAzurite();
  blobs = archive();
  await uploadArchive(azurite.connectionString, blobs);
  localDir = await mkdtemp(join(tmpdir(), 'archive-copy-'));
  await writeArchiveTree(localDir, blobs);
}, 180_000);

afterAll(async () => azurite?.stop());

describe('the storage archive on Azurite', () => {
  const filter: RecordFilter = { window, registryName: 'cicache' };

  it('counts exactly what the offline pass counts over the same files', async () => {
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'insights-logs-containerregistryrepositoryevents', pathPattern: '*.json' });
    const live = await source.read(filter);
    const offline = await new LocalDirLogSource(localDir, '*.json').read(filter);
    expect(countsOf(live.counts)).toEqual(countsOf(offline.counts));
    expect(countsOf(live.counts).some((entry) => entry.startsWith('ci/late@'))).toBe(true);
    expect(countsOf(live.counts).some((entry) => entry.startsWith('ci/old-format@'))).toBe(true);
    expect(countsOf(live.counts).some((entry) => entry.startsWith('ci/current@'))).toBe(true);
    expect(live.stats.skipped['incomplete-last-line']).toBe(1);
    expect(live.stats.skipped['truncated-line']).toBe(0);
    expect(live.counts.newestRecordMs).toBe(offline.counts.newestRecordMs);
    expect(live.stats.accessesCounted).toBe(offline.stats.accessesCounted);
  });

  it("downloads only the window's blobs of the selected registry", async () => {
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'insights-logs-containerregistryrepositoryevents', pathPattern: '*.json' });
    const { stats } = await source.read(filter);
    const windowBlobs = [...blobs.keys()].filter((name) => {
      if (!name.includes('/REGISTRIES/CICACHE/')) return false;
      const match = /y=(\d+)\/m=(\d+)\/d=(\d+)\/h=(\d+)/.exec(name)!;
      const hourMs = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]));
      return hourMs >= Math.floor(window.startMs / HOUR) * HOUR - HOUR && hourMs <= window.endMs + HOUR;
    });
    expect(source.archive.registryFolders).toEqual([`resourceId=${registryResourceId('cicache')}/`]);
    expect(source.archive.blobsRead).toBe(windowBlobs.length);
    expect(stats.bytesRead).toBe(windowBlobs.reduce((sum, name) => sum + Buffer.byteLength(blobs.get(name)!), 0));
    expect(source.archive.blobsListed).toBeLessThan(windowBlobs.length + 60);
    expect(source.archive.fallback).toBe(false);
  });

  it('reads only below a given registry resource id', async () => {
    const source = new StorageArchiveLogSource({
      account: parseStorageAccount(azurite.connectionString)!,
      container: 'insights-logs-containerregistryrepositoryevents',
      pathPattern: '*.json',
      resourceId: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ci-cache/providers/Microsoft.ContainerRegistry/registries/othercache',
    });
    const { counts } = await source.read({ window });
    expect(source.archive.registryFolders).toEqual([`resourceId=${registryResourceId('othercache')}/`]);
    expect(countsOf(counts).some((entry) => entry.startsWith('ci/late@'))).toBe(false);
  });

  it('applies the path pattern to blob names', async () => {
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'insights-logs-containerregistryrepositoryevents', pathPattern: 'PT1H.json' });
    const { counts } = await source.read(filter);
    expect(countsOf(counts).some((entry) => entry.startsWith('ci/old-format@'))).toBe(false);
  });

  it('falls back to every matching blob in a container of another shape, and says so', async () => {
    const flat = new Map([['exports/day1.json', [...blobs.values()].slice(-3).join('')]]);
    await uploadArchive(azurite.connectionString, flat, 'flat-export');
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'flat-export', pathPattern: '*.json' });
    const { stats, counts } = await source.read({ window });
    expect(source.archive.fallback).toBe(true);
    expect(stats.notes.join(' ')).toContain('no y=/m=/d=/h= archive folders found');
    expect(counts.size).toBeGreaterThan(0);
  });

  it('a gzip blob damaged early, over several chunks of its download, is named as unreadable, not a failed read', async () => {
    const cicache = registryResourceId('cicache');
    const records = Array.from({ length: 4000 }, (_, i) => JSON.stringify(logRecord({ time: new Date(NOW.getTime() - 2 * HOUR), operationName: 'Pull', repository: 'ci/zipped', digest: `sha256:${String(i).padStart(64, '0')}`, registry: 'cicache' })));
    const damaged = gzipSync(`${records.join('\n')}\n`, { level: 0 });
    damaged[10] = 0b111;
    const name = archiveBlobPath(cicache, new Date(NOW.getTime() - 2 * HOUR));
    await uploadArchive(azurite.connectionString, new Map([[name, damaged]]), 'damaged-gzip');
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'damaged-gzip', pathPattern: '*.json' });
    const { stats } = await source.read(filter);
    expect(stats.badLines.find((bad) => bad.reason === 'unreadable-data')).toMatchObject({ source: name, detail: expect.stringMatching(/gzip data is corrupt/) });
  });

  it('refuses naming the blob when one cannot be downloaded (moved to the archive tier by a lifecycle rule)', async () => {
    const name = archiveBlobPath(registryResourceId('cicache'), new Date(NOW.getTime() - 3 * HOUR));
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('archived-tier');
    await container.createIfNotExists();
    const text = `${JSON.stringify(logRecord({ time: new Date(NOW.getTime() - 3 * HOUR), operationName: 'Pull', repository: 'ci/app', digest: `sha256:${'a'.repeat(64)}`, registry: 'cicache' }))}\n`;
    await container.getBlockBlobClient(name).upload(text, text.length);
    await container.getBlockBlobClient(name).setAccessTier('Archive');
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'archived-tier', pathPattern: '*.json' });
    const failure = await source.read(filter).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LogSourceError);
    expect((failure as Error).message).toContain(name);
  });

  it('refuses, with the reason, when the container does not exist', async () => {
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: 'no-such-container', pathPattern: '*.json' });
    await expect(source.read(filter)).rejects.toThrow(/reading the log archive no-such-container failed/);
  });
});
