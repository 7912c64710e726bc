import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { InvocationContext, type HttpRequest, type Timer } from '@azure/functions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_CONTAINER, REPORTS_CONTAINER, type AuditReport } from '../../src/audit.js';
import { parseJournal, type JournalRecord } from '../../src/deletion/journal.js';
import { cleanImageCacheHandler, previewCleanupHandler, previewQueueOutput, previewWorkerHandler } from '../../src/functions/handlers.js';
import type { Inventory } from '../../src/inventory.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { uploadArchive } from '../support/archiveUpload.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { DAY, digestOf, inventoryOf, manifest } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { archiveBlobs, type LogRecordInput } from '../support/syntheticCache.js';

let azurite: Azurite;
let emulator: AcrEmulator;
const extraEmulators: AcrEmulator[] = [];
const savedEnv = { ...process.env };
const root = join(import.meta.dirname, '..', '..');

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => azurite?.stop());

const old = new Date(Date.now() - 30 * DAY);
function registry(): Inventory {
  return inventoryOf({
    'ci/app': [manifest('used', { createdOn: old, lastUpdatedOn: old }), manifest('unused-1', { createdOn: old, lastUpdatedOn: old }), manifest('unused-2', { createdOn: old, lastUpdatedOn: old }), manifest('locked', { canDelete: false, createdOn: old, lastUpdatedOn: old })],
    'ci/web': [manifest('web-used', { createdOn: old, lastUpdatedOn: old }), manifest('fresh', { createdOn: new Date(), lastUpdatedOn: new Date() })],
  });
}
/** A registry with `count` unused manifests, for runs that take a while. */
const bigRegistry = (count: number) => inventoryOf({ 'ci/app': [manifest('used', { createdOn: old, lastUpdatedOn: old }), ...Array.from({ length: count }, (_, m) => manifest(`m${m}`, { createdOn: old, lastUpdatedOn: old }))], 'ci/web': [manifest('web-used', { createdOn: old, lastUpdatedOn: old })] });

let container = 0;
async function setUp(options: { staleLogs?: boolean; latencyMs?: number; settings?: Record<string, string>; inventory?: Inventory } = {}) {
  emulator = await startEmulator({ state: RegistryState.fromInventory(options.inventory ?? registry()), latencyMs: options.latencyMs });
  const hoursAgo = options.staleLogs ? 72 : 2;
  const pull = (repository: string, label: string): LogRecordInput => ({ time: new Date(Date.now() - hoursAgo * 3_600_000), operationName: 'Pull', repository, digest: digestOf(label), registry: 'cicache' });
  const logContainer = `logs-${++container}`;
  await uploadArchive(azurite.connectionString, archiveBlobs([pull('ci/app', 'used'), pull('ci/web', 'web-used')]), logContainer);
  Object.assign(process.env, {
    AzureWebJobsStorage: azurite.connectionString,
    CONTAINER_REGISTRY: emulator.endpoint,
    CREDENTIAL: 'emulator',
    LOG_STORAGE_ACCOUNT: azurite.connectionString,
    LOG_STORAGE_ACCOUNT_CONTAINER: logContainer,
    MAX_DELETE_PERCENT: '100',
    ...options.settings,
  });
}

const blobs = () => BlobServiceClient.fromConnectionString(azurite.connectionString);

beforeEach(async () => {
  process.env = { ...savedEnv };
  // Each test starts with no run lease, no reports and no preview requests.
  for (const name of [LOCK_CONTAINER, REPORTS_CONTAINER, 'cleanup-requests']) {
    const client = blobs().getContainerClient(name);
    if (!(await client.exists())) continue;
    for await (const blob of client.listBlobsFlat()) {
      if (name === LOCK_CONTAINER) await client.getBlobClient(blob.name).getBlobLeaseClient().breakLease(0).catch(() => {});
      await client.deleteBlob(blob.name).catch(() => {});
    }
  }
});
afterEach(async () => {
  await emulator?.stop();
  await Promise.all(extraEmulators.splice(0).map((extra) => extra.stop()));
});

