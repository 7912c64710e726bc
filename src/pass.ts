import { AccessCounts, LogStats } from './accessLog/counts.js';
import { LogSourceError, type AccessLogSource } from './accessLog/sources/source.js';
import type { Config } from './config.js';
import type { Inventory } from './inventory.js';
import { planCleanup, type Plan } from './plan/plan.js';
import { historyWindow } from './plan/policy.js';
import { PACING_HEADROOM } from './registry/pacer.js';
import { buildReport, logsReport, type BudgetReport, type ExecutionReport, type LogsReport, type PassReport, type PhaseSeconds } from './report.js';

export interface InventorySource {
  readonly description: string;
  load(signal?: AbortSignal): Promise<Inventory>;
}

export interface DeletionExecutor {
  /** Deletes the plan's deletions in order, starting none after `deadlineMs`. */
  execute(plan: Plan, options: { deadlineMs: number; signal?: AbortSignal }): Promise<ExecutionReport>;
}

export interface PassDependencies {
  logs: AccessLogSource;
  inventory: InventorySource;
  /** Needed unless the pass is a dry run. */
  deleter?: DeletionExecutor;
  clock: () => Date;
  log?: (message: string) => void;
}

export interface PassOptions {
  /** Forces a dry run whatever the config says (the preview function). */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Called as soon as the plan is known (the report is written even if deletion fails later). */
  onPlan?: (report: PassReport) => Promise<void> | void;
}

/**
 * One scan-and-delete pass: logs → access counts → inventory → plan → deletions → report.
 * A log source that cannot be read completely refuses the pass; any other failure is reported in
 * `report.error` with whatever was learned before it.
 */
export async function runPass(config: Config, deps: PassDependencies, options: PassOptions = {}): Promise<PassReport> {
  const startedMs = Date.now();
  const now = deps.clock();
  const log = deps.log ?? (() => {});
  const dryRun = options.dryRun === true || config.dryRun;
  const window = historyWindow(config.policy, now);
  const settings = settingsInEffect(config, dryRun);

  const phases = phaseTimer();
  let counts: AccessCounts;
  let logs: LogsReport;
  let logFailure: string | null = null;
  try {
    log(`reading ${deps.logs.description} from ${new Date(window.startMs).toISOString()} to ${now.toISOString()}`);
    const result = await deps.logs.read(
      { window, ignoreUserAgents: config.ignoreUserAgents, registryName: config.registry?.name },
      options.signal,
    );
    counts = result.counts;
    logs = logsReport(deps.logs.description, result.stats, counts);
  } catch (error) {
    if (!(error instanceof LogSourceError)) throw error;
    logFailure = error.message;
    counts = new AccessCounts();
    logs = logsReport(deps.logs.description, new LogStats(), counts);
  }

  phases.end('readLogs');

  log(`listing ${deps.inventory.description}`);
  let inventory: Inventory;
  try {
    inventory = await deps.inventory.load(options.signal);
  } catch (error) {
    phases.end('list');
    const report = buildReport({ registry: config.registry?.endpoint ?? '', plan: emptyPlan(config, now), logs, dryRun, settings, execution: null });
    report.error = `listing the registry failed: ${errorMessage(error)}`;
    report.phaseSeconds = phases.seconds;
    return report;
  }
  phases.end('list');

  const plan = planCleanup({ inventory, accesses: counts, policy: config.policy, now });
  if (logFailure !== null) {
    plan.aborted = { reason: 'logs-unavailable', message: `the logs could not be read completely: ${logFailure}` };
    plan.deletions = [];
  }
  const report = buildReport({ registry: inventory.registry, plan, logs, dryRun, settings, execution: null });
  phases.end('plan');
  report.phaseSeconds = phases.seconds;
  await options.onPlan?.(report);
  phases.restart();
  if (plan.aborted || dryRun || plan.deletions.length === 0) return report;
  if (deps.deleter === undefined) throw new Error('a pass that deletes needs a deleter');

  const deadlineMs = startedMs + config.deletion.timeBudgetSeconds * 1000;
  report.budget = estimateBudget(plan.deletions.length, config, startedMs);
  if (report.budget.estimatedRuns > 1) {
    log(`the plan needs about ${report.budget.estimatedDeletionSeconds.toFixed(0)} s of deleting; this run can delete about ${report.budget.expectedDeletionsThisRun} of ${plan.deletions.length} (least recently used first) and the next runs continue`);
  }
  try {
    report.execution = await deps.deleter.execute(plan, { deadlineMs, signal: options.signal });
  } catch (error) {
    report.error = `deleting failed: ${errorMessage(error)}`;
  }
  phases.end('delete');
  report.phaseSeconds = phases.seconds;
  return report;
}

