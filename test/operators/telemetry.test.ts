import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit.js';
import { formatBytes, type DeletionEntry } from '../../src/report.js';
import { RUN_EVENT_MEASUREMENTS, RUN_EVENT_NAME, RUN_EVENT_PROPERTIES } from '../../src/telemetry/runTelemetry.js';
import { chromiumInstalled, withChromium } from '../support/browser.js';
import { runKql, type KqlRow, type KqlValue } from '../support/kql.js';
import { at, customEventRow, customEventsTable } from '../support/customEventsTable.js';
import { assertSelfContained } from '../support/htmlTags.js';
import type { Envelope } from '../support/ingestionStandIn.js';
import { captureTelemetry, ENTRA_CLIENT_ID, THROTTLED_AFTER, TRACE_ID, WORKER_ENVIRONMENT, type CapturedRun, type TelemetryCapture } from '../support/telemetryCapture.js';

const root = join(import.meta.dirname, '..', '..');
const bicep = join(root, '.tools', 'bicep', 'bicep');
const bicepInstalled = existsSync(bicep);
if (!bicepInstalled && process.env.CI === 'true') throw new Error('the Bicep CLI is not installed (scripts/install-bicep.sh): in CI the alert tests must run');

let capture: TelemetryCapture;
beforeAll(async () => {
  capture = await captureTelemetry();
}, 300_000);
afterAll(async () => capture?.stop());

const run = (name: string): CapturedRun => capture.runs.get(name)!;
const eventsOf = (invocationId: string): Envelope[] => capture.envelopes.filter((envelope) => envelope.data.baseData.properties?.invocationId === invocationId);
const eventOf = (name: string): Envelope => {
  const events = eventsOf(run(name).scenario.invocationId);
  expect(events, `the telemetry of run ${name}`).toHaveLength(1);
  return events[0]!;
};
const report = (name: string): AuditReport => {
  const stored = run(name).report;
  expect(stored, `the audit report of run ${name}`).toBeDefined();
  return stored!;
};

/** What deleting these manifests freed: each with the referrers the registry deleted with it. */
const bytesOf = (entries: DeletionEntry[]) => entries.reduce((sum, entry) => sum + entry.sizeInBytes + entry.referrers.reduce((bytes, referrer) => bytes + referrer.sizeInBytes, 0), 0);
/** Runs whose invocation sent its own event (the killed run's is sent by the run that closed it). */
const SENT = ['demo', 'refused', 'skipped', 'stuck-lease', 'misconfigured', 'work-left', 'unusable-logs', 'throttled', 'closer', 'preview'];
/** Measurements only some runs have: a step-aside's, a closing run's, an interrupted run's. */
const OCCASIONAL_MEASUREMENTS = ['leaseHeldSeconds', 'interruptedRunsClosed', 'deletionsStillPresent', 'deletionsUnknown'];

