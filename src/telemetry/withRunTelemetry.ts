import type { Settings } from '../config.js';
import type { JobResult } from '../job.js';
import { sendRunEvents, type SendOptions } from './azureMonitor.js';
import { Redactor } from '../secrets.js';
import { runTelemetryRecords, type RunTelemetryRecord } from './runTelemetry.js';
import { loadTelemetrySettings } from './settings.js';

export interface RunTelemetryContext {
  invocationId: string;
  trigger: string;
  log: (message: string) => void;
  /** The invocation's W3C trace context (`InvocationContext.traceContext`). */
  traceContext?: { traceParent?: string | null; traceState?: string | null };
  clock?: () => Date;
  /** For tests: the exporter's credential and flush timeout. */
  send?: Pick<SendOptions, 'credential' | 'timeoutMs'>;
}

/**
 * Runs `run` and sends its telemetry record (and one for each interrupted run it closed), whatever happened: a result, or what it threw (which is
 * thrown on, unchanged). Telemetry never changes the run: unset, misconfigured or unreachable Application
 * Insights is a warning in the invocation's log.
 */
export async function withRunTelemetry<T extends JobResult>(settings: Settings, context: RunTelemetryContext, run: () => Promise<T>): Promise<T> {
  const clock = context.clock ?? (() => new Date());
  const startedAt = clock();
  let result: T | undefined;
  let failure: unknown;
  try {
    result = await run();
    return result;
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    await sendQuietly(settings, context, { invocationId: context.invocationId, trigger: context.trigger, startedAt, finishedAt: clock(), result, error: failure });
  }
}

async function sendQuietly(settings: Settings, context: RunTelemetryContext, input: Parameters<typeof runTelemetryRecords>[0]): Promise<void> {
  try {
    const { target, problems } = loadTelemetrySettings(settings);
    for (const problem of problems) context.log(`warning: run telemetry is off: ${problem}`);
    if (target === undefined) return;
    const redactor = new Redactor(settings);
    const outcome = await sendRunEvents(target, runTelemetryRecords(input).map((record) => redacted(record, redactor)), {
      ...context.send,
      traceParent: context.traceContext?.traceParent ?? undefined,
      traceState: context.traceContext?.traceState ?? undefined,
    });
    if (!outcome.flushed) context.log(`warning: sending the run telemetry failed: ${outcome.problem}`);
  } catch (error) {
    context.log(`warning: sending the run telemetry failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Every dimension passes through the redactor: a secret setting is named, never sent. */
function redacted(record: RunTelemetryRecord, redactor: Redactor): RunTelemetryRecord {
  const properties = Object.fromEntries(Object.entries(record.properties).map(([name, value]) => [name, redactor.redact(value)])) as RunTelemetryRecord['properties'];
  return { ...record, properties };
}
