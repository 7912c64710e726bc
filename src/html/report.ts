import { UNUSABLE_REASONS, type SkipReason } from '../accessLog/record.js';
import { formatBytes, type DeletionEntry, type PassReport } from '../report.js';
import { accessSizeChart, chartLegend, type ChartPoint } from './chart.js';
import { esc, formatCount } from './escape.js';

export interface HtmlReportInput {
  /** completed, refused, failed, skipped (or interrupted). */
  outcome: string;
  /** Why, in a sentence. */
  message: string;
  /** The pass's report; absent when the run never got to a pass (it stepped aside, or failed first). */
  report?: PassReport;
  run?: { invocationId?: string; trigger?: string; startedAt?: string; finishedAt?: string | null; reportUrl?: string };
}

const ROWS_SHOWN = 200;
const TOP_REPOSITORIES = 10;
const KEPT_EXAMPLES = 50;

/**
 * One run as a self-contained page: inline CSS and SVG, no script, nothing loaded from anywhere (the content
 * security policy forbids it too). Every text that comes from a registry or a log is escaped.
 */
export function renderHtmlReport(input: HtmlReportInput): string {
  const { report } = input;
  const title = `acr-cache-cleaner: ${input.outcome}${report ? ` — ${report.registry} at ${report.now}` : ''}`;
  const sections = [header(input), outcomeBanner(input)];
  if (report) {
    const removed = removedEntries(report);
    sections.push(keyFigures(report, removed), repositories(report, removed), chart(report, removed), evidence(report), kept(report), deletions(report, removed), problems(report), settings(report));
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${sections.join('\n')}
<footer>acr-cache-cleaner ${esc(report?.version ?? '')} · this page loads nothing from the network; the JSON audit report beside it has every entry.</footer>
</body>
</html>
`;
}

/** How a pass ended, for a report that has no job around it (the CLI). */
export function passOutcome(report: PassReport): { outcome: string; message: string } {
  if (report.error !== null) return { outcome: 'failed', message: report.error };
  if (report.aborted !== null) return { outcome: 'refused', message: `refused (${report.aborted}): ${report.abortMessage}` };
  const execution = report.execution;
  if (execution !== null && execution.failed.length > 0) return { outcome: 'failed', message: `${execution.failed.length} deletion(s) failed, ${execution.deleted.length} succeeded` };
  if (execution === null) {
    return { outcome: 'completed', message: `${report.dryRun ? 'dry run: would delete' : 'nothing to delete:'} ${report.summary.toDelete} manifest(s), ${formatBytes(report.summary.bytesReclaimed)}` };
  }
  const left = execution.leftForNextRun > 0 ? `; ${execution.leftForNextRun} left for the next run` : '';
  return { outcome: 'completed', message: `deleted ${execution.deleted.length} manifest(s), ${formatBytes(execution.bytesReclaimed)}${left}` };
}

/** What this run removed (or, for a dry run, would remove). */
interface Removed {
  entries: DeletionEntry[];
  /** True when nothing was deleted for real: a dry run, a refusal, or a plan that stopped before deleting. */
  planned: boolean;
}

function removedEntries(report: PassReport): Removed {
  if (report.execution) return { entries: report.execution.deleted, planned: false };
  return { entries: report.delete, planned: true };
}

function header({ report, run }: HtmlReportInput): string {
  const facts: string[] = [];
  if (report) facts.push(`registry <strong>${esc(report.registry)}</strong>`, `planned at ${esc(report.now)}`);
  if (run?.startedAt) facts.push(`run started ${esc(run.startedAt)}`);
  if (run?.finishedAt) facts.push(`finished ${esc(run.finishedAt)}`);
  if (run?.trigger) facts.push(`trigger ${esc(run.trigger)}`);
  if (run?.invocationId) facts.push(`invocation <code>${esc(run.invocationId)}</code>`);
  const dry = report?.dryRun ? ' <span class="badge">dry run</span>' : '';
  return `<header><h1>acr-cache-cleaner run report${dry}</h1><p class="facts">${facts.join(' · ')}</p>${run?.reportUrl ? `<p class="facts">JSON audit report: <code>${esc(run.reportUrl)}</code></p>` : ''}</header>`;
}

function outcomeBanner({ outcome, message }: HtmlReportInput): string {
  const kind = /^(completed|refused|failed|skipped|interrupted)$/.test(outcome) ? outcome : 'other';
  return `<section class="outcome outcome-${kind}"><h2>Outcome: <span data-field="outcome">${esc(outcome)}</span></h2><p data-field="message">${esc(message)}</p></section>`;
}

function figure(label: string, value: string, field: string, note = ''): string {
  return `<div class="figure"><dt>${esc(label)}</dt><dd><span data-field="${field}">${value}</span>${note ? `<small>${note}</small>` : ''}</dd></div>`;
}

function keyFigures(report: PassReport, removed: Removed): string {
  const { summary, execution, phaseSeconds } = report;
  const reclaimed = execution?.bytesReclaimed ?? 0;
  const figures = [
    figure('Bytes reclaimed', esc(formatBytes(reclaimed)), 'bytes-reclaimed', `${formatCount(reclaimed)} bytes`),
    figure('Manifests deleted', formatCount(execution?.deleted.length ?? 0), 'manifests-deleted'),
  ];
  if (removed.planned && summary.toDelete > 0) {
    figures.push(figure(report.dryRun ? 'Would delete' : 'Planned', `${formatCount(summary.toDelete)} (${esc(formatBytes(summary.bytesReclaimed))})`, 'planned'));
  }
  figures.push(
    figure('Manifests listed', formatCount(summary.manifests), 'manifests-listed', `${formatCount(summary.inScope)} in scope`),
    figure('Kept', formatCount(report.keep.length), 'manifests-kept'),
  );
  if (execution) {
    figures.push(
      figure('Failed', formatCount(execution.failed.length), 'deletions-failed'),
      figure('Left for the next run', formatCount(execution.leftForNextRun), 'left-for-next-run', execution.stoppedBy ? `stopped by the ${esc(execution.stoppedBy)}` : ''),
    );
  }
  const phases = [
    ['reading logs', phaseSeconds?.readLogs],
    ['listing', phaseSeconds?.list],
    ['planning', phaseSeconds?.plan],
    ['deleting', phaseSeconds?.delete],
  ].filter((phase): phase is [string, number] => typeof phase[1] === 'number');
  if (phases.length > 0) {
    const total = phases.reduce((sum, [, seconds]) => sum + seconds, 0);
    figures.push(figure('Duration', `${total.toFixed(1)} s`, 'duration', phases.map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`).join(', ')));
  }
  return `<section><dl class="figures">${figures.join('')}</dl></section>`;
}

