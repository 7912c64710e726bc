/**
 * The CLI keeps its record and its time bounds whatever its surroundings do: a registry whose token endpoint hangs,
 * a reader of its output that goes away, no --journal given, a second run on the same journal, a FIFO or a folder
 * where a file belongs, a journal damaged by hand.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJournal, type JournalRecord } from '../../src/deletion/journal.js';
import type { PassReport } from '../../src/report.js';
import { RegistryState } from '../emulators/acr/registryState.js';
import type { AcrEmulator } from '../emulators/acr/server.js';
import { digestOf, inventoryOf, manifest } from '../support/builders.js';
import { startEmulator } from '../support/emulator.js';
import { runCli, runProgram, writeScenario } from '../support/scenario.js';

const emulators: AcrEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((emulator) => emulator.stop()));
});

const many = inventoryOf({ app: Array.from({ length: 20 }, (_, m) => manifest(`m${m}`)) });
const heartbeat = [{ time: new Date(Date.now() - 3_600_000), operationName: 'Pull', repository: 'other', digest: digestOf('x'), registry: 'cicache' }];
const allDigests = () => Array.from({ length: 20 }, (_, m) => digestOf(`m${m}`));

async function start(options: Parameters<typeof startEmulator>[0] = {}) {
  const emulator = await startEmulator({ state: RegistryState.fromInventory(many), ...options });
  emulators.push(emulator);
  const scenario = await writeScenario(many, heartbeat);
  return { emulator, ...scenario };
}

const live = (endpoint: string, logDir: string, ...extra: string[]) => ['--container-registry', endpoint, '--credential', 'emulator', '--log-dir', logDir, '--max-delete-percent', '100', '--output', 'json', ...extra];
const journalOf = async (file: string) => parseJournal(await readFile(file, 'utf8')).records;
const outcomesOf = (records: JournalRecord[]) => new Map(records.flatMap((record) => (record.type === 'outcome' ? [[record.digest, record.outcome] as const] : [])));
const left = (emulator: AcrEmulator) => emulator.state.repositories.get('app')?.manifests.size ?? 0;
/** A state folder of its own, so that default journals never meet another test's. */
const stateHome = () => mkdtemp(join(tmpdir(), 'acr-cache-cleaner-state-'));

describe('the CLI as a program, against a registry whose token endpoint hangs', () => {
  it('ends within its budget plus one request timeout and exits, though the token request never ends', async () => {
    const { emulator, directory, logDir } = await start();
    emulator.addFault({ kind: 'hang', path: /^\/oauth2\/exchange/, times: 1000 });
    const run = await runProgram(live(emulator.endpoint, logDir, '--time-budget-seconds', '3', '--request-timeout-seconds', '1', '--journal', join(directory, 'journal.jsonl')), { killAfterMs: 30_000 });
    // Start-up (tsx compiling the sources) comes before the budget starts counting.
    expect(run.seconds).toBeLessThan(3 + 1 + 6);
    expect(run.code).toBe(1);
    // The listing gives up (its requests' timeouts or the budget, whichever comes first): nothing is deleted.
    expect((JSON.parse(run.stdout) as PassReport).error).toMatch(/listing the registry/);
    expect(left(emulator)).toBe(20);
  });
});

describe('the CLI whose output reader goes away', () => {
  it('finishes the run when stderr closes mid-run (`2>&1 >file | head -3`), and every deletion is journaled', async () => {
    const { emulator, directory, logDir } = await start({ latencyMs: 20 });
    const file = join(directory, 'journal.jsonl');
    const run = await runProgram(live(emulator.endpoint, logDir, '--deletes-per-minute', '600', '--journal', file), { closeStderrAfterLines: 1, killAfterMs: 40_000 });
    expect(run.code).toBe(0);
    expect(left(emulator)).toBe(0);
    expect((JSON.parse(run.stdout) as PassReport).execution!.deleted).toHaveLength(20);
    const outcomes = outcomesOf(await journalOf(file));
    expect(allDigests().every((digest) => outcomes.get(digest) === 'deleted')).toBe(true);
  });

  it('finishes the run when stdout closes before the report is printed', async () => {
    const { emulator, directory, logDir } = await start();
    const file = join(directory, 'journal.jsonl');
    const run = await runProgram(live(emulator.endpoint, logDir, '--journal', file), { closeStdout: true, killAfterMs: 40_000 });
    expect(run.code).toBe(0);
    expect(left(emulator)).toBe(0);
    expect([...outcomesOf(await journalOf(file)).values()].filter((outcome) => outcome === 'deleted')).toHaveLength(20);
  });
});

