import { HOUR_MS, type Policy } from './policy.js';

export type GuardReason = 'logs-missing' | 'logs-stale' | 'logs-unusable' | 'too-many-deletions' | 'logs-unavailable';

export interface GuardRefusal {
  reason: GuardReason;
  message: string;
}

export interface LogEvidence {
  /** Newest time of any record of the registry's repository events, or undefined when none was seen. */
  newestRecordMs: number | undefined;
  /** Records of any operation inside the window. */
  recordsInWindow: number;
  /** Distinct manifests with at least one counted pull or push. */
  readonly size: number;
  /** Records that could not be used as evidence (`UNUSABLE_REASONS` in accessLog/record.ts). */
  unusableRecords: number;
  /**
   * Digests named by records that could not be used (salvaged from the damaged text): each may have been
   * accessed, so a manifest with one of them is not deleted on this evidence.
   */
  uncertainDigests: ReadonlySet<string>;
  /**
   * Log files (or blobs) that could not be decoded at all, each named with why (another compression, binary,
   * corrupt gzip): how many pulls each held is unknown, so no share of them can be tolerated.
   */
  readonly undecodableFiles?: readonly string[];
}

/** Whether the logs are trustworthy enough to delete on them. */
export function checkLogs(evidence: LogEvidence, policy: Policy, now: Date): GuardRefusal | null {
  const undecodable = evidence.undecodableFiles ?? [];
  if (undecodable.length > 0) {
    return {
      reason: 'logs-unusable',
      message: `${undecodable.length} log file(s) could not be decoded, so the pulls in them would go uncounted: ${undecodable.slice(0, 5).join('; ')}${undecodable.length > 5 ? '; …' : ''}`,
    };
  }
  const unusable = checkUnusableShare(evidence, policy);
  if (unusable !== null) return unusable;
  if (evidence.recordsInWindow === 0 || evidence.newestRecordMs === undefined) {
    return {
      reason: 'logs-missing',
      message: `no log record of any kind lies in the last ${policy.historyDays} days: the diagnostic setting may be missing or pointing elsewhere, so nothing can be judged unused`,
    };
  }
  if (evidence.size === 0) {
    return {
      reason: 'logs-unusable',
      message: `${evidence.recordsInWindow} log record(s) of this registry lie in the last ${policy.historyDays} days, but not one is a successful pull or push that could be counted: the log format may have changed (a renamed operation or result value), and every manifest would look unused`,
    };
  }
  const ageHours = (now.getTime() - evidence.newestRecordMs) / HOUR_MS;
  if (ageHours > policy.logMaxStalenessHours) {
    return {
      reason: 'logs-stale',
      message: `the newest log record is from ${new Date(evidence.newestRecordMs).toISOString()}, ${ageHours.toFixed(1)} hours ago, more than the allowed ${policy.logMaxStalenessHours} hours: log delivery may have stopped`,
    };
  }
  return null;
}

/**
 * The share of records that could not be used, among the records that may be this registry's in the window:
 * `unusableRecords / (unusableRecords + recordsInWindow)` (an unusable record's time or registry may be unknown,
 * so every one counts against the registry). Each may hide an uncounted pull.
 */
export function unusableShare(evidence: Pick<LogEvidence, 'unusableRecords' | 'recordsInWindow'>): number {
  const total = evidence.unusableRecords + evidence.recordsInWindow;
  return total === 0 ? 0 : (evidence.unusableRecords / total) * 100;
}

function checkUnusableShare(evidence: LogEvidence, policy: Policy): GuardRefusal | null {
  if (evidence.unusableRecords === 0) return null;
  const percent = unusableShare(evidence);
  if (percent <= policy.logMaxUnusablePercent) return null;
  const total = evidence.unusableRecords + evidence.recordsInWindow;
  return {
    reason: 'logs-unusable',
    message: `${evidence.unusableRecords} of ${total} log records (${formatPercent(percent)} %) could not be used as evidence (malformed, truncated, missing or invalid fields, unknown encoding), more than the allowed ${policy.logMaxUnusablePercent} %: the pulls among them would go uncounted`,
  };
}

export function formatPercent(percent: number): string {
  return percent >= 1 ? percent.toFixed(1) : percent.toPrecision(2);
}

/** Whether the share of manifests that would go is believable. */
export function checkDeletionShare(candidates: number, inScope: number, policy: Policy): GuardRefusal | null {
  if (inScope === 0 || candidates === 0) return null;
  const percent = (candidates / inScope) * 100;
  if (percent > policy.maxDeletePercent) {
    return {
      reason: 'too-many-deletions',
      message: `${candidates} of ${inScope} manifests in scope (${percent.toFixed(1)} %) would be deleted, more than the allowed ${policy.maxDeletePercent} %: check that the logs cover this registry, or raise the limit for a first cleanup`,
    };
  }
  return null;
}