function repositories(report: PassReport, removed: Removed): string {
  const perRepository = new Map<string, { manifests: number; bytes: number }>();
  for (const entry of removed.entries) {
    const sum = perRepository.get(entry.repository) ?? { manifests: 0, bytes: 0 };
    sum.manifests++;
    sum.bytes += entry.sizeInBytes;
    perRepository.set(entry.repository, sum);
  }
  const rows = [...perRepository].sort(([a, x], [b, y]) => y.bytes - x.bytes || a.localeCompare(b));
  const heading = removed.planned ? (report.dryRun ? 'Bytes the run would reclaim, per repository' : 'Bytes planned, per repository (nothing was deleted)') : 'Bytes reclaimed per repository';
  if (rows.length === 0) return `<section><h2>${heading}</h2><p class="muted">No manifest was ${removed.planned ? 'planned for deletion' : 'deleted'}.</p></section>`;
  const largest = rows[0]![1].bytes || 1;
  const row = ([repository, sum]: [string, { manifests: number; bytes: number }]) =>
    `<tr data-repository="${esc(repository)}"><td class="name">${esc(repository)}</td><td class="num">${formatCount(sum.manifests)}</td><td class="num" data-bytes="${sum.bytes}">${esc(formatBytes(sum.bytes))}</td><td class="bar"><span style="width:${((sum.bytes / largest) * 100).toFixed(1)}%"></span></td></tr>`;
  const head = '<thead><tr><th>Repository</th><th class="num">Manifests</th><th class="num">Bytes</th><th></th></tr></thead>';
  const top = `<table id="repositories">${head}<tbody>\n${rows.slice(0, TOP_REPOSITORIES).map(row).join('\n')}\n</tbody></table>`;
  const rest = rows.slice(TOP_REPOSITORIES, ROWS_SHOWN);
  const others = rest.length > 0 ? `<details><summary>${formatCount(rows.length - TOP_REPOSITORIES)} more repositories</summary><table id="more-repositories">${head}<tbody>\n${rest.map(row).join('\n')}\n</tbody></table></details>` : '';
  const more = rows.length > ROWS_SHOWN ? `<p class="muted">${formatCount(rows.length - ROWS_SHOWN)} more repositories in the JSON report.</p>` : '';
  return `<section><h2>${heading}</h2>${top}${others}${more}</section>`;
}

