import { forEachConcurrently } from '../concurrency.js';
import type { RunBudget } from '../registry/budget.js';
import { RatePacer } from '../registry/pacer.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../registry/retry.js';
import type { DeletionEntry, ReconciliationReport } from '../report.js';
import type { IntentRecord, JournalOutcome } from './journal.js';
import { readWithRetries, type RegistryPort } from './statusPolicy.js';

/** What the registry says now about a DELETE that an unfinished run meant to send. */
export type IntentState = ReconciliationReport['intents'][number]['state'];

export interface ReconciledIntent {
  entry: DeletionEntry;
  state: IntentState;
  /** Why the state is unknown. */
  error?: string;
}

export interface ReconcileOptions {
  budget: RunBudget;
  readsPerMinute: number;
  concurrency: number;
  retry?: RetryPolicy;
}

/**
 * Checks each unresolved intent of an interrupted run against the registry: a manifest that is gone was deleted
 * (by that run, most likely: its DELETE was sent and it never learned the answer), one that is present was not.
 */
export async function reconcileIntents(intents: readonly IntentRecord[], newPort: () => RegistryPort, options: ReconcileOptions): Promise<ReconciledIntent[]> {
  const pacer = new RatePacer(options.readsPerMinute);
  const results: ReconciledIntent[] = new Array(intents.length);
  await forEachConcurrently(
    intents,
    options.concurrency,
    async (intent, port, index) => {
      const read = await readWithRetries(port, intent.repository, intent.digest, { pacer, retry: options.retry ?? DEFAULT_RETRY, budget: options.budget, stopped: () => undefined });
      const entry = intent.entry;
      if ('gone' in read) results[index] = { entry, state: 'deleted' };
      else if ('state' in read) results[index] = { entry, state: 'still-present' };
      else results[index] = { entry, state: 'unknown', error: 'error' in read ? read.error : read.stop.message };
    },
    newPort,
  );
  return results;
}

export function journalOutcomeOf(state: IntentState): JournalOutcome {
  return state === 'deleted' ? 'reconciled-deleted' : state === 'still-present' ? 'reconciled-present' : 'reconciled-unknown';
}

export function reconciliationReport(journal: string, reconciled: readonly ReconciledIntent[], checkedAt: Date): ReconciliationReport {
  return {
    journal,
    checkedAt: checkedAt.toISOString(),
    intents: reconciled.map(({ entry, state, error }) => ({ repository: entry.repository, digest: entry.digest, state, ...(error === undefined ? {} : { error }) })),
    deleted: reconciled.filter((intent) => intent.state === 'deleted').map((intent) => ({ ...intent.entry, note: 'reconciled: gone after an interrupted run sent its DELETE' })),
    stillPresent: reconciled.filter((intent) => intent.state === 'still-present').length,
    unknown: reconciled.filter((intent) => intent.state === 'unknown').length,
  };
}