function context(invocationId: string, lines: string[] = []) {
  return new InvocationContext({ invocationId, functionName: 'cleanImageCache', logHandler: (level, ...args) => lines.push(`${level}: ${args.join(' ')}`) });
}
const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: new Date().toISOString(), next: new Date().toISOString(), lastUpdated: new Date().toISOString() } };

async function reportNameOf(invocationId: string): Promise<string> {
  const reports = blobs().getContainerClient(REPORTS_CONTAINER);
  for await (const blob of reports.listBlobsFlat()) {
    if (blob.name.endsWith(`-${invocationId}.json`)) {
      expect(blob.name).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-/);
      return blob.name;
    }
  }
  throw new Error(`no report for ${invocationId}`);
}
async function reportOf(invocationId: string): Promise<AuditReport> {
  const reports = blobs().getContainerClient(REPORTS_CONTAINER);
  return JSON.parse((await reports.getBlobClient(await reportNameOf(invocationId)).downloadToBuffer()).toString()) as AuditReport;
}
async function journalOf(invocationId: string): Promise<JournalRecord[]> {
  const name = (await reportNameOf(invocationId)).replace(/\.json$/, '.journal.jsonl');
  return parseJournal((await blobs().getContainerClient(REPORTS_CONTAINER).getBlobClient(name).downloadToBuffer()).toString()).records;
}

