import { UNUSABLE_REASONS, type SkipReason } from '../accessLog/record.js';
import type { AuditReport } from '../audit.js';
import { formatPercent, unusableShare } from '../plan/guards.js';
import { formatBytes, type DeletionEntry, type PassReport } from '../report.js';
import { accessSizeChart, chartLegend, MAX_POINTS_PER_SERIES, type ChartPoint } from './chart.js';
import { esc, formatCount } from './escape.js';

/** A run's audit report, or a CLI pass with how it ended: what the page shows. Every pass field may be absent. */
export type HtmlReportDocument = Partial<Omit<AuditReport, 'outcome' | 'trigger'>> & {
  /** completed, refused, failed, skipped, interrupted or running. */
  outcome: string;
  /** Why, in a sentence. */
  message: string;
  trigger?: string;
  /** Where the JSON report is, when known. */
  reportUrl?: string;
};

export interface HtmlReportInput {
  audit: HtmlReportDocument;
  /** Every kept manifest, when known (an audit report lists them only for previews). */
  keep?: PassReport['keep'];
}

const ROWS_SHOWN = 200;
const TOP_REPOSITORIES = 10;
const KEPT_EXAMPLES = 50;
/** Kept manifests looked at for the chart: a stride through the list, so a huge registry costs no more. */
const CHART_CANDIDATES = 8 * MAX_POINTS_PER_SERIES;

const KEEP_REASON_MEANING: Record<string, string> = {
  'out-of-scope': 'its repository does not match REPOSITORY_FILTER',
  locked: 'deleting or writing it is disabled',
  protected: 'a tag matches PROTECT_TAGS',
  accessed: 'pulled or pushed at least CACHE_MIN_ACCESS_COUNT times in the window',
  fresh: 'created or updated within the grace period',
  uncertain: 'named by a log record that could not be used as evidence',
  referenced: 'needed by a kept index or subject, or in an index order that cannot be deleted safely',
  deferred: 'beyond MAX_DELETES for this run',
};

/** A pass report (its `keep` left out) as the page reads it. */
type Pass = Omit<PassReport, 'keep'> & Partial<Pick<PassReport, 'keep'>>;

/**
 * One run as a self-contained page: inline CSS and SVG, no script, nothing loaded from anywhere (the content
 * security policy forbids it too). Every text that comes from a registry, a log or a message is escaped.
 */