describe('the default journal of a live run without --journal', () => {
  it('journals to $XDG_STATE_HOME/acr-cache-cleaner/<registry host>.journal.jsonl, says so, and the next run reconciles it', async () => {
    const { emulator, logDir } = await start();
    const state = await stateHome();
    const first = await runCli(live(emulator.endpoint, logDir), { XDG_STATE_HOME: state });
    expect(first.code).toBe(0);
    const file = join(state, 'acr-cache-cleaner', `${new URL(emulator.endpoint).host.replace(':', '_')}.journal.jsonl`);
    expect(first.stderr).toContain(`journaling deletions to ${file}`);
    expect(first.report!.execution!.journal).toBe(file);
    expect([...outcomesOf(await journalOf(file)).values()]).toEqual(Array(20).fill('deleted'));
    // An interrupted run's intent, left without an outcome in that file: the next run checks it.
    const entry = { repository: 'app', digest: digestOf('m0'), tags: [], sizeInBytes: 1000, accessCount: 0, lastAccess: null, reason: 'unused', referrers: [] };
    await writeFile(file, `${await readFile(file, 'utf8')}${JSON.stringify({ type: 'intent', at: new Date(Date.now() - 3_600_000).toISOString(), repository: 'app', digest: entry.digest, entry })}\n`);
    const second = await runCli(live(emulator.endpoint, logDir), { XDG_STATE_HOME: state });
    expect(second.code).toBe(0);
    expect(second.report!.reconciliation).toMatchObject({ journal: file, deleted: [{ digest: digestOf('m0') }] });
  });

  it('falls back to ~/.local/state, and refuses to delete when it has nowhere to journal', async () => {
    const { emulator, logDir } = await start();
    const home = await stateHome();
    const nowhere = await runCli(live(emulator.endpoint, logDir), {});
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('--journal');
    expect(emulator.requests).toEqual([]);
    const run = await runCli(live(emulator.endpoint, logDir), { HOME: home });
    expect(run.code).toBe(0);
    expect(run.report!.execution!.journal).toBe(join(home, '.local', 'state', 'acr-cache-cleaner', `${new URL(emulator.endpoint).host.replace(':', '_')}.journal.jsonl`));
  });

  it('keeps no journal for a dry run', async () => {
    const { emulator, logDir } = await start();
    const state = await stateHome();
    const run = await runCli(live(emulator.endpoint, logDir, '--dry-run'), { XDG_STATE_HOME: state });
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain('journaling deletions');
  });
});

