import { setMaxListeners } from 'node:events';
/**
 * The run's time budget as a hard bound: a deadline after which nothing new starts, and a time limit for every
 * single request, so that the last requests in flight end at most one request timeout after the deadline.
 */
export class RunBudget {
  constructor(
    readonly deadlineMs: number,
    readonly requestTimeoutMs: number,
  ) {}

  remainingMs(nowMs = Date.now()): number {
    return Math.max(0, this.deadlineMs - nowMs);
  }

  expired(nowMs = Date.now()): boolean {
    return nowMs >= this.deadlineMs;
  }

  /** Whether waiting `ms` and then starting a request still happens before the deadline. */
  allowsWait(ms: number, nowMs = Date.now()): boolean {
    return nowMs + ms < this.deadlineMs;
  }

  /** A signal that aborts at the deadline (or with `parent`), for phases that may simply stop: reading logs, listing. */
  deadlineSignal(parent?: AbortSignal): { signal: AbortSignal; dispose: () => void } {
    const controller = runStopController();
    const timer = setTimeout(() => controller.abort(new DeadlineReached(this)), this.remainingMs());
    timer.unref();
    const onAbort = () => controller.abort(parent!.reason);
    if (parent?.aborted) controller.abort(parent.reason);
    else parent?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        parent?.removeEventListener('abort', onAbort);
      },
    };
  }
}

/**
 * The controller of a signal a whole run waits on: every worker's pacer wait and request adds a listener to it at
 * once, each removed when it ends, so Node's default warning at 10 listeners would be a false alarm.
 */
export function runStopController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

export class DeadlineReached extends Error {
  override readonly name = 'DeadlineReached';
  constructor(budget: RunBudget) {
    super(`the time budget ended at ${new Date(budget.deadlineMs).toISOString()}`);
  }
}

/** A request that got no complete answer within its own time limit; the registry may or may not have acted on it. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'REQUEST_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`no answer within the request timeout (${timeoutMs / 1000} s)`);
  }
}

/**
 * Runs one request with its own time limit, from the caller's point of view: when the limit passes the request's
 * signal aborts and the caller gets {@link RequestTimeoutError} at once, even if the request ignores its signal (the
 * SDK's token calls do). An abandoned request is never sent after that (the HTTP client refuses an aborted
 * request), but one already sent may still be carried out: a timed-out DELETE is uncertain, not "not deleted".
 * When `parent` aborts, the caller gets its reason at once.
 */
export async function withRequestTimeout<T>(timeoutMs: number, parent: AbortSignal | undefined, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
  parent?.throwIfAborted();
  const controller = new AbortController();
  const timeout = new RequestTimeoutError(timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const givenUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(timeout);
      reject(timeout);
    }, timeoutMs);
    onAbort = () => {
      controller.abort(parent!.reason);
      reject(parent!.reason as Error);
    };
    parent?.addEventListener('abort', onAbort, { once: true });
  });
  const running = (async () => request(controller.signal))();
  // Abandoned requests may still fail later; nobody waits for them any more.
  running.catch(() => {});
  try {
    return await Promise.race([running, givenUp]);
  } catch (error) {
    if (controller.signal.reason === timeout) throw timeout;
    throw error;
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onAbort!);
  }
}
