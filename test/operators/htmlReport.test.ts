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
    const html = renderHtmlReport({ audit: { ...report, ...passOutcome(report) } });
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
    const html = renderHtmlReport({ audit: { ...report, ...passOutcome(report) } });
    expect(html).toContain('<span data-field="outcome">refused</span>');
    expect(html).toContain('Refused by <strong data-field="guard">too-many-deletions</strong>');
    expect(html).toMatch(/Share to delete<\/th><td>50\.0% of 6 in scope \(refused above 10%\)/);
  });

  it('says why a run that never got to a pass ended', () => {
    const html = renderHtmlReport({ audit: { outcome: 'skipped', message: 'another cleanup run holds the run lease', invocationId: 'inv-7', startedAt: NOW.toISOString() } });
    expect(html).toContain('<span data-field="outcome">skipped</span>');
    expect(html).toContain('another cleanup run holds the run lease');
    expect(html).not.toContain('id="repositories"');
  });

  it('escapes every name, tag, note and setting, and loads nothing', async () => {
    const report = hostile(await passReport());
    const html = renderHtmlReport({ audit: { ...report, ...passOutcome(report), invocationId: HOSTILE_TAG } });
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
    const html = renderHtmlReport({ audit: { ...report, outcome: 'completed', message: 'm' }, keep: many });
    expect(html.match(/<rect x="[\d.]+" y="[\d.]+" width="6" height="6"/g)).toHaveLength(MAX_POINTS_PER_SERIES);
    expect(html).toContain(`kept (4,000, ${MAX_POINTS_PER_SERIES.toLocaleString('en-US')} drawn)`);
  });

  it.skipIf(!chromiumInstalled)('renders hostile names as text in Chromium: no script runs, nothing is fetched', async () => {
    const report = hostile(await passReport());
    const html = renderHtmlReport({ audit: { ...report, ...passOutcome(report) } });
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

describe('the HTML report shows what the run learned and did', () => {
  const SIGNATURE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
  async function richReport(): Promise<PassReport> {
    const inventory = inventoryOf({
      'ci/app': [
        manifest('used'),
        manifest('unused-1', { sizeInBytes: 5_000_000 }),
        manifest('sig', { subject: digestOf('unused-1'), artifactType: SIGNATURE, mediaType: 'application/vnd.oci.image.manifest.v1+json', sizeInBytes: 300 }),
        manifest('maybe', { sizeInBytes: 2_000 }),
      ],
    });
    const pull = { time: new Date(NOW.getTime() - DAY), operationName: 'Pull', repository: 'ci/app', digest: digestOf('used'), registry: 'cicache' };
    // A record cut short that still names a digest, and one without its fields: both unusable, the digest uncertain.
    const bad = `{"time":"${new Date(NOW.getTime() - DAY).toISOString()}","operationName":"Pull","properties":{"repository":"ci/app","digest":"${digestOf('maybe')}"\n{}\n`;
    const { logDir, inventoryFile } = await writeScenario(inventory, [pull], { 'damaged/PT1H.json': bad });
    const common = ['--log-dir', logDir, '--inventory', inventoryFile, '--output', 'json', '--now', NOW.toISOString(), '--max-delete-percent', '100', '--log-max-unusable-percent', '100'];
    return (await runCli(common)).report!;
  }

  it('lists referrers under their subject with their bytes, and counts them in the repository', async () => {
    const report = await richReport();
    expect(report.delete.map((entry) => [entry.digest, entry.referrers.map((referrer) => referrer.digest)])).toEqual([[digestOf('unused-1'), [digestOf('sig')]]]);
    const html = renderHtmlReport({ audit: { ...report, ...passOutcome(report) } });
    expect(html).toContain(`<tr class="referrer" data-subject="${digestOf('unused-1')}"><td class="name">↳ referrer</td><td><code>${digestOf('sig').slice(0, 19)}…</code></td><td>${SIGNATURE}</td><td class="num" data-bytes="300">300 B</td>`);
    expect(html).toMatch(/<tr data-repository="ci\/app"><td class="name">ci\/app<\/td><td class="num">2<\/td><td class="num" data-bytes="5000300">/);
  });

  it("shows the guards' evidence: unusable records and the digests kept as uncertain", async () => {
    const report = await richReport();
    expect(report.logs.unusableRecords).toBe(2);
    const html = renderHtmlReport({ audit: { ...report, ...passOutcome(report) } });
    expect(html).toContain('<span data-field="unusable-records">2</span>');
    expect(html).toContain(`<span data-field="uncertain-digests">${report.logs.uncertainDigests}</span>`);
    expect(report.keep).toContainEqual(expect.objectContaining({ digest: digestOf('maybe'), reason: 'uncertain' }));
    expect(html).toMatch(/<tr data-reason="uncertain"><td>uncertain<\/td><td class="num">1<\/td><td class="num">2\.0 KiB<\/td><td class="why">named by a log record that could not be used as evidence<\/td><\/tr>/);
  });

  it('says why deleting stopped, and every lost answer, uncertain failure, manifest already gone and reconciled intent, escaped', async () => {
    const report = await richReport();
    const [entry] = report.delete;
    const executed: PassReport = {
      ...report,
      execution: {
        deleted: [{ ...entry!, note: `the answer was lost ${HOSTILE}; a second DELETE found it gone` }],
        alreadyGone: [{ repository: 'ci/app', digest: digestOf('gone') }],
        failed: [{ repository: 'ci/app', digest: digestOf('maybe'), error: 'timed out', uncertain: true }],
        skipped: [],
        leftForNextRun: 3,
        stoppedBy: 'lease-lost',
        stopMessage: `the run lease could not be renewed ${HOSTILE_TAG}`,
        journal: 'https://host.blob.core.windows.net/cleanup-reports/r.journal.jsonl',
        estimatedMoreRuns: 1,
        seconds: 2,
        bytesReclaimed: 5_000_300,
        deletesPerMinute: 30,
      },
      reconciliation: {
        journal: 'journal.jsonl',
        checkedAt: NOW.toISOString(),
        intents: [
          { repository: 'ci/app', digest: digestOf('x'), state: 'deleted' },
          { repository: HOSTILE, digest: digestOf('y'), state: 'unknown', error: HOSTILE_TAG },
        ],
        deleted: [entry!],
        stillPresent: 0,
        unknown: 1,
      },
    };
    const html = renderHtmlReport({ audit: { ...executed, outcome: 'failed', message: 'stopped (lease-lost)' } });
    expect(html).toContain('<strong data-field="stopped-by">lease-lost</strong>');
    expect(html).toContain('<span data-field="stop-message">the run lease could not be renewed &quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;</span>');
    expect(html).toContain('<span data-field="note">the answer was lost &lt;img src=x onerror=alert(1)&gt;; a second DELETE found it gone</span>');
    expect(html).toContain('(the DELETE may have been carried out: the next listing tells)');
    expect(html).toContain(`already gone before this run deleted it <code>ci/app@${digestOf('gone').slice(0, 19)}…</code>`);
    expect(html).toContain('<span data-field="already-gone">1</span>');
    expect(html).toContain('<p data-field="reconciliation">2 checked at');
    expect(html).toContain('<tr data-state="unknown"><td class="name">&lt;img src=x onerror=alert(1)&gt;</td>');
    expect(html).not.toContain(HOSTILE);
    expect(() => assertSelfContained(html)).not.toThrow();
  });

  it("on an interrupted run's report: who closed it, what is on record, the kept counts of its plan", async () => {
    const report = await richReport();
    const { keep: _keep, ...withoutKeep } = report;
    const html = renderHtmlReport({
      audit: {
        ...withoutKeep,
        invocationId: 'killed',
        trigger: 'timer',
        startedAt: NOW.toISOString(),
        finishedAt: null,
        outcome: 'interrupted',
        message: 'interrupted: this run stopped without finishing',
        interruption: { closedBy: 'next-run', closedAt: NOW.toISOString(), journalDeleted: report.delete, reconciliation: { journal: 'j', checkedAt: NOW.toISOString(), intents: [], deleted: [], stillPresent: 0, unknown: 0 } },
      },
    });
    expect(html).toContain('<span data-field="outcome">interrupted</span>');
    expect(html).toContain('<code data-field="closed-by">next-run</code>');
    expect(html).toContain('<span data-field="journal-deleted">1</span>');
    expect(html).toContain('<span data-field="manifests-deleted">1</span>');
    expect(html).toContain('<span data-field="bytes-reclaimed">4.8 MiB</span>');
    expect(html).toMatch(/<tr data-reason="uncertain"><td>uncertain<\/td><td class="num">1<\/td><td class="num">—<\/td>/);
    expect(html).toContain('this report does not list the kept manifests');
  });

  it('names the holder of the run lease a run stepped aside for, and the runs it closed, escaped', () => {
    const html = renderHtmlReport({
      audit: {
        outcome: 'skipped',
        message: 'another cleanup run holds the run lease',
        leaseHeldBy: { run: HOSTILE, trigger: 'preview', startedAt: NOW.toISOString(), dryRun: true, heldForSeconds: 75, report: '2026/11/27/x.json' },
        closedRuns: [{ invocationId: HOSTILE_TAG, report: 'https://host/r.json', deleted: 4, stillPresent: 1, unknown: 0 }],
      },
    });
    expect(html).toContain('<code data-field="lease-holder">&lt;img src=x onerror=alert(1)&gt;</code> (preview, a dry run)');
    expect(html).toContain(`<span data-field="lease-held-since">${NOW.toISOString()}</span>, 75 s before this run`);
    expect(html).toContain('<td><code>&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;</code></td><td class="num">4</td><td class="num">1</td>');
    expect(() => assertSelfContained(html)).not.toThrow();
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
