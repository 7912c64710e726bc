import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AccessCounts, LogStats } from '../../src/accessLog/counts.js';
import { MAX_RECORD_BYTES, RecordSplitter } from '../../src/accessLog/lines.js';
import { LogFileReader } from '../../src/accessLog/logFile.js';
import type { RecordFilter } from '../../src/accessLog/record.js';
import { LocalDirLogSource } from '../../src/accessLog/sources/localDir.js';
import { LogSourceError } from '../../src/accessLog/sources/source.js';
import { archiveBlobPath, logRecord, registryResourceId } from '../support/syntheticCache.js';

// Issue 10's "found so far" cases that belong to the reader: each makes pulls vanish from the counts, or makes
// stale logs look fresh, with nothing but a skip counter to show it.

const NOW = Date.parse('2026-11-27T02:00:00Z');
const HOUR = 3_600_000;
const filter: RecordFilter = { window: { startMs: NOW - 7 * 24 * HOUR, endMs: NOW }, registryName: 'cicache' };
const digest = (label: string) => `sha256:${Buffer.from(label.padEnd(32, '.')).toString('hex').slice(0, 64)}`;

function pull(repository: string, label: string, time = new Date(NOW - HOUR)): Record<string, unknown> {
  return logRecord({ time, operationName: 'Pull', repository, digest: digest(label), registry: 'cicache' });
}
const jsonLine = (record: Record<string, unknown>) => `${JSON.stringify(record)}\n`;

function read(...chunks: (string | Buffer)[]) {
  const counts = new AccessCounts();
  const stats = new LogStats();
  const reader = new LogFileReader('PT1H.json', filter, counts, stats);
  for (const chunk of chunks) reader.push(chunk);
  reader.end();
  return { counts, stats, count: (repository: string, label: string) => counts.get(repository, digest(label))?.count ?? 0 };
}

