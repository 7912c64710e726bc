/**
 * Journal benchmark: what the Functions job's deletion journal costs. One job deletes 1,000 manifests (10 × 100,
 * 20 ms registry latency, 6,000 deletes a minute, 8 workers) with its journal on Azurite, then the journal's appends,
 * records and size are read back. The job runs in a child process that trusts the emulator's CA from its start.
 * Usage: npx tsx bench/journal.bench.ts
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { journalBlobName, REPORTS_CONTAINER } from '../src/audit.js';
import { runCleanupJob } from '../src/job.js';
import { RegistryState } from '../test/emulators/acr/registryState.js';
import { AcrEmulator } from '../test/emulators/acr/server.js';
import { createTestCa } from '../test/emulators/acr/tls.js';
import { uploadArchive } from '../test/support/archiveUpload.js';
import { startAzurite } from '../test/support/azurite.js';
import { DAY, digestOf, inventoryOf, manifest } from '../test/support/builders.js';
import { archiveBlobs } from '../test/support/syntheticCache.js';

if (process.env.BENCH_CHILD !== undefined) {
  const result = await runCleanupJob(process.env, { invocationId: process.env.BENCH_CHILD, trigger: 'timer', log: () => {} });
  const execution = result.report?.execution;
  process.stdout.write(`${JSON.stringify({ outcome: result.outcome, reportName: result.reportName, deleted: execution?.deleted.length, seconds: execution?.seconds })}\n`);
  process.exit(0);
}

const old = new Date(Date.now() - 30 * DAY);
const inventory = inventoryOf(Object.fromEntries(Array.from({ length: 10 }, (_, r) => [`ci/repo-${r}`, Array.from({ length: 100 }, (_, m) => manifest(`r${r}-m${m}`, { createdOn: old, lastUpdatedOn: old }))])));
const ca = await createTestCa();
const caFile = join(await mkdtemp(join(tmpdir(), 'bench-journal-')), 'ca.pem');
await writeFile(caFile, ca.certificatePem);
const azurite = await startAzurite();
const emulator = await AcrEmulator.start({ ca, state: RegistryState.fromInventory(inventory), latencyMs: 20 });
try {
  await uploadArchive(azurite.connectionString, archiveBlobs([{ time: new Date(Date.now() - 3_600_000), operationName: 'Pull', repository: 'other', digest: digestOf('x'), registry: 'cicache' }]), 'logs');
  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: caFile,
    BENCH_CHILD: 'bench-journal',
    AzureWebJobsStorage: azurite.connectionString,
    CONTAINER_REGISTRY: emulator.endpoint,
    CREDENTIAL: 'emulator',
    LOG_STORAGE_ACCOUNT: azurite.connectionString,
    LOG_STORAGE_ACCOUNT_CONTAINER: 'logs',
    MAX_DELETE_PERCENT: '100',
    DELETES_PER_MINUTE: '6000',
    CONCURRENCY: '8',
  };
  const result = await new Promise<{ outcome: string; reportName: string; deleted: number; seconds: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`the job exited ${code}`))));
  });
  const journal = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(REPORTS_CONTAINER).getAppendBlobClient(journalBlobName(result.reportName));
  const appends = (await journal.getProperties()).blobCommittedBlockCount ?? 0;
  const text = (await journal.downloadToBuffer()).toString('utf8');
  const records = text.trim().split('\n').length;
  console.log(`${result.outcome}: deleted ${result.deleted} in ${result.seconds.toFixed(1)} s (${((result.deleted / result.seconds) * 60).toFixed(0)}/min)`);
  console.log(`journal: ${records} records in ${appends} appends (${(records / appends).toFixed(2)} records per append, each intent append preceded by a lease renewal), ${(text.length / 1024).toFixed(0)} KiB, ${(text.length / records).toFixed(0)} bytes per record`);
} finally {
  await emulator.stop();
  await azurite.stop();
}
