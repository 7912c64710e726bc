import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Inventory } from '../src/inventory.js';
import type { PassReport } from '../src/report.js';
import { DAY, digestOf, inventoryOf, manifest, NOW } from './support/builders.js';
import { runCli, writeScenario } from './support/scenario.js';
import { logRecord, type LogRecordInput } from './support/syntheticCache.js';

/**
 * Scenarios a user could bring to the offline mode (`--log-dir` + `--inventory`), each with the plan it must give.
 * Not in the repository's examples: schema drift, another registry's logs, wrapped records, clock skew, referrers.
 */

const SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const referrer = (label: string, subject: string, overrides = {}) =>
  manifest(label, { subject: digestOf(subject), artifactType: SIGNATURE, mediaType: OCI_MANIFEST, sizeInBytes: 400, ...overrides });

const registry = (): Inventory =>
  inventoryOf({
    app: [
      manifest('used', { sizeInBytes: 5000 }),
      manifest('idle', { sizeInBytes: 5000 }),
      manifest('signed-idle', { sizeInBytes: 5000 }),
      referrer('signed-idle.sig', 'signed-idle'),
      referrer('signed-idle.sbom', 'signed-idle', { artifactType: 'application/spdx+json', sizeInBytes: 900 }),
      manifest('signed-used', { sizeInBytes: 5000 }),
      referrer('signed-used.sig', 'signed-used'),
      manifest('signed-locked', { sizeInBytes: 5000 }),
      referrer('signed-locked.sig', 'signed-locked', { canDelete: false }),
    ],
  });

const pull = (label: string, daysAgo: number, extra: Partial<LogRecordInput> = {}): LogRecordInput => ({
  time: new Date(NOW.getTime() - daysAgo * DAY),
  operationName: 'Pull',
  repository: 'app',
  digest: digestOf(label),
  registry: 'cicache',
  ...extra,
});
const heartbeat = pull('heartbeat', 0.01, { repository: 'heartbeat' });
const baseLogs = [heartbeat, pull('used', 1), pull('signed-used', 2)];

async function offline(records: LogRecordInput[], options: { extraFiles?: Record<string, string>; args?: string[]; inventory?: Inventory } = {}) {
  const { logDir, inventoryFile } = await writeScenario(options.inventory ?? registry(), records, options.extraFiles);
  return runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString(), '--max-delete-percent', '100', '--output', 'json', ...(options.args ?? [])]);
}

const planned = (report: PassReport) => report.delete.map((entry) => entry.digest).sort();
const reasonOf = (report: PassReport, label: string) => report.keep.find((entry) => entry.digest === digestOf(label))?.reason ?? 'delete';
const digests = (...labels: string[]) => labels.map((label) => digestOf(label)).sort();
const EXPECTED_DELETIONS = digests('idle', 'signed-idle');

describe('offline scenarios: the plan each must give', () => {
  it('referrers of kept and deleted subjects', async () => {
    const { code, report } = await offline(baseLogs);
    expect(code).toBe(0);
    expect(planned(report!)).toEqual(EXPECTED_DELETIONS);
    const signedIdle = report!.delete.find((entry) => entry.digest === digestOf('signed-idle'))!;
    expect(signedIdle.referrers).toEqual([
      { digest: digestOf('signed-idle.sig'), artifactType: SIGNATURE, sizeInBytes: 400 },
      { digest: digestOf('signed-idle.sbom'), artifactType: 'application/spdx+json', sizeInBytes: 900 },
    ]);
    expect(report!.summary.bytesReclaimed).toBe(5000 + 5000 + 400 + 900);
    expect(report!.summary.referrersWithSubjects).toBe(2);
    expect(reasonOf(report!, 'signed-used')).toBe('accessed');
    expect(reasonOf(report!, 'signed-used.sig')).toBe('referenced');
    expect(reasonOf(report!, 'signed-locked')).toBe('referenced');
    expect(reasonOf(report!, 'signed-locked.sig')).toBe('locked');
  });

  it("another registry's logs in the folder: its pulls and its records do not count", async () => {
    const { report } = await offline([...baseLogs, pull('idle', 1, { registry: 'othercache' }), pull('signed-idle.sig', 1, { registry: 'othercache' })]);
    expect(planned(report!)).toEqual(EXPECTED_DELETIONS);
    expect(report!.logs.skipped['other-registry']).toBe(2);
  });

  it("another registry's fresh logs do not hide that this registry's logs are stale", async () => {
    const { code, report } = await offline([pull('used', 3), pull('heartbeat', 0.01, { repository: 'heartbeat', registry: 'othercache' })]);
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-stale');
    expect(report!.delete).toEqual([]);
  });

  it('a snapshot of another registry than --container-registry names is bad usage', async () => {
    const { code, stderr } = await offline(baseLogs, { args: ['--container-registry', 'othercache'] });
    expect(code).toBe(2);
    expect(stderr).toContain('--container-registry: names the registry othercache, but the inventory snapshot');
    expect(stderr).toContain('is of cicache.azurecr.io (cicache)');
  });

  it('the same registry given both ways is fine', async () => {
    const { code, report } = await offline(baseLogs, { args: ['--container-registry', 'cicache'] });
    expect(code).toBe(0);
    expect(planned(report!)).toEqual(EXPECTED_DELETIONS);
  });

  it('a snapshot with a digest twice in a repository is refused with its JSON path, exit 2', async () => {
    const inventory = registry();
    inventory.repositories[0]!.manifests.push(manifest('idle', { tags: ['again'] }));
    const { code, stdout, stderr } = await offline(baseLogs, { inventory });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`repositories[0].manifests[9].digest: ${digestOf('idle')} is listed twice in app (also manifests[1])`);
  });

  it('a snapshot that is not JSON is bad usage (exit 2), not a listing failure', async () => {
    const { logDir, inventoryFile } = await writeScenario(registry(), baseLogs);
    await writeFile(inventoryFile, '{"registry": "cicache.azurecr.io", "repositories": [');
    const { code, stderr } = await runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString()]);
    expect(code).toBe(2);
    expect(stderr).toContain('is not JSON');
  });
});

