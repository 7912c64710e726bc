import { RestError } from '@azure/core-rest-pipeline';
import type { AppendBlobClient, ContainerClient } from '@azure/storage-blob';
import { parseJournal, type JournalRecord, type JournalSink } from './deletion/journal.js';
import type { LeaseHolder } from './runLease.js';
import type { PassReport, ReconciliationReport } from './report.js';
import type { Redactor } from './secrets.js';

export const REPORTS_CONTAINER = 'cleanup-reports';
export const LOCK_CONTAINER = 'cleanup-lock';

export type RunOutcome = 'completed' | 'refused' | 'failed' | 'skipped' | 'interrupted';

/** A run found still `running` by a later run, which closed it: what its journal and the registry say it did. */
export interface ClosedRun {
  invocationId: string;
  report: string;
  /** Deletions its journal records as done, and those found gone on reconciliation. */
  deleted: number;
  stillPresent: number;
  unknown: number;
  /** The run had finished: only the DELETEs it could not tell the outcome of (`uncertain`) were checked. */
  finished?: true;
}

/** What the audit trail keeps of a run: the pass's report (the kept manifests only for previews) and how it ended. */
export interface AuditReport extends Partial<Omit<PassReport, 'keep'>> {
  invocationId: string;
  /** `timer` for the scheduled run and the portal's Test/Run alike (the host hands both a timer). */
  trigger: 'timer' | 'preview';
  startedAt: string;
  finishedAt: string | null;
  outcome: RunOutcome | 'running';
  message: string;
  keep?: PassReport['keep'];
  /** The preview request this dry run answers. */
  requestId?: string;
  /** The deletion journal: an append blob of JSON lines beside this report. */
  journal?: string;
  /** A run that stepped aside: who held the run lease, and since when. */
  leaseHeldBy?: LeaseHolder & { heldForSeconds: number | null };
  /** Interrupted runs this run found and closed. */
  closedRuns?: ClosedRun[];
  /** On an interrupted run's report, written by the run that closed it. */
  interruption?: {
    closedBy: string;
    closedAt: string;
    /** The deletions its journal records as done. */
    journalDeleted: PassReport['delete'];
    /** Its DELETEs without an outcome, checked against the registry. */
    reconciliation: ReconciliationReport;
  };
}

/** `cleanup-reports/YYYY/MM/DD/<time>-<invocation id>.json`. */
export function reportBlobName(startedAt: Date, invocationId: string): string {
  const iso = startedAt.toISOString();
  return `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.replace(/[:.]/g, '-')}-${invocationId}.json`;
}

/** Whether a blob in the reports container is a run's JSON report (not its journal, its HTML page or the referrer cache). */
export function isRunReportName(name: string): boolean {
  return /^\d{4}\/\d{2}\/\d{2}\/[^/]+\.json$/.test(name);
}

/** The journal beside a report: `….journal.jsonl`, then `….journal.2.jsonl` … once a part nears the block limit. */
export function journalBlobName(reportName: string, part = 1): string {
  return `${reportName.replace(/\.json$/, '')}.journal${part === 1 ? '' : `.${part}`}.jsonl`;
}

/** The HTML report beside a JSON report. */
export function htmlBlobName(reportName: string): string {
  return reportName.replace(/\.json$/, '.html');
}

/** An append blob takes at most 50,000 blocks; a part is closed a little before. */
const BLOCKS_PER_JOURNAL_PART = 49_000;
const DAY_MS = 86_400_000;

export interface ReportStoreOptions {
  redactor?: Redactor;
  /** Each storage request's own time limit. */
  timeoutMs?: number;
}

/** The audit reports and deletion journals in the host storage. */
export class ReportStore {
  constructor(
    private readonly container: ContainerClient,
    private readonly options: ReportStoreOptions = {},
  ) {}

  urlOf(name: string): string {
    return this.container.getBlobClient(name).url;
  }

  /** Writes (or overwrites) a run's report; returns its URL. With `ifMatch`, only over that version (else false). */
  async write(report: AuditReport, conditions: { ifMatch?: string } = {}): Promise<string | false> {
    await this.container.createIfNotExists({ abortSignal: this.signal() });
    const blob = this.container.getBlockBlobClient(reportBlobName(new Date(report.startedAt), report.invocationId));
    const text = this.redact(JSON.stringify(report, null, 2));
    try {
      await blob.upload(text, Buffer.byteLength(text), {
        blobHTTPHeaders: { blobContentType: 'application/json' },
        // Listed by the preview without downloading: which reports hold a dry run's plan.
        metadata: { outcome: report.outcome, trigger: report.trigger, dryrun: String(report.dryRun === true) },
        conditions,
        abortSignal: this.signal(),
      });
    } catch (error) {
      if (conditions.ifMatch !== undefined && error instanceof RestError && error.statusCode === 412) return false;
      throw error;
    }
    return blob.url;
  }

