/**
 * Fault benchmark: how far past its time budget a whole run (reading logs, listing, deleting) ends when the
 * registry is slow, hangs, throttles with a long Retry-After, or answers 503 to every DELETE. The emulator runs in
 * this process with the fault; each run is a child process (so it trusts the emulator's CA from its start) that
 * times itself. Usage: npx tsx bench/faults.bench.ts
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { runPass } from '../src/pass.js';
import { createPassDependencies } from '../src/wiring.js';
import { RegistryState } from '../test/emulators/acr/registryState.js';
import { AcrEmulator, type FaultRule } from '../test/emulators/acr/server.js';
import { createTestCa } from '../test/emulators/acr/tls.js';
import { DAY, digestOf, inventoryOf, manifest, NOW } from '../test/support/builders.js';
import { writeScenario } from '../test/support/scenario.js';

interface Scenario {
  name: string;
  faults?: FaultRule[];
  latencyMs?: number;
  budgetSeconds: number;
  requestTimeoutSeconds: number;
}

const ALWAYS = 1_000_000;
const SCENARIOS: Scenario[] = [
  { name: 'one DELETE hangs', faults: [{ kind: 'hang', method: 'DELETE', times: 1 }], budgetSeconds: 5, requestTimeoutSeconds: 10 },
  { name: 'every DELETE hangs', faults: [{ kind: 'hang', method: 'DELETE', times: ALWAYS }], budgetSeconds: 5, requestTimeoutSeconds: 10 },
  { name: 'every DELETE takes 3 s', faults: [{ kind: 'slow', delayMs: 3000, method: 'DELETE', times: ALWAYS }], budgetSeconds: 5, requestTimeoutSeconds: 10 },
  { name: 'Retry-After 3600 s on every DELETE', faults: [{ kind: 'retry-after', retryAfterSeconds: 3600, method: 'DELETE', times: ALWAYS }], budgetSeconds: 20, requestTimeoutSeconds: 30 },
  { name: '503 on every DELETE', faults: [{ kind: '503', method: 'DELETE', times: ALWAYS }], budgetSeconds: 40, requestTimeoutSeconds: 30 },
  { name: 'every request takes 2 s (listing)', latencyMs: 2000, budgetSeconds: 5, requestTimeoutSeconds: 10 },
  { name: 'every listing page hangs', faults: [{ kind: 'hang', method: 'GET', path: /_manifests/, times: ALWAYS }], budgetSeconds: 5, requestTimeoutSeconds: 10 },
];

const inventory = inventoryOf(Object.fromEntries([0, 1].map((r) => [`ci/repo-${r}`, Array.from({ length: 20 }, (_, m) => manifest(`r${r}-m${m}`))])));

if (process.env.BENCH_SCENARIO !== undefined) {
  // The child: one whole run, timed from its start to its report.
  const { endpoint, logDir, budgetSeconds, requestTimeoutSeconds } = JSON.parse(process.env.BENCH_SCENARIO) as Scenario & { endpoint: string; logDir: string };
  const config = loadConfig({ CONTAINER_REGISTRY: endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, MAX_DELETE_PERCENT: '100', TIME_BUDGET_SECONDS: String(budgetSeconds), REQUEST_TIMEOUT_SECONDS: String(requestTimeoutSeconds) });
  const started = performance.now();
  const report = await runPass(config, createPassDependencies(config, { clock: () => NOW }));
  const seconds = (performance.now() - started) / 1000;
  const execution = report.execution;
  process.stdout.write(
    `${JSON.stringify({ seconds, error: report.error, stoppedBy: execution?.stoppedBy ?? null, deleted: execution?.deleted.length ?? 0, failed: execution?.failed.length ?? 0, left: execution?.leftForNextRun ?? null })}\n`,
  );
  process.exit(0);
}

const ca = await createTestCa();
const directory = await mkdtemp(join(tmpdir(), 'bench-faults-'));
const caFile = join(directory, 'ca.pem');
await writeFile(caFile, ca.certificatePem);
const { logDir } = await writeScenario(inventory, [{ time: new Date(NOW.getTime() - DAY / 24), operationName: 'Pull', repository: 'other', digest: digestOf('x'), registry: 'cicache' }]);

console.log('| fault | budget | request timeout | run lasted | past the budget | DELETEs per manifest (max) | deleted / failed / left | stopped by |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const scenario of SCENARIOS) {
  const emulator = await AcrEmulator.start({ ca, state: RegistryState.fromInventory(inventory), latencyMs: scenario.latencyMs });
  for (const fault of scenario.faults ?? []) emulator.addFault(fault);
  try {
    const result = await new Promise<{ seconds: number; error: string | null; stoppedBy: string | null; deleted: number; failed: number; left: number | null }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, BENCH_SCENARIO: JSON.stringify({ ...scenario, endpoint: emulator.endpoint, logDir }) },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`${scenario.name}: exited ${code}`))));
    });
    const perManifest = new Map<string, number>();
    for (const entry of emulator.requestsMatching('DELETE', /manifests/)) if (entry.status !== 401) perManifest.set(entry.path, (perManifest.get(entry.path) ?? 0) + 1);
    const stopped = result.stoppedBy ?? (result.error === null ? '—' : result.error.slice(0, 60));
    console.log(
      `| ${scenario.name} | ${scenario.budgetSeconds} s | ${scenario.requestTimeoutSeconds} s | ${result.seconds.toFixed(1)} s | ${(result.seconds - scenario.budgetSeconds).toFixed(1)} s | ${perManifest.size === 0 ? 0 : Math.max(...perManifest.values())} | ${result.deleted} / ${result.failed} / ${result.left ?? '—'} | ${stopped} |`,
    );
  } finally {
    await emulator.stop();
  }
}
