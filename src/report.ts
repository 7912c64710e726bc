import type { LogStats } from './accessLog/counts.js';
import type { SkipReason } from './accessLog/record.js';
import type { StopCause } from './deletion/stop.js';
import { formatPercent, unusableShare } from './plan/guards.js';
import type { Decision, KeepReason, Plan } from './plan/plan.js';

export const TOOL_NAME = 'acr-cache-cleaner';
export const TOOL_VERSION = '0.1.0';
export const USER_AGENT_PREFIX = `${TOOL_NAME}/${TOOL_VERSION}`;

export interface DeletionEntry {
  repository: string;
  digest: string;
  tags: string[];
  sizeInBytes: number;
  accessCount: number;
  lastAccess: string | null;
  reason: string;
  /** OCI referrers (signatures, SBOMs) that the registry deletes with this manifest. */
  referrers: ReferrerEntry[];
  /** How this run knows it deleted the manifest, when that is not a plain 202 (e.g. a lost answer, then a 404). */
  note?: string;
}

export interface ReferrerEntry {
  digest: string;
  artifactType: string | null;
  sizeInBytes: number;
}

export interface FailedDeletion {
  repository: string;
  digest: string;
  error: string;
  /** The DELETE may have been carried out (its answer timed out or was lost): the next listing tells. */
  uncertain?: boolean;
}

/** A planned manifest that was gone before this run sent anything for it. */
export interface GoneEntry {
  repository: string;
  digest: string;
}

export interface SkippedDeletion {
  repository: string;
  digest: string;
  why: string;
}

/**
 * What executing the deletions did; absent for a dry run or a refused pass. Every planned deletion is in exactly
 * one of `deleted`, `alreadyGone`, `failed`, `skipped`, or counted in `leftForNextRun`.
 */
export interface ExecutionReport {
  deleted: DeletionEntry[];
  alreadyGone: GoneEntry[];
  failed: FailedDeletion[];
  skipped: SkippedDeletion[];
  leftForNextRun: number;
  /** Why the run stopped starting deletions before its plan was done, and what happened. */
  stoppedBy: StopCause | null;
  stopMessage: string | null;
  /** Where the deletion journal is (a file or a blob), if one was kept. */
  journal: string | null;
  estimatedMoreRuns: number;
  seconds: number;
  bytesReclaimed: number;
  deletesPerMinute: number;
}

/** An interrupted run's journal, checked against the registry by a later run. */
export interface ReconciliationReport {
  /** The journal that had intents without outcomes. */
  journal: string;
  checkedAt: string;
  /** Each intent without an outcome, with what the registry says now. */
  intents: { repository: string; digest: string; state: 'deleted' | 'still-present' | 'unknown'; error?: string }[];
  /** The intents found deleted, with everything their journal entry recorded. */
  deleted: DeletionEntry[];
  stillPresent: number;
  unknown: number;
}

/** The run's time budget, as estimated before deleting. */
export interface BudgetReport {
  timeBudgetSeconds: number;
  /** Spent on reading logs, listing and planning. */
  secondsBeforeDeletion: number;
  /** The planned deletions at the configured rate. */
  estimatedDeletionSeconds: number;
  /** How many of them the rest of the budget allows. */
  expectedDeletionsThisRun: number;
  /** Runs needed for all of them, this one included. */
  estimatedRuns: number;
}

export interface LogsReport {
  source: string;
  filesRead: number;
  bytesRead: number;
  linesRead: number;
  accessesCounted: number;
  distinctManifestsAccessed: number;
  skipped: Record<SkipReason, number>;
  recordsInWindow: number;
  /** Records that could not be used as evidence (see the `logs-unusable` guard). */
  unusableRecords: number;
  /** Distinct digests named by unusable records: manifests with them are kept (`uncertain`). */
  uncertainDigests: number;
  newestRecord: string | null;
  badLines: LogStats['badLines'];
  notes: string[];
}

/** Seconds each phase of the pass took; null for a phase it did not reach. */
export interface PhaseSeconds {
  readLogs: number | null;
  list: number | null;
  plan: number | null;
  delete: number | null;
}

export interface KeptEntry {
  repository: string;
  digest: string;
  reason: KeepReason;
  sizeInBytes: number;
  lastAccess: string | null;
}

export interface PassReport {
  tool: string;
  version: string;
  registry: string;
  now: string;
  dryRun: boolean;
  settings: Record<string, unknown>;
  aborted: string | null;
  abortMessage: string | null;
  delete: DeletionEntry[];
  keep: KeptEntry[];
  logs: LogsReport;
  summary: {
    manifests: number;
    inScope: number;
    toDelete: number;
    /** Referrers that go with their subject among `toDelete`'s manifests (not counted in `toDelete`). */
    referrersWithSubjects: number;
    byReason: Record<string, number>;
    bytesReclaimed: number;
    largestRepositories: { repository: string; manifests: number; bytes: number }[];
  };
  execution: ExecutionReport | null;
  budget: BudgetReport | null;
  phaseSeconds: PhaseSeconds;
  error: string | null;
  /** What an interrupted earlier run left unanswered in the journal, checked against the registry by this run. */
  reconciliation?: ReconciliationReport;
}

