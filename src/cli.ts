#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { Config } from './config.js';
import { checkDirectory, checkReadableFile, checkWritableFile, defaultJournalFile, JournalLock, UsageError, type CliEnvironment } from './cliFiles.js';
import type { DeletionJournal, OpenIntent } from './deletion/journal.js';
import { journalOutcomeOf, reconciliationReport, type CheckTiming } from './deletion/reconcile.js';
import { StopRequest } from './deletion/stop.js';
import type { PassDependencies } from './pass.js';
import { RunBudget } from './registry/budget.js';
import { fileSubjectCacheStore } from './registry/subjectCacheStores.js';
import { formatReportText, TOOL_NAME, TOOL_VERSION, type PassReport, type ReconciliationReport } from './report.js';
import { Redactor } from './secrets.js';
import { flagOf, SETTINGS, type SettingName, type Settings } from './settings.js';

/** Exit codes; a run stopped by a signal exits 128 + the signal's number, as shells expect (130 SIGINT, 143 SIGTERM). */
export const EXIT = { ok: 0, failure: 1, usage: 2, refused: 3, SIGINT: 130, SIGTERM: 143 } as const;

/** The stop request a signal makes: no new deletions, the ones in flight finish, the report is printed. */
export class SignalReceived extends StopRequest {
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super('cancelled', `interrupted by ${signal}`);
  }
}

const BOOLEAN_SETTINGS = new Set<SettingName>(['DRY_RUN']);
const CLI_ONLY_SETTINGS = new Set<SettingName>(['CLEANUP_SCHEDULE', 'AZURE_CLIENT_ID']);
const settingByFlag = new Map<string, SettingName>(
  (Object.keys(SETTINGS) as SettingName[]).filter((name) => !CLI_ONLY_SETTINGS.has(name)).map((name) => [flagOf(name).slice(2), name]),
);

const USAGE = `usage: acr-cache-cleaner [flags]

Deletes the manifests of an Azure Container Registry that its access logs show were pulled or pushed
fewer than --cache-min-access-count times in the last --cache-history-days days.

${[...settingByFlag]
  .map(([flag, name]) => `  --${flag}${BOOLEAN_SETTINGS.has(name) ? '' : ' VALUE'}\n      ${SETTINGS[name].meaning}${SETTINGS[name].default ? ` (default: ${SETTINGS[name].default})` : ''}`)
  .join('\n')}
  --now ISO-TIME
      Plan as if it were this time (default: now); only with --dry-run or --inventory.
  --export-inventory FILE
      Write the listed registry inventory to FILE (the --inventory format).
  --referrer-cache FILE
      Keep in FILE what the live listing learned about OCI referrers (each digest's subject), so that the
      next run reads only the manifest documents of digests it has not seen. Tied to the registry; a file
      that is unreadable or of another registry is ignored with a note.
  --journal FILE
      Append the deletion journal to FILE (JSON lines): each deletion's intent, flushed to disk before its
      DELETE is sent, and its outcome. Intents left without an outcome by an interrupted run (or whose DELETE
      may have been carried out unseen) are checked against the registry first. One run per journal (a
      FILE.lock names its process). Default for a live run: $XDG_STATE_HOME/acr-cache-cleaner/<registry
      host>.journal.jsonl (~/.local/state when XDG_STATE_HOME is not set).
  --output text|json|html [FILE]
      text: a readable summary (default); json: one JSON document on stdout; html: a self-contained
      HTML report, to FILE (the summary then goes to stdout) or to stdout.
  --help, --version

Exit codes: 0 pass completed (dry run or not), 1 failure, 2 bad usage, 3 refused by a safety guard,
130/143 stopped by SIGINT/SIGTERM (deletions in flight finished, the report printed; again to quit at once).
`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Aborted on SIGINT/SIGTERM (with a {@link SignalReceived}): the run stops starting deletions. */
  stop?: AbortSignal;
  /** What bin.ts passes from the environment: where a live run's default journal goes. */
  env?: CliEnvironment;
}

export type { CliEnvironment };

