import type { Config } from './config.js';
import { UsageError } from './cliFiles.js';
import { DeletionJournal, FileJournalSink, readJournalFile, unresolvedIntents, type JournalRecord, type OpenIntent } from './deletion/journal.js';
import { journalOutcomeOf, reconciliationReport, type CheckTiming } from './deletion/reconcile.js';
import { errorMessage, type PassDependencies } from './pass.js';
import { RunBudget } from './registry/budget.js';
import { TOOL_NAME, TOOL_VERSION, type ReconciliationReport } from './report.js';

/** The CLI's journal: loaded only by a live run (its records are validated with zod, which --help does without). */

interface JournalContext {
  config: Config;
  deps: PassDependencies;
  startedMs: number;
  timing: CheckTiming & { log: (message: string) => void };
}

/**
 * Opens the journal of a live run: reads what earlier runs left in it, starts this run's section, and checks the
 * DELETEs earlier runs never saw answered. A journal that cannot be written is bad usage: nothing was deleted.
 */
export async function openCliJournal(file: string, context: JournalContext): Promise<{ journal: DeletionJournal; reconciliation?: ReconciliationReport }> {
  const { config, startedMs, timing } = context;
  const journal = new DeletionJournal(new FileJournalSink(file));
  const { records, unreadableLines } = await readJournalFile(file);
  if (unreadableLines.length > 0) timing.log(`note: the journal ${file} has ${unreadableLines.length} line(s) that are not journal records (${describeLines(unreadableLines)}); skipped`);
  const earlier = openIntentsOf(file, records, config.registry?.endpoint ?? '', timing.log);
  try {
    await journal.start(`cli-${new Date(startedMs).toISOString()}-${process.pid}`, config.registry?.endpoint ?? '', `${TOOL_NAME}/${TOOL_VERSION}`, config.deletion.requestTimeoutSeconds);
  } catch (error) {
    await journal.close().catch(() => {});
    throw new UsageError(`--journal: ${file} cannot be written (${errorMessage(error)}); nothing was deleted`);
  }
  const reconciliation = await reconcileJournal(file, earlier, journal, context);
  return reconciliation === undefined ? { journal } : { journal, reconciliation };
}

/**
 * A journal file may end with intents whose outcome an interrupted run never wrote: each is checked against the
 * registry (gone: deleted; present: not) and the answer appended, before this run journals anything of its own.
 */
async function reconcileJournal(file: string, open: OpenIntent[], journal: DeletionJournal, { config, deps, startedMs, timing }: JournalContext): Promise<ReconciliationReport | undefined> {
  const { log } = timing;
  if (open.length === 0 || deps.deleter?.reconcile === undefined) return undefined;
  log(`the journal ${file} has ${open.length} deletion(s) an earlier run started but never saw answered: checking them`);
  const budget = new RunBudget(startedMs + config.deletion.timeBudgetSeconds * 1000, config.deletion.requestTimeoutSeconds * 1000);
  const reconciled = await deps.deleter.reconcile(open, budget, timing);
  for (const { entry, state, error } of reconciled) await journal.outcome(entry.repository, entry.digest, journalOutcomeOf(state), error === undefined ? {} : { error });
  const report = reconciliationReport(file, reconciled, new Date());
  log(`earlier run: ${report.deleted.length} of them deleted, ${report.stillPresent} still present, ${report.unknown} unknown`);
  return report;
}

/**
 * The open intents of runs on this registry: one found gone here says nothing about another registry's manifest.
 * (Intents of runs whose line does not name a registry are taken as this registry's.)
 */
function openIntentsOf(file: string, records: JournalRecord[], endpoint: string, log: (message: string) => void): OpenIntent[] {
  const open = unresolvedIntents(records);
  const here = open.filter((intent) => intent.registry === undefined || intent.registry === '' || intent.registry === endpoint);
  const elsewhere = [...new Set(open.filter((intent) => !here.includes(intent)).map((intent) => intent.registry))];
  if (here.length < open.length) log(`the journal ${file} has ${open.length - here.length} open deletion(s) of runs on another registry (${elsewhere.join(', ')}); left for a run on that registry`);
  return here;
}

function describeLines(lines: number[]): string {
  const shown = lines.slice(0, 10).join(', ');
  return `${lines.length === 1 ? 'line' : 'lines'} ${shown}${lines.length > 10 ? ', …' : ''}`;
}
