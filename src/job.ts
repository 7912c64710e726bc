import { getHeapStatistics } from 'node:v8';
import { createBlobServiceClient } from './accessLog/sources/storageArchive.js';
import { auditReportOf, journalBlobName, LOCK_CONTAINER, REPORTS_CONTAINER, reportBlobName, ReportStore, type AuditReport, type ClosedRun, type RunOutcome } from './audit.js';
import { ConfigError, loadConfig, loadHostStorage, type Config, type HostStorageConfig, type Settings } from './config.js';
import { DeletionJournal, unresolvedIntents, type OpenIntent } from './deletion/journal.js';
import { journalOutcomeOf, reconciliationReport, type ReconciledIntent } from './deletion/reconcile.js';
import { StopRequest } from './deletion/stop.js';
import { errorMessage, runPass, type PassDependencies } from './pass.js';
import { RunBudget, runStopController } from './registry/budget.js';
import { createCredential } from './registry/credential.js';
import type { SubjectCacheStore } from './registry/subjectCache.js';
import { blobSubjectCacheStore } from './registry/subjectCacheStores.js';
import { renderHtmlReport } from './html/report.js';
import { formatBytes, TOOL_NAME, TOOL_VERSION, type PassReport } from './report.js';
import { describeHolder, RunLease, type LeaseHolder } from './runLease.js';
import { Redactor } from './secrets.js';
import { createPassDependencies } from './wiring.js';

export interface JobContext {
  invocationId: string;
  trigger: AuditReport['trigger'];
  log: (message: string) => void;
  clock?: () => Date;
}

export interface JobOptions {
  dryRun?: boolean;
  /** The preview request this dry run answers. */
  requestId?: string;
  /** The run lease's duration (15–60 s; tests use the shortest). */
  leaseSeconds?: number;
}

export interface JobResult {
  outcome: RunOutcome;
  message: string;
  report?: PassReport;
  /** Where the audit report was written. */
  reportUrl?: string;
  /** Its blob name in the reports container. */
  reportName?: string;
  /** Where the HTML report beside it was written. */
  htmlReportUrl?: string;
  /** A run that stepped aside: who held the run lease, and since when. */
  leaseHeldBy?: AuditReport['leaseHeldBy'];
  /** Earlier runs this run found interrupted and closed (their reports now say `interrupted`). */
  interrupted?: InterruptedRun[];
}

/** An earlier run closed by this one, as its rewritten report tells it. */
export interface InterruptedRun {
  holder: LeaseHolder;
  closed: ClosedRun;
  closedAt: string;
  message: string;
  registry?: string;
  /** What its deletions on record (journal and reconciliation) freed. */
  bytesReclaimed: number;
  htmlReportUrl?: string;
}

