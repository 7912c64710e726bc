import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { REPORTS_CONTAINER, type AuditReport } from '../../src/audit.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { uploadArchive } from './archiveUpload.js';
import { startAzurite, type Azurite } from './azurite.js';
import { demoCache, DEMO_SETTINGS } from './demoCache.js';
import { startEmulator } from './emulator.js';
import { startIngestionStandIn, type Envelope, type IngestionStandIn } from './ingestionStandIn.js';
import { archiveBlobs } from './syntheticCache.js';

/** A log container whose newest blob has lines cut short: more unusable records than LOG_MAX_UNUSABLE_PERCENT allows. */
export const DAMAGED_LOG_CONTAINER = 'insights-logs-damaged';
/** The deletions after which the throttling registry answers every DELETE with a Retry-After of an hour. */
export const THROTTLED_AFTER = 5;
import type { ScenarioResult, TelemetryScenario } from './telemetryScenarios.js';

const root = join(import.meta.dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

/** The app settings a Functions host in Azure sets for a worker; the function app's name becomes the events' cloud role. */
export const WORKER_ENVIRONMENT = { FUNCTIONS_WORKER_RUNTIME: 'node', WEBSITE_SITE_NAME: 'func-acrclean-test', WEBSITE_SKU: 'FlexConsumption' } as const;

export interface CapturedRun {
  scenario: TelemetryScenario;
  result: ScenarioResult;
  /** The run's audit report and its HTML, read back from the host storage (absent when none was written). */
  report?: AuditReport;
  html?: string;
}

export interface TelemetryCapture {
  /** The ingestion endpoint of most runs. */
  standIn: IngestionStandIn;
  /** Every stand-in: the main one, the Entra-only one, the one that never answers. */
  standIns: IngestionStandIn[];
  /** Everything every endpoint received, in order. */
  envelopes: Envelope[];
  runs: Map<string, CapturedRun>;
  /** Connections the worker tried to make to anything but the loopback (refused). */
  outboundAttempts: string[];
  /** When the child ran. */
  startedAt: Date;
  finishedAt: Date;
  stop(): Promise<void>;
}

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
export const ENTRA_CLIENT_ID = '0b7c5e3e-5d8f-4f3a-9b0c-2f6e8a1d4c21';

/**
 * Runs the nightly handler in a worker-like child process over the demo's seeded cache, in every way a run
 * can end, with its telemetry going to a local stand-in for Application Insights' ingestion endpoint.
 */
export async function captureTelemetry(): Promise<TelemetryCapture> {
  const azurite: Azurite = await startAzurite();
  const emulators: AcrEmulator[] = [];
  const standIns: IngestionStandIn[] = [];
  const work = await mkdtemp(join(tmpdir(), 'acr-telemetry-'));
  try {
    const now = new Date();
    const cache = demoCache(now);
    const blobs = archiveBlobs(cache.records);
    await uploadArchive(azurite.connectionString, blobs);
    await uploadArchive(azurite.connectionString, damaged(blobs), DAMAGED_LOG_CONTAINER);
    const demo = await startEmulator({ state: RegistryState.fromInventory(cache.inventory) });
    const second = await startEmulator({ state: RegistryState.fromInventory(cache.inventory) });
    const throttling = await startEmulator({ state: RegistryState.fromInventory(cache.inventory) });
    throttling.addFault({ kind: 'retry-after', method: 'DELETE', path: /\/manifests\//, after: THROTTLED_AFTER, retryAfterSeconds: 3600, times: 1_000_000 });
    // Slow enough that the killed run is caught half-way.
    const killable = await startEmulator({ state: RegistryState.fromInventory(cache.inventory), latencyMs: 20 });
    emulators.push(demo, second, throttling, killable);
    const standIn = await startIngestionStandIn();
    const entraStandIn = await startIngestionStandIn();
    const hanging = await startIngestionStandIn({ hang: true });
    standIns.push(standIn, entraStandIn, hanging);
    const closedPort = await freePort();

    const base = {
      ...WORKER_ENVIRONMENT,
      ...DEMO_SETTINGS,
      AzureWebJobsStorage: azurite.connectionString,
      LOG_STORAGE_ACCOUNT: azurite.connectionString,
      APPLICATIONINSIGHTS_CONNECTION_STRING: standIn.connectionString,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: undefined,
      // The SDK's own usage statistics go to Microsoft's endpoints: not from a test.
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
    };
    const scenarios: TelemetryScenario[] = [
      { name: 'demo', invocationId: 'run-demo', traceParent: TRACEPARENT, env: { CONTAINER_REGISTRY: demo.endpoint } },
      { name: 'refused', invocationId: 'run-refused', env: { CONTAINER_REGISTRY: second.endpoint, MAX_DELETE_PERCENT: '1' } },
      { name: 'skipped', invocationId: 'run-skipped', holdLease: 'held', env: { CONTAINER_REGISTRY: second.endpoint } },
      { name: 'stuck-lease', invocationId: 'run-stuck-lease', holdLease: 'stuck', env: { CONTAINER_REGISTRY: second.endpoint } },
      { name: 'misconfigured', invocationId: 'run-misconfigured', env: { CONTAINER_REGISTRY: second.endpoint, CACHE_HISTORY_DAYS: 'a week' } },
      { name: 'work-left', invocationId: 'run-work-left', env: { CONTAINER_REGISTRY: second.endpoint, MAX_DELETES: '10' } },
      { name: 'unusable-logs', invocationId: 'run-unusable-logs', env: { CONTAINER_REGISTRY: second.endpoint, LOG_STORAGE_ACCOUNT_CONTAINER: DAMAGED_LOG_CONTAINER } },
      { name: 'throttled', invocationId: 'run-throttled', env: { CONTAINER_REGISTRY: throttling.endpoint } },
      // Killed half-way (it sends nothing); the next run closes it and sends its event as `interrupted`.
      { name: 'killed', invocationId: 'run-killed', killAfterDeletes: 4, env: { CONTAINER_REGISTRY: killable.endpoint } },
      { name: 'closer', invocationId: 'run-closer', env: { CONTAINER_REGISTRY: killable.endpoint } },
      { name: 'preview', invocationId: 'run-preview', handler: 'previewWorker', env: { CONTAINER_REGISTRY: second.endpoint } },
      {
        name: 'entra',
        invocationId: 'run-entra',
        env: {
          CONTAINER_REGISTRY: second.endpoint,
          DRY_RUN: 'true',
          APPLICATIONINSIGHTS_CONNECTION_STRING: entraStandIn.connectionString,
          APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `Authorization=AAD;ClientId=${ENTRA_CLIENT_ID}`,
          // How App Service and Functions offer the managed identity to the worker.
          IDENTITY_ENDPOINT: entraStandIn.identityEndpoint,
          IDENTITY_HEADER: entraStandIn.identityHeader,
        },
      },
      { name: 'unreachable', invocationId: 'run-unreachable', env: { CONTAINER_REGISTRY: second.endpoint, DRY_RUN: 'true', APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=${standIn.instrumentationKey};IngestionEndpoint=https://127.0.0.1:${closedPort}/` } },
      { name: 'hanging', invocationId: 'run-hanging', flushTimeoutMs: 1500, env: { CONTAINER_REGISTRY: second.endpoint, DRY_RUN: 'true', APPLICATIONINSIGHTS_CONNECTION_STRING: hanging.connectionString } },
      { name: 'bad-connection-string', invocationId: 'run-bad-connection-string', env: { CONTAINER_REGISTRY: second.endpoint, DRY_RUN: 'true', APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=not-a-guid' } },
    ];
    const scenarioFile = join(work, 'scenarios.json');
    const resultFile = join(work, 'results.json');
    const guardLog = join(work, 'outbound.log');
    await writeFile(scenarioFile, JSON.stringify(scenarios));
    await writeFile(guardLog, '');
    const startedAt = new Date();
    await runChild(
      [tsx, '--import', join(root, 'test', 'support', 'loopbackOnly.mjs'), join(root, 'test', 'support', 'telemetryScenarios.ts'), scenarioFile, resultFile],
      // A fresh temp folder: the exporter keeps telemetry it could not send there, and would resend it.
      { ...stringsOnly(process.env), ...stringsOnly(base), TMPDIR: work, LOOPBACK_GUARD_LOG: guardLog },
    );
    const finishedAt = new Date();
    const results = JSON.parse(await readFile(resultFile, 'utf8')) as ScenarioResult[];
    const stored = await storedReports(azurite.connectionString);
    const runs = new Map<string, CapturedRun>();
    for (const scenario of scenarios) {
      const result = results.find((candidate) => candidate.name === scenario.name)!;
      runs.set(scenario.name, { scenario, result, ...stored.get(scenario.invocationId) });
    }
    const outboundAttempts = (await readFile(guardLog, 'utf8')).split('\n').filter(Boolean);
    return {
      standIn,
      standIns,
      envelopes: standIns.flatMap((each) => each.envelopes()),
      runs,
      outboundAttempts,
      startedAt,
      finishedAt,
      stop: async () => {
        await Promise.all([...emulators.map((emulator) => emulator.stop()), ...standIns.map((each) => each.stop()), azurite.stop()]);
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all([...emulators.map((emulator) => emulator.stop()), ...standIns.map((each) => each.stop()), azurite.stop()]);
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

async function storedReports(connectionString: string): Promise<Map<string, { report?: AuditReport; html?: string }>> {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(REPORTS_CONTAINER);
  const byInvocation = new Map<string, { report?: AuditReport; html?: string }>();
  for await (const blob of container.listBlobsFlat()) {
    const match = /-(run-[a-z-]+)\.(json|html)$/.exec(blob.name);
    if (!match) continue;
    const text = (await container.getBlobClient(blob.name).downloadToBuffer()).toString('utf8');
    const entry = byInvocation.get(match[1]!) ?? {};
    if (match[2] === 'json') entry.report = JSON.parse(text) as AuditReport;
    else entry.html = text;
    byInvocation.set(match[1]!, entry);
  }
  return byInvocation;
}

/** The archive with every third line of its last day's blobs cut short (as a truncated copy leaves them). */
function damaged(blobs: Map<string, string>): Map<string, string> {
  const lastDay = [...blobs.keys()].slice(-24);
  const cut = (text: string) => text.split('\n').map((line, index) => (index % 3 === 0 && line.length > 0 ? line.slice(0, Math.floor(line.length / 2)) : line)).join('\n');
  return new Map([...blobs].map(([name, text]) => [name, lastDay.includes(name) ? cut(text) : text]));
}

function stringsOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function runChild(command: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(command[0]!, command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the worker exited with ${code}:\n${output}`))));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
