import { lstat, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Inventory } from '../../src/inventory.js';
import { AcrInventorySource, type ListingOptions } from '../../src/registry/acr.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import { parseSubjectCache, SubjectCache, type SubjectCacheStore } from '../../src/registry/subjectCache.js';
import { fileSubjectCacheStore } from '../../src/registry/subjectCacheStores.js';
import { EMPTY_CONFIG_MEDIA_TYPE, RegistryState, serviceTime, UNLOCKED } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { digestOf, inventoryOf, manifest, MEDIA_TYPES, NOW, referrerOf } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';

let emulator: AcrEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

const SIGNATURE = MEDIA_TYPES.cosignSignature;
const SBOM = MEDIA_TYPES.spdxSbom;
const INDEX = MEDIA_TYPES.ociIndex;
const referrer = referrerOf;

/** Three repositories of signed images, SBOMs with signatures of their own, indexes and their children, untagged images. */
function signedRegistry(images = 12): Inventory {
  const repositories: Record<string, ReturnType<typeof manifest>[]> = {};
  for (const name of ['ci/app', 'ci/tools', 'base']) {
    const manifests = [manifest(`${name}/index`, { mediaType: INDEX, tags: ['multi'], relatedArtifacts: [{ digest: digestOf(`${name}/amd64`) }] }), manifest(`${name}/amd64`), referrer(`${name}/index.sig`, `${name}/index`)];
    for (let image = 0; image < images; image++) {
      const label = `${name}/${image}`;
      manifests.push(manifest(label, image % 3 === 0 ? { tags: [`v${image}`] } : {}));
      if (image % 2 === 0) manifests.push(referrer(`${label}.sig`, label));
      if (image % 4 === 0) manifests.push(referrer(`${label}.sbom`, label, SBOM), referrer(`${label}.sbom.sig`, `${label}.sbom`));
    }
    manifests.push(referrer(`${name}/orphan.sig`, `${name}/gone`));
    repositories[name] = manifests;
  }
  return inventoryOf(repositories);
}

function memoryStore(initial?: string): SubjectCacheStore & { text?: string; writes: number } {
  const store = {
    description: 'memory',
    text: initial,
    writes: 0,
    read: async () => store.text,
    write: async (text: string) => {
      store.text = text;
      store.writes++;
    },
  };
  return store;
}

