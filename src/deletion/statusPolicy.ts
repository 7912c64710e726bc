import type { ManifestState } from '../plan/plan.js';
import { RequestTimeoutError, withRequestTimeout, type RunBudget } from '../registry/budget.js';
import type { RatePacer } from '../registry/pacer.js';
import { isTransient, mayHaveBeenPerformed, retryAfterMs, sleep, statusOf, ThrottledError, waitWithinBudget, type RetryPolicy } from '../registry/retry.js';
import { StopRequest } from './stop.js';

export type { ManifestState };

/** One worker's access to the registry (its own SDK clients, whose cached tokens are not shared). */
export interface RegistryPort {
  /** Sends one DELETE; resolves with the HTTP status (202, or 404 when the registry had no such manifest). */
  deleteManifest(repository: string, digest: string, signal: AbortSignal): Promise<number>;
  /** The manifest as the registry has it now; rejects with a 404 when it is gone. */
  readManifest(repository: string, digest: string, signal: AbortSignal): Promise<ManifestState>;
  /** Forgets the cached tokens, so the next request gets fresh ones (after a 401). */
  renewCredentials(): void;
}

export type DeleteResult =
  | { outcome: 'deleted'; note?: string }
  | { outcome: 'already-gone' }
  | { outcome: 'locked' }
  | { outcome: 'failed'; error: string; uncertain: boolean }
  /** Refused even with fresh credentials: the identity may not delete here. */
  | { outcome: 'denied'; error: string }
  /** Nothing was carried out and the run must stop (the manifest is left for the next run). */
  | { outcome: 'not-sent'; stop: StopRequest };

export interface AttemptContext {
  pacer: RatePacer;
  retry: RetryPolicy;
  budget: RunBudget;
  /** Set once the run stops starting deletions; a retry is a new request, so it is not sent after that. */
  stopped: () => StopRequest | undefined;
  /** Confirms that deleting is still allowed (the run lease is still ours) before a retry goes out. */
  confirm: () => Promise<void>;
}

/**
 * Deletes one manifest, reading each answer by the same rules: 202 deleted; 404 already gone — unless an earlier
 * attempt of this run may have been carried out (its answer timed out or was lost), then it is this run's deletion;
 * 405 locked; 401 once more with fresh credentials, then denied; 429, 5xx, timeouts and dropped connections retried
 * with back-off from the same time budget; a Retry-After past the deadline stops the run instead of sleeping.
 * The caller holds the pacer slot for the first attempt (and journaled the intent after taking it).
 */
export async function deleteWithRetries(port: RegistryPort, repository: string, digest: string, context: AttemptContext): Promise<DeleteResult> {
  let mayBeDone = false;
  let renewedCredentials = false;
  let firstError: unknown;
  let lastError: unknown;
  let holdsSlot = true;
  for (let failures = 0; ; ) {
    if (!holdsSlot) {
      const stop = await readyToSend(context);
      if (stop !== undefined) return mayBeDone ? uncertain(lastError, `the run stopped before it could be retried (${stop.message})`) : { outcome: 'not-sent', stop };
    }
    holdsSlot = false;
    try {
      const status = await withRequestTimeout(context.budget.requestTimeoutMs, undefined, (signal) => port.deleteManifest(repository, digest, signal));
      return status === 404 ? goneAfter(mayBeDone, firstError) : { outcome: 'deleted' };
    } catch (error) {
      firstError ??= error;
      lastError = error;
      const code = statusOf(error);
      if (code === 404) return goneAfter(mayBeDone, firstError);
      if (code === 405) return { outcome: 'locked' };
      if (code === 401 && !renewedCredentials) {
        renewedCredentials = true;
        port.renewCredentials();
        continue;
      }
      if (code === 401) return { outcome: 'denied', error: describeError(error) };
      if (!isTransient(error)) return { outcome: 'failed', error: describeError(error), uncertain: false };
      mayBeDone ||= mayHaveBeenPerformed(error);
      if (++failures >= context.retry.maxAttempts) return { outcome: 'failed', error: `${describeError(error)} (after ${failures} attempts)`, uncertain: mayBeDone };
      let wait: number | undefined;
      try {
        wait = waitWithinBudget(failures, context.retry, error, context.budget);
      } catch (throttled) {
        if (!(throttled instanceof ThrottledError)) throw throttled;
        const stop = new StopRequest('throttled', throttled.message);
        return mayBeDone ? uncertain(error, stop.message) : { outcome: 'not-sent', stop };
      }
      if (wait === undefined) {
        const stop = new StopRequest('time-budget', `the time budget ended before a failed DELETE could be retried (${describeError(error)})`);
        return mayBeDone ? uncertain(error, 'no time left in the budget to retry it') : { outcome: 'not-sent', stop };
      }
      if (code === 429) context.pacer.pause(retryAfterMs(error) ?? wait);
      else await sleep(wait);
    }
  }
}