export function renderHtmlReport({ audit, keep }: HtmlReportInput): string {
  const pass = passOf(audit, keep);
  const title = `acr-cache-cleaner: ${audit.outcome}${pass ? ` — ${pass.registry} at ${pass.now}` : ''}`;
  const sections = [header(audit, pass), outcomeBanner(audit), leaseHolder(audit), interruption(audit), closedRuns(audit)];
  if (pass) {
    const removed = removedEntries(audit, pass);
    const kept = keptOf(pass);
    sections.push(
      keyFigures(pass, removed, kept),
      stopped(pass),
      repositories(pass, removed),
      chart(pass, removed),
      evidence(pass),
      keptByReason(pass, kept),
      deletions(pass, removed),
      problems(pass),
      reconciliation('An earlier run’s unanswered deletions, checked by this run', pass.reconciliation),
      settings(pass),
    );
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
${sections.filter((section) => section !== '').join('\n')}
<footer>acr-cache-cleaner ${esc(audit.version ?? '')} · this page loads nothing from the network; the JSON audit report beside it has every entry.</footer>
</body>
</html>
`;
}

/** How a pass ended, for a report that has no job around it (the CLI). */
export function passOutcome(report: PassReport): { outcome: string; message: string } {
  if (report.error !== null) return { outcome: 'failed', message: report.error };
  if (report.aborted !== null) return { outcome: 'refused', message: `refused (${report.aborted}): ${report.abortMessage}` };
  const execution = report.execution;
  const stopped = execution?.stoppedBy ? `; stopped (${execution.stoppedBy}): ${execution.stopMessage}` : '';
  if (execution !== null && (execution.failed.length > 0 || execution.stoppedBy === 'journal-failed' || execution.stoppedBy === 'permission-denied')) {
    return { outcome: 'failed', message: `${execution.failed.length} deletion(s) failed, ${execution.deleted.length} succeeded${stopped}` };
  }
  if (execution === null) {
    return { outcome: 'completed', message: `${report.dryRun ? 'dry run: would delete' : 'nothing to delete:'} ${report.summary.toDelete} manifest(s), ${formatBytes(report.summary.bytesReclaimed)}` };
  }
  const left = execution.leftForNextRun > 0 ? `; ${execution.leftForNextRun} left for the next run` : '';
  return { outcome: 'completed', message: `deleted ${execution.deleted.length} manifest(s), ${formatBytes(execution.bytesReclaimed)}${stopped}${left}` };
}

/** The pass part of a document, when the run got to a plan (or failed on the way with what it learned). */
function passOf(audit: HtmlReportDocument, keep: PassReport['keep'] | undefined): Pass | undefined {
  if (audit.summary === undefined || audit.logs === undefined) return undefined;
  return { ...(audit as Pass), keep: keep ?? audit.keep };
}

/** What this run removed (or, for a dry run or a refusal, would have removed). */
interface Removed {
  entries: DeletionEntry[];
  /** True when nothing was deleted for real: a dry run, a refusal, or a plan that stopped before deleting. */
  planned: boolean;
  bytes: number;
}

function removedEntries(audit: HtmlReportDocument, pass: Pass): Removed {
  if (audit.interruption) {
    const entries = [...audit.interruption.journalDeleted, ...audit.interruption.reconciliation.deleted];
    return { entries, planned: false, bytes: entries.reduce((sum, entry) => sum + entryBytes(entry), 0) };
  }
  if (pass.execution) return { entries: pass.execution.deleted, planned: false, bytes: pass.execution.bytesReclaimed };
  return { entries: pass.delete, planned: true, bytes: pass.summary.bytesReclaimed };
}

/** A deleted manifest's bytes with those of the referrers the registry deletes with it. */
function entryBytes(entry: DeletionEntry): number {
  return (entry.referrers ?? []).reduce((sum, referrer) => sum + referrer.sizeInBytes, entry.sizeInBytes);
}

/** Kept manifests per reason: the list when known, else the plan's counts. */
interface Kept {
  counts: [reason: string, count: number][];
  byReason?: Map<string, PassReport['keep']>;
  total: number;
}

function keptOf(pass: Pass): Kept {
  if (pass.keep !== undefined) {
    const byReason = new Map<string, PassReport['keep']>();
    for (const entry of pass.keep) {
      const list = byReason.get(entry.reason);
      if (list === undefined) byReason.set(entry.reason, [entry]);
      else list.push(entry);
    }
    const counts = [...byReason].map(([reason, entries]): [string, number] => [reason, entries.length]);
    return { counts: sortCounts(counts), byReason, total: pass.keep.length };
  }
  const counts = Object.entries(pass.summary.byReason).filter(([reason]) => reason !== 'unused');
  return { counts: sortCounts(counts), total: counts.reduce((sum, [, count]) => sum + count, 0) };
}

function sortCounts(counts: [string, number][]): [string, number][] {
  return counts.sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
}

function header(audit: HtmlReportDocument, pass: Pass | undefined): string {
  const facts: string[] = [];
  if (pass) facts.push(`registry <strong>${esc(pass.registry)}</strong>`, `planned at ${esc(pass.now)}`);
  if (audit.startedAt) facts.push(`run started ${esc(audit.startedAt)}`);
  if (audit.finishedAt) facts.push(`finished ${esc(audit.finishedAt)}`);
  if (audit.trigger) facts.push(`trigger ${esc(audit.trigger)}`);
  if (audit.invocationId) facts.push(`invocation <code>${esc(audit.invocationId)}</code>`);
  if (audit.requestId) facts.push(`preview request <code>${esc(audit.requestId)}</code>`);
  const dry = pass?.dryRun ? ' <span class="badge">dry run</span>' : '';
  const json = audit.reportUrl ? `<p class="facts">JSON audit report: <code>${esc(audit.reportUrl)}</code></p>` : '';
  return `<header><h1>acr-cache-cleaner run report${dry}</h1><p class="facts">${facts.join(' · ')}</p>${json}</header>`;
}

function outcomeBanner({ outcome, message }: HtmlReportDocument): string {
  const kind = /^(completed|refused|failed|skipped|interrupted|running)$/.test(outcome) ? outcome : 'other';
  return `<section class="outcome outcome-${kind}"><h2>Outcome: <span data-field="outcome">${esc(outcome)}</span></h2><p data-field="message">${esc(message)}</p></section>`;
}

/** A run that stepped aside: who held the run lease, since when. */
function leaseHolder({ leaseHeldBy }: HtmlReportDocument): string {
  if (!leaseHeldBy) return '';
  const rows: [string, string][] = [
    ['Held by run', `<code data-field="lease-holder">${esc(leaseHeldBy.run)}</code> (${esc(leaseHeldBy.trigger)}${leaseHeldBy.dryRun ? ', a dry run' : ''})`],
    ['Since', `<span data-field="lease-held-since">${esc(leaseHeldBy.startedAt)}</span>${leaseHeldBy.heldForSeconds === null ? '' : `, ${formatCount(leaseHeldBy.heldForSeconds)} s before this run`}`],
  ];
  if (leaseHeldBy.report) rows.push(['Its report', `<code>${esc(leaseHeldBy.report)}</code>`]);
  return `<section><h2>The run lease was held</h2>${table(rows)}</section>`;
}

/** On an interrupted run's report: who closed it, what its journal and the registry say it deleted. */
function interruption({ interruption }: HtmlReportDocument): string {
  if (!interruption) return '';
  const rows: [string, string][] = [
    ['Closed by run', `<code data-field="closed-by">${esc(interruption.closedBy)}</code> at ${esc(interruption.closedAt)}`],
    ['Deletions on record', `<span data-field="journal-deleted">${formatCount(interruption.journalDeleted.length)}</span> in its journal`],
  ];
  return `<section><h2>This run was interrupted</h2>${table(rows)}${reconciliation('Its DELETEs without an answer, checked against the registry', interruption.reconciliation)}</section>`;
}

function reconciliation(heading: string, report: PassReport['reconciliation']): string {
  if (!report) return '';
  const rows = report.intents
    .slice(0, ROWS_SHOWN)
    .map((intent) => `<tr data-state="${esc(intent.state)}"><td class="name">${esc(intent.repository)}</td><td><code>${esc(shortDigest(intent.digest))}</code></td><td>${esc(intent.state)}</td><td>${esc(intent.error ?? '')}</td></tr>`)
    .join('');
  const summary = `<p data-field="reconciliation">${formatCount(report.intents.length)} checked at ${esc(report.checkedAt)}: ${formatCount(report.deleted.length)} deleted, ${formatCount(report.stillPresent)} still present, ${formatCount(report.unknown)} unknown (journal <code>${esc(report.journal)}</code>)</p>`;
  const more = report.intents.length > ROWS_SHOWN ? `<p class="muted">${formatCount(report.intents.length - ROWS_SHOWN)} more in the JSON report.</p>` : '';
  return `<section><h3>${esc(heading)}</h3>${summary}${rows ? `<table><thead><tr><th>Repository</th><th>Digest</th><th>Now</th><th>Error</th></tr></thead><tbody>${rows}</tbody></table>` : ''}${more}</section>`;
}

/** On the report of the run that closed earlier, interrupted runs. */
function closedRuns({ closedRuns: runs }: HtmlReportDocument): string {
  if (!runs || runs.length === 0) return '';
  const rows = runs
    .map((run) => `<tr><td><code>${esc(run.invocationId)}</code></td><td class="num">${formatCount(run.deleted)}</td><td class="num">${formatCount(run.stillPresent)}</td><td class="num">${formatCount(run.unknown)}</td><td class="name"><code>${esc(run.report)}</code></td></tr>`)
    .join('');
  return `<section><h2>Interrupted runs this run closed</h2><table id="closed-runs"><thead><tr><th>Run</th><th class="num">Deleted</th><th class="num">Still present</th><th class="num">Unknown</th><th>Its report</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function figure(label: string, value: string, field: string, note = ''): string {
  return `<div class="figure"><dt>${esc(label)}</dt><dd><span data-field="${field}">${value}</span>${note ? `<small>${note}</small>` : ''}</dd></div>`;
}

function keyFigures(pass: Pass, removed: Removed, kept: Kept): string {
  const { summary, execution, phaseSeconds } = pass;
  const reclaimed = removed.planned ? 0 : removed.bytes;
  const figures = [
    figure('Bytes reclaimed', esc(formatBytes(reclaimed)), 'bytes-reclaimed', `${formatCount(reclaimed)} bytes`),
    figure('Manifests deleted', formatCount(removed.planned ? 0 : removed.entries.length), 'manifests-deleted'),
  ];
  if (removed.planned && summary.toDelete > 0) {
    figures.push(figure(pass.dryRun ? 'Would delete' : 'Planned', `${formatCount(summary.toDelete)} (${esc(formatBytes(summary.bytesReclaimed))})`, 'planned'));
  }
  const referrers = summary.referrersWithSubjects ?? 0;
  figures.push(
    figure('Manifests listed', formatCount(summary.manifests), 'manifests-listed', `${formatCount(summary.inScope)} in scope${referrers > 0 ? `; ${formatCount(referrers)} referrer(s) go with their subjects` : ''}`),
    figure('Kept', formatCount(kept.total), 'manifests-kept'),
  );
  if (execution) {
    const uncertain = execution.failed.filter((failure) => failure.uncertain).length;
    figures.push(
      figure('Failed', formatCount(execution.failed.length), 'deletions-failed', uncertain > 0 ? `${formatCount(uncertain)} may have been carried out` : ''),
      figure('Already gone', formatCount(execution.alreadyGone.length), 'already-gone'),
      figure('Left for the next run', formatCount(execution.leftForNextRun), 'left-for-next-run', execution.leftForNextRun > 0 ? `about ${formatCount(execution.estimatedMoreRuns)} more run(s)` : ''),
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

/** Why deleting stopped before the plan was done, and where the journal is. */
function stopped({ execution }: Pass): string {
  if (!execution || (execution.stoppedBy === null && execution.journal === null)) return '';
  const rows: [string, string][] = [];
  if (execution.stoppedBy !== null) {
    rows.push(['Stopped by', `<strong data-field="stopped-by">${esc(execution.stoppedBy)}</strong>`], ['What happened', `<span data-field="stop-message">${esc(execution.stopMessage ?? '')}</span>`]);
  }
  if (execution.journal !== null) rows.push(['Deletion journal', `<code>${esc(execution.journal)}</code>`]);
  return `<section><h2>${execution.stoppedBy !== null ? 'Deleting stopped early' : 'Deleting'}</h2>${table(rows)}</section>`;
}

function repositories(pass: Pass, removed: Removed): string {
  const perRepository = new Map<string, { manifests: number; bytes: number }>();
  for (const entry of removed.entries) {
    const sum = perRepository.get(entry.repository) ?? { manifests: 0, bytes: 0 };
    sum.manifests += 1 + (entry.referrers?.length ?? 0);
    sum.bytes += entryBytes(entry);
    perRepository.set(entry.repository, sum);
  }
  const rows = [...perRepository].sort(([a, x], [b, y]) => y.bytes - x.bytes || a.localeCompare(b));
  const heading = removed.planned ? (pass.dryRun ? 'Bytes the run would reclaim, per repository' : 'Bytes planned, per repository (nothing was deleted)') : 'Bytes reclaimed per repository';
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

function chart(pass: Pass, removed: Removed): string {
  const keptList = pass.keep ?? [];
  const points: ChartPoint[] = [
    ...stride(removed.entries, CHART_CANDIDATES).map((entry) => ({ kind: 'deleted' as const, sizeInBytes: entry.sizeInBytes, lastAccess: entry.lastAccess, label: `${entry.repository}@${entry.digest}` })),
    ...stride(keptList, CHART_CANDIDATES)
      .filter((entry) => typeof entry.sizeInBytes === 'number')
      .map((entry) => ({ kind: 'kept' as const, sizeInBytes: entry.sizeInBytes, lastAccess: entry.lastAccess ?? null, label: `${entry.repository}@${entry.digest} (${entry.reason})` })),
  ];
  if (points.length === 0) return '';
  const windowDays = typeof pass.settings.cacheHistoryDays === 'number' ? pass.settings.cacheHistoryDays : 7;
  const legend = chartLegend({ deleted: removed.entries.length, kept: keptList.length });
  return `<section><h2>Last access against size</h2><p class="legend">${legend}</p><div class="chart">${accessSizeChart(points, { nowMs: Date.parse(pass.now), windowDays })}</div></section>`;
}

/** At most about `limit` items, evenly through the list. */
function stride<T>(items: readonly T[], limit: number): readonly T[] {
  if (items.length <= limit) return items;
  const step = Math.ceil(items.length / limit);
  return items.filter((_, index) => index % step === 0);
}

function evidence(pass: Pass): string {
  const { logs, settings, summary } = pass;
  const rows: [string, string][] = [];
  rows.push(['Log source', esc(logs.source)]);
  if (logs.newestRecord !== null) {
    const ageHours = (Date.parse(pass.now) - Date.parse(logs.newestRecord)) / 3_600_000;
    const limit = typeof settings.logMaxStalenessHours === 'number' ? ` (refused beyond ${settings.logMaxStalenessHours} h)` : '';
    rows.push(['Newest record', `<span data-field="newest-record">${esc(logs.newestRecord)}</span>, ${ageHours.toFixed(1)} h before the plan${esc(limit)}`]);
  } else rows.push(['Newest record', '<span data-field="newest-record">none</span>']);
  rows.push(['Records in the window', `<span data-field="records-in-window">${formatCount(logs.recordsInWindow)}</span>`]);
  rows.push(['Lines read', `${formatCount(logs.linesRead)} in ${formatCount(logs.filesRead)} file(s)`]);
  rows.push(['Accesses counted', `${formatCount(logs.accessesCounted)} to ${formatCount(logs.distinctManifestsAccessed)} manifest(s)`]);
  const unusable = new Set<string>(UNUSABLE_REASONS);
  const skipped = (Object.entries(logs.skipped) as [SkipReason, number][]).filter(([, count]) => count > 0);
  if (skipped.length > 0) {
    rows.push(['Lines skipped', skipped.map(([reason, count]) => `${esc(reason)} ${formatCount(count)}${unusable.has(reason) ? ' <em>(unusable)</em>' : ''}`).join(', ')]);
  }
  if (typeof logs.unusableRecords === 'number') {
    const share = formatPercent(unusableShare({ unusableRecords: logs.unusableRecords, recordsInWindow: logs.recordsInWindow }));
    const limit = typeof settings.logMaxUnusablePercent === 'number' ? ` (refused above ${settings.logMaxUnusablePercent}%)` : '';
    rows.push(['Unusable records', `<span data-field="unusable-records">${formatCount(logs.unusableRecords)}</span>, ${esc(share)}% of the records${esc(limit)}`]);
    rows.push(['Digests kept as uncertain', `<span data-field="uncertain-digests">${formatCount(logs.uncertainDigests ?? 0)}</span> (named by unusable records)`]);
  }
  if (typeof settings.maxDeletePercent === 'number' && summary.inScope > 0) {
    // A refused plan deletes nothing; what it would have deleted is still counted by reason.
    const share = pass.aborted ? (summary.byReason.unused ?? 0) : summary.toDelete;
    rows.push(['Share to delete', `${((share / summary.inScope) * 100).toFixed(1)}% of ${formatCount(summary.inScope)} in scope (refused above ${settings.maxDeletePercent}%)`]);
  }
  for (const note of logs.notes) rows.push(['Note', esc(note)]);
  for (const bad of logs.badLines.slice(0, 10)) rows.push(['Bad line', `${esc(bad.reason)} at <code>${esc(bad.source)}:${esc(bad.line)}</code>${bad.detail ? ` (${esc(bad.detail)})` : ''}`]);
  const refusal = pass.aborted ? `<p class="refusal">Refused by <strong data-field="guard">${esc(pass.aborted)}</strong>: ${esc(pass.abortMessage)}</p>` : '';
  return `<section><h2>The guards' evidence</h2>${refusal}<table class="evidence"><tbody>${rows.map(([label, value]) => `<tr><th>${esc(label)}</th><td>${value}</td></tr>`).join('')}</tbody></table></section>`;
}

function keptByReason(pass: Pass, kept: Kept): string {
  if (kept.counts.length === 0) return '';
  const bytesOf = (reason: string) => {
    const entries = kept.byReason?.get(reason);
    return entries === undefined ? '—' : esc(formatBytes(entries.reduce((sum, entry) => sum + (entry.sizeInBytes ?? 0), 0)));
  };
  const summary = kept.counts
    .map(([reason, count]) => `<tr data-reason="${esc(reason)}"><td>${esc(reason)}</td><td class="num">${formatCount(count)}</td><td class="num">${bytesOf(reason)}</td><td class="why">${esc(KEEP_REASON_MEANING[reason] ?? '')}</td></tr>`)
    .join('');
  const details = kept.counts
    .map(([reason, count]) => {
      const entries = kept.byReason?.get(reason);
      if (entries === undefined) return '';
      const rows = entries
        .slice(0, KEPT_EXAMPLES)
        .map((entry) => `<tr><td class="name">${esc(entry.repository)}</td><td><code>${esc(shortDigest(entry.digest))}</code></td><td class="num">${esc(formatBytes(entry.sizeInBytes ?? 0))}</td><td>${esc(entry.lastAccess ?? '—')}</td></tr>`)
        .join('');
      const more = count > KEPT_EXAMPLES ? `<p class="muted">and ${formatCount(count - KEPT_EXAMPLES)} more</p>` : '';
      return `<details><summary>${esc(reason)} (${formatCount(count)})</summary><table><thead><tr><th>Repository</th><th>Digest</th><th class="num">Size</th><th>Last access</th></tr></thead><tbody>${rows}</tbody></table>${more}</details>`;
    })
    .join('');
  const listed = kept.byReason === undefined ? '<p class="muted">The counts of the plan; this report does not list the kept manifests.</p>' : '';
  return `<section><h2>Kept, by reason</h2><table id="kept"><thead><tr><th>Reason</th><th class="num">Manifests</th><th class="num">Bytes</th><th>Why</th></tr></thead><tbody>${summary}</tbody></table>${listed}${details}</section>`;
}

function deletions(pass: Pass, removed: Removed): string {
  if (removed.entries.length === 0) return '';
  const heading = removed.planned ? (pass.dryRun ? 'What the run would delete' : 'What the plan would delete') : 'What was deleted';
  const rows = removed.entries
    .slice(0, ROWS_SHOWN)
    .map((entry) => {
      const main = `<tr><td class="name">${esc(entry.repository)}</td><td><code>${esc(shortDigest(entry.digest))}</code></td><td>${esc(entry.tags.join(', ') || '—')}</td><td class="num">${esc(formatBytes(entry.sizeInBytes))}</td><td class="num">${formatCount(entry.accessCount)}</td><td>${esc(entry.lastAccess ?? 'not accessed')}</td><td class="why">${esc(entry.reason)}${entry.note ? `<br><strong>note:</strong> <span data-field="note">${esc(entry.note)}</span>` : ''}</td></tr>`;
      const referrers = (entry.referrers ?? []).map(
        (referrer) =>
          `<tr class="referrer" data-subject="${esc(entry.digest)}"><td class="name">↳ referrer</td><td><code>${esc(shortDigest(referrer.digest))}</code></td><td>${esc(referrer.artifactType ?? '—')}</td><td class="num" data-bytes="${referrer.sizeInBytes}">${esc(formatBytes(referrer.sizeInBytes))}</td><td></td><td></td><td class="why">deleted by the registry with its subject</td></tr>`,
      );
      return [main, ...referrers].join('\n');
    })
    .join('\n');
  const more = removed.entries.length > ROWS_SHOWN ? `<p class="muted">${formatCount(removed.entries.length - ROWS_SHOWN)} more in the JSON report.</p>` : '';
  return `<section><details><summary><h2 class="inline">${heading} (${formatCount(removed.entries.length)})</h2></summary><table id="deleted"><thead><tr><th>Repository</th><th>Digest</th><th>Tags / type</th><th class="num">Size</th><th class="num">Accesses</th><th>Last access</th><th>Why</th></tr></thead><tbody>\n${rows}\n</tbody></table>${more}</details></section>`;
}

function problems(pass: Pass): string {
  const execution = pass.execution;
  const items: string[] = [];
  if (pass.error) items.push(`<li>${esc(pass.error)}</li>`);
  for (const failure of execution?.failed.slice(0, ROWS_SHOWN) ?? []) {
    items.push(`<li>failed <code>${esc(failure.repository)}@${esc(shortDigest(failure.digest))}</code>: ${esc(failure.error)}${failure.uncertain ? ' <em>(the DELETE may have been carried out: the next listing tells)</em>' : ''}</li>`);
  }
  for (const skip of execution?.skipped.slice(0, ROWS_SHOWN) ?? []) items.push(`<li>kept at the last moment <code>${esc(skip.repository)}@${esc(shortDigest(skip.digest))}</code>: ${esc(skip.why)}</li>`);
  for (const gone of execution?.alreadyGone.slice(0, ROWS_SHOWN) ?? []) items.push(`<li>already gone before this run deleted it <code>${esc(gone.repository)}@${esc(shortDigest(gone.digest))}</code></li>`);
  if (items.length === 0) return '';
  return `<section><h2>Failures, last-moment keeps, manifests already gone</h2><ul>${items.join('')}</ul></section>`;
}

function settings(pass: Pass): string {
  return `<section><details><summary>Settings in effect</summary><pre>${esc(JSON.stringify(pass.settings, null, 2))}</pre></details></section>`;
}

function table(rows: [string, string][]): string {
  return `<table class="evidence"><tbody>${rows.map(([label, value]) => `<tr><th>${esc(label)}</th><td>${value}</td></tr>`).join('')}</tbody></table>`;
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
.outcome-failed,.outcome-interrupted{border-color:#c62828;background:#fdecea}.outcome-skipped,.outcome-running{border-color:#546e7a;background:#eef2f4}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px;margin:0}
.figure{border:1px solid #e0e0e0;border-radius:6px;padding:6px 10px}.figure dt{color:#555;font-size:12px}
.figure dd{margin:0;font-size:18px;font-weight:600}.figure small{display:block;font-size:11px;font-weight:400;color:#666}
table{border-collapse:collapse;width:100%;margin:4px 0}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#333}.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{word-break:break-all}td.why{color:#555;font-size:12px}tr.referrer td{color:#555;font-size:12px;border-bottom-style:dashed}h3{font-size:15px;margin:14px 0 6px}
td.bar{width:30%}td.bar span{display:block;height:10px;background:#d55e00;border-radius:2px;min-width:1px}
table.evidence th{width:190px}.refusal{background:#fff4e5;padding:6px 10px;border-radius:4px}
.chart svg{max-width:100%;height:auto}.legend-item{margin-right:14px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;vertical-align:middle}.swatch.round{border-radius:50%}
details{margin:6px 0}summary{cursor:pointer}h2.inline{display:inline}pre{background:#f6f6f6;padding:8px;overflow:auto}
code{font-size:12px}footer{color:#777;font-size:12px;margin-top:28px;border-top:1px solid #eee;padding-top:8px}
`;
