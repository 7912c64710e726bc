import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessCounts, LogStats } from '../../src/accessLog/counts.js';
import type { RecordFields } from '../../src/accessLog/fields.js';
import { MAX_RECORD_BYTES } from '../../src/accessLog/lines.js';
import { LogFileReader, readLogStream, finishReading } from '../../src/accessLog/logFile.js';
import { classifyFields, type RecordFilter } from '../../src/accessLog/record.js';
import { RecordScanner } from '../../src/accessLog/recordScanner.js';
import { awkwardRecord, awkwardRecordJson, retokened, toJson, writeJson } from '../support/awkwardJson.js';
import { logRecord } from '../support/syntheticCache.js';
import { presentFields, referenceFields } from '../support/scannerReference.js';

const NOW = Date.parse('2026-11-27T02:00:00Z');
const window = { startMs: NOW - 7 * 86_400_000, endMs: NOW };
const filters: RecordFilter[] = [{ window }, { window, registryName: 'cicache' }, { window, registryName: 'zurich' }, { window, registryName: 'cicache', ignoreUserAgents: /^Trivy|café/ }];

/**
 * Holds one record's fast path to the generic path: when the scanner reads it, its fields are JSON.parse's, and
 * whatever it decides on bytes is what classifyFields decides. Returns whether the scanner took it. The record is
 * read twice: at `shift` in a larger buffer with other bytes around it (any alignment in memory), and at the very
 * end of its memory (the scanner reads four bytes at a time where it can).
 */
function checkRecord(record: Buffer, scanner = new RecordScanner(), shift = 0): boolean {
  const expected = referenceFields(record);
  const inside = Buffer.concat([Buffer.alloc(shift, 0x7b), record, Buffer.from('}\n')]);
  const atMemoryEnd = Buffer.from(new ArrayBuffer(shift + record.length), shift);
  record.copy(atMemoryEnd);
  const taken = [checkRead(record, expected, scanner, inside, shift), checkRead(record, expected, scanner, atMemoryEnd, 0)];
  expect(taken[1]).toBe(taken[0]);
  return taken[0]!;
}

function checkRead(record: Buffer, expected: RecordFields | 'malformed', scanner: RecordScanner, bytes: Buffer, start: number): boolean {
  if (!scanner.read(bytes, start, start + record.length)) return false;
  expect(expected).not.toBe('malformed');
  expect(presentFields(scanner.fields(bytes))).toEqual(presentFields(expected as RecordFields));
  for (const filter of filters) {
    const generic = classifyFields(expected as RecordFields, filter);
    const outcome = scanner.classify(bytes, filter);
    if (outcome === undefined) continue;
    if (outcome === 'access') {
      expect(generic.kind).toBe('access');
      if (generic.kind !== 'access') continue;
      expect(bytes.toString('latin1', scanner.repositoryStart, scanner.repositoryEnd)).toBe(generic.access.repository);
      expect(bytes.toString('latin1', scanner.digestStart, scanner.digestEnd)).toBe(generic.access.digest);
      expect(scanner.timeMs).toBe(generic.timeMs);
    } else {
      expect(generic).toEqual(Number.isNaN(scanner.timeMs) ? { kind: 'skipped', reason: outcome } : { kind: 'skipped', reason: outcome, timeMs: scanner.timeMs });
    }
  }
  return true;
}

/** A piece of damage: text, or one raw byte (a control character, a byte that is not UTF-8). */
const damage = fc.oneof(
  fc.constantFrom('', '"', '{', '}', '[', ']', ',', ':', '\\', '\\u12', '\\x', '1', '-', 'e', ' ', '\t', 't', 'n').map((text) => Buffer.from(text)),
  fc.constantFrom(0x01, 0x0d, 0x1f, 0x7f, 0x80, 0xc3, 0xff).map((byte) => Buffer.from([byte])),
);

/** One of the record's structural bytes (`{}[],:` or a blank), picked by `seed`: where a shape's own bytes are. */
function structuralPosition(bytes: Buffer, seed: number): number {
  const positions: number[] = [];
  for (let i = 0; i < bytes.length; i++) if ('{}[],: '.includes(String.fromCharCode(bytes[i]!))) positions.push(i);
  return positions.length === 0 ? seed : positions[seed % positions.length]!;
}

function damaged(bytes: Buffer, position: number, piece: Buffer, how: 'insert' | 'replace'): Buffer {
  const at = position % (bytes.length + 1);
  return Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(how === 'replace' ? at + 1 : at)]);
}