describe("run telemetry: one custom event per run, through Azure Monitor's OpenTelemetry exporter, as the ingestion endpoint receives it", () => {
  it('posts each run as an Application Insights custom event of the function app, correlated with its invocation', () => {
    for (const name of [...SENT, 'killed']) {
      const event = eventOf(name);
      expect(event.name).toBe('Microsoft.ApplicationInsights.Event');
      expect(event.data.baseType).toBe('EventData');
      expect(event.data.baseData.name).toBe(RUN_EVENT_NAME);
      expect(event.iKey).toBe(capture.standIn.instrumentationKey);
      expect(event.tags['ai.cloud.role']).toBe(WORKER_ENVIRONMENT.WEBSITE_SITE_NAME);
    }
    expect(capture.standIn.requests.every((request) => request.path === '/v2.1/track')).toBe(true);
    // Nothing but the events: no traces, requests, dependencies or metrics.
    expect(capture.envelopes.every((envelope) => envelope.data.baseType === 'EventData')).toBe(true);
    expect(eventOf('demo').tags['ai.operation.id']).toBe(TRACE_ID);
  });

  it('has the event at the ingestion endpoint before the invocation returns (flushed, not left in a batch)', () => {
    const arrival = (invocationId: string) => capture.standIns.flatMap((standIn) => standIn.requests).filter((request) => request.envelopes.some((envelope) => envelope.data.baseData.properties?.invocationId === invocationId));
    for (const name of [...SENT, 'entra']) {
      const requests = arrival(run(name).scenario.invocationId);
      expect(requests, name).toHaveLength(1);
      expect(requests[0]!.receivedAtMs, name).toBeLessThanOrEqual(run(name).result.returnedAtMs);
    }
    // The interrupted run's event goes with the event of the run that closed it.
    expect(arrival('run-killed')).toEqual(arrival('run-closer'));
  });

  it("carries every field of the demo run's audit report", () => {
    const event = eventOf('demo');
    const audit = report('demo');
    const execution = audit.execution!;
    const summary = audit.summary!;
    const logs = audit.logs!;
    const dimensions = event.data.baseData.properties!;
    const measurements = event.data.baseData.measurements!;
    expect(Object.keys(dimensions).sort()).toEqual([...RUN_EVENT_PROPERTIES].sort());
    expect(Object.keys(measurements).sort()).toEqual(RUN_EVENT_MEASUREMENTS.filter((name) => !OCCASIONAL_MEASUREMENTS.includes(name)).sort());

    const keptByReason = Object.fromEntries(Object.entries(summary.byReason).filter(([reason]) => reason !== 'unused'));
    expect(dimensions).toEqual({
      invocationId: 'run-demo',
      trigger: 'timer',
      outcome: 'completed',
      reason: '',
      message: audit.message,
      dryRun: 'false',
      registry: audit.registry,
      requestId: '',
      reportUrl: expect.stringMatching(/\/cleanup-reports\/\d{4}\/\d{2}\/\d{2}\/.*-run-demo\.json$/),
      htmlReportUrl: dimensions.reportUrl!.replace(/\.json$/, '.html'),
      stoppedBy: '',
      stopMessage: '',
      newestLogRecord: logs.newestRecord,
      logSource: logs.source,
      keptByReason: expect.any(String),
      leaseHolder: '',
      leaseHolderTrigger: '',
      leaseHeldSince: '',
      closedBy: '',
      startedAt: expect.any(String),
      toolVersion: audit.version,
    });
    expect(JSON.parse(dimensions.keptByReason!)).toEqual(keptByReason);
    expect(Date.parse(dimensions.startedAt!)).toBeLessThanOrEqual(Date.parse(audit.startedAt));

    expect(measurements).toEqual({
      durationSeconds: expect.any(Number),
      phaseReadLogsSeconds: audit.phaseSeconds!.readLogs,
      phaseListSeconds: audit.phaseSeconds!.list,
      phasePlanSeconds: audit.phaseSeconds!.plan,
      phaseDeleteSeconds: audit.phaseSeconds!.delete,
      manifestsListed: summary.manifests,
      manifestsInScope: summary.inScope,
      manifestsPlanned: summary.toDelete,
      manifestsKept: summary.manifests - summary.toDelete,
      manifestsDeferred: 0,
      manifestsUncertain: keptByReason.uncertain ?? 0,
      manifestsDeleted: execution.deleted.length,
      referrersDeleted: execution.deleted.reduce((sum, entry) => sum + entry.referrers.length, 0),
      deletionsFailed: execution.failed.length,
      deletionsUncertain: 0,
      deletionsSkipped: execution.skipped.length,
      alreadyGone: execution.alreadyGone.length,
      leftForNextRun: execution.leftForNextRun,
      estimatedMoreRuns: execution.estimatedMoreRuns,
      bytesPlanned: summary.bytesReclaimed,
      bytesReclaimed: execution.bytesReclaimed,
      logLinesRead: logs.linesRead,
      logAccessesCounted: logs.accessesCounted,
      logRecordsInWindow: logs.recordsInWindow,
      logLinesSkipped: Object.values(logs.skipped).reduce((sum, count) => sum + count, 0),
      logRecordsUnusable: logs.unusableRecords,
      logUnusablePercent: 0,
      logUncertainDigests: logs.uncertainDigests,
      logAgeHours: (Date.parse(audit.now!) - Date.parse(logs.newestRecord!)) / 3_600_000,
    });
    // The demo deletes for real and finishes within its budget.
    expect(execution.deleted.length).toBeGreaterThan(100);
    expect(measurements.bytesReclaimed).toBeGreaterThan(0);
    const phases = measurements.phaseReadLogsSeconds! + measurements.phaseListSeconds! + measurements.phasePlanSeconds! + measurements.phaseDeleteSeconds!;
    expect(measurements.durationSeconds).toBeGreaterThanOrEqual(phases);
    expect(Date.parse(event.time)).toBeGreaterThanOrEqual(Date.parse(audit.finishedAt!));
  });

  it('says why a run did not complete, or what it left undone', () => {
    const refused = eventOf('refused').data.baseData;
    expect(refused.properties).toMatchObject({ outcome: 'refused', reason: 'too-many-deletions', message: report('refused').message });
    expect(refused.measurements).toMatchObject({ manifestsDeleted: 0, bytesReclaimed: 0, manifestsPlanned: 0 });

    const misconfigured = eventOf('misconfigured').data.baseData;
    expect(misconfigured.properties).toMatchObject({ outcome: 'failed', reason: 'misconfigured', reportUrl: '' });
    expect(misconfigured.properties!.message).toContain('CACHE_HISTORY_DAYS');
    expect(run('misconfigured').result.error).toContain('misconfigured');

    const workLeft = eventOf('work-left').data.baseData;
    const deferred = report('work-left');
    expect(deferred.summary!.byReason.deferred).toBeGreaterThan(0);
    expect(workLeft.properties).toMatchObject({ outcome: 'completed', stoppedBy: '' });
    expect(workLeft.measurements).toMatchObject({ manifestsDeleted: 10, manifestsDeferred: deferred.summary!.byReason.deferred, leftForNextRun: 0 });

    const throttled = eventOf('throttled').data.baseData;
    const execution = report('throttled').execution!;
    expect(execution).toMatchObject({ stoppedBy: 'throttled', stopMessage: expect.stringContaining('Retry-After') });
    expect(execution.leftForNextRun).toBeGreaterThan(0);
    expect(throttled.properties).toMatchObject({ outcome: 'completed', reason: '', stoppedBy: 'throttled', stopMessage: execution.stopMessage });
    expect(throttled.measurements).toMatchObject({ manifestsDeleted: execution.deleted.length, leftForNextRun: execution.leftForNextRun, estimatedMoreRuns: execution.estimatedMoreRuns, deletionsFailed: 0 });
    expect(execution.deleted.length).toBeLessThanOrEqual(THROTTLED_AFTER);
  });

  it('says who held the run lease, and since when, when a run stepped aside; a lease held for days fails the run', () => {
    const skipped = eventOf('skipped').data.baseData;
    const held = report('skipped').leaseHeldBy!;
    expect(held).toMatchObject({ run: 'held-run', trigger: 'timer' });
    expect(skipped.properties).toMatchObject({ outcome: 'skipped', reason: 'run-lease-held', message: report('skipped').message, leaseHolder: 'held-run', leaseHolderTrigger: 'timer', leaseHeldSince: held.startedAt, reportUrl: expect.stringContaining('run-skipped.json') });
    expect(skipped.measurements).toEqual({ durationSeconds: expect.any(Number), leaseHeldSeconds: held.heldForSeconds });
    expect(held.heldForSeconds).toBeGreaterThanOrEqual(300);
    expect(skipped.properties!.htmlReportUrl).toMatch(/-run-skipped\.html$/);
    expect(run('skipped').result.error).toBeUndefined();

    const stuck = eventOf('stuck-lease').data.baseData;
    const stuckHolder = report('stuck-lease').leaseHeldBy!;
    expect(report('stuck-lease').outcome).toBe('failed');
    expect(stuck.properties).toMatchObject({ outcome: 'failed', reason: 'run-lease-stuck', leaseHolder: 'stuck-run', leaseHeldSince: stuckHolder.startedAt, message: expect.stringContaining('longer than a run can last') });
    expect(stuck.measurements!.leaseHeldSeconds).toBeGreaterThan(2 * 86_400);
    expect(run('stuck-lease').result.error).toMatch(/^acr-cache-cleaner failed: the run lease has been held by/);
  });

  it('names the unusable records that made the logs-unusable guard refuse', () => {
    const unusable = eventOf('unusable-logs').data.baseData;
    const logs = report('unusable-logs').logs!;
    expect(logs.unusableRecords).toBeGreaterThan(0);
    expect(unusable.properties).toMatchObject({ outcome: 'refused', reason: 'logs-unusable' });
    expect(unusable.measurements).toMatchObject({ logRecordsUnusable: logs.unusableRecords, logUncertainDigests: logs.uncertainDigests, manifestsDeleted: 0 });
    expect(unusable.measurements!.logUnusablePercent).toBeCloseTo((logs.unusableRecords / (logs.unusableRecords + logs.recordsInWindow)) * 100, 9);
    expect(unusable.measurements!.logUnusablePercent).toBeGreaterThan(Number(report('unusable-logs').settings!.logMaxUnusablePercent));
  });

  it('sends the event of a run that died half-way, as interrupted, from the run that closed it', () => {
    const killed = report('killed');
    expect(killed.outcome).toBe('interrupted');
    const onRecord = [...killed.interruption!.journalDeleted, ...killed.interruption!.reconciliation.deleted];
    expect(onRecord.length).toBeGreaterThanOrEqual(4);
    const event = eventOf('killed').data.baseData;
    expect(event.properties).toMatchObject({
      invocationId: 'run-killed',
      trigger: 'timer',
      outcome: 'interrupted',
      reason: 'interrupted',
      closedBy: 'run-closer',
      message: killed.message,
      dryRun: 'false',
      registry: killed.registry,
      startedAt: killed.startedAt,
      reportUrl: expect.stringMatching(/-run-killed\.json$/),
      htmlReportUrl: expect.stringMatching(/-run-killed\.html$/),
    });
    expect(event.measurements).toEqual({
      manifestsDeleted: onRecord.length,
      bytesReclaimed: bytesOf(onRecord),
      deletionsStillPresent: killed.interruption!.reconciliation.stillPresent,
      deletionsUnknown: killed.interruption!.reconciliation.unknown,
    });
    const closer = eventOf('closer').data.baseData;
    expect(closer.properties).toMatchObject({ outcome: 'completed', closedBy: '' });
    expect(closer.measurements).toMatchObject({ interruptedRunsClosed: 1 });
    expect(report('closer').closedRuns).toEqual([expect.objectContaining({ invocationId: 'run-killed', deleted: onRecord.length })]);
  });

  it('sends one event per preview dry run too, as trigger preview', () => {
    const preview = eventOf('preview').data.baseData;
    expect(preview.properties).toMatchObject({ trigger: 'preview', outcome: 'completed', dryRun: 'true', reportUrl: expect.stringMatching(/-run-preview\.json$/) });
    expect(preview.measurements).toMatchObject({ manifestsDeleted: 0, manifestsPlanned: report('preview').summary!.toDelete });
  });

  it('signs in with the managed identity that APPLICATIONINSIGHTS_AUTHENTICATION_STRING names (Entra-only ingestion)', () => {
    const entra = capture.envelopes.filter((envelope) => envelope.data.baseData.properties?.invocationId === 'run-entra');
    expect(entra).toHaveLength(1);
    expect(entra[0]!.data.baseData.properties).toMatchObject({ outcome: 'completed', dryRun: 'true' });
    const [entraStandIn] = capture.standIns.filter((standIn) => standIn.requests.some((request) => request.envelopes.some((envelope) => envelope.data.baseData.properties?.invocationId === 'run-entra')));
    expect(entraStandIn!.requests.every((request) => request.headers.authorization === `Bearer ${entraStandIn!.token}`)).toBe(true);
    expect(entraStandIn!.tokenRequests.length).toBeGreaterThan(0);
    const tokenRequest = new URL(entraStandIn!.tokenRequests[0]!.url, 'http://127.0.0.1');
    expect(tokenRequest.searchParams.get('resource')).toBe('https://monitor.azure.com');
    expect(tokenRequest.searchParams.get('client_id')).toBe(ENTRA_CLIENT_ID);
    // The other runs sent no token: their stand-in takes the connection string's key, as local auth would.
    expect(capture.standIn.requests.every((request) => request.headers.authorization === undefined)).toBe(true);
  });

  it('never fails or stalls a run over its telemetry: App Insights unreachable, not answering, or misconfigured', () => {
    for (const name of ['unreachable', 'hanging', 'bad-connection-string']) {
      expect(run(name).result.error, name).toBeUndefined();
      expect(report(name).outcome, name).toBe('completed');
      expect(eventsOf(run(name).scenario.invocationId), name).toEqual([]);
    }
    expect(run('hanging').result.logs.join('\n')).toMatch(/warning: sending the run telemetry failed: the telemetry was not flushed within 1\.5 s/);
    expect(run('bad-connection-string').result.logs.join('\n')).toMatch(/warning: run telemetry is off: APPLICATIONINSIGHTS_CONNECTION_STRING: needs InstrumentationKey=<GUID>/);
  });

  it("reaches nothing beyond this machine (the exporter polls Azure Monitor's settings service, which the test refuses)", () => {
    expect(capture.outboundAttempts.filter((target) => target !== 'settings.sdk.monitor.azure.com:443')).toEqual([]);
  });
});

