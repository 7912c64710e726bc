import type { ArtifactManifestProperties, ContainerRegistryClient } from '@azure/container-registry';
import type { FullOperationResponse } from '@azure/core-client';
import type { DeletionExecutor } from '../pass.js';
import { recheckBeforeDeletion, type Decision, type Plan } from '../plan/plan.js';
import type { Policy } from '../plan/policy.js';
import { deletionEntry, formatBytes, reclaimedBytes, type DeletionEntry, type ExecutionReport, type FailedDeletion, type SkippedDeletion } from '../report.js';
import { createRegistryClient, type RegistryConnection } from './acr.js';
import { RatePacer } from './pacer.js';
import { backoffMs, DEFAULT_RETRY, isTransient, retryAfterMs, sleep, statusOf, withRetries, type RetryPolicy } from './retry.js';

export interface DeleterOptions {
  concurrency: number;
  deletesPerMinute: number;
  /**
   * Re-reads each manifest just before deleting it and keeps it when this says why (it was locked, tagged or
   * pushed again since the listing). Costs one paced read per deletion, on a separate client so the delete
   * client's token keeps its scope.
   */
  recheck?: { readsPerMinute: number; keepReason: (current: ArtifactManifestProperties) => string | undefined };
  retry?: RetryPolicy;
  progressIntervalMs?: number;
  log?: (message: string) => void;
  /** Injected in tests: makes one SDK client per worker. */
  clientFactory?: () => ContainerRegistryClient;
}

type Outcome = 'deleted' | 'already-gone' | 'locked' | 'failed' | 'skipped';

/** How far ahead a worker looks for a deletion in the repository its token is already scoped to. */
const SAME_REPOSITORY_LOOKAHEAD = 64;

/** The production re-check: the planner's own-state rules, applied to the manifest as it is now. */
export function policyRecheck(policy: Policy, clock: () => Date, readsPerMinute: number): NonNullable<DeleterOptions['recheck']> {
  return {
    readsPerMinute,
    keepReason: (current) => {
      const state = { canDelete: current.canDelete !== false && current.canWrite !== false, tags: current.tags ?? [], createdOn: current.createdOn, lastUpdatedOn: current.lastUpdatedOn };
      const reason = recheckBeforeDeletion(state, policy, clock());
      return reason === undefined ? undefined : `kept after all: re-read just before deleting, it is now ${reason} (changed since the listing)`;
    },
  };
}

/** Executes a plan's deletions through the SDK with bounded concurrency, pacing, retries and a deadline. */
export class AcrDeleter implements DeletionExecutor {
  constructor(
    private readonly connection: RegistryConnection | undefined,
    private readonly options: DeleterOptions,
  ) {}

