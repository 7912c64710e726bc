import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_POINTS_PER_SERIES } from '../../src/html/chart.js';
import { passOutcome, renderHtmlReport } from '../../src/html/report.js';
import { formatBytes, type PassReport } from '../../src/report.js';
import { chromiumInstalled, withChromium } from '../support/browser.js';
import { DAY, digestOf, inventoryOf, manifest, NOW } from '../support/builders.js';
import { assertSelfContained } from '../support/htmlTags.js';
import { runCli, writeScenario } from '../support/scenario.js';

const HOSTILE = '<img src=x onerror=alert(1)>';
const HOSTILE_TAG = '"><script>alert(2)</script>';

async function scenario() {
  const inventory = inventoryOf({
    'ci/app': [manifest('used'), manifest('unused-1', { sizeInBytes: 5_000_000 }), manifest('unused-2', { sizeInBytes: 7_000_000, tags: ['pr-1'] }), manifest('locked', { canDelete: false })],
    'ci/web': [manifest('web-unused', { sizeInBytes: 2_000_000 }), manifest('fresh', { createdOn: NOW, lastUpdatedOn: NOW })],
  });
  const pull = { time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'ci/app', digest: digestOf('used'), registry: 'cicache' };
  return writeScenario(inventory, [pull]);
}

async function passReport(args: string[] = []): Promise<PassReport> {
  const { logDir, inventoryFile } = await scenario();
  const { report } = await runCli(['--log-dir', logDir, '--inventory', inventoryFile, '--output', 'json', '--now', NOW.toISOString(), '--max-delete-percent', '100', ...args]);
  return report!;
}

/** A report whose names, tags, notes and settings come from someone who wants to run a script in the reader's browser. */
function hostile(report: PassReport): PassReport {
  return {
    ...report,
    registry: `${HOSTILE}.azurecr.io`,
    delete: report.delete.map((entry, index) => ({ ...entry, repository: index === 0 ? HOSTILE : entry.repository, tags: [HOSTILE_TAG] })),
    keep: report.keep.map((entry) => ({ ...entry, repository: HOSTILE })),
    logs: { ...report.logs, source: HOSTILE, notes: [HOSTILE_TAG] },
    settings: { ...report.settings, protectTags: `</pre>${HOSTILE}` },
  };
}

