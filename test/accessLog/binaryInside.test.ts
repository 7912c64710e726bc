import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AccessCounts, LogStats } from '../../src/accessLog/counts.js';
import { MAX_RECORD_BYTES } from '../../src/accessLog/lines.js';
import { LogFileReader } from '../../src/accessLog/logFile.js';
import type { RecordFilter } from '../../src/accessLog/record.js';
import { logRecord } from '../support/syntheticCache.js';

// Bytes that JSON text never holds, anywhere in a file (not only in its first bytes), make the whole file
// undecodable: compressed or binary data glued after good records may hide any number of pulls, and must not pass
// as one malformed line among thousands.

const NOW = Date.parse('2026-11-27T02:00:00Z');
const HOUR = 3_600_000;
const filter: RecordFilter = { window: { startMs: NOW - 7 * 24 * HOUR, endMs: NOW }, registryName: 'cicache' };
const digest = (label: string) => `sha256:${Buffer.from(label.padEnd(32, '.')).toString('hex').slice(0, 64)}`;
const pullLine = (label: string, i = 0) => `${JSON.stringify(logRecord({ time: new Date(NOW - HOUR - i * 1000), operationName: 'Pull', repository: 'ci/app', digest: digest(label), registry: 'cicache' }))}\n`;
/** Good records, far more than the first 4 KiB that are looked at before any record is read. */
const goodLines = (count: number) => Array.from({ length: count }, (_, i) => pullLine('heartbeat', i)).join('');

function read(content: Buffer, chunkBytes = 256 * 1024) {
  const counts = new AccessCounts();
  const stats = new LogStats();
  const reader = new LogFileReader('PT1H.json', filter, counts, stats);
  for (let at = 0; at < content.length; at += chunkBytes) reader.push(content.subarray(at, at + chunkBytes));
  reader.end();
  return { counts, stats };
}

function expectUndecodable(content: Buffer, pattern: RegExp) {
  for (const chunkBytes of [content.length, 65_536, 1_000]) {
    const { counts } = read(content, chunkBytes);
    expect(counts.undecodableFiles, `chunks of ${chunkBytes}`).toHaveLength(1);
    expect(counts.undecodableFiles[0], `chunks of ${chunkBytes}`).toMatch(pattern);
  }
}

describe('bytes JSON text never holds, after the first 4 KiB of a file', () => {
  const good = goodLines(100);
  const goodLineCount = 100;

  it('a gzip-compressed tail after good records makes the file undecodable, naming the line', () => {
    const hidden = gzipSync(Array.from({ length: 50 }, (_, i) => pullLine('filler', i)).join(''));
    expect(good.length).toBeGreaterThan(4096);
    expectUndecodable(Buffer.concat([Buffer.from(good), hidden]), new RegExp(`^PT1H\\.json \\(.*gzip.*line ${goodLineCount + 1}\\b`));
  });

  it('so does one control byte in a line between good records', () => {
    const content = Buffer.from(`${good}{"time":"2026-11-27T01:00:00Z","x":"a\u0001b"\n${good}`);
    expectUndecodable(content, new RegExp(`byte 0x01.*line ${goodLineCount + 1}\\b`));
  });

  it('and a byte UTF-8 never holds (0xff) in a line that is not JSON', () => {
    const content = Buffer.concat([Buffer.from(good), Buffer.from([0x7b, 0x22, 0xff, 0x41, 0x22, 0x0a]), Buffer.from(good)]);
    expectUndecodable(content, new RegExp(`byte 0xff.*line ${goodLineCount + 1}\\b`));
  });

  it('and in an element of a {"records":[…]} document', () => {
    const content = Buffer.from(`${good}{"records":[${pullLine('a').trim()},{"x":"\u0002"},${pullLine('b').trim()}]}\n`);
    expectUndecodable(content, /byte 0x02/);
  });

  it('and binary bytes far into a line too long to hold, which is skipped without being looked at as a record', () => {
    const text = Buffer.from(`{"time":"2026-11-27T01:00:00Z","padding":"${'x'.repeat(MAX_RECORD_BYTES)}`);
    const content = Buffer.concat([Buffer.from(good), text, Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('"}\n'), Buffer.from(good)]);
    expectUndecodable(content, new RegExp(`byte 0x1f.*line ${goodLineCount + 1}\\b`));
  });

  it('but a malformed line of text is one unusable record, and the file is read on', () => {
    const { counts, stats } = read(Buffer.from(`${good}{"time":"2026-11-27T01:00:00Z",\t"x":\n${good}`));
    expect(counts.undecodableFiles).toEqual([]);
    expect(stats.skipped['malformed-json']).toBe(1);
    expect(counts.get('ci/app', digest('heartbeat'))?.count).toBe(200);
  });

  it('and so is a text line too long to hold', () => {
    const { counts, stats } = read(Buffer.from(`${good}{"padding":"${'x'.repeat(MAX_RECORD_BYTES)}\t\r"}\n${good}`));
    expect(counts.undecodableFiles).toEqual([]);
    expect(stats.skipped['oversized-line']).toBe(1);
    expect(counts.get('ci/app', digest('heartbeat'))?.count).toBe(200);
  });
});