async function readDir(files: Record<string, string | Buffer>) {
  const directory = await mkdtemp(join(tmpdir(), 'imperfect-logs-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(directory, path)), { recursive: true });
    await writeFile(join(directory, path), content);
  }
  const { counts, stats } = await new LocalDirLogSource(directory, '*.json').read(filter);
  return { counts, stats, count: (repository: string, label: string) => counts.get(repository, digest(label))?.count ?? 0 };
}

describe('records dated after now', () => {
  it('do not make stale logs look fresh, are not counted, and keep the manifest they name', () => {
    const stale = new Date(NOW - 3 * 24 * HOUR);
    const { counts, stats, count } = read(jsonLine(pull('ci/app', 'old', stale)), jsonLine(pull('ci/app', 'future', new Date(NOW + 2 * 24 * HOUR))));
    expect(counts.newestRecordMs).toBe(stale.getTime());
    expect(counts.recordsInWindow).toBe(1);
    expect(stats.skipped['future-time']).toBe(1);
    expect(count('ci/app', 'future')).toBe(0);
    expect([...counts.uncertainDigests]).toEqual([digest('future')]);
    expect(stats.badLines.map((bad) => `${bad.line}:${bad.reason}`)).toEqual(['2:future-time']);
  });

  it('are named in the report of a folder read', async () => {
    const { stats } = await readDir({ [archiveBlobPath(registryResourceId('cicache'), new Date(NOW - HOUR))]: jsonLine(pull('ci/app', 'ahead', new Date(NOW + 3 * HOUR))) });
    expect(stats.skipped['future-time']).toBe(1);
    expect(stats.notes.some((note) => note.startsWith('1 record(s) dated more than 5 minutes after now were not counted'))).toBe(true);
  });

  it('within the clock-skew allowance count as if made now', () => {
    const { counts, count } = read(jsonLine(pull('ci/app', 'skewed', new Date(NOW + 2 * 60_000))));
    expect(count('ci/app', 'skewed')).toBe(1);
    expect(counts.newestRecordMs).toBe(NOW);
    expect(counts.get('ci/app', digest('skewed'))?.lastAccessMs).toBe(NOW);
  });
});

describe('{"records":[…]} documents anywhere', () => {
  const document = (...records: Record<string, unknown>[]) => JSON.stringify({ records: records });

  it('on the first line, followed by JSON lines: every record is read', () => {
    const { count, stats } = read(`${document(pull('ci/app', 'a'), pull('ci/app', 'b'))}\n${jsonLine(pull('ci/app', 'c'))}${jsonLine(pull('ci/app', 'd'))}`);
    expect([count('ci/app', 'a'), count('ci/app', 'b'), count('ci/app', 'c'), count('ci/app', 'd')]).toEqual([1, 1, 1, 1]);
    expect(stats.records).toBe(4);
  });

  it('on a middle line: its records are read, not skipped as another category', () => {
    const { count, stats } = read(jsonLine(pull('ci/app', 'a')), `${document(pull('ci/app', 'b'), pull('ci/app', 'c'))}\n`, jsonLine(pull('ci/app', 'd')));
    expect([count('ci/app', 'a'), count('ci/app', 'b'), count('ci/app', 'c'), count('ci/app', 'd')]).toEqual([1, 1, 1, 1]);
    expect(stats.skipped['other-category']).toBe(0);
  });

  it('pretty-printed over many lines, then JSON lines', () => {
    const pretty = JSON.stringify({ records: [pull('ci/app', 'a'), pull('ci/app', 'b')] }, null, 2);
    const { count, stats } = read(`${pretty}\n${jsonLine(pull('ci/app', 'c'))}`);
    expect([count('ci/app', 'a'), count('ci/app', 'b'), count('ci/app', 'c')]).toEqual([1, 1, 1]);
    expect(stats.records).toBe(3);
  });
});

describe('compressed files', () => {
  it('a gzip file among plain ones is decompressed and read', async () => {
    const folder = `resourceId=${registryResourceId('cicache')}`;
    const { count, stats } = await readDir({
      [archiveBlobPath(registryResourceId('cicache'), new Date(NOW - 3 * HOUR))]: jsonLine(pull('ci/app', 'plain')),
      [`${folder}/y=2026/m=11/d=27/h=00/m=00/PT1H.json`]: gzipSync(jsonLine(pull('ci/app', 'zipped')) + jsonLine(pull('ci/web', 'zipped'))),
    });
    expect([count('ci/app', 'plain'), count('ci/app', 'zipped'), count('ci/web', 'zipped')]).toEqual([1, 1, 1]);
    expect(stats.skipped['malformed-json']).toBe(0);
  });
});

describe('case', () => {
  it('upper-case digests and repository names are counted, lower-cased', () => {
    const record = pull('CI/App', 'upper');
    (record.properties as Record<string, unknown>).digest = digest('upper').toUpperCase();
    const { count, stats } = read(jsonLine(record));
    expect(count('ci/app', 'upper')).toBe(1);
    expect(stats.skipped['missing-fields']).toBe(0);
  });

  it('operation names are compared case-insensitively', () => {
    const { count } = read(jsonLine({ ...pull('ci/app', 'lower'), operationName: 'pull' }));
    expect(count('ci/app', 'lower')).toBe(1);
  });
});

describe('schema drift: a required field that is absent makes the record unusable, never a legitimate skip', () => {
  const drifted = (change: (record: Record<string, unknown>) => void) => {
    const record = pull('ci/app', 'drift');
    change(record);
    return read(jsonLine(record));
  };

  it.each([
    ['properties.digest → properties.Digest', (r: Record<string, unknown>) => renameKey(r.properties as Record<string, unknown>, 'digest', 'Digest')],
    ['properties.repository → properties.Repository', (r: Record<string, unknown>) => renameKey(r.properties as Record<string, unknown>, 'repository', 'Repository')],
    ['operationName → OperationName', (r: Record<string, unknown>) => renameKey(r, 'operationName', 'OperationName')],
    ['resultDescription → ResultDescription', (r: Record<string, unknown>) => renameKey(r, 'resultDescription', 'ResultDescription')],
    ['category → Category', (r: Record<string, unknown>) => renameKey(r, 'category', 'Category')],
    ['time → TimeGenerated', (r: Record<string, unknown>) => renameKey(r, 'time', 'TimeGenerated')],
  ])('%s', (_, change) => {
    const { stats, counts } = drifted(change);
    expect(stats.skipped['missing-fields']).toBe(1);
    expect(counts.unusableRecords).toBe(1);
    expect([...counts.uncertainDigests]).toEqual([digest('drift')]);
  });
});

describe('unusable records', () => {
  it('are counted, and the digests in their text are kept as uncertain', () => {
    const broken = JSON.stringify(pull('ci/app', 'broken')).replace('"operationName"', '"operationName');
    const { stats, counts, count } = read(jsonLine(pull('ci/app', 'fine')), `${broken}\n`);
    expect(count('ci/app', 'fine')).toBe(1);
    expect(stats.skipped['malformed-json']).toBe(1);
    expect(counts.unusableRecords).toBe(1);
    expect([...counts.uncertainDigests]).toEqual([digest('broken')]);
  });

  it('a half-written last line is normal in the newest file, and unusable evidence in any other', async () => {
    const resourceId = registryResourceId('cicache');
    const half = (label: string) => `${jsonLine(pull('ci/app', label))}${JSON.stringify(pull('ci/app', `${label}-half`)).slice(0, 300)}`;
    const { stats, counts } = await readDir({
      [archiveBlobPath(resourceId, new Date(NOW - 5 * HOUR))]: half('older'),
      [archiveBlobPath(resourceId, new Date(NOW - HOUR))]: half('newest'),
    });
    expect(stats.skipped['truncated-line']).toBe(1);
    expect(stats.skipped['incomplete-last-line']).toBe(1);
    expect(counts.unusableRecords).toBe(1);
    expect(stats.badLines.map((bad) => `${bad.source.includes('h=21') ? 'older' : 'newest'}:${bad.reason}`)).toEqual(['older:truncated-line']);
  });
});

describe('the exemption of a half-written last line', () => {
  const newest = () => archiveBlobPath(registryResourceId('cicache'), new Date(NOW - HOUR));

  it('holds for the beginning of a JSON record, after blanks', async () => {
    const { stats, counts } = await readDir({ [newest()]: `${jsonLine(pull('ci/app', 'a'))}  \t{"time":"2026-11-27T01:59` });
    expect(stats.skipped['incomplete-last-line']).toBe(1);
    expect(counts.unusableRecords).toBe(0);
  });

  it('does not hold for binary bytes after a `{`: no record is written so, and the file is undecodable', async () => {
    // Past the first 4 KiB, which are looked at for binary bytes before any record is read.
    const lines = Array.from({ length: 20 }, (_, i) => jsonLine(pull('ci/app', `a-${i}`))).join('');
    expect(lines.length).toBeGreaterThan(4096);
    const garbage = Buffer.concat([Buffer.from(`${lines}{"ti`), Buffer.from([0x00, 0x9c, 0x01, 0x1f, 0x8b, 0x02])]);
    const { stats, counts } = await readDir({ [newest()]: garbage });
    expect(counts.undecodableFiles).toHaveLength(1);
    expect(counts.undecodableFiles[0]).toMatch(/gzip-compressed data on line 21\b/);
    expect(stats.skipped['incomplete-last-line']).toBe(0);
    expect(counts.unusableRecords).toBe(1);
  });

  it('does not hold for a last line that is no beginning of a record: it is malformed, unusable', async () => {
    const { stats, counts } = await readDir({ [newest()]: `${jsonLine(pull('ci/app', 'a'))}QlpoOTFBWSZTWQ garbage ${digest('lost')}` });
    expect(stats.skipped['incomplete-last-line']).toBe(0);
    expect(stats.skipped['malformed-json']).toBe(1);
    expect(counts.unusableRecords).toBe(1);
    expect([...counts.uncertainDigests]).toEqual([digest('lost')]);
  });
});

describe('bounded cost', () => {
  it('a line longer than the maximum is skipped as oversized-line, its neighbours read, its digests kept as uncertain', () => {
    const filler = 'x'.repeat(1024 * 1024);
    const huge = JSON.stringify({ ...pull('ci/app', 'huge-start'), padding: filler, more: [digest('huge-end')] });
    const { stats, counts, count } = read(jsonLine(pull('ci/app', 'before')), `${huge}\n`, jsonLine(pull('ci/app', 'after')));
    expect(stats.skipped['oversized-line']).toBe(1);
    expect([count('ci/app', 'before'), count('ci/app', 'after')]).toEqual([1, 1]);
    expect(counts.unusableRecords).toBe(1);
    expect([...counts.uncertainDigests].sort()).toEqual([digest('huge-start'), digest('huge-end')].sort());
    expect(stats.badLines.map((bad) => `${bad.line}:${bad.reason}`)).toEqual(['2:oversized-line']);
  });
});

describe('bounded cost: linear time and flat memory for any input (measured in bytes held and copied, not in seconds)', () => {
  const CHUNK = 256 * 1024;
  function split(input: Buffer, chunk = CHUNK) {
    const records: string[] = [];
    let oversized = 0;
    const splitter = new RecordSplitter({
      record: (bytes, start, end) => records.push(bytes.toString('utf8', start, end)),
      oversized: () => oversized++,
    });
    for (let at = 0; at < input.length; at += chunk) splitter.push(input.subarray(at, at + chunk));
    splitter.end();
    return { records, oversized, held: splitter.maxCarriedBytes, copied: splitter.copiedBytes };
  }

  it('a 64 MiB single line is skipped holding at most the maximum and one chunk, copying no more', () => {
    const line = Buffer.alloc(64 * 1024 * 1024, 'x');
    line.write('{"a":"', 0);
    const before = Buffer.from(jsonLine(pull('ci/app', 'before')));
    const { records, oversized, held, copied } = split(Buffer.concat([before, line, Buffer.from('\n'), before]));
    expect(oversized).toBe(1);
    expect(records).toHaveLength(2);
    expect(held).toBeLessThanOrEqual(MAX_RECORD_BYTES + CHUNK);
    expect(copied).toBeLessThanOrEqual(MAX_RECORD_BYTES + CHUNK);
  });

  it('long lines spread over many chunks are copied twice at most (carried, then joined), never again with each chunk', () => {
    const long = JSON.stringify({ ...pull('ci/app', 'long'), padding: 'y'.repeat(900_000) });
    const input = Buffer.from(Array.from({ length: 12 }, () => long).join('\n') + '\n');
    const { records, copied, held } = split(input, 16 * 1024);
    expect(records).toHaveLength(12);
    expect(copied).toBeLessThanOrEqual(2 * input.length);
    expect(held).toBeLessThanOrEqual(MAX_RECORD_BYTES + 16 * 1024);
  });

  it('a single-line {"records":[…]} document of small records is read record by record, whatever its size', () => {
    const records = Array.from({ length: 20_000 }, (_, i) => JSON.stringify(pull('ci/app', `doc-${i % 50}`)));
    const input = Buffer.from(`{"records":[${records.join(',')}]}`);
    expect(input.length).toBeGreaterThan(16 * MAX_RECORD_BYTES);
    const { records: read, oversized, held } = split(input);
    expect(oversized).toBe(0);
    expect(read).toHaveLength(20_000);
    expect(held).toBeLessThan(4096);
  });
});

describe('corrupt compressed data', () => {
  it('counts the records before the damage and names the file as unreadable-data', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => jsonLine(pull('ci/app', `zipped-${i % 7}`))).join('');
    const zipped = gzipSync(lines);
    const damaged = Buffer.from(zipped);
    for (let i = Math.floor(damaged.length / 2); i < damaged.length / 2 + 64; i++) damaged[i] = 0x55;
    const cut = zipped.subarray(0, Math.floor(zipped.length * 0.8));
    const path = (hour: number) => archiveBlobPath(registryResourceId('cicache'), new Date(NOW - hour * HOUR));
    const { stats, counts } = await readDir({ [path(3)]: damaged, [path(2)]: cut, [path(1)]: jsonLine(pull('ci/app', 'plain')) });
    expect(stats.skipped['unreadable-data']).toBe(2);
    // Deflate notices damage late (at the checksum, or when the bits stop making sense): the garbage decoded before that is malformed, unusable too.
    expect(counts.unusableRecords).toBe(2 + stats.skipped['malformed-json']);
    const unreadable = stats.badLines.filter((bad) => bad.reason === 'unreadable-data');
    expect(unreadable.map((bad) => (bad.source === path(3) ? 'damaged' : bad.source === path(2) ? 'cut' : bad.source)).sort()).toEqual(['cut', 'damaged']);
    expect(unreadable.every((bad) => bad.detail?.startsWith('the gzip data is corrupt'))).toBe(true);
    expect(stats.accessesCounted).toBeGreaterThan(1);
    expect(stats.accessesCounted).toBeLessThan(4000);
    expect(counts.get('ci/app', digest('plain'))?.count).toBe(1);
  });
});