/** Runs the CLI on `argv` (without node and script) and returns its exit code. */
export async function main(argv: string[], rawIo: CliIo): Promise<number> {
  // Secrets given as flags (a connection string in the wrong flag) are named, never printed.
  let redactor = new Redactor({});
  const io: CliIo = { stdout: (text) => rawIo.stdout(redactor.redact(text)), stderr: (text) => rawIo.stderr(redactor.redact(text)), stop: rawIo.stop, env: rawIo.env };
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    now: { type: 'string' },
    output: { type: 'string' },
    'export-inventory': { type: 'string' },
    journal: { type: 'string' },
    'referrer-cache': { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
  };
  for (const [flag, name] of settingByFlag) options[flag] = { type: BOOLEAN_SETTINGS.has(name) ? 'boolean' : 'string' };

  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals: true }));
  } catch (error) {
    io.stderr(`acr-cache-cleaner: ${(error as Error).message}\nRun with --help for the flags.\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  if (values.version) {
    io.stdout(`${TOOL_VERSION}\n`);
    return EXIT.ok;
  }
  // Loaded only now (zod with them): --help and --version need none of it.
  const [{ ConfigError, loadConfig }, { InventoryFileError }, { errorMessage, runPass }, { createPassDependencies }, { htmlFileProblem, htmlOutputFile, writeHtmlOutput }] = await Promise.all([
    import('./config.js'),
    import('./inventory.js'),
    import('./pass.js'),
    import('./wiring.js'),
    import('./html/cliOutput.js'),
  ]);
  const output = (values.output as string | undefined) ?? 'text';
  if (output !== 'text' && output !== 'json' && output !== 'html') {
    io.stderr(`acr-cache-cleaner: --output must be text, json or html, not ${JSON.stringify(output)}\n`);
    return EXIT.usage;
  }
  const html = htmlOutputFile(output, positionals);
  if (html.problem === undefined && html.file !== undefined) html.problem = await htmlFileProblem(html.file);
  if (html.problem !== undefined) {
    io.stderr(`acr-cache-cleaner: ${html.problem}\nRun with --help for the flags.\n`);
    return EXIT.usage;
  }
  let now = new Date();
  if (values.now !== undefined) {
    now = new Date(values.now as string);
    if (Number.isNaN(now.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(values.now as string)) {
      io.stderr(`acr-cache-cleaner: --now must be an ISO 8601 time such as 2025-01-30T02:00:00Z, not ${JSON.stringify(values.now)}\n`);
      return EXIT.usage;
    }
  }

  const settings: Settings = {};
  for (const [flag, name] of settingByFlag) {
    const value = values[flag];
    if (value !== undefined) settings[name] = String(value);
  }
  redactor = new Redactor(settings);

  let report: PassReport;
  let journal: DeletionJournal | undefined;
  let lock: JournalLock | undefined;
  try {
    const startedMs = Date.now();
    const config = loadConfig(settings);
    if (values.now !== undefined && config.inventoryFile === undefined && !config.dryRun) {
      io.stderr(
        'acr-cache-cleaner: --now is for planning: on a live registry it would delete on evidence judged at another time (a pull after that time would not count). Add --dry-run, or plan offline with --inventory.\n',
      );
      return EXIT.usage;
    }
    const referrerCache = values['referrer-cache'] as string | undefined;
    if (referrerCache !== undefined && config.inventoryFile !== undefined) {
      io.stderr('acr-cache-cleaner: --referrer-cache is for listing a live registry; an --inventory snapshot already names each referrer\'s subject. Leave one of them out.\n');
      return EXIT.usage;
    }
    const log = (message: string) => io.stderr(`${message}\n`);
    const exportInventory = values['export-inventory'] as string | undefined;
    const journalFile = await journalFileOf(values.journal as string | undefined, config, io.env ?? {});
    await checkFiles(config, exportInventory, journalFile, referrerCache);
    let timing: CheckTiming | undefined;
    if (journalFile !== undefined) {
      lock = await JournalLock.acquire(journalFile, log);
      timing = { sinceMs: Date.now(), earlierRunsEnded: !lock.tookOver };
      if (values.journal === undefined) log(`journaling deletions to ${journalFile} (give --journal FILE to choose)`);
    }
    const deps = createPassDependencies(config, {
      clock: () => now,
      log,
      exportInventory,
      ...(referrerCache === undefined ? {} : { referrerCache: fileSubjectCacheStore(referrerCache) }),
    });
    let reconciliation: ReconciliationReport | undefined;
    if (journalFile !== undefined && timing !== undefined) {
      // Loaded only for a live run (zod with it): --help and offline runs need no journal.
      const { DeletionJournal, FileJournalSink, readJournalFile, unresolvedIntents } = await import('./deletion/journal.js');
      journal = new DeletionJournal(new FileJournalSink(journalFile));
      const { records, unreadableLines } = await readJournalFile(journalFile);
      if (unreadableLines.length > 0) log(`note: the journal ${journalFile} has ${unreadableLines.length} line(s) that are not journal records (${describeLines(unreadableLines)}); skipped`);
      const earlier = openIntentsOf(journalFile, unresolvedIntents(records), config.registry?.endpoint ?? '', log);
      try {
        await journal.start(`cli-${new Date(startedMs).toISOString()}-${process.pid}`, config.registry?.endpoint ?? '', `${TOOL_NAME}/${TOOL_VERSION}`, config.deletion.requestTimeoutSeconds);
      } catch (error) {
        io.stderr(`acr-cache-cleaner: --journal: ${journalFile} cannot be written (${errorMessage(error)}); nothing was deleted\n`);
        return EXIT.usage;
      }
      reconciliation = await reconcileJournal(journalFile, earlier, journal, config, deps, startedMs, { ...timing, signal: io.stop, log });
    }
    report = await runPass(config, deps, { signal: io.stop, startedMs, journal });
    if (reconciliation !== undefined) report.reconciliation = reconciliation;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`acr-cache-cleaner: ${error.describe(flagOf)}\n`);
      return EXIT.usage;
    }
    if (error instanceof InventoryFileError || error instanceof UsageError) {
      io.stderr(`acr-cache-cleaner: ${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`acr-cache-cleaner: ${errorMessage(error)}\n`);
    return EXIT.failure;
  } finally {
    await journal?.close();
    await lock?.release();
  }

  if (output === 'json') io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else if (output === 'html') {
    try {
      await writeHtmlOutput(report, html.file, { ...io, redact: (text) => redactor.redact(text) });
    } catch (error) {
      io.stderr(`acr-cache-cleaner: writing the HTML report failed: ${errorMessage(error)}\n`);
      return EXIT.failure;
    }
  } else io.stdout(`${formatReportText(report)}\n`);
  const signal = io.stop?.aborted && io.stop.reason instanceof SignalReceived ? io.stop.reason.signal : undefined;
  return signal === undefined ? exitCodeOf(report) : EXIT[signal];
}

