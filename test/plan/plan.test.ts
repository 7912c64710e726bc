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

  it('keeps an index whose child is kept for itself (locked, fresh, protected, or its signature pulled), and so its other children', () => {
    const index = (label: string) => manifest(label, { relatedArtifacts: [{ digest: digestOf(`${label}-amd64`) }, { digest: digestOf(`${label}-arm64`) }] });
    const recent = new Date(NOW.getTime() - DAY);
    const inventory = inventoryOf({
      app: [
        index('locked'), manifest('locked-amd64'), manifest('locked-arm64', { canDelete: false }),
        index('fresh'), manifest('fresh-amd64'), manifest('fresh-arm64', { createdOn: recent, lastUpdatedOn: recent }),
        index('tagged'), manifest('tagged-amd64'), manifest('tagged-arm64', { tags: ['v1'] }),
        index('signed'), manifest('signed-amd64'), manifest('signed-arm64'), manifest('signature', { subject: digestOf('signed-arm64') }),
        index('idle'), manifest('idle-amd64'), manifest('idle-arm64'),
      ],
    });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('signature'), 2]]), policy: policyOf({ protectTags: /^v\d/ }), now: NOW });
    expect([...deleted(plan)].sort()).toEqual([digestOf('idle'), digestOf('idle-amd64'), digestOf('idle-arm64')].sort());
    const reason = (label: string) => plan.decisions.find((decision) => decision.digest === digestOf(label))!.reason;
    for (const label of ['locked', 'fresh', 'tagged', 'signed']) {
      expect(reason(label), label).toBe('referenced');
      expect(reason(`${label}-amd64`), `${label}-amd64`).toBe('referenced');
    }
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

describe('planCleanup: evidence that cannot mislead', () => {
  const reasonOf = (plan: Plan, label: string, repository?: string) =>
    plan.decisions.find((decision) => decision.digest === digestOf(label) && (repository === undefined || decision.repository === repository))!.reason;

  it('compares repository names and digests case-insensitively (the logs\' keys are lower-cased)', () => {
    const inventory = inventoryOf({ 'CI/App': [manifest('pulled'), manifest('idle')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['ci/app', digestOf('pulled'), 2]]), policy: policyOf(), now: NOW });
    expect(reasonOf(plan, 'pulled')).toBe('accessed');
    expect(deleted(plan)).toEqual([digestOf('idle')]);
  });

  it('never deletes a manifest whose digest an unusable record names, nor the rest of its index', () => {
    const inventory = inventoryOf({
      app: [manifest('named'), manifest('index', { relatedArtifacts: [{ digest: digestOf('child') }, { digest: digestOf('sibling') }] }), manifest('child'), manifest('sibling'), manifest('idle')],
      other: [manifest('named')],
    });
    const accesses = accessesOf();
    accesses.uncertainDigests.add(digestOf('named'));
    accesses.uncertainDigests.add(digestOf('child'));
    const plan = planCleanup({ inventory, accesses, policy: policyOf(), now: NOW });
    expect(reasonOf(plan, 'named', 'app')).toBe('uncertain');
    expect(reasonOf(plan, 'named', 'other')).toBe('uncertain');
    expect(reasonOf(plan, 'index')).toBe('uncertain');
    expect(reasonOf(plan, 'child')).toBe('uncertain');
    expect(reasonOf(plan, 'sibling')).toBe('referenced');
    expect(deleted(plan)).toEqual([digestOf('idle')]);
  });

  it('keeps a manifest with an uncertain digest written in upper case', () => {
    const accesses = accessesOf();
    accesses.uncertainDigests.add(digestOf('named'));
    const inventory = inventoryOf({ app: [manifest('named', { digest: digestOf('named').toUpperCase().replace('SHA256', 'sha256') })] });
    expect(planCleanup({ inventory, accesses, policy: policyOf(), now: NOW }).deletions).toEqual([]);
  });
});

