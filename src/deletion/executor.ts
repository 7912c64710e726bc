import type { Decision, Plan } from '../plan/plan.js';
import type { RunBudget } from '../registry/budget.js';
import { RatePacer } from '../registry/pacer.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../registry/retry.js';
import { deletionEntry, formatBytes, type DeletionEntry, type ExecutionReport, type FailedDeletion, type GoneEntry, type SkippedDeletion } from '../report.js';
import type { DeletionJournal, JournalOutcome } from './journal.js';
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
export async function executeDeletions(plan: Plan, newPort: () => RegistryPort, options: ExecutorOptions, context: ExecutionContext): Promise<ExecutionReport> {
  const startedMs = Date.now();
  const { budget, journal } = context;
  const log = options.log ?? (() => {});
  const retry = options.retry ?? DEFAULT_RETRY;
  const deletePacer = new RatePacer(options.deletesPerMinute);
  const readPacer = options.recheck === undefined ? undefined : new RatePacer(options.recheck.readsPerMinute);
  const lookahead = Math.max(SAME_REPOSITORY_LOOKAHEAD, Math.round(options.deletesPerMinute * 2));
  const schedule = new DeletionSchedule(plan.deletions, lookahead);
  const deleted: DeletionEntry[] = [];
  const alreadyGone: GoneEntry[] = [];
  const failed: FailedDeletion[] = [];
  const skipped: SkippedDeletion[] = [];
  let bytes = 0;
  let stop: StopRequest | undefined;

  const requestStop = (request: StopRequest) => {
    if (stop === undefined) {
      stop = request;
      log(`stopping: ${request.message}`);
    }
    schedule.wake();
  };
  const stopped = () => {
    if (stop === undefined && context.signal?.aborted) requestStop(stopRequestOf(context.signal));
    return stop;
  };
  const attempt: AttemptContext = { pacer: deletePacer, retry, budget, stopped, confirm: () => journal?.confirm() ?? Promise.resolve() };

  /** Deletes one manifest, journaled: the intent is durable before the DELETE goes out. */
  const deleteOne = async (port: RegistryPort, decision: Decision): Promise<Settled> => {
    const parents = schedule.parentsNotGone(decision);
    if (parents.length > 0) return { kind: 'skipped', why: `its index ${parents.join(', ')} was not deleted, so it is still needed`, journaled: false };
    if (readPacer !== undefined) {
      const current = await readWithRetries(port, decision.repository, decision.digest, { pacer: readPacer, retry, budget, stopped });
      if ('stop' in current) return { kind: 'left', stop: current.stop, journaled: false };
      if ('gone' in current) return { kind: 'already-gone' };
      if ('error' in current) return { kind: 'failed', error: `re-reading it before deleting failed: ${current.error}`, uncertain: false, journaled: false };
      const keep = options.recheck!.keepReason(current.state);
      if (keep !== undefined) return { kind: 'skipped', why: keep, journaled: false };
    }
    if (!(await deletePacer.acquire(undefined, budget))) return { kind: 'left', stop: new StopRequest('time-budget', 'the time budget ended'), journaled: false };
    const before = stopped();
    if (before !== undefined) return { kind: 'left', stop: before, journaled: false };
    try {
      await journal?.intent(deletionEntry(decision, plan));
    } catch (error) {
      const why = error instanceof StopRequest ? error : new StopRequest('journal-failed', `the deletion journal could not be written, so no DELETE may be sent: ${describeError(error)}`);
      return { kind: 'left', stop: why, journaled: false };
    }
    // Committing may have waited (a lease take-over's quiet period): nothing starts after the deadline.
    if (budget.expired()) return { kind: 'left', stop: new StopRequest('time-budget', 'the time budget ended'), journaled: true };
    return fromResult(await deleteWithRetries(port, decision.repository, decision.digest, attempt));
  };

  const record = (decision: Decision, settled: Settled) => {
    const { repository, digest } = decision;
    const journalOutcome = (outcome: JournalOutcome, details: { note?: string; error?: string } = {}) => {
      journal?.outcome(repository, digest, outcome, details).catch((error: unknown) => log(`warning: the journal could not record the outcome of ${repository}@${digest}: ${describeError(error)}`));
    };
    switch (settled.kind) {
      case 'deleted':
        deleted.push({ ...deletionEntry(decision, plan), ...(settled.note === undefined ? {} : { note: settled.note }) });
        bytes += decision.sizeInBytes;
        journalOutcome('deleted', settled.note === undefined ? {} : { note: settled.note });
        break;
      case 'already-gone':
        alreadyGone.push({ repository, digest });
        journalOutcome('already-gone');
        break;
      case 'skipped':
        skipped.push({ repository, digest, why: settled.why });
        if (settled.journaled) journalOutcome('locked');
        break;
      case 'failed':
        failed.push({ repository, digest, error: settled.error, ...(settled.uncertain ? { uncertain: true } : {}) });
        if (settled.journaled) journalOutcome('failed', { error: settled.error });
        break;
      case 'denied':
        failed.push({ repository, digest, error: `refused: no permission to delete (${settled.error})` });
        journalOutcome('denied', { error: settled.error });
        requestStop(new StopRequest('permission-denied', permissionMessage(repository)));
        break;
      case 'left':
        schedule.putBack(decision);
        if (settled.journaled) journalOutcome('not-sent', { note: settled.stop.message });
        requestStop(settled.stop);
        return;
    }
    schedule.settle(decision, settled.kind === 'deleted' || settled.kind === 'already-gone');
  };

  const worker = async () => {
    const port = newPort();
    const position: WorkerPosition = {};
    while (stopped() === undefined) {
      const next = schedule.take(position);
      if (next === undefined) return;
      if (next === 'wait') {
        await schedule.changed();
        continue;
      }
      if (budget.expired()) {
        record(next, { kind: 'left', stop: new StopRequest('time-budget', `the time budget (${Math.round((budget.deadlineMs - startedMs) / 1000)} s left at the start of deleting) ended`), journaled: false });
        return;
      }
      record(next, await deleteOne(port, next));
    }
  };

  const progress = setInterval(() => {
    const seconds = (Date.now() - startedMs) / 1000;
    log(`deleted ${deleted.length + alreadyGone.length}/${schedule.size} (${((deleted.length / Math.max(seconds, 0.001)) * 60).toFixed(0)}/min, ${formatBytes(bytes)}), failed ${failed.length}`);
  }, options.progressIntervalMs ?? 10_000);
  progress.unref();
  const onAbort = () => {
    stopped();
  };
  context.signal?.addEventListener('abort', onAbort);
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  } finally {
    clearInterval(progress);
    context.signal?.removeEventListener('abort', onAbort);
    schedule.wake();
    await journal?.flush();
  }

  const seconds = (Date.now() - startedMs) / 1000;
  const leftForNextRun = schedule.untaken;
  const perRun = Math.max(1, deleted.length + alreadyGone.length);
  log(`deleted ${deleted.length}, already gone ${alreadyGone.length}, failed ${failed.length}, skipped ${skipped.length}, left for the next run ${leftForNextRun}`);
  return {
    deleted,
    alreadyGone,
    failed,
    skipped,
    leftForNextRun,
    stoppedBy: stop?.by ?? null,
    stopMessage: stop?.message ?? null,
    journal: journal?.location ?? null,
    estimatedMoreRuns: leftForNextRun > 0 ? Math.ceil(leftForNextRun / perRun) : 0,
    seconds,
    bytesReclaimed: bytes,
    deletesPerMinute: (deleted.length / Math.max(seconds, 0.001)) * 60,
  };
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
