import type { TokenCredential } from '@azure/core-auth';
import type { RunTelemetryRecord } from './runTelemetry.js';
import type { TelemetryTarget } from './settings.js';

/**
 * Sends run records to Application Insights through the Azure Monitor OpenTelemetry distro, as custom events:
 * an OpenTelemetry log record with the attribute `microsoft.custom_event.name` becomes a row of `customEvents`
 * (its other attributes `customDimensions`, the map in `microsoft.custom_measurements` `customMeasurements`), as
 * the distro's exporter maps it (@azure/monitor-opentelemetry-exporter, utils/logUtils: logToEnvelope).
 *
 * The distro is started for the records and shut down after them, which flushes them before the invocation
 * ends; nothing else is collected (no auto-instrumentation, no live or standard metrics: the Functions host
 * already reports the invocation). It is loaded only when a run has something to send.
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

/** One session at a time: the distro is process-wide, and two invocations may end together in a warm worker. */
let previous: Promise<unknown> = Promise.resolve();

export function sendRunEvents(target: TelemetryTarget, records: RunTelemetryRecord[], options: SendOptions = {}): Promise<SendResult> {
  const session = previous.then(() => sendInSession(target, records, options));
  previous = session.catch(() => undefined);
  return session;
}

async function sendInSession(target: TelemetryTarget, records: RunTelemetryRecord[], options: SendOptions): Promise<SendResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const [{ useAzureMonitor, shutdownAzureMonitor }, { logs }, { propagation, ROOT_CONTEXT }] = await Promise.all([
      import('@azure/monitor-opentelemetry'),
      import('@opentelemetry/api-logs'),
      import('@opentelemetry/api'),
    ]);
    const credential = options.credential ?? (target.entra ? await managedIdentity(target.entra.clientId) : undefined);
    useAzureMonitor({
      azureMonitorExporterOptions: { connectionString: target.connectionString, ...(credential ? { credential } : {}) },
      enableLiveMetrics: false,
      enableStandardMetrics: false,
      enablePerformanceCounters: false,
      instrumentationOptions: {
        azureSdk: { enabled: false },
        http: { enabled: false },
        mongoDb: { enabled: false },
        mySql: { enabled: false },
        postgreSql: { enabled: false },
        redis: { enabled: false },
        redis4: { enabled: false },
        bunyan: { enabled: false },
        winston: { enabled: false },
        console: { enabled: false },
      },
    });
    const context = options.traceParent ? propagation.extract(ROOT_CONTEXT, { traceparent: options.traceParent, tracestate: options.traceState }) : undefined;
    const logger = logs.getLogger(LOGGER_NAME);
    for (const record of records) {
      logger.emit({
        timestamp: record.time,
        attributes: { ...record.properties, 'microsoft.custom_event.name': record.name, 'microsoft.custom_measurements': definedOnly(record.measurements) },
        ...(context ? { context } : {}),
      });
    }
    const flushed = await withTimeout(shutdownAzureMonitor(), timeoutMs);
    return flushed ? { flushed: true } : { flushed: false, problem: `the telemetry was not flushed within ${timeoutMs / 1000} s` };
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