describe('gzip damaged early in a file of several chunks', () => {
  it('is a named unreadable-data record, not an exception out of the read', async () => {
    const lines = Array.from({ length: 4000 }, (_, i) => jsonLine(pull('ci/app', `stored-${i}`))).join('');
    // Stored (level 0): the file spans several 256 KiB reads; its first deflate block header says "reserved type".
    const damaged = gzipSync(lines, { level: 0 });
    expect(damaged.length).toBeGreaterThan(4 * 256 * 1024);
    damaged[10] = 0b111;
    const path = archiveBlobPath(registryResourceId('cicache'), new Date(NOW - 2 * HOUR));
    const { stats } = await readDir({ [path]: damaged, [archiveBlobPath(registryResourceId('cicache'), new Date(NOW - HOUR))]: jsonLine(pull('ci/app', 'plain')) });
    expect(stats.skipped['unreadable-data']).toBe(1);
    expect(stats.badLines.find((bad) => bad.reason === 'unreadable-data')).toMatchObject({ source: path, detail: expect.stringMatching(/gzip data is corrupt.*invalid block type/) });
  });
});

describe('--log-dir: symbolic links', () => {
  async function folders() {
    const root = await mkdtemp(join(tmpdir(), 'linked-logs-'));
    const logs = join(root, 'logs');
    const elsewhere = join(root, 'elsewhere');
    await mkdir(join(logs, 'day1'), { recursive: true });
    await mkdir(elsewhere, { recursive: true });
    await writeFile(join(logs, 'day1', 'a.json'), jsonLine(pull('ci/app', 'plain')));
    await writeFile(join(elsewhere, 'b.json'), jsonLine(pull('ci/app', 'linked')));
    const read = async () => {
      const { counts, stats } = await new LocalDirLogSource(logs, '*.json').read(filter);
      return { stats, count: (label: string) => counts.get('ci/app', digest(label))?.count ?? 0 };
    };
    return { logs, elsewhere, read };
  }

  it('a link to a file is read like the file', async () => {
    const { logs, elsewhere, read } = await folders();
    await symlink(join(elsewhere, 'b.json'), join(logs, 'b.json'));
    const { count, stats } = await read();
    expect([count('plain'), count('linked')]).toEqual([1, 1]);
    expect(stats.filesRead).toBe(2);
  });

  it('a link to a folder is read like the folder', async () => {
    const { logs, elsewhere, read } = await folders();
    await symlink(elsewhere, join(logs, 'day2'));
    const { count } = await read();
    expect([count('plain'), count('linked')]).toEqual([1, 1]);
  });

  it('a loop of links ends: each folder and file is read once, and the report says what was left out', async () => {
    const { logs, read } = await folders();
    await symlink(logs, join(logs, 'day1', 'back-to-top'));
    await symlink(join(logs, 'day1', 'a.json'), join(logs, 'same-file.json'));
    const { count, stats } = await read();
    expect(count('plain')).toBe(1);
    expect(stats.filesRead).toBe(1);
    expect(stats.notes.join('\n')).toMatch(/day1\/back-to-top.*already read/);
    expect(stats.notes.join('\n')).toMatch(/same-file\.json.*already read/);
  });

  it('a file the disk fails to read refuses the read as a log source error naming it, not as a crash', async () => {
    const { logs, read } = await folders();
    // A regular file by its attributes whose first read fails (EIO): the disk failing under the reader.
    await symlink('/proc/self/mem', join(logs, 'failing.json'));
    const failure = await read().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LogSourceError);
    expect((failure as Error).message).toMatch(/failing\.json.*EIO|failing\.json.*i\/o error/i);
  });

  it('a link that leads nowhere refuses the read, naming it', async () => {
    const { logs, elsewhere, read } = await folders();
    await symlink(join(elsewhere, 'gone.json'), join(logs, 'gone.json'));
    await expect(read()).rejects.toThrow(/gone\.json.*leads nowhere/);
  });
});

