import { describe, expect, it } from 'vitest';
import { AccessCounts, LogStats } from '../../src/accessLog/counts.js';
import { LogFileReader } from '../../src/accessLog/logFile.js';
import { classifyRecord, parseLogTime, type RecordFilter } from '../../src/accessLog/record.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const NOW = Date.parse('2026-11-27T02:00:00Z');
const filter: RecordFilter = { window: { startMs: NOW - 7 * 86_400_000, endMs: NOW } };

function line(overrides: Record<string, unknown> = {}, properties: Record<string, unknown> = {}): string {
  return JSON.stringify({
    time: '2026-11-26T10:00:00.1234567Z',
    category: 'ContainerRegistryRepositoryEvents',
    operationName: 'Pull',
    resultType: 'HttpStatusCode',
    resultDescription: '200',
    identity: 'c2c7e9f4',
    durationMs: '38.212784',
    resourceId: '/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERREGISTRY/REGISTRIES/CICACHE',
    ...overrides,
    properties: { repository: 'ci/app', digest: DIGEST, tag: 'latest', userAgent: 'docker/27.3.1', loginServer: 'cicache.azurecr.io', ...properties },
  });
}

const reason = (text: string, options: Partial<RecordFilter> = {}, unterminated = false) => {
  const result = classifyRecord(text, { ...filter, ...options }, unterminated);
  return result.kind === 'access' ? 'access' : result.reason;
};

