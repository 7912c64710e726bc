import type { Decision, Plan } from '../plan/plan.js';
import type { RunBudget } from '../registry/budget.js';
import { RatePacer } from '../registry/pacer.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../registry/retry.js';
import { deletionEntry, formatBytes, reclaimedBytes, type DeletionEntry, type ExecutionReport, type FailedDeletion, type GoneEntry, type SkippedDeletion } from '../report.js';
import type { DeletionJournal, JournalOutcome, OutcomeDetails } from './journal.js';
import { DeletionSchedule, SAME_REPOSITORY_LOOKAHEAD, type WorkerPosition } from './schedule.js';
import { deleteWithRetries, describeError, readWithRetries, type AttemptContext, type DeleteResult, type ManifestState, type RegistryPort } from './statusPolicy.js';
import { StopRequest, stopRequestOf } from './stop.js';

export interface ExecutorOptions {
  concurrency: number;
  deletesPerMinute: number;
  /**
   * Re-reads each manifest just before deleting it and keeps it when this says why (it was locked, tagged or
   * pushed again since the listing). Costs one paced read per deletion.
   */
  recheck?: { readsPerMinute: number; keepReason: (current: ManifestState) => string | undefined };
  retry?: RetryPolicy;
  progressIntervalMs?: number;
  log?: (message: string) => void;
}

export interface ExecutionContext {
  budget: RunBudget;
  /** Aborting stops starting deletions (a {@link StopRequest} reason says why); the ones in flight finish. */
  signal?: AbortSignal;
  /** Every DELETE's intent is durable here before it is sent, and its outcome follows. */
  journal?: DeletionJournal;
}

/** What happened to one taken deletion, as the report and the journal record it. */
type Settled =
  | { kind: 'deleted'; note?: string }
  | { kind: 'already-gone' }
  | { kind: 'skipped'; why: string; journaled: boolean }
  | { kind: 'failed'; error: string; uncertain: boolean; journaled: boolean }
  | { kind: 'denied'; error: string }
  | { kind: 'left'; stop: StopRequest; journaled: boolean };

/**
 * Executes a plan's deletions with a pool of workers (one {@link RegistryPort} each): paced, journaled, retried
 * within the time budget, and stopped — without abandoning the deletions in flight — when the budget ends, the
 * registry throttles past it, the lease is lost, the identity may not delete, or the caller asks.
 */
export function executeDeletions(plan: Plan, newPort: () => RegistryPort, options: ExecutorOptions, context: ExecutionContext): Promise<ExecutionReport> {
  return new DeletionRun(plan, newPort, options, context).execute();
}

class DeletionRun {
  private readonly startedMs = Date.now();
  private readonly log: (message: string) => void;
  private readonly deletePacer: RatePacer;
  private readonly readPacer: RatePacer | undefined;
  private readonly schedule: DeletionSchedule;
  private readonly attempt: AttemptContext;
  private readonly deleted: DeletionEntry[] = [];
  private readonly alreadyGone: GoneEntry[] = [];
  private readonly failed: FailedDeletion[] = [];
  private readonly skipped: SkippedDeletion[] = [];
  private bytes = 0;
  private stop: StopRequest | undefined;

  constructor(
    private readonly plan: Plan,
    private readonly newPort: () => RegistryPort,
    private readonly options: ExecutorOptions,
    private readonly context: ExecutionContext,
  ) {
    this.log = options.log ?? (() => {});
    this.deletePacer = new RatePacer(options.deletesPerMinute);
    this.readPacer = options.recheck === undefined ? undefined : new RatePacer(options.recheck.readsPerMinute);
    this.schedule = new DeletionSchedule(plan.deletions, Math.max(SAME_REPOSITORY_LOOKAHEAD, Math.round(options.deletesPerMinute * 2)));
    const journal = context.journal;
    this.attempt = { pacer: this.deletePacer, retry: options.retry ?? DEFAULT_RETRY, budget: context.budget, stopped: () => this.stopped(), confirm: () => journal?.confirm() ?? Promise.resolve() };
  }