describe('one run per journal', () => {
  it('refuses a second run on a journal another live run holds, before any request', async () => {
    const { emulator, directory, logDir } = await start({ latencyMs: 30 });
    const file = join(directory, 'journal.jsonl');
    const first = runCli(live(emulator.endpoint, logDir, '--deletes-per-minute', '300', '--journal', file));
    while (emulator.requestsMatching('DELETE', /manifests/).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const other = await startEmulator({ state: emulator.state });
    emulators.push(other);
    const second = await runCli(live(other.endpoint, logDir, '--journal', file));
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`--journal: ${file} is in use by another run (process ${process.pid}`);
    expect(other.requests).toEqual([]);
    expect((await first).code).toBe(0);
    // Released at the end: the next run may use it.
    expect((await runCli(live(other.endpoint, logDir, '--journal', file))).code).toBe(0);
  });

  it('takes over the lock of a run that is no longer alive', async () => {
    const { emulator, directory, logDir } = await start();
    const file = join(directory, 'journal.jsonl');
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    await writeFile(`${file}.lock`, JSON.stringify({ pid: dead, hostname: (await import('node:os')).hostname(), startedAt: new Date().toISOString() }));
    const run = await runCli(live(emulator.endpoint, logDir, '--journal', file));
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`process ${dead}`);
    expect(left(emulator)).toBe(0);
  });

  it('does not take an unfinished DELETE of a run killed a moment ago for one never carried out', async () => {
    const { emulator, directory, logDir } = await start();
    const file = join(directory, 'journal.jsonl');
    // The killed run's first authorised DELETE takes 2 s inside the registry, which carries it out after the kill.
    emulator.addFault({ kind: 'slow', method: 'DELETE', after: 1, times: 1, delayMs: 2000 });
    const args = live(emulator.endpoint, logDir, '--concurrency', '1', '--request-timeout-seconds', '2', '--journal', file);
    const root = join(import.meta.dirname, '..', '..');
    const killed = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', ...args], { cwd: root, stdio: 'ignore' });
    const exited = new Promise((resolve) => killed.once('exit', resolve));
    while (!emulator.requests.some((entry) => entry.fault === 'slow')) await new Promise((resolve) => setTimeout(resolve, 10));
    killed.kill('SIGKILL');
    await exited;
    const target = decodeURIComponent(emulator.requests.find((entry) => entry.fault === 'slow')!.path.split('/manifests/')[1]!);
    const next = await runCli([...args, '--max-deletes', '0']);
    expect(next.code).toBe(0);
    expect(emulator.state.repositories.get('app')!.manifests.has(target)).toBe(false);
    const records = (await journalOf(file)).filter((record) => record.type === 'outcome' && record.digest === target);
    expect(records.map((record) => record.type === 'outcome' && record.outcome)).toEqual(['reconciled-deleted']);
  });
});

describe('deletions whose outcome is uncertain', () => {
  it('journals a DELETE given up without an answer as uncertain; the next run finds it still present and says so, not deleted', async () => {
    const { emulator, directory, logDir } = await start();
    const file = join(directory, 'journal.jsonl');
    const target = digestOf('m0');
    emulator.addFault({ kind: 'hang', method: 'DELETE', path: new RegExp(target.slice(7)), times: 1000 });
    const first = await runCli(live(emulator.endpoint, logDir, '--time-budget-seconds', '3', '--request-timeout-seconds', '1', '--journal', file));
    expect(first.code).toBe(1);
    expect(first.report!.execution!.failed).toMatchObject([{ digest: target, uncertain: true }]);
    expect(outcomesOf(await journalOf(file)).get(target)).toBe('uncertain');
    expect(emulator.state.repositories.get('app')!.manifests.has(target)).toBe(true);

    emulator.faults.splice(0);
    const second = await runCli(live(emulator.endpoint, logDir, '--request-timeout-seconds', '1', '--journal', file));
    expect(second.code).toBe(0);
    expect(second.report!.reconciliation).toMatchObject({ journal: file, stillPresent: 1, unknown: 0, deleted: [], intents: [{ digest: target, state: 'still-present' }] });
    const records = (await journalOf(file)).filter((record) => record.type === 'outcome' && record.digest === target);
    expect(records.map((record) => record.type === 'outcome' && record.outcome)).toEqual(['uncertain', 'reconciled-present', 'deleted']);
    // Still planned, this run deleted it: once, as its own deletion.
    expect(second.report!.execution!.deleted.map((entry) => entry.digest)).toEqual([target]);
  });
});