const remaining = () => [...emulator.state.repositories.values()].flatMap((repository) => [...repository.manifests.keys()].map((digest) => `${repository.name}@${digest}`)).sort();
const deletesAnswered = (server: AcrEmulator) => server.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).length;
const until = async (condition: () => boolean, timeoutMs = 30_000) => {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('cleanImageCache (timer) handler', () => {
  it('deletes exactly the plan, journals every deletion beside its report, and writes its report', async () => {
    await setUp();
    const lines: string[] = [];
    await cleanImageCacheHandler(timer, context('run-1', lines));
    expect(remaining()).toEqual([`ci/app@${digestOf('locked')}`, `ci/app@${digestOf('used')}`, `ci/web@${digestOf('fresh')}`, `ci/web@${digestOf('web-used')}`].sort());
    const report = await reportOf('run-1');
    expect(report.outcome).toBe('completed');
    expect(report.trigger).toBe('timer');
    expect(report.execution!.deleted.map((entry) => entry.digest).sort()).toEqual([digestOf('unused-1'), digestOf('unused-2')].sort());
    expect(report.execution!.deleted[0]).toMatchObject({ repository: 'ci/app', tags: [], sizeInBytes: 1000, accessCount: 0, lastAccess: null, reason: expect.stringContaining('accessed 0 time(s) in 7 days') });
    expect(report.settings).toMatchObject({ cacheHistoryDays: 7, dryRun: false });
    expect(report.logs!.accessesCounted).toBe(2);
    expect(JSON.stringify(report)).not.toContain('AccountKey');
    expect(lines.some((line) => line.includes('cleanup summary') && line.includes('"deleted":2'))).toBe(true);
    expect(report.journal).toMatch(/\.journal\.jsonl$/);
    const journal = await journalOf('run-1');
    expect(journal[0]).toMatchObject({ type: 'run', run: 'run-1' });
    expect(journal.filter((record) => record.type === 'intent').map((record) => record.type === 'intent' && record.entry.digest).sort()).toEqual([digestOf('unused-1'), digestOf('unused-2')].sort());
    expect(journal.filter((record) => record.type === 'outcome' && record.outcome === 'deleted')).toHaveLength(2);
  });

  it('in a dry run deletes nothing and still writes its report', async () => {
    await setUp({ settings: { DRY_RUN: 'true' } });
    await cleanImageCacheHandler(timer, context('run-dry'));
    expect(remaining()).toHaveLength(6);
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE')).toEqual([]);
    const report = await reportOf('run-dry');
    expect(report.outcome).toBe('completed');
    expect(report.dryRun).toBe(true);
    expect(report.delete).toHaveLength(2);
  });

  it('throws when a guard refuses the pass, and writes the reason', async () => {
    await setUp({ staleLogs: true });
    await expect(cleanImageCacheHandler(timer, context('run-stale'))).rejects.toThrow(/refused: refused \(logs-stale\)/);
    expect(remaining()).toHaveLength(6);
    const report = await reportOf('run-stale');
    expect(report.outcome).toBe('refused');
    expect(report.aborted).toBe('logs-stale');
  });

  it('lets one of two concurrent runs work; the other steps aside, saying by whom and since when', async () => {
    await setUp({ latencyMs: 150 });
    const results = await Promise.allSettled([cleanImageCacheHandler(timer, context('run-a')), cleanImageCacheHandler(timer, context('run-b'))]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
    const reports = [await reportOf('run-a'), await reportOf('run-b')];
    expect(reports.map((report) => report.outcome).sort()).toEqual(['completed', 'skipped']);
    const skipped = reports.find((report) => report.outcome === 'skipped')!;
    const worker = reports.find((report) => report.outcome === 'completed')!;
    expect(skipped.leaseHeldBy).toMatchObject({ run: worker.invocationId, trigger: 'timer', startedAt: worker.startedAt, heldForSeconds: expect.any(Number) });
    expect(skipped.message).toContain(`run ${worker.invocationId} (timer) since ${worker.startedAt}`);
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE' && entry.status === 202)).toHaveLength(2);
    // The lease is released: the next run may go.
    await cleanImageCacheHandler(timer, context('run-c'));
    expect((await reportOf('run-c')).outcome).toBe('completed');
  });

  it('fails (so it alerts) when the run lease has been held longer than a run can last', async () => {
    await setUp();
    const lock = blobs().getContainerClient(LOCK_CONTAINER);
    await lock.createIfNotExists();
    const blob = lock.getBlockBlobClient('cleanImageCache');
    await blob.upload('', 0);
    const startedAt = new Date(Date.now() - 2 * DAY).toISOString();
    const lease = blob.getBlobLeaseClient();
    await lease.acquireLease(-1);
    await blob.setMetadata({ run: 'stuck-run', trigger: 'timer', startedat: startedAt }, { conditions: { leaseId: lease.leaseId } });
    await expect(cleanImageCacheHandler(timer, context('run-after-stuck'))).rejects.toThrow(/held by run stuck-run \(timer\) since .* longer than a run can last/);
    const report = await reportOf('run-after-stuck');
    expect(report.outcome).toBe('failed');
    expect(report.leaseHeldBy).toMatchObject({ run: 'stuck-run', startedAt });
    expect(emulator.requests).toEqual([]);
  });

  it('names every bad setting and leaves the registry untouched', async () => {
    await setUp({ settings: { CACHE_HISTORY_DAYS: 'a week', MAX_DELETE_PERCENT: '250', PROTECT_TAGS: '[', AzureWebJobsStorage__clientId: 'me' } });
    const error = await cleanImageCacheHandler(timer, context('run-bad')).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(Error);
    for (const name of ['CACHE_HISTORY_DAYS', 'MAX_DELETE_PERCENT', 'PROTECT_TAGS', 'AzureWebJobsStorage__clientId']) expect((error as Error).message).toContain(`${name}:`);
    expect(emulator.requests).toEqual([]);
  });

  it('throws when a deletion failed, after the others are done', async () => {
    await setUp();
    emulator.addFault({ kind: '403', method: 'DELETE', path: new RegExp(digestOf('unused-2').slice(7)), times: 1000 });
    await expect(cleanImageCacheHandler(timer, context('run-fail'))).rejects.toThrow(/failed: 1 deletion\(s\) failed, 1 succeeded/);
    const report = await reportOf('run-fail');
    expect(report.outcome).toBe('failed');
    expect(report.execution!.failed).toEqual([{ repository: 'ci/app', digest: digestOf('unused-2'), error: expect.stringContaining('HTTP 403') }]);
  });
});

describe('a run that dies, and the run after it', () => {
  it('closes a killed run: marks it interrupted, checks its unanswered DELETEs, and both reports name every deletion', async () => {
    await setUp({ inventory: bigRegistry(40), latencyMs: 30, settings: { DELETES_PER_MINUTE: '600', REQUEST_TIMEOUT_SECONDS: '1' } });
    const before = new Set(remaining());
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/jobProcess.ts', 'killed-run'], { cwd: root, env: process.env, stdio: ['ignore', 'ignore', 'ignore'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await until(() => deletesAnswered(emulator) >= 4);
    child.kill('SIGKILL');
    await exited;
    const goneByKilledRun = [...before].filter((key) => !remaining().includes(key));
    expect(goneByKilledRun.length).toBeGreaterThanOrEqual(4);
    // The killed run's lease would expire within 15 s; break it as an expiry would end it.
    await blobs().getContainerClient(LOCK_CONTAINER).getBlobClient('cleanImageCache').getBlobLeaseClient().breakLease(0);

    await cleanImageCacheHandler(timer, context('next-run'));
    const killed = await reportOf('killed-run');
    expect(killed.outcome).toBe('interrupted');
    expect(killed.interruption).toMatchObject({ closedBy: 'next-run' });
    const onRecord = [...killed.interruption!.journalDeleted, ...killed.interruption!.reconciliation.deleted].map((entry) => `${entry.repository}@${entry.digest}`);
    expect(onRecord.sort()).toEqual(goneByKilledRun.sort());
    expect(killed.interruption!.journalDeleted.every((entry) => entry.reason.includes('accessed 0 time(s)') && entry.sizeInBytes === 1000)).toBe(true);
    const next = await reportOf('next-run');
    expect(next.outcome).toBe('completed');
    expect(next.closedRuns).toEqual([{ invocationId: 'killed-run', report: expect.stringContaining('killed-run.json'), deleted: goneByKilledRun.length, stillPresent: expect.any(Number), unknown: 0 }]);
    expect(remaining()).toEqual([`ci/app@${digestOf('used')}`, `ci/web@${digestOf('web-used')}`]);
  });

  it('checks the DELETEs a finished run could not tell the outcome of, and records in its journal that one is still present', async () => {
    await setUp({ settings: { REQUEST_TIMEOUT_SECONDS: '1', TIME_BUDGET_SECONDS: '4' } });
    const target = digestOf('unused-2');
    emulator.addFault({ kind: 'hang', method: 'DELETE', path: new RegExp(target.slice(7)), times: 1000 });
    await expect(cleanImageCacheHandler(timer, context('run-uncertain'))).rejects.toThrow(/1 deletion\(s\) failed/);
    expect((await reportOf('run-uncertain')).execution!.failed).toMatchObject([{ digest: target, uncertain: true }]);
    emulator.faults.splice(0);

    await cleanImageCacheHandler(timer, context('run-after'));
    const outcomes = (await journalOf('run-uncertain')).flatMap((record) => (record.type === 'outcome' && record.digest === target ? [record.outcome] : []));
    expect(outcomes).toEqual(['uncertain', 'reconciled-present']);
    const after = await reportOf('run-after');
    expect(after.closedRuns).toEqual([{ invocationId: 'run-uncertain', report: expect.stringContaining('run-uncertain.json'), deleted: 0, stillPresent: 1, unknown: 0, finished: true }]);
    expect(after.message).toContain('checked the uncertain DELETEs of run run-uncertain (0 found deleted, 1 still present, 0 unknown)');
    expect(after.execution!.deleted.map((entry) => entry.digest)).toEqual([target]);
  });

  it('never lets two runs delete at the same time: a run whose lease is broken stops before the next run deletes', async () => {
    await setUp({ inventory: bigRegistry(60), latencyMs: 40, settings: { DELETES_PER_MINUTE: '600', REQUEST_TIMEOUT_SECONDS: '1' } });
    // The second run reaches the same registry through another endpoint, so each run's requests are told apart.
    const second = await startEmulator({ state: emulator.state, latencyMs: 40 });
    extraEmulators.push(second);
    const first = cleanImageCacheHandler(timer, context('run-first')).catch((error: Error) => error);
    await until(() => deletesAnswered(emulator) >= 5);
    await blobs().getContainerClient(LOCK_CONTAINER).getBlobClient('cleanImageCache').getBlobLeaseClient().breakLease(0);
    process.env.CONTAINER_REGISTRY = second.endpoint;
    await cleanImageCacheHandler(timer, context('run-second'));
    const firstError = await first;
    const lastOfFirst = Math.max(...emulator.requestsMatching('DELETE', /manifests/).map((entry) => entry.answeredMs ?? Infinity));
    const firstOfSecond = Math.min(...second.requestsMatching('DELETE', /manifests/).map((entry) => entry.timeMs));
    expect(lastOfFirst).toBeLessThan(firstOfSecond);
    expect(String(firstError)).toMatch(/stopped \(lease-lost\): the run lease could not be renewed/);
    expect((await reportOf('run-first')).execution!.stoppedBy).toBe('lease-lost');
    expect(remaining()).toEqual([`ci/app@${digestOf('used')}`, `ci/web@${digestOf('web-used')}`]);
  });
});

describe('previewCleanup (HTTP) and previewWorker (queue) handlers', () => {
  const request = (query: Record<string, string> = {}, method = 'GET') => ({ method, query: new URLSearchParams(query), url: `https://app.example/api/previewCleanup?${new URLSearchParams(query)}` }) as unknown as HttpRequest;

  /** Asks for a fresh preview and runs the queued dry run, as the host would. */
  async function preview(query: Record<string, string> = {}) {
    const asked = context('http-1');
    const response = await previewCleanupHandler(request(query, 'POST'), asked);
    expect(response.status).toBe(202);
    const message = asked.extraOutputs.get(previewQueueOutput);
    await previewWorkerHandler(message, context('preview-run'));
    return response.jsonBody as { requestId: string; statusUrl: string };
  }

  it('queues a fresh dry run when asked, answers 202 with where the result will be, and never touches the registry itself', async () => {
    await setUp();
    const asked = context('http-queue');
    const response = await previewCleanupHandler(request({}, 'POST'), asked);
    expect(response.status).toBe(202);
    const body = response.jsonBody as { requestId: string; status: string; statusUrl: string };
    expect(body.status).toBe('queued');
    expect(response.headers).toMatchObject({ Location: body.statusUrl });
    expect(body.statusUrl).toBe(`https://app.example/api/previewCleanup?request=${body.requestId}`);
    expect(asked.extraOutputs.get(previewQueueOutput)).toEqual({ requestId: body.requestId });
    expect(emulator.requests).toEqual([]);
    const pending = await previewCleanupHandler(request({ request: body.requestId }), context('http-poll'));
    expect(pending.status).toBe(202);

    await previewWorkerHandler(asked.extraOutputs.get(previewQueueOutput), context('preview-run'));
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE')).toEqual([]);
    const done = await previewCleanupHandler(request({ request: body.requestId }), context('http-done'));
    expect(done.status).toBe(200);
    const plan = done.jsonBody as { source: string; report: AuditReport };
    expect(plan.source).toBe('preview');
    expect(plan.report.requestId).toBe(body.requestId);
    expect(plan.report.delete!.map((entry) => entry.digest).sort()).toEqual([digestOf('unused-1'), digestOf('unused-2')].sort());
  });

  it('answers with the newest plan in a moment without a single registry request, even when listing would take minutes', async () => {
    await setUp();
    await preview();
    emulator.latencyMs = 60_000;
    emulator.requests.length = 0;
    const started = Date.now();
    const response = await previewCleanupHandler(request(), context('http-fast'));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(response.status).toBe(200);
    const body = response.jsonBody as { outcome: string; plannedAt: string; report: AuditReport & { keep?: unknown } };
    expect(body.report.dryRun).toBe(true);
    expect(body.report.delete!.map((entry) => entry.digest).sort()).toEqual([digestOf('unused-1'), digestOf('unused-2')].sort());
    expect(body.report.keep).toBeUndefined();
    expect(emulator.requests).toEqual([]);
  });

  it('with no plan yet queues one, and a second ask while it is on its way gets the same request', async () => {
    await setUp();
    const first = context('http-a');
    const answered = await previewCleanupHandler(request(), first);
    expect(answered.status).toBe(202);
    expect((answered.jsonBody as { message: string }).message).toContain('no dry-run plan yet');
    const again = context('http-b');
    const second = await previewCleanupHandler(request({ refresh: 'true' }), again);
    expect((second.jsonBody as { requestId: string }).requestId).toBe((answered.jsonBody as { requestId: string }).requestId);
    expect(again.extraOutputs.get(previewQueueOutput)).toBeUndefined();
  });

  it('lists the kept manifests only when asked, and answers as text when asked', async () => {
    await setUp();
    await preview();
    const withKeep = await previewCleanupHandler(request({ keep: 'true' }), context('http-keep'));
    const keep = (withKeep.jsonBody as { report: { keep: { reason: string }[] } }).report.keep;
    expect(keep.map((entry) => entry.reason).sort()).toEqual(['accessed', 'accessed', 'fresh', 'locked']);
    const text = await previewCleanupHandler(request({ format: 'text' }), context('http-text'));
    expect(text.body).toContain('would delete: 2 manifest(s)');
    expect(text.body).toContain('by a preview dry run');
  });

  it('gives way to the nightly run: a preview holding the lease stops within seconds, the nightly run deletes', async () => {
    await setUp({ inventory: bigRegistry(10), latencyMs: 300 });
    // The nightly run reaches the same registry through another endpoint, so each run's requests are told apart.
    const nightlyEndpoint = await startEmulator({ state: emulator.state });
    extraEmulators.push(nightlyEndpoint);
    const asked = context('http-slow');
    await previewCleanupHandler(request({}, 'POST'), asked);
    const requestId = (asked.extraOutputs.get(previewQueueOutput) as { requestId: string }).requestId;
    const previewing = previewWorkerHandler(asked.extraOutputs.get(previewQueueOutput), context('slow-preview'));
    await until(() => emulator.requests.some((entry) => entry.path.includes('_manifests')));
    process.env.CONTAINER_REGISTRY = nightlyEndpoint.endpoint;
    await cleanImageCacheHandler(timer, context('nightly'));
    const nightlyDone = Date.now();
    await previewing;
    expect((await reportOf('nightly')).outcome).toBe('completed');
    const status = await previewCleanupHandler(request({ request: requestId }), context('http-status'));
    expect(status.status).toBe(200);
    expect(status.jsonBody).toMatchObject({ requestId, status: 'skipped', message: expect.stringContaining('a nightly run has priority') });
    // The preview stopped listing within its renewal interval (2 s) and one request.
    expect(emulator.requests.filter((entry) => entry.timeMs > nightlyDone + 2500)).toEqual([]);
    expect(remaining()).toEqual([`ci/app@${digestOf('used')}`, `ci/web@${digestOf('web-used')}`]);
  });

  it('names a connection string put in the wrong setting, and never sends it back', async () => {
    const key = 'c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs=';
    await setUp({ settings: { CONTAINER_REGISTRY: `DefaultEndpointsProtocol=https;AccountName=cicache;AccountKey=${key};EndpointSuffix=core.windows.net` } });
    const response = await previewCleanupHandler(request(), context('http-secret'));
    expect(response.status).toBe(500);
    const text = JSON.stringify(response.jsonBody);
    expect(text).toContain('the value of CONTAINER_REGISTRY (not shown');
    expect(text).not.toContain(key);
    const error = await cleanImageCacheHandler(timer, context('run-secret')).catch((caught: Error) => caught);
    expect(String(error)).not.toContain(key);
    expect(String(error)).not.toContain(azurite.connectionString.split('AccountKey=')[1]!.split(';')[0]);
  });
});