/** Waits for a pacer slot inside the budget and re-confirms the lease; returns why not to send, if so. */
async function readyToSend(context: AttemptContext): Promise<StopRequest | undefined> {
  const stopped = context.stopped();
  if (stopped !== undefined) return stopped;
  if (!(await context.pacer.acquire(undefined, context.budget))) return new StopRequest('time-budget', 'the time budget ended before a failed DELETE could be retried');
  try {
    await context.confirm();
  } catch (error) {
    return error instanceof StopRequest ? error : new StopRequest('lease-lost', `deleting is no longer allowed: ${describeError(error)}`);
  }
  return context.stopped();
}

function goneAfter(mayBeDone: boolean, firstError: unknown): DeleteResult {
  if (!mayBeDone) return { outcome: 'already-gone' };
  return {
    outcome: 'deleted',
    note: `the registry answered 404 to a retry: an earlier DELETE of this run carried it out and its answer was lost (${describeError(firstError)})`,
  };
}

function uncertain(error: unknown, why: string): DeleteResult {
  return { outcome: 'failed', error: `${describeError(error)}; ${why}. The registry may have deleted it: the next run's listing tells`, uncertain: true };
}

export type ReadResult = { state: ManifestState } | { gone: true } | { error: string } | { stop: StopRequest };

/** Reads a manifest's current state with the same retries, fresh credentials after a 401, and time bounds. */
export async function readWithRetries(port: RegistryPort, repository: string, digest: string, context: Omit<AttemptContext, 'confirm'>): Promise<ReadResult> {
  let renewedCredentials = false;
  for (let failures = 0; ; ) {
    if (!(await context.pacer.acquire(undefined, context.budget))) return { stop: new StopRequest('time-budget', 'the time budget ended') };
    try {
      return { state: await withRequestTimeout(context.budget.requestTimeoutMs, undefined, (signal) => port.readManifest(repository, digest, signal)) };
    } catch (error) {
      const code = statusOf(error);
      if (code === 404) return { gone: true };
      if (code === 401 && !renewedCredentials) {
        renewedCredentials = true;
        port.renewCredentials();
        continue;
      }
      if (!isTransient(error) || ++failures >= context.retry.maxAttempts) return { error: describeError(error) };
      let wait: number | undefined;
      try {
        wait = waitWithinBudget(failures, context.retry, error, context.budget);
      } catch (throttled) {
        if (throttled instanceof ThrottledError) return { stop: new StopRequest('throttled', throttled.message) };
        throw throttled;
      }
      if (wait === undefined || context.stopped() !== undefined) return { error: `${describeError(error)}; no time left to retry` };
      if (code === 429) context.pacer.pause(retryAfterMs(error) ?? wait);
      else await sleep(wait);
    }
  }
}

export function describeError(error: unknown): string {
  if (error instanceof RequestTimeoutError) return error.message;
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `HTTP ${status}: ${oneLine(message)}`;
}

/** The registry's error body as one short line: its first error's code and message, not the raw JSON. */
function oneLine(message: string): string {
  try {
    const body = JSON.parse(message) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    if (first !== undefined) return `${first.code ?? 'ERROR'}: ${first.message ?? ''}`.trim();
  } catch {
    // not the registry's JSON error body
  }
  return message.trim();
}
