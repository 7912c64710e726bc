import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessCounts } from '../../src/accessLog/counts.js';
import type { Inventory, ManifestInfo } from '../../src/inventory.js';
import { planCleanup, type Plan } from '../../src/plan/plan.js';
import { accessesOf, DAY, digestOf, inventoryOf, manifest, NOW, policyOf } from '../support/builders.js';

const deleted = (plan: Plan) => plan.deletions.map((decision) => decision.digest);

describe('planCleanup: the rules', () => {
  it('deletes what was accessed fewer than the minimum times, keeping everything else with its reason', () => {
    const inventory = inventoryOf({
      app: [
        manifest('unused'),
        manifest('pulled', { tags: ['buildcache'] }),
        manifest('locked', { canDelete: false }),
        manifest('release', { tags: ['v1.2.0'] }),
        manifest('new', { createdOn: new Date(NOW.getTime() - 2 * DAY) }),
        manifest('touched', { lastUpdatedOn: new Date(NOW.getTime() - 6.9 * DAY) }),
      ],
      other: [manifest('elsewhere')],
    });
    const plan = planCleanup({
      inventory,
      accesses: accessesOf([['app', digestOf('pulled'), 3]]),
      policy: policyOf({ protectTags: /^v\d/, repositoryFilter: /^app$/ }),
      now: NOW,
    });
    expect(plan.aborted).toBeNull();
    expect(deleted(plan)).toEqual([digestOf('unused')]);
    expect(plan.decisions.map((decision) => decision.reason)).toEqual(['unused', 'accessed', 'locked', 'protected', 'fresh', 'fresh', 'out-of-scope']);
    expect(plan.inScope).toBe(6);
  });

  it('applies the minimum access count as "fewer than"', () => {
    const inventory = inventoryOf({ app: [manifest('a'), manifest('b')] });
    const accesses = accessesOf([
      ['app', digestOf('a'), 2],
      ['app', digestOf('b'), 3],
    ]);
    expect(deleted(planCleanup({ inventory, accesses, policy: policyOf({ minAccessCount: 3 }), now: NOW }))).toEqual([digestOf('a')]);
  });

  it('does not count accesses of another repository with the same digest', () => {
    const inventory = inventoryOf({ app: [manifest('shared')], mirror: [manifest('shared')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['mirror', digestOf('shared'), 5]]), policy: policyOf(), now: NOW });
    expect(plan.deletions.map((decision) => decision.repository)).toEqual(['app']);
  });

  it('keeps the children of a kept index, transitively, and a child shared with a deleted index', () => {
    const child = (label: string) => ({ digest: digestOf(label) });
    const inventory = inventoryOf({
      app: [
        manifest('index-kept', { relatedArtifacts: [child('nested-index'), child('shared')] }),
        manifest('nested-index', { relatedArtifacts: [child('leaf')] }),
        manifest('leaf'),
        manifest('shared'),
        manifest('index-unused', { relatedArtifacts: [child('shared'), child('own')] }),
        manifest('own'),
      ],
    });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('index-kept'), 1]]), policy: policyOf(), now: NOW });
    const byLabel = (label: string) => plan.decisions.find((decision) => decision.digest === digestOf(label))!;
    expect(byLabel('index-kept').reason).toBe('accessed');
    expect(byLabel('nested-index').reason).toBe('referenced');
    expect(byLabel('leaf').reason).toBe('referenced');
    expect(byLabel('shared').reason).toBe('referenced');
    expect(deleted(plan)).toEqual([digestOf('index-unused'), digestOf('own')]);
    expect(byLabel('own').deleteAfter).toEqual([digestOf('index-unused')]);
  });

  it('keeps an index whose child was pulled by digest, and so its other children', () => {
    const inventory = inventoryOf({
      app: [manifest('index', { relatedArtifacts: [{ digest: digestOf('amd64') }, { digest: digestOf('arm64') }] }), manifest('amd64'), manifest('arm64')],
    });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('amd64'), 4]]), policy: policyOf(), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect(plan.decisions.map((decision) => decision.reason)).toEqual(['accessed', 'accessed', 'referenced']);
  });

  it('orders deletions least recently used first, never-used first, an index before its children', () => {
    const inventory = inventoryOf({
      app: [
        manifest('recent'),
        manifest('old'),
        manifest('never'),
        manifest('index', { relatedArtifacts: [{ digest: digestOf('child') }] }),
        manifest('child', { lastUpdatedOn: new Date(NOW.getTime() - 40 * DAY) }),
      ],
    });
    const accesses = accessesOf([
      ['app', digestOf('recent'), 1, 1],
      ['app', digestOf('old'), 1, 6],
      ['app', digestOf('index'), 1, 3],
    ]);
    const plan = planCleanup({ inventory, accesses, policy: policyOf({ minAccessCount: 2 }), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('never'), digestOf('old'), digestOf('index'), digestOf('child'), digestOf('recent')]);
  });

  it('defers deletions over the per-run cap, least recently used going first', () => {
    const inventory = inventoryOf({ app: [manifest('a'), manifest('b'), manifest('c')] });
    const accesses = accessesOf([
      ['app', digestOf('a'), 1, 2],
      ['app', digestOf('c'), 1, 5],
    ]);
    const plan = planCleanup({ inventory, accesses, policy: policyOf({ minAccessCount: 2, maxDeletes: 2 }), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('b'), digestOf('c')]);
    expect(plan.decisions.find((decision) => decision.digest === digestOf('a'))!.reason).toBe('deferred');
  });
});