describe('the byte-level fast path agrees with JSON.parse', () => {
  it('on awkward records: key order, spacing, decoys nested first, duplicated keys, \\u escapes, non-ASCII, case, drift, time formats', () => {
    let taken = 0;
    fc.assert(
      fc.property(awkwardRecord(), fc.nat({ max: 7 }), (text, shift) => {
        if (checkRecord(Buffer.from(text), new RecordScanner(), shift)) taken++;
      }),
      { numRuns: 3000 },
    );
    // Escaped keys (the `all` escapes) go the generic way; nearly everything else must take the fast path.
    expect(taken).toBeGreaterThan(2000);
  });

  it('on damaged records: any byte inserted, replaced or cut, raw control characters, invalid UTF-8', () => {
    fc.assert(
      fc.property(awkwardRecord(), fc.nat(), damage, fc.constantFrom('insert', 'replace', 'cut' as const), (text, position, piece, how) => {
        const bytes = Buffer.from(text);
        checkRecord(how === 'cut' ? bytes.subarray(0, position % (bytes.length + 1)) : damaged(bytes, position, piece, how));
      }),
      { numRuns: 4000 },
    );
  });

  it('with one scanner for many records of one shape, any tokens, and near misses of the shape', () => {
    let taken = 0;
    fc.assert(
      fc.property(awkwardRecordJson(), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 7 }), fc.nat(), damage), { minLength: 2, maxLength: 40 }), ({ json, style }, variants) => {
        const scanner = new RecordScanner();
        checkRecord(Buffer.from(writeJson(json, style)), scanner);
        for (const [seed, change, position, piece] of variants) {
          const shift = seed % 7;
          const bytes = Buffer.from(writeJson(retokened(json, seed, change === 0), style));
          // Now and then a byte inserted, replaced or cut anywhere, structural bytes included.
          const variant =
            change === 1
              ? damaged(bytes, position, piece, 'insert')
              : change === 2
                ? damaged(bytes, structuralPosition(bytes, position), piece, 'replace')
                : change === 3
                  ? bytes.subarray(0, position % (bytes.length + 1))
                  : change === 4
                    ? Buffer.concat([bytes, piece])
                    : bytes;
          if (checkRecord(variant, scanner, shift)) taken++;
        }
      }),
      { numRuns: 600 },
    );
    expect(taken).toBeGreaterThan(800);
  });

  it('on user agents that name this tool or nearly, through escapes, slashes, spaces and non-ASCII', () => {
    const name = 'acr-cache-cleaner';
    const escapedAt = fc.oneof(fc.constant<boolean[]>([]), fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }));
    const spelled = fc.tuple(escapedAt, fc.constantFrom(name.length, name.length - 1)).map(([escaped, length]) =>
      [...name.slice(0, length)].map((c, i) => (escaped[i] ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join(''),
    );
    const userAgent = fc
      .tuple(fc.constantFrom('', 'docker/27.3.1', 'é', 'x\\"', '\\u00e9'), fc.constantFrom('', ' ', '\\u0020', '\\t', 'x'), spelled, fc.constantFrom('/', '\\/', '\\u002f', '', '-'), fc.constantFrom('', '0.1.0', ' \\\\ é'))
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(userAgent, fc.nat({ max: 7 }), (agent, shift) => {
        const record = logRecord({ time: new Date(NOW - 60_000), operationName: 'Pull', repository: 'ci/app', digest: `sha256:${'ab'.repeat(32)}`, userAgent: 'PLACEHOLDER', registry: 'cicache' });
        const text = JSON.stringify(record).replace('"PLACEHOLDER"', `"${agent}"`);
        expect(checkRecord(Buffer.from(text), new RecordScanner(), shift)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('on generic JSON values and deep nesting', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom('', ' '), (value, space) => {
        checkRecord(Buffer.from(writeJson(toJson(value), { space, escapes: 'minimal' })));
        checkRecord(Buffer.from(JSON.stringify({ properties: value, time: value, category: 'ContainerRegistryRepositoryEvents' })));
      }),
      { numRuns: 1000 },
    );
    const deep = (depth: number) => `{"a":${'['.repeat(depth)}1${']'.repeat(depth)},"time":"x"}`;
    expect(checkRecord(Buffer.from(deep(20)))).toBe(true);
    expect(checkRecord(Buffer.from(deep(40)))).toBe(false);
    // Deeper than the scanner tracks, an array and an object 32 levels apart must not be taken for one another: this
    // record closes its array with `}` and its object with `]`, which JSON.parse refuses.
    const aliased = `{"a":[${'['.repeat(31)}{}${']'.repeat(31)}}]`;
    expect(() => JSON.parse(aliased) as unknown).toThrow();
    expect(checkRecord(Buffer.from(aliased))).toBe(false);
  });

  it('takes the fast path for both shapes of real records, spaced with a nested identity and escaped user agents or compact', () => {
    const record = logRecord({ time: new Date(NOW - 60_000), operationName: 'Pull', repository: 'ci/app', digest: `sha256:${'ab'.repeat(32)}`, userAgent: 'containerd "buildkit" café \\ 1.7', registry: 'cicache' });
    const spaced = writeJson(toJson({ ...record, identity: { claims: { oid: 'x' } } }), { space: ' ', escapes: 'non-ascii' });
    for (const text of [JSON.stringify(record), spaced]) {
      const scanner = new RecordScanner();
      const bytes = Buffer.from(text);
      expect(scanner.read(bytes, 0, bytes.length)).toBe(true);
      expect(scanner.classify(bytes, filters[1]!)).toBe('access');
    }
  });
});

