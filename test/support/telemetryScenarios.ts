/**
 * A Functions worker's life, for the telemetry tests: runs the `cleanImageCache` handler (or `previewWorker`) once
 * per scenario, one after the other in this one process (as warm invocations), each with its app settings in the
 * environment the way the host sets them, then exits at once. A `kill` scenario runs the job in a process of its
 * own and kills it half-way, as a crash would. Usage: telemetryScenarios.ts SCENARIOS.json RESULTS.json
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import functions from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { LOCK_CONTAINER, REPORTS_CONTAINER } from '../../src/audit.js';
import { cleanImageCacheHandler, previewWorkerHandler } from '../../src/functions/handlers.js';
import { runCleanupJob } from '../../src/job.js';
import { withRunTelemetry } from '../../src/telemetry/withRunTelemetry.js';

export interface TelemetryScenario {
  name: string;
  invocationId: string;
  /** App settings for this run only, on top of the process's environment (undefined removes one). */
  env: Record<string, string | undefined>;
  traceParent?: string;
  /** Another run holds the run lease meanwhile: since a few minutes (`held`), or for days (`stuck`). */
  holdLease?: 'held' | 'stuck';
  /** Run the job in its own process and kill it once its journal records this many deletions. */
  killAfterDeletes?: number;
  /** The function to invoke (default: cleanImageCache). */
  handler?: 'previewWorker';
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
  const lease = scenario.holdLease ? await holdRunLease(process.env.AzureWebJobsStorage!, scenario.holdLease) : undefined;
  let error: string | undefined;
  try {
    if (scenario.killAfterDeletes !== undefined) await killMidRun(scenario.invocationId, scenario.killAfterDeletes);
    else if (scenario.handler === 'previewWorker') await previewWorkerHandler({}, context);
    else if (scenario.flushTimeoutMs === undefined) await cleanImageCacheHandler(timer, context);
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

/** Takes the run lease as another run would, naming itself in the lock blob (src/runLease.ts). */
async function holdRunLease(connectionString: string, how: 'held' | 'stuck') {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(LOCK_CONTAINER);
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient('cleanImageCache');
  if (!(await blob.exists())) await blob.upload('', 0);
  const lease = blob.getBlobLeaseClient();
  await lease.acquireLease(60);
  const startedAt = new Date(Date.now() - (how === 'stuck' ? 3 * 86_400_000 : 5 * 60_000)).toISOString();
  await blob.setMetadata({ run: `${how}-run`, trigger: 'timer', startedat: startedAt, dryrun: 'false' }, { conditions: { leaseId: lease.leaseId } });
  return lease;
}

/**
 * The job in a process of its own (test/support/jobProcess.ts), killed once its journal records `deletes`
 * deletions; its lease is then broken, as its expiry would end it. Its report still says `running`.
 */
async function killMidRun(invocationId: string, deletes: number): Promise<void> {
  const service = BlobServiceClient.fromConnectionString(process.env.AzureWebJobsStorage!);
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'jobProcess.ts'), invocationId], { env: process.env, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const reports = service.getContainerClient(REPORTS_CONTAINER);
  const startedMs = Date.now();
  for (;;) {
    if (Date.now() - startedMs > 60_000) throw new Error(`${invocationId} did not delete ${deletes} manifests within a minute`);
    if (await journaledDeletions(reports, invocationId) >= deletes) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill('SIGKILL');
  await exited;
  await service.getContainerClient(LOCK_CONTAINER).getBlobClient('cleanImageCache').getBlobLeaseClient().breakLease(0);
}

async function journaledDeletions(reports: ReturnType<BlobServiceClient['getContainerClient']>, invocationId: string): Promise<number> {
  if (!(await reports.exists())) return 0;
  for await (const blob of reports.listBlobsFlat()) {
    if (!blob.name.endsWith(`-${invocationId}.journal.jsonl`)) continue;
    const text = (await reports.getBlobClient(blob.name).downloadToBuffer()).toString('utf8');
    return text.split('\n').filter((line) => line.includes('"outcome":"deleted"')).length;
  }
  return 0;
}
