/**
 * Handles `items` with at most `concurrency` at once, in order of start. Each worker may keep its own state
 * (an SDK client, whose cached token must not be shared) made by `workerState`. The first failure rejects, and
 * no item starts after it.
 */
export async function forEachConcurrently<T, S = undefined>(
  items: readonly T[],
  concurrency: number,
  handle: (item: T, state: S, index: number) => Promise<void>,
  workerState: () => S = () => undefined as S,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    const state = workerState();
    for (;;) {
      const index = next++;
      if (failed || index >= items.length) return;
      try {
        await handle(items[index]!, state, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

/** At most `max` tasks at once across all its callers; the others wait their turn in order. */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, if any.
      const next = this.waiting.shift();
      if (next === undefined) this.active--;
      else next();
    }
  }
}
