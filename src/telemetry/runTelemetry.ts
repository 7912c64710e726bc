import { ConfigError } from '../config.js';
import type { InterruptedRun, JobResult } from '../job.js';
import { unusableShare } from '../plan/guards.js';
import { TOOL_VERSION, type PassReport } from '../report.js';

/**
 * The name of the one custom event each run sends: the `name` column of Application Insights' `customEvents`
 * table, which the alerts in infra/app/monitoring/ and the workbook query.
 */
export const RUN_EVENT_NAME = 'AcrCacheCleanerRun';

/** What the alerts and the workbook read as the event's `customDimensions` (strings, '' when not applicable). */
export const RUN_EVENT_PROPERTIES = [
  'invocationId',
  'trigger',
  'outcome',
  'reason',
  'message',
  'dryRun',
  'registry',
  'requestId',
  'reportUrl',
  'htmlReportUrl',
  'stoppedBy',
  'stopMessage',
  'newestLogRecord',
  'logSource',
  'keptByReason',
  'leaseHolder',
  'leaseHolderTrigger',
  'leaseHeldSince',
  'closedBy',
  'startedAt',
  'toolVersion',
] as const;
export type RunEventProperty = (typeof RUN_EVENT_PROPERTIES)[number];

/** Its `customMeasurements` (numbers); a measurement the run never got to is absent rather than 0. */
export const RUN_EVENT_MEASUREMENTS = [
  'durationSeconds',
  'phaseReadLogsSeconds',
  'phaseListSeconds',
  'phasePlanSeconds',
  'phaseDeleteSeconds',
  'manifestsListed',
  'manifestsInScope',
  'manifestsPlanned',
  'manifestsKept',
  'manifestsDeferred',
  'manifestsUncertain',
  'manifestsDeleted',
  'referrersDeleted',
  'deletionsFailed',
  'deletionsUncertain',
  'deletionsSkipped',
  'alreadyGone',
  'leftForNextRun',
  'estimatedMoreRuns',
  'bytesPlanned',
  'bytesReclaimed',
  'logLinesRead',
  'logAccessesCounted',
  'logRecordsInWindow',
  'logLinesSkipped',
  'logRecordsUnusable',
  'logUnusablePercent',
  'logUncertainDigests',
  'logAgeHours',
  'leaseHeldSeconds',
  'interruptedRunsClosed',
  'deletionsStillPresent',
  'deletionsUnknown',
] as const;
export type RunEventMeasurement = (typeof RUN_EVENT_MEASUREMENTS)[number];

export interface RunTelemetryRecord {
  name: typeof RUN_EVENT_NAME;
  /** When the run ended: the event's `timestamp`. */
  time: Date;
  properties: Record<RunEventProperty, string>;
  measurements: Partial<Record<RunEventMeasurement, number>>;
}

export interface RunTelemetryInput {
  invocationId: string;
  trigger: string;
  startedAt: Date;
  finishedAt: Date;
  /** What the run returned; absent when it threw. */
  result?: JobResult;
  /** What the run threw (a bad setting, an unreachable host storage, …). */
  error?: unknown;
}

const MESSAGE_LIMIT = 2000;
/** Stopped for a reason that needs a person: the run failed (src/job.ts). */
const FAILING_STOPS = new Set(['lease-lost', 'journal-failed', 'permission-denied']);

/**
 * The telemetry of a run: its own record, and one for each earlier run it found interrupted and closed (that run
 * never sent its own: it did not finish). Every run thus has exactly one event.
 */
export function runTelemetryRecords(input: RunTelemetryInput): RunTelemetryRecord[] {
  return [runTelemetryRecord(input), ...(input.result?.interrupted ?? []).map((run) => interruptedRunRecord(run, input.invocationId))];
}

/** The one telemetry record of a run: a pure function of how the run ended. */
export function runTelemetryRecord(input: RunTelemetryInput): RunTelemetryRecord {
  const { result } = input;
  const report = result?.report;
  const execution = report?.execution;
  const holder = result?.leaseHeldBy;
  const properties = emptyProperties({
    invocationId: input.invocationId,
    trigger: input.trigger,
    outcome: result?.outcome ?? 'failed',
    reason: reasonOf(input),
    message: limited(result?.message ?? describeError(input.error)),
    dryRun: report ? String(report.dryRun) : '',
    registry: report?.registry ?? '',
    reportUrl: result?.reportUrl ?? '',
    htmlReportUrl: result?.htmlReportUrl ?? '',
    stoppedBy: execution?.stoppedBy ?? '',
    stopMessage: limited(execution?.stopMessage ?? ''),
    newestLogRecord: report?.logs.newestRecord ?? '',
    logSource: report?.logs.source ?? '',
    keptByReason: report ? JSON.stringify(keptByReason(report)) : '',
    leaseHolder: holder?.run ?? '',
    leaseHolderTrigger: holder?.trigger ?? '',
    leaseHeldSince: holder?.startedAt ?? '',
    startedAt: input.startedAt.toISOString(),
  });
  const measurements: Partial<Record<RunEventMeasurement, number>> = {
    durationSeconds: (input.finishedAt.getTime() - input.startedAt.getTime()) / 1000,
    ...(report ? reportMeasurements(report) : {}),
  };
  if (typeof holder?.heldForSeconds === 'number') measurements.leaseHeldSeconds = holder.heldForSeconds;
  if (result?.interrupted !== undefined) measurements.interruptedRunsClosed = result.interrupted.length;
  return { name: RUN_EVENT_NAME, time: input.finishedAt, properties, measurements };
}

