import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Inventory } from '../../src/inventory.js';
import { runPass } from '../../src/pass.js';
import { AcrInventorySource } from '../../src/registry/acr.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import type { ReferrerDiscovery } from '../../src/registry/referrers.js';
import { createPassDependencies } from '../../src/wiring.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { DAY, digestOf, inventoryOf, manifest, MEDIA_TYPES, NOW, referrerOf } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { writeScenario } from '../support/scenario.js';
import type { LogRecordInput } from '../support/syntheticCache.js';

let emulator: AcrEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

const SIGNATURE = MEDIA_TYPES.cosignSignature;
const SBOM = MEDIA_TYPES.spdxSbom;
const INDEX = MEDIA_TYPES.ociIndex;
const DOCKER = MEDIA_TYPES.dockerManifest;
const referrer = referrerOf;

function signedRegistry(): Inventory {
  return inventoryOf({
    'ci/app': [
      manifest('used', { tags: ['buildcache'] }),
      referrer('used.sig', 'used'),
      manifest('idle', { tags: ['pr-1'] }),
      referrer('idle.sig', 'idle'),
      referrer('idle.sbom', 'idle', SBOM),
      referrer('idle.sbom.sig', 'idle.sbom'),
      manifest('index', { mediaType: INDEX, tags: ['multi'], relatedArtifacts: [{ digest: digestOf('amd64') }] }),
      manifest('amd64'),
      referrer('index.sig', 'index'),
      manifest('docker', { mediaType: DOCKER }),
      referrer('orphan.sig', 'gone'),
    ],
  });
}

function source(discovery: ReferrerDiscovery) {
  return new AcrInventorySource(
    { endpoint: emulator!.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net' },
    { concurrency: 1, readsPerMinute: 600_000, referrerDiscovery: discovery },
  );
}

const subjects = (inventory: Inventory) =>
  Object.fromEntries(inventory.repositories[0]!.manifests.filter((m) => m.subject !== undefined).map((m) => [m.digest, [m.subject, m.artifactType]]));

describe('the emulator models OCI referrers', () => {
  it('knows each manifest\'s referrers and deletes them (transitively) with their subject', () => {
    const state = RegistryState.fromInventory(signedRegistry());
    const repository = state.repositories.get('ci/app')!;
    expect(state.referrersOf(repository, digestOf('idle')).map((m) => m.digest).sort()).toEqual([digestOf('idle.sig'), digestOf('idle.sbom')].sort());
    expect(state.toSnapshot('cicache.azurecr.io').repositories[0]!.manifests.find((m) => m.digest === digestOf('idle.sbom'))).toMatchObject({ subject: digestOf('idle'), artifactType: SBOM });
    state.deleteManifest('ci/app', digestOf('idle'));
    expect([digestOf('idle'), digestOf('idle.sig'), digestOf('idle.sbom'), digestOf('idle.sbom.sig')].some((digest) => repository.manifests.has(digest))).toBe(false);
    expect(repository.manifests.has(digestOf('used.sig'))).toBe(true);
  });

  it('serves the referrers index as the OCI distribution spec describes it', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(signedRegistry()), anonymousPull: true });
    const base = `${emulator.endpoint}/v2/ci%2Fapp/referrers`;
    const anonymous = async (url: string) => {
      const challenge = await fetch(url);
      expect(challenge.status).toBe(401);
      const scope = /scope="([^"]+)"/.exec(challenge.headers.get('www-authenticate')!)![1]!;
      const form = new URLSearchParams({ grant_type: 'password', service: emulator!.loginServer, scope, refresh_token: '' });
      const { access_token } = (await (await fetch(`${emulator!.endpoint}/oauth2/token`, { method: 'POST', body: form })).json()) as { access_token: string };
      return fetch(url, { headers: { Authorization: `Bearer ${access_token}` } });
    };
    const all = await anonymous(`${base}/${digestOf('idle')}`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    const index = (await all.json()) as { schemaVersion: number; mediaType: string; manifests: { digest: string; artifactType: string; mediaType: string; size: number }[] };
    expect(index).toMatchObject({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json' });
    expect(index.manifests.map((d) => [d.digest, d.artifactType]).sort()).toEqual([[digestOf('idle.sbom'), SBOM], [digestOf('idle.sig'), SIGNATURE]].sort());
    expect(index.manifests.every((d) => d.mediaType === 'application/vnd.oci.image.manifest.v1+json' && d.size > 0)).toBe(true);

    const filtered = await anonymous(`${base}/${digestOf('idle')}?artifactType=${encodeURIComponent(SBOM)}`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as typeof index).manifests.map((d) => d.digest)).toEqual([digestOf('idle.sbom')]);

    const unknown = await anonymous(`${base}/${digestOf('nothing-here')}`);
    expect(unknown.status).toBe(200);
    expect(((await unknown.json()) as typeof index).manifests).toEqual([]);
    expect((await anonymous(`${base}/sha256:not-hex`)).status).toBe(400);
  });
});