/** Times the pass's phases one after the other (monotonic clock, so a test's fixed `now` does not matter). */
function phaseTimer() {
  const seconds: PhaseSeconds = { readLogs: null, list: null, plan: null, delete: null };
  let startedMs = performance.now();
  return {
    seconds,
    end(phase: keyof PhaseSeconds) {
      const nowMs = performance.now();
      seconds[phase] = (nowMs - startedMs) / 1000;
      startedMs = nowMs;
    },
    /** Writing the planned report is not part of any phase. */
    restart() {
      startedMs = performance.now();
    },
  };
}

/** The deletion time the plan needs at the configured rate, against what is left of the time budget. */
export function estimateBudget(deletions: number, config: Config, startedMs: number, nowMs = Date.now()): BudgetReport {
  const { timeBudgetSeconds, deletesPerMinute } = config.deletion;
  const perSecond = (deletesPerMinute * PACING_HEADROOM) / 60;
  const secondsBeforeDeletion = (nowMs - startedMs) / 1000;
  const left = Math.max(0, timeBudgetSeconds - secondsBeforeDeletion);
  const expectedDeletionsThisRun = Math.min(deletions, Math.floor(left * perSecond));
  const perFullRun = Math.max(1, Math.floor(timeBudgetSeconds * perSecond));
  const rest = deletions - expectedDeletionsThisRun;
  return {
    timeBudgetSeconds,
    secondsBeforeDeletion,
    estimatedDeletionSeconds: deletions / perSecond,
    expectedDeletionsThisRun,
    estimatedRuns: rest <= 0 ? 1 : 1 + Math.ceil(rest / perFullRun),
  };
}

function emptyPlan(config: Config, now: Date): Plan {
  return { now, policy: config.policy, decisions: [], deletions: [], aborted: null, inScope: 0, candidates: 0 };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The settings that shaped the pass, for the report; never a secret. */
export function settingsInEffect(config: Config, dryRun: boolean): Record<string, unknown> {
  const { policy, logs } = config;
  return {
    registry: config.registry?.endpoint ?? null,
    inventoryFile: config.inventoryFile ?? null,
    logSource:
      logs.kind === 'dir'
        ? { kind: 'dir', directory: logs.directory, pathPattern: logs.pathPattern }
        : logs.kind === 'workspace'
          ? { kind: 'workspace', workspaceId: logs.workspaceId }
          : {
              kind: 'storage',
              account: logs.account.kind === 'url' ? logs.account.url : 'connection string (not shown)',
              container: logs.container,
              pathPattern: logs.pathPattern,
              resourceId: logs.resourceId ?? null,
            },
    cacheHistoryDays: policy.historyDays,
    cacheMinAccessCount: policy.minAccessCount,
    graceDays: policy.graceDays,
    logMaxStalenessHours: policy.logMaxStalenessHours,
    maxDeletePercent: policy.maxDeletePercent,
    maxDeletes: policy.maxDeletes ?? null,
    repositoryFilter: policy.repositoryFilter?.source ?? null,
    protectTags: policy.protectTags?.source ?? null,
    ignoreUserAgents: config.ignoreUserAgents?.source ?? null,
    dryRun,
    concurrency: config.deletion.concurrency,
    readsPerMinute: config.deletion.readsPerMinute,
    deletesPerMinute: config.deletion.deletesPerMinute,
    timeBudgetSeconds: config.deletion.timeBudgetSeconds,
    credential: config.credential.kind,
  };
}
