import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { estimateBudget, runPass } from '../../src/pass.js';
import { createPassDependencies } from '../../src/wiring.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator, FaultRule } from '../emulators/acr/server.js';
import { DAY, digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { writeScenario } from '../support/scenario.js';

const emulators: AcrEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((emulator) => emulator.stop()));
});

function registry() {
  const repositories: Record<string, ReturnType<typeof manifest>[]> = {};
  for (let r = 0; r < 3; r++) {
    repositories[`ci/repo-${r}`] = Array.from({ length: 20 }, (_, m) => manifest(`r${r}-m${m}`, { createdOn: new Date(NOW.getTime() - (40 + m) * DAY), lastUpdatedOn: new Date(NOW.getTime() - (40 + m) * DAY) }));
    repositories[`ci/repo-${r}`]!.push(manifest(`r${r}-kept`));
  }
  return inventoryOf(repositories);
}

async function pass(emulator: AcrEmulator, logDir: string, settings: Record<string, string>) {
  const config = loadConfig({ CONTAINER_REGISTRY: emulator.endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, MAX_DELETE_PERCENT: '100', ...settings });
  return runPass(config, createPassDependencies(config, { clock: () => NOW }));
}

const contents = (emulator: AcrEmulator) => [...emulator.state.repositories.values()].flatMap((repository) => [...repository.manifests.keys()].map((digest) => `${repository.name}@${digest}`)).sort();

describe('a night with less time than work', () => {
  it('stops inside the budget, deletes only planned manifests least recently used first, and the next run finishes the job', async () => {
    const records = [0, 1, 2].map((r) => ({ time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: `ci/repo-${r}`, digest: digestOf(`r${r}-kept`), registry: 'cicache' }));
    const { logDir } = await writeScenario(registry(), records);

    const nightly = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    const oneLongRun = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    emulators.push(nightly, oneLongRun);

    const started = Date.now();
    const first = await pass(nightly, logDir, { TIME_BUDGET_SECONDS: '2', DELETES_PER_MINUTE: '600' });
    const elapsed = (Date.now() - started) / 1000;
    // The budget bounds when deletions start; in-flight ones finish after it, so allow for a loaded machine.
    expect(elapsed).toBeLessThan(3.5);
    expect(first.execution!.stoppedBy).toBe('time-budget');
    expect(first.execution!.leftForNextRun).toBeGreaterThan(0);
    expect(first.budget!.estimatedRuns).toBeGreaterThan(1);
    const planned = new Set(first.delete.map((entry) => entry.digest));
    expect(planned.size).toBe(60);
    expect(first.execution!.deleted.every((entry) => planned.has(entry.digest))).toBe(true);
    // Least recently used first: the oldest manifests (m19 of each repository) went before the newest (m0).
    const deletedFirst = new Set(first.execution!.deleted.map((entry) => entry.digest));
    expect(deletedFirst.has(digestOf('r0-m19'))).toBe(true);
    expect(deletedFirst.has(digestOf('r0-m0'))).toBe(false);

    const second = await pass(nightly, logDir, { DELETES_PER_MINUTE: '60000' });
    expect(second.execution!.leftForNextRun).toBe(0);
    expect(second.delete).toHaveLength(first.execution!.leftForNextRun);

    await pass(oneLongRun, logDir, { DELETES_PER_MINUTE: '60000' });
    expect(contents(nightly)).toEqual(contents(oneLongRun));
    expect(contents(nightly)).toEqual([0, 1, 2].map((r) => `ci/repo-${r}@${digestOf(`r${r}-kept`)}`).sort());
  });
});