/**
 * A journal file may end with intents whose outcome an interrupted run never wrote: each is checked against the
 * registry (gone: deleted; present: not) and the answer appended, before this run journals anything of its own.
 */
async function reconcileJournal(
  file: string,
  open: OpenIntent[],
  journal: DeletionJournal,
  config: Config,
  deps: PassDependencies,
  startedMs: number,
  timing: CheckTiming & { log: (message: string) => void },
): Promise<ReconciliationReport | undefined> {
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

/** The journal of a live run: --journal, or the default one; none for a dry run (it deletes nothing). */
async function journalFileOf(given: string | undefined, config: Config, env: CliEnvironment): Promise<string | undefined> {
  if (config.dryRun || config.registry === undefined) return undefined;
  return given ?? (await defaultJournalFile(config.registry.endpoint, env));
}

/** Each file flag names something the run can use, checked before anything starts (a FIFO would block it for ever). */
async function checkFiles(config: Config, exportInventory: string | undefined, journalFile: string | undefined, referrerCache: string | undefined): Promise<void> {
  if (config.inventoryFile !== undefined) await checkReadableFile('--inventory', config.inventoryFile);
  if (config.logs.kind === 'dir') await checkDirectory('--log-dir', config.logs.directory);
  if (exportInventory !== undefined) await checkWritableFile('--export-inventory', exportInventory);
  if (journalFile !== undefined) await checkWritableFile('--journal', journalFile);
  if (referrerCache !== undefined) await checkWritableFile('--referrer-cache', referrerCache);
}

/**
 * The open intents of runs on this registry: one found gone here says nothing about another registry's manifest.
 * (Intents of runs whose line does not name a registry are taken as this registry's.)
 */
function openIntentsOf(file: string, open: OpenIntent[], endpoint: string, log: (message: string) => void): OpenIntent[] {
  const here = open.filter((intent) => intent.registry === undefined || intent.registry === '' || intent.registry === endpoint);
  const elsewhere = [...new Set(open.filter((intent) => !here.includes(intent)).map((intent) => intent.registry))];
  if (here.length < open.length) log(`the journal ${file} has ${open.length - here.length} open deletion(s) of runs on another registry (${elsewhere.join(', ')}); left for a run on that registry`);
  return here;
}

function describeLines(lines: number[]): string {
  const shown = lines.slice(0, 10).join(', ');
  return `${lines.length === 1 ? 'line' : 'lines'} ${shown}${lines.length > 10 ? ', …' : ''}`;
}

export function exitCodeOf(report: PassReport): number {
  if (report.error !== null) return EXIT.failure;
  if (report.aborted !== null) return EXIT.refused;
  if (report.execution !== null && report.execution.failed.length > 0) return EXIT.failure;
  // Stopped for a reason that needs a person: the journal could not be written, or deleting was refused.
  if (report.execution?.stoppedBy === 'journal-failed' || report.execution?.stoppedBy === 'permission-denied') return EXIT.failure;
  return EXIT.ok;
}
