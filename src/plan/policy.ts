/** The rules a plan follows; validated in src/config.ts. */
export interface Policy {
  historyDays: number;
  minAccessCount: number;
  /** Manifests created or updated within this many days are kept (`fresh`). */
  graceDays: number;
  logMaxStalenessHours: number;
  maxDeletePercent: number;
  /** At most this many deletions per run; the rest are `deferred`. Undefined: no cap. */
  maxDeletes?: number;
  repositoryFilter?: RegExp;
  protectTags?: RegExp;
}

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** The window of access history the policy counts: `[now − historyDays, now]`. */
export function historyWindow(policy: Policy, now: Date): { startMs: number; endMs: number } {
  return { startMs: now.getTime() - policy.historyDays * DAY_MS, endMs: now.getTime() };
}