  async execute(): Promise<ExecutionReport> {
    const progress = setInterval(() => this.log(this.progressLine()), this.options.progressIntervalMs ?? 10_000);
    progress.unref();
    const onAbort = () => this.stopped();
    this.context.signal?.addEventListener('abort', onAbort);
    try {
      await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency) }, () => this.work()));
    } finally {
      clearInterval(progress);
      this.context.signal?.removeEventListener('abort', onAbort);
      this.schedule.wake();
      await this.context.journal?.flush();
    }
    return this.summary();
  }

  /** One worker: takes deletions until none is left or the run stops. */
  private async work(): Promise<void> {
    const port = this.newPort();
    const position: WorkerPosition = {};
    while (this.stopped() === undefined) {
      const next = this.schedule.take(position);
      if (next === undefined) return;
      if (next === 'wait') {
        await this.schedule.changed();
        continue;
      }
      if (this.context.budget.expired()) {
        this.record(next, { kind: 'left', stop: new StopRequest('time-budget', `the time budget ended ${Math.round((Date.now() - this.startedMs) / 1000)} s into deleting`), journaled: false });
        return;
      }
      this.record(next, await this.deleteOne(port, next));
    }
  }

  /** Deletes one manifest, journaled: the intent is durable before the DELETE goes out. */
  private async deleteOne(port: RegistryPort, decision: Decision): Promise<Settled> {
    const { budget, journal } = this.context;
    const parents = this.schedule.parentsNotGone(decision);
    if (parents.length > 0) return { kind: 'skipped', why: `its index ${parents.join(', ')} was not deleted, so it is still needed`, journaled: false };
    const recheck = await this.recheck(port, decision);
    if (recheck !== undefined) return recheck;
    if (!(await this.deletePacer.acquire(undefined, budget))) return { kind: 'left', stop: new StopRequest('time-budget', 'the time budget ended'), journaled: false };
    const before = this.stopped();
    if (before !== undefined) return { kind: 'left', stop: before, journaled: false };
    try {
      await journal?.intent(deletionEntry(decision, this.plan));
    } catch (error) {
      const why = error instanceof StopRequest ? error : new StopRequest('journal-failed', `the deletion journal could not be written, so no DELETE may be sent: ${describeError(error)}`);
      return { kind: 'left', stop: why, journaled: false };
    }
    // Committing may have waited (a lease take-over's quiet period): nothing starts after the deadline.
    if (budget.expired()) return { kind: 'left', stop: new StopRequest('time-budget', 'the time budget ended'), journaled: true };
    return fromResult(await deleteWithRetries(port, decision.repository, decision.digest, this.attempt));
  }

  /** The manifest re-read just before deleting: how it settles if it must not be deleted now, else undefined. */
  private async recheck(port: RegistryPort, decision: Decision): Promise<Settled | undefined> {
    if (this.readPacer === undefined) return undefined;
    const current = await readWithRetries(port, decision.repository, decision.digest, { ...this.attempt, pacer: this.readPacer });
    if ('stop' in current) return { kind: 'left', stop: current.stop, journaled: false };
    if ('gone' in current) return { kind: 'already-gone' };
    if ('error' in current) return { kind: 'failed', error: `re-reading it before deleting failed: ${current.error}`, uncertain: false, journaled: false };
    const keep = this.options.recheck!.keepReason(current.state);
    return keep === undefined ? undefined : { kind: 'skipped', why: keep, journaled: false };
  }

  /** Puts a settled deletion in the report and the journal, and lets the deletions waiting for it go. */
  private record(decision: Decision, settled: Settled): void {
    const { repository, digest } = decision;
    switch (settled.kind) {
      case 'deleted':
        this.deleted.push({ ...deletionEntry(decision, this.plan), ...(settled.note === undefined ? {} : { note: settled.note }) });
        this.bytes += reclaimedBytes(decision);
        this.journalOutcome(decision, 'deleted', settled.note === undefined ? {} : { note: settled.note });
        break;
      case 'already-gone':
        this.alreadyGone.push({ repository, digest });
        this.journalOutcome(decision, 'already-gone');
        break;
      case 'skipped':
        this.skipped.push({ repository, digest, why: settled.why });
        if (settled.journaled) this.journalOutcome(decision, 'locked');
        break;
      case 'failed':
        this.failed.push({ repository, digest, error: settled.error, ...(settled.uncertain ? { uncertain: true } : {}) });
        if (settled.journaled) this.journalOutcome(decision, settled.uncertain ? 'uncertain' : 'failed', { error: settled.error });
        break;
      case 'denied':
        this.failed.push({ repository, digest, error: `refused: no permission to delete (${settled.error})` });
        this.journalOutcome(decision, 'denied', { error: settled.error });
        this.requestStop(new StopRequest('permission-denied', permissionMessage(repository)));
        break;
      case 'left':
        this.schedule.putBack(decision);
        if (settled.journaled) this.journalOutcome(decision, 'not-sent', { note: settled.stop.message });
        this.requestStop(settled.stop);
        return;
    }
    this.schedule.settle(decision, settled.kind === 'deleted' || settled.kind === 'already-gone');
  }

  /** Committed with the next append; not waited for (an outcome that never lands is reconciled by the next run). */
  private journalOutcome(decision: Decision, outcome: JournalOutcome, details: OutcomeDetails = {}): void {
    this.context.journal?.outcome(decision.repository, decision.digest, outcome, details).catch((error: unknown) => {
      this.log(`warning: the journal could not record the outcome of ${decision.repository}@${decision.digest}: ${describeError(error)}`);
    });
  }

  private requestStop(request: StopRequest): void {
    if (this.stop === undefined) {
      this.stop = request;
      this.log(`stopping: ${request.message}`);
    }
    this.schedule.wake();
  }

  /** Why the run stopped starting deletions, if it did (the caller's signal counts). */
  private stopped(): StopRequest | undefined {
    if (this.stop === undefined && this.context.signal?.aborted) this.requestStop(stopRequestOf(this.context.signal));
    return this.stop;
  }

  private progressLine(): string {
    const seconds = (Date.now() - this.startedMs) / 1000;
    return `deleted ${this.deleted.length + this.alreadyGone.length}/${this.schedule.size} (${((this.deleted.length / Math.max(seconds, 0.001)) * 60).toFixed(0)}/min, ${formatBytes(this.bytes)}), failed ${this.failed.length}`;
  }

  private summary(): ExecutionReport {
    const seconds = (Date.now() - this.startedMs) / 1000;
    const leftForNextRun = this.schedule.untaken;
    const perRun = Math.max(1, this.deleted.length + this.alreadyGone.length);
    this.log(`deleted ${this.deleted.length}, already gone ${this.alreadyGone.length}, failed ${this.failed.length}, skipped ${this.skipped.length}, left for the next run ${leftForNextRun}`);
    return {
      deleted: this.deleted,
      alreadyGone: this.alreadyGone,
      failed: this.failed,
      skipped: this.skipped,
      leftForNextRun,
      stoppedBy: this.stop?.by ?? null,
      stopMessage: this.stop?.message ?? null,
      journal: this.context.journal?.location ?? null,
      estimatedMoreRuns: leftForNextRun > 0 ? Math.ceil(leftForNextRun / perRun) : 0,
      seconds,
      bytesReclaimed: this.bytes,
      deletesPerMinute: (this.deleted.length / Math.max(seconds, 0.001)) * 60,
    };
  }
}

/** A settled deletion from the status policy's verdict (its intent was journaled). */
function fromResult(result: DeleteResult): Settled {
  switch (result.outcome) {
    case 'deleted':
      return { kind: 'deleted', note: result.note };
    case 'already-gone':
      return { kind: 'already-gone' };
    case 'locked':
      return { kind: 'skipped', why: 'the registry refused: the manifest is locked', journaled: true };
    case 'failed':
      return { kind: 'failed', error: result.error, uncertain: result.uncertain, journaled: true };
    case 'denied':
      return { kind: 'denied', error: result.error };
    case 'not-sent':
      return { kind: 'left', stop: result.stop, journaled: true };
  }
}

export function permissionMessage(repository: string): string {
  return (
    `the registry refused to delete in repository ${repository} even with fresh credentials: the identity lacks the delete permission. ` +
    'Assign it the AcrDelete role on the registry (or, on a registry with ABAC repository permissions, Container Registry Repository Contributor for this repository)'
  );
}
