import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit, forEachConcurrently } from '../src/concurrency.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('forEachConcurrently', () => {
  it('starts no item after one failed', async () => {
    const started: number[] = [];
    const items = Array.from({ length: 20 }, (_, index) => index);
    await expect(
      forEachConcurrently(items, 3, async (item) => {
        started.push(item);
        await tick();
        if (item === 1) throw new Error('item 1 failed');
        await tick();
      }),
    ).rejects.toThrow('item 1 failed');
    // Let the other workers finish what they had started.
    for (let i = 0; i < 10; i++) await tick();
    expect(started).toEqual([0, 1, 2]);
  });
});

describe('ConcurrencyLimit', () => {
  it('runs at most its limit at once across callers, and every task', async () => {
    const limit = new ConcurrencyLimit(3);
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        limit.run(async () => {
          most = Math.max(most, ++running);
          for (let i = 0; i < (index % 4) + 1; i++) await tick();
          running--;
          done.push(index);
        }),
      ),
    );
    expect(most).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, index) => index));
  });

  it('frees the slot of a task that failed', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await limit.run(async () => 'next')).toBe('next');
  });
});
