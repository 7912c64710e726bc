import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DAY, digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';
import { runCli, writeScenario } from '../support/scenario.js';
import { logRecord, prng, type LogRecordInput } from '../support/syntheticCache.js';

// A whole file the reader cannot decode (compressed in a format it does not read, gzip inside gzip, gzip damaged
// on the way, binary bytes) never passes quietly: the pass is refused, naming the file and the reason, however
// small the file is next to the rest of the logs.

const pull = (label: string, daysAgo: number, repository = 'app'): LogRecordInput => ({
  time: new Date(NOW.getTime() - daysAgo * DAY),
  operationName: 'Pull',
  repository,
  digest: digestOf(label),
  registry: 'cicache',
});
const labels = Array.from({ length: 20 }, (_, i) => `image-${i}`);
const inventory = () => inventoryOf({ app: labels.map((label) => manifest(label)), filler: [manifest('filler')] });
/** Many fresh pulls of one manifest: the denominators are big, so that one bad record would be tolerated. */
const filler = Array.from({ length: 2000 }, (_, i) => pull('filler', 0.01 + i * 1e-6, 'filler'));
const pullsText = () => labels.map((label) => `${JSON.stringify(logRecord(pull(label, 1)))}\n`).join('');

/** Bytes that look like compressed data: random, with no line break (one "line"). */
function noise(length: number, seed: number): Buffer {
  const random = prng(seed);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    let byte = Math.floor(random() * 256);
    if (byte === 0x0a) byte = 0x0b;
    bytes[i] = byte;
  }
  return bytes;
}

/** The logs with one more file, named so that it sorts after the rest: the newest file. */
async function offlineWith(name: string, content: Buffer) {
  const { logDir, inventoryFile } = await writeScenario(inventory(), filler);
  await writeFile(join(logDir, name), content);
  return runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString(), '--max-delete-percent', '100', '--log-storage-path-pattern', '*', '--output', 'json']);
}

describe('a file the reader cannot decode refuses the pass, naming the file and why', () => {
  it('the plain logs alone plan the 20 deletions (the baseline)', async () => {
    const { logDir, inventoryFile } = await writeScenario(inventory(), filler);
    const { code, report } = await runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString(), '--max-delete-percent', '100', '--output', 'json']);
    expect(code).toBe(0);
    expect(report!.delete).toHaveLength(20);
  });

  it('bzip2-compressed, as the newest file: not an exempt incomplete last line', async () => {
    const { code, report } = await offlineWith('zz-newest.json', Buffer.concat([Buffer.from('BZh91AY&SY'), noise(600, 1)]));
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toMatch(/zz-newest\.json.*bzip2/);
    expect(report!.delete).toEqual([]);
  });

  it('gzip inside gzip', async () => {
    const { code, report } = await offlineWith('zz-twice.json.gz', gzipSync(gzipSync(pullsText())));
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toMatch(/zz-twice\.json\.gz.*gzip.*inside/);
  });

  it('gzip damaged on the way, however few records that makes', async () => {
    const zipped = gzipSync(pullsText(), { level: 1 });
    const damaged = Buffer.from(zipped);
    const at = Math.floor(damaged.length / 2);
    damaged[at] = damaged[at]! ^ 0xff;
    const { code, report } = await offlineWith('aa-damaged.json.gz', damaged);
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toMatch(/aa-damaged\.json\.gz.*gzip data is corrupt/);
  });

  it('gzip-compressed pulls glued after thousands of good records: one line among them, but the file is refused', async () => {
    const good = Array.from({ length: 3000 }, (_, i) => `${JSON.stringify(logRecord(pull('filler', 0.02 + i * 1e-6, 'filler')))}\n`).join('');
    const { code, report } = await offlineWith('aa-glued.json', Buffer.concat([Buffer.from(good), gzipSync(pullsText())]));
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toMatch(/aa-glued\.json.*gzip-compressed data on line 3001\b/);
    expect(report!.delete).toEqual([]);
  });

  it('binary bytes without a known signature', async () => {
    const { code, report } = await offlineWith('aa-binary.json', noise(4000, 2));
    expect(code).toBe(3);
    expect(report!.aborted).toBe('logs-unusable');
    expect(report!.abortMessage).toMatch(/aa-binary\.json.*not text/);
  });
});
