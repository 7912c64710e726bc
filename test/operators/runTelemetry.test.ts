import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import type { JobResult } from '../../src/job.js';
import type { PassReport } from '../../src/report.js';
import type { ExecutionReport } from '../../src/report.js';
import { RUN_EVENT_MEASUREMENTS, RUN_EVENT_PROPERTIES, runTelemetryRecord, runTelemetryRecords } from '../../src/telemetry/runTelemetry.js';
import { loadTelemetrySettings } from '../../src/telemetry/settings.js';
import { withRunTelemetry } from '../../src/telemetry/withRunTelemetry.js';
import { DAY, digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';
import { startIngestionStandIn } from '../support/ingestionStandIn.js';
import { runCli, writeScenario } from '../support/scenario.js';

const started = new Date('2026-11-27T02:30:00Z');
const finished = new Date('2026-11-27T02:31:30Z');
const base = { invocationId: 'inv-1', trigger: 'timer', startedAt: started, finishedAt: finished };

/** A real pass report: the CLI's plan for a small registry (one used, one locked, two unused manifests). */
async function passReport(args: string[] = []): Promise<PassReport> {
  const inventory = inventoryOf({ app: [manifest('used'), manifest('unused-1', { sizeInBytes: 3000 }), manifest('unused-2'), manifest('locked', { canDelete: false })] });
  const pull = { time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'app', digest: digestOf('used'), registry: 'cicache' };
  const { logDir, inventoryFile } = await writeScenario(inventory, [pull]);
  const { report } = await runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--output', 'json', '--now', NOW.toISOString(), '--max-delete-percent', '100', ...args]);
  return report!;
}

function executionOf(overrides: Partial<ExecutionReport>): ExecutionReport {
  return { deleted: [], alreadyGone: [], failed: [], skipped: [], leftForNextRun: 0, stoppedBy: null, stopMessage: null, journal: null, estimatedMoreRuns: 0, seconds: 1, bytesReclaimed: 0, deletesPerMinute: 0, ...overrides };
}

let unusable: PassReport;
beforeAll(async () => {
  const report = await passReport();
  unusable = { ...report, aborted: 'logs-unusable', logs: { ...report.logs, unusableRecords: 3, recordsInWindow: 97, uncertainDigests: 2 } };
});

describe('runTelemetryRecord', () => {
  it('names the outcome and every count of a completed dry run, with log freshness and phase times', async () => {
    const report = await passReport();
    const result: JobResult = { outcome: 'completed', message: 'dry run: would delete 2 manifest(s)', report, reportUrl: 'https://host/r.json', htmlReportUrl: 'https://host/r.html' };
    const record = runTelemetryRecord({ ...base, result });
    expect(record.name).toBe('AcrCacheCleanerRun');
    expect(record.time).toBe(finished);
    expect(Object.keys(record.properties).sort()).toEqual([...RUN_EVENT_PROPERTIES].sort());
    expect(record.properties).toMatchObject({ outcome: 'completed', reason: '', dryRun: 'true', reportUrl: 'https://host/r.json', htmlReportUrl: 'https://host/r.html', keptByReason: '{"accessed":1,"locked":1}', newestLogRecord: report.logs.newestRecord });
    expect(record.measurements).toMatchObject({ durationSeconds: 90, manifestsListed: 4, manifestsPlanned: 2, manifestsKept: 2, manifestsDeleted: 0, bytesPlanned: 4000, bytesReclaimed: 0, leftForNextRun: 0, logAgeHours: 24 });
    expect(record.measurements.phaseReadLogsSeconds).toBeGreaterThanOrEqual(0);
    expect(record.measurements.phaseDeleteSeconds).toBeUndefined();
    for (const name of Object.keys(record.measurements)) expect(RUN_EVENT_MEASUREMENTS).toContain(name);
  });

  it('gives the guard of a refused run, and no freshness when there was no record', async () => {
    const report = await passReport(['--max-delete-percent', '10']);
    expect(report.aborted).toBe('too-many-deletions');
    const refused = runTelemetryRecord({ ...base, result: { outcome: 'refused', message: 'refused', report } });
    expect(refused.properties).toMatchObject({ outcome: 'refused', reason: 'too-many-deletions' });
    const noRecord = runTelemetryRecord({ ...base, result: { outcome: 'refused', message: 'refused', report: { ...report, aborted: 'logs-missing', logs: { ...report.logs, newestRecord: null } } } });
    expect(noRecord.properties).toMatchObject({ reason: 'logs-missing', newestLogRecord: '' });
    expect(noRecord.measurements.logAgeHours).toBeUndefined();
  });

  it('tells a bad setting from any other failure when the run threw, and keeps only its duration', () => {
    const misconfigured = runTelemetryRecord({ ...base, error: new ConfigError([{ setting: 'CACHE_HISTORY_DAYS', message: 'must be a number' }]) });
    expect(misconfigured.properties).toMatchObject({ outcome: 'failed', reason: 'misconfigured', reportUrl: '', dryRun: '' });
    expect(misconfigured.properties.message).toContain('CACHE_HISTORY_DAYS: must be a number');
    expect(misconfigured.measurements).toEqual({ durationSeconds: 90 });
    const broken = runTelemetryRecord({ ...base, error: new Error('the host storage is unreachable') });
    expect(broken.properties).toMatchObject({ outcome: 'failed', reason: 'error', message: 'the host storage is unreachable' });
  });

  it('says a skipped run stepped aside for the run lease', () => {
    const record = runTelemetryRecord({ ...base, result: { outcome: 'skipped', message: 'another cleanup run holds the run lease', reportUrl: 'u' } });
    expect(record.properties).toMatchObject({ outcome: 'skipped', reason: 'run-lease-held', reportUrl: 'u' });
  });

  it('tells failed deletions from a failed pass', async () => {
    const report = await passReport();
    const execution = executionOf({ failed: [{ repository: 'app', digest: digestOf('unused-1'), error: '500', uncertain: true }] });
    const failed = runTelemetryRecord({ ...base, result: { outcome: 'failed', message: 'm', report: { ...report, execution } } });
    expect(failed.properties.reason).toBe('deletions-failed');
    expect(failed.measurements).toMatchObject({ deletionsFailed: 1, deletionsUncertain: 1 });
    expect(runTelemetryRecord({ ...base, result: { outcome: 'failed', message: 'm', report: { ...report, error: 'listing the registry failed' } } }).properties.reason).toBe('error');
  });

  it.each(['lease-lost', 'journal-failed', 'permission-denied'] as const)('names a run failed by a stop for %s, with what it left', async (stoppedBy) => {
    const report = await passReport();
    const execution = executionOf({ stoppedBy, stopMessage: `stopped: ${stoppedBy}`, leftForNextRun: 2, alreadyGone: [{ repository: 'app', digest: digestOf('unused-2') }] });
    const record = runTelemetryRecord({ ...base, result: { outcome: 'failed', message: 'm', report: { ...report, execution } } });
    expect(record.properties).toMatchObject({ outcome: 'failed', reason: stoppedBy, stoppedBy, stopMessage: `stopped: ${stoppedBy}` });
    expect(record.measurements).toMatchObject({ leftForNextRun: 2, alreadyGone: 1, deletionsFailed: 0 });
  });

  it('tells a stopped run that completed (time budget, throttled) by stoppedBy, with no reason', async () => {
    const report = await passReport();
    const record = runTelemetryRecord({ ...base, result: { outcome: 'completed', message: 'm', report: { ...report, execution: executionOf({ stoppedBy: 'throttled', stopMessage: 'Retry-After 3600 s', leftForNextRun: 5 }) } } });
    expect(record.properties).toMatchObject({ outcome: 'completed', reason: '', stoppedBy: 'throttled', stopMessage: 'Retry-After 3600 s' });
  });

  it('names who held the run lease of a run that stepped aside, since when, and a stuck lease as such', () => {
    const leaseHeldBy = { run: 'nightly-1', trigger: 'timer' as const, startedAt: '2026-11-27T02:29:00.000Z', dryRun: false, heldForSeconds: 60 };
    const skipped = runTelemetryRecord({ ...base, result: { outcome: 'skipped', message: 'held', leaseHeldBy } });
    expect(skipped.properties).toMatchObject({ outcome: 'skipped', reason: 'run-lease-held', leaseHolder: 'nightly-1', leaseHolderTrigger: 'timer', leaseHeldSince: '2026-11-27T02:29:00.000Z' });
    expect(skipped.measurements).toEqual({ durationSeconds: 90, leaseHeldSeconds: 60 });
    const stuck = runTelemetryRecord({ ...base, result: { outcome: 'failed', message: 'stuck', leaseHeldBy: { ...leaseHeldBy, heldForSeconds: 200_000 } } });
    expect(stuck.properties).toMatchObject({ outcome: 'failed', reason: 'run-lease-stuck', leaseHolder: 'nightly-1' });
  });

  it("says a preview that gave way to the nightly run lost its lease", async () => {
    const report = await passReport();
    expect(runTelemetryRecord({ ...base, trigger: 'preview', result: { outcome: 'skipped', message: 'stopped: the run lease was taken', report } }).properties).toMatchObject({ trigger: 'preview', outcome: 'skipped', reason: 'lease-lost' });
  });

  it('sends, besides its own, the event of each interrupted run it closed: one event per run', () => {
    const holder = { run: 'killed-1', trigger: 'timer' as const, startedAt: '2026-11-26T02:30:00.000Z', dryRun: false, report: '2026/11/26/x-killed-1.json' };
    const interrupted = { holder, closed: { invocationId: 'killed-1', report: 'https://host/killed-1.json', deleted: 7, stillPresent: 1, unknown: 2 }, closedAt: '2026-11-27T02:30:05.000Z', message: 'interrupted: …', registry: 'cicache.azurecr.io', bytesReclaimed: 7000, htmlReportUrl: 'https://host/killed-1.html' };
    const records = runTelemetryRecords({ ...base, result: { outcome: 'completed', message: 'ok', interrupted: [interrupted] } });
    expect(records).toHaveLength(2);
    expect(records[0]!.measurements.interruptedRunsClosed).toBe(1);
    expect(records[1]!).toEqual({
      name: 'AcrCacheCleanerRun',
      time: new Date('2026-11-27T02:30:05.000Z'),
      properties: expect.objectContaining({ invocationId: 'killed-1', trigger: 'timer', outcome: 'interrupted', reason: 'interrupted', closedBy: 'inv-1', dryRun: 'false', registry: 'cicache.azurecr.io', startedAt: holder.startedAt, reportUrl: 'https://host/killed-1.json', htmlReportUrl: 'https://host/killed-1.html' }),
      measurements: { manifestsDeleted: 7, bytesReclaimed: 7000, deletionsStillPresent: 1, deletionsUnknown: 2 },
    });
    expect(Object.keys(records[1]!.properties).sort()).toEqual([...RUN_EVENT_PROPERTIES].sort());
  });

  it('counts the unusable records and the uncertain digests, and the share the logs-unusable guard judges', () => {
    const record = runTelemetryRecord({ ...base, result: { outcome: 'refused', message: 'm', report: unusable } });
    expect(record.properties.reason).toBe('logs-unusable');
    expect(record.measurements).toMatchObject({ logRecordsUnusable: 3, logUncertainDigests: 2, logUnusablePercent: 3 });
  });

  it('keeps a long message within what a custom dimension holds', () => {
    const record = runTelemetryRecord({ ...base, result: { outcome: 'skipped', message: 'x'.repeat(10_000) } });
    expect(record.properties.message).toHaveLength(2000);
  });
});

describe('loadTelemetrySettings', () => {
  const key = '6d1a6b42-0c55-4a4c-9a7e-5a0f4d1f0b11';
  it('is off, quietly, without a connection string', () => {
    expect(loadTelemetrySettings({})).toEqual({ problems: [] });
    expect(loadTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' })).toEqual({ problems: [] });
  });

  it('takes the connection string, and Entra with the identity the authentication string names', () => {
    const connectionString = `InstrumentationKey=${key};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/`;
    expect(loadTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString })).toEqual({ target: { connectionString }, problems: [] });
    expect(loadTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=0b7c5e3e-5d8f-4f3a-9b0c-2f6e8a1d4c21;Authorization=AAD' }).target).toEqual({ connectionString, entra: { clientId: '0b7c5e3e-5d8f-4f3a-9b0c-2f6e8a1d4c21' } });
    expect(loadTelemetrySettings({ APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD' }).target).toEqual({ connectionString, entra: {} });
  });

  it('names the setting of every problem, and then sends nothing', () => {
    const problems = (settings: Record<string, string>) => loadTelemetrySettings(settings);
    expect(problems({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=abc' })).toEqual({ problems: ['APPLICATIONINSIGHTS_CONNECTION_STRING: needs InstrumentationKey=<GUID>'] });
    expect(problems({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'garbage' }).problems).toEqual(['APPLICATIONINSIGHTS_CONNECTION_STRING: "garbage" is not Key=value']);
    expect(problems({ APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${key};IngestionEndpoint=http://insecure/` }).problems).toEqual(['APPLICATIONINSIGHTS_CONNECTION_STRING: IngestionEndpoint must be an https:// URL']);
    const auth = problems({ APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${key}`, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=Key' });
    expect(auth).toEqual({ problems: [expect.stringMatching(/^APPLICATIONINSIGHTS_AUTHENTICATION_STRING: must be Authorization=AAD/)] });
    expect(problems({ APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${key}`, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=me' }).problems).toEqual(['APPLICATIONINSIGHTS_AUTHENTICATION_STRING: ClientId must be a GUID']);
  });
});

describe('withRunTelemetry', () => {
  it("names a secret setting in the event instead of sending it (the run's message quoting it)", async () => {
    // The SDK's own usage statistics go to Microsoft's endpoints: not from a test.
    process.env.APPLICATION_INSIGHTS_NO_STATSBEAT = 'true';
    const standIn = await startIngestionStandIn();
    try {
      const secret = `DefaultEndpointsProtocol=https;AccountName=logs;AccountKey=${'k'.repeat(86)}==;EndpointSuffix=core.windows.net`;
      const settings = { APPLICATIONINSIGHTS_CONNECTION_STRING: standIn.connectionString, LOG_STORAGE_ACCOUNT: secret };
      const result: JobResult = { outcome: 'failed', message: `the run failed: cannot reach ${secret}` };
      await withRunTelemetry(settings, { invocationId: 'inv-secret', trigger: 'timer', log: () => {} }, async () => result);
      const [event] = standIn.envelopes();
      expect(event!.data.baseData.properties).toMatchObject({ invocationId: 'inv-secret', message: 'the run failed: cannot reach [LOG_STORAGE_ACCOUNT: not shown]' });
      expect(JSON.stringify(standIn.envelopes())).not.toContain('k'.repeat(86));
    } finally {
      await standIn.stop();
    }
  });

  const context = (lines: string[]) => ({ invocationId: 'inv', trigger: 'timer', log: (line: string) => lines.push(line) });

  it('returns the run and throws what it threw, unchanged, with or without telemetry', async () => {
    const result: JobResult = { outcome: 'completed', message: 'ok' };
    expect(await withRunTelemetry({}, context([]), async () => result)).toBe(result);
    const failure = new ConfigError([{ setting: 'CONCURRENCY', message: 'must be a number' }]);
    await expect(withRunTelemetry({}, context([]), async () => Promise.reject(failure))).rejects.toBe(failure);
  });

  it('warns, naming the setting, when the telemetry settings are wrong, and still runs', async () => {
    const lines: string[] = [];
    const result: JobResult = { outcome: 'completed', message: 'ok' };
    expect(await withRunTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=nope' }, context(lines), async () => result)).toBe(result);
    expect(lines).toEqual(['warning: run telemetry is off: APPLICATIONINSIGHTS_CONNECTION_STRING: needs InstrumentationKey=<GUID>']);
  });
});
