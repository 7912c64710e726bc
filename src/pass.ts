import { AccessCounts, LogStats } from './accessLog/counts.js';
import { LogSourceError, type AccessLogSource } from './accessLog/sources/source.js';
import { UNUSABLE_REASONS } from './accessLog/record.js';
import { ConfigError, type Config } from './config.js';
import type { ExecutionContext } from './deletion/executor.js';
import type { DeletionJournal, OpenIntent } from './deletion/journal.js';
import type { CheckTiming, ReconciledIntent } from './deletion/reconcile.js';
import { stopRequestOf } from './deletion/stop.js';
import { registryNameOf, type Inventory } from './inventory.js';
import { planCleanup, type Plan } from './plan/plan.js';
import { historyWindow } from './plan/policy.js';
import { DeadlineReached, RunBudget } from './registry/budget.js';
import { PACING_HEADROOM } from './registry/pacer.js';
import { buildReport, logsReport, type BudgetReport, type ExecutionReport, type LogsReport, type PassReport, type PhaseSeconds } from './report.js';

export interface InventorySource {
  readonly description: string;
  /** Lists the registry; every request ends within the budget's request timeout, and the listing by its deadline. */
  load(signal?: AbortSignal, budget?: RunBudget): Promise<Inventory>;
}

export interface DeletionExecutor {
  /** Deletes the plan's deletions in order, starting none after the budget's deadline. */
  execute(plan: Plan, context: ExecutionContext): Promise<ExecutionReport>;
  /** What the registry says now about DELETEs earlier runs journaled but never learned the outcome of. */
  reconcile?(intents: readonly OpenIntent[], budget: RunBudget, timing?: CheckTiming): Promise<ReconciledIntent[]>;
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
  /**
   * Stops the pass (its reason, a StopRequest, says why): reading and listing end at once, deleting stops starting
   * new deletions and lets the ones in flight finish.
   */
  signal?: AbortSignal;
  /** When the run started, if before the pass (the time budget counts from it). */
  startedMs?: number;
  /** Every deletion is journaled here: its intent before the DELETE is sent, its outcome after. */
  journal?: DeletionJournal;
  /** Called as soon as the plan is known (the report is written even if deletion fails later). */
  onPlan?: (report: PassReport) => Promise<void> | void;
}

/**
 * One scan-and-delete pass: logs → access counts → inventory → plan → deletions → report.
 * A log source that cannot be read completely refuses the pass; any other failure is reported in
 * `report.error` with whatever was learned before it.
 */
export async function runPass(config: Config, deps: PassDependencies, options: PassOptions = {}): Promise<PassReport> {
  const startedMs = options.startedMs ?? Date.now();
  const now = deps.clock();
  const log = deps.log ?? (() => {});
  const dryRun = options.dryRun === true || config.dryRun;
  const window = historyWindow(config.policy, now);
  const settings = settingsInEffect(config, dryRun);
  const budget = new RunBudget(startedMs + config.deletion.timeBudgetSeconds * 1000, config.deletion.requestTimeoutSeconds * 1000);
  // Reading and listing may simply stop: at the deadline, or when the caller stops the run.
  const phase = budget.deadlineSignal(options.signal);
  const phases = phaseTimer();
  const failedReport = (logs: LogsReport, error: string) => {
    const report = buildReport({ registry: config.registry?.endpoint ?? '', plan: emptyPlan(config, now), logs, dryRun, settings, execution: null });
    report.error = error;
    report.phaseSeconds = phases.seconds;
    return report;
  };

  // Offline, the snapshot names the registry whose records count: it is read first (a bad snapshot throws
  // InventoryFileError, bad usage), so that the logs are filtered exactly as a live run filters them.
  let inventory: Inventory | undefined;
  if (config.inventoryFile !== undefined) {
    log(`reading ${deps.inventory.description}`);
    inventory = await deps.inventory.load(options.signal, budget);
    phases.end('list');
  }
  const registryName = registryNameForLogs(config, inventory);

  let counts: AccessCounts;
  let logs: LogsReport;
  let stats = new LogStats();
  let logFailure: string | null = null;
  try {
    try {
      log(`reading ${deps.logs.description} from ${new Date(window.startMs).toISOString()} to ${now.toISOString()}`);
      const result = await deps.logs.read({ window, ignoreUserAgents: config.ignoreUserAgents, registryName }, phase.signal);
      counts = result.counts;
      stats = result.stats;
      logs = logsReport(deps.logs.description, stats, counts);
    } catch (error) {
      if (phase.signal.aborted) {
        phases.end('readLogs');
        return failedReport(logsReport(deps.logs.description, stats, new AccessCounts()), stoppedWhile('reading the logs', phase.signal, config));
      }
      if (!(error instanceof LogSourceError)) throw error;
      logFailure = error.message;
      counts = new AccessCounts();
      logs = logsReport(deps.logs.description, stats, counts);
    }
    phases.end('readLogs');

    if (inventory === undefined) {
      log(`listing ${deps.inventory.description}`);
      try {
        inventory = await deps.inventory.load(phase.signal, budget);
      } catch (error) {
        phases.end('list');
        return failedReport(logs, phase.signal.aborted ? stoppedWhile('listing the registry', phase.signal, config) : `listing the registry failed: ${errorMessage(error)}`);
      }
      phases.end('list');
    }
  } finally {
    phase.dispose();
  }

  const plan = planCleanup({ inventory, accesses: counts, policy: config.policy, now });
  if (plan.aborted?.reason === 'logs-unusable') plan.aborted.message += describeUnusable(stats);
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

  report.budget = estimateBudget(plan.deletions.length, config, startedMs);
  if (report.budget.estimatedRuns > 1) {
    log(`the plan needs about ${report.budget.estimatedDeletionSeconds.toFixed(0)} s of deleting; this run can delete about ${report.budget.expectedDeletionsThisRun} of ${plan.deletions.length} (least recently used first) and the next runs continue`);
  }
  try {
    report.execution = await deps.deleter.execute(plan, { budget, signal: options.signal, journal: options.journal });
  } catch (error) {
    report.error = `deleting failed: ${errorMessage(error)}`;
  }
  phases.end('delete');
  return report;
}