describe('planCleanup: guards', () => {
  const inventory = inventoryOf({ app: [manifest('a'), manifest('b'), manifest('c'), manifest('d')] });

  it('refuses when no record lies in the window', () => {
    const plan = planCleanup({ inventory, accesses: new AccessCounts(), policy: policyOf(), now: NOW });
    expect(plan.aborted?.reason).toBe('logs-missing');
    expect(plan.deletions).toEqual([]);
  });

  it('refuses when the newest record is older than the staleness limit', () => {
    const accesses = new AccessCounts();
    accesses.sawRecord(NOW.getTime() - 25 * 3_600_000, true);
    const plan = planCleanup({ inventory, accesses, policy: policyOf({ logMaxStalenessHours: 24 }), now: NOW });
    expect(plan.aborted?.reason).toBe('logs-stale');
    expect(plan.aborted?.message).toContain('25.0 hours ago');
  });

  it('refuses when more than the allowed share would go', () => {
    const accesses = accessesOf([['app', digestOf('a'), 1]]);
    expect(planCleanup({ inventory, accesses, policy: policyOf({ maxDeletePercent: 74 }), now: NOW }).aborted?.reason).toBe('too-many-deletions');
    expect(planCleanup({ inventory, accesses, policy: policyOf({ maxDeletePercent: 75 }), now: NOW }).aborted).toBeNull();
  });
});