describe('the budget bounds the whole run, listing included', () => {
  const many = () => inventoryOf(Object.fromEntries(Array.from({ length: 40 }, (_, r) => [`ci/repo-${r}`, [manifest(`r${r}`)]])));
  const heartbeat = [{ time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'other', digest: digestOf('x'), registry: 'cicache' }];

  it('ends a listing that would take longer than the budget at its end, deleting nothing, and says why', async () => {
    const emulator = await startEmulator({ state: RegistryState.fromInventory(many()), latencyMs: 300 });
    emulators.push(emulator);
    const { logDir } = await writeScenario(many(), heartbeat);
    const started = Date.now();
    const report = await pass(emulator, logDir, { TIME_BUDGET_SECONDS: '1', REQUEST_TIMEOUT_SECONDS: '1', CONCURRENCY: '2' });
    expect((Date.now() - started) / 1000).toBeLessThan(1 + 1 + 1.5);
    expect(report.error).toBe('the time budget (TIME_BUDGET_SECONDS=1) ended while listing the registry; nothing was deleted');
    expect(report.execution).toBeNull();
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE')).toEqual([]);
  });

  it('gives a hanging listing request one request timeout, then retries it', async () => {
    const emulator = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    emulators.push(emulator);
    emulator.addFault({ kind: 'hang', method: 'GET', path: /_manifests/, times: 1 });
    const { logDir } = await writeScenario(registry(), heartbeat);
    const report = await pass(emulator, logDir, { REQUEST_TIMEOUT_SECONDS: '0.5', DELETES_PER_MINUTE: '60000' });
    expect(report.error).toBeNull();
    expect(report.execution!.deleted).toHaveLength(63);
    expect(emulator.requests.filter((entry) => entry.fault === 'hang')).toHaveLength(1);
  });

  it('stops a listing at once when the registry asks to wait past the budget, instead of sleeping', async () => {
    const emulator = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    emulators.push(emulator);
    emulator.addFault({ kind: 'retry-after', retryAfterSeconds: 3600, method: 'GET', path: /_catalog/, times: 100 });
    const { logDir } = await writeScenario(registry(), heartbeat);
    const started = Date.now();
    const report = await pass(emulator, logDir, { TIME_BUDGET_SECONDS: '20' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(report.error).toMatch(/^listing the registry failed: the registry throttled the run and asked it to wait 3600 s \(Retry-After\)/);
  });
});

describe('the token endpoint is bounded like any other registry request', () => {
  const heartbeat = [{ time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'other', digest: digestOf('x'), registry: 'cicache' }];

  it.each<[string, FaultRule]>([
    ['hangs on /oauth2/token', { kind: 'hang', path: /^\/oauth2\/token/, times: 1000 }],
    ['hangs on /oauth2/exchange', { kind: 'hang', path: /^\/oauth2\/exchange/, times: 1000 }],
    ['answers /oauth2/token only after 20 s', { kind: 'slow', path: /^\/oauth2\/token/, times: 1000, delayMs: 20_000 }],
  ])('a registry whose token endpoint %s: the listing ends within the budget plus one request timeout, deleting nothing', async (_, fault) => {
    const emulator = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    emulators.push(emulator);
    emulator.addFault(fault);
    const { logDir } = await writeScenario(registry(), heartbeat);
    const started = Date.now();
    const report = await pass(emulator, logDir, { TIME_BUDGET_SECONDS: '2', REQUEST_TIMEOUT_SECONDS: '1' });
    expect((Date.now() - started) / 1000).toBeLessThan(2 + 1 + 1.5);
    expect(report.error).toMatch(/listing the registry/);
    expect(report.execution).toBeNull();
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE')).toEqual([]);
  });
});

describe('estimateBudget', () => {
  const config = loadConfig({ CONTAINER_REGISTRY: 'cicache', LOG_DIR: '.', TIME_BUDGET_SECONDS: '1500', DELETES_PER_MINUTE: '500' });

  it('tells how much of the plan fits in what is left of the budget', () => {
    const budget = estimateBudget(30_000, config, 0, 300_000);
    expect(budget.secondsBeforeDeletion).toBe(300);
    expect(budget.expectedDeletionsThisRun).toBe(9500);
    expect(budget.estimatedDeletionSeconds).toBeCloseTo(30_000 / (475 / 60), 5);
    expect(budget.estimatedRuns).toBe(1 + Math.ceil(20_500 / 11_875));
  });

  it('is one run when the plan fits', () => {
    expect(estimateBudget(100, config, 0, 1000).estimatedRuns).toBe(1);
  });
});
