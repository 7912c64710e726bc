import { afterEach, describe, expect, it } from 'vitest';
import type { Inventory } from '../../src/inventory.js';
import { planCleanup, type Plan } from '../../src/plan/plan.js';
import { AcrDeleter } from '../../src/registry/deleter.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import type { ExecutionReport } from '../../src/report.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator, FaultRule } from '../emulators/acr/server.js';
import { accessesOf, digestOf, inventoryOf, manifest, NOW, policyOf } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';

let emulator: AcrEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

function registryOf(repositories: number, perRepository: number): Inventory {
  const content: Record<string, ReturnType<typeof manifest>[]> = {};
  for (let r = 0; r < repositories; r++) content[`ci/repo-${r}`] = Array.from({ length: perRepository }, (_, m) => manifest(`r${r}-m${m}`));
  return inventoryOf(content);
}

async function setUp(inventory: Inventory, faults: FaultRule[] = [], options: Parameters<typeof startEmulator>[0] = {}) {
  emulator = await startEmulator({ state: RegistryState.fromInventory(inventory), ...options });
  for (const fault of faults) emulator.addFault(fault);
  const plan = planCleanup({ inventory, accesses: accessesOf(), policy: policyOf(), now: NOW });
  const deleter = new AcrDeleter(
    { endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net', sdkRetryDelayMs: 10 },
    { concurrency: 4, deletesPerMinute: 60_000, retry: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 200 } },
  );
  return { plan, deleter, emulator };
}

