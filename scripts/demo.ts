/**
 * `npm run demo`: the main job on an embedded default. Starts Azurite and the ACR emulator on free ports,
 * seeds a CI image cache (dozens of repositories, hundreds of manifests with multi-arch indexes, locked and
 * fresh images, two weeks of archived access logs in the real layout), runs the timer function's handler
 * as the Functions host would, prints the run's summary and where its audit report is, and stops everything.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { isRunReportName, REPORTS_CONTAINER } from '../src/audit.js';
import { countManifests, inventoryToSnapshot } from '../src/inventory.js';
import { formatReportText, type PassReport } from '../src/report.js';
import { uploadArchive, LOG_CONTAINER } from '../test/support/archiveUpload.js';
import { startAzurite } from '../test/support/azurite.js';
import { runMeasured, startEmulatorProcess } from '../test/support/processes.js';
import { demoCache, DEMO_SETTINGS } from '../test/support/demoCache.js';
import { archiveBlobs } from '../test/support/syntheticCache.js';

const root = join(import.meta.dirname, '..');
const workDir = join(root, '.demo');
await mkdir(workDir, { recursive: true });

const now = new Date();
const cache = demoCache(now);
const blobs = archiveBlobs(cache.records);
const seedFile = join(workDir, 'registry-seed.json');
await writeFile(seedFile, JSON.stringify(inventoryToSnapshot(cache.inventory), null, 2));

console.log('starting Azurite and the ACR emulator…');
const azurite = await startAzurite();
const emulator = await startEmulatorProcess(['--seed', seedFile, '--latency-ms', '5']);
try {
  await uploadArchive(azurite.connectionString, blobs);
  console.log(
    `seeded ${cache.inventory.repositories.length} repositories with ${countManifests(cache.inventory)} manifests (emulator at ${emulator.endpoint}) and ${blobs.size} hourly log blobs (${cache.records.length} records, two weeks) in Azurite`,
  );
  console.log('running cleanImageCache as the Functions host would…\n');
  await runMeasured(join(root, 'scripts', 'demoRun.ts'), {
    NODE_EXTRA_CA_CERTS: emulator.caFile,
    AzureWebJobsStorage: azurite.connectionString,
    CONTAINER_REGISTRY: emulator.endpoint,
    LOG_STORAGE_ACCOUNT: azurite.connectionString,
    LOG_STORAGE_ACCOUNT_CONTAINER: LOG_CONTAINER,
    ...DEMO_SETTINGS,
  });
  const reports = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(REPORTS_CONTAINER);
  for await (const blob of reports.listBlobsFlat()) {
    const html = blob.name.endsWith('.html');
    if (!html && !isRunReportName(blob.name)) continue; // the run's journal, the referrer cache
    const copy = join(workDir, html ? 'latest-report.html' : 'latest-report.json');
    const text = await reports.getBlobClient(blob.name).downloadToBuffer();
    await writeFile(copy, text);
    if (!html) console.log(`\n${formatReportText(JSON.parse(text.toString()) as PassReport)}`);
    console.log(`\n${html ? 'HTML' : 'audit'} report: ${REPORTS_CONTAINER}/${blob.name} in the host storage (a copy is in ${copy})`);
  }
} finally {
  await emulator.stop();
  await azurite.stop();
}