function chart(report: PassReport, removed: Removed): string {
  const points: ChartPoint[] = [
    ...removed.entries.map((entry) => ({ kind: 'deleted' as const, sizeInBytes: entry.sizeInBytes, lastAccess: entry.lastAccess, label: `${entry.repository}@${entry.digest}` })),
    ...report.keep
      .filter((entry) => typeof entry.sizeInBytes === 'number')
      .map((entry) => ({ kind: 'kept' as const, sizeInBytes: entry.sizeInBytes, lastAccess: entry.lastAccess ?? null, label: `${entry.repository}@${entry.digest} (${entry.reason})` })),
  ];
  if (points.length === 0) return '';
  const windowDays = typeof report.settings.cacheHistoryDays === 'number' ? report.settings.cacheHistoryDays : 7;
  return `<section><h2>Last access against size</h2><p class="legend">${chartLegend(points)}</p><div class="chart">${accessSizeChart(points, { nowMs: Date.parse(report.now), windowDays })}</div></section>`;
}

function evidence(report: PassReport): string {
  const { logs, settings, summary } = report;
  const rows: [string, string][] = [];
  rows.push(['Log source', esc(logs.source)]);
  if (logs.newestRecord !== null) {
    const ageHours = (Date.parse(report.now) - Date.parse(logs.newestRecord)) / 3_600_000;
    const limit = typeof settings.logMaxStalenessHours === 'number' ? ` (refused beyond ${settings.logMaxStalenessHours} h)` : '';
    rows.push(['Newest record', `<span data-field="newest-record">${esc(logs.newestRecord)}</span>, ${ageHours.toFixed(1)} h before the plan${esc(limit)}`]);
  } else rows.push(['Newest record', '<span data-field="newest-record">none</span>']);
  rows.push(['Records in the window', `<span data-field="records-in-window">${formatCount(logs.recordsInWindow)}</span>`]);
  rows.push(['Lines read', `${formatCount(logs.linesRead)} in ${formatCount(logs.filesRead)} file(s)`]);
  rows.push(['Accesses counted', `${formatCount(logs.accessesCounted)} to ${formatCount(logs.distinctManifestsAccessed)} manifest(s)`]);
  const skipped = (Object.entries(logs.skipped) as [SkipReason, number][]).filter(([, count]) => count > 0);
  const unusable = (UNUSABLE_REASONS as readonly string[]).filter((reason) => (logs.skipped[reason as SkipReason] ?? 0) > 0);
  if (skipped.length > 0) {
    rows.push(['Lines skipped', skipped.map(([reason, count]) => `${esc(reason)} ${formatCount(count)}${unusable.includes(reason) ? ' <em>(unusable)</em>' : ''}`).join(', ')]);
  }
  const unusableRecords = (logs as { unusableRecords?: unknown }).unusableRecords;
  if (typeof unusableRecords === 'number') rows.push(['Unusable records', `<span data-field="unusable-records">${formatCount(unusableRecords)}</span>`]);
  if (typeof settings.maxDeletePercent === 'number' && summary.inScope > 0) {
    // A refused plan deletes nothing; what it would have deleted is still counted by reason.
    const share = report.aborted ? (summary.byReason.unused ?? 0) : summary.toDelete;
    rows.push(['Share to delete', `${((share / summary.inScope) * 100).toFixed(1)}% of ${formatCount(summary.inScope)} in scope (refused above ${settings.maxDeletePercent}%)`]);
  }
  for (const note of logs.notes) rows.push(['Note', esc(note)]);
  for (const bad of logs.badLines.slice(0, 10)) rows.push(['Bad line', `${esc(bad.reason)} at <code>${esc(bad.source)}:${bad.line}</code>${bad.detail ? ` (${esc(bad.detail)})` : ''}`]);
  const refusal = report.aborted ? `<p class="refusal">Refused by <strong data-field="guard">${esc(report.aborted)}</strong>: ${esc(report.abortMessage)}</p>` : '';
  return `<section><h2>The guards' evidence</h2>${refusal}<table class="evidence"><tbody>${rows.map(([label, value]) => `<tr><th>${esc(label)}</th><td>${value}</td></tr>`).join('')}</tbody></table></section>`;
}

