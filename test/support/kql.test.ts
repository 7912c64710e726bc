import { describe, expect, it } from 'vitest';
import { accessQuery } from '../../src/accessLog/sources/logAnalytics.js';
import { customEventsTable } from './customEventsTable.js';
import { KqlError, runKql, type KqlRow } from './kql.js';

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
const run = (query: string, from = rows) => runKql(query, { customEvents: customEventsTable(from, rows) }, { now: NOW });

describe('the mini-KQL interpreter (test support), over customEvents', () => {
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
    expect(() => run('traces | take 1')).toThrow(/'traces': failed to resolve table/);
    expect(() => run('customEvents | join kind=inner (customEvents) on name')).toThrow(/unsupported operator "join"/);
  });
});

describe('the mini-KQL interpreter (test support), over ContainerRegistryRepositoryEvents', () => {
  const at = (iso: string) => new Date(iso);
  const events = [
    { TimeGenerated: at('2026-06-09T10:00:00Z'), OperationName: 'Pull', Repository: 'CI/App', Digest: 'sha256:AA', UserAgent: 'docker/27', _ResourceId: '/subscriptions/s/registries/cicache' },
    { TimeGenerated: at('2026-06-09T11:00:00Z'), OperationName: 'Pull', Repository: 'ci/app', Digest: 'sha256:aa', UserAgent: 'Trivy/0.5', _ResourceId: '/subscriptions/s/registries/cicache' },
    { TimeGenerated: at('2026-06-09T12:00:00Z'), OperationName: 'Push', Repository: 'ci/web', Digest: 'sha256:bb', UserAgent: 'acr-cache-cleaner/0.1', _ResourceId: '/subscriptions/s/registries/other' },
    { TimeGenerated: at('2026-06-01T00:00:00Z'), OperationName: 'Delete', Repository: 'ci/old', Digest: 'sha256:cc', UserAgent: 'az', _ResourceId: '/subscriptions/s/registries/cicache' },
  ];
  const tables = { ContainerRegistryRepositoryEvents: events };

  it('reads let statements, verbatim strings, datetime literals, between, text operators, regex and union', () => {
    const query = `let recent = ContainerRegistryRepositoryEvents
| where TimeGenerated between (datetime(2026-06-09T00:00:00Z) .. datetime(2026-06-10T00:00:00Z)) and _ResourceId endswith @"/CICACHE";
recent
| where not(UserAgent matches regex "^Trivy/") and not(UserAgent startswith_cs "ACR-cache-cleaner")
| extend Repository = tolower(Repository), Digest = tolower(Digest)
| summarize AccessCount = count(), LastAccess = max(TimeGenerated) by Repository, Digest
| extend Kind = "access"
| union (recent | summarize AccessCount = count(), LastAccess = max(TimeGenerated) | extend Kind = "evidence", Repository = "", Digest = "")
| project Kind, Repository, Digest, AccessCount, LastAccess`;
    expect(runKql(query, tables)).toEqual([
      { Kind: 'access', Repository: 'ci/app', Digest: 'sha256:aa', AccessCount: 1, LastAccess: at('2026-06-09T10:00:00Z') },
      { Kind: 'evidence', Repository: '', Digest: '', AccessCount: 2, LastAccess: at('2026-06-09T11:00:00Z') },
    ]);
    expect(runKql('ContainerRegistryRepositoryEvents | where UserAgent contains "CLEANER" and UserAgent startswith_cs "acr" and not(UserAgent contains_cs "CLEANER") | project Repository', tables)).toEqual([{ Repository: 'ci/web' }]);
  });

  it("answers the Log Analytics source's own query", () => {
    const window = { startMs: Date.parse('2026-06-02T00:00:00Z'), endMs: Date.parse('2026-06-10T00:00:00Z') };
    const rows = events.map((row) => ({ ...row, ResultType: 'HttpStatusCode', ResultDescription: '200', Digest: `sha256:${row.Digest.slice(7, 9).toLowerCase().repeat(32)}` }));
    const answer = runKql(accessQuery({ window, registryName: 'cicache' }), { ContainerRegistryRepositoryEvents: rows });
    expect(answer.map((row) => [row.Kind, row.Repository, row.AccessCount])).toEqual([
      ['access', 'ci/app', 2],
      ['evidence', '', 2],
    ]);
  });

  it('rejects an operator, a function, a column or a table it does not know', () => {
    expect(() => runKql('ContainerRegistryRepositoryEvents | where Repo == "x"', tables)).toThrow(/unknown column "Repo"/);
    expect(() => runKql('ContainerRegistryRepositoryEvents | where Repository has "app"', tables)).toThrow(KqlError);
    expect(() => runKql('ContainerRegistryRepositoryEvents | where toupper(Repository) == "X"', tables)).toThrow(/unsupported function toupper/);
    expect(() => runKql('ContainerRegistryRepositoryEvents | distinct Repository', tables)).toThrow(/unsupported operator "distinct"/);
    expect(() => runKql('ContainerRegistryRepositoryEvent | take 1', tables)).toThrow(/failed to resolve table/);
    expect(() => runKql('ContainerRegistryRepositoryEvents | where TimeGenerated > ago(1d)', tables)).toThrow(/options\.now/);
  });
});