describe('classifyRecord', () => {
  it('counts successful pulls and pushes', () => {
    expect(reason(line())).toBe('access');
    expect(reason(line({ operationName: 'Push', resultDescription: '201' }))).toBe('access');
    expect(reason(line({ resultDescription: 200 }))).toBe('access');
  });

  it('skips everything else, by reason', () => {
    expect(reason('{"time":')).toBe('malformed-json');
    expect(reason('{"time":', {}, true)).toBe('truncated-line');
    expect(reason('[1,2]')).toBe('malformed-json');
    expect(reason(line({ category: 'ContainerRegistryLoginEvents' }))).toBe('other-category');
    expect(reason(line({ time: '<nil>' }))).toBe('bad-time');
    expect(reason(line({ time: '2026-13-01T00:00:00Z' }))).toBe('bad-time');
    expect(reason(line({ operationName: 'Delete' }))).toBe('not-pull-or-push');
    expect(reason(line({ resultDescription: '404' }))).toBe('unsuccessful');
    expect(reason(line({ resultType: 'Failed' }))).toBe('unsuccessful');
    expect(reason(line({ time: '2026-11-01T00:00:00Z' }))).toBe('outside-window');
    expect(reason(line({}, { repository: '<nil>' }))).toBe('missing-fields');
    expect(reason(line({}, { digest: '<nil>' }))).toBe('missing-fields');
    expect(reason(line({}, { digest: 'sha256:ABC' }))).toBe('missing-fields');
    expect(reason(line({}, { userAgent: 'acr-cache-cleaner/0.1.0 azsdk-js-container-registry/1.1.2' }))).toBe('own-user-agent');
    expect(reason(line({}, { userAgent: 'Trivy/0.56.2' }), { ignoreUserAgents: /^Trivy\// })).toBe('ignored-user-agent');
  });

  it('tolerates an object identity and a numeric duration', () => {
    expect(reason(line({ identity: { claims: { appid: 'x' } }, durationMs: 38.2 }))).toBe('access');
  });

  it('keeps the window start inclusive and the clock-skew allowance after its end exact to the 7th fractional digit', () => {
    const at = (time: string) => reason(line({ time }));
    expect(at('2026-11-20T02:00:00.0000000Z')).toBe('access');
    expect(at('2026-11-20T01:59:59.9999999Z')).toBe('outside-window');
    expect(at('2026-11-27T02:00:00.0000000Z')).toBe('access');
    expect(at('2026-11-27T02:00:00.0000001Z')).toBe('access');
    expect(at('2026-11-27T02:05:00.0000000Z')).toBe('access');
    expect(at('2026-11-27T02:05:00.0000001Z')).toBe('future-time');
  });

  it('counts a record within the allowance as made now', () => {
    const result = classifyRecord(line({ time: '2026-11-27T02:04:00.0000000Z' }), filter);
    expect(result.kind === 'access' && result.access.timeMs).toBe(NOW);
  });

  it('skips records of other registries when the registry is known, by resourceId or login server', () => {
    expect(reason(line(), { registryName: 'cicache' })).toBe('access');
    expect(reason(line(), { registryName: 'other' })).toBe('other-registry');
    expect(reason(line({ resourceId: '<nil>' }, { loginServer: 'other.azurecr.io' }), { registryName: 'cicache' })).toBe('other-registry');
  });
});

describe('parseLogTime', () => {
  it('parses offsets and fractions', () => {
    expect(parseLogTime('2026-11-27T03:00:00.5+01:00')).toEqual({ ms: Date.parse('2026-11-27T02:00:00.500Z'), subMillisecond: false });
    expect(parseLogTime('2026-11-27T02:00:00Z')?.ms).toBe(Date.parse('2026-11-27T02:00:00Z'));
    expect(parseLogTime('yesterday')).toBeUndefined();
  });

  it('takes offsets only within the real range (UTC-12:00 to UTC+14:00): beyond it the time is invalid', () => {
    expect(parseLogTime('2026-11-27T16:00:00+14:00')?.ms).toBe(Date.parse('2026-11-27T02:00:00Z'));
    expect(parseLogTime('2026-11-26T14:00:00-12:00')?.ms).toBe(Date.parse('2026-11-27T02:00:00Z'));
    for (const zone of ['+99:00', '+14:01', '+15:00', '-12:01', '-14:30', '+01:60', '-00:99']) {
      expect(parseLogTime(`2026-11-27T02:00:00${zone}`), zone).toBeUndefined();
    }
  });

  it('a record whose offset is out of range is an unusable bad-time, not an access', () => {
    const result = classifyRecord(line({ time: '2026-11-27T02:00:00+99:00' }), filter);
    expect(result).toMatchObject({ kind: 'skipped', reason: 'bad-time' });
  });
});

describe('LogFileReader', () => {
  it('counts per repository@digest, tracks the newest record of any operation, and names bad lines', () => {
    const counts = new AccessCounts();
    const stats = new LogStats();
    const reader = new LogFileReader('PT1H.json', filter, counts, stats);
    reader.push(`${line({ time: '2026-11-25T00:00:00Z' })}\n${line({ time: '2026-11-26T00:00:00Z' })}\nnot json\n`);
    reader.push(`${line({ time: '2026-11-26T23:00:00Z', operationName: 'Delete' })}\n{"time":"2026`);
    reader.end();
    expect(counts.get('ci/app', DIGEST)).toEqual({ count: 2, lastAccessMs: Date.parse('2026-11-26T00:00:00Z') });
    expect(counts.newestRecordMs).toBe(Date.parse('2026-11-26T23:00:00Z'));
    expect(counts.recordsInWindow).toBe(3);
    expect(stats.skipped['malformed-json']).toBe(1);
    expect(stats.skipped['truncated-line']).toBe(1);
    expect(stats.badLines.map((bad) => `${bad.source}:${bad.line}:${bad.reason}`)).toEqual(['PT1H.json:3:malformed-json', 'PT1H.json:5:truncated-line']);
  });
});

describe('calendar dates', () => {
  const readBoth = (time: string) =>
    [true, false].map((fastPath) => {
      const counts = new AccessCounts();
      const stats = new LogStats();
      const reader = new LogFileReader('PT1H.json', filter, counts, stats, { fastPath });
      reader.push(`${line({ time })}\n`);
      reader.end();
      return stats.skipped['bad-time'] === 1 ? 'bad-time' : stats.accessesCounted === 1 ? 'access' : 'other';
    });

  it('a day past the end of its month is a bad-time, not a later day (Date.UTC would roll it over)', () => {
    for (const time of ['2026-02-31T10:00:00.0000000Z', '2026-02-29T10:00:00.0000000Z', '2026-04-31T10:00:00.0000000Z', '2026-11-31T10:00:00.0000000Z', '2100-02-29T10:00:00.0000000Z']) {
      expect(reason(line({ time })), time).toBe('bad-time');
      expect(readBoth(time), time).toEqual(['bad-time', 'bad-time']);
      expect(parseLogTime(time.replace('.0000000Z', 'Z')), time).toBeUndefined();
      expect(parseLogTime(time.replace('.0000000Z', '+01:00')), time).toBeUndefined();
    }
  });

  it('day 0, month 0 and a two-digit year are bad-times, not the day, month or century Date.UTC would make of them', () => {
    for (const time of ['2026-11-00T12:00:00.0000000Z', '2026-00-28T12:00:00.0000000Z', '0026-11-28T12:00:00.0000000Z']) {
      expect(reason(line({ time })), time).toBe('bad-time');
      expect(readBoth(time), time).toEqual(['bad-time', 'bad-time']);
      expect(parseLogTime(time.replace('.0000000Z', 'Z')), time).toBeUndefined();
      expect(parseLogTime(time.replace('.0000000Z', '+01:00')), time).toBeUndefined();
    }
  });

  it('takes the last day of every month, and 29 February in leap years', () => {
    for (const date of ['2026-01-31', '2026-02-28', '2024-02-29', '2000-02-29', '2026-04-30', '2026-11-26']) {
      expect(parseLogTime(`${date}T10:00:00.0000000Z`)?.ms, date).toBe(Date.parse(`${date}T10:00:00Z`));
      expect(parseLogTime(`${date}T10:00:00Z`)?.ms, date).toBe(Date.parse(`${date}T10:00:00Z`));
    }
    expect(readBoth('2026-11-26T10:00:00.0000000Z')).toEqual(['access', 'access']);
  });
});