function kept(report: PassReport): string {
  const byReason = new Map<string, PassReport['keep']>();
  for (const entry of report.keep) byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry]);
  if (byReason.size === 0) return '';
  const reasons = [...byReason].sort(([a, x], [b, y]) => y.length - x.length || a.localeCompare(b));
  const summary = reasons
    .map(([reason, entries]) => `<tr data-reason="${esc(reason)}"><td>${esc(reason)}</td><td class="num">${formatCount(entries.length)}</td><td class="num">${esc(formatBytes(entries.reduce((sum, entry) => sum + (entry.sizeInBytes ?? 0), 0)))}</td></tr>`)
    .join('');
  const details = reasons
    .map(([reason, entries]) => {
      const rows = entries
        .slice(0, KEPT_EXAMPLES)
        .map((entry) => `<tr><td class="name">${esc(entry.repository)}</td><td><code>${esc(shortDigest(entry.digest))}</code></td><td class="num">${esc(formatBytes(entry.sizeInBytes ?? 0))}</td><td>${esc(entry.lastAccess ?? '—')}</td></tr>`)
        .join('');
      const more = entries.length > KEPT_EXAMPLES ? `<p class="muted">and ${formatCount(entries.length - KEPT_EXAMPLES)} more</p>` : '';
      return `<details><summary>${esc(reason)} (${formatCount(entries.length)})</summary><table><thead><tr><th>Repository</th><th>Digest</th><th class="num">Size</th><th>Last access</th></tr></thead><tbody>${rows}</tbody></table>${more}</details>`;
    })
    .join('');
  return `<section><h2>Kept, by reason</h2><table id="kept"><thead><tr><th>Reason</th><th class="num">Manifests</th><th class="num">Bytes</th></tr></thead><tbody>${summary}</tbody></table>${details}</section>`;
}

