import { afterEach, describe, expect, it } from 'vitest';
import { DeletionJournal, parseJournal, unresolvedIntents, type JournalSink } from '../../src/deletion/journal.js';
import { StopRequest } from '../../src/deletion/stop.js';
import { inventoryFromSnapshot, type Inventory } from '../../src/inventory.js';
import { planCleanup, type Plan } from '../../src/plan/plan.js';
import { RunBudget } from '../../src/registry/budget.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import { AcrDeleter, type DeleterOptions } from '../../src/registry/deleter.js';
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

const FAST_RETRY = { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 200 };

async function setUp(inventory: Inventory, faults: FaultRule[] = [], options: Parameters<typeof startEmulator>[0] = {}, deleterOptions: Partial<DeleterOptions> = {}) {
  emulator = await startEmulator({ state: RegistryState.fromInventory(inventory), ...options });
  for (const fault of faults) emulator.addFault(fault);
  const plan = planCleanup({ inventory, accesses: accessesOf(), policy: policyOf(), now: NOW });
  const connection = { endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net' };
  const deleter = new AcrDeleter(connection, { concurrency: 4, deletesPerMinute: 60_000, retry: FAST_RETRY, ...deleterOptions });
  return { plan, deleter, emulator, connection };
}

/** A budget of `seconds` from now, each request limited to `requestTimeoutMs`. */
const budgetOf = (seconds = 60, requestTimeoutMs = 10_000) => new RunBudget(Date.now() + seconds * 1000, requestTimeoutMs);

/** Every planned deletion is accounted for exactly once: deleted, already gone, failed, skipped, or left. */
function expectAccounted(plan: Plan, report: ExecutionReport) {
  const settled = [...report.deleted, ...report.alreadyGone, ...report.failed, ...report.skipped].map((entry) => `${entry.repository}@${entry.digest}`);
  expect(new Set(settled).size).toBe(settled.length);
  const planned = new Set(plan.deletions.map((decision) => `${decision.repository}@${decision.digest}`));
  expect(settled.every((key) => planned.has(key))).toBe(true);
  expect(settled.length + report.leftForNextRun).toBe(plan.deletions.length);
}

/** Accounted, and no manifest got two successful deletes; every 202 is in `deleted`. */
function expectConsistent(plan: Plan, report: ExecutionReport, server: AcrEmulator) {
  expectAccounted(plan, report);
  const successes = new Map<string, number>();
  for (const entry of server.requestsMatching('DELETE', /\/manifests\//)) {
    if (entry.status === 202) successes.set(entry.path, (successes.get(entry.path) ?? 0) + 1);
  }
  expect([...successes.values()].every((count) => count === 1)).toBe(true);
  expect(successes.size).toBeLessThanOrEqual(report.deleted.length);
}

const pathOf = (label: string) => new RegExp(digestOf(label).slice(7));
/** The requests that carried a token (not the SDK's first, challenged try). */
const authorized = <T extends { status: number }>(requests: T[]) => requests.filter((entry) => entry.status !== 401);

/** A journal sink in memory (taking `latencyMs` per append, as storage would) that notes when each append became durable. */
function memorySink(latencyMs = 0) {
  const appends: { atMs: number; text: string }[] = [];
  const sink: JournalSink = {
    location: 'memory',
    append: async (text) => {
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      appends.push({ atMs: Date.now(), text });
    },
  };
  const records = () => parseJournal(appends.map((append) => append.text).join('')).records;
  return { sink, appends, records };
}

describe('AcrDeleter against the emulator', () => {
  it('deletes every planned manifest once', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(3, 5));
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.deleted).toHaveLength(15);
    expect(emulator.state.repositories.size).toBe(0);
    expectConsistent(plan, report, emulator);
  });

  it('keeps one token scope per worker: few token calls, not one per delete', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 20));
    await deleter.execute(plan, { budget: budgetOf() });
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
    ['tokens revoked mid-run', [{ kind: 'revoke-tokens', method: 'DELETE', after: 4, times: 1 }]],
  ])('recovers from %s without deleting twice or losing a result', async (_, faults) => {
    const limits = faults.length === 0 ? { delete: { limit: 4, windowMs: 1000 } } : {};
    const { plan, deleter, emulator } = await setUp(registryOf(2, 6), faults, { limits });
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.failed).toEqual([]);
    expect(report.deleted).toHaveLength(12);
    expect(emulator.state.repositories.size).toBe(0);
    if (faults.length === 0) expect(emulator.requests.some((entry) => entry.status === 429)).toBe(true);
    else expect(emulator.requests.filter((entry) => entry.fault !== undefined)).toHaveLength(faults.reduce((sum, fault) => sum + (fault.times ?? 1), 0));
    expectConsistent(plan, report, emulator);
  });

  it('fetches fresh tokens once when they are revoked, instead of failing every deletion with 401', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 30), [{ kind: 'revoke-tokens', method: 'DELETE', after: 4, times: 1 }]);
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.failed).toEqual([]);
    expect(report.deleted).toHaveLength(60);
    expect(emulator.requestsMatching('POST', /^\/oauth2\/exchange/).length).toBeGreaterThan(4);
    expectConsistent(plan, report, emulator);
  });

  it('records a manifest locked since the listing as skipped, and one already gone as such', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 4));
    const repository = emulator.state.repositories.get('ci/repo-0')!;
    repository.manifests.get(digestOf('r0-m1'))!.changeableAttributes.deleteEnabled = false;
    emulator.state.deleteManifest('ci/repo-0', digestOf('r0-m2'));
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.skipped).toEqual([{ repository: 'ci/repo-0', digest: digestOf('r0-m1'), why: 'the registry refused: the manifest is locked' }]);
    expect(report.alreadyGone).toEqual([{ repository: 'ci/repo-0', digest: digestOf('r0-m2') }]);
    expect(report.failed).toEqual([]);
    expect(report.deleted).toHaveLength(2);
    expect(repository.manifests.has(digestOf('r0-m1'))).toBe(true);
    expectConsistent(plan, report, emulator);
  });

  it('lists a lasting failure and goes on with the others', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 4), [{ kind: '403', method: 'DELETE', path: pathOf('r0-m3'), times: 100 }]);
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.failed).toEqual([{ repository: 'ci/repo-0', digest: digestOf('r0-m3'), error: expect.stringContaining('HTTP 403') }]);
    expect(report.deleted).toHaveLength(3);
    expectConsistent(plan, report, emulator);
  });

  it('keeps the children of an index whose deletion failed', async () => {
    const inventory = inventoryOf({
      app: [manifest('index', { mediaType: 'application/vnd.oci.image.index.v1+json', relatedArtifacts: [{ digest: digestOf('child') }] }), manifest('child')],
    });
    const { plan, deleter, emulator } = await setUp(inventory, [{ kind: '403', method: 'DELETE', path: pathOf('index'), times: 100 }]);
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.failed.map((failure) => failure.digest)).toEqual([digestOf('index')]);
    expect(report.skipped).toEqual([{ repository: 'app', digest: digestOf('child'), why: expect.stringContaining('was not deleted') }]);
    expect(emulator.state.repositories.get('app')!.manifests.size).toBe(2);
  });

  it('stops starting deletions at the deadline, and a second run finishes the rest', async () => {
    const inventory = registryOf(2, 15);
    const { plan, emulator, connection } = await setUp(inventory);
    const slow = new AcrDeleter(connection, { concurrency: 2, deletesPerMinute: 600, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } });
    const started = Date.now();
    const first = await slow.execute(plan, { budget: budgetOf(1) });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(first.stoppedBy).toBe('time-budget');
    expect(first.leftForNextRun).toBeGreaterThan(0);
    expect(first.deleted.length).toBeGreaterThan(0);
    expect(first.estimatedMoreRuns).toBeGreaterThanOrEqual(1);
    expectConsistent(plan, first, emulator);
    // The next night recomputes the plan from what is left.
    const secondPlan = planCleanup({ inventory: inventoryFromSnapshot(emulator.state.toSnapshot('x')), accesses: accessesOf(), policy: policyOf(), now: NOW });
    expect(secondPlan.deletions).toHaveLength(first.leftForNextRun);
    const second = await new AcrDeleter(connection, { concurrency: 4, deletesPerMinute: 60_000 }).execute(secondPlan, { budget: budgetOf() });
    expect(second.leftForNextRun).toBe(0);
    expect(emulator.state.repositories.size).toBe(0);
  });

  it('stays under the configured delete rate', async () => {
    const { plan, emulator, connection } = await setUp(registryOf(1, 21));
    const report = await new AcrDeleter(connection, { concurrency: 8, deletesPerMinute: 1200 }).execute(plan, { budget: budgetOf() });
    const deletes = emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202);
    const spanMs = deletes.at(-1)!.timeMs - deletes[0]!.timeMs;
    // 21 deletes at 20 per second need at least 20 intervals of 50 ms.
    expect(spanMs).toBeGreaterThanOrEqual(950);
    expect(report.deleted).toHaveLength(21);
  });
});

