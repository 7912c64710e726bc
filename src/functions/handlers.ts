import { output, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import type { AuditReport } from '../audit.js';
import { ConfigError } from '../config.js';
import { loadJobSettings, maxRunMs, reportStoreOf, runCleanupJob, type JobResult } from '../job.js';
import { PREVIEW_QUEUE, PreviewRequests, REQUESTS_CONTAINER, type PreviewRequest } from '../previews.js';
import { formatReportText, type PassReport } from '../report.js';
import { Redactor } from '../secrets.js';
import { withRunTelemetry } from '../telemetry/withRunTelemetry.js';

/** The one place the app reads its settings: the Functions host puts app settings in the environment. */
function appSettings(): Record<string, string | undefined> {
  return { ...process.env };
}

/** The preview's request for a fresh dry run, put on a queue for {@link previewWorkerHandler}. */
export const previewQueueOutput = output.storageQueue({ queueName: PREVIEW_QUEUE, connection: 'AzureWebJobsStorage' });

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
    stoppedBy: report?.execution?.stoppedBy,
    logs: report ? { linesRead: report.logs.linesRead, accessesCounted: report.logs.accessesCounted, newestRecord: report.logs.newestRecord } : undefined,
  };
}

/**
 * The nightly timer (and the portal's Test/Run): one cleanup pass. Throws when a guard refused the pass, anything
 * failed, or the run lease is stuck, so the invocation shows as failed and alerts fire.
 */
export async function cleanImageCacheHandler(timer: Timer, context: InvocationContext): Promise<void> {
  const settings = appSettings();
  const redactor = new Redactor(settings);
  if (timer.isPastDue) context.warn('the timer is past due: this run starts late');
  let result: JobResult;
  try {
    const job = { invocationId: context.invocationId, trigger: 'timer', log: (message: string) => context.log(message) } as const;
    result = await withRunTelemetry(settings, { ...job, traceContext: context.traceContext }, () => runCleanupJob(settings, job));
  } catch (error) {
    if (error instanceof ConfigError) {
      const message = redactor.redact(error.message);
      context.error(message);
      throw new Error(`acr-cache-cleaner is misconfigured; nothing was touched.\n${message}`);
    }
    throw new Error(redactor.redact(error instanceof Error ? error.message : String(error)));
  }
  context.log('cleanup summary', redactor.redact(JSON.stringify(summary(result))));
  if (result.outcome === 'refused' || result.outcome === 'failed') {
    context.error(result.message);
    throw new Error(`acr-cache-cleaner ${result.outcome}: ${result.message} (report: ${result.reportUrl ?? 'not written'})`);
  }
}

/**
 * "What would tonight's run delete?" — answered within seconds whatever the registry's size, and without a single
 * registry request: the newest dry run's plan (a preview's or a nightly dry run's), read from the audit reports.
 * `POST` (or `?refresh=true`) asks for a fresh one: a queued request that {@link previewWorkerHandler} runs under the
 * run lease, answered 202 with where to look (`?request=ID`). `?format=text` answers as text; `?keep=true` lists the
 * kept manifests too (previews' reports have them).
 */
export async function previewCleanupHandler(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const settings = appSettings();
  const redactor = new Redactor(settings);
  let loaded: ReturnType<typeof loadJobSettings>;
  try {
    loaded = loadJobSettings(settings);
  } catch (error) {
    if (error instanceof ConfigError) return redacted(redactor, { status: 500, jsonBody: { error: 'misconfigured', problems: error.problems } });
    throw error;
  }
  const { config, host } = loaded;
  const { reports, hostService } = reportStoreOf(host, config, redactor);
  const requests = new PreviewRequests(hostService.getContainerClient(REQUESTS_CONTAINER), config.deletion.requestTimeoutSeconds * 1000);
  const nowMs = Date.now();

  const requestId = request.query.get('request');
  if (requestId !== null) {
    const asked = await requests.get(requestId);
    if (asked === undefined) return { status: 404, jsonBody: { error: `no preview request ${requestId}` } };
    if (asked.status === 'queued' || asked.status === 'running') return accepted(request, asked, 'the dry run is on its way');
    const done = asked.report !== undefined && (asked.status === 'completed' || asked.status === 'refused') ? await reports.read(asked.report) : undefined;
    if (done === undefined) {
      const reportUrl = asked.report === undefined ? null : reports.urlOf(asked.report);
      return redacted(redactor, { status: 200, jsonBody: { requestId: asked.id, status: asked.status, message: asked.message ?? null, reportUrl } });
    }
    return redacted(redactor, answer(request, done.report, reports.urlOf(asked.report!), null));
  }

  const refresh = request.method === 'POST' || request.query.get('refresh') === 'true';
  const newest = refresh ? undefined : await reports.newestPlan(nowMs);
  if (newest === undefined) {
    const pending = await requests.pending(nowMs, maxRunMs(config));
    if (pending !== undefined) return accepted(request, pending, 'a fresh dry run is already on its way');
    const created = await requests.create(nowMs);
    context.extraOutputs.set(previewQueueOutput, { requestId: created.id });
    context.log(`preview: queued a fresh dry run (request ${created.id})`);
    return accepted(request, created, refresh ? 'a fresh dry run is queued' : 'no dry-run plan yet: a fresh dry run is queued');
  }
  return redacted(redactor, answer(request, newest.report, reports.urlOf(newest.name), newest.deletedSince));
}