describe('offline scenarios the log reader must see through', () => {
  const line = (record: LogRecordInput) => JSON.stringify(logRecord(record));

  it('value drift (every resultDescription "OK"): nothing countable in the window is refused, nothing deleted', async () => {
    const drifted = [heartbeat, pull('used', 1), pull('signed-used', 2)].map((record) => line(record).replace(/"resultDescription":"\d+"/, '"resultDescription":"OK"'));
    const { code, report } = await offline([], { extraFiles: { 'drift/PT1H.json': drifted.join('\n') + '\n' } });
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.delete).toEqual([]);
  });

  it('schema drift (properties.digest renamed): refused as logs-unusable, nothing deleted', async () => {
    const drifted = [heartbeat, pull('used', 1), pull('signed-used', 2)].map((record) => line(record).replace('"digest":', '"Digest":'));
    const { code, report } = await offline([], { extraFiles: { 'drift/PT1H.json': drifted.join('\n') + '\n' } });
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toContain('drift/PT1H.json:');
  });

  it('records wrapped in {"records":[…]} on the first line and later lines all count', async () => {
    const text = `${JSON.stringify({ records: [logRecord(pull('used', 1))] })}\n${line(heartbeat)}\n${JSON.stringify({ records: [logRecord(pull('signed-used', 2))] })}\n`;
    const { report } = await offline([], { extraFiles: { 'wrapped/PT1H.json': text } });
    expect(planned(report!)).toEqual(EXPECTED_DELETIONS);
  });

  it('clock skew: a record dated after now does not make stale logs look fresh', async () => {
    // A skewed record lands in the blob of the hour it was received (now), not in a folder of its own future hour.
    const { code, report } = await offline([pull('used', 3)], { extraFiles: { 'skew/PT1H.json': `${line(pull('signed-used', -2))}\n` } });
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-stale');
    expect(report!.logs.skipped['future-time']).toBe(1);
  });

  it('upper-case repository names and digests in the logs count', async () => {
    const text = [heartbeat, pull('used', 1), pull('signed-used', 2)].map((record) => line(record).replace('"repository":"app"', '"repository":"APP"').replace(/sha256:([0-9a-f]{64})/g, (_, hex: string) => `sha256:${hex.toUpperCase()}`));
    const { report } = await offline([], { extraFiles: { 'upper/PT1H.json': text.join('\n') + '\n' } });
    expect(planned(report!)).toEqual(EXPECTED_DELETIONS);
  });
});

describe('regular expressions from settings run in linear time', () => {
  it("'(a+)+$' in PROTECT_TAGS, REPOSITORY_FILTER and IGNORE_USER_AGENTS against 41-character texts cannot stall a run", async () => {
    // With a backtracking engine each of these texts costs about 2^40 steps (days). The run is a separate
    // process under a generous watchdog, so that a regression fails this test instead of hanging the suite.
    const catastrophic = `${'a'.repeat(40)}!`;
    const inventory = inventoryOf({
      [`${'a'.repeat(40)}-b`]: [manifest('elsewhere')],
      ['a'.repeat(41)]: [manifest('tagged-catastrophic', { tags: [catastrophic] }), manifest('tagged-match', { tags: ['a'.repeat(41)] }), manifest('pulled-by-scanner')],
    });
    const records = [pull('heartbeat', 0.01, { repository: 'heartbeat' }), pull('pulled-by-scanner', 1, { repository: 'a'.repeat(41), userAgent: catastrophic })];
    const { logDir, inventoryFile } = await writeScenario(inventory, records);
    const pattern = '(a+)+$';
    const root = join(import.meta.dirname, '..');
    const args = ['--import', 'tsx', 'src/bin.ts', '--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString(), '--output', 'json', '--max-delete-percent', '100'];
    const { stdout } = await promisify(execFile)(process.execPath, [...args, '--protect-tags', pattern, '--repository-filter', pattern, '--ignore-user-agents', pattern], { cwd: root, timeout: 60_000 });
    const report = JSON.parse(stdout) as PassReport;
    expect(planned(report)).toEqual(digests('tagged-catastrophic'));
    expect(reasonOf(report, 'tagged-match')).toBe('protected');
    expect(reasonOf(report, 'pulled-by-scanner')).toBe('accessed');
    expect(reasonOf(report, 'elsewhere')).toBe('out-of-scope');
    expect(report.logs.skipped['ignored-user-agent']).toBe(0);
  }, 120_000);

  it('rejects patterns outside RE2 syntax, naming the setting and why', async () => {
    const { code, stderr } = await runCli(['--log-dir', '.', '--inventory', 'x.json', '--protect-tags', '^(?!keep)', '--ignore-user-agents', '(a)\\1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--protect-tags: is not a valid regular expression: .*`\(\?!`.*no lookaround and no backreferences/);
    expect(stderr).toMatch(/--ignore-user-agents: is not a valid regular expression: invalid escape sequence: `\\1`/);
  });
});
