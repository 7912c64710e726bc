import type { RestError } from '@azure/core-rest-pipeline';
import { RequestTimeoutError, type RunBudget } from './budget.js';

/** The SDK's own `isRestError` test (by name), without loading the SDK at start-up: pass.ts imports this module. */
function isRestError(error: unknown): error is RestError {
  return error instanceof Error && error.name === 'RestError';
}

export interface RetryPolicy {
  maxAttempts: number;
  /** The first back-off; it doubles with each attempt (with jitter), unless the service said Retry-After. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** Throttling, server errors, timeouts and dropped connections are worth another try; other answers are final. */
export function isTransient(error: unknown): boolean {
  if (error instanceof RequestTimeoutError) return true;
  if (isRestError(error)) {
    const status = error.statusCode;
    if (status === undefined) return true;
    return status === 408 || status === 429 || status >= 500;
  }
  const code = (error as { code?: string } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EPIPE' || code === 'REQUEST_SEND_ERROR';
}

/**
 * Whether the registry may have carried out a request that failed this way: the answer timed out or was lost on
 * the way back, or a gateway failed after passing the request on. A refusal (429, 503, 4xx) or a connection that
 * never opened means it did not.
 */
export function mayHaveBeenPerformed(error: unknown): boolean {
  if (error instanceof RequestTimeoutError) return true;
  const status = statusOf(error);
  if (status !== undefined) return status === 500 || status === 502 || status === 504;
  const code = (error as { code?: string } | undefined)?.code;
  return code !== 'ECONNREFUSED';
}

export function statusOf(error: unknown): number | undefined {
  return isRestError(error) ? error.statusCode : undefined;
}

/** The service's Retry-After (seconds) on a 429 or 503, in milliseconds. */
export function retryAfterMs(error: unknown): number | undefined {
  if (!isRestError(error)) return undefined;
  const value = error.response?.headers.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export function backoffMs(attempt: number, policy: RetryPolicy, error: unknown): number {
  const told = retryAfterMs(error);
  if (told !== undefined) return Math.min(told, policy.maxDelayMs);
  const exponential = policy.baseDelayMs * 2 ** (attempt - 1);
  return Math.min(policy.maxDelayMs, exponential / 2 + (Math.random() * exponential) / 2);
}

/** The registry asked to wait (Retry-After) longer than the run's time budget has left: the run stops instead. */
export class ThrottledError extends Error {
  override readonly name = 'ThrottledError';
  constructor(
    readonly waitMs: number,
    readonly remainingMs: number,
  ) {
    super(`the registry throttled the run and asked it to wait ${Math.round(waitMs / 1000)} s (Retry-After), past the end of its time budget (${Math.round(remainingMs / 1000)} s left)`);
  }
}

/**
 * The wait before retrying after `error`, if the budget allows it: a Retry-After that ends past the deadline
 * throws {@link ThrottledError}; any other wait past it returns undefined (no time left to retry).
 */
export function waitWithinBudget(attempt: number, policy: RetryPolicy, error: unknown, budget?: RunBudget): number | undefined {
  const wait = backoffMs(attempt, policy, error);
  if (budget === undefined) return wait;
  const told = retryAfterMs(error);
  if (told !== undefined && !budget.allowsWait(told)) throw new ThrottledError(told, budget.remainingMs());
  return budget.allowsWait(wait) ? wait : undefined;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  /** Retries and their waits spend from this budget: no wait ends past its deadline. */
  budget?: RunBudget;
  signal?: AbortSignal;
}

/** Calls `operation` until it succeeds, fails for good, runs out of attempts, or out of budget to wait for another. */
export async function withRetries<T>(operation: () => Promise<T>, policy: RetryPolicy, options: RetryOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= policy.maxAttempts || !isTransient(error)) throw error;
      const wait = waitWithinBudget(attempt, policy, error, options.budget);
      if (wait === undefined) throw error;
      await sleep(wait, options.signal);
    }
  }
}
