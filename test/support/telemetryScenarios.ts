/**
 * A Functions worker's life, for the telemetry tests: runs the `cleanImageCache` handler once per scenario, one
 * after the other in this one process (as warm invocations), each with its app settings in the environment the
 * way the host sets them, then exits at once. Usage: telemetryScenarios.ts SCENARIOS.json RESULTS.json
 */
import { readFile, writeFile } from 'node:fs/promises';
import functions from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { LOCK_CONTAINER } from '../../src/audit.js';
import { cleanImageCacheHandler } from '../../src/functions/handlers.js';
import { runCleanupJob } from '../../src/job.js';
import { withRunTelemetry } from '../../src/telemetry/withRunTelemetry.js';

export interface TelemetryScenario {
  name: string;
  invocationId: string;
  /** App settings for this run only, on top of the process's environment (undefined removes one). */
  env: Record<string, string | undefined>;
  traceParent?: string;
  /** Another run holds the run lease meanwhile. */
  holdLease?: boolean;
  /** Call the job through `withRunTelemetry` with this flush timeout instead of through the handler. */
  flushTimeoutMs?: number;
}

export interface ScenarioResult {
  name: string;
  invocationId: string;
  /** What the handler threw, as the host would show it. */
  error?: string;
  logs: string[];
  /** When the invocation returned (Date.now()): its telemetry must have arrived by then. */
  returnedAtMs: number;
}

const [scenarioFile, resultFile] = process.argv.slice(2);
const scenarios = JSON.parse(await readFile(scenarioFile!, 'utf8')) as TelemetryScenario[];
const baseEnv = { ...process.env };
const results: ScenarioResult[] = [];
const now = new Date().toISOString();
const timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: now, next: now, lastUpdated: now } };

for (const scenario of scenarios) {
  process.env = { ...baseEnv };
  for (const [name, value] of Object.entries(scenario.env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  const logs: string[] = [];
  // @azure/functions is CommonJS: under plain Node ESM, InvocationContext is on the default export only.
  const context = new functions.InvocationContext({
    invocationId: scenario.invocationId,
    functionName: 'cleanImageCache',
    traceContext: scenario.traceParent ? { traceParent: scenario.traceParent } : undefined,
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ')}`),
  });
  const lease = scenario.holdLease ? await holdRunLease(process.env.AzureWebJobsStorage!) : undefined;
  let error: string | undefined;
  try {
    if (scenario.flushTimeoutMs === undefined) await cleanImageCacheHandler(timer, context);
    else {
      const settings = { ...process.env };
      const job = { invocationId: scenario.invocationId, trigger: 'timer' as const, log: (message: string) => logs.push(`information: ${message}`) };
      await withRunTelemetry(settings, { ...job, send: { timeoutMs: scenario.flushTimeoutMs } }, () => runCleanupJob(settings, job));
    }
  } catch (thrown) {
    error = thrown instanceof Error ? thrown.message : String(thrown);
  }
  const returnedAtMs = Date.now();
  await lease?.releaseLease();
  results.push({ name: scenario.name, invocationId: scenario.invocationId, error, logs, returnedAtMs });
}

await writeFile(resultFile!, JSON.stringify(results, null, 2));
// A worker would live on; this one ends here, before any background timer of the SDKs could fire.
process.exit(0);

async function holdRunLease(connectionString: string) {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(LOCK_CONTAINER);
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient('cleanImageCache');
  if (!(await blob.exists())) await blob.upload('', 0);
  const lease = blob.getBlobLeaseClient();
  await lease.acquireLease(60);
  return lease;
}