describe('planCleanup: signatures and attestations stored under cosign\'s tag names', () => {
  // cosign without the referrers API stores `sha256-<image's hex digest>.sig` (.att, .sbom) as a tagged manifest
  // with no subject: the registry does not delete it with its image, and verifying the image needs it.
  const tagged = (label: string, image: string, suffix = 'sig') => manifest(label, { tags: [`${digestOf(image).replace(':', '-')}.${suffix}`], sizeInBytes: 300 });
  const decisionOf = (plan: Plan, label: string) => plan.decisions.find((decision) => decision.digest === digestOf(label))!;

  it('keeps the signature and attestation of a kept image', () => {
    const inventory = inventoryOf({ app: [manifest('image'), tagged('signature', 'image'), tagged('attestation', 'image', 'att')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('image'), 2]]), policy: policyOf(), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect([decisionOf(plan, 'signature').reason, decisionOf(plan, 'attestation').reason]).toEqual(['referenced', 'referenced']);
  });

  it('keeps the image of a signature kept for itself', () => {
    const inventory = inventoryOf({ app: [manifest('image'), tagged('signature', 'image')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('signature'), 1]]), policy: policyOf(), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect(decisionOf(plan, 'image').reason).toBe('referenced');
  });

  it('deletes an unused image and its unused signature each on its own (the registry does not cascade a tag)', () => {
    const inventory = inventoryOf({ app: [manifest('image'), tagged('signature', 'image'), manifest('other')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('other'), 1]]), policy: policyOf({ maxDeletePercent: 100 }), now: NOW });
    expect(deleted(plan).sort()).toEqual([digestOf('image'), digestOf('signature')].sort());
    expect(plan.deletions.every((decision) => decision.referrers.length === 0)).toBe(true);
  });

  it('deletes the signature after its image, never while the image stays (deferred by the cap)', () => {
    const inventory = inventoryOf({ app: [manifest('image', { lastUpdatedOn: new Date(NOW.getTime() - 20 * DAY) }), tagged('signature', 'image'), manifest('other')] });
    const accesses = accessesOf([['app', digestOf('other'), 1]]);
    const capped = planCleanup({ inventory, accesses, policy: policyOf({ maxDeletePercent: 100, maxDeletes: 1 }), now: NOW });
    expect(deleted(capped)).toEqual([digestOf('image')]);
    expect(decisionOf(capped, 'signature').reason).toBe('deferred');
    const whole = planCleanup({ inventory, accesses, policy: policyOf({ maxDeletePercent: 100 }), now: NOW });
    expect(deleted(whole)).toEqual([digestOf('image'), digestOf('signature')]);
    expect(whole.deletions[1]!.deleteAfter).toEqual([digestOf('image')]);
  });

  it('judges a tag that names a digest absent from the repository like any other tag', () => {
    const inventory = inventoryOf({ app: [tagged('orphan', 'gone'), manifest('other')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('other'), 1]]), policy: policyOf({ maxDeletePercent: 100 }), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('orphan')]);
  });
});