function deletions(report: PassReport, removed: Removed): string {
  if (removed.entries.length === 0) return '';
  const heading = removed.planned ? (report.dryRun ? 'What the run would delete' : 'What the plan would delete') : 'What was deleted';
  const rows = removed.entries
    .slice(0, ROWS_SHOWN)
    .map(
      (entry) =>
        `<tr><td class="name">${esc(entry.repository)}</td><td><code>${esc(shortDigest(entry.digest))}</code></td><td>${esc(entry.tags.join(', ') || '—')}</td><td class="num">${esc(formatBytes(entry.sizeInBytes))}</td><td class="num">${formatCount(entry.accessCount)}</td><td>${esc(entry.lastAccess ?? 'not accessed')}</td><td class="why">${esc(entry.reason)}</td></tr>`,
    )
    .join('\n');
  const more = removed.entries.length > ROWS_SHOWN ? `<p class="muted">${formatCount(removed.entries.length - ROWS_SHOWN)} more in the JSON report.</p>` : '';
  return `<section><details><summary><h2 class="inline">${heading} (${formatCount(removed.entries.length)})</h2></summary><table id="deleted"><thead><tr><th>Repository</th><th>Digest</th><th>Tags</th><th class="num">Size</th><th class="num">Accesses</th><th>Last access</th><th>Why</th></tr></thead><tbody>\n${rows}\n</tbody></table>${more}</details></section>`;
}

function problems(report: PassReport): string {
  const execution = report.execution;
  const items: string[] = [];
  if (report.error) items.push(`<li>${esc(report.error)}</li>`);
  for (const failure of execution?.failed.slice(0, ROWS_SHOWN) ?? []) items.push(`<li>failed <code>${esc(failure.repository)}@${esc(shortDigest(failure.digest))}</code>: ${esc(failure.error)}</li>`);
  for (const skip of execution?.skipped.slice(0, ROWS_SHOWN) ?? []) items.push(`<li>kept at the last moment <code>${esc(skip.repository)}@${esc(shortDigest(skip.digest))}</code>: ${esc(skip.why)}</li>`);
  if (items.length === 0) return '';
  return `<section><h2>Failures and last-moment keeps</h2><ul>${items.join('')}</ul></section>`;
}

function settings(report: PassReport): string {
  return `<section><details><summary>Settings in effect</summary><pre>${esc(JSON.stringify(report.settings, null, 2))}</pre></details></section>`;
}

function shortDigest(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;margin:0 auto;max-width:1100px;padding:16px 24px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}
.facts{color:#555;margin:2px 0}.muted{color:#666}
.badge{font-size:12px;background:#ffe9a8;border:1px solid #d9b949;border-radius:4px;padding:1px 6px;vertical-align:middle}
.outcome{border-left:6px solid #888;background:#f4f4f4;padding:8px 14px;margin:14px 0}
.outcome h2{margin:2px 0}.outcome p{margin:4px 0}
.outcome-completed{border-color:#2e7d32;background:#edf7ee}.outcome-refused{border-color:#b26a00;background:#fff4e5}
.outcome-failed,.outcome-interrupted{border-color:#c62828;background:#fdecea}.outcome-skipped{border-color:#546e7a;background:#eef2f4}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px;margin:0}
.figure{border:1px solid #e0e0e0;border-radius:6px;padding:6px 10px}.figure dt{color:#555;font-size:12px}
.figure dd{margin:0;font-size:18px;font-weight:600}.figure small{display:block;font-size:11px;font-weight:400;color:#666}
table{border-collapse:collapse;width:100%;margin:4px 0}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#333}.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{word-break:break-all}td.why{color:#555;font-size:12px}
td.bar{width:30%}td.bar span{display:block;height:10px;background:#d55e00;border-radius:2px;min-width:1px}
table.evidence th{width:190px}.refusal{background:#fff4e5;padding:6px 10px;border-radius:4px}
.chart svg{max-width:100%;height:auto}.legend-item{margin-right:14px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:middle}.swatch.round{border-radius:50%}
details{margin:6px 0}summary{cursor:pointer}h2.inline{display:inline}pre{background:#f6f6f6;padding:8px;overflow:auto}
code{font-size:12px}footer{color:#777;font-size:12px;margin-top:28px;border-top:1px solid #eee;padding-top:8px}
`;
