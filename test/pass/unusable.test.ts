import { describe, expect, it } from 'vitest';
import { AccessCounts, LogStats } from '../../src/accessLog/counts.js';
import type { AccessLogSource } from '../../src/accessLog/sources/source.js';
import { loadConfig } from '../../src/config.js';
import { runPass } from '../../src/pass.js';
import { formatReportText } from '../../src/report.js';
import { digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';

/** A log source that answers what the reader of issue 10 reports for damaged logs. */
function damagedLogs(unusable: number, usable: number): AccessLogSource {
  return {
    description: 'damaged logs',
    read: async () => {
      const counts = new AccessCounts();
      counts.sawRecord(NOW.getTime() - 3_600_000, true);
      counts.add('heartbeat', digestOf('heartbeat'), NOW.getTime() - 3_600_000);
      counts.recordsInWindow = usable;
      counts.unusableRecords = unusable;
      counts.uncertainDigests.add(digestOf('named'));
      const stats = new LogStats();
      stats.skipped['missing-fields'] = unusable - 1;
      stats.skipped['malformed-json'] = 1;
      stats.noteBadLine({ source: 'y=2026/m=11/d=26/h=10/m=00/PT1H.json', line: 17, reason: 'missing-fields', detail: 'no properties.digest' });
      stats.noteBadLine({ source: 'y=2026/m=11/d=26/h=11/m=00/PT1H.json', line: 3, reason: 'malformed-json' });
      return { counts, stats };
    },
  };
}

const inventory = inventoryOf({ app: [manifest('named'), manifest('idle')] });

async function pass(unusable: number, usable: number) {
  const config = loadConfig({ INVENTORY_FILE: 'unused.json', LOG_DIR: '.', MAX_DELETE_PERCENT: '100' });
  return runPass(config, { logs: damagedLogs(unusable, usable), inventory: { description: 'a snapshot', load: async () => inventory }, clock: () => NOW });
}

describe('a pass on logs with unusable records', () => {
  it('refuses above LOG_MAX_UNUSABLE_PERCENT, with the counts by reason and the first bad lines', async () => {
    const report = await pass(5, 995);
    expect(report.aborted).toBe('logs-unusable');
    expect(report.abortMessage).toContain('5 of 1000 log records (0.50 %)');
    expect(report.abortMessage).toContain('by reason: malformed-json 1, missing-fields 4');
    expect(report.abortMessage).toContain('first bad lines: y=2026/m=11/d=26/h=10/m=00/PT1H.json:17 (missing-fields: no properties.digest); y=2026/m=11/d=26/h=11/m=00/PT1H.json:3 (malformed-json)');
    expect(report.delete).toEqual([]);
  });

  it('below it, plans, keeps what the unusable records name, and reports them', async () => {
    const report = await pass(1, 9_999);
    expect(report.aborted).toBeNull();
    expect(report.delete.map((entry) => entry.digest)).toEqual([digestOf('idle')]);
    expect(report.keep).toContainEqual(expect.objectContaining({ repository: 'app', digest: digestOf('named'), reason: 'uncertain' }));
    expect(report.logs).toMatchObject({ unusableRecords: 1, uncertainDigests: 1 });
    expect(formatReportText(report)).toContain('unusable: 1 record(s) (0.010 %, allowed 0.1 %), 1 digest(s) kept as uncertain');
  });
});
