import type { RestError } from '@azure/core-rest-pipeline';

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

/** Throttling, server errors and dropped connections are worth another try; other answers are final. */
export function isTransient(error: unknown): boolean {
  if (isRestError(error)) {
    const status = error.statusCode;
    if (status === undefined) return true;
    return status === 408 || status === 429 || status >= 500;
  }
  const code = (error as { code?: string } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EPIPE' || code === 'REQUEST_SEND_ERROR';
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

/** Calls `operation` until it succeeds, fails for good, or runs out of attempts. */
export async function withRetries<T>(operation: () => Promise<T>, policy: RetryPolicy, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= policy.maxAttempts || !isTransient(error)) throw error;
      await sleep(backoffMs(attempt, policy, error), signal);
    }
  }
}
