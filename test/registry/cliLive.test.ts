import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT, SignalReceived } from '../../src/cli.js';
import { parseJournal, type JournalRecord } from '../../src/deletion/journal.js';
import { inventoryFromSnapshot } from '../../src/inventory.js';
import type { PassReport } from '../../src/report.js';
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

  it('never prints a connection string given in the wrong flag', async () => {
    const key = 'c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs=';
    const { code, stderr } = await runCli(['--container-registry', `DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${key};EndpointSuffix=core.windows.net`, '--log-dir', '.']);
    expect(code).toBe(2);
    expect(stderr).toContain('--container-registry: the value of CONTAINER_REGISTRY (not shown');
    expect(stderr).not.toContain(key);
  });

  it('refuses the static emulator credential for a real registry name', async () => {
    const { code, stderr } = await runCli(['--container-registry', 'cicache', '--credential', 'emulator', '--log-dir', '.']);
    expect(code).toBe(2);
    expect(stderr).toContain('--credential: the emulator credential sends a static token and is refused for https://cicache.azurecr.io (--container-registry)');
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

const journalOf = async (file: string) => parseJournal(await readFile(file, 'utf8')).records;
const intents = (records: JournalRecord[]) => records.flatMap((record) => (record.type === 'intent' ? [record.digest] : []));
const outcomes = (records: JournalRecord[]) => records.flatMap((record) => (record.type === 'outcome' ? [record.digest] : []));

describe('the CLI journal and signals', () => {
  const many = inventoryOf({ app: Array.from({ length: 30 }, (_, m) => manifest(`m${m}`)) });
  const heartbeat = [{ time: new Date(Date.now() - 3_600_000), operationName: 'Pull', repository: 'other', digest: digestOf('x'), registry: 'cicache' }];
  const args = (endpoint: string, logDir: string, journal: string, deletesPerMinute = 60_000) => [
    ...['--container-registry', endpoint, '--credential', 'emulator', '--log-dir', logDir, '--max-delete-percent', '100'],
    ...['--deletes-per-minute', String(deletesPerMinute), '--journal', journal, '--output', 'json'],
  ];

  it('journals every deletion with --journal: an intent before it, an outcome after', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const { directory, logDir } = await writeScenario(registry, recentRecords());
    const file = join(directory, 'journal.jsonl');
    const { code, report } = await runCli(args(emulator.endpoint, logDir, file));
    expect(code).toBe(0);
    expect(report!.execution!.journal).toBe(file);
    const journal = await journalOf(file);
    expect(journal[0]).toMatchObject({ type: 'run', registry: emulator.endpoint, tool: expect.stringContaining('acr-cache-cleaner/') });
    expect(intents(journal)).toEqual([digestOf('unused')]);
    expect(journal.at(-1)).toMatchObject({ type: 'outcome', digest: digestOf('unused'), outcome: 'deleted' });
  });

  it('refuses to start when the journal file cannot be written, before any request', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(registry) });
    const { logDir } = await writeScenario(registry, recentRecords());
    const { code, stderr } = await runCli(args(emulator.endpoint, logDir, '/nonexistent-dir/journal.jsonl'));
    expect(code).toBe(2);
    expect(stderr).toContain('--journal: /nonexistent-dir/journal.jsonl cannot be written');
    expect(emulator.requests).toEqual([]);
  });

  it('checks the intents an interrupted run left unanswered before anything else, and records what it found', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(many) });
    const { directory, logDir } = await writeScenario(many, heartbeat);
    const file = join(directory, 'journal.jsonl');
    const entry = (label: string) => ({ repository: 'app', digest: digestOf(label), tags: [], sizeInBytes: 1000, accessCount: 0, lastAccess: null, reason: 'unused', referrers: [] });
    const at = new Date().toISOString();
    // The interrupted run: m0 was deleted (its answer never came back), m1's DELETE never left, m2 finished.
    emulator.state.deleteManifest('app', digestOf('m0'));
    const earlier: JournalRecord[] = [
      { type: 'run', at, run: 'earlier', registry: emulator.endpoint, tool: 'acr-cache-cleaner/0.1.0' },
      { type: 'intent', at, repository: 'app', digest: digestOf('m0'), entry: entry('m0') },
      { type: 'intent', at, repository: 'app', digest: digestOf('m1'), entry: entry('m1') },
      { type: 'intent', at, repository: 'app', digest: digestOf('m2'), entry: entry('m2') },
      { type: 'outcome', at, repository: 'app', digest: digestOf('m2'), outcome: 'deleted' },
    ];
    emulator.state.deleteManifest('app', digestOf('m2'));
    await writeFile(file, earlier.map((record) => JSON.stringify(record)).join('\n') + '\n{"type":"intent","at":"torn');
    const { code, report, stderr } = await runCli(args(emulator.endpoint, logDir, file));
    expect(code).toBe(0);
    expect(stderr).toContain(`the journal ${file} has 1 line(s) that are not journal records (line 6); skipped`);
    expect(report!.reconciliation).toMatchObject({ journal: file, stillPresent: 1, unknown: 0, deleted: [{ digest: digestOf('m0'), sizeInBytes: 1000, reason: 'unused' }] });
    const journal = await journalOf(file);
    expect(journal.filter((record) => record.type === 'outcome' && record.outcome.startsWith('reconciled-')).map((record) => record.type === 'outcome' && [record.digest, record.outcome])).toEqual([
      [digestOf('m0'), 'reconciled-deleted'],
      [digestOf('m1'), 'reconciled-present'],
    ]);
    expect(report!.execution!.deleted).toHaveLength(28);
  });

  it('on a stop request (SIGINT) lets the deletions in flight finish, prints its report and exits 130', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(many), latencyMs: 40 });
    const { directory, logDir } = await writeScenario(many, heartbeat);
    const file = join(directory, 'journal.jsonl');
    const stop = new AbortController();
    let stdout = '';
    let stderr = '';
    const running = import('../../src/cli.js').then(({ main }) => main(args(emulator!.endpoint, logDir, file, 600), { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), stop: stop.signal }));
    while (!stderr.includes('listing')) await new Promise((resolve) => setTimeout(resolve, 20));
    while (emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort(new SignalReceived('SIGINT'));
    expect(await running).toBe(EXIT.SIGINT);
    const report = JSON.parse(stdout) as PassReport;
    expect(report.execution!.stoppedBy).toBe('cancelled');
    expect(report.execution!.stopMessage).toBe('interrupted by SIGINT');
    expect(report.execution!.leftForNextRun).toBeGreaterThan(0);
    const deleted = emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).length;
    expect(report.execution!.deleted).toHaveLength(deleted);
    const journal = await journalOf(file);
    expect(outcomes(journal).sort()).toEqual(intents(journal).sort());
  });

  it('as a program: SIGTERM mid-run exits 143 with the report on stdout, and the journal names every deletion', async () => {
    emulator = await startEmulator({ state: RegistryState.fromInventory(many), latencyMs: 40 });
    const { directory, logDir } = await writeScenario(many, heartbeat);
    const file = join(directory, 'journal.jsonl');
    const root = join(import.meta.dirname, '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', ...args(emulator.endpoint, logDir, file, 600)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    while (emulator.requestsMatching('DELETE', /manifests/).filter((entry) => entry.status === 202).length < 3) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGTERM');
    expect(await exited).toBe(EXIT.SIGTERM);
    const report = JSON.parse(stdout) as PassReport;
    expect(report.execution!.stoppedBy).toBe('cancelled');
    const gone = [...Array(30).keys()].map((m) => digestOf(`m${m}`)).filter((digest) => !emulator!.state.repositories.get('app')?.manifests.has(digest));
    expect(gone.length).toBeGreaterThan(0);
    const journal = await journalOf(file);
    expect(gone.every((digest) => intents(journal).includes(digest))).toBe(true);
    expect(report.execution!.deleted.map((entry) => entry.digest).sort()).toEqual(gone.sort());
  });
});
