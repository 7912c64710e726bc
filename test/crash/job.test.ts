/**
 * Kill it at any moment and run it again: the CLI and the Functions job are killed at seeded random points (startup,
 * reading logs, listing, deleting, journaling), then rerun until a run completes. The registry must end exactly as
 * after one uninterrupted run, and every manifest that is gone must be named as deleted by a journal or a report.
 */

import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_CONTAINER, reportBlobName, REPORTS_CONTAINER, type AuditReport } from '../../src/audit.js';
import { parseJournal, type JournalRecord } from '../../src/deletion/journal.js';
import { runCleanupJob } from '../../src/job.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import { uploadArchive } from '../support/archiveUpload.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { cache, contents, deletedPerJournal, expectedAfterOneRun, keyOf, KILLS, spawnAndKill } from '../support/crashScenario.js';
import { startEmulator } from '../support/emulator.js';
import { writeScenario } from '../support/scenario.js';
import { archiveBlobs, prng } from '../support/syntheticCache.js';

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => azurite?.stop());

describe('the Functions job killed at random points, then run again', () => {
  it(`the Functions job (${KILLS} kills): the registry ends as after one run, and the reports and journals name every deletion`, async () => {
    const random = prng(1127);
    const { inventory, records } = cache(Date.now());
    const { logDir } = await writeScenario(inventory, records);
    const expected = await expectedAfterOneRun(inventory, logDir);
    const emulator = await startEmulator({ state: RegistryState.fromInventory(inventory), latencyMs: 5 });
    const host = BlobServiceClient.fromConnectionString(azurite.connectionString);
    try {
      const before = contents(emulator);
      await uploadArchive(azurite.connectionString, archiveBlobs(records), 'crash-logs');
      const env = {
        ...process.env,
        AzureWebJobsStorage: azurite.connectionString,
        CONTAINER_REGISTRY: emulator.endpoint,
        CREDENTIAL: 'emulator',
        LOG_STORAGE_ACCOUNT: azurite.connectionString,
        LOG_STORAGE_ACCOUNT_CONTAINER: 'crash-logs',
        MAX_DELETE_PERCENT: '100',
        DELETES_PER_MINUTE: '600',
        CONCURRENCY: '4',
        REQUEST_TIMEOUT_SECONDS: '0.5',
      };
      const lock = host.getContainerClient(LOCK_CONTAINER).getBlobClient('cleanImageCache');
      let killedWhileDeleting = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        const deletesBefore = emulator.requestsMatching('DELETE', /manifests/).length;
        // A quarter of the kills land anywhere from start-up to listing, the rest while deleting.
        const whileDeleting = random() < 0.75;
        const started = () => emulator.requestsMatching('DELETE', /manifests/).length > deletesBefore;
        await spawnAndKill(['test/support/jobProcess.ts', `killed-${kill}`], env, whileDeleting ? { afterMs: Math.floor(random() * 800), signal: 'SIGKILL', once: started } : { afterMs: Math.floor(random() * 3500), signal: 'SIGKILL' });
        if (emulator.requestsMatching('DELETE', /manifests/).length > deletesBefore && contents(emulator).length > expected.length) killedWhileDeleting++;
        // A killed run's lease expires within 15 s; break it as that expiry would end it.
        await lock.getBlobLeaseClient().breakLease(0).catch(() => {});
      }
      expect(killedWhileDeleting).toBeGreaterThanOrEqual(KILLS / 3);
      for (let rerun = 0; ; rerun++) {
        const result = await runCleanupJob(env, { invocationId: `rerun-${rerun}`, trigger: 'timer', log: () => {} }, { leaseSeconds: 15 });
        expect(result.outcome).toBe('completed');
        if (result.report?.execution === null || result.report?.execution?.leftForNextRun === 0) break;
        expect(rerun).toBeLessThan(3);
      }
      expect(contents(emulator)).toEqual(expected);

      const reports: AuditReport[] = [];
      const journals: JournalRecord[] = [];
      const pages = new Map<string, string>();
      const container = host.getContainerClient(REPORTS_CONTAINER);
      for await (const blob of container.listBlobsFlat()) {
        if (blob.name.startsWith('referrer-cache/')) continue;
        const text = (await container.getBlobClient(blob.name).downloadToBuffer()).toString('utf8');
        if (blob.name.endsWith('.jsonl')) journals.push(...parseJournal(text).records);
        else if (blob.name.endsWith('.html')) pages.set(blob.name.replace(/\.html$/, '.json'), text);
        else reports.push(JSON.parse(text) as AuditReport);
      }
      expect(reports.filter((report) => report.outcome === 'running')).toEqual([]);
      // Every HTML report sits beside its JSON report; the runs that were not killed show their outcome in both.
      const names = new Set(reports.map((report) => reportBlobName(new Date(report.startedAt), report.invocationId)));
      expect([...pages.keys()].filter((name) => !names.has(name))).toEqual([]);
      for (const report of reports.filter((each) => each.invocationId.startsWith('rerun-'))) {
        expect(pages.get(reportBlobName(new Date(report.startedAt), report.invocationId))).toContain(`<span data-field="outcome">${report.outcome}</span>`);
      }
      const named = new Set([
        ...deletedPerJournal(journals),
        ...reports.flatMap((report) => [...(report.execution?.deleted ?? []), ...(report.interruption?.journalDeleted ?? []), ...(report.interruption?.reconciliation.deleted ?? [])].map(keyOf)),
      ]);
      const gone = before.filter((key) => !contents(emulator).includes(key));
      expect(gone.filter((key) => !named.has(key))).toEqual([]);
    } finally {
      await emulator.stop();
    }
  }, 300_000);
});
