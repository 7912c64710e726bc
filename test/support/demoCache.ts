import { generateCiCache, type CiCache } from './syntheticCache.js';

/** The CI cache that `npm run demo` seeds (36 repositories, 12 manifests each, two weeks of logs). */
export function demoCache(now: Date): CiCache {
  return generateCiCache({ seed: 2026, registry: 'cicache', now, repositories: 36, manifestsPerRepository: 12, historyDays: 14, ageDays: 45, activeShare: 0.35, multiArchShare: 0.1 });
}

/** The demo's own settings on top of the host's (see scripts/demo.ts). */
export const DEMO_SETTINGS = {
  CREDENTIAL: 'emulator',
  CACHE_HISTORY_DAYS: '7',
  CACHE_MIN_ACCESS_COUNT: '1',
  DRY_RUN: 'false',
  // ACR Standard allows one identity 500 deletes a minute; the demo's emulator lets it go four times faster.
  DELETES_PER_MINUTE: '2000',
} as const;