describe('faults that used to escape the record or the budget', () => {
  it('records a DELETE whose answer was lost, then 404 on the retry, as deleted by this run, with its reason and size', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 3), [{ kind: 'lose-response', method: 'DELETE', path: pathOf('r0-m1') }]);
    const report = await deleter.execute(plan, { budget: budgetOf() });
    const lost = report.deleted.find((entry) => entry.digest === digestOf('r0-m1'));
    expect(lost).toMatchObject({ repository: 'ci/repo-0', sizeInBytes: 1000, reason: expect.stringContaining('accessed 0 time(s)'), note: expect.stringContaining('its answer was lost') });
    expect(report.alreadyGone).toEqual([]);
    expect(report.deleted).toHaveLength(3);
    expect(authorized(emulator.requestsMatching('DELETE', pathOf('r0-m1'))).map((entry) => entry.status)).toEqual([202, 404]);
    expectAccounted(plan, report);
  });

  it('gives a hanging DELETE one request timeout, then retries it', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 3), [{ kind: 'hang', method: 'DELETE', path: pathOf('r0-m0') }]);
    const started = Date.now();
    const report = await deleter.execute(plan, { budget: budgetOf(60, 500) });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(report.deleted.map((entry) => entry.digest).sort()).toEqual(['r0-m0', 'r0-m1', 'r0-m2'].map(digestOf).sort());
    expect(authorized(emulator.requestsMatching('DELETE', pathOf('r0-m0'))).map((entry) => entry.fault ?? entry.status)).toEqual(['hang', 202]);
  });

  it('ends within its budget plus one request timeout when every DELETE hangs, and says the outcome is uncertain', async () => {
    const { plan, deleter } = await setUp(registryOf(2, 10), [{ kind: 'hang', method: 'DELETE', times: 1000 }]);
    const started = Date.now();
    const report = await deleter.execute(plan, { budget: budgetOf(2, 1000) });
    const elapsed = (Date.now() - started) / 1000;
    expect(elapsed).toBeLessThan(2 + 1 + 1.5);
    expect(report.deleted).toEqual([]);
    expect(report.failed.length).toBeGreaterThan(0);
    expect(report.failed.every((failure) => failure.uncertain === true && failure.error.includes('no answer within the request timeout'))).toBe(true);
    expect(report.stoppedBy).toBe('time-budget');
    expectAccounted(plan, report);
  });

  it.each<[string, FaultRule]>([
    ['/oauth2/token', { kind: 'hang', path: /^\/oauth2\/token/, times: 1000 }],
    ['/oauth2/exchange', { kind: 'hang', path: /^\/oauth2\/exchange/, times: 1000 }],
  ])('ends within its budget plus one request timeout when %s hangs, recording every DELETE it started as uncertain', async (_, fault) => {
    const { plan, deleter } = await setUp(registryOf(2, 10), [fault]);
    const memory = memorySink();
    const started = Date.now();
    const report = await deleter.execute(plan, { budget: budgetOf(2, 1000), journal: new DeletionJournal(memory.sink) });
    expect((Date.now() - started) / 1000).toBeLessThan(2 + 1 + 1.5);
    expect(report.deleted).toEqual([]);
    expect(report.failed.length).toBeGreaterThan(0);
    expect(report.failed.every((failure) => failure.uncertain === true)).toBe(true);
    expectAccounted(plan, report);
    const records = memory.records();
    const outcomes = records.filter((record) => record.type === 'outcome');
    expect(outcomes).toHaveLength(records.filter((record) => record.type === 'intent').length);
    // Not "failed": the registry may have carried them out, so the next run checks them.
    expect(outcomes.every((record) => record.outcome === 'uncertain')).toBe(true);
  });

  it('stops at once (throttled) when the Retry-After would end past the deadline, instead of sleeping', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 10), [{ kind: 'retry-after', retryAfterSeconds: 3600, method: 'DELETE', times: 1000 }]);
    const started = Date.now();
    const report = await deleter.execute(plan, { budget: budgetOf(20) });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(report.stoppedBy).toBe('throttled');
    expect(report.stopMessage).toMatch(/wait 3600 s \(Retry-After\), past the end of its time budget/);
    expect(report.deleted).toEqual([]);
    expect(report.failed).toEqual([]);
    expect(report.leftForNextRun).toBe(plan.deletions.length);
    expect(emulator.requestsMatching('DELETE', /manifests/).length).toBeLessThanOrEqual(4);
    expectAccounted(plan, report);
  });

  it('spends retries of a 503 on every DELETE from the budget: one request per attempt, ended by the budget', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 10), [{ kind: '503', method: 'DELETE', times: 10_000 }], {}, { retry: { maxAttempts: 6, baseDelayMs: 400, maxDelayMs: 5000 } });
    const started = Date.now();
    const report = await deleter.execute(plan, { budget: budgetOf(3, 1000) });
    expect((Date.now() - started) / 1000).toBeLessThan(3 + 1 + 1.5);
    const attempts = new Map<string, number>();
    for (const entry of emulator.requestsMatching('DELETE', /manifests/)) attempts.set(entry.path, (attempts.get(entry.path) ?? 0) + 1);
    expect(Math.max(...attempts.values())).toBeLessThanOrEqual(6);
    expect(report.deleted).toEqual([]);
    expect(report.stoppedBy).toBe('time-budget');
    expectAccounted(plan, report);
  });

  it('stops after the first refusals when the identity may not delete, with one message naming the role and the repository', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 20), [], { deniedScopes: /:delete$/ });
    const report = await deleter.execute(plan, { budget: budgetOf() });
    expect(report.stoppedBy).toBe('permission-denied');
    expect(report.stopMessage).toMatch(/repository ci\/repo-\d.*AcrDelete.*Container Registry Repository Contributor/);
    // Each of the 4 workers tries one manifest: once, and once more with fresh credentials (each try is a challenge and a refusal).
    const tried = new Set(emulator.requestsMatching('DELETE', /manifests/).map((entry) => entry.path));
    expect(tried.size).toBeLessThanOrEqual(4);
    expect(emulator.requestsMatching('DELETE', /manifests/).length).toBeLessThanOrEqual(16);
    expect(report.failed.length).toBeLessThanOrEqual(4);
    expect(report.failed.every((failure) => failure.error.startsWith('refused: no permission to delete (HTTP 401'))).toBe(true);
    expect(report.leftForNextRun).toBe(plan.deletions.length - report.failed.length);
    expectAccounted(plan, report);
  });
});