describe('the HTML report', () => {
  it('says the outcome and why, and what a dry run would reclaim per repository', async () => {
    const report = await passReport();
    const html = renderHtmlReport({ ...passOutcome(report), report });
    expect(passOutcome(report)).toEqual({ outcome: 'completed', message: `dry run: would delete 3 manifest(s), ${formatBytes(14_000_000)}` });
    expect(html).toContain('<span data-field="outcome">completed</span>');
    expect(html).toContain('<span class="badge">dry run</span>');
    expect(html).toContain('Bytes the run would reclaim, per repository');
    expect(html).toMatch(/<tr data-repository="ci\/app"><td class="name">ci\/app<\/td><td class="num">2<\/td><td class="num" data-bytes="12000000">/);
    expect(html).toContain('<span data-field="bytes-reclaimed">0 B</span>');
    expect(html).toContain(`<span data-field="planned">3 (${formatBytes(14_000_000)})</span>`);
    expect(html).toMatch(/<tr data-reason="accessed"><td>accessed<\/td><td class="num">1<\/td>/);
    expect(html).toContain(`<span data-field="newest-record">${report.logs.newestRecord}</span>`);
  });

  it('shows the guard that refused a run, with its evidence', async () => {
    const report = await passReport(['--max-delete-percent', '10']);
    const html = renderHtmlReport({ ...passOutcome(report), report });
    expect(html).toContain('<span data-field="outcome">refused</span>');
    expect(html).toContain('Refused by <strong data-field="guard">too-many-deletions</strong>');
    expect(html).toMatch(/Share to delete<\/th><td>50\.0% of 6 in scope \(refused above 10%\)/);
  });

  it('says why a run that never got to a pass ended', () => {
    const html = renderHtmlReport({ outcome: 'skipped', message: 'another cleanup run holds the run lease', run: { invocationId: 'inv-7', startedAt: NOW.toISOString() } });
    expect(html).toContain('<span data-field="outcome">skipped</span>');
    expect(html).toContain('another cleanup run holds the run lease');
    expect(html).not.toContain('id="repositories"');
  });

  it('escapes every name, tag, note and setting, and loads nothing', async () => {
    const report = hostile(await passReport());
    const html = renderHtmlReport({ ...passOutcome(report), report, run: { invocationId: HOSTILE_TAG } });
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
    expect(() => assertSelfContained(html)).not.toThrow();
  });

  it(`draws at most ${MAX_POINTS_PER_SERIES} points a series, and says so`, async () => {
    const report = await passReport();
    const many = Array.from({ length: 4000 }, (_, index) => ({ repository: 'ci/big', digest: digestOf(`k${index}`), reason: 'accessed' as const, sizeInBytes: 1000 + index, lastAccess: NOW.toISOString() }));
    const html = renderHtmlReport({ outcome: 'completed', message: 'm', report: { ...report, keep: many } });
    expect(html.match(/<rect x="[\d.]+" y="[\d.]+" width="6" height="6"/g)).toHaveLength(MAX_POINTS_PER_SERIES);
    expect(html).toContain(`kept (4,000, ${MAX_POINTS_PER_SERIES.toLocaleString('en-US')} drawn)`);
  });

  it.skipIf(!chromiumInstalled)('renders hostile names as text in Chromium: no script runs, nothing is fetched', async () => {
    const report = hostile(await passReport());
    const html = renderHtmlReport({ ...passOutcome(report), report });
    await withChromium(async (context) => {
      const page = await context.newPage();
      const dialogs: string[] = [];
      const requests: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      page.on('request', (request) => requests.push(request.url()));
      await page.setContent(html, { waitUntil: 'load' });
      expect(await page.locator('#repositories td.name').allInnerTexts()).toContain(HOSTILE);
      expect(await page.locator('body').innerText()).toContain(HOSTILE_TAG);
      expect(await page.locator('script, img, iframe, object, embed').count()).toBe(0);
      expect(dialogs).toEqual([]);
      expect(requests).toEqual([]);
    });
  });
});

describe('acr-cache-cleaner --output html', () => {
  it('writes the report to FILE and the summary to stdout, with the numbers of --output json', async () => {
    const { logDir, inventoryFile } = await scenario();
    const file = join(await mkdtemp(join(tmpdir(), 'html-report-')), 'report.html');
    const common = ['--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString(), '--max-delete-percent', '100'];
    const html = await runCli([...common, '--output', 'html', file]);
    expect(html.code).toBe(0);
    expect(html.stdout).toMatch(/^acr-cache-cleaner .* \(dry run\)/);
    expect(html.stderr).toContain(`wrote the HTML report to ${file}`);
    const json = (await runCli([...common, '--output', 'json'])).report!;
    const written = await readFile(file, 'utf8');
    expect(written).toContain(`<span data-field="planned">${json.summary.toDelete} (${formatBytes(json.summary.bytesReclaimed)})</span>`);
    for (const entry of json.delete) expect(written).toContain(entry.reason);

    const toStdout = await runCli([...common, '--output', 'html']);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout.startsWith('<!DOCTYPE html>')).toBe(true);
  });

  it('refuses a stray argument, or a file it cannot write, before planning anything', async () => {
    const { logDir, inventoryFile } = await scenario();
    const common = ['--log-dir', logDir, '--inventory', inventoryFile, '--now', NOW.toISOString()];
    const stray = await runCli([...common, '--output', 'text', 'report.html']);
    expect(stray).toMatchObject({ code: 2, stdout: '' });
    expect(stray.stderr).toContain('unexpected argument "report.html" (only --output html takes a file)');
    expect((await runCli([...common, '--output', 'html', 'a.html', 'b.html'])).stderr).toContain('unexpected argument "b.html"');
    const unwritable = await runCli([...common, '--output', 'html', '/nonexistent-folder/report.html']);
    expect(unwritable).toMatchObject({ code: 2, stdout: '' });
    expect(unwritable.stderr).toContain('cannot write the HTML report to /nonexistent-folder/report.html');
    expect(unwritable.stderr).not.toContain('reading');
  });
});
