import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import { ConfigError } from '../config.js';
import { runCleanupJob, type JobResult } from '../job.js';
import { formatReportText } from '../report.js';
import { withRunTelemetry } from '../telemetry/withRunTelemetry.js';

/** The one place the app reads its settings: the Functions host puts app settings in the environment. */
function appSettings(): Record<string, string | undefined> {
  return { ...process.env };
}

function summary(result: JobResult): Record<string, unknown> {
  const report = result.report;
  return {
    outcome: result.outcome,
    message: result.message,
    reportUrl: result.reportUrl,
    htmlReportUrl: result.htmlReportUrl,
    dryRun: report?.dryRun,
    aborted: report?.aborted,
    manifests: report?.summary.manifests,
    toDelete: report?.summary.toDelete,
    deleted: report?.execution?.deleted.length,
    failed: report?.execution?.failed.length,
    leftForNextRun: report?.execution?.leftForNextRun,
    logs: report ? { linesRead: report.logs.linesRead, accessesCounted: report.logs.accessesCounted, newestRecord: report.logs.newestRecord } : undefined,
  };
}

/**
 * The nightly timer (and the portal's Test/Run): one cleanup pass. Throws when a guard refused the pass or
 * anything failed, so the invocation shows as failed and alerts fire.
 */
export async function cleanImageCacheHandler(timer: Timer, context: InvocationContext): Promise<void> {
  if (timer.isPastDue) context.warn('the timer is past due: this run starts late');
  let result: JobResult;
  const settings = appSettings();
  const job = { invocationId: context.invocationId, trigger: 'timer', log: (message: string) => context.log(message) } as const;
  try {
    result = await withRunTelemetry(settings, { ...job, traceContext: context.traceContext }, () => runCleanupJob(settings, job));
  } catch (error) {
    if (error instanceof ConfigError) {
      context.error(error.message);
      throw new Error(`acr-cache-cleaner is misconfigured; nothing was touched.\n${error.message}`);
    }
    throw error;
  }
  context.log('cleanup summary', JSON.stringify(summary(result)));
  if (result.outcome === 'refused' || result.outcome === 'failed') {
    context.error(result.message);
    throw new Error(`acr-cache-cleaner ${result.outcome}: ${result.message} (report: ${result.reportUrl ?? 'not written'})`);
  }
}

/**
 * "What would tonight's run delete?": the same pass as a dry run, answered as JSON (or `?format=text`). The
 * kept manifests are counted per reason in the summary; `?keep=true` lists them too (large for a big registry).
 */
export async function previewCleanupHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  let result: JobResult;
  try {
    result = await runCleanupJob(appSettings(), { invocationId: context.invocationId, trigger: 'preview', log: (message) => context.log(message) }, { dryRun: true });
  } catch (error) {
    if (error instanceof ConfigError) return { status: 500, jsonBody: { error: 'misconfigured', problems: error.problems } };
    throw error;
  }
  const report = result.report;
  if (request.query.get('format') === 'text') {
    return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: report ? `${formatReportText(report)}\n` : `${result.message}\n` };
  }
  const withKeep = request.query.get('keep') === 'true';
  const body = report === undefined || withKeep ? report : { ...report, keep: undefined };
  return { status: 200, jsonBody: { outcome: result.outcome, message: result.message, reportUrl: result.reportUrl, report: body } };
}