describe('reading a journal', () => {
  const entry = (label: string) => ({ repository: 'app', digest: digestOf(label), tags: [], sizeInBytes: 1, accessCount: 0, lastAccess: null, reason: 'unused' as const, referrers: [] });
  const intent = (label: string) => JSON.stringify({ type: 'intent', at: '2026-11-28T01:00:00Z', repository: 'app', digest: digestOf(label), entry: entry(label) });
  const outcome = (label: string, outcome: string, at = '2026-11-28T01:00:01Z') => JSON.stringify({ type: 'outcome', at, repository: 'app', digest: digestOf(label), outcome });

  it('skips lines that are not records (garbage, a torn last line, an unknown outcome), naming their numbers', () => {
    const text = [intent('a'), 'not json', '', outcome('a', 'exploded'), '{"type":"run"}', intent('b').slice(0, 40)].join('\n');
    const { records, unreadableLines } = parseJournal(text);
    expect(records.map((record) => record.type)).toEqual(['intent']);
    expect(unreadableLines).toEqual([2, 4, 5, 6]);
  });

  it('keeps an uncertain DELETE and an unknown check open for the next run; a check that found it present or gone closes it', () => {
    const text = [
      JSON.stringify({ type: 'run', at: '2026-11-28T00:59:00Z', run: 'r1', registry: 'x', tool: 't', requestTimeoutSeconds: 5 }),
      ...['a', 'b', 'c', 'd', 'e'].map(intent),
      outcome('a', 'uncertain', '2026-11-28T01:00:07Z'),
      outcome('b', 'failed'),
      outcome('c', 'reconciled-unknown'),
      outcome('d', 'reconciled-present'),
      outcome('e', 'reconciled-deleted'),
    ].join('\n');
    const open = unresolvedIntents(parseJournal(text).records);
    expect(open.map((record) => [record.digest, record.sentBy, record.requestTimeoutSeconds])).toEqual([
      [digestOf('a'), '2026-11-28T01:00:07Z', 5],
      [digestOf('c'), undefined, 5],
    ]);
  });
});

