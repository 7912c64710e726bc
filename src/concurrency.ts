/**
 * Handles `items` with at most `concurrency` at once, in order of start. Each worker may keep its own state
 * (an SDK client, whose cached token must not be shared) made by `workerState`. The first failure rejects.
 */
export async function forEachConcurrently<T, S = undefined>(
  items: readonly T[],
  concurrency: number,
  handle: (item: T, state: S, index: number) => Promise<void>,
  workerState: () => S = () => undefined as S,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    const state = workerState();
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      await handle(items[index]!, state, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}
