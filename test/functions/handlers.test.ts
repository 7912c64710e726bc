import { BlobServiceClient } from '@azure/storage-blob';
import { InvocationContext, type HttpRequest, type Timer } from '@azure/functions';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPORTS_CONTAINER, type AuditReport } from '../../src/audit.js';
import { cleanImageCacheHandler, previewCleanupHandler } from '../../src/functions/handlers.js';
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
const savedEnv = { ...process.env };

beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => azurite?.stop());

function registry(): Inventory {
  const old = new Date(Date.now() - 30 * DAY);
  return inventoryOf({
    'ci/app': [manifest('used', { createdOn: old, lastUpdatedOn: old }), manifest('unused-1', { createdOn: old, lastUpdatedOn: old }), manifest('unused-2', { createdOn: old, lastUpdatedOn: old }), manifest('locked', { canDelete: false, createdOn: old, lastUpdatedOn: old })],
    'ci/web': [manifest('web-used', { createdOn: old, lastUpdatedOn: old }), manifest('fresh', { createdOn: new Date(), lastUpdatedOn: new Date() })],
  });
}

let container = 0;
async function setUp(options: { staleLogs?: boolean; latencyMs?: number; settings?: Record<string, string> } = {}) {
  emulator = await startEmulator({ state: RegistryState.fromInventory(registry()), latencyMs: options.latencyMs });
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

beforeEach(() => {
  process.env = { ...savedEnv };
});
afterEach(async () => {
  await emulator?.stop();
});

function context(invocationId: string, lines: string[] = []) {
  return new InvocationContext({ invocationId, functionName: 'cleanImageCache', logHandler: (level, ...args) => lines.push(`${level}: ${args.join(' ')}`) });
}
const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: new Date().toISOString(), next: new Date().toISOString(), lastUpdated: new Date().toISOString() } };

async function reportOf(invocationId: string): Promise<AuditReport> {
  const reports = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(REPORTS_CONTAINER);
  for await (const blob of reports.listBlobsFlat()) {
    if (blob.name.endsWith(`-${invocationId}.json`)) {
      expect(blob.name).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-/);
      return JSON.parse((await reports.getBlobClient(blob.name).downloadToBuffer()).toString());
    }
  }
  throw new Error(`no report for ${invocationId}`);
}

const remaining = () => [...emulator.state.repositories.values()].flatMap((repository) => [...repository.manifests.keys()].map((digest) => `${repository.name}@${digest}`)).sort();

describe('cleanImageCache (timer) handler', () => {
  it('deletes exactly the plan and writes its report', async () => {
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

  it('lets one of two concurrent runs work and the other step aside', async () => {
    await setUp({ latencyMs: 150 });
    const results = await Promise.allSettled([cleanImageCacheHandler(timer, context('run-a')), cleanImageCacheHandler(timer, context('run-b'))]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
    const outcomes = [(await reportOf('run-a')).outcome, (await reportOf('run-b')).outcome].sort();
    expect(outcomes).toEqual(['completed', 'skipped']);
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE' && entry.status === 202)).toHaveLength(2);
    // The lease is released: the next run may go.
    await cleanImageCacheHandler(timer, context('run-c'));
    expect((await reportOf('run-c')).outcome).toBe('completed');
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

describe('previewCleanup (HTTP) handler', () => {
  const request = (format?: string, keep?: string) => ({ query: new URLSearchParams({ ...(format ? { format } : {}), ...(keep ? { keep } : {}) }) }) as unknown as HttpRequest;

  it("answers what tonight's run would delete, as JSON, without deleting", async () => {
    await setUp();
    const response = await previewCleanupHandler(request(), context('preview-1'));
    expect(response.status).toBe(200);
    const body = response.jsonBody as { outcome: string; report: { dryRun: boolean; delete: { digest: string }[] } };
    expect(body.report.dryRun).toBe(true);
    expect(body.report.delete.map((entry) => entry.digest).sort()).toEqual([digestOf('unused-1'), digestOf('unused-2')].sort());
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE')).toEqual([]);
    expect((await reportOf('preview-1')).trigger).toBe('preview');
    expect((body.report as { keep?: unknown }).keep).toBeUndefined();
  });

  it('lists the kept manifests only when asked', async () => {
    await setUp();
    const response = await previewCleanupHandler(request(undefined, 'true'), context('preview-keep'));
    const keep = (response.jsonBody as { report: { keep: { reason: string }[] } }).report.keep;
    expect(keep.map((entry) => entry.reason).sort()).toEqual(['accessed', 'accessed', 'fresh', 'locked']);
  });

  it('answers as text when asked', async () => {
    await setUp();
    const response = await previewCleanupHandler(request('text'), context('preview-2'));
    expect(response.body).toContain('would delete: 2 manifest(s)');
  });
});
