import type { TextPattern } from '../pattern.js';
import { extractFields, MalformedRecordError, type RecordFields } from './fields.js';

export const REPOSITORY_EVENTS_CATEGORY = 'ContainerRegistryRepositoryEvents';
/** Sent as this tool's user-agent prefix; its own manifest reads are never counted as accesses. */
export const OWN_USER_AGENT_PREFIX = 'acr-cache-cleaner/';

export const SKIP_REASONS = [
  'malformed-json',
  'truncated-line',
  'incomplete-last-line',
  'oversized-line',
  'unreadable-data',
  'bad-time',
  'future-time',
  'other-category',
  'other-registry',
  'not-pull-or-push',
  'unsuccessful',
  'outside-window',
  'missing-fields',
  'own-user-agent',
  'ignored-user-agent',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/**
 * Records the pass could not use as evidence: each may hide a pull that then goes uncounted, so their share
 * is guarded (`logs-unusable`). `incomplete-last-line` (the newest blob's last line, still being appended) is
 * normal and not among them.
 */
export const UNUSABLE_REASONS = [
  'malformed-json',
  'truncated-line',
  'oversized-line',
  'unreadable-data',
  'bad-time',
  'future-time',
  'missing-fields',
] as const satisfies readonly SkipReason[];

/** `[start, end]` in epoch milliseconds; a record exactly at `start` is inside. */
export interface TimeWindow {
  startMs: number;
  endMs: number;
}

export interface RecordFilter {
  window: TimeWindow;
  ignoreUserAgents?: TextPattern;
  /** Lower-case registry name (`myregistry`); records of other registries are skipped. */
  registryName?: string;
}

export interface Access {
  repository: string;
  digest: string;
  timeMs: number;
}

export type Classified =
  | { kind: 'access'; access: Access; timeMs: number }
  | { kind: 'skipped'; reason: SkipReason; timeMs?: number; detail?: string };

const NIL = '<nil>';

/** Decides whether one record text is a successful pull or push of a manifest inside the window. */
export function classifyRecord(text: string, filter: RecordFilter, unterminated = false): Classified {
  let fields: RecordFields;
  try {
    fields = extractFields(text);
  } catch (error) {
    if (!(error instanceof MalformedRecordError)) throw error;
    return { kind: 'skipped', reason: unterminated ? 'truncated-line' : 'malformed-json', detail: error.message };
  }
  return classifyFields(fields, filter);
}

/** The same decision, from fields already extracted (the fast path of recordShape.ts). */
export function classifyFields(fields: RecordFields, filter: RecordFilter): Classified {
  if (fields.category !== REPOSITORY_EVENTS_CATEGORY) return { kind: 'skipped', reason: 'other-category' };
  const time = parseLogTime(fields.time);
  if (time === undefined) return { kind: 'skipped', reason: 'bad-time', detail: `time ${JSON.stringify(fields.time)}` };
  const timeMs = time.ms;
  if (filter.registryName !== undefined && !isSameRegistry(fields, filter.registryName)) {
    return { kind: 'skipped', reason: 'other-registry' };
  }
  if (fields.operationName !== 'Pull' && fields.operationName !== 'Push') {
    return { kind: 'skipped', reason: 'not-pull-or-push', timeMs };
  }
  if (fields.resultType !== 'HttpStatusCode' || (fields.resultDescription !== '200' && fields.resultDescription !== '201')) {
    return { kind: 'skipped', reason: 'unsuccessful', timeMs };
  }
  const { window } = filter;
  if (timeMs < window.startMs || timeMs > window.endMs || (timeMs === window.endMs && time.subMillisecond)) {
    return { kind: 'skipped', reason: 'outside-window', timeMs };
  }
  const { repository, digest } = fields;
  if (repository === undefined || repository === NIL || repository === '' || digest === undefined || !isDigest(digest)) {
    return { kind: 'skipped', reason: 'missing-fields', timeMs };
  }
  const userAgent = fields.userAgent ?? '';
  if (userAgent.startsWith(OWN_USER_AGENT_PREFIX) || userAgent.includes(` ${OWN_USER_AGENT_PREFIX}`)) {
    return { kind: 'skipped', reason: 'own-user-agent', timeMs };
  }
  if (filter.ignoreUserAgents?.test(userAgent)) return { kind: 'skipped', reason: 'ignored-user-agent', timeMs };
  return { kind: 'access', access: { repository, digest, timeMs }, timeMs };
}

function isSameRegistry(fields: RecordFields, registryName: string): boolean {
  const { resourceId, loginServer } = fields;
  if (resourceId !== undefined && resourceId !== NIL && resourceId !== '') {
    const slash = resourceId.lastIndexOf('/');
    return resourceId.slice(slash + 1).toLowerCase() === registryName;
  }
  if (loginServer !== undefined && loginServer !== NIL && loginServer !== '') {
    return loginServer.toLowerCase().split('.')[0] === registryName;
  }
  return true;
}

/** `sha256:` and 64 lower-case hex digits. */
export function isDigest(text: string): boolean {
  if (text.length !== 71 || !text.startsWith('sha256:')) return false;
  for (let i = 7; i < 71; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

const LOG_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses the log's ISO time (up to 9 fractional digits; the service writes 7). `subMillisecond` says
 * whether digits beyond the millisecond were non-zero, so the window's end stays exact.
 */
export function parseLogTime(text: string | undefined): { ms: number; subMillisecond: boolean } | undefined {
  if (text === undefined) return undefined;
  return parseServiceTime(text) ?? parseIsoTime(text);
}

/** The service's own format, `2025-01-30T14:19:15.1931730Z`, without a regular expression. */
function parseServiceTime(text: string): { ms: number; subMillisecond: boolean } | undefined {
  if (text.length !== 28 || text.charCodeAt(27) !== 90 || text.charCodeAt(19) !== 46) return undefined;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return undefined;
  }
  const year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  let fraction = 0;
  for (let i = 20; i < 27; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    fraction = fraction * 10 + d;
  }
  if (year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) + Math.floor(fraction / 10_000);
  return { ms, subMillisecond: fraction % 10_000 !== 0 };
}

function twoDigits(text: string, at: number): number {
  const tens = text.charCodeAt(at) - 48;
  const ones = text.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : 10_000;
}

function parseIsoTime(text: string): { ms: number; subMillisecond: boolean } | undefined {
  const match = LOG_TIME.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, second, fraction = '', zone] = match;
  const fractionDigits = fraction.padEnd(3, '0');
  let ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), Number(fractionDigits.slice(0, 3)));
  if (Number.isNaN(ms) || Number(month) > 12 || Number(day) > 31 || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) {
    return undefined;
  }
  if (zone !== 'Z' && zone !== undefined) {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return { ms, subMillisecond: /[1-9]/.test(fractionDigits.slice(3)) };
}
