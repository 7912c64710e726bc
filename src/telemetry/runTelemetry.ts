import { UNUSABLE_REASONS } from '../accessLog/record.js';
import { ConfigError } from '../config.js';
import type { JobResult } from '../job.js';
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
  'reportUrl',
  'htmlReportUrl',
  'stoppedBy',
  'newestLogRecord',
  'logSource',
  'keptByReason',
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
  'manifestsDeleted',
  'deletionsFailed',
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
  'logAgeHours',
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
  result?: JobResult & { htmlReportUrl?: string };
  /** What the run threw (a bad setting, an unreachable host storage, …). */
  error?: unknown;
}

const MESSAGE_LIMIT = 2000;

/** The one telemetry record of a run: a pure function of how the run ended. */
export function runTelemetryRecord(input: RunTelemetryInput): RunTelemetryRecord {
  const { result } = input;
  const report = result?.report;
  const outcome = result?.outcome ?? 'failed';
  const message = result?.message ?? describeError(input.error);
  const properties: Record<RunEventProperty, string> = {
    invocationId: input.invocationId,
    trigger: input.trigger,
    outcome,
    reason: reasonOf(input),
    message: message.length > MESSAGE_LIMIT ? `${message.slice(0, MESSAGE_LIMIT - 1)}…` : message,
    dryRun: report ? String(report.dryRun) : '',
    registry: report?.registry ?? '',
    reportUrl: result?.reportUrl ?? '',
    htmlReportUrl: result?.htmlReportUrl ?? '',
    stoppedBy: report?.execution?.stoppedBy ?? '',
    newestLogRecord: report?.logs.newestRecord ?? '',
    logSource: report?.logs.source ?? '',
    keptByReason: report ? JSON.stringify(keptByReason(report)) : '',
    startedAt: input.startedAt.toISOString(),
    toolVersion: TOOL_VERSION,
  };
  const measurements: Partial<Record<RunEventMeasurement, number>> = {
    durationSeconds: (input.finishedAt.getTime() - input.startedAt.getTime()) / 1000,
    ...(report ? reportMeasurements(report) : {}),
  };
  return { name: RUN_EVENT_NAME, time: input.finishedAt, properties, measurements };
}

/** Refused: the guard. Failed: what kind of failure. Skipped: why it stepped aside. Completed: ''. */
function reasonOf({ result, error }: RunTelemetryInput): string {
  if (result === undefined) return error instanceof ConfigError ? 'misconfigured' : 'error';
  const report = result.report;
  switch (result.outcome) {
    case 'refused':
      return report?.aborted ?? '';
    case 'skipped':
      return 'run-lease-held';
    case 'failed':
      return report !== undefined && report.error === null && (report.execution?.failed.length ?? 0) > 0 ? 'deletions-failed' : 'error';
    case 'completed':
      return '';
    default:
      return report?.execution?.stoppedBy ?? '';
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
  const skipped = Object.values(logs.skipped).reduce((sum, count) => sum + count, 0);
  const unusableSkips = UNUSABLE_REASONS.reduce((sum, reason) => sum + (logs.skipped[reason] ?? 0), 0);
  const unusable = (logs as { unusableRecords?: number }).unusableRecords ?? unusableSkips;
  const measurements: Partial<Record<RunEventMeasurement, number>> = {
    manifestsListed: summary.manifests,
    manifestsInScope: summary.inScope,
    manifestsPlanned: summary.toDelete,
    manifestsKept: report.keep.length,
    manifestsDeferred: keptByReason(report).deferred ?? 0,
    manifestsDeleted: execution?.deleted.length ?? 0,
    deletionsFailed: execution?.failed.length ?? 0,
    deletionsSkipped: execution?.skipped.length ?? 0,
    alreadyGone: execution?.alreadyGone ?? 0,
    leftForNextRun: execution?.leftForNextRun ?? 0,
    estimatedMoreRuns: execution?.estimatedMoreRuns ?? 0,
    bytesPlanned: summary.bytesReclaimed,
    bytesReclaimed: execution?.bytesReclaimed ?? 0,
    logLinesRead: logs.linesRead,
    logAccessesCounted: logs.accessesCounted,
    logRecordsInWindow: logs.recordsInWindow,
    logLinesSkipped: skipped,
    logRecordsUnusable: unusable,
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