describe.each(['manifest-documents', 'referrers-api'] as const)('the live listing learns referrers (%s)', (discovery) => {
  it('finds every referrer with its subject and artifact type, and nothing else', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(signedRegistry()) });
    const listing = source(discovery);
    const inventory = await listing.load();
    // The referrers API is asked by subject, so it cannot see a referrer whose subject is gone (judged on its
    // own either way); the document says so.
    const orphan = discovery === 'manifest-documents' ? { [digestOf('orphan.sig')]: [digestOf('gone'), SIGNATURE] } : {};
    expect(subjects(inventory)).toEqual({
      [digestOf('used.sig')]: [digestOf('used'), SIGNATURE],
      [digestOf('idle.sig')]: [digestOf('idle'), SIGNATURE],
      [digestOf('idle.sbom')]: [digestOf('idle'), SBOM],
      [digestOf('idle.sbom.sig')]: [digestOf('idle.sbom'), SIGNATURE],
      [digestOf('index.sig')]: [digestOf('index'), SIGNATURE],
      ...orphan,
    });
    expect(listing.stats.referrers).toBe(discovery === 'manifest-documents' ? 6 : 5);
    // manifest-documents reads the six untagged referrers only (not the tagged images, the index's child, the
    // Docker manifest); the referrers API is asked about every manifest.
    expect(listing.stats.referrerLookups).toBe(discovery === 'manifest-documents' ? 6 : 11);
  });
});

describe('reading manifest documents under faults', () => {
  it('retries transient failures and dropped connections, and still finds every referrer', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(signedRegistry()) });
    emulator.addFault({ kind: '503', method: 'GET', path: /^\/v2\/.+\/manifests\//, times: 2 });
    emulator.addFault({ kind: 'drop-connection', method: 'GET', path: /^\/v2\/.+\/manifests\//, times: 1 });
    const listing = new AcrInventorySource(
      { endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net' },
      { concurrency: 1, readsPerMinute: 600_000, retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 50 } },
    );
    expect(Object.keys(subjects(await listing.load()))).toHaveLength(6);
    expect(emulator.requests.filter((entry) => entry.fault !== undefined)).toHaveLength(3);
  });

  it('fails the listing, rather than judge a possible referrer alone, when its document cannot be read', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(signedRegistry()) });
    emulator.addFault({ kind: '403', method: 'GET', path: new RegExp(`/v2/.+/manifests/${digestOf('idle.sig').replace(':', '%3A')}`), times: 10 });
    await expect(source('manifest-documents').load()).rejects.toThrow(/403/);
  });
});

describe('a pass on a signed registry', () => {
  const pull = (label: string): LogRecordInput => ({ time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'ci/app', digest: digestOf(label), registry: 'cicache' });

  it('keeps the signature of a kept image and lets the registry delete those of a deleted one', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(signedRegistry()) });
    const { logDir } = await writeScenario(signedRegistry(), [pull('used'), pull('index'), { ...pull('x'), repository: 'heartbeat', time: new Date(NOW.getTime() - 3_600_000) }]);
    const config = loadConfig({ CONTAINER_REGISTRY: emulator.endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, MAX_DELETE_PERCENT: '100' });
    const report = await runPass(config, createPassDependencies(config, { clock: () => NOW }));
    expect(report.error).toBeNull();
    expect(report.delete.map((entry) => entry.digest).sort()).toEqual([digestOf('idle'), digestOf('docker'), digestOf('orphan.sig')].sort());
    const idle = report.delete.find((entry) => entry.digest === digestOf('idle'))!;
    expect(idle.referrers.map((entry) => entry.digest).sort()).toEqual([digestOf('idle.sig'), digestOf('idle.sbom'), digestOf('idle.sbom.sig')].sort());
    expect(report.execution!.bytesReclaimed).toBe(1000 + 300 * 3 + 1000 + 300);
    const deleteCalls = emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).map((entry) => decodeURIComponent(entry.path));
    expect(deleteCalls.sort()).toEqual(['idle', 'docker', 'orphan.sig'].map((label) => `/v2/ci/app/manifests/${digestOf(label)}`).sort());
    const left = [...emulator.state.repositories.get('ci/app')!.manifests.keys()].sort();
    expect(left).toEqual(['used', 'used.sig', 'index', 'amd64', 'index.sig'].map((label) => digestOf(label)).sort());
  });
});