describe('planCleanup: referrers stay with their subject', () => {
  const referrer = (label: string, subject: string, overrides: Partial<ManifestInfo> = {}) =>
    manifest(label, { subject: digestOf(subject), artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', mediaType: 'application/vnd.oci.image.manifest.v1+json', sizeInBytes: 300, ...overrides });
  const decisionOf = (plan: Plan, label: string) => plan.decisions.find((decision) => decision.digest === digestOf(label))!;

  it('keeps the referrers (transitively) of a kept subject', () => {
    const inventory = inventoryOf({ app: [manifest('image'), referrer('signature', 'image'), referrer('signature-of-sbom', 'sbom'), referrer('sbom', 'image')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('image'), 3]]), policy: policyOf(), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect(plan.decisions.map((decision) => decision.reason)).toEqual(['accessed', 'referenced', 'referenced', 'referenced']);
  });

  it.each([
    ['pulled', (label: string) => referrer(label, 'image'), [['app', digestOf('signature'), 1]] as [string, string, number][]],
    ['locked', (label: string) => referrer(label, 'image', { canDelete: false }), []],
    ['protected', (label: string) => referrer(label, 'image', { tags: ['v1-sig'] }), []],
    ['fresh', (label: string) => referrer(label, 'image', { createdOn: NOW }), []],
  ] as const)('keeps the subject of a %s referrer, and so the subject\'s other referrers', (_, build, pulls) => {
    const inventory = inventoryOf({ app: [manifest('image'), build('signature'), referrer('sbom', 'image')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([...pulls]), policy: policyOf({ protectTags: /^v\d/ }), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect(decisionOf(plan, 'image').reason).toBe('referenced');
    expect(decisionOf(plan, 'sbom').reason).toBe('referenced');
  });

  it('keeps the subject of a referrer named by an unusable record', () => {
    const inventory = inventoryOf({ app: [manifest('image'), referrer('signature', 'image')] });
    const accesses = accessesOf();
    accesses.uncertainDigests.add(digestOf('signature'));
    const plan = planCleanup({ inventory, accesses, policy: policyOf(), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect([decisionOf(plan, 'image').reason, decisionOf(plan, 'signature').reason]).toEqual(['referenced', 'uncertain']);
  });

  it('lists the referrers of a deleted subject under it instead of deleting them on their own', () => {
    const inventory = inventoryOf({ app: [manifest('image', { sizeInBytes: 5000 }), referrer('signature', 'image'), referrer('sbom', 'image'), referrer('sbom-signature', 'sbom')] });
    const plan = planCleanup({ inventory, accesses: accessesOf(), policy: policyOf(), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('image')]);
    expect(plan.deletions[0]!.referrers.map((decision) => decision.digest).sort()).toEqual([digestOf('signature'), digestOf('sbom'), digestOf('sbom-signature')].sort());
    expect(decisionOf(plan, 'sbom-signature').deletedWith).toBe(digestOf('image'));
    expect(plan.candidates).toBe(4);
  });

  it('judges a referrer whose subject is not in the inventory on its own', () => {
    const inventory = inventoryOf({ app: [referrer('orphan', 'gone'), referrer('pulled-orphan', 'gone')] });
    const plan = planCleanup({ inventory, accesses: accessesOf([['app', digestOf('pulled-orphan'), 1]]), policy: policyOf(), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('orphan')]);
  });

  it('defers the referrers of a deferred subject with it', () => {
    const inventory = inventoryOf({ app: [manifest('older', { lastUpdatedOn: new Date(NOW.getTime() - 40 * DAY) }), manifest('image'), referrer('signature', 'image')] });
    const plan = planCleanup({ inventory, accesses: accessesOf(), policy: policyOf({ maxDeletes: 1 }), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('older')]);
    expect([decisionOf(plan, 'image').reason, decisionOf(plan, 'signature').reason]).toEqual(['deferred', 'deferred']);
    expect(decisionOf(plan, 'signature').action).toBe('keep');
  });

  it('keeps referrers that are each other\'s subject (malformed data), rather than leaving them undecided', () => {
    const inventory = inventoryOf({ app: [referrer('a', 'b'), referrer('b', 'a')] });
    const plan = planCleanup({ inventory, accesses: accessesOf(), policy: policyOf(), now: NOW });
    expect(plan.deletions).toEqual([]);
    expect(plan.decisions.map((decision) => [decision.action, decision.reason])).toEqual([
      ['keep', 'referenced'],
      ['keep', 'referenced'],
    ]);
  });

  it('deletes an index before the subject that carries its child away', () => {
    const inventory = inventoryOf({
      app: [manifest('index', { relatedArtifacts: [{ digest: digestOf('attestation') }] }), manifest('image', { lastUpdatedOn: new Date(NOW.getTime() - 40 * DAY) }), referrer('attestation', 'image')],
    });
    const plan = planCleanup({ inventory, accesses: accessesOf(), policy: policyOf(), now: NOW });
    expect(deleted(plan)).toEqual([digestOf('index'), digestOf('image')]);
    expect(plan.deletions[1]!.deleteAfter).toEqual([digestOf('index')]);
  });
});

describe('planCleanup: guards', () => {
  const inventory = inventoryOf({ app: [manifest('a'), manifest('b'), manifest('c'), manifest('d')] });

  it('refuses when no record lies in the window', () => {
    const plan = planCleanup({ inventory, accesses: new AccessCounts(), policy: policyOf(), now: NOW });
    expect(plan.aborted?.reason).toBe('logs-missing');
    expect(plan.deletions).toEqual([]);
  });

  it('refuses when records lie in the window but not one is a countable pull or push (the format changed)', () => {
    const accesses = new AccessCounts();
    accesses.sawRecord(NOW.getTime() - 3_600_000, true);
    accesses.recordsInWindow = 61;
    const plan = planCleanup({ inventory, accesses, policy: policyOf(), now: NOW });
    expect(plan.aborted?.reason).toBe('logs-unusable');
    expect(plan.aborted?.message).toContain('61 log record(s) of this registry lie in the last 7 days, but not one is a successful pull or push');
    expect(plan.deletions).toEqual([]);
  });

  it('refuses when the newest record is older than the staleness limit', () => {
    const accesses = new AccessCounts();
    accesses.sawRecord(NOW.getTime() - 25 * 3_600_000, true);
    accesses.add('app', digestOf('a'), NOW.getTime() - 25 * 3_600_000);
    const plan = planCleanup({ inventory, accesses, policy: policyOf({ logMaxStalenessHours: 24 }), now: NOW });
    expect(plan.aborted?.reason).toBe('logs-stale');
    expect(plan.aborted?.message).toContain('25.0 hours ago');
  });

  it('refuses when the newest record the reader reports is stale, however many records and accesses lie in the window', () => {
    const accesses = accessesOf([['app', digestOf('a'), 5]]);
    accesses.newestRecordMs = NOW.getTime() - 30 * 3_600_000;
    accesses.recordsInWindow = 100_000;
    const plan = planCleanup({ inventory, accesses, policy: policyOf({ logMaxStalenessHours: 24 }), now: NOW });
    expect(plan.aborted?.reason).toBe('logs-stale');
    expect(plan.deletions).toEqual([]);
  });

  it('refuses when more than the allowed share of the records in the window could not be used, naming the counts', () => {
    const accesses = accessesOf([['app', digestOf('a'), 1]]);
    accesses.recordsInWindow = 998;
    accesses.unusableRecords = 2;
    const refused = planCleanup({ inventory, accesses, policy: policyOf({ logMaxUnusablePercent: 0.1 }), now: NOW });
    expect(refused.aborted?.reason).toBe('logs-unusable');
    expect(refused.aborted?.message).toContain('2 of 1000 log records (0.20 %)');
    expect(refused.deletions).toEqual([]);
    expect(planCleanup({ inventory, accesses, policy: policyOf({ logMaxUnusablePercent: 0.2 }), now: NOW }).aborted).toBeNull();
  });

  it('refuses as logs-unusable, not logs-missing, when every record was unusable', () => {
    const accesses = new AccessCounts();
    accesses.unusableRecords = 40;
    expect(planCleanup({ inventory, accesses, policy: policyOf({ logMaxUnusablePercent: 50 }), now: NOW }).aborted?.reason).toBe('logs-unusable');
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
    subject: fc.option(labels, { nil: undefined }),
    uncertain: fc.boolean(),
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
          subject: m.subject === undefined || m.subject === m.label ? undefined : digestOf(m.subject),
        }),
      );
      for (const m of manifests) if (m.accesses > 0) accesses.add(name, digestOf(m.label), NOW.getTime() - m.accessDaysAgo * DAY, m.accesses);
      for (const m of manifests) if (m.uncertain && m.label % 3 === 0) accesses.uncertainDigests.add(digestOf(m.label));
    });
    const policy = policyOf({ minAccessCount: input.minAccessCount, graceDays: input.graceDays, maxDeletes: input.maxDeletes, maxDeletePercent: input.maxDeletePercent, protectTags: /^v\d/ });
    return { inventory: inventoryOf(repositories), accesses, policy };
  }

  /** Found by this property: an index whose subject is its own child goes with that child, at no place of its own. */
  const INDEX_THAT_REFERS_TO_ITS_CHILD = {
    repositories: [
      [
        { label: 14, canDelete: true, ageDays: 1, tags: [], children: [], subject: undefined, uncertain: false, accesses: 0, accessDaysAgo: 0 },
        { label: 0, canDelete: true, ageDays: 1, tags: [], children: [14], subject: 14, uncertain: false, accesses: 0, accessDaysAgo: 0 },
      ],
      [{ label: 0, canDelete: false, ageDays: 0, tags: [], children: [], subject: undefined, uncertain: false, accesses: 1, accessDaysAgo: 0 }],
    ],
    minAccessCount: 1,
    graceDays: 0,
    maxDeletes: undefined,
    maxDeletePercent: 67,
    logAgeHours: 0,
  };

  const scenarios = fc.property(scenario, (input) => {
    const { inventory, accesses, policy } = build(input);
    const plan = planCleanup({ inventory, accesses, policy, now: NOW });
    checkInvariants(inventory, accesses, plan);
  });

  function checkInvariants(inventory: Inventory, accesses: AccessCounts, plan: Plan) {
    const doomed = new Set(plan.deletions.flatMap((decision) => [decision, ...decision.referrers]).map((decision) => `${decision.repository}@${decision.digest}`));
    const deletedAlone = new Set(plan.deletions.map((decision) => `${decision.repository}@${decision.digest}`));
    const graceStart = NOW.getTime() - plan.policy.graceDays * DAY;
    expect(plan.decisions.length).toBe(inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0));
    if (plan.aborted) expect(plan.deletions).toEqual([]);
    if (plan.policy.maxDeletes !== undefined) expect(plan.deletions.length).toBeLessThanOrEqual(plan.policy.maxDeletes);
    expect(deletedAlone.size).toBe(plan.deletions.length);
    const goingDecisions = plan.decisions.filter((decision) => decision.action === 'delete').map((decision) => `${decision.repository}@${decision.digest}`);
    if (!plan.aborted) expect(new Set(goingDecisions), 'every decision to delete is deleted, alone or with its subject').toEqual(doomed);
    for (const repository of inventory.repositories) {
      const present = new Set(repository.manifests.map((m) => m.digest));
      for (const m of repository.manifests) {
        if (m.subject === undefined || !present.has(m.subject)) continue;
        const key = (digest: string) => `${repository.name}@${digest}`;
        expect(doomed.has(key(m.digest)), 'a referrer goes exactly when its subject goes').toBe(doomed.has(key(m.subject)));
        expect(deletedAlone.has(key(m.digest)), 'a referrer of a present subject is never deleted on its own').toBe(false);
      }
      const position = new Map(plan.deletions.filter((d) => d.repository === repository.name).map((d, index) => [d.digest, index]));
      for (const m of repository.manifests) {
        const goes = doomed.has(`${repository.name}@${m.digest}`);
        if (goes && !plan.aborted) expect(plan.decisions.find((d) => d.repository === repository.name && d.digest === m.digest)!.action).toBe('delete');
        if (!goes) {
          for (const child of m.relatedArtifacts) expect(doomed.has(`${repository.name}@${child.digest}`), 'child of a kept index').toBe(false);
          continue;
        }
        expect(m.canDelete, 'locked').toBe(true);
        expect(accesses.uncertainDigests.has(m.digest), 'uncertain').toBe(false);
        for (const child of m.relatedArtifacts) expect(accesses.uncertainDigests.has(child.digest) && present.has(child.digest), 'an index with an uncertain child').toBe(false);
        for (const child of repository.manifests.filter((other) => m.relatedArtifacts.some((related) => related.digest === other.digest))) {
          const keptForItself = !child.canDelete || child.createdOn.getTime() >= graceStart || child.lastUpdatedOn.getTime() >= graceStart || child.tags.some((tag) => /^v\d/.test(tag));
          expect(keptForItself, 'an index with a child kept for itself').toBe(false);
        }
        expect(m.createdOn.getTime() < graceStart && m.lastUpdatedOn.getTime() < graceStart, 'fresh').toBe(true);
        expect(m.tags.some((tag) => /^v\d/.test(tag)), 'protected').toBe(false);
        expect(accesses.get(repository.name, m.digest)?.count ?? 0).toBeLessThan(plan.policy.minAccessCount);
        for (const child of m.relatedArtifacts) {
          // An index that goes as a referrer goes with its subject, not at a place of its own.
          if (position.has(child.digest) && position.has(m.digest)) expect(position.get(child.digest)!, 'index before child').toBeGreaterThan(position.get(m.digest)!);
        }
      }
    }
  }

  it('never deletes a locked, fresh, protected or accessed manifest, nor a child of a kept index, nor anything when a guard fires', () => {
    fc.assert(scenarios, { numRuns: 500, examples: [[INDEX_THAT_REFERS_TO_ITS_CHILD]] });
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
