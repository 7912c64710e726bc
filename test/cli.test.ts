import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DAY, digestOf, inventoryOf, manifest, NOW } from './support/builders.js';
import { runCli, writeScenario } from './support/scenario.js';
import type { LogRecordInput } from './support/syntheticCache.js';

const registry = 'cicache';
const pull = (repository: string, label: string, daysAgo: number, extra: Partial<LogRecordInput> = {}): LogRecordInput => ({
  time: new Date(NOW.getTime() - daysAgo * DAY),
  operationName: 'Pull',
  repository,
  digest: digestOf(label),
  registry,
  ...extra,
});
const heartbeat = pull('heartbeat', 'heartbeat', 0.01);
const nowFlag = ['--now', NOW.toISOString()];

async function plan(args: string[], records: LogRecordInput[], inventory = inventoryOf({ app: [manifest('used'), manifest('unused')] }), extra: Record<string, string> = {}) {
  const { logDir, inventoryFile } = await writeScenario(inventory, records, extra);
  return runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--output', 'json', ...nowFlag, '--max-delete-percent', '100', ...args]);
}

describe('acr-cache-cleaner CLI, offline', () => {
  it('deletes what was not accessed (the original rule), as a JSON plan', async () => {
    const { code, report } = await plan([], [heartbeat, pull('app', 'used', 2)]);
    expect(code).toBe(0);
    expect(report!.aborted).toBeNull();
    expect(report!.delete.map((entry) => entry.digest)).toEqual([digestOf('unused')]);
    expect(report!.delete[0]).toMatchObject({ repository: 'app', tags: [], sizeInBytes: 1000, accessCount: 0, lastAccess: null });
    expect(report!.keep).toContainEqual({ repository: 'app', digest: digestOf('used'), reason: 'accessed', sizeInBytes: 1000, lastAccess: expect.any(String) });
    expect(report!.logs.accessesCounted).toBe(2);
    expect(report!.summary.bytesReclaimed).toBe(1000);
  });

  it('counts the window start inclusively and ignores older accesses', async () => {
    const inventory = inventoryOf({ app: [manifest('edge'), manifest('outside')] });
    const { report } = await plan([], [heartbeat, pull('app', 'edge', 7), pull('app', 'outside', 7.0001)], inventory);
    expect(report!.delete.map((entry) => entry.digest)).toEqual([digestOf('outside')]);
  });

  it('honours --cache-history-days and --cache-min-access-count', async () => {
    const inventory = inventoryOf({ app: [manifest('twice'), manifest('once')] });
    const records = [heartbeat, pull('app', 'twice', 20), pull('app', 'twice', 21), pull('app', 'once', 20)];
    const { report } = await plan(['--cache-history-days', '30', '--cache-min-access-count', '2', '--grace-days', '0'], records, inventory);
    expect(report!.delete.map((entry) => entry.digest)).toEqual([digestOf('once')]);
  });

  it('ignores scanner pulls when asked to', async () => {
    const records = [heartbeat, pull('app', 'used', 1, { userAgent: 'Trivy/0.56.2' })];
    const { report } = await plan(['--ignore-user-agents', '^Trivy/'], records);
    expect(report!.delete.map((entry) => entry.digest).sort()).toEqual([digestOf('unused'), digestOf('used')].sort());
    expect(report!.logs.skipped['ignored-user-agent']).toBe(1);
  });

  it('refuses with exit code 3 and deletes nothing when the logs are stale', async () => {
    const { code, report } = await plan([], [pull('app', 'used', 3)]);
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-stale');
    expect(report!.delete).toEqual([]);
  });

  it('refuses when there are no logs in the window at all', async () => {
    const { code, report } = await plan([], [pull('app', 'used', 30)]);
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-missing');
  });

  it('refuses when the log folder is missing', async () => {
    const { code, report } = await plan([], []);
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unavailable');
    expect(report!.abortMessage).toContain('does not exist');
  });

  it('survives dirty input: refuses to delete on it (logs-unusable) and names the bad line', async () => {
    const dirty = `\uFEFF${JSON.stringify({ nope: 1 })}\r\nnot json at all\r\n\r\n`;
    const { code, report } = await plan([], [heartbeat, pull('app', 'used', 1)], undefined, { 'misc/PT1H.json': dirty });
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toContain('misc/PT1H.json:2');
    expect(report!.logs.skipped['malformed-json']).toBe(1);
    expect(report!.logs.badLines).toContainEqual({ source: 'misc/PT1H.json', line: 2, reason: 'malformed-json', detail: expect.any(String) });
  });

  it('caps the deletions per run', async () => {
    const inventory = inventoryOf({ app: [manifest('a'), manifest('b'), manifest('c')] });
    const { report } = await plan(['--max-deletes', '1'], [heartbeat], inventory);
    expect(report!.delete).toHaveLength(1);
    expect(report!.summary.byReason['deferred']).toBe(2);
  });

  it('rejects bad numbers and patterns naming the flag, with exit code 2', async () => {
    const { code, stderr } = await runCli(['--log-dir', '.', '--inventory', 'x.json', '--cache-history-days', '0', '--protect-tags', '(']);
    expect(code).toBe(2);
    expect(stderr).toContain('--cache-history-days: must be between 1 and 3650');
    expect(stderr).toContain('--protect-tags: is not a valid regular expression');
  });

  it('rejects unknown flags with exit code 2', async () => {
    expect((await runCli(['--no-such-flag'])).code).toBe(2);
  });

  it('prints a readable summary', async () => {
    const { logDir, inventoryFile } = await writeScenario(inventoryOf({ app: [manifest('a', { sizeInBytes: 5 * 1024 * 1024 })] }), [heartbeat]);
    const { code, stdout } = await runCli(['--log-dir', logDir, '--inventory', inventoryFile, ...nowFlag, '--max-delete-percent', '100']);
    expect(code).toBe(0);
    expect(stdout).toContain('would delete: 1 manifest(s), 5.0 MiB');
    expect(stdout).toContain('app: 1 manifest(s), 5.0 MiB');
  });

  it('runs as a program', async () => {
    const root = join(import.meta.dirname, '..');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/bin.ts', '--log-dir', 'examples/logs', '--inventory', 'examples/inventory.json', '--now', '2026-11-27T02:30:00Z', '--output', 'json'], { cwd: root });
    const report = JSON.parse(stdout);
    expect(report.aborted).toBeNull();
    expect(report.delete.length).toBeGreaterThan(0);
    expect(report.logs.skipped['incomplete-last-line']).toBe(1);
  });
});
