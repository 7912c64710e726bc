import picomatch from 'picomatch';
import type { TimeWindow } from '../record.js';

const HOUR_MS = 3_600_000;
const DATE_PART = /(?:^|\/)(y|m|d|h)=(\d{1,4})(?=\/|$)/g;

/**
 * The range of times a path prefix of the archive layout (`…/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`) can
 * stand for: `[startMs, endMs)`, or undefined when the path has no such parts.
 */
export function archivePathRange(path: string): { startMs: number; endMs: number } | undefined {
  const parts: number[] = [];
  for (const match of path.matchAll(DATE_PART)) {
    const [, unit, value] = match;
    const expected = ['y', 'm', 'd', 'h'][parts.length];
    if (unit !== expected) break;
    parts.push(Number(value));
  }
  const [year, month, day, hour] = parts;
  if (year === undefined) return undefined;
  if (month === undefined) return { startMs: Date.UTC(year, 0, 1), endMs: Date.UTC(year + 1, 0, 1) };
  if (day === undefined) return { startMs: Date.UTC(year, month - 1, 1), endMs: Date.UTC(year, month, 1) };
  if (hour === undefined) return { startMs: Date.UTC(year, month - 1, day), endMs: Date.UTC(year, month - 1, day + 1) };
  const startMs = Date.UTC(year, month - 1, day, hour);
  return { startMs, endMs: startMs + HOUR_MS };
}

/**
 * Whether a path of the archive layout can hold records of the window. A blob's hour is the hour its
 * records were received, never earlier than their time, so blobs from the window start's hour on hold the
 * window; one hour of margin on each side covers clock skew and late appends.
 */
export function mayHoldWindow(path: string, window: TimeWindow): boolean {
  const range = archivePathRange(path);
  if (range === undefined) return true;
  const from = Math.floor(window.startMs / HOUR_MS) * HOUR_MS - HOUR_MS;
  const to = window.endMs + HOUR_MS;
  return range.endMs > from && range.startMs <= to;
}

/** The original script's `--log-storage-path-pattern`: a glob; without a `/` it matches the file name. */
export function pathPatternMatcher(pattern: string): (path: string) => boolean {
  const isMatch = picomatch(pattern, { dot: true, basename: !pattern.includes('/') });
  return (path) => isMatch(path);
}
