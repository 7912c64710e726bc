import { RestError } from '@azure/core-rest-pipeline';
import type { BlobLeaseClient, ContainerClient } from '@azure/storage-blob';
import type { PassReport } from './report.js';

export const REPORTS_CONTAINER = 'cleanup-reports';
export const LOCK_CONTAINER = 'cleanup-lock';
const LOCK_BLOB = 'cleanImageCache';
const LEASE_SECONDS = 60;

export type RunOutcome = 'completed' | 'refused' | 'failed' | 'skipped';

/** What the audit trail keeps of a run: the pass's report (without the list of kept manifests) and how it ended. */
export interface AuditReport extends Partial<Omit<PassReport, 'keep'>> {
  invocationId: string;
  /** `timer` for the scheduled run and the portal's Test/Run alike (the host hands both a timer). */
  trigger: 'timer' | 'preview';
  startedAt: string;
  finishedAt: string | null;
  outcome: RunOutcome | 'running';
  message: string;
}

/** `cleanup-reports/YYYY/MM/DD/<time>-<invocation id>.json`. */
export function reportBlobName(startedAt: Date, invocationId: string): string {
  const iso = startedAt.toISOString();
  return `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.replace(/[:.]/g, '-')}-${invocationId}.json`;
}

export class ReportStore {
  constructor(private readonly container: ContainerClient) {}

  /** Writes (or overwrites) the run's report; returns its URL. */
  async write(report: AuditReport): Promise<string> {
    await this.container.createIfNotExists();
    const blob = this.container.getBlockBlobClient(reportBlobName(new Date(report.startedAt), report.invocationId));
    const text = JSON.stringify(report, null, 2);
    await blob.upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'application/json' } });
    return blob.url;
  }

  /** Writes the run's HTML report beside its JSON report (same name, `.html`); returns its URL. */
  async writeHtml(report: Pick<AuditReport, 'startedAt' | 'invocationId'>, html: string): Promise<string> {
    await this.container.createIfNotExists();
    const blob = this.container.getBlockBlobClient(reportBlobName(new Date(report.startedAt), report.invocationId).replace(/\.json$/, '.html'));
    await blob.upload(html, Buffer.byteLength(html), { blobHTTPHeaders: { blobContentType: 'text/html; charset=utf-8' } });
    return blob.url;
  }
}

export function auditReportOf(report: PassReport): Omit<PassReport, 'keep'> {
  const { keep: _keep, ...rest } = report;
  return rest;
}

/**
 * One run at a time. A manual run (portal Test/Run) does not take the timer's own lock, so the pass takes
 * a blob lease in the host storage, renews it while it runs and releases it at the end.
 */
export class RunLease {
  private renewal: NodeJS.Timeout | undefined;
  lost = false;

  private constructor(
    private readonly lease: BlobLeaseClient,
    private readonly log: (message: string) => void,
  ) {}

  /** The lease, or undefined when another run holds it. */
  static async acquire(container: ContainerClient, log: (message: string) => void, leaseSeconds = LEASE_SECONDS): Promise<RunLease | undefined> {
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient(LOCK_BLOB);
    try {
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      if (!(error instanceof RestError) || (error.statusCode !== 409 && error.statusCode !== 412)) throw error;
    }
    const lease = blob.getBlobLeaseClient();
    try {
      await lease.acquireLease(leaseSeconds);
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return undefined;
      throw error;
    }
    const held = new RunLease(lease, log);
    held.renewal = setInterval(() => void held.renew(), (leaseSeconds * 1000) / 3);
    held.renewal.unref();
    return held;
  }

  private async renew(): Promise<void> {
    try {
      await this.lease.renewLease();
    } catch (error) {
      this.lost = true;
      this.log(`warning: renewing the run lease failed (${(error as Error).message}); another run may start`);
    }
  }

  async release(): Promise<void> {
    clearInterval(this.renewal);
    try {
      await this.lease.releaseLease();
    } catch (error) {
      this.log(`warning: releasing the run lease failed (${(error as Error).message}); it expires by itself within ${LEASE_SECONDS} s`);
    }
  }
}
