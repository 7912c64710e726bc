/** Why a run stopped starting deletions before its plan was done. */
export type StopCause = 'time-budget' | 'cancelled' | 'throttled' | 'lease-lost' | 'permission-denied' | 'journal-failed';

/**
 * A request to stop starting deletions, carried as an AbortSignal's reason: deletions in flight finish and are
 * recorded, the rest is left for the next run. `message` says what happened, for the report.
 */
export class StopRequest extends Error {
  override readonly name = 'StopRequest';
  constructor(
    readonly by: StopCause,
    message: string,
  ) {
    super(message);
  }
}

/** The stop request an aborted signal carries (a plain abort is a cancellation). */
export function stopRequestOf(signal: AbortSignal): StopRequest {
  const reason: unknown = signal.reason;
  if (reason instanceof StopRequest) return reason;
  return new StopRequest('cancelled', reason instanceof Error ? reason.message : 'cancelled');
}
