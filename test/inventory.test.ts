import { describe, expect, it } from 'vitest';
import { inventoryFromSnapshot, inventoryToSnapshot, registryNameOf, type InventorySnapshot } from '../src/inventory.js';
import { digestOf, inventoryOf, manifest } from './support/builders.js';

type ManifestSnapshot = InventorySnapshot['repositories'][number]['manifests'][number];

const at = '2026-10-01T08:00:00.000Z';
const entry = (label: string, overrides: Partial<ManifestSnapshot> = {}): ManifestSnapshot => ({
  digest: digestOf(label),
  sizeInBytes: 10,
  createdOn: at,
  lastUpdatedOn: at,
  ...overrides,
});
const snapshotOf = (repositories: Record<string, ManifestSnapshot[]>): InventorySnapshot => ({
  registry: 'cicache.azurecr.io',
  repositories: Object.entries(repositories).map(([name, manifests]) => ({ name, manifests })),
});
const problemsOf = (snapshot: unknown): string => {
  try {
    inventoryFromSnapshot(snapshot, 'snap.json');
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('inventory snapshots that no registry can hold are refused with the JSON path', () => {
  it('a digest twice in a repository', () => {
    expect(problemsOf(snapshotOf({ app: [entry('a'), entry('b'), entry('a', { tags: ['x'] })] }))).toContain(
      `repositories[0].manifests[2].digest: ${digestOf('a')} is listed twice in app (also manifests[0])`,
    );
  });

  it('the same digest in two repositories is fine', () => {
    expect(problemsOf(snapshotOf({ app: [entry('a')], mirror: [entry('a')] }))).toBe('accepted');
  });

  it('a tag on two manifests of a repository', () => {
    expect(problemsOf(snapshotOf({ app: [entry('a', { tags: ['latest'] }), entry('b', { tags: ['v1', 'latest'] })] }))).toContain(
      'repositories[0].manifests[1].tags[1]: tag "latest" is also on manifests[0]',
    );
  });

  it('a repository twice, names compared case-insensitively', () => {
    expect(problemsOf(snapshotOf({ 'ci/app': [entry('a')], 'CI/App': [entry('b')] }))).toContain('repositories[1].name: repository "CI/App" is listed twice (also repositories[0])');
  });

  it('an index that contains itself, and a referrer that is its own subject', () => {
    const message = problemsOf(snapshotOf({ app: [entry('index', { relatedArtifacts: [{ digest: digestOf('index') }] }), entry('sig', { subject: digestOf('sig') })] }));
    expect(message).toContain('repositories[0].manifests[0].relatedArtifacts[0].digest: the manifest refers to itself');
    expect(message).toContain('repositories[0].manifests[1].subject: the manifest refers to itself');
  });

  it('references in a circle, through children or subjects', () => {
    const message = problemsOf(
      snapshotOf({
        app: [entry('a', { relatedArtifacts: [{ digest: digestOf('b') }] }), entry('b', { subject: digestOf('c') }), entry('c', { relatedArtifacts: [{ digest: digestOf('a') }] })],
      }),
    );
    expect(message).toMatch(/repositories\[0\]\.manifests\[\d\]\.(subject|relatedArtifacts\[0\]\.digest): leads back to manifests\[\d\]/);
  });

  it('accepts a long chain of referrers without exhausting the stack', () => {
    const chain = Array.from({ length: 20_000 }, (_, index) => entry(`r${index}`, index === 0 ? {} : { subject: digestOf(`r${index - 1}`) }));
    expect(problemsOf(snapshotOf({ app: chain }))).toBe('accepted');
  });

  it('a subject that is not a digest, and an empty artifact type', () => {
    const message = problemsOf(snapshotOf({ app: [entry('a', { subject: 'sha256:nope', artifactType: '' })] }));
    expect(message).toContain('repositories[0].manifests[0].subject');
    expect(message).toContain('repositories[0].manifests[0].artifactType');
  });
});

describe('the snapshot model', () => {
  it('carries subject and artifactType both ways', () => {
    const inventory = inventoryOf({ app: [manifest('image'), manifest('sig', { subject: digestOf('image'), artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' })] });
    const back = inventoryFromSnapshot(JSON.parse(JSON.stringify(inventoryToSnapshot(inventory))));
    expect(back.repositories[0]!.manifests[1]).toMatchObject({ subject: digestOf('image'), artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' });
    expect(back.repositories[0]!.manifests[0]!.subject).toBeUndefined();
  });

  it.each([
    ['cicache.azurecr.io', 'cicache'],
    ['CICache.azurecr.io', 'cicache'],
    ['https://cicache.azurecr.io', 'cicache'],
    ['cicache.azurecr.cn', 'cicache'],
    ['127.0.0.1:8443', undefined],
    ['localhost:5000', undefined],
  ])('names the registry of %s as its logs do: %s', (registry, name) => {
    expect(registryNameOf({ registry })).toBe(name);
  });
});