export function describeDeletion(decision: Decision, plan: Plan): string {
  const { policy } = plan;
  const last = decision.lastAccessMs === undefined ? 'never accessed' : `last accessed ${new Date(decision.lastAccessMs).toISOString()}`;
  return `accessed ${decision.accessCount} time(s) in ${policy.historyDays} days (minimum ${policy.minAccessCount}), ${last}, last updated ${decision.lastUpdatedOn.toISOString()} (grace ${policy.graceDays} days)`;
}

export function deletionEntry(decision: Decision, plan: Plan): DeletionEntry {
  return {
    repository: decision.repository,
    digest: decision.digest,
    tags: decision.tags,
    sizeInBytes: decision.sizeInBytes,
    accessCount: decision.accessCount,
    lastAccess: decision.lastAccessMs === undefined ? null : new Date(decision.lastAccessMs).toISOString(),
    reason: describeDeletion(decision, plan),
    referrers: decision.referrers.map((referrer) => ({ digest: referrer.digest, artifactType: referrer.artifactType ?? null, sizeInBytes: referrer.sizeInBytes })),
  };
}

/** What deleting a manifest frees: itself and the referrers the registry deletes with it. */
export function reclaimedBytes(decision: Decision): number {
  return decision.referrers.reduce((sum, referrer) => sum + referrer.sizeInBytes, decision.sizeInBytes);
}

export function buildReport(input: {
  registry: string;
  plan: Plan;
  logs: LogsReport;
  dryRun: boolean;
  settings: Record<string, unknown>;
  execution: ExecutionReport | null;
}): PassReport {
  const { plan } = input;
  const byReason: Record<string, number> = {};
  for (const decision of plan.decisions) byReason[decision.reason] = (byReason[decision.reason] ?? 0) + 1;
  const perRepository = new Map<string, { manifests: number; bytes: number }>();
  for (const decision of plan.deletions) {
    const entry = perRepository.get(decision.repository) ?? { manifests: 0, bytes: 0 };
    entry.manifests += 1 + decision.referrers.length;
    entry.bytes += reclaimedBytes(decision);
    perRepository.set(decision.repository, entry);
  }
  const largestRepositories = [...perRepository]
    .map(([repository, entry]) => ({ repository, ...entry }))
    .sort((a, b) => b.bytes - a.bytes || a.repository.localeCompare(b.repository))
    .slice(0, 10);
  return {
    tool: TOOL_NAME,
    version: TOOL_VERSION,
    registry: input.registry,
    now: plan.now.toISOString(),
    dryRun: input.dryRun,
    settings: input.settings,
    aborted: plan.aborted?.reason ?? null,
    abortMessage: plan.aborted?.message ?? null,
    delete: plan.deletions.map((decision) => deletionEntry(decision, plan)),
    keep: plan.decisions
      .filter((decision) => decision.action === 'keep')
      .map((decision) => ({
        repository: decision.repository,
        digest: decision.digest,
        reason: decision.reason as KeepReason,
        sizeInBytes: decision.sizeInBytes,
        lastAccess: decision.lastAccessMs === undefined ? null : new Date(decision.lastAccessMs).toISOString(),
      })),
    logs: input.logs,
    summary: {
      manifests: plan.decisions.length,
      inScope: plan.inScope,
      toDelete: plan.deletions.length,
      byReason,
      referrersWithSubjects: plan.deletions.reduce((sum, decision) => sum + decision.referrers.length, 0),
      bytesReclaimed: plan.deletions.reduce((sum, decision) => sum + reclaimedBytes(decision), 0),
      largestRepositories,
    },
    execution: input.execution,
    budget: null,
    phaseSeconds: { readLogs: null, list: null, plan: null, delete: null },
    error: null,
  };
}

