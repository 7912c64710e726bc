/**
 * Writes the example under examples/: an archive-layout log folder and an inventory snapshot of a small
 * CI cache registry. Deterministic: `npm run make-example` rewrites the same files.
 */
import { appendFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inventoryToSnapshot } from '../src/inventory.js';
import { archiveBlobs, generateCiCache, writeArchiveTree } from '../test/support/syntheticCache.js';

export const EXAMPLE_NOW = new Date('2026-11-27T02:30:00Z');
const root = join(import.meta.dirname, '..', 'examples');

const cache = generateCiCache({ seed: 7, registry: 'cicache', now: EXAMPLE_NOW, repositories: 12, manifestsPerRepository: 8, historyDays: 7, ageDays: 21 });
const blobs = archiveBlobs(cache.records);
await rm(join(root, 'logs'), { recursive: true, force: true });
await writeArchiveTree(join(root, 'logs'), blobs);
const newest = [...blobs.keys()].at(-1)!;
await appendFile(join(root, 'logs', newest), '{"time":"2026-11-27T02:29:58.1234567Z","resourceId":"/SUBSCRIPTIONS/');
await writeFile(join(root, 'inventory.json'), JSON.stringify(inventoryToSnapshot(cache.inventory), null, 2) + '\n');
console.log(`wrote ${blobs.size} log blobs and ${cache.inventory.repositories.length} repositories to ${root}`);
