import { createBlobServiceClient } from './accessLog/sources/storageArchive.js';
import { auditReportOf, LOCK_CONTAINER, REPORTS_CONTAINER, ReportStore, RunLease, type AuditReport, type RunOutcome } from './audit.js';
import { ConfigError, loadConfig, loadHostStorage, type Config, type HostStorageConfig, type Settings } from './config.js';
import { errorMessage, runPass } from './pass.js';
import { createCredential } from './registry/credential.js';
import { renderHtmlReport, type HtmlReportInput } from './html/report.js';
import { formatBytes, type PassReport } from './report.js';
import { createPassDependencies } from './wiring.js';

export interface JobContext {
  invocationId: string;
  trigger: AuditReport['trigger'];
  log: (message: string) => void;
  clock?: () => Date;
}

export interface JobResult {
  outcome: RunOutcome;
  message: string;
  report?: PassReport;
  /** Where the audit report was written. */
  reportUrl?: string;
  /** Where its HTML rendering was written. */
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

/**
 * One run of the cleaner as the Functions app makes it: settings checked once (a bad setting throws a
 * ConfigError before anything is touched), one run at a time (a blob lease), and an audit report written
 * as soon as the plan is known and again at the end, whatever happens in between.
 */
export async function runCleanupJob(settings: Settings, context: JobContext, options: { dryRun?: boolean } = {}): Promise<JobResult> {
  const { config, host } = loadJobSettings(settings);
  const clock = context.clock ?? (() => new Date());
  const startedAt = new Date();
  const hostService = createBlobServiceClient(host.account, host.account.kind === 'url' ? createCredential(host.credential) : undefined);
  const reports = new ReportStore(hostService.getContainerClient(REPORTS_CONTAINER));
  const base = { invocationId: context.invocationId, trigger: context.trigger, startedAt: startedAt.toISOString() };

  const lease = options.dryRun ? undefined : await RunLease.acquire(hostService.getContainerClient(LOCK_CONTAINER), context.log);
  if (!options.dryRun && lease === undefined) {
    const message = 'another cleanup run holds the run lease: this run stepped aside and touched nothing';
    context.log(message);
    const finishedAt = new Date().toISOString();
    const reportUrl = await reports.write({ ...base, finishedAt, outcome: 'skipped', message });
    const htmlReportUrl = await writeHtmlReport(reports, { outcome: 'skipped', message, run: { ...base, finishedAt, reportUrl } }, context.log);
    return { outcome: 'skipped', message, reportUrl, htmlReportUrl };
  }

  let report: PassReport | undefined;
  let reportUrl: string | undefined;
  let failure: unknown;
  try {
    report = await runPass(config, createPassDependencies(config, { clock, log: context.log }), {
      dryRun: options.dryRun,
      onPlan: async (planned) => {
        reportUrl = await reports.write({ ...base, ...auditReportOf(planned), finishedAt: null, outcome: 'running', message: 'planned; deleting' });
      },
    });
  } catch (error) {
    failure = error;
  } finally {
    await lease?.release();
  }
  const { outcome, message } = judge(report, failure);
  const finishedAt = new Date().toISOString();
  try {
    reportUrl = await reports.write({ ...base, ...(report ? auditReportOf(report) : {}), finishedAt, outcome, message });
  } catch (error) {
    context.log(`warning: writing the audit report failed: ${errorMessage(error)}`);
  }
  const htmlReportUrl = await writeHtmlReport(reports, { outcome, message, report, run: { ...base, finishedAt, reportUrl } }, context.log);
  return { outcome, message, report, reportUrl, htmlReportUrl };
}

async function writeHtmlReport(reports: ReportStore, input: HtmlReportInput & { run: { invocationId: string; startedAt: string } }, log: (message: string) => void): Promise<string | undefined> {
  try {
    return await reports.writeHtml(input.run, renderHtmlReport(input));
  } catch (error) {
    log(`warning: writing the HTML report failed: ${errorMessage(error)}`);
    return undefined;
  }
}

function judge(report: PassReport | undefined, failure: unknown): { outcome: RunOutcome; message: string } {
  if (failure !== undefined || report === undefined) return { outcome: 'failed', message: `the run failed: ${errorMessage(failure)}` };
  if (report.error !== null) return { outcome: 'failed', message: report.error };
  if (report.aborted !== null) return { outcome: 'refused', message: `refused (${report.aborted}): ${report.abortMessage}` };
  const execution = report.execution;
  if (execution !== null && execution.failed.length > 0) {
    return { outcome: 'failed', message: `${execution.failed.length} deletion(s) failed, ${execution.deleted.length} succeeded` };
  }
  if (execution === null) {
    return { outcome: 'completed', message: `${report.dryRun ? 'dry run: would delete' : 'nothing to delete:'} ${report.summary.toDelete} manifest(s), ${formatBytes(report.summary.bytesReclaimed)}` };
  }
  const left = execution.leftForNextRun > 0 ? `; ${execution.leftForNextRun} left for the next run (about ${execution.estimatedMoreRuns} more run(s))` : '';
  return { outcome: 'completed', message: `deleted ${execution.deleted.length} manifest(s), ${formatBytes(execution.bytesReclaimed)}${left}` };
}