describe('files where the CLI expects them', () => {
  it.each([
    ['--journal', 'is not a regular file (a FIFO)'],
    ['--inventory', 'is not a regular file (a FIFO)'],
    ['--export-inventory', 'is not a regular file (a FIFO)'],
    ['--log-dir', 'is not a folder (a FIFO)'],
    ['--referrer-cache', 'is not a regular file (a FIFO)'],
  ])('refuses %s naming a FIFO as bad usage, at once', async (flag, why) => {
    const { emulator, directory, logDir } = await start();
    const fifo = join(directory, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const run = await runProgram([...live(emulator.endpoint, logDir, '--time-budget-seconds', '3'), flag, fifo], { killAfterMs: 20_000 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${flag}: ${fifo} ${why}`);
    expect(emulator.requests).toEqual([]);
  });

  it('refuses --output html naming a FIFO before the pass, instead of hanging past every signal after it', async () => {
    const { emulator, directory, logDir } = await start();
    const fifo = join(directory, 'report.fifo');
    execFileSync('mkfifo', [fifo]);
    const args = live(emulator.endpoint, logDir, '--dry-run').filter((arg) => arg !== '--output' && arg !== 'json');
    const run = await runProgram([...args, '--output', 'html', fifo], { killAfterMs: 20_000 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${fifo} is not a regular file (a FIFO)`);
    expect(emulator.requests).toEqual([]);
  });

  it('refuses an --inventory that is a folder, and a --log-dir that is a file', async () => {
    const { emulator, directory, logDir, inventoryFile } = await start();
    const inventory = await runCli(['--inventory', directory, '--log-dir', logDir, '--output', 'json']);
    expect(inventory.code).toBe(2);
    expect(inventory.stderr).toContain(`--inventory: ${directory} is not a regular file (a folder)`);
    const logs = await runCli(live(emulator.endpoint, inventoryFile, '--dry-run'));
    expect(logs.code).toBe(2);
    expect(logs.stderr).toContain(`--log-dir: ${inventoryFile} is not a folder (a file)`);
    expect(emulator.requests).toEqual([]);
  });

  it('refuses a --journal that is a folder, naming the flag and the path', async () => {
    const { emulator, directory, logDir } = await start();
    const folder = join(directory, 'journal.d');
    await mkdir(folder);
    const run = await runCli(live(emulator.endpoint, logDir, '--journal', folder));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--journal: ${folder} is not a regular file`);
    expect(emulator.requests).toEqual([]);
  });

  it('refuses an --export-inventory it could not write, before listing', async () => {
    const { emulator, directory, logDir } = await start();
    const run = await runCli(live(emulator.endpoint, logDir, '--dry-run', '--export-inventory', join(directory, 'missing', 'inventory.json')));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--export-inventory: ${join(directory, 'missing', 'inventory.json')} cannot be written`);
    expect(emulator.requests).toEqual([]);
  });

  it('skips a journal record that is not one (an intent without its entry) with a note, and carries on', async () => {
    const { emulator, directory, logDir } = await start();
    const file = join(directory, 'journal.jsonl');
    await writeFile(file, `${JSON.stringify({ type: 'intent', at: '2026-11-28T00:00:00Z', repository: 'app', digest: digestOf('m0') })}\n`);
    const run = await runCli(live(emulator.endpoint, logDir, '--journal', file));
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`the journal ${file} has 1 line(s) that are not journal records (line 1); skipped`);
    expect(left(emulator)).toBe(0);
  });
});

describe('a journal shared by two registries', () => {
  it('checks only the open intents of runs on this registry, and says how many it left for the other', async () => {
    const { emulator, directory, logDir } = await start();
    const file = join(directory, 'journal.jsonl');
    const at = new Date(Date.now() - 3_600_000).toISOString();
    const entry = { repository: 'app', digest: digestOf('elsewhere'), tags: [], sizeInBytes: 1000, accessCount: 0, lastAccess: null, reason: 'unused', referrers: [] };
    const lines = [
      { type: 'run', at, run: 'other', registry: 'https://other.azurecr.io', tool: 'acr-cache-cleaner/0.1.0' },
      { type: 'intent', at, repository: 'app', digest: entry.digest, entry },
    ];
    await writeFile(file, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    const run = await runCli(live(emulator.endpoint, logDir, '--journal', file));
    expect(run.code).toBe(0);
    // Gone from this registry says nothing about the other one: no `reconciled-deleted` for it.
    expect(run.report!.reconciliation).toBeUndefined();
    expect(run.stderr).toContain(`the journal ${file} has 1 open deletion(s) of runs on another registry (https://other.azurecr.io); left for a run on that registry`);
    expect(outcomesOf(await journalOf(file)).get(entry.digest)).toBeUndefined();
  });
});