/** Times the pass's phases (monotonic clock, so a test's fixed `now` does not matter); a phase met twice adds up. */
function phaseTimer() {
  const seconds: PhaseSeconds = { readLogs: null, list: null, plan: null, delete: null };
  let startedMs = performance.now();
  return {
    seconds,
    end(phase: keyof PhaseSeconds) {
      const nowMs = performance.now();
      seconds[phase] = (seconds[phase] ?? 0) + (nowMs - startedMs) / 1000;
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

/**
 * The registry whose records count: the configured one, or offline the snapshot's. Both given and different is bad
 * usage: the plan would judge one registry's manifests on another's logs.
 */
function registryNameForLogs(config: Config, inventory: Inventory | undefined): string | undefined {
  const configured = config.registry?.name;
  const snapshot = inventory === undefined ? undefined : registryNameOf(inventory);
  if (configured !== undefined && snapshot !== undefined && configured !== snapshot) {
    throw new ConfigError([
      {
        setting: 'CONTAINER_REGISTRY',
        message: `names the registry ${configured}, but the inventory snapshot ${config.inventoryFile} is of ${inventory!.registry} (${snapshot}): give a snapshot of that registry, or leave the registry out to plan for the snapshot's own`,
      },
    ]);
  }
  return configured ?? snapshot;
}

/** The counts by reason and the first bad lines, for the `logs-unusable` refusal. */
function describeUnusable(stats: LogStats): string {
  const byReason = UNUSABLE_REASONS.filter((reason) => stats.skipped[reason] > 0).map((reason) => `${reason} ${stats.skipped[reason]}`);
  const unusable = new Set<string>(UNUSABLE_REASONS);
  const lines = stats.badLines.filter((bad) => unusable.has(bad.reason)).slice(0, 5).map((bad) => `${bad.source}:${bad.line} (${bad.reason}${bad.detail ? `: ${bad.detail}` : ''})`);
  return `${byReason.length > 0 ? `; by reason: ${byReason.join(', ')}` : ''}${lines.length > 0 ? `; first bad lines: ${lines.join('; ')}` : ''}`;
}

/** Why reading or listing stopped: the time budget ended, or the caller stopped the run. Nothing was deleted. */
function stoppedWhile(phase: string, signal: AbortSignal, config: Config): string {
  if (signal.reason instanceof DeadlineReached) {
    return `the time budget (TIME_BUDGET_SECONDS=${config.deletion.timeBudgetSeconds}) ended while ${phase}; nothing was deleted`;
  }
  return `stopped while ${phase} (${stopRequestOf(signal).message}); nothing was deleted`;
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
    logMaxUnusablePercent: policy.logMaxUnusablePercent,
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
    requestTimeoutSeconds: config.deletion.requestTimeoutSeconds,
    credential: config.credential.kind,
  };
}
