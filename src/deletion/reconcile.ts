import { forEachConcurrently } from '../concurrency.js';
import type { RunBudget } from '../registry/budget.js';
import { RatePacer } from '../registry/pacer.js';
import { DEFAULT_RETRY, sleep, type RetryPolicy } from '../registry/retry.js';
import type { DeletionEntry, ReconciliationReport } from '../report.js';
import type { JournalOutcome, OpenIntent } from './journal.js';
import { readWithRetries, type RegistryPort } from './statusPolicy.js';

/** What the registry says now about a DELETE that an unfinished run meant to send. */
export type IntentState = ReconciliationReport['intents'][number]['state'];

export interface ReconciledIntent {
  entry: DeletionEntry;
  state: IntentState;
  /** Why the state is unknown. */
  error?: string;
}

/** When this run checks the open intents of earlier runs. */
export interface CheckTiming {
  /** When this run took the journal (its lock, or the run lease): an earlier run sent every DELETE before then. */
  sinceMs?: number;
  /**
   * The earlier runs ended on their own (the journal's lock was released, not taken over from a dead run): a DELETE
   * of theirs without an outcome had its answer before they ended, so only an `uncertain` one may still be on its way.
   */
  earlierRunsEnded?: boolean;
  /** Stops the wait for the quiet period (the intents not yet checkable stay unknown). */
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export interface ReconcileOptions extends CheckTiming {
  budget: RunBudget;
  readsPerMinute: number;
  concurrency: number;
  retry?: RetryPolicy;
}

/**
 * When a check of an open intent tells for good: twice the request timeout after its DELETE was last possibly sent
 * (as the run lease's quiet period), a DELETE still on its way has been carried out or dropped. Checked sooner, a
 * manifest found present could still go by that DELETE, and `reconciled-present` would be the journal's wrong last word.
 */
export function conclusiveFromMs(intent: OpenIntent, timing: CheckTiming & { sinceMs: number }, requestTimeoutMs: number): number {
  const sentMs = Date.parse(intent.sentBy ?? '');
  if (Number.isNaN(sentMs) && timing.earlierRunsEnded === true) return timing.sinceMs;
  const sentByMs = Number.isNaN(sentMs) ? timing.sinceMs : Math.min(timing.sinceMs, sentMs);
  return sentByMs + 2 * Math.max(requestTimeoutMs, (intent.requestTimeoutSeconds ?? 0) * 1000);
}

/**
 * Checks each open intent of an earlier run against the registry: a manifest that is gone was deleted (by that run,
 * most likely: its DELETE was sent and it never learned the answer), one that is present was not — once the check is
 * conclusive ({@link conclusiveFromMs}). A manifest found present sooner is checked again when it is, if the budget
 * allows the wait; otherwise it is `unknown`, left for the next run.
 */
export async function reconcileIntents(intents: readonly OpenIntent[], newPort: () => RegistryPort, options: ReconcileOptions): Promise<ReconciledIntent[]> {
  const pacer = new RatePacer(options.readsPerMinute);
  const timing = { ...options, sinceMs: options.sinceMs ?? Date.now() };
  const conclusiveFrom = intents.map((intent) => conclusiveFromMs(intent, timing, options.budget.requestTimeoutMs));
  const results = await checkAll(intents, newPort, pacer, options);
  const early = results.flatMap((result, index) => (result.state === 'still-present' && result.readMs < conclusiveFrom[index]! ? [index] : []));
  if (early.length > 0) {
    await waitUntilConclusive(Math.max(...early.map((index) => conclusiveFrom[index]!)), options);
    const ready = early.filter((index) => conclusiveFrom[index]! <= Date.now());
    const again = await checkAll(
      ready.map((index) => intents[index]!),
      newPort,
      pacer,
      options,
    );
    ready.forEach((index, position) => (results[index] = again[position]!));
    for (const index of early.filter((index) => !ready.includes(index))) {
      const error = `present, but a DELETE the earlier run sent may still be carried out until ${new Date(conclusiveFrom[index]!).toISOString()}; the next run checks it again`;
      results[index] = { entry: intents[index]!.entry, state: 'unknown', error, readMs: results[index]!.readMs };
    }
  }
  return results.map(({ entry, state, error }) => ({ entry, state, ...(error === undefined ? {} : { error }) }));
}

async function checkAll(intents: readonly OpenIntent[], newPort: () => RegistryPort, pacer: RatePacer, options: ReconcileOptions): Promise<(ReconciledIntent & { readMs: number })[]> {
  const results: (ReconciledIntent & { readMs: number })[] = new Array(intents.length);
  await forEachConcurrently(
    intents,
    options.concurrency,
    async (intent, port, index) => {
      const readMs = Date.now();
      const read = await readWithRetries(port, intent.repository, intent.digest, { pacer, retry: options.retry ?? DEFAULT_RETRY, budget: options.budget, stopped: () => undefined });
      const entry = intent.entry;
      if ('gone' in read) results[index] = { entry, state: 'deleted', readMs };
      else if ('state' in read) results[index] = { entry, state: 'still-present', readMs };
      else results[index] = { entry, state: 'unknown', error: 'error' in read ? read.error : read.stop.message, readMs };
    },
    newPort,
  );
  return results;
}

async function waitUntilConclusive(untilMs: number, options: ReconcileOptions): Promise<void> {
  const waitMs = untilMs - Date.now();
  if (waitMs <= 0 || !options.budget.allowsWait(waitMs)) return;
  options.log?.(`waiting ${Math.ceil(waitMs / 1000)} s before checking again the manifest(s) still present: a DELETE an earlier run sent may still be carried out until then`);
  await sleep(waitMs, options.signal).catch(() => {});
}

export function journalOutcomeOf(state: IntentState): JournalOutcome {
  return state === 'deleted' ? 'reconciled-deleted' : state === 'still-present' ? 'reconciled-present' : 'reconciled-unknown';
}

export function reconciliationReport(journal: string, reconciled: readonly ReconciledIntent[], checkedAt: Date): ReconciliationReport {
  return {
    journal,
    checkedAt: checkedAt.toISOString(),
    intents: reconciled.map(({ entry, state, error }) => ({ repository: entry.repository, digest: entry.digest, state, ...(error === undefined ? {} : { error }) })),
    deleted: reconciled.filter((intent) => intent.state === 'deleted').map((intent) => ({ ...intent.entry, note: 'reconciled: gone after an earlier run sent its DELETE without learning the answer' })),
    stillPresent: reconciled.filter((intent) => intent.state === 'still-present').length,
    unknown: reconciled.filter((intent) => intent.state === 'unknown').length,
  };
}
