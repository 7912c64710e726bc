import type { RunBudget } from './budget.js';
import { sleep } from './retry.js';

/**
 * Spaces requests evenly below a per-minute limit and holds everyone back when the service says
 * Retry-After. ACR counts its limits in fixed windows, so the pacer aims at `headroom` of the limit:
 * a request one over the limit costs a 429 and a wait of up to a whole window.
 */
/** The share of a limit the pacer aims at. */
export const PACING_HEADROOM = 0.95;

export class RatePacer {
  private nextSlotMs = 0;
  private pausedUntilMs = 0;
  private readonly intervalMs: number;

  constructor(perMinute: number, headroom = PACING_HEADROOM) {
    this.intervalMs = 60_000 / (perMinute * headroom);
  }

  /**
   * Waits for the next free slot. With a budget, a slot that would start after the deadline is not taken:
   * the answer is false and nothing waited.
   */
  async acquire(signal?: AbortSignal, budget?: RunBudget): Promise<boolean> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlotMs, this.pausedUntilMs);
    if (budget !== undefined && !budget.allowsWait(slot - now, now)) return false;
    this.nextSlotMs = slot + this.intervalMs;
    if (slot > now) await sleep(slot - now, signal);
    return true;
  }

  pause(ms: number): void {
    this.pausedUntilMs = Math.max(this.pausedUntilMs, Date.now() + ms);
  }
}
