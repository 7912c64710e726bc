/**
 * Archive benchmark on Azurite: 90 days of hourly append blobs (~100 KB each), a 7-day window.
 * Side by side: this tool's windowed streaming read, and the original script's approach (download every
 * blob of the container to a temp folder, then parse every file). Usage: npm run bench:archive [-- --days 90]
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BlobServiceClient } from '@azure/storage-blob';
import { AccessCounts, LogStats } from '../src/accessLog/counts.js';
import { readLogStream } from '../src/accessLog/logFile.js';
import { StorageArchiveLogSource } from '../src/accessLog/sources/storageArchive.js';
import { parseStorageAccount } from '../src/config.js';
import { LOG_CONTAINER, uploadArchive } from '../test/support/archiveUpload.js';
import { startAzurite } from '../test/support/azurite.js';
import { archiveBlobs, prng, randomDigest, type LogRecordInput } from '../test/support/syntheticCache.js';

const { values } = parseArgs({ options: { days: { type: 'string', default: '90' }, 'records-per-hour': { type: 'string', default: '100' } } });
const days = Number(values.days);
const perHour = Number(values['records-per-hour']);
const NOW = new Date('2026-11-27T02:30:00Z');
const HOUR = 3_600_000;
const window = { startMs: NOW.getTime() - 7 * 24 * HOUR, endMs: NOW.getTime() };

const random = prng(5);
const digests = Array.from({ length: 5000 }, () => randomDigest(random));
const records: LogRecordInput[] = [];
for (let hour = days * 24; hour >= 1; hour--) {
  for (let k = 0; k < perHour; k++) {
    records.push({ time: new Date(NOW.getTime() - hour * HOUR + (k * HOUR) / perHour), operationName: 'Pull', repository: `ci/team-${k % 40}`, digest: digests[Math.floor(random() * digests.length)]!, registry: 'cicache' });
  }
}
const blobs = archiveBlobs(records);
const totalBytes = [...blobs.values()].reduce((sum, text) => sum + Buffer.byteLength(text), 0);
const windowBytes = [...blobs]
  .filter(([name]) => {
    const match = /y=(\d+)\/m=(\d+)\/d=(\d+)\/h=(\d+)/.exec(name)!;
    const hourMs = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]), Number(match[4]));
    return hourMs + HOUR > window.startMs && hourMs <= window.endMs;
  })
  .reduce((sum, [, text]) => sum + Buffer.byteLength(text), 0);

const azurite = await startAzurite();
try {
  const uploadStarted = performance.now();
  await uploadArchive(azurite.connectionString, blobs);
  console.log(`archive: ${blobs.size} blobs, ${(totalBytes / 1e6).toFixed(1)} MB over ${days} days; the 7-day window's blobs hold ${(windowBytes / 1e6).toFixed(1)} MB (uploaded in ${((performance.now() - uploadStarted) / 1000).toFixed(1)} s)`);

  const windowed = async () => {
    const started = performance.now();
    const source = new StorageArchiveLogSource({ account: parseStorageAccount(azurite.connectionString)!, container: LOG_CONTAINER, pathPattern: '*.json' });
    const { stats, counts } = await source.read({ window, registryName: 'cicache' });
    return { seconds: (performance.now() - started) / 1000, bytes: stats.bytesRead, blobs: source.archive.blobsRead, listed: source.archive.blobsListed, accesses: stats.accessesCounted, distinct: counts.size };
  };

  const original = async () => {
    const started = performance.now();
    const directory = await mkdtemp(join(tmpdir(), 'original-approach-'));
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(LOG_CONTAINER);
    const files: string[] = [];
    let index = 0;
    for await (const blob of container.listBlobsFlat()) {
      const file = join(directory, `${index++}.json`);
      await container.getBlobClient(blob.name).downloadToFile(file);
      files.push(file);
    }
    const counts = new AccessCounts();
    const stats = new LogStats();
    for (const file of files) await readLogStream(file, createReadStream(file), { window }, counts, stats);
    await rm(directory, { recursive: true, force: true });
    return { seconds: (performance.now() - started) / 1000, bytes: stats.bytesRead, blobs: files.length, accesses: stats.accessesCounted };
  };

  const ours = [await windowed(), await windowed(), await windowed()].sort((a, b) => a.seconds - b.seconds)[0]!;
  const theirs = [await original(), await original()].sort((a, b) => a.seconds - b.seconds)[0]!;
  console.log(`windowed streaming read: best of 3 ${ours.seconds.toFixed(2)} s, listed ${ours.listed} blobs, read ${ours.blobs} blobs, ${(ours.bytes / 1e6).toFixed(1)} MB = ${(ours.bytes / windowBytes).toFixed(3)} x the window's blobs, ${ours.accesses} accesses`);
  console.log(`original approach (download all, then parse): best of 2 ${theirs.seconds.toFixed(2)} s, ${theirs.blobs} blobs, ${(theirs.bytes / 1e6).toFixed(1)} MB, ${theirs.accesses} accesses`);
  console.log(`speed-up: ${(theirs.seconds / ours.seconds).toFixed(1)} x; same accesses counted: ${ours.accesses === theirs.accesses}`);
} finally {
  await azurite.stop();
}
