import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inventoryFromSnapshot } from '../../src/inventory.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { startStandalone } from '../emulators/acr/standalone.js';
import { DAY, digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { runCli, writeScenario } from '../support/scenario.js';

let emulator: AcrEmulator | undefined;
afterEach(async () => {
  await emulator?.stop();
  emulator = undefined;
});

const registry = inventoryOf({ app: [manifest('used'), manifest('unused'), manifest('locked', { canDelete: false })] });
const records = [{ time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'app', digest: digestOf('used'), registry: 'cicache' }];
/** The same logs, twelve hours old by the clock: a run that deletes plans at the real time (--now is for planning only). */
const recentRecords = () => [{ ...records[0]!, time: new Date(Date.now() - DAY / 2) }];

describe('acr-cache-cleaner CLI against a live (emulated) registry', () => {
  it('deletes the plan, exports the inventory it listed, and exits 0', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const { directory, logDir } = await writeScenario(registry, recentRecords());
    const exported = join(directory, 'exported.json');
    const { code, report, stderr } = await runCli([
      '--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir,
      '--max-delete-percent', '100', '--export-inventory', exported, '--output', 'json',
    ]);
    expect(stderr).toContain('deleted 1');
    expect(code).toBe(0);
    expect(report!.execution!.deleted.map((entry) => entry.digest)).toEqual([digestOf('unused')]);
    expect([...emulator.state.repositories.get('app')!.manifests.keys()].sort()).toEqual([digestOf('locked'), digestOf('used')].sort());
    const snapshot = inventoryFromSnapshot(JSON.parse(await readFile(exported, 'utf8')));
    expect(snapshot.repositories[0]!.manifests.map((m) => m.digest).sort()).toEqual([digestOf('locked'), digestOf('unused'), digestOf('used')].sort());
  });

  it('with --dry-run lists and plans but deletes nothing', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const { logDir } = await writeScenario(registry, records);
    const { code, report } = await runCli(['--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--now', NOW.toISOString(), '--max-delete-percent', '100', '--dry-run', '--output', 'json']);
    expect(code).toBe(0);
    expect(report!.delete).toHaveLength(1);
    expect(report!.execution).toBeNull();
    expect(emulator.state.repositories.get('app')!.manifests.size).toBe(3);
    expect(emulator.requests.filter((entry) => entry.method === 'DELETE')).toEqual([]);
  });

  it('exits 1 when a deletion failed for good (an identity without AcrDelete)', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry), deniedScopes: /:delete$/ });
    const { logDir } = await writeScenario(registry, recentRecords());
    const { code, report } = await runCli(['--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--max-delete-percent', '100', '--output', 'json']);
    expect(code).toBe(1);
    expect(report!.execution!.failed).toEqual([{ repository: 'app', digest: digestOf('unused'), error: expect.stringContaining('HTTP 401') }]);
    expect(emulator.state.repositories.get('app')!.manifests.size).toBe(3);
  });

  it('refuses --now when it would delete on a live registry, as bad usage, before touching it', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const { logDir } = await writeScenario(registry, records);
    const { code, stderr } = await runCli(['--container-registry', emulator.endpoint, '--credential', 'emulator', '--log-dir', logDir, '--now', NOW.toISOString(), '--max-delete-percent', '100']);
    expect(code).toBe(2);
    expect(stderr).toContain('--now is for planning');
    expect(stderr).toContain('--dry-run');
    expect(emulator.requests).toEqual([]);
    expect(emulator.state.repositories.get('app')!.manifests.size).toBe(3);
  });

  it('refuses the static emulator credential for a real registry name', async () => {
    const { code, stderr } = await runCli(['--container-registry', 'cicache', '--credential', 'emulator', '--log-dir', '.']);
    expect(code).toBe(2);
    expect(stderr).toContain('--credential: the emulator credential sends a static token and is refused for https://cicache.azurecr.io');
  });
});

describe('the emulator standalone mode', () => {
  it('serves a seed file and writes its CA certificate', async () => {
    const { directory } = await writeScenario(registry, []);
    const started = await startStandalone(['--seed', join(directory, 'inventory.json'), '--delete-limit', '5', '--fault', '503:2']);
    emulator = started.emulator;
    expect(emulator.state.repositories.get('app')!.manifests.size).toBe(3);
    expect(emulator.limits.delete).toEqual({ limit: 5, windowMs: 60_000 });
    expect(emulator.faults).toMatchObject([{ kind: '503', remaining: 2 }]);
    expect(await readFile(started.caFile, 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it('rejects an unknown fault kind', async () => {
    await expect(startStandalone(['--fault', 'meteor'])).rejects.toThrow(/--fault must be one of/);
  });
});
