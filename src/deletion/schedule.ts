import type { Decision } from '../plan/plan.js';

/** How far ahead a worker looks for a deletion in the repository its token is already scoped to. */
export const SAME_REPOSITORY_LOOKAHEAD = 64;

/** One worker's place in the schedule: the repository its client's token is scoped to. */
export interface WorkerPosition {
  repository?: string;
}

/**
 * Which deletion a worker takes next. Deletions go least recently used first, but within a window of about two
 * minutes of work a worker stays in its repository (each switch costs a 401 and a token call, and the order only
 * matters at the budget's end), and a child waits until the index that refers to it is settled.
 */
export class DeletionSchedule {
  private readonly taken = new Set<Decision>();
  /** `repository@digest` of every settled deletion → whether the manifest is gone. */
  private readonly gone = new Map<string, boolean>();
  private readonly positionsOf = new Map<string, number[]>();
  private readonly cursorOf = new Map<string, number>();
  private readonly workersOn = new Map<string, number>();
  private head = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly queue: readonly Decision[],
    private readonly lookahead: number,
  ) {
    queue.forEach((decision, index) => {
      const positions = this.positionsOf.get(decision.repository) ?? [];
      positions.push(index);
      this.positionsOf.set(decision.repository, positions);
    });
  }

  get size(): number {
    return this.queue.length;
  }

  /** Deletions never taken (or put back): left for the next run. */
  get untaken(): number {
    return this.queue.length - this.taken.size;
  }

  /**
   * The next deletion whose parents are all settled: from the worker's own repository if one is inside the window,
   * else the first from a repository no other worker is on, else the first at all; 'wait' while the only ones left
   * wait for their index; undefined when none is left.
   */
  take(worker: WorkerPosition): Decision | 'wait' | undefined {
    const next = this.pick(worker.repository);
    if (next === undefined || next === 'wait') return next;
    this.taken.add(next);
    this.move(worker, next.repository);
    return next;
  }

  /** A deletion taken but not attempted (the run stopped first): it is left for the next run. */
  putBack(decision: Decision): void {
    this.taken.delete(decision);
    this.wake();
  }

  /** Records how a taken deletion ended, so that the children waiting for it may go (or stay). */
  settle(decision: Decision, gone: boolean): void {
    this.gone.set(keyOf(decision.repository, decision.digest), gone);
    this.wake();
  }

  /** The deletion's indexes in this plan that are not gone (so it is still needed and must stay). */
  parentsNotGone(decision: Decision): string[] {
    return decision.deleteAfter.filter((parent) => this.gone.get(keyOf(decision.repository, parent)) !== true);
  }

  /** Resolves at the next change: a deletion settled or put back. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    for (const wake of this.waiters) wake();
    this.waiters = [];
  }

  private settled(decision: Decision): boolean {
    return decision.deleteAfter.every((parent) => this.gone.has(keyOf(decision.repository, parent)));
  }

  private pick(repository: string | undefined): Decision | 'wait' | undefined {
    while (this.head < this.queue.length && this.taken.has(this.queue[this.head]!)) this.head++;
    if (this.head >= this.queue.length) return undefined;
    if (repository !== undefined) {
      const own = this.nextInRepository(repository);
      if (own !== undefined) return own;
    }
    let fallback: Decision | undefined;
    let blocked = false;
    for (let i = this.head; i < this.queue.length && i < this.head + this.lookahead; i++) {
      const decision = this.queue[i]!;
      if (this.taken.has(decision)) continue;
      if (!this.settled(decision)) {
        blocked = true;
        continue;
      }
      if ((this.workersOn.get(decision.repository) ?? 0) === 0) return decision;
      fallback ??= decision;
    }
    return fallback ?? (blocked ? 'wait' : undefined);
  }

  /** The repository's next deletion inside the window, if its parents are settled. */
  private nextInRepository(repository: string): Decision | undefined {
    const positions = this.positionsOf.get(repository);
    if (positions === undefined) return undefined;
    let cursor = this.cursorOf.get(repository) ?? 0;
    while (cursor < positions.length && this.taken.has(this.queue[positions[cursor]!]!)) cursor++;
    this.cursorOf.set(repository, cursor);
    for (let i = cursor; i < positions.length && positions[i]! < this.head + this.lookahead; i++) {
      const decision = this.queue[positions[i]!]!;
      if (!this.taken.has(decision) && this.settled(decision)) return decision;
    }
    return undefined;
  }

  private move(worker: WorkerPosition, to: string): void {
    const from = worker.repository;
    if (from === to) return;
    if (from !== undefined) this.workersOn.set(from, (this.workersOn.get(from) ?? 1) - 1);
    this.workersOn.set(to, (this.workersOn.get(to) ?? 0) + 1);
    worker.repository = to;
  }
}

export function keyOf(repository: string, digest: string): string {
  return `${repository}@${digest}`;
}