/** Every planned deletion is accounted for exactly once, and no manifest got two successful deletes. */
function expectConsistent(plan: Plan, report: ExecutionReport, server: AcrEmulator) {
  const accounted = report.deleted.length + report.alreadyGone + report.failed.length + report.skipped.length + report.leftForNextRun;
  expect(accounted).toBe(plan.deletions.length);
  const successes = new Map<string, number>();
  for (const entry of server.requestsMatching('DELETE', /\/manifests\//)) {
    if (entry.status === 202) successes.set(entry.path, (successes.get(entry.path) ?? 0) + 1);
  }
  expect([...successes.values()].every((count) => count === 1)).toBe(true);
  expect(successes.size).toBe(report.deleted.length);
}

const far = () => Date.now() + 60_000;

describe('AcrDeleter against the emulator', () => {
  it('deletes every planned manifest once', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(3, 5));
    const report = await deleter.execute(plan, { deadlineMs: far() });
    expect(report.deleted).toHaveLength(15);
    expect(emulator.state.repositories.size).toBe(0);
    expectConsistent(plan, report, emulator);
  });

  it('keeps one token scope per worker: few token calls, not one per delete', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 20));
    await deleter.execute(plan, { deadlineMs: far() });
    const tokenCalls = emulator.requests.filter((entry) => entry.path.startsWith('/oauth2/token')).length;
    expect(tokenCalls).toBeLessThanOrEqual(12);
  });

  it.each<[string, FaultRule[]]>([
    ['429 with Retry-After (the registry limit)', []],
    ['429 without Retry-After', [{ kind: '429-without-retry-after', method: 'DELETE', times: 4 }]],
    ['500 and 503', [{ kind: '500', method: 'DELETE', times: 2 }, { kind: '503', method: 'DELETE', times: 2 }]],
    ['dropped connections', [{ kind: 'drop-connection', method: 'DELETE', times: 3 }]],
    ['slow answers', [{ kind: 'slow', method: 'DELETE', times: 3, delayMs: 300 }]],
    ['token expiry mid-run', [{ kind: 'expire-token', method: 'DELETE', times: 1 }]],
  ])('recovers from %s without deleting twice or losing a result', async (_, faults) => {
    const limits = faults.length === 0 ? { delete: { limit: 4, windowMs: 1000 } } : {};
    const { plan, deleter, emulator } = await setUp(registryOf(2, 6), faults, { limits });
    const report = await deleter.execute(plan, { deadlineMs: far() });
    expect(report.failed).toEqual([]);
    expect(report.deleted).toHaveLength(12);
    expect(emulator.state.repositories.size).toBe(0);
    if (faults.length === 0) expect(emulator.requests.some((entry) => entry.status === 429)).toBe(true);
    else expect(emulator.requests.filter((entry) => entry.fault !== undefined)).toHaveLength(faults.reduce((sum, fault) => sum + (fault.times ?? 1), 0));
    expectConsistent(plan, report, emulator);
  });

  it('records a manifest locked since the listing as skipped, and one already gone as such', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 4));
    const repository = emulator.state.repositories.get('ci/repo-0')!;
    repository.manifests.get(digestOf('r0-m1'))!.changeableAttributes.deleteEnabled = false;
    emulator.state.deleteManifest('ci/repo-0', digestOf('r0-m2'));
    const report = await deleter.execute(plan, { deadlineMs: far() });
    expect(report.skipped).toEqual([{ repository: 'ci/repo-0', digest: digestOf('r0-m1'), why: 'the registry refused: the manifest is locked' }]);
    expect(report.alreadyGone).toBe(1);
    expect(report.failed).toEqual([]);
    expect(report.deleted).toHaveLength(2);
    expect(repository.manifests.has(digestOf('r0-m1'))).toBe(true);
    expectConsistent(plan, report, emulator);
  });

  it('lists a lasting failure and goes on with the others', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 4), [{ kind: '500', method: 'DELETE', path: new RegExp(digestOf('r0-m3').slice(7)), times: 100 }]);
    const report = await deleter.execute(plan, { deadlineMs: far() });
    expect(report.failed).toEqual([{ repository: 'ci/repo-0', digest: digestOf('r0-m3'), error: expect.stringContaining('HTTP 500') }]);
    expect(report.deleted).toHaveLength(3);
    expectConsistent(plan, report, emulator);
  });

  it('keeps the children of an index whose deletion failed', async () => {
    const inventory = inventoryOf({
      app: [manifest('index', { mediaType: 'application/vnd.oci.image.index.v1+json', relatedArtifacts: [{ digest: digestOf('child') }] }), manifest('child')],
    });
    const { plan, deleter, emulator } = await setUp(inventory, [{ kind: '500', method: 'DELETE', path: new RegExp(digestOf('index').slice(7)), times: 100 }]);
    const report = await deleter.execute(plan, { deadlineMs: far() });
    expect(report.failed.map((failure) => failure.digest)).toEqual([digestOf('index')]);
    expect(report.skipped).toEqual([{ repository: 'app', digest: digestOf('child'), why: expect.stringContaining('was not deleted') }]);
    expect(emulator.state.repositories.get('app')!.manifests.size).toBe(2);
  });

  it('stops starting deletions at the deadline, and a second run finishes the rest', async () => {
    const inventory = registryOf(2, 15);
    const { plan, emulator } = await setUp(inventory);
    const connection = { endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net', sdkRetryDelayMs: 10 };
    const slow = new AcrDeleter(connection, { concurrency: 2, deletesPerMinute: 600, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } });
    const started = Date.now();
    const first = await slow.execute(plan, { deadlineMs: started + 1000 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(first.stoppedBy).toBe('time-budget');
    expect(first.leftForNextRun).toBeGreaterThan(0);
    expect(first.deleted.length).toBeGreaterThan(0);
    expect(first.estimatedMoreRuns).toBeGreaterThanOrEqual(1);
    expectConsistent(plan, first, emulator);
    // The next night recomputes the plan from what is left.
    const left = emulator.state.toSnapshot('x');
    const { inventoryFromSnapshot } = await import('../../src/inventory.js');
    const secondPlan = planCleanup({ inventory: inventoryFromSnapshot(left), accesses: accessesOf(), policy: policyOf(), now: NOW });
    expect(secondPlan.deletions).toHaveLength(first.leftForNextRun);
    const fast = new AcrDeleter(connection, { concurrency: 4, deletesPerMinute: 60_000 });
    const second = await fast.execute(secondPlan, { deadlineMs: far() });
    expect(second.leftForNextRun).toBe(0);
    expect(emulator.state.repositories.size).toBe(0);
  });

  it('stays under the configured delete rate', async () => {
    const { plan, emulator } = await setUp(registryOf(1, 21));
    const deleter = new AcrDeleter({ endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net', sdkRetryDelayMs: 10 }, { concurrency: 8, deletesPerMinute: 1200 });
    const report = await deleter.execute(plan, { deadlineMs: far() });
    const deletes = emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202);
    const spanMs = deletes.at(-1)!.timeMs - deletes[0]!.timeMs;
    // 21 deletes at 20 per second need at least 20 intervals of 50 ms.
    expect(spanMs).toBeGreaterThanOrEqual(950);
    expect(report.deleted).toHaveLength(21);
  });
});