describe('planCleanup: invariants over random registries', () => {
  const labels = fc.integer({ min: 0, max: 30 });
  const manifestArbitrary = fc.record({
    label: labels,
    canDelete: fc.boolean(),
    ageDays: fc.integer({ min: 0, max: 40 }),
    tags: fc.array(fc.constantFrom('latest', 'v1', 'pr-1', 'buildcache'), { maxLength: 2 }),
    children: fc.array(labels, { maxLength: 3 }),
    accesses: fc.integer({ min: 0, max: 3 }),
    accessDaysAgo: fc.integer({ min: 0, max: 6 }),
  });
  const scenario = fc.record({
    repositories: fc.array(fc.uniqueArray(manifestArbitrary, { selector: (m) => m.label, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
    minAccessCount: fc.integer({ min: 0, max: 3 }),
    graceDays: fc.integer({ min: 0, max: 10 }),
    maxDeletes: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
    maxDeletePercent: fc.integer({ min: 0, max: 100 }),
    logAgeHours: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
  });

  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

  function build(input: Scenario) {
    const accesses = new AccessCounts();
    if (input.logAgeHours !== undefined) accesses.sawRecord(NOW.getTime() - input.logAgeHours * 3_600_000, input.logAgeHours < 7 * 24);
    const repositories: Record<string, ManifestInfo[]> = {};
    input.repositories.forEach((manifests, index) => {
      const name = `repo${index}`;
      repositories[name] = manifests.map((m) =>
        manifest(m.label, {
          canDelete: m.canDelete,
          createdOn: new Date(NOW.getTime() - m.ageDays * DAY),
          lastUpdatedOn: new Date(NOW.getTime() - m.ageDays * DAY),
          tags: m.tags,
          relatedArtifacts: m.children.filter((child) => child !== m.label).map((child) => ({ digest: digestOf(child) })),
        }),
      );
      for (const m of manifests) if (m.accesses > 0) accesses.add(name, digestOf(m.label), NOW.getTime() - m.accessDaysAgo * DAY, m.accesses);
    });
    const policy = policyOf({ minAccessCount: input.minAccessCount, graceDays: input.graceDays, maxDeletes: input.maxDeletes, maxDeletePercent: input.maxDeletePercent, protectTags: /^v\d/ });
    return { inventory: inventoryOf(repositories), accesses, policy };
  }

  const scenarios = fc.property(scenario, (input) => {
    const { inventory, accesses, policy } = build(input);
    const plan = planCleanup({ inventory, accesses, policy, now: NOW });
    checkInvariants(inventory, accesses, plan);
  });

  function checkInvariants(inventory: Inventory, accesses: AccessCounts, plan: Plan) {
    const doomed = new Set(plan.deletions.map((decision) => `${decision.repository}@${decision.digest}`));
    const graceStart = NOW.getTime() - plan.policy.graceDays * DAY;
    expect(plan.decisions.length).toBe(inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0));
    if (plan.aborted) expect(plan.deletions).toEqual([]);
    if (plan.policy.maxDeletes !== undefined) expect(plan.deletions.length).toBeLessThanOrEqual(plan.policy.maxDeletes);
    expect(doomed.size).toBe(plan.deletions.length);
    for (const repository of inventory.repositories) {
      const position = new Map(plan.deletions.filter((d) => d.repository === repository.name).map((d, index) => [d.digest, index]));
      for (const m of repository.manifests) {
        const goes = doomed.has(`${repository.name}@${m.digest}`);
        if (!goes) {
          for (const child of m.relatedArtifacts) expect(doomed.has(`${repository.name}@${child.digest}`), 'child of a kept index').toBe(false);
          continue;
        }
        expect(m.canDelete, 'locked').toBe(true);
        expect(m.createdOn.getTime() < graceStart && m.lastUpdatedOn.getTime() < graceStart, 'fresh').toBe(true);
        expect(m.tags.some((tag) => /^v\d/.test(tag)), 'protected').toBe(false);
        expect(accesses.get(repository.name, m.digest)?.count ?? 0).toBeLessThan(plan.policy.minAccessCount);
        for (const child of m.relatedArtifacts) {
          if (position.has(child.digest)) expect(position.get(child.digest)!, 'index before child').toBeGreaterThan(position.get(m.digest)!);
        }
      }
    }
  }

  it('never deletes a locked, fresh, protected or accessed manifest, nor a child of a kept index, nor anything when a guard fires', () => {
    fc.assert(scenarios, { numRuns: 500 });
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const first = build(input);
        const second = build(input);
        expect(planCleanup({ ...first, now: NOW }).deletions.map((d) => d.digest)).toEqual(planCleanup({ ...second, now: NOW }).deletions.map((d) => d.digest));
      }),
      { numRuns: 100 },
    );
  });
});