  async execute(plan: Plan, { deadlineMs, signal }: { deadlineMs: number; signal?: AbortSignal }): Promise<ExecutionReport> {
    const startedMs = Date.now();
    const retry = this.options.retry ?? DEFAULT_RETRY;
    const pacer = new RatePacer(this.options.deletesPerMinute);
    const recheck = this.options.recheck;
    const readPacer = recheck === undefined ? undefined : new RatePacer(recheck.readsPerMinute);
    const log = this.options.log ?? (() => {});
    const queue = [...plan.deletions];
    const taken = new Set<Decision>();
    const outcomes = new Map<string, Outcome>();
    const deleted: DeletionEntry[] = [];
    const failed: FailedDeletion[] = [];
    const skipped: SkippedDeletion[] = [];
    let alreadyGone = 0;
    let bytes = 0;
    let stoppedBy: ExecutionReport['stoppedBy'] = null;
    let head = 0;
    let waiters: (() => void)[] = [];
    const finishedOne = () => {
      for (const wake of waiters) wake();
      waiters = [];
    };
    const keyOf = (repository: string, digest: string) => `${repository}@${digest}`;
    let latencyTotalMs = 0;
    let latencyCount = 0;
    const averageLatencyMs = () => (latencyCount === 0 ? 0 : latencyTotalMs / latencyCount);

    /** Workers per repository right now: each worker's client holds a token for one repository. */
    const workersOn = new Map<string, number>();
    // Deletions are least recently used first, but within about two minutes of work a worker stays in its
    // repository: each switch costs a 401 and a token call, and the order only matters at the budget's end.
    const lookahead = Math.max(SAME_REPOSITORY_LOOKAHEAD, Math.round(this.options.deletesPerMinute * 2));
    const positionsOf = new Map<string, number[]>();
    queue.forEach((decision, index) => {
      const positions = positionsOf.get(decision.repository) ?? [];
      positions.push(index);
      positionsOf.set(decision.repository, positions);
    });
    const cursorOf = new Map<string, number>();
    const settled = (decision: Decision) => decision.deleteAfter.every((parent) => outcomes.has(keyOf(decision.repository, parent)));

    /** The worker's repository's next deletion inside the window, if its parents are settled. */
    const nextInRepository = (repository: string): Decision | undefined => {
      const positions = positionsOf.get(repository)!;
      let cursor = cursorOf.get(repository) ?? 0;
      while (cursor < positions.length && taken.has(queue[positions[cursor]!]!)) cursor++;
      cursorOf.set(repository, cursor);
      for (let i = cursor; i < positions.length && positions[i]! < head + lookahead; i++) {
        const decision = queue[positions[i]!]!;
        if (!taken.has(decision) && settled(decision)) return decision;
      }
      return undefined;
    };

    /**
     * The next deletion whose parents are all settled: from the worker's own repository if one is inside the
     * window, else the first from a repository no other worker is on, else the first at all.
     */
    const pick = (repository: string | undefined): Decision | 'wait' | undefined => {
      while (head < queue.length && taken.has(queue[head]!)) head++;
      if (head >= queue.length) return undefined;
      if (repository !== undefined) {
        const own = nextInRepository(repository);
        if (own !== undefined) return own;
      }
      let fallback: Decision | undefined;
      let blocked = false;
      for (let i = head; i < queue.length && i < head + lookahead; i++) {
        const decision = queue[i]!;
        if (taken.has(decision)) continue;
        if (!settled(decision)) {
          blocked = true;
          continue;
        }
        if ((workersOn.get(decision.repository) ?? 0) === 0) return decision;
        fallback ??= decision;
      }
      return fallback ?? (blocked ? 'wait' : undefined);
    };
    const moveWorker = (from: string | undefined, to: string) => {
      if (from === to) return;
      if (from !== undefined) workersOn.set(from, (workersOn.get(from) ?? 1) - 1);
      workersOn.set(to, (workersOn.get(to) ?? 0) + 1);
    };

    /** The manifest as the registry has it now: undefined when it is gone, a reason when it must stay. */
    const stillToDelete = async (readClient: ContainerRegistryClient, decision: Decision): Promise<'gone' | 'failed' | string | undefined> => {
      try {
        const current = await withRetries(
          async () => {
            await readPacer!.acquire(signal);
            return readClient.getArtifact(decision.repository, decision.digest).getManifestProperties({ abortSignal: signal });
          },
          retry,
          signal,
        );
        const keep = recheck!.keepReason(current);
        return keep === undefined ? undefined : keep;
      } catch (error) {
        if (statusOf(error) === 404) return 'gone';
        failed.push({ repository: decision.repository, digest: decision.digest, error: `re-reading it before deleting failed: ${describeError(error)}` });
        return 'failed';
      }
    };

    const deleteOne = async (client: ContainerRegistryClient, readClient: ContainerRegistryClient | undefined, decision: Decision): Promise<Outcome> => {
      const parentsNotDeleted = decision.deleteAfter.filter((parent) => {
        const outcome = outcomes.get(keyOf(decision.repository, parent));
        return outcome !== 'deleted' && outcome !== 'already-gone';
      });
      if (parentsNotDeleted.length > 0) {
        skipped.push({ repository: decision.repository, digest: decision.digest, why: `its index ${parentsNotDeleted.join(', ')} was not deleted, so it is still needed` });
        return 'skipped';
      }
      if (readClient !== undefined) {
        const verdict = await stillToDelete(readClient, decision);
        if (verdict === 'gone') return 'already-gone';
        if (verdict === 'failed') return 'failed';
        if (verdict !== undefined) {
          skipped.push({ repository: decision.repository, digest: decision.digest, why: verdict });
          return 'skipped';
        }
      }
      for (let attempt = 1; ; attempt++) {
        await pacer.acquire(signal);
        let status = 0;
        try {
          await client.getArtifact(decision.repository, decision.digest).delete({
            abortSignal: signal,
            onResponse: (raw: FullOperationResponse) => {
              status = raw.status;
            },
          });
          return status === 404 ? 'already-gone' : 'deleted';
        } catch (error) {
          const code = statusOf(error);
          if (code === 404) return 'already-gone';
          if (code === 405) {
            skipped.push({ repository: decision.repository, digest: decision.digest, why: 'the registry refused: the manifest is locked' });
            return 'locked';
          }
          if (code === 429) pacer.pause(retryAfterMs(error) ?? backoffMs(attempt, retry, error));
          if (!isTransient(error) || attempt >= retry.maxAttempts) {
            failed.push({ repository: decision.repository, digest: decision.digest, error: describeError(error) });
            return 'failed';
          }
          if (code !== 429) await sleep(backoffMs(attempt, retry, error), signal);
        }
      }
    };

    const progress = setInterval(() => {
      const seconds = (Date.now() - startedMs) / 1000;
      log(`deleted ${deleted.length + alreadyGone}/${queue.length} (${((deleted.length / Math.max(seconds, 0.001)) * 60).toFixed(0)}/min, ${formatBytes(bytes)}), failed ${failed.length}`);
    }, this.options.progressIntervalMs ?? 10_000);
    progress.unref();

    const worker = async () => {
      const client = this.options.clientFactory?.() ?? createRegistryClient(this.connection!);
      const readClient = recheck === undefined ? undefined : (this.options.clientFactory?.() ?? createRegistryClient(this.connection!));
      let repository: string | undefined;
      for (;;) {
        if (signal?.aborted) {
          stoppedBy ??= 'cancelled';
          return;
        }
        // Stop starting deletions when one more would likely end after the deadline.
        if (Date.now() + averageLatencyMs() >= deadlineMs) {
          stoppedBy ??= 'time-budget';
          return;
        }
        const next = pick(repository);
        if (next === undefined) return;
        if (next === 'wait') {
          await new Promise<void>((resolve) => waiters.push(resolve));
          continue;
        }
        taken.add(next);
        moveWorker(repository, next.repository);
        repository = next.repository;
        const began = Date.now();
        const outcome = await deleteOne(client, readClient, next);
        latencyTotalMs += Date.now() - began;
        latencyCount++;
        outcomes.set(keyOf(next.repository, next.digest), outcome);
        if (outcome === 'deleted') {
          deleted.push(deletionEntry(next, plan));
          bytes += reclaimedBytes(next);
        } else if (outcome === 'already-gone') alreadyGone++;
        finishedOne();
      }
    };

    try {
      await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency) }, worker));
    } finally {
      clearInterval(progress);
      finishedOne();
    }
    const seconds = (Date.now() - startedMs) / 1000;
    const leftForNextRun = queue.length - taken.size;
    const perRun = Math.max(1, deleted.length + alreadyGone);
    const report: ExecutionReport = {
      deleted,
      alreadyGone,
      failed,
      skipped,
      leftForNextRun,
      stoppedBy: leftForNextRun > 0 ? stoppedBy : null,
      estimatedMoreRuns: leftForNextRun > 0 ? Math.ceil(leftForNextRun / perRun) : 0,
      seconds,
      bytesReclaimed: bytes,
      deletesPerMinute: (deleted.length / Math.max(seconds, 0.001)) * 60,
    };
    log(`deleted ${deleted.length}, already gone ${alreadyGone}, failed ${failed.length}, skipped ${skipped.length}, left for the next run ${leftForNextRun}`);
    return report;
  }
}

function describeError(error: unknown): string {
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}