/** A preview request from the queue: the dry run, under the run lease, with its request's status kept up to date. */
export async function previewWorkerHandler(message: unknown, context: InvocationContext): Promise<void> {
  const settings = appSettings();
  const redactor = new Redactor(settings);
  const requestId = typeof message === 'object' && message !== null && typeof (message as { requestId?: unknown }).requestId === 'string' ? (message as { requestId: string }).requestId : undefined;
  let requests: PreviewRequests | undefined;
  let asked: PreviewRequest | undefined;
  try {
    const { config, host } = loadJobSettings(settings);
    requests = new PreviewRequests(reportStoreOf(host, config).hostService.getContainerClient(REQUESTS_CONTAINER), config.deletion.requestTimeoutSeconds * 1000);
    asked = requestId === undefined ? undefined : await requests.get(requestId);
    if (asked !== undefined) await requests.save({ ...asked, status: 'running', startedAt: new Date().toISOString() });
    const job = { invocationId: context.invocationId, trigger: 'preview', log: (text: string) => context.log(text) } as const;
    const result = await withRunTelemetry(settings, { ...job, traceContext: context.traceContext }, () => runCleanupJob(settings, job, { dryRun: true, requestId }));
    if (asked !== undefined) await requests.save({ ...asked, status: result.outcome, finishedAt: new Date().toISOString(), report: result.reportName, message: result.message });
    context.log(`preview ${requestId ?? '(no request)'}: ${result.outcome}: ${result.message}`);
  } catch (error) {
    // Not rethrown: a retried dry run would only compete with the next request; the status says what happened.
    const text = redactor.redact(error instanceof Error ? error.message : String(error));
    context.error(`preview ${requestId ?? '(no request)'} failed: ${text}`);
    if (requests !== undefined && asked !== undefined) await requests.save({ ...asked, status: 'failed', finishedAt: new Date().toISOString(), message: text }).catch(() => {});
  }
}

function accepted(request: HttpRequest, asked: PreviewRequest, message: string): HttpResponseInit {
  const statusUrl = statusUrlOf(request, asked.id);
  return { status: 202, headers: { Location: statusUrl }, jsonBody: { requestId: asked.id, status: asked.status, requestedAt: asked.requestedAt, statusUrl, message } };
}

function statusUrlOf(request: HttpRequest, id: string): string {
  const url = new URL(request.url ?? 'http://localhost/api/previewCleanup');
  url.search = new URLSearchParams({ request: id }).toString();
  return request.url === undefined ? `${url.pathname}${url.search}` : url.toString();
}

/** A stored dry run's plan, as JSON (the kept manifests only with `keep=true`) or text. */
function answer(request: HttpRequest, report: AuditReport, reportUrl: string, deletedSince: string | null): HttpResponseInit {
  const stale = deletedSince === null ? null : `a cleanup run (${deletedSince}) deleted after this plan was made: POST to refresh it`;
  if (request.query.get('format') === 'text') {
    const text = report.summary === undefined ? report.message : formatReportText(report as unknown as PassReport);
    return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: `${text}\nplanned at ${report.startedAt} by a ${report.trigger} dry run${stale ? `; ${stale}` : ''}\n` };
  }
  const withKeep = request.query.get('keep') === 'true';
  const body = withKeep ? report : { ...report, keep: undefined };
  const keepNote = withKeep && report.keep === undefined ? 'this plan has no list of kept manifests (only previews keep one): POST to get a fresh preview' : null;
  return { status: 200, jsonBody: { outcome: report.outcome, message: report.message, reportUrl, plannedAt: report.startedAt, source: report.trigger, stale, keepNote, report: body } };
}

/** Every HTTP body passes through the redactor: a secret setting is named, never sent back. */
function redacted(redactor: Redactor, response: HttpResponseInit): HttpResponseInit {
  if (response.jsonBody !== undefined) return { ...response, jsonBody: JSON.parse(redactor.redact(JSON.stringify(response.jsonBody))) as unknown };
  if (typeof response.body === 'string') return { ...response, body: redactor.redact(response.body) };
  return response;
}