describe('--log-dir: a stop (the time budget) while one large file is read', () => {
  // The budget's deadline aborts the read's signal from a timer: it fires at the reader's first turn of the event
  // loop, inside the first file, which a check between files alone never sees.
  async function readStopped(content: Buffer) {
    const directory = await mkdtemp(join(tmpdir(), 'stopped-read-'));
    await writeFile(join(directory, 'big.json'), content);
    const controller = new AbortController();
    const stop = new Error('the time budget ended');
    setImmediate(() => controller.abort(stop));
    return { stop, read: new LocalDirLogSource(directory, '*.json').read(filter, controller.signal) };
  }
  const big = () => Buffer.from(Array.from({ length: 24_000 }, (_, i) => jsonLine(pull('ci/app', `big-${i % 100}`))).join(''));

  it('ends the read inside the file, with the stop as its reason', async () => {
    const content = big();
    expect(content.length).toBeGreaterThan(12 * 1024 * 1024);
    const { stop, read } = await readStopped(content);
    await expect(read).rejects.toBe(stop);
  });

  it('ends the read within a file of a little over 1 MiB: the reader lets a signal act at least every MiB it reads', async () => {
    const content = Buffer.from(Array.from({ length: 1_700 }, (_, i) => jsonLine(pull('ci/app', `big-${i % 100}`))).join(''));
    expect(content.length).toBeGreaterThan(1024 * 1024 + 256 * 1024);
    expect(content.length).toBeLessThan(2 * 1024 * 1024);
    const { stop, read } = await readStopped(content);
    await expect(read).rejects.toBe(stop);
  });

  it('the same for a gzip file, whatever it decompresses to', async () => {
    const { stop, read } = await readStopped(gzipSync(Buffer.concat([big(), big()]), { level: 1 }));
    await expect(read).rejects.toBe(stop);
  });
});

function renameKey(object: Record<string, unknown>, from: string, to: string): void {
  object[to] = object[from];
  delete object[from];
}
