import type { TextPattern } from '../pattern.js';

/** The rules a plan follows; validated in src/config.ts. */
export interface Policy {
  historyDays: number;
  minAccessCount: number;
  /** Manifests created or updated within this many days are kept (`fresh`). */
  graceDays: number;
  logMaxStalenessHours: number;
  /** Refuse when more than this share (percent) of the window's records could not be used (`logs-unusable`). */
  logMaxUnusablePercent: number;
  maxDeletePercent: number;
  /** At most this many deletions per run; the rest are `deferred`. Undefined: no cap. */
  maxDeletes?: number;
  repositoryFilter?: TextPattern;
  protectTags?: TextPattern;
}

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** The window of access history the policy counts: `[now − historyDays, now]`. */
export function historyWindow(policy: Policy, now: Date): { startMs: number; endMs: number } {
  return { startMs: now.getTime() - policy.historyDays * DAY_MS, endMs: now.getTime() };
}