/** Validates the pass's settings and the host storage's together, so one error lists every bad setting. */
export function loadJobSettings(settings: Settings): { config: Config; host: HostStorageConfig } {
  const problems: ConfigError['problems'] = [];
  let config: Config | undefined;
  let host: HostStorageConfig | undefined;
  try {
    config = loadConfig(settings);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  try {
    host = loadHostStorage(settings);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config!, host: host! };
}

/** The longest a run can last: its budget, a last request (and its journal append), and a margin to write its report. */
export function maxRunMs(config: Config): number {
  return (config.deletion.timeBudgetSeconds + 2 * config.deletion.requestTimeoutSeconds + 60) * 1000;
}

export function reportStoreOf(host: HostStorageConfig, config: Config, redactor?: Redactor): { reports: ReportStore; hostService: ReturnType<typeof createBlobServiceClient> } {
  const hostService = createBlobServiceClient(host.account, host.account.kind === 'url' ? createCredential(host.credential) : undefined);
  const reports = new ReportStore(hostService.getContainerClient(REPORTS_CONTAINER), { redactor, timeoutMs: config.deletion.requestTimeoutSeconds * 1000 });
  return { reports, hostService };
}

/**
 * One run of the cleaner as the Functions app makes it: settings checked once (a bad setting throws a ConfigError
 * before anything is touched), one run at a time (a blob lease naming its holder), an interrupted earlier run closed
 * first, every deletion journaled beside the audit report, and the report written as soon as the plan is known and
 * again at the end, whatever happens in between.
 */
export async function runCleanupJob(settings: Settings, context: JobContext, options: JobOptions = {}): Promise<JobResult> {
  const startedMs = Date.now();
  const { config, host } = loadJobSettings(settings);
  const redactor = new Redactor(settings);
  const log = (message: string) => context.log(redactor.redact(message));
  // Whether the heap flag the deployment sets reached this process (docs/deploy.md, "Memory").
  log(`V8 heap limit ${Math.round(getHeapStatistics().heap_size_limit / 2 ** 20)} MiB`);
  const clock = context.clock ?? (() => new Date());
  const dryRun = options.dryRun === true || config.dryRun;
  const startedAt = new Date(startedMs).toISOString();
  const reportName = reportBlobName(new Date(startedMs), context.invocationId);
  const { reports, hostService } = reportStoreOf(host, config, redactor);
  const base = { invocationId: context.invocationId, trigger: context.trigger, startedAt, ...(options.requestId === undefined ? {} : { requestId: options.requestId }) };
  const holder: LeaseHolder = { run: context.invocationId, trigger: context.trigger, startedAt, dryRun, report: reportName };
  const timeoutMs = config.deletion.requestTimeoutSeconds * 1000;

  const attempt = await RunLease.acquire(hostService.getContainerClient(LOCK_CONTAINER), {
    holder,
    log,
    leaseSeconds: options.leaseSeconds,
    maxHoldMs: maxRunMs(config),
    quietMs: 2 * timeoutMs + 1000,
    timeoutMs,
    // The nightly run has priority over a preview's dry run, which only reads.
    takeOverFrom: (current) => context.trigger === 'timer' && current?.trigger === 'preview',
  });
  if (!attempt.acquired) return stepAside(attempt.holder, config, reports, base, log);
  const { lease } = attempt;
  const stop = runStopController();
  lease.onLost((message) => stop.abort(new StopRequest('lease-lost', message)));

  let report: PassReport | undefined;
  let reportUrl: string | undefined;
  let htmlReportUrl: string | undefined;
  let failure: unknown;
  const closedRuns: ClosedRun[] = [];
  const interrupted: InterruptedRun[] = [];
  const journal = dryRun ? undefined : new DeletionJournal(reports.journalSink(reportName), { beforeIntents: () => lease.confirm(), clock });
  try {
    const deps = createPassDependencies(config, { clock, log, ...referrerCacheOf(config, hostService, timeoutMs) });
    const notClosed: LeaseHolder[] = [];
    for (const previous of attempt.previous.filter((earlier) => earlier.run !== context.invocationId)) {
      try {
        const closed = await closeInterruptedRun(previous, { reports, deps, config, startedMs, closedBy: context.invocationId, log });
        if (closed !== undefined) closedRuns.push(closed.closed);
        if (closed?.rewritten) interrupted.push(closed.rewritten);
      } catch (error) {
        // Left named in the lock for the next run; this run goes on.
        log(`warning: closing the earlier run ${previous.run} failed (${errorMessage(error)}); the next run tries again`);
        notClosed.push(previous);
      }
    }
    if (attempt.previous.length > 0) await lease.setHolder(holder, notClosed);
    report = await runPass(config, deps, {
      dryRun: options.dryRun,
      signal: stop.signal,
      startedMs,
      journal,
      onPlan: async (planned) => {
        if (journal !== undefined && planned.delete.length > 0 && planned.aborted === null) await journal.start(context.invocationId, planned.registry, `${TOOL_NAME}/${TOOL_VERSION}`, config.deletion.requestTimeoutSeconds);
        const running: AuditReport = { ...base, ...auditReportOf(planned, { withKeep: context.trigger === 'preview' }), ...journalField(journal), closedRuns, finishedAt: null, outcome: 'running', message: 'planned; deleting' };
        const written = await reports.write(running);
        reportUrl = written || reportUrl;
        htmlReportUrl = await writeHtmlReport(reports, running, planned.keep, log);
      },
    });
  } catch (error) {
    failure = error;
  }
  const { outcome, message } = judge(report, failure, context.trigger, closedRuns, lease.lost);
  try {
    await journal?.close();
    const final: AuditReport = { ...base, ...(report ? auditReportOf(report, { withKeep: context.trigger === 'preview' }) : {}), ...journalField(journal), closedRuns, finishedAt: new Date().toISOString(), outcome, message };
    // The page first: a run that dies between the two leaves its report `running`, and the run that closes it
    // rewrites both.
    htmlReportUrl = (await writeHtmlReport(reports, final, report?.keep, log)) ?? htmlReportUrl;
    reportUrl = (await reports.write(final)) || reportUrl;
  } catch (error) {
    log(`warning: writing the audit report failed: ${errorMessage(error)}`);
  } finally {
    await lease.release();
  }
  return { outcome, message: redactor.redact(message), report, reportUrl, reportName, htmlReportUrl, ...(interrupted.length > 0 ? { interrupted } : {}) };
}

/** The live listing's referrer subject cache: a blob per registry beside the reports. */
function referrerCacheOf(config: Config, hostService: ReturnType<typeof createBlobServiceClient>, timeoutMs: number): { referrerCache?: SubjectCacheStore } {
  if (config.registry === undefined || config.inventoryFile !== undefined) return {};
  return { referrerCache: blobSubjectCacheStore(hostService.getContainerClient(REPORTS_CONTAINER), config.registry.endpoint, timeoutMs) };
}

/** The HTML report beside a JSON report; a failure to write it costs the page, never the run. */
async function writeHtmlReport(reports: ReportStore, audit: AuditReport, keep: PassReport['keep'] | undefined, log: (message: string) => void): Promise<string | undefined> {
  try {
    return await reports.writeHtml(audit, renderHtmlReport({ audit, keep }));
  } catch (error) {
    log(`warning: writing the HTML report failed: ${errorMessage(error)}`);
    return undefined;
  }
}

function journalField(journal: DeletionJournal | undefined): { journal?: string } {
  return journal === undefined ? {} : { journal: journal.location };
}

/**
 * Another run holds the lease: say who and since when. A lease held longer than any run can last means a stuck
 * run (or a lease taken by hand): that fails the invocation, so it alerts, instead of skipping silently every night.
 */
async function stepAside(holder: LeaseHolder | undefined, config: Config, reports: ReportStore, base: Omit<AuditReport, 'finishedAt' | 'outcome' | 'message'>, log: (message: string) => void): Promise<JobResult> {
  const heldForMs = holder === undefined ? null : Date.now() - Date.parse(holder.startedAt);
  const stuck = heldForMs !== null && heldForMs > maxRunMs(config);
  const outcome: RunOutcome = stuck ? 'failed' : 'skipped';
  const message = stuck
    ? `the run lease has been held by ${describeHolder(holder)}, ${Math.round(heldForMs! / 1000)} s — longer than a run can last (${maxRunMs(config) / 1000} s): that run is stuck or the lease was taken by hand; this run touched nothing. Break the lease on the blob cleanup-lock/cleanImageCache once nothing runs.`
    : `another cleanup run holds the run lease: ${describeHolder(holder)}; this run stepped aside and touched nothing`;
  log(message);
  const leaseHeldBy = holder === undefined ? undefined : { ...holder, heldForSeconds: heldForMs === null ? null : Math.round(heldForMs / 1000) };
  const audit: AuditReport = { ...base, finishedAt: new Date().toISOString(), outcome, message, ...(leaseHeldBy === undefined ? {} : { leaseHeldBy }) };
  const reportUrl = await reports.write(audit);
  const htmlReportUrl = await writeHtmlReport(reports, audit, undefined, log);
  return { outcome, message, reportUrl: reportUrl || undefined, htmlReportUrl, ...(leaseHeldBy === undefined ? {} : { leaseHeldBy }) };
}

interface ClosingContext {
  reports: ReportStore;
  deps: PassDependencies;
  config: Config;
  startedMs: number;
  closedBy: string;
  log: (message: string) => void;
}

/**
 * The previous lease holder's report still says `running`, and this run holds the lease: that run is no longer
 * alive (or lost its lease, and then sends nothing more). Its journal says what it deleted; each DELETE it sent
 * without learning the answer is checked against the registry. Both reports record the result.
 */
async function closeInterruptedRun(previous: LeaseHolder, { reports, deps, config, startedMs, closedBy, log }: ClosingContext): Promise<{ closed: ClosedRun; rewritten?: InterruptedRun } | undefined> {
  if (previous.report === undefined) return undefined;
  const found = await reports.read(previous.report);
  if (found === undefined) return undefined;
  if (found.report.outcome !== 'running') {
    const checked = await checkUncertainDeletions(previous, { reports, deps, config, startedMs, closedBy, log });
    return checked === undefined ? undefined : { closed: checked };
  }
  const records = await reports.readJournal(previous.report);
  const open = unresolvedIntents(records);
  log(`run ${previous.run} (${previous.trigger}, started ${previous.startedAt}) never finished: closing it; its journal has ${open.length} DELETE(s) without an answer`);
  const reconciled = await reconcileEarlierJournal(previous.report, open, { reports, deps, config, startedMs, log }, false);
  const entries = new Map(records.flatMap((record) => (record.type === 'intent' ? [[`${record.repository}@${record.digest}`, record.entry] as const] : [])));
  const journalDeleted = records.flatMap((record) => (record.type === 'outcome' && record.outcome === 'deleted' ? [{ ...entries.get(`${record.repository}@${record.digest}`)!, ...(record.note ? { note: record.note } : {}) }] : [])).filter((entry) => entry.digest !== undefined);
  const reconciliation = reconciliationReport(reports.urlOf(journalBlobName(previous.report)), reconciled, new Date());
  const closedAt = new Date().toISOString();
  const deleted = journalDeleted.length + reconciliation.deleted.length;
  const message =
    `interrupted: this run stopped without finishing; run ${closedBy} closed it at ${closedAt}. Its journal records ${journalDeleted.length} deletion(s); ` +
    `of ${open.length} DELETE(s) it sent without seeing the answer, ${reconciliation.deleted.length} are gone (deleted), ${reconciliation.stillPresent} still present, ${reconciliation.unknown} unknown`;
  const rewritten: AuditReport = { ...found.report, outcome: 'interrupted', message, interruption: { closedBy, closedAt, journalDeleted, reconciliation } };
  const written = await reports.write(rewritten, { ifMatch: found.etag });
  const closed: ClosedRun = { invocationId: previous.run, report: reports.urlOf(previous.report), deleted, stillPresent: reconciliation.stillPresent, unknown: reconciliation.unknown };
  if (written === false) {
    log(`run ${previous.run} wrote its report meanwhile: it is alive; left as it wrote it`);
    return { closed };
  }
  const htmlReportUrl = await writeHtmlReport(reports, rewritten, found.report.keep, log);
  const bytesReclaimed = [...journalDeleted, ...reconciliation.deleted].reduce((sum, entry) => sum + entry.sizeInBytes + (entry.referrers ?? []).reduce((bytes, referrer) => bytes + referrer.sizeInBytes, 0), 0);
  return { closed, rewritten: { holder: previous, closed, closedAt, message, registry: found.report.registry, bytesReclaimed, ...(htmlReportUrl === undefined ? {} : { htmlReportUrl }) } };
}

/**
 * A run that finished may have given up DELETEs the registry carried out all the same (`uncertain` in its journal):
 * each is checked against the registry and the answer appended to that run's journal.
 */
async function checkUncertainDeletions(previous: LeaseHolder, context: ClosingContext): Promise<ClosedRun | undefined> {
  const open = unresolvedIntents(await context.reports.readJournal(previous.report!));
  if (open.length === 0 || context.deps.deleter?.reconcile === undefined) return undefined;
  context.log(`run ${previous.run} (started ${previous.startedAt}) left ${open.length} DELETE(s) whose outcome it could not tell: checking them`);
  const reconciled = await reconcileEarlierJournal(previous.report!, open, context, true);
  const reconciliation = reconciliationReport(context.reports.urlOf(journalBlobName(previous.report!)), reconciled, new Date());
  return { invocationId: previous.run, report: context.reports.urlOf(previous.report!), deleted: reconciliation.deleted.length, stillPresent: reconciliation.stillPresent, unknown: reconciliation.unknown, finished: true };
}

/** Checks an earlier run's open intents against the registry and appends each answer to that run's journal. */
async function reconcileEarlierJournal(reportName: string, open: OpenIntent[], { reports, deps, config, startedMs, log }: Omit<ClosingContext, 'closedBy'>, earlierRunsEnded: boolean): Promise<ReconciledIntent[]> {
  const budget = new RunBudget(startedMs + config.deletion.timeBudgetSeconds * 1000, config.deletion.requestTimeoutSeconds * 1000);
  const reconciled = open.length > 0 && deps.deleter?.reconcile !== undefined ? await deps.deleter.reconcile(open, budget, { sinceMs: startedMs, earlierRunsEnded, log }) : [];
  if (reconciled.length > 0) {
    const earlierJournal = new DeletionJournal(reports.journalSink(reportName));
    for (const { entry, state, error } of reconciled) void earlierJournal.outcome(entry.repository, entry.digest, journalOutcomeOf(state), error === undefined ? {} : { error }).catch(() => {});
    await earlierJournal.flush();
  }
  return reconciled;
}

function judge(report: PassReport | undefined, failure: unknown, trigger: AuditReport['trigger'], closedRuns: ClosedRun[], leaseLost: boolean): { outcome: RunOutcome; message: string } {
  const closed = closedRuns
    .map((run) =>
      run.finished
        ? `; checked the uncertain DELETEs of run ${run.invocationId} (${run.deleted} found deleted, ${run.stillPresent} still present, ${run.unknown} unknown)`
        : `; closed the interrupted run ${run.invocationId} (${run.deleted} deletion(s) on record, ${run.stillPresent} still present)`,
    )
    .join('');
  const verdict = judgeRun(report, failure, trigger, leaseLost);
  return { outcome: verdict.outcome, message: verdict.message + closed };
}

function judgeRun(report: PassReport | undefined, failure: unknown, trigger: AuditReport['trigger'], leaseLost: boolean): { outcome: RunOutcome; message: string } {
  if (failure !== undefined || report === undefined) return { outcome: 'failed', message: `the run failed: ${errorMessage(failure)}` };
  const execution = report.execution;
  // A preview's dry run gives way to the nightly run: that is not a failure.
  if (leaseLost && trigger === 'preview') return { outcome: 'skipped', message: `stopped: the run lease was taken (a nightly run has priority over a preview): ${report.error ?? execution?.stopMessage}` };
  if (report.error !== null) return { outcome: 'failed', message: report.error };
  if (report.aborted !== null) return { outcome: 'refused', message: `refused (${report.aborted}): ${report.abortMessage}` };
  if (execution === null) {
    return { outcome: 'completed', message: `${report.dryRun ? 'dry run: would delete' : 'nothing to delete:'} ${report.summary.toDelete} manifest(s), ${formatBytes(report.summary.bytesReclaimed)}` };
  }
  const done = `deleted ${execution.deleted.length} manifest(s), ${formatBytes(execution.bytesReclaimed)}`;
  const stopped = execution.stoppedBy === null ? '' : `; stopped (${execution.stoppedBy}): ${execution.stopMessage}`;
  const left = execution.leftForNextRun > 0 ? `; ${execution.leftForNextRun} left for the next run (about ${execution.estimatedMoreRuns} more run(s))` : '';
  if (execution.failed.length > 0 || execution.stoppedBy === 'lease-lost' || execution.stoppedBy === 'journal-failed' || execution.stoppedBy === 'permission-denied') {
    return { outcome: 'failed', message: `${execution.failed.length} deletion(s) failed, ${execution.deleted.length} succeeded${stopped}${left}` };
  }
  return { outcome: 'completed', message: `${done}${stopped}${left}` };
}