/** Everything a reader reports, to compare two reads of the same log. */
function summary(counts: AccessCounts, stats: LogStats) {
  return {
    counts: [...counts.entries()].map(([repository, digest, access]) => `${repository}@${digest}:${access.count}:${access.lastAccessMs}`).sort(),
    newest: counts.newestRecordMs,
    inWindow: counts.recordsInWindow,
    unusable: counts.unusableRecords,
    uncertain: [...counts.uncertainDigests].sort(),
    records: stats.records,
    accesses: stats.accessesCounted,
    skipped: stats.skipped,
    badLines: stats.badLines.map((bad) => `${bad.line}:${bad.reason}`),
  };
}

/** The counts of one log read alone, in one chunk. */
function alone(bytes: Buffer, filter: RecordFilter): [AccessCounts, LogStats] {
  const counts = new AccessCounts();
  const stats = new LogStats();
  const reader = new LogFileReader('blob', filter, counts, stats);
  reader.push(Buffer.from(bytes));
  reader.end();
  finishReading(counts, stats);
  return [counts, stats];
}

function read(bytes: Buffer, cuts: number[], fastPath: boolean, filter: RecordFilter) {
  const counts = new AccessCounts();
  const stats = new LogStats();
  const reader = new LogFileReader('blob', filter, counts, stats, { fastPath });
  let previous = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    reader.push(bytes.subarray(previous, cut));
    previous = cut;
  }
  reader.push(bytes.subarray(previous));
  reader.end();
  finishReading(counts, stats);
  return { ...summary(counts, stats), fastPathRecords: stats.fastPathRecords };
}

const HUGE_LINE = JSON.stringify({ ...logRecord({ time: new Date(NOW - 60_000), operationName: 'Pull', repository: 'ci/huge', digest: `sha256:${'cd'.repeat(32)}`, registry: 'cicache' }), padding: 'x'.repeat(MAX_RECORD_BYTES) });

