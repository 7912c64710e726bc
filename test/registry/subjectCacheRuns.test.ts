import { BlobServiceClient } from '@azure/storage-blob';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPORTS_CONTAINER } from '../../src/audit.js';
import { EXIT } from '../../src/cli.js';
import { runCleanupJob } from '../../src/job.js';
import { subjectCacheBlobName } from '../../src/registry/subjectCacheStores.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { startAzurite, type Azurite } from '../support/azurite.js';
import { DAY, digestOf, inventoryOf, manifest, MEDIA_TYPES, NOW } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { runCli, writeScenario } from '../support/scenario.js';

const SIGNATURE = MEDIA_TYPES.cosignSignature;
const registry = inventoryOf({
  'ci/app': [
    manifest('used', { tags: ['buildcache'] }),
    manifest('used.sig', { subject: digestOf('used'), artifactType: SIGNATURE, sizeInBytes: 300 }),
    manifest('idle'),
    manifest('idle.sig', { subject: digestOf('idle'), artifactType: SIGNATURE, sizeInBytes: 300 }),
  ],
});
const records = [{ time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'ci/app', digest: digestOf('used'), registry: 'cicache' }];

const emulators: AcrEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((emulator) => emulator.stop()));
});
async function emulator(): Promise<AcrEmulator> {
  const started = await startEmulator({ state: RegistryState.fromInventory(registry) });
  emulators.push(started);
  return started;
}
const manifestRequests = (emulator: AcrEmulator) => emulator.requestsMatching('GET', /^\/v2\/.+\/manifests\//).length;

describe('the CLI with --referrer-cache FILE', () => {
  it('reads no manifest document the second time, and plans the same', async () => {
    const live = await emulator();
    const { directory, logDir } = await writeScenario(registry, records);
    const cache = join(directory, 'subjects.json');
    const args = ['--container-registry', live.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--now', NOW.toISOString(), '--dry-run', '--max-delete-percent', '100', '--referrer-cache', cache, '--output', 'json'];
    const first = await runCli(args);
    expect(first.code).toBe(EXIT.ok);
    const afterFirst = manifestRequests(live);
    expect(afterFirst).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(cache, 'utf8'))).toMatchObject({ registry: live.endpoint, subjects: { [digestOf('idle.sig')]: { subject: digestOf('idle'), artifactType: SIGNATURE } } });

    const second = await runCli(args);
    expect(second.code).toBe(EXIT.ok);
    expect(manifestRequests(live)).toBe(afterFirst);
    expect(second.report!.delete).toEqual(first.report!.delete);
    expect(second.report!.delete.find((entry) => entry.digest === digestOf('idle'))!.referrers.map((entry) => entry.digest)).toEqual([digestOf('idle.sig')]);
  });

  it('ignores, with one note, a cache file of another registry', async () => {
    const first = await emulator();
    const { directory, logDir } = await writeScenario(registry, records);
    const cache = join(directory, 'subjects.json');
    const args = (endpoint: string) => ['--container-registry', endpoint, '--credential', 'emulator', '--log-dir', logDir, '--now', NOW.toISOString(), '--dry-run', '--referrer-cache', cache];
    expect((await runCli(args(first.endpoint))).code).toBe(EXIT.ok);
    // Everything "not a referrer", for another registry: used there, the signature of `idle` would be judged alone.
    const document = JSON.parse(await readFile(cache, 'utf8')) as { subjects: Record<string, unknown> };
    for (const key of Object.keys(document.subjects)) document.subjects[key] = null;
    await writeFile(cache, JSON.stringify(document));
    const other = await emulator();
    const { code, stderr } = await runCli(args(other.endpoint));
    expect(code).toBe(EXIT.ok);
    expect(stderr.match(/referrer cache .* was ignored \(it is of the registry/g)).toHaveLength(1);
    expect(manifestRequests(other)).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(cache, 'utf8'))).toMatchObject({ registry: other.endpoint, subjects: { [digestOf('idle.sig')]: { subject: digestOf('idle') } } });
  });

  it('is documented in --help, and refused with --inventory', async () => {
    expect((await runCli(['--help'])).stdout).toContain('--referrer-cache FILE');
    const { inventoryFile, logDir, directory } = await writeScenario(registry, records);
    const { code, stderr } = await runCli(['--inventory', inventoryFile, '--log-dir', logDir, '--referrer-cache', join(directory, 'c.json')]);
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('--referrer-cache is for listing a live registry');
  });
});

describe('the Functions job', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  }, 60_000);
  afterAll(async () => azurite?.stop());

  it('keeps the cache as a blob beside its reports: the second run reads no manifest document; a corrupt blob is ignored with one note', async () => {
    const live = await emulator();
    const { logDir } = await writeScenario(registry, records);
    const env = { AzureWebJobsStorage: azurite.connectionString, CONTAINER_REGISTRY: live.endpoint, CREDENTIAL: 'emulator', LOG_DIR: logDir, DRY_RUN: 'true' };
    const run = async (invocationId: string) => {
      const lines: string[] = [];
      const result = await runCleanupJob(env, { invocationId, trigger: 'timer', log: (line) => lines.push(line), clock: () => NOW }, { leaseSeconds: 15 });
      expect(result.outcome).toBe('completed');
      return { result, lines };
    };
    const first = await run('first');
    const afterFirst = manifestRequests(live);
    expect(afterFirst).toBeGreaterThan(0);
    const blob = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(REPORTS_CONTAINER).getBlockBlobClient(subjectCacheBlobName(live.endpoint));
    const stored = (await blob.downloadToBuffer()).toString('utf8');
    expect(JSON.parse(stored)).toMatchObject({ registry: live.endpoint, subjects: { [digestOf('used.sig')]: { subject: digestOf('used') } } });

    const second = await run('second');
    expect(manifestRequests(live)).toBe(afterFirst);
    expect(second.result.report!.delete).toEqual(first.result.report!.delete);

    await blob.upload('{"format":"acr-cache-cleaner/referrer-subjects","version":1,"registry":', 60);
    const third = await run('third');
    expect(third.lines.filter((line) => line.includes('was ignored (it is not JSON)'))).toHaveLength(1);
    expect(manifestRequests(live)).toBeGreaterThan(afterFirst);
    expect(third.result.report!.delete).toEqual(first.result.report!.delete);
    expect((await blob.downloadToBuffer()).toString('utf8')).toBe(stored);
  });
});