  /** Writes (or overwrites) a run's HTML report beside its JSON report (same name, `.html`); returns its URL. */
  async writeHtml(report: Pick<AuditReport, 'startedAt' | 'invocationId'>, html: string): Promise<string> {
    await this.container.createIfNotExists({ abortSignal: this.signal() });
    const blob = this.container.getBlockBlobClient(htmlBlobName(reportBlobName(new Date(report.startedAt), report.invocationId)));
    const text = this.redact(html);
    await blob.upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'text/html; charset=utf-8' }, abortSignal: this.signal() });
    return blob.url;
  }

  async read(name: string): Promise<{ report: AuditReport; etag: string } | undefined> {
    try {
      const blob = this.container.getBlobClient(name);
      const properties = await blob.getProperties({ abortSignal: this.signal() });
      const text = (await blob.downloadToBuffer(undefined, undefined, { abortSignal: this.signal(), conditions: { ifMatch: properties.etag } })).toString('utf8');
      return { report: JSON.parse(text) as AuditReport, etag: properties.etag! };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /** Where a run's journal goes: appended to as it deletes, every append acknowledged before the DELETEs it covers. */
  journalSink(reportName: string): JournalSink {
    return new AppendBlobJournalSink(this.container, (part) => this.container.getAppendBlobClient(journalBlobName(reportName, part)), this.options.timeoutMs ?? 30_000, this.redactor());
  }

  async readJournal(reportName: string): Promise<JournalRecord[]> {
    const records: JournalRecord[] = [];
    for (let part = 1; ; part++) {
      try {
        const text = (await this.container.getBlobClient(journalBlobName(reportName, part)).downloadToBuffer(undefined, undefined, { abortSignal: this.signal() })).toString('utf8');
        records.push(...parseJournal(text).records);
      } catch (error) {
        if (error instanceof RestError && error.statusCode === 404) return records;
        throw error;
      }
    }
  }

  /**
   * The newest dry run's report (a preview's or a nightly dry run's) of the last `days` days, and whether a run
   * that deleted came after it. Lists report names and their metadata day by day; downloads one report.
   */
  async newestPlan(nowMs: number, days = 8): Promise<{ name: string; report: AuditReport; deletedSince: string | null } | undefined> {
    let deletedSince: string | null = null;
    for (let day = 0; day < days; day++) {
      const prefix = reportBlobName(new Date(nowMs - day * DAY_MS), 'x').slice(0, 11);
      const blobs: { name: string; metadata: Record<string, string> }[] = [];
      for await (const blob of this.container.listBlobsFlat({ prefix, includeMetadata: true, abortSignal: this.signal() })) {
        if (blob.name.endsWith('.json')) blobs.push({ name: blob.name, metadata: blob.metadata ?? {} });
      }
      for (const blob of blobs.sort((a, b) => (a.name < b.name ? 1 : -1))) {
        const { outcome, dryrun } = blob.metadata;
        if (dryrun === 'true' && (outcome === 'completed' || outcome === 'refused')) {
          const found = await this.read(blob.name);
          if (found !== undefined) return { name: blob.name, report: found.report, deletedSince };
        }
        if (dryrun === 'false' && outcome !== 'skipped' && outcome !== 'refused') deletedSince ??= blob.name;
      }
    }
    return undefined;
  }

  private signal(): AbortSignal | undefined {
    return this.options.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.options.timeoutMs);
  }

  private redactor(): (text: string) => string {
    return (text) => this.redact(text);
  }

  private redact(text: string): string {
    return this.options.redactor?.redact(text) ?? text;
  }
}

export function auditReportOf(report: PassReport, options: { withKeep?: boolean } = {}): Omit<AuditReport, 'invocationId' | 'trigger' | 'startedAt' | 'finishedAt' | 'outcome' | 'message'> {
  const { keep, ...rest } = report;
  return options.withKeep ? { ...rest, keep } : rest;
}

/** The journal as an append blob: each append is one block (atomic); a part that nears 50,000 blocks is followed by the next. */
class AppendBlobJournalSink implements JournalSink {
  readonly location: string;
  private part = 1;
  private created = false;

  constructor(
    private readonly container: ContainerClient,
    private readonly blobOf: (part: number) => AppendBlobClient,
    private readonly timeoutMs: number,
    private readonly redact: (text: string) => string,
  ) {
    this.location = blobOf(1).url;
  }

  async append(text: string): Promise<void> {
    const blob = this.blobOf(this.part);
    if (!this.created) {
      if (this.part === 1) await this.container.createIfNotExists({ abortSignal: AbortSignal.timeout(this.timeoutMs) });
      await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'application/x-ndjson' }, abortSignal: AbortSignal.timeout(this.timeoutMs) });
      this.created = true;
    }
    const body = this.redact(text);
    const response = await blob.appendBlock(body, Buffer.byteLength(body), { abortSignal: AbortSignal.timeout(this.timeoutMs) });
    if ((response.blobCommittedBlockCount ?? 0) >= BLOCKS_PER_JOURNAL_PART) {
      this.part++;
      this.created = false;
    }
  }
}