function listing(options: Partial<ListingOptions> = {}, logs: string[] = []) {
  return new AcrInventorySource(
    { endpoint: emulator!.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net' },
    { concurrency: 1, readsPerMinute: 600_000, log: (message) => logs.push(message), ...options },
  );
}

/** Manifest GETs the registry answered (a token challenge, 401, is not a read). */
const documentReads = () => emulator!.requestsMatching('GET', /^\/v2\/.+\/manifests\//).filter((entry) => entry.status !== 401).length;
const subjectsOf = (inventory: Inventory) =>
  Object.fromEntries(inventory.repositories.flatMap((repository) => repository.manifests.filter((m) => m.subject !== undefined).map((m) => [`${repository.name}@${m.digest}`, [m.subject, m.artifactType]])));
const expectedSubjects = (inventory: Inventory) => subjectsOf(inventory);

describe('the referrer subject cache', () => {
  it('lets a second listing of an unchanged registry read no manifest document, and lists the same inventory', async () => {
    const registry = signedRegistry();
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const store = memoryStore();
    const first = listing({ subjectCache: store });
    const firstInventory = await first.load();
    expect(subjectsOf(firstInventory)).toEqual(expectedSubjects(registry));
    const requestsOfFirst = emulator.requestsMatching('GET', /^\/v2\/.+\/manifests\//).length;
    expect(documentReads()).toBeGreaterThan(0);
    expect(store.writes).toBe(1);

    const second = listing({ subjectCache: store });
    const secondInventory = await second.load();
    // Not even a token challenge for a manifest.
    expect(emulator.requestsMatching('GET', /^\/v2\/.+\/manifests\//).length - requestsOfFirst).toBe(0);
    expect(second.stats.referrerLookups).toBe(0);
    expect(second.stats.referrerCacheHits).toBe(first.stats.referrerLookups);
    expect(secondInventory).toEqual(firstInventory);
  });

  it('finds a referrer pushed between two runs, and forgets the digests that are gone', async () => {
    const registry = signedRegistry(4);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const store = memoryStore();
    await listing({ subjectCache: store }).load();
    const readsOfFirst = documentReads();
    const created = serviceTime(NOW);
    emulator.state.addManifest('ci/app', {
      digest: digestOf('ci/app/1.late-sig'),
      imageSize: 300,
      createdTime: created,
      lastUpdateTime: created,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      subject: digestOf('ci/app/1'),
      artifactType: SIGNATURE,
      configMediaType: EMPTY_CONFIG_MEDIA_TYPE,
      changeableAttributes: { ...UNLOCKED },
    });
    emulator.state.deleteManifest('base', digestOf('base/0'));

    const second = listing({ subjectCache: store });
    const inventory = await second.load();
    expect(documentReads() - readsOfFirst).toBe(1);
    expect(subjectsOf(inventory)[`ci/app@${digestOf('ci/app/1.late-sig')}`]).toEqual([digestOf('ci/app/1'), SIGNATURE]);
    const kept = JSON.parse(store.text!) as { subjects: Record<string, unknown> };
    expect(kept.subjects[digestOf('ci/app/1.late-sig')]).toEqual({ subject: digestOf('ci/app/1'), artifactType: SIGNATURE });
    // base/0 went, and its signature and SBOM with it: the cache keeps only what the listing saw.
    expect(kept.subjects[digestOf('base/0.sig')]).toBeUndefined();
    expect(Object.keys(kept.subjects)).toHaveLength(second.stats.referrerLookups + second.stats.referrerCacheHits);
  });

  it.each([
    ['not JSON', () => '{"format":'],
    ['another version', (good: string) => good.replace('"version":1', '"version":2')],
    ['another registry', (good: string) => good.replace(/"registry":"[^"]+"/, '"registry":"https://other.azurecr.io"')],
    ['a malformed entry', (good: string) => good.replace(/:null/, ':{"subject":"sha256:nothex"}')],
    ['an entry with an unknown field', (good: string) => good.replace(/:null/, ':{"subject":"' + digestOf('x') + '","referrer":false}')],
  ])('ignores a cache that is %s as a whole, with one note, and reads every document', async (_, corrupt) => {
    const registry = signedRegistry(4);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const store = memoryStore();
    const first = listing({ subjectCache: store });
    await first.load();
    // Every entry claims "not a referrer": trusted even in part, it would leave signatures on their own.
    const good = store.text!.replace(/"subjects":.*$/, `"subjects":${JSON.stringify(Object.fromEntries(Object.keys((JSON.parse(store.text!) as { subjects: object }).subjects).map((key) => [key, null])))}}`);
    expect(parseSubjectCache(good, emulator.endpoint, 'x').note).toBeUndefined();
    store.text = corrupt(good);
    expect(store.text).not.toBe(good);

    const logs: string[] = [];
    const second = listing({ subjectCache: store }, logs);
    const inventory = await second.load();
    expect(subjectsOf(inventory)).toEqual(expectedSubjects(registry));
    expect(second.stats.referrerLookups).toBe(first.stats.referrerLookups);
    expect(second.stats.referrerCacheHits).toBe(0);
    expect(logs.filter((line) => line.includes('referrer cache memory was ignored'))).toHaveLength(1);
    // The next run trusts the cache this one wrote.
    const third = listing({ subjectCache: store });
    await third.load();
    expect(third.stats.referrerLookups).toBe(0);
  });

  it('drops the entries whose key is not a digest and keeps the others', () => {
    const cache = new SubjectCache('https://cicache.azurecr.io', [[digestOf('a'), { subject: digestOf('b'), artifactType: SIGNATURE }], [digestOf('c'), null]]);
    const document = JSON.parse(cache.serialize()) as { subjects: Record<string, unknown> };
    document.subjects['latest'] = null;
    document.subjects['SHA256:zz'] = { subject: digestOf('b') };
    const { cache: loaded, note } = parseSubjectCache(JSON.stringify(document), 'https://CICACHE.azurecr.io/', 'file x');
    expect(note).toContain('2 entries whose key is not a digest dropped');
    expect(loaded.size).toBe(2);
    expect(loaded.get(digestOf('a'))).toEqual({ subject: digestOf('b'), artifactType: SIGNATURE });
    expect(loaded.get(digestOf('c'))).toBeNull();
    expect(loaded.get(digestOf('d'))).toBeUndefined();
  });

  it('after a listing that fails, keeps what the documents it read said (nothing pruned), so the next run reads only the rest', async () => {
    const registry = signedRegistry(4);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const elsewhere = digestOf('listed-last-time');
    const store = memoryStore(new SubjectCache(emulator.endpoint, [[elsewhere, null]]).serialize());
    emulator.addFault({ kind: '403', method: 'GET', path: new RegExp(`/v2/ci%2Ftools/manifests/${digestOf('ci/tools/0.sig').replace(':', '%3A')}`), times: 1 });
    const failed = listing({ subjectCache: store, concurrency: 2 });
    await expect(failed.load()).rejects.toThrow(/403/);
    expect(store.writes).toBe(1);
    const learned = Object.keys((JSON.parse(store.text!) as { subjects: object }).subjects);
    expect(learned).toContain(elsewhere);
    expect(learned.length).toBeGreaterThan(1);

    const next = listing({ subjectCache: store });
    const inventory = await next.load();
    expect(subjectsOf(inventory)).toEqual(expectedSubjects(registry));
    expect(next.stats.referrerCacheHits).toBe(learned.length - 1);
    expect(next.stats.referrerLookups).toBeGreaterThan(0);
    // A completed listing prunes what it did not see.
    expect(Object.keys((JSON.parse(store.text!) as { subjects: object }).subjects)).not.toContain(elsewhere);
  });

  it('lists all the same when its store cannot be read or written, and says so', async () => {
    const registry = signedRegistry(2);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const logs: string[] = [];
    const broken: SubjectCacheStore = {
      description: 'blob cleanup-reports/referrer-cache/x.json',
      read: async () => Promise.reject(new Error('403 AuthorizationPermissionMismatch')),
      write: async () => Promise.reject(new Error('503 ServerBusy')),
    };
    const inventory = await listing({ subjectCache: broken }, logs).load();
    expect(subjectsOf(inventory)).toEqual(expectedSubjects(registry));
    expect(logs.filter((line) => line.includes('was ignored (it cannot be read: 403 AuthorizationPermissionMismatch)'))).toHaveLength(1);
    expect(logs.filter((line) => line.startsWith('warning: writing the referrer cache') && line.includes('503 ServerBusy'))).toHaveLength(1);
  });

  it('survives a file store that a killed run left half-written, and replaces the file whole', async () => {
    const registry = signedRegistry(2);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const file = join(await mkdtemp(join(tmpdir(), 'subject-cache-')), 'subjects.json');
    await writeFile(file, '{"format":"acr-cache-cleaner/referrer-subjects","version":1,"regis');
    const logs: string[] = [];
    await listing({ subjectCache: fileSubjectCacheStore(file) }, logs).load();
    expect(logs.some((line) => line.includes(`the referrer cache ${file} was ignored (it is not JSON)`))).toBe(true);
    expect(parseSubjectCache(await readFile(file, 'utf8'), emulator.endpoint, file).note).toBeUndefined();
  });
});

describe('the CLI\'s cache file', () => {
  it('is written through a new file of its own, never through a link planted where it writes', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'subject-cache-'));
    const file = join(folder, 'subjects.json');
    const victim = join(folder, 'victim');
    await writeFile(victim, 'not yours');
    for (const planted of [`${file}.${process.pid}.partial`, `${file}.partial`, `${file}.tmp`]) await symlink(victim, planted);
    await fileSubjectCacheStore(file).write('{"cache":1}');
    expect(await readFile(victim, 'utf8')).toBe('not yours');
    expect((await lstat(file)).isFile()).toBe(true);
    expect(await readFile(file, 'utf8')).toBe('{"cache":1}');
  });
});

describe('reading manifest documents concurrently', () => {
  it('lists the same inventory as one at a time, on a registry with referrers of referrers and indexes', async () => {
    const registry = signedRegistry(24);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry), latencyMs: 3 });
    const sequential = await listing({ concurrency: 1 }).load();
    const concurrent = listing({ concurrency: 8 });
    expect(await concurrent.load()).toEqual(sequential);
    expect(subjectsOf(sequential)).toEqual(expectedSubjects(registry));
  });

  it('under faults (503s, dropped connections, a hanging request), still finds every referrer, and caches what a clean listing would', async () => {
    const registry = signedRegistry(8);
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const clean = memoryStore();
    await listing({ subjectCache: clean }).load();
    await emulator.stop();

    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const documents = /^\/v2\/.+\/manifests\//;
    emulator.addFault({ kind: '503', method: 'GET', path: documents, after: 2, times: 3 });
    emulator.addFault({ kind: 'drop-connection', method: 'GET', path: documents, after: 6, times: 2 });
    emulator.addFault({ kind: 'hang', method: 'GET', path: documents, after: 10, times: 1 });
    const faulty = memoryStore();
    const source = new AcrInventorySource(
      { endpoint: emulator.endpoint, credential: new EmulatorCredential(), audience: 'https://containerregistry.azure.net', requestTimeoutMs: 500 },
      { concurrency: 4, readsPerMinute: 600_000, retry: { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 50 }, subjectCache: faulty },
    );
    const inventory = await source.load();
    expect(emulator.requests.filter((entry) => entry.fault !== undefined)).toHaveLength(6);
    expect(subjectsOf(inventory)).toEqual(expectedSubjects(registry));
    const entries = (store: { text?: string }) => (JSON.parse(store.text!) as { subjects: object }).subjects;
    expect(entries(faulty)).toEqual(entries(clean));
  });

  it('reads several documents of one repository at once', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(inventoryOf({ 'ci/app': signedRegistry(24).repositories[0]!.manifests })), latencyMs: 20 });
    let inFlight = 0;
    let most = 0;
    const source = new AcrInventorySource(
      {
        endpoint: emulator.endpoint,
        credential: new EmulatorCredential(),
        audience: 'https://containerregistry.azure.net',
        onRequest: (_, url) => {
          if (/^\/v2\/.+\/manifests\//.test(new URL(url).pathname)) inFlight--;
        },
      },
      { concurrency: 4, readsPerMinute: 600_000 },
    );
    const original = emulator.requests.push.bind(emulator.requests);
    emulator.requests.push = (...entries) => {
      if (entries.some((entry) => /^\/v2\/.+\/manifests\//.test(entry.path))) most = Math.max(most, ++inFlight);
      return original(...entries);
    };
    await source.load();
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
  });

  it('holds every worker back for a 429\'s Retry-After, not only the throttled one', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(inventoryOf({ 'ci/app': signedRegistry(24).repositories[0]!.manifests })) });
    emulator.addFault({ kind: 'retry-after', method: 'GET', path: /^\/v2\/.+\/manifests\//, after: 3, times: 1, retryAfterSeconds: 1 });
    const source = listing({ concurrency: 4, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 2000 } });
    await source.load();
    const reads = emulator.requestsMatching('GET', /^\/v2\/.+\/manifests\//);
    const throttled = reads.find((entry) => entry.fault === 'retry-after')!;
    // Requests already under way when the 429 came (at most the other three workers') may land; no new one starts.
    const duringPause = reads.filter((entry) => entry.timeMs > throttled.timeMs && entry.timeMs < throttled.timeMs + 900);
    expect(duringPause.length).toBeLessThanOrEqual(3);
    expect(source.stats.referrers).toBeGreaterThan(10);
  });
});
