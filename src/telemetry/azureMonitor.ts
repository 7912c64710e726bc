import type { TokenCredential } from '@azure/core-auth';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import { TOOL_VERSION } from '../report.js';
import type { RunTelemetryRecord } from './runTelemetry.js';
import type { TelemetryTarget } from './settings.js';

/**
 * Sends run records to Application Insights as custom events, through Azure Monitor's OpenTelemetry exporter
 * (@azure/monitor-opentelemetry-exporter, the one the Azure Monitor distro uses) and the OpenTelemetry logs SDK:
 * a log record with the attribute `microsoft.custom_event.name` becomes a row of `customEvents` (its other
 * attributes `customDimensions`, the map in `microsoft.custom_measurements` `customMeasurements`), as the
 * exporter maps it (utils/logUtils: logToEnvelope).
 *
 * A logger provider is made for the records and shut down after them, which flushes them before the invocation
 * ends. Nothing else is collected (no instrumentation, no metrics: the Functions host already reports the
 * invocation), and nothing is loaded until a run has something to send.
 */

export interface SendOptions {
  /** For an Entra-only resource; default: the managed identity that the target names. */
  credential?: TokenCredential;
  /** How long to wait for the ingestion endpoint before giving up on the records (the run goes on regardless). */
  timeoutMs?: number;
  /** The invocation's W3C trace context, so the event shares the invocation's operation id. */
  traceParent?: string;
  traceState?: string;
}

export type SendResult = { flushed: true } | { flushed: false; problem: string };

const DEFAULT_TIMEOUT_MS = 15_000;
const LOGGER_NAME = 'acr-cache-cleaner';

/** One session at a time, so that two invocations ending together in a warm worker never share a provider. */
let previous: Promise<unknown> = Promise.resolve();

export function sendRunEvents(target: TelemetryTarget, records: RunTelemetryRecord[], options: SendOptions = {}): Promise<SendResult> {
  const session = previous.then(() => sendInSession(target, records, options));
  previous = session.catch(() => undefined);
  return session;
}

async function sendInSession(target: TelemetryTarget, records: RunTelemetryRecord[], options: SendOptions): Promise<SendResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const [{ AzureMonitorLogExporter }, { BatchLogRecordProcessor, LoggerProvider }, { resourceFromAttributes }, { ExportResultCode, W3CTraceContextPropagator }, { ROOT_CONTEXT, defaultTextMapGetter }] =
      await Promise.all([
        import('@azure/monitor-opentelemetry-exporter'),
        import('@opentelemetry/sdk-logs'),
        import('@opentelemetry/resources'),
        import('@opentelemetry/core'),
        import('@opentelemetry/api'),
      ]);
    const credential = options.credential ?? (target.entra ? await managedIdentity(target.entra.clientId) : undefined);
    // No offline storage: a Flex Consumption instance's disk does not outlive it, and an event replayed by a later
    // run would arrive at a time that is not its run's. An event that cannot be sent is a warning in the run's log.
    const exporter = new AzureMonitorLogExporter({ connectionString: target.connectionString, disableOfflineStorage: true, ...(credential ? { credential } : {}) });
    // The processor only logs a failed export; the run's log should say it.
    let exportProblem: string | undefined;
    const reporting: LogRecordExporter = {
      export: (batch, done) =>
        void exporter.export(batch, (result) => {
          if (result.code !== ExportResultCode.SUCCESS) exportProblem = result.error?.message ?? 'the ingestion endpoint did not accept it';
          done(result);
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush(),
    };
    // The function app's name is the event's cloud role, as the Functions host's own telemetry has it.
    const resource = resourceFromAttributes({ 'service.name': target.roleName ?? LOGGER_NAME, 'service.version': TOOL_VERSION });
    const provider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: reporting, exportTimeoutMillis: timeoutMs })] });
    const carrier = { traceparent: options.traceParent, tracestate: options.traceState };
    const context = options.traceParent ? new W3CTraceContextPropagator().extract(ROOT_CONTEXT, carrier, defaultTextMapGetter) : undefined;
    const logger = provider.getLogger(LOGGER_NAME, TOOL_VERSION);
    for (const record of records) {
      logger.emit({
        timestamp: record.time,
        attributes: { ...record.properties, 'microsoft.custom_event.name': record.name, 'microsoft.custom_measurements': definedOnly(record.measurements) },
        ...(context ? { context } : {}),
      });
    }
    const flushed = await withTimeout(provider.shutdown(), timeoutMs);
    if (!flushed) return { flushed: false, problem: `the telemetry was not flushed within ${timeoutMs / 1000} s` };
    return exportProblem === undefined ? { flushed: true } : { flushed: false, problem: exportProblem };
  } catch (error) {
    return { flushed: false, problem: error instanceof Error ? error.message : String(error) };
  }
}

async function managedIdentity(clientId: string | undefined): Promise<TokenCredential> {
  const { ManagedIdentityCredential } = await import('@azure/identity');
  return clientId === undefined ? new ManagedIdentityCredential() : new ManagedIdentityCredential({ clientId });
}

function definedOnly(measurements: Partial<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(measurements).filter((entry): entry is [string, number] => entry[1] !== undefined));
}

async function withTimeout(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  const settled = promise.then(() => true as const);
  settled.catch(() => undefined); // a failure after the timeout must not become an unhandled rejection
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
