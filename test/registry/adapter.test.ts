import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { runPass } from '../../src/pass.js';
import { AcrInventorySource } from '../../src/registry/acr.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { createPassDependencies } from '../../src/wiring.js';
import { digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { writeScenario } from '../support/scenario.js';
import { DAY } from '../support/builders.js';
import type { LogRecordInput } from '../support/syntheticCache.js';

let emulator: AcrEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

const INDEX = 'application/vnd.oci.image.index.v1+json';
const child = (label: string) => ({ digest: digestOf(label), architecture: 'arm64', operatingSystem: 'linux' });

function registry() {
  return inventoryOf({
    'ci/app': [
      manifest('used', { tags: ['buildcache'] }),
      manifest('unused', { tags: ['pr-1', 'pr-2'] }),
      manifest('locked', { canDelete: false }),
      manifest('index-used', { mediaType: INDEX, relatedArtifacts: [child('amd64-used'), child('arm64-used')] }),
      manifest('amd64-used'),
      manifest('arm64-used'),
      manifest('index-unused', { mediaType: INDEX, relatedArtifacts: [child('amd64-unused')] }),
      manifest('amd64-unused'),
    ],
    'ci/empty-soon': [manifest('lonely')],
  });
}

const pull = (repository: string, label: string, daysAgo = 1): LogRecordInput => ({
  time: new Date(NOW.getTime() - daysAgo * DAY),
  operationName: 'Pull',
  repository,
  digest: digestOf(label),
  registry: 'cicache',
});

describe('the registry adapter against the ACR emulator', () => {
  it('lists every repository and manifest with media types and the children of indexes', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    const source = new AcrInventorySource({ endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net' }, { concurrency: 2, pageSize: 3, readsPerMinute: 60_000 });
    const inventory = await source.load();
    expect(inventory.registry).toBe('cicache.azurecr.io');
    expect(inventory.repositories.map((repository) => [repository.name, repository.manifests.length])).toEqual([
      ['ci/app', 8],
      ['ci/empty-soon', 1],
    ]);
    const app = inventory.repositories[0]!.manifests;
    const byDigest = new Map(app.map((m) => [m.digest, m]));
    expect(byDigest.get(digestOf('index-used'))).toMatchObject({ mediaType: INDEX, relatedArtifacts: [child('amd64-used'), child('arm64-used')] });
    expect(byDigest.get(digestOf('locked'))!.canDelete).toBe(false);
    expect(byDigest.get(digestOf('unused'))!.tags).toEqual(['pr-1', 'pr-2']);
    // Minimal traffic: pages (3 for ci/app at 3 per page, 1 for the other, 1 catalog) and one lookup per index.
    const dataCalls = emulator.requests.filter((entry) => entry.status === 200 && !entry.path.startsWith('/oauth2'));
    expect(dataCalls.filter((entry) => entry.path.includes('/_manifests/'))).toHaveLength(2);
    expect(dataCalls.filter((entry) => /\/_manifests(\?|$)/.test(entry.path))).toHaveLength(4);
    // Manifest documents only of those that can be OCI referrers: untagged OCI manifests that no index lists.
    const documents = emulator.requests.filter((entry) => entry.path.startsWith('/v2/') && entry.status === 200).map((entry) => decodeURIComponent(entry.path));
    expect(documents.sort()).toEqual(
      [['ci/app', 'locked'], ['ci/app', 'index-used'], ['ci/app', 'index-unused'], ['ci/empty-soon', 'lonely']].map(([repository, label]) => `/v2/${repository}/manifests/${digestOf(label!)}`).sort(),
    );
    expect(source.stats).toMatchObject({ referrerLookups: 4, referrers: 0 });
  });

  it('runs a full pass: logs from a folder, live inventory, real deletions of exactly the plan', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry()) });
    const { logDir } = await writeScenario(registry(), [pull('ci/app', 'used'), pull('ci/app', 'arm64-used'), pull('ci/other', 'x', 0.01)]);
    const config = loadConfig({ CONTAINER_REGISTRY: emulator.endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, MAX_DELETE_PERCENT: '100' });
    const report = await runPass(config, createPassDependencies(config, { clock: () => NOW }));
    expect(report.aborted).toBeNull();
    expect(report.error).toBeNull();
    const planned = report.delete.map((entry) => `${entry.repository}@${entry.digest}`).sort();
    expect(planned).toEqual([`ci/app@${digestOf('amd64-unused')}`, `ci/app@${digestOf('index-unused')}`, `ci/app@${digestOf('unused')}`, `ci/empty-soon@${digestOf('lonely')}`].sort());
    expect(report.execution!.deleted.map((entry) => `${entry.repository}@${entry.digest}`).sort()).toEqual(planned);
    const remaining = emulator.state.toSnapshot('x').repositories.flatMap((repository) => repository.manifests.map((m) => `${repository.name}@${m.digest}`));
    expect(remaining.sort()).toEqual(
      ['used', 'locked', 'index-used', 'amd64-used', 'arm64-used'].map((label) => `ci/app@${digestOf(label)}`).sort(),
    );
    // The index went before its child.
    const deletes = emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).map((entry) => entry.path);
    expect(deletes.findIndex((path) => path.includes(digestOf('index-unused').slice(7)))).toBeLessThan(deletes.findIndex((path) => path.includes(digestOf('amd64-unused').slice(7))));
  });
});

describe('the last check before each deletion', () => {
  it('keeps a manifest pushed again, tagged with a protected tag or locked since the listing', async () => {
    const inventory = inventoryOf({ 'ci/app': ['a', 'b', 'c', 'd', 'e'].map((label) => manifest(label)) });
    emulator = await startEmulator({ state: RegistryState.fromInventory(inventory) });
    const { logDir } = await writeScenario(inventory, [pull('ci/other', 'x', 0.01)]);
    const config = loadConfig({ CONTAINER_REGISTRY: emulator.endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, MAX_DELETE_PERCENT: '100', PROTECT_TAGS: '^release-' });
    const server = emulator;
    const report = await runPass(config, createPassDependencies(config, { clock: () => NOW }), {
      onPlan: (planned) => {
        expect(planned.delete).toHaveLength(5);
        const repository = server.state.repositories.get('ci/app')!;
        repository.manifests.get(digestOf('a'))!.lastUpdateTime = new Date(NOW.getTime() - 3_600_000).toISOString();
        server.state.addManifest('ci/app', repository.manifests.get(digestOf('b'))!, ['release-1.0']);
        repository.manifests.get(digestOf('c'))!.changeableAttributes.writeEnabled = false;
        server.state.deleteManifest('ci/app', digestOf('d'));
      },
    });
    const execution = report.execution!;
    expect(execution.deleted.map((entry) => entry.digest)).toEqual([digestOf('e')]);
    expect(execution.alreadyGone).toEqual([{ repository: 'ci/app', digest: digestOf('d') }]);
    expect(Object.fromEntries(execution.skipped.map((skip) => [skip.digest, skip.why]))).toEqual({
      [digestOf('a')]: expect.stringContaining('it is now fresh'),
      [digestOf('b')]: expect.stringContaining('it is now protected'),
      [digestOf('c')]: expect.stringContaining('it is now locked'),
    });
    expect([...emulator.state.repositories.get('ci/app')!.manifests.keys()].sort()).toEqual([digestOf('a'), digestOf('b'), digestOf('c')].sort());
  });
});