/** An earlier run this run closed: its report now says `interrupted`; what its journal and the registry say it did. */
function interruptedRunRecord(run: InterruptedRun, closedBy: string): RunTelemetryRecord {
  const properties = emptyProperties({
    invocationId: run.holder.run,
    trigger: run.holder.trigger,
    outcome: 'interrupted',
    reason: 'interrupted',
    message: limited(run.message),
    dryRun: String(run.holder.dryRun),
    registry: run.registry ?? '',
    reportUrl: run.closed.report,
    htmlReportUrl: run.htmlReportUrl ?? '',
    closedBy,
    startedAt: run.holder.startedAt,
  });
  const measurements: Partial<Record<RunEventMeasurement, number>> = {
    manifestsDeleted: run.closed.deleted,
    bytesReclaimed: run.bytesReclaimed,
    deletionsStillPresent: run.closed.stillPresent,
    deletionsUnknown: run.closed.unknown,
  };
  return { name: RUN_EVENT_NAME, time: new Date(run.closedAt), properties, measurements };
}

function emptyProperties(given: Partial<Record<RunEventProperty, string>>): Record<RunEventProperty, string> {
  const properties = Object.fromEntries(RUN_EVENT_PROPERTIES.map((name) => [name, ''])) as Record<RunEventProperty, string>;
  return { ...properties, ...given, toolVersion: TOOL_VERSION };
}

function limited(message: string): string {
  return message.length > MESSAGE_LIMIT ? `${message.slice(0, MESSAGE_LIMIT - 1)}…` : message;
}

/**
 * Refused: the guard. Failed: what kind of failure. Skipped: why it stepped aside. Completed: ''.
 * (A run that threw: `misconfigured` for a bad setting, else `error`.)
 */
function reasonOf({ result, error }: RunTelemetryInput): string {
  if (result === undefined) return error instanceof ConfigError ? 'misconfigured' : 'error';
  const report = result.report;
  const execution = report?.execution;
  switch (result.outcome) {
    case 'refused':
      return report?.aborted ?? '';
    case 'skipped':
      // A preview's dry run that gave way to the nightly run, or a run that found the lease held.
      return report !== undefined ? 'lease-lost' : 'run-lease-held';
    case 'failed':
      if (report === undefined) return result.leaseHeldBy !== undefined ? 'run-lease-stuck' : 'error';
      if (report.error !== null) return 'error';
      if ((execution?.failed.length ?? 0) > 0) return 'deletions-failed';
      return execution?.stoppedBy && FAILING_STOPS.has(execution.stoppedBy) ? execution.stoppedBy : 'error';
    default:
      return '';
  }
}

function describeError(error: unknown): string {
  if (error === undefined) return 'the run ended without a result';
  return error instanceof Error ? error.message : String(error);
}

export function keptByReason(report: PassReport): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kept of report.keep) counts[kept.reason] = (counts[kept.reason] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

function reportMeasurements(report: PassReport): Partial<Record<RunEventMeasurement, number>> {
  const { summary, execution, logs, phaseSeconds } = report;
  const kept = keptByReason(report);
  const skipped = Object.values(logs.skipped).reduce((sum, count) => sum + count, 0);
  const measurements: Partial<Record<RunEventMeasurement, number>> = {
    manifestsListed: summary.manifests,
    manifestsInScope: summary.inScope,
    manifestsPlanned: summary.toDelete,
    manifestsKept: report.keep.length,
    manifestsDeferred: kept.deferred ?? 0,
    manifestsUncertain: kept.uncertain ?? 0,
    manifestsDeleted: execution?.deleted.length ?? 0,
    referrersDeleted: execution?.deleted.reduce((sum, entry) => sum + entry.referrers.length, 0) ?? 0,
    deletionsFailed: execution?.failed.length ?? 0,
    deletionsUncertain: execution?.failed.filter((failure) => failure.uncertain === true).length ?? 0,
    deletionsSkipped: execution?.skipped.length ?? 0,
    alreadyGone: execution?.alreadyGone.length ?? 0,
    leftForNextRun: execution?.leftForNextRun ?? 0,
    estimatedMoreRuns: execution?.estimatedMoreRuns ?? 0,
    bytesPlanned: summary.bytesReclaimed,
    bytesReclaimed: execution?.bytesReclaimed ?? 0,
    logLinesRead: logs.linesRead,
    logAccessesCounted: logs.accessesCounted,
    logRecordsInWindow: logs.recordsInWindow,
    logLinesSkipped: skipped,
    logRecordsUnusable: logs.unusableRecords,
    logUnusablePercent: unusableShare({ unusableRecords: logs.unusableRecords, recordsInWindow: logs.recordsInWindow }),
    logUncertainDigests: logs.uncertainDigests,
  };
  if (logs.newestRecord !== null) measurements.logAgeHours = (Date.parse(report.now) - Date.parse(logs.newestRecord)) / 3_600_000;
  const phases: [RunEventMeasurement, number | null | undefined][] = [
    ['phaseReadLogsSeconds', phaseSeconds?.readLogs],
    ['phaseListSeconds', phaseSeconds?.list],
    ['phasePlanSeconds', phaseSeconds?.plan],
    ['phaseDeleteSeconds', phaseSeconds?.delete],
  ];
  for (const [name, seconds] of phases) if (typeof seconds === 'number') measurements[name] = seconds;
  return measurements;
}