/** Lines of a log, as producers write them and as they go wrong, with documents among them. */
const logLine = fc.oneof(
  { weight: 10, arbitrary: awkwardRecord() },
  { weight: 1, arbitrary: fc.array(awkwardRecord(), { minLength: 1, maxLength: 3 }).map((records) => `{"records":[${records.join(',')}]}`) },
  { weight: 1, arbitrary: fc.array(awkwardRecord(), { minLength: 1, maxLength: 3 }).map((records) => `{\n  "records": [\n    ${records.join(',\n    ')}\n  ]\n}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', 'not json', '{}', '[1]', '{"records":[]}', '{"records":[1,"x",{"a":1}]}', '{"records":', '{"time":"2026-11-26T00:00:00.0000000Z"}') },
  { weight: 1, arbitrary: awkwardRecord().map((text) => text.slice(0, Math.floor(text.length / 2))) },
  { weight: 1, arbitrary: fc.constant(HUGE_LINE) },
);

describe('the reader with and without the fast path', () => {
  it('reads every log identically, whatever the chunking and line ends, wrappers and oversized lines included', () => {
    fc.assert(
      fc.property(fc.array(logLine, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), fc.boolean(), fc.constantFrom(...filters), (lines, cuts, eol, terminated, filter) => {
        const text = lines.join(eol) + (terminated ? eol : '');
        const bytes = Buffer.from(text);
        const fast = read(bytes, cuts, true, filter);
        const generic = read(bytes, cuts, false, filter);
        expect({ ...fast, fastPathRecords: 0 }).toEqual(generic);
        expect(read(bytes, [], true, filter)).toEqual(fast);
      }),
      { numRuns: 300 },
    );
  });

  it('reads a source that reuses one buffer for every chunk exactly as one that does not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(logLine, { maxLength: 12 }), fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1000, max: 6000 })), fc.boolean(), async (lines, chunkSize, compress) => {
        const text = Buffer.from(lines.join('\n') + '\n');
        const data = compress ? gzipSync(text) : text;
        const readAll = async (reuse: boolean) => {
          const counts = new AccessCounts();
          const stats = new LogStats();
          const shared = Buffer.alloc(chunkSize);
          async function* chunks() {
            for (let at = 0; at < data.length; at += chunkSize) {
              const piece = data.subarray(at, at + chunkSize);
              if (!reuse) yield Buffer.from(piece);
              else {
                piece.copy(shared);
                // The same buffer object for every full chunk, as the --log-dir source reads.
                yield piece.length === chunkSize ? shared : shared.subarray(0, piece.length);
                shared.fill(0x7b);
              }
            }
          }
          await readLogStream('blob', chunks(), filters[1]!, counts, stats);
          // A scanner reading stale bytes would mostly fall back to the generic path: the fast path's share tells.
          return { ...summary(counts, stats), fastPathRecords: stats.fastPathRecords };
        };
        expect(await readAll(true)).toEqual(await readAll(false));
      }),
      { numRuns: 80 },
    );
  });

  it('reads logs whose readers take turns chunk by chunk, each with its own filter, as it reads each alone', () => {
    fc.assert(
      // Chunks from a few bytes (every record joined across chunks) to several records (most scanned in place).
      fc.property(fc.array(fc.array(logLine, { maxLength: 8 }), { minLength: 2, maxLength: 3 }), fc.oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1000, max: 6000 })), (logs, chunkSize) => {
        const files = logs.map((lines, i) => ({ bytes: Buffer.from(lines.join('\n') + '\n'), filter: filters[i % filters.length]!, counts: new AccessCounts(), stats: new LogStats() }));
        const readers = files.map((file, i) => new LogFileReader(`blob-${i}`, file.filter, file.counts, file.stats));
        const shared = Buffer.alloc(chunkSize);
        for (let at = 0; files.some((file) => at < file.bytes.length); at += chunkSize) {
          files.forEach((file, i) => {
            const piece = file.bytes.subarray(at, at + chunkSize);
            if (piece.length === 0) return;
            piece.copy(shared);
            readers[i]!.push(piece.length === chunkSize ? shared : shared.subarray(0, piece.length));
          });
        }
        files.forEach((file, i) => {
          readers[i]!.end();
          finishReading(file.counts, file.stats);
          const [counts, stats] = alone(file.bytes, file.filter);
          expect({ ...summary(file.counts, file.stats), fastPath: file.stats.fastPathRecords }).toEqual({ ...summary(counts, stats), fastPath: stats.fastPathRecords });
        });
      }),
      { numRuns: 150 },
    );
  });

  it('scans the new bytes of a buffer read into again, even where its old bytes held another valid record', () => {
    // Records of one length, chunks of two records: the stale bytes of the last chunk hold a valid record at each place.
    const lines = ['1', '2', '3', '4'].map((d) => JSON.stringify(logRecord({ time: new Date(NOW - 60_000), operationName: 'Pull', repository: 'ci/app', digest: `sha256:${d.repeat(64)}`, registry: 'cicache' })) + '\n');
    const chunk = Buffer.from(lines[0]! + lines[1]!);
    const counts = new AccessCounts();
    const stats = new LogStats();
    const reader = new LogFileReader('blob', filters[1]!, counts, stats);
    for (const pair of [lines.slice(0, 2), lines.slice(2)]) {
      chunk.write(pair.join(''));
      reader.push(chunk);
    }
    reader.end();
    expect([...counts.entries()].map(([, digest]) => digest.slice(7, 8)).sort()).toEqual(['1', '2', '3', '4']);
  });

  it('reads a gzip file exactly as the same file uncompressed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(logLine.filter((line) => line !== HUGE_LINE), { maxLength: 12 }), fc.integer({ min: 1, max: 64 }), async (lines, chunkSize) => {
        const bytes = Buffer.from(lines.join('\n') + '\n');
        const readAll = async (data: Buffer) => {
          const counts = new AccessCounts();
          const stats = new LogStats();
          async function* chunks() {
            for (let at = 0; at < data.length; at += chunkSize) yield data.subarray(at, at + chunkSize);
          }
          await readLogStream('blob', chunks(), filters[1]!, counts, stats);
          return summary(counts, stats);
        };
        expect(await readAll(gzipSync(bytes))).toEqual(await readAll(bytes));
      }),
      { numRuns: 60 },
    );
  });
});
