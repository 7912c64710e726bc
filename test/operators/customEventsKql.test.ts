import { describe, expect, it } from 'vitest';
import { KqlError, runKql, type KqlRow } from '../support/customEventsKql.js';
import { customEventsTable } from '../support/customEventsTable.js';

const NOW = new Date('2026-06-10T03:00:00Z');
const event = (hoursAgo: number, dimensions: Record<string, string>, measurements: Record<string, number> = {}): KqlRow => ({
  timestamp: new Date(NOW.getTime() - hoursAgo * 3_600_000),
  name: 'AcrCacheCleanerRun',
  customDimensions: dimensions,
  customMeasurements: measurements,
});
const rows = [
  event(50, { outcome: 'completed', kept: '{"locked":2,"fresh":1}' }, { bytes: 10 }),
  event(26, { outcome: 'refused', kept: '' }, { bytes: 0 }),
  event(2, { outcome: 'completed', kept: '{"locked":3}' }, { bytes: 5 }),
];
const run = (query: string, from = rows) => runKql(query, customEventsTable(from, rows), { now: NOW });

describe('the customEvents mini-KQL interpreter (test support)', () => {
  it('filters, computes and orders as KQL does (order by is descending unless asc)', () => {
    expect(run('customEvents | where timestamp > ago(30h) and tostring(customDimensions.outcome) in ("completed", "failed") | project bytes = todouble(customMeasurements.bytes)')).toEqual([{ bytes: 5 }]);
    expect(run('customEvents | extend o = tostring(customDimensions.outcome) | where o !in ("refused") | order by timestamp | project o, b = todouble(customMeasurements.bytes) * 2')).toEqual([
      { o: 'completed', b: 10 },
      { o: 'completed', b: 20 },
    ]);
  });

  it('summarizes into one row even over nothing, and by groups', () => {
    expect(run('customEvents | summarize n = count(), total = sum(todouble(customMeasurements.bytes))', [])).toEqual([{ n: 0, total: 0 }]);
    expect(run('customEvents | summarize n = count(), last = max(timestamp) by outcome = tostring(customDimensions.outcome) | order by n desc')).toEqual([
      { outcome: 'completed', n: 2, last: rows[2]!.timestamp },
      { outcome: 'refused', n: 1, last: rows[1]!.timestamp },
    ]);
    expect(run('customEvents | summarize arg_max(timestamp, customDimensions) by day = startofday(timestamp) | order by day asc | project day, o = tostring(customDimensions.outcome)')).toEqual([
      { day: new Date('2026-06-08T00:00:00Z'), o: 'completed' },
      { day: new Date('2026-06-09T00:00:00Z'), o: 'refused' },
      { day: new Date('2026-06-10T00:00:00Z'), o: 'completed' },
    ]);
  });

  it('expands a property bag into [key, value] rows', () => {
    expect(run('customEvents | where isnotempty(tostring(customDimensions.kept)) | extend k = parse_json(tostring(customDimensions.kept)) | mv-expand bagexpansion=array k | project r = tostring(k[0]), n = toint(k[1]) | order by n asc')).toEqual([
      { r: 'fresh', n: 1 },
      { r: 'locked', n: 2 },
      { r: 'locked', n: 3 },
    ]);
  });

  it('treats a missing measurement as null: it never compares true and sums as nothing', () => {
    expect(run('customEvents | where todouble(customMeasurements.bytes) > 0 or todouble(customMeasurements.bytes) <= 0 | summarize n = count()', [event(1, { outcome: 'x' })])).toEqual([{ n: 0 }]);
  });

  it('rejects a column, a dimension or a measurement the table does not have, even when no row is left', () => {
    expect(() => run('customEvents | where outcome == "completed"')).toThrow(/unknown column "outcome"/);
    expect(() => run('customEvents | where tostring(customDimensions.outcom) == "completed"')).toThrow(/customDimensions\.outcom is never emitted/);
    expect(() => run('customEvents | project b = customMeasurements["byte"]')).toThrow(KqlError);
    expect(() => run('customEvents | where timestamp > ago(1d) | summarize n = count() | where m > 0', [])).toThrow(/unknown column "m"/);
    expect(() => run('traces | take 1')).toThrow(/reads table "traces"/);
    expect(() => run('customEvents | join kind=inner (customEvents) on name')).toThrow(/unsupported operator "join"/);
  });
});
