import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccessCounts, LogFileReader, LogStats } from '../../src/accessLog/counts.js';
import type { RecordFilter } from '../../src/accessLog/record.js';
import { logRecord } from '../support/syntheticCache.js';

const NOW = Date.parse('2026-11-27T02:00:00Z');
const filter: RecordFilter = { window: { startMs: NOW - 7 * 86_400_000, endMs: NOW }, ignoreUserAgents: /^Trivy/ };

function read(text: string, cuts: number[], fastPath: boolean) {
  const counts = new AccessCounts();
  const stats = new LogStats();
  const reader = new LogFileReader('blob', filter, counts, stats, { fastPath });
  const bytes = Buffer.from(text);
  let previous = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    reader.push(bytes.subarray(previous, cut));
    previous = cut;
  }
  reader.push(bytes.subarray(previous));
  reader.end();
  return {
    counts: [...counts.entries()].map(([repository, digest, access]) => `${repository}@${digest}:${access.count}:${access.lastAccessMs}`).sort(),
    newest: counts.newestRecordMs,
    inWindow: counts.recordsInWindow,
    records: stats.records,
    accesses: stats.accessesCounted,
    skipped: stats.skipped,
    badLines: stats.badLines.map((bad) => `${bad.line}:${bad.reason}`),
  };
}

const hex = fc.constantFrom('a', 'b', 'c', '0', '1', '9');
const realRecord = fc
  .record({
    minutesAgo: fc.integer({ min: -30, max: 12_000 }),
    operationName: fc.constantFrom('Pull', 'Push', 'Delete'),
    repository: fc.constantFrom('ci/app', 'ci/web', '<nil>'),
    digest: fc.array(hex, { minLength: 64, maxLength: 64 }).map((chars) => `sha256:${chars.join('')}`),
    resultDescription: fc.constantFrom('200', '201', '404'),
    userAgent: fc.constantFrom('docker/27.3.1', 'Trivy/0.56', 'acr-cache-cleaner/0.1.0', 'größe/1'),
  })
  .map((r) => logRecord({ ...r, time: new Date(NOW - r.minutesAgo * 60_000), registry: 'cicache' }));

/** Lines as a producer writes them, and as they go wrong. */
const line = fc.oneof(
  { weight: 8, arbitrary: realRecord.map((record) => JSON.stringify(record)) },
  { weight: 1, arbitrary: realRecord.map((record) => JSON.stringify({ ...record, durationMs: 38.2 })) },
  { weight: 1, arbitrary: realRecord.map((record) => JSON.stringify({ category: record.category, ...record })) },
  { weight: 1, arbitrary: realRecord.map((record) => JSON.stringify(record, null, 1).replace(/\n/g, '')) },
  { weight: 1, arbitrary: realRecord.map((record) => JSON.stringify({ ...record, identity: { claims: { oid: 'x"y' } } })) },
  { weight: 1, arbitrary: realRecord.map((record) => JSON.stringify(record).slice(0, 100)) },
  { weight: 1, arbitrary: fc.constantFrom('', 'not json', '{}', '[1]', '{"time":"2026-11-26T00:00:00.0000000Z"}') },
);

describe('the learned-shape fast path', () => {
  it('reads every log exactly as the generic path does, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), (lines, cuts, eol) => {
        const text = lines.map((l) => l + eol).join('');
        expect(read(text, cuts, true)).toEqual(read(text, cuts, false));
      }),
      { numRuns: 400 },
    );
  });

  it('takes the fast path for the records of one producer', () => {
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify(logRecord({ time: new Date(NOW - i * 60_000), operationName: 'Pull', repository: 'ci/app', digest: `sha256:${'ab'.repeat(32)}`, registry: 'cicache' })));
    const counts = new AccessCounts();
    const stats = new LogStats();
    const reader = new LogFileReader('blob', filter, counts, stats);
    let generic = 0;
    const original = (reader as unknown as { onRecord: (...args: unknown[]) => void }).onRecord.bind(reader);
    (reader as unknown as { onRecord: (...args: unknown[]) => void }).onRecord = (...args: unknown[]) => {
      generic++;
      original(...args);
    };
    reader.push(lines.join('\n') + '\n');
    reader.end();
    expect(stats.accessesCounted).toBe(50);
    expect(generic).toBe(1);
  });
});