// ---- the alerts and the workbook, over the same events ----------------------------------------------------------

const NOW = new Date('2026-06-10T03:00:00Z');
/** The nightly run `daysAgo` nights ago, ending at 02:31 UTC. */
const night = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * 86_400_000 - 29 * 60_000);
const rowOf = (name: string) => customEventRow(eventOf(name));
/** A run's event as if a preview's dry run had sent it. */
const asPreview = (row: KqlRow): KqlRow => ({ ...row, customDimensions: { ...(row.customDimensions as Record<string, KqlValue>), trigger: 'preview' } });
const allRows = () => capture.envelopes.map(customEventRow);

interface AlertRule {
  name: string;
  query: string;
  windowMs: number;
  operator: string;
  threshold: number;
}

function isoDurationMs(duration: string): number {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(duration);
  if (!match) throw new Error(`not an ISO 8601 duration: ${duration}`);
  return ((Number(match[1] ?? 0) * 24 + Number(match[2] ?? 0)) * 60 + Number(match[3] ?? 0)) * 60_000;
}

/** The alert rules exactly as the compiled ARM template deploys them. */
function compiledAlertRules(): AlertRule[] {
  const result = spawnSync(bicep, ['build', join(root, 'infra', 'main.bicep'), '--stdout'], { encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  const template = JSON.parse(result.stdout) as { resources: Record<string, unknown>[] | Record<string, Record<string, unknown>> };
  const resources = Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
  const monitoring = resources.find((resource) => resource.type === 'Microsoft.Resources/deployments' && String(resource.name).includes('monitoring')) as { properties: { template: { variables: Record<string, unknown> } } };
  const variables = monitoring.properties.template.variables;
  const resolve = (value: unknown) => {
    const reference = /^\[variables\('([^']+)'\)\]$/.exec(String(value));
    return reference ? variables[reference[1]!] : value;
  };
  return (variables.alerts as Record<string, unknown>[]).map((alert) => ({
    name: String(alert.name),
    query: String(resolve(alert.query)),
    windowMs: isoDurationMs(String(alert.windowSize)),
    operator: String(alert.operator),
    threshold: Number(alert.threshold),
  }));
}

/** Azure's evaluation of a log alert with `timeAggregation: Count`: the query over the window, its row count against the threshold. */
function fires(rule: AlertRule, rows: KqlRow[], now = NOW): boolean {
  const inWindow = rows.filter((row) => (row.timestamp as Date).getTime() > now.getTime() - rule.windowMs && (row.timestamp as Date).getTime() <= now.getTime());
  const count = runKql(rule.query, { customEvents: customEventsTable(inWindow, allRows()) }, { now }).length;
  if (rule.operator === 'GreaterThan') return count > rule.threshold;
  if (rule.operator === 'LessThan') return count < rule.threshold;
  throw new Error(`unexpected operator ${rule.operator}`);
}

describe.skipIf(!bicepInstalled)('the alerts, over the events the runs sent', () => {
  let rules: Record<string, AlertRule>;
  beforeAll(() => {
    rules = Object.fromEntries(compiledAlertRules().map((rule) => [rule.name, rule]));
    expect(Object.keys(rules).sort()).toEqual(['no-completed-run', 'run-failed-or-refused', 'work-left-every-run']);
    for (const [name, file] of [['run-failed-or-refused', 'run-failed-or-refused.kql'], ['no-completed-run', 'completed-runs.kql'], ['work-left-every-run', 'work-left-every-run.kql']] as const) {
      expect(rules[name]!.query).toBe(readFileSync(join(root, 'infra', 'app', 'monitoring', file), 'utf8'));
    }
  });

  const week = (name: string) => [7, 6, 5, 4, 3, 2, 1, 0].map((days) => at(rowOf(name), night(days)));

  it('stay quiet through a healthy week', () => {
    for (const rule of Object.values(rules)) expect(fires(rule, week('demo')), rule.name).toBe(false);
  });

  it('fire the morning after a run failed, was refused or was found interrupted, and not a day later', () => {
    const rule = rules['run-failed-or-refused']!;
    for (const name of ['refused', 'misconfigured', 'stuck-lease', 'unusable-logs', 'killed']) {
      const history = [...week('demo').slice(0, -1), at(rowOf(name), night(0))];
      expect(fires(rule, history), name).toBe(true);
      expect(fires(rule, history, new Date(NOW.getTime() + 86_400_000)), `${name}, a day later`).toBe(false);
      expect(fires(rules['no-completed-run']!, history), `${name}: the night before completed`).toBe(false);
    }
    for (const name of ['skipped', 'work-left', 'throttled', 'closer', 'preview']) expect(fires(rule, [at(rowOf(name), night(0))]), name).toBe(false);
    // A preview's refusal is its asker's answer; tonight's run refuses too, and that alerts.
    expect(fires(rule, [at(asPreview(rowOf('refused')), night(0))]), 'a refused preview').toBe(false);
  });

  it('fire when no run completed for 48 hours: a missed schedule, or stepping aside night after night', () => {
    const rule = rules['no-completed-run']!;
    expect(fires(rule, week('demo').slice(0, 5)), 'the last run three nights ago').toBe(true);
    expect(fires(rule, [...week('demo').slice(0, 5), at(rowOf('skipped'), night(2)), at(rowOf('skipped'), night(1)), at(rowOf('skipped'), night(0))]), 'stepping aside').toBe(true);
    expect(fires(rule, [...week('demo').slice(0, 7), at(rowOf('skipped'), night(0))]), 'stepped aside once').toBe(false);
    expect(fires(rule, [at(rowOf('entra'), night(0))]), 'a dry run completes too').toBe(false);
    expect(fires(rule, [at(rowOf('preview'), night(0))]), 'a preview is not the nightly run').toBe(true);
    expect(fires(rule, [...week('demo').slice(0, 5), at(rowOf('killed'), night(1)), at(rowOf('stuck-lease'), night(0))]), 'interrupted, then stuck').toBe(true);
  });

  it('fire when every run of two nights left work for the next one, and not for one such night', () => {
    const rule = rules['work-left-every-run']!;
    expect(fires(rule, [...week('demo').slice(0, 6), at(rowOf('throttled'), night(1)), at(rowOf('throttled'), night(0))]), 'throttled').toBe(true);
    expect(fires(rule, [...week('demo').slice(0, 6), at(rowOf('work-left'), night(1)), at(rowOf('throttled'), night(0))]), 'deferred, then throttled').toBe(true);
    expect(fires(rule, [...week('demo').slice(0, 7), at(rowOf('throttled'), night(0))]), 'one night').toBe(false);
    expect(fires(rule, [at(rowOf('work-left'), night(0))]), 'a single run').toBe(false);
    expect(fires(rule, [at(rowOf('entra'), night(1)), at(rowOf('entra'), night(0))]), 'dry runs').toBe(false);
  });

  it('read only fields the app emits (a misspelt one fails here)', () => {
    const misspelt = { ...rules['work-left-every-run']!, query: rules['work-left-every-run']!.query.replace('leftForNextRun', 'leftForNexRun') };
    expect(() => fires(misspelt, week('demo'))).toThrow(/customMeasurements\.leftForNexRun is never emitted/);
  });
});

interface WorkbookItem {
  type: number;
  name: string;
  content: { query?: string; timeContextFromParameter?: string; crossComponentResources?: string[]; parameters?: { name: string; value: { durationMs: number } }[] };
}

describe('the workbook, over the events the runs sent', () => {
  const workbook = JSON.parse(readFileSync(join(root, 'infra', 'app', 'monitoring', 'workbook.json'), 'utf8')) as { items: WorkbookItem[]; fallbackResourceIds: string[] };
  const timeRange = workbook.items.find((item) => item.type === 9)!.content.parameters!.find((parameter) => parameter.name === 'TimeRange')!.value.durationMs;
  const queries = Object.fromEntries(workbook.items.filter((item) => item.type === 3).map((item) => [item.name, item.content]));
  /** What one workbook query answers over `rows`, in the workbook's default time range. */
  const answer = (name: string, rows: KqlRow[]) => {
    const inRange = rows.filter((row) => (row.timestamp as Date).getTime() > NOW.getTime() - timeRange);
    return runKql(queries[name]!.query!, { customEvents: customEventsTable(inRange, allRows()) }, { now: NOW });
  };
  const history = () => [
    at(rowOf('demo'), night(3)),
    at(rowOf('refused'), night(2)),
    at(rowOf('work-left'), night(1)),
    at(rowOf('skipped'), night(0)),
    at(rowOf('misconfigured'), new Date(night(0).getTime() + 3_600_000)),
  ];

  it('queries the App Insights resource over the chosen time range', () => {
    expect(Object.keys(queries).sort()).toEqual(['duration-and-freshness', 'kept-by-reason', 'last-runs', 'log-evidence', 'not-completed', 'reclaimed-per-night', 'stopped-early']);
    for (const query of Object.values(queries)) {
      expect(query.timeContextFromParameter).toBe('TimeRange');
      expect(query.crossComponentResources).toEqual(['__APP_INSIGHTS_ID__']);
    }
    expect(workbook.fallbackResourceIds).toEqual(['__APP_INSIGHTS_ID__']);
  });

  it('shows the bytes reclaimed and the manifests deleted per night, as the runs reported them', () => {
    const rows = answer('reclaimed-per-night', history());
    const demo = report('demo').execution!;
    const workLeft = report('work-left').execution!;
    expect(rows.map((row) => [(row.night as Date).toISOString(), row.bytesReclaimed, row.manifestsDeleted])).toEqual([
      [night(3).toISOString().slice(0, 10) + 'T00:00:00.000Z', demo.bytesReclaimed, demo.deleted.length],
      [night(2).toISOString().slice(0, 10) + 'T00:00:00.000Z', 0, 0],
      [night(1).toISOString().slice(0, 10) + 'T00:00:00.000Z', workLeft.bytesReclaimed, workLeft.deleted.length],
      [night(0).toISOString().slice(0, 10) + 'T00:00:00.000Z', 0, 0],
    ]);
  });

  it('shows the manifests kept by reason, from the last run of each night', () => {
    const rows = answer('kept-by-reason', [at(rowOf('refused'), new Date(night(3).getTime() - 3_600_000)), at(rowOf('demo'), night(3))]);
    const expected = Object.entries(report('demo').summary!.byReason)
      .filter(([reason]) => reason !== 'unused')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([reason, count]) => ({ night: new Date(night(3).toISOString().slice(0, 10)), reason, manifests: count }));
    expect(rows).toEqual(expected);
  });

  it('counts what an interrupted run deleted on the night it was closed', () => {
    const rows = answer('reclaimed-per-night', [at(rowOf('killed'), night(0)), at(rowOf('closer'), night(0))]);
    const killed = report('killed').interruption!;
    const onRecord = [...killed.journalDeleted, ...killed.reconciliation.deleted];
    const closer = report('closer').execution!;
    expect(rows).toEqual([{ night: new Date(night(0).toISOString().slice(0, 10)), bytesReclaimed: bytesOf(onRecord) + closer.bytesReclaimed, manifestsDeleted: onRecord.length + closer.deleted.length }]);
  });

  it('shows the runs that did not complete, and why', () => {
    const rows = answer('not-completed', [...history(), at(rowOf('stuck-lease'), night(1)), at(rowOf('unusable-logs'), night(2)), at(rowOf('killed'), night(3)), at(rowOf('preview'), night(0))]);
    expect(rows.map((row) => [row.outcome, row.reason, row.trigger, row.runs])).toEqual([
      ['failed', 'misconfigured', 'timer', 1],
      ['failed', 'run-lease-stuck', 'timer', 1],
      ['interrupted', 'interrupted', 'timer', 1],
      ['refused', 'logs-unusable', 'timer', 1],
      ['refused', 'too-many-deletions', 'timer', 1],
      ['skipped', 'run-lease-held', 'timer', 1],
    ]);
  });

  it('shows the runs that stopped deleting early, and why', () => {
    const rows = answer('stopped-early', [...history(), at(rowOf('throttled'), night(0))]);
    const execution = report('throttled').execution!;
    expect(rows).toEqual([{ timestamp: night(0), outcome: 'completed', stoppedBy: 'throttled', leftForNextRun: execution.leftForNextRun, stopMessage: execution.stopMessage }]);
  });

  it('shows the log evidence the guards judged at each run', () => {
    const rows = answer('log-evidence', [at(rowOf('demo'), night(1)), at(rowOf('unusable-logs'), night(0)), at(rowOf('stuck-lease'), night(0))]);
    const logs = report('unusable-logs').logs!;
    expect(rows).toEqual([
      { timestamp: night(1), unusablePercent: 0, unusableRecords: 0, uncertainDigests: report('demo').logs!.uncertainDigests },
      { timestamp: night(0), unusablePercent: eventOf('unusable-logs').data.baseData.measurements!.logUnusablePercent, unusableRecords: logs.unusableRecords, uncertainDigests: logs.uncertainDigests },
    ]);
  });

  it('shows run duration and log freshness over time', () => {
    const rows = answer('duration-and-freshness', history());
    expect(rows).toHaveLength(5);
    const demo = eventOf('demo').data.baseData.measurements!;
    expect(rows[0]).toEqual({ timestamp: night(3), runMinutes: demo.durationSeconds! / 60, newestLogRecordAgeHours: demo.logAgeHours });
    expect(rows.find((row) => row.timestamp instanceof Date && row.timestamp.getTime() === night(0).getTime())!.newestLogRecordAgeHours).toBeNull();
  });

  it('lists the last runs, newest first, with links to their reports', () => {
    const rows = answer('last-runs', history());
    expect(rows.map((row) => row.outcome)).toEqual(['failed', 'skipped', 'completed', 'refused', 'completed']);
    const demo = rows[4]!;
    expect(demo).toMatchObject({ trigger: 'timer', stoppedBy: '', failed: 0, manifestsDeleted: report('demo').execution!.deleted.length, bytesReclaimed: report('demo').execution!.bytesReclaimed, leftForNextRun: 0 });
    expect(rows[1]).toMatchObject({ outcome: 'skipped', leaseHolder: 'held-run' });
    expect(demo.htmlReport).toMatch(/-run-demo\.html$/);
    expect(demo.jsonReport).toMatch(/-run-demo\.json$/);
  });
});

describe("the demo run's HTML report, beside its JSON report", () => {
  const topRepositories = () => {
    const perRepository = new Map<string, number>();
    for (const entry of report('demo').execution!.deleted) perRepository.set(entry.repository, (perRepository.get(entry.repository) ?? 0) + bytesOf([entry]));
    return [...perRepository].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).slice(0, 5);
  };

  it('is written to the host storage and shows the same numbers as the telemetry and the JSON report', () => {
    const html = run('demo').html!;
    expect(html).toBeDefined();
    const bytes = eventOf('demo').data.baseData.measurements!.bytesReclaimed!;
    expect(bytes).toBe(report('demo').execution!.bytesReclaimed);
    expect(html).toContain(`<span data-field="outcome">completed</span>`);
    expect(html).toContain(`<span data-field="bytes-reclaimed">${formatBytes(bytes)}</span><small>${bytes.toLocaleString('en-US')} bytes</small>`);
    expect(html).toContain(`<span data-field="manifests-deleted">${report('demo').execution!.deleted.length}</span>`);
    expect(() => assertSelfContained(html)).not.toThrow();
  });

  it('is written beside every report: a step-aside, a stuck lease, a refusal on unusable logs, a throttled run, an interrupted run', () => {
    const html = (name: string) => {
      const page = run(name).html;
      expect(page, `the HTML report of ${name}`).toBeDefined();
      expect(() => assertSelfContained(page!)).not.toThrow();
      return page!;
    };
    expect(html('skipped')).toContain('<span data-field="outcome">skipped</span>');
    expect(html('skipped')).toContain('<code data-field="lease-holder">held-run</code>');
    expect(html('stuck-lease')).toContain(`<span data-field="lease-held-since">${report('stuck-lease').leaseHeldBy!.startedAt}</span>`);
    expect(html('unusable-logs')).toContain('Refused by <strong data-field="guard">logs-unusable</strong>');
    expect(html('unusable-logs')).toContain(`<span data-field="unusable-records">${report('unusable-logs').logs!.unusableRecords.toLocaleString('en-US')}</span>`);
    expect(html('throttled')).toContain('<strong data-field="stopped-by">throttled</strong>');
    const killed = report('killed');
    expect(html('killed')).toContain('<span data-field="outcome">interrupted</span>');
    expect(html('killed')).toContain('<code data-field="closed-by">run-closer</code>');
    expect(html('killed')).toContain(`<span data-field="journal-deleted">${killed.interruption!.journalDeleted.length}</span>`);
    expect(html('closer')).toContain('Interrupted runs this run closed');
  });

  it.skipIf(!chromiumInstalled)('opens in Chromium and shows the outcome, the bytes reclaimed and the top repositories', async () => {
    const html = run('demo').html!;
    await withChromium(async (context) => {
      const page = await context.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.setContent(html, { waitUntil: 'load' });
      expect(await page.locator('[data-field=outcome]').innerText()).toBe('completed');
      const bytes = report('demo').execution!.bytesReclaimed;
      expect(await page.locator('[data-field=bytes-reclaimed]').innerText()).toBe(formatBytes(bytes));
      const shown = await page.locator('#repositories tbody tr').evaluateAll((rows) => rows.slice(0, 5).map((row) => [row.querySelector('td')!.textContent, Number(row.querySelector('[data-bytes]')!.getAttribute('data-bytes'))]));
      expect(shown).toEqual(topRepositories());
      expect(await page.locator('#repositories').isVisible()).toBe(true);
      expect(await page.locator('svg circle').count()).toBe(report('demo').execution!.deleted.length);
      expect(requests).toEqual([]);
      const screenshot = await page.screenshot({ fullPage: true, type: 'png' });
      expect(screenshot.subarray(1, 4).toString()).toBe('PNG');
      // `UPDATE_DOCS_SCREENSHOT=1 npx vitest run test/operators/telemetry.test.ts` refreshes the README's picture.
      if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await writeFile(join(root, 'docs', 'html-report.png'), screenshot);
    });
  });
});