describe('the deletion journal', () => {
  it('makes every intent durable before its DELETE is sent, and records every outcome, in grouped commits', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(3, 10), [{ kind: 'lose-response', method: 'DELETE', times: 2 }], { latencyMs: 5 });
    const memory = memorySink(10);
    const journal = new DeletionJournal(memory.sink);
    const report = await deleter.execute(plan, { budget: budgetOf(), journal });
    expect(report.journal).toBe('memory');
    const durableAt = new Map<string, number>();
    for (const append of memory.appends) {
      for (const record of parseJournal(append.text).records) if (record.type === 'intent') durableAt.set(record.digest, Math.min(durableAt.get(record.digest) ?? Infinity, append.atMs));
    }
    for (const request of emulator.requestsMatching('DELETE', /manifests/)) {
      const digest = decodeURIComponent(request.path.split('/manifests/')[1]!);
      expect(durableAt.get(digest)).toBeLessThanOrEqual(request.timeMs);
    }
    const records = memory.records();
    const outcomes = records.filter((record) => record.type === 'outcome');
    expect(outcomes).toHaveLength(30);
    expect(outcomes.filter((record) => record.type === 'outcome' && record.note?.includes('answer was lost'))).toHaveLength(2);
    const intent = records.find((record) => record.type === 'intent');
    expect(intent).toMatchObject({ entry: { repository: expect.any(String), digest: expect.any(String), tags: [], sizeInBytes: 1000, reason: expect.stringContaining('accessed 0 time(s)') } });
    // Four workers share commits: far fewer appends than records.
    expect(journal.commits).toBeLessThan(records.length / 2);
  });

  it('sends no DELETE whose intent could not be written, and stops', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(1, 10));
    let appends = 0;
    const journal = new DeletionJournal({
      location: 'failing',
      append: async () => {
        if (++appends > 3) throw new Error('storage unavailable');
      },
    });
    const report = await deleter.execute(plan, { budget: budgetOf(), journal });
    expect(report.stoppedBy).toBe('journal-failed');
    expect(report.stopMessage).toContain('storage unavailable');
    expect(authorized(emulator.requestsMatching('DELETE', /manifests/)).length).toBe(report.deleted.length);
    expect(report.deleted.length).toBeLessThanOrEqual(3);
    expectAccounted(plan, report);
  });

  it('stops starting deletions at once when the lease cannot be confirmed (lease lost), letting the ones in flight finish', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 20), [], { latencyMs: 20 });
    let confirmations = 0;
    const memory = memorySink();
    const journal = new DeletionJournal(memory.sink, {
      beforeIntents: async () => {
        if (++confirmations > 5) throw new StopRequest('lease-lost', 'renewing the run lease failed: it was broken');
      },
    });
    const report = await deleter.execute(plan, { budget: budgetOf(), journal });
    expect(report.stoppedBy).toBe('lease-lost');
    expect(report.stopMessage).toContain('it was broken');
    // Only the deletions whose intents were committed under a confirmed lease went out; nothing after.
    const covered = new Set(memory.records().flatMap((record) => (record.type === 'intent' ? [record.digest] : [])));
    const sent = new Set(emulator.requestsMatching('DELETE', /manifests/).map((request) => decodeURIComponent(request.path.split('/manifests/')[1]!)));
    expect([...sent].every((digest) => covered.has(digest))).toBe(true);
    expect(confirmations).toBe(6);
    expect(report.leftForNextRun).toBeGreaterThan(0);
    expectAccounted(plan, report);
  });

  it('on a stop request lets the deletions in flight finish and records them', async () => {
    const { plan, deleter, emulator } = await setUp(registryOf(2, 20), [], { latencyMs: 50 });
    const memory = memorySink();
    const stop = new AbortController();
    setTimeout(() => stop.abort(new StopRequest('cancelled', 'SIGINT')), 200);
    const report = await deleter.execute(plan, { budget: budgetOf(), journal: new DeletionJournal(memory.sink), signal: stop.signal });
    expect(report.stoppedBy).toBe('cancelled');
    expect(report.leftForNextRun).toBeGreaterThan(0);
    const sent = emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).length;
    expect(report.deleted).toHaveLength(sent);
    const records = memory.records();
    expect(records.filter((record) => record.type === 'intent')).toHaveLength(records.filter((record) => record.type === 'outcome').length);
    expectConsistent(plan, report, emulator);
  });
});