export function logsReport(
  source: string,
  stats: LogStats,
  counts: { size: number; recordsInWindow: number; newestRecordMs: number | undefined; unusableRecords: number; uncertainDigests: ReadonlySet<string> },
): LogsReport {
  return {
    source,
    filesRead: stats.filesRead,
    bytesRead: stats.bytesRead,
    linesRead: stats.records,
    accessesCounted: stats.accessesCounted,
    distinctManifestsAccessed: counts.size,
    skipped: stats.skipped,
    recordsInWindow: counts.recordsInWindow,
    unusableRecords: counts.unusableRecords,
    uncertainDigests: counts.uncertainDigests.size,
    newestRecord: counts.newestRecordMs === undefined ? null : new Date(counts.newestRecordMs).toISOString(),
    badLines: stats.badLines,
    notes: stats.notes,
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** The readable summary of a pass, for a terminal or a log. */
/** How many failures may have been carried out after all (the next run checks them). */
function uncertainCount(failed: readonly FailedDeletion[]): string {
  const uncertain = failed.filter((failure) => failure.uncertain).length;
  return uncertain === 0 ? '' : ` (${uncertain} uncertain: the registry may have deleted them; the next run checks)`;
}

export function formatReportText(report: PassReport): string {
  const lines: string[] = [];
  const { summary, logs, execution } = report;
  lines.push(`acr-cache-cleaner ${report.version} — ${report.registry} at ${report.now}${report.dryRun ? ' (dry run)' : ''}`);
  lines.push(
    `logs: ${logs.source}: ${logs.filesRead} file(s), ${logs.linesRead} record(s), ${logs.accessesCounted} access(es) to ${logs.distinctManifestsAccessed} manifest(s), newest record ${logs.newestRecord ?? 'none'}`,
  );
  const skipped = Object.entries(logs.skipped).filter(([, count]) => count > 0);
  if (skipped.length > 0) lines.push(`  skipped: ${skipped.map(([reason, count]) => `${reason} ${count}`).join(', ')}`);
  if (logs.unusableRecords > 0) {
    const share = formatPercent(unusableShare({ unusableRecords: logs.unusableRecords, recordsInWindow: logs.recordsInWindow }));
    lines.push(`  unusable: ${logs.unusableRecords} record(s) (${share} %, allowed ${String(report.settings.logMaxUnusablePercent)} %), ${logs.uncertainDigests} digest(s) kept as uncertain`);
  }
  for (const bad of logs.badLines.slice(0, 5)) lines.push(`  ${bad.reason} at ${bad.source}:${bad.line}${bad.detail ? ` (${bad.detail})` : ''}`);
  for (const note of logs.notes) lines.push(`  note: ${note}`);
  lines.push(`manifests: ${summary.manifests} (${summary.inScope} in scope)`);
  for (const [reason, count] of Object.entries(summary.byReason).sort()) lines.push(`  ${reason.padEnd(13)} ${count}`);
  if (report.error) lines.push(`FAILED: ${report.error}`);
  if (report.aborted) {
    lines.push(`REFUSED (${report.aborted}): ${report.abortMessage}`);
    lines.push('nothing was deleted');
    return lines.join('\n');
  }
  const withReferrers = summary.referrersWithSubjects > 0 ? ` (and ${summary.referrersWithSubjects} referrer(s) with their subjects)` : '';
  lines.push(`${report.dryRun ? 'would delete' : 'to delete'}: ${summary.toDelete} manifest(s)${withReferrers}, ${formatBytes(summary.bytesReclaimed)}`);
  if (summary.largestRepositories.length > 0) {
    lines.push('largest repositories to clean:');
    for (const entry of summary.largestRepositories.slice(0, 5)) {
      lines.push(`  ${entry.repository}: ${entry.manifests} manifest(s), ${formatBytes(entry.bytes)}`);
    }
  }
  if (report.budget && report.budget.estimatedRuns > 1) {
    const budget = report.budget;
    lines.push(`time budget: ${budget.timeBudgetSeconds} s, ${budget.secondsBeforeDeletion.toFixed(0)} s spent before deleting; the plan needs about ${budget.estimatedDeletionSeconds.toFixed(0)} s, so this run can delete about ${budget.expectedDeletionsThisRun} and about ${budget.estimatedRuns} runs are needed`);
  }
  if (report.reconciliation) {
    const { reconciliation } = report;
    lines.push(`an earlier run left ${reconciliation.intents.length} deletion(s) unanswered in ${reconciliation.journal}: ${reconciliation.deleted.length} deleted, ${reconciliation.stillPresent} still present, ${reconciliation.unknown} unknown`);
  }
  if (execution) {
    lines.push(
      `deleted ${execution.deleted.length} (${formatBytes(execution.bytesReclaimed)}), already gone ${execution.alreadyGone.length}, failed ${execution.failed.length}${uncertainCount(execution.failed)}, skipped ${execution.skipped.length}, left for the next run ${execution.leftForNextRun} in ${execution.seconds.toFixed(1)} s (${execution.deletesPerMinute.toFixed(0)}/min)`,
    );
    if (execution.stoppedBy) lines.push(`stopped (${execution.stoppedBy}): ${execution.stopMessage}; estimated ${execution.estimatedMoreRuns} more run(s) to finish`);
    if (execution.journal) lines.push(`journal: ${execution.journal}`);
    for (const entry of execution.deleted.filter((deleted) => deleted.note !== undefined).slice(0, 10)) lines.push(`  deleted ${entry.repository}@${entry.digest}: ${entry.note}`);
    for (const failure of execution.failed.slice(0, 10)) lines.push(`  ${failure.uncertain ? 'uncertain' : 'failed'} ${failure.repository}@${failure.digest}: ${failure.error}`);
    for (const skip of execution.skipped.slice(0, 10)) lines.push(`  skipped ${skip.repository}@${skip.digest}: ${skip.why}`);
  }
  return lines.join('\n');
}
