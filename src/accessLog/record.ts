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
 * is guarded (`logs-unusable`) and the digests their text names are kept as uncertain. Not among them:
 * `incomplete-last-line` (the newest file's last line, still being appended: normal) and `future-time` (the
 * record is read, only its time is not believed; the manifest it names is kept as uncertain instead).
 */
export const UNUSABLE_REASONS = [
  'malformed-json',
  'truncated-line',
  'oversized-line',
  'unreadable-data',
  'bad-time',
  'missing-fields',
] as const satisfies readonly SkipReason[];

const UNUSABLE = new Set<SkipReason>(UNUSABLE_REASONS);
export function isUnusable(reason: SkipReason): boolean {
  return UNUSABLE.has(reason);
}

/**
 * How far after `now` a record's time may lie and still be believed (clocks of the registry's front ends and of
 * the machine running the pass may disagree by that much). Such a record counts as if made at `now`; a record
 * further ahead is skipped as `future-time`, so that a bogus time cannot make stale logs look fresh.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;

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
  /** Lower case, as ACR names repositories. */
  repository: string;
  /** `sha256:` and 64 lower-case hex digits. */
  digest: string;
  timeMs: number;
}

export type Classified =
  | { kind: 'access'; access: Access; timeMs: number }
  | { kind: 'skipped'; reason: SkipReason; timeMs?: number; detail?: string };

const NIL = '<nil>';
const CATEGORY_LOWER = REPOSITORY_EVENTS_CATEGORY.toLowerCase();

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

/**
 * The same decision, from fields already extracted (by recordScanner.ts's scanner or by fields.ts). A field the
 * decision needs that is absent is `missing-fields` (schema drift, never a legitimate skip); only a field that is
 * present with another value is skipped as another category, operation or result.
 */
export function classifyFields(fields: RecordFields, filter: RecordFilter): Classified {
  const { category } = fields;
  if (category === undefined) return missing('category');
  if (category !== REPOSITORY_EVENTS_CATEGORY && category.toLowerCase() !== CATEGORY_LOWER) return { kind: 'skipped', reason: 'other-category' };
  if (fields.time === undefined) return missing('time');
  const time = parseLogTime(fields.time);
  if (time === undefined) return { kind: 'skipped', reason: 'bad-time', detail: `time ${JSON.stringify(fields.time)}` };
  if (filter.registryName !== undefined && !isSameRegistry(fields, filter.registryName)) {
    return { kind: 'skipped', reason: 'other-registry' };
  }
  const { window } = filter;
  let timeMs = time.ms;
  if (timeMs > window.endMs || (timeMs === window.endMs && time.subMillisecond)) {
    const limitMs = window.endMs + CLOCK_SKEW_ALLOWANCE_MS;
    if (timeMs > limitMs || (timeMs === limitMs && time.subMillisecond)) {
      return { kind: 'skipped', reason: 'future-time', detail: `time ${fields.time}, after ${new Date(window.endMs).toISOString()}` };
    }
    timeMs = window.endMs;
  }
  if (timeMs < window.startMs) return { kind: 'skipped', reason: 'outside-window', timeMs };
  const operation = fields.operationName;
  if (operation === undefined) return missing('operationName', timeMs);
  if (!isPullOrPush(operation)) return { kind: 'skipped', reason: 'not-pull-or-push', timeMs };
  const { resultType, resultDescription } = fields;
  if (resultType === undefined) return missing('resultType', timeMs);
  if (resultDescription === undefined) return missing('resultDescription', timeMs);
  if ((resultType !== 'HttpStatusCode' && resultType.toLowerCase() !== 'httpstatuscode') || (resultDescription !== '200' && resultDescription !== '201')) {
    return { kind: 'skipped', reason: 'unsuccessful', timeMs };
  }
  const { repository, digest } = fields;
  if (repository === undefined || repository === NIL || repository === '') return missing('properties.repository', timeMs);
  if (digest === undefined || !isDigest(digest)) return missing('properties.digest', timeMs);
  const userAgent = fields.userAgent ?? '';
  if (isOwnUserAgent(userAgent)) return { kind: 'skipped', reason: 'own-user-agent', timeMs };
  if (filter.ignoreUserAgents?.test(userAgent)) return { kind: 'skipped', reason: 'ignored-user-agent', timeMs };
  return { kind: 'access', access: { repository: lowerCase(repository), digest: lowerCase(digest), timeMs }, timeMs };
}

/** This tool's own requests: its user agent first, or after a space (behind another product token). */
export function isOwnUserAgent(userAgent: string): boolean {
  return userAgent.startsWith(OWN_USER_AGENT_PREFIX) || userAgent.includes(` ${OWN_USER_AGENT_PREFIX}`);
}

function missing(field: string, timeMs?: number): Classified {
  return { kind: 'skipped', reason: 'missing-fields', timeMs, detail: `no valid ${field}` };
}

function isPullOrPush(operation: string): boolean {
  if (operation === 'Pull' || operation === 'Push') return true;
  if (operation.length !== 4) return false;
  const lower = operation.toLowerCase();
  return lower === 'pull' || lower === 'push';
}

/** ASCII lower case without a new string when there is nothing to change (the hot path's usual case). */
export function lowerCase(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return text.toLowerCase();
  }
  return text;
}

let lastResourceId = '';
let lastRegistryName = '';
let lastSameRegistry = false;

function isSameRegistry(fields: RecordFields, registryName: string): boolean {
  const { resourceId, loginServer } = fields;
  if (resourceId !== undefined && resourceId !== NIL && resourceId !== '') {
    // A log holds one registry's resource id over and over: remember the last answer.
    if (resourceId === lastResourceId && registryName === lastRegistryName) return lastSameRegistry;
    const slash = resourceId.lastIndexOf('/');
    lastSameRegistry = resourceId.slice(slash + 1).toLowerCase() === registryName;
    lastResourceId = detached(resourceId);
    lastRegistryName = registryName;
    return lastSameRegistry;
  }
  if (loginServer !== undefined && loginServer !== NIL && loginServer !== '') {
    return loginServer.toLowerCase().split('.')[0] === registryName;
  }
  return true;
}

/** `sha256:` and 64 hex digits, in any case (`SHA256:AB…` is the digest `sha256:ab…`). */
export function isDigest(text: string): boolean {
  if (text.length !== 71) return false;
  if (!text.startsWith('sha256:') && text.slice(0, 7).toLowerCase() !== 'sha256:') return false;
  for (let i = 7; i < 71; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

const DIGEST_TEXT = /sha256:[0-9a-f]{64}/gi;

/** Every digest named anywhere in `text` (a damaged record's salvage), lower-cased, into `into`. */
export function salvageDigests(text: string, into: Set<string>): void {
  if (!text.includes(':')) return;
  for (const match of text.matchAll(DIGEST_TEXT)) into.add(match[0].toLowerCase());
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

/** The hour prefix (`2025-01-30T14`) of the last service time parsed, and its epoch milliseconds. */
let cachedHour = '\u0000';
let cachedHourMs = 0;

/**
 * The service's own format, `2025-01-30T14:19:15.1931730Z`, without a regular expression. Records of a log
 * come hour by hour: the hour prefix is compared with the last one's, and `Date.UTC` runs once per hour.
 */
function parseServiceTime(text: string): { ms: number; subMillisecond: boolean } | undefined {
  if (text.length !== 28 || text.charCodeAt(27) !== 90 || text.charCodeAt(19) !== 46 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return undefined;
  }
  if (!text.startsWith(cachedHour)) {
    if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84) return undefined;
    const year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
    const month = twoDigits(text, 5);
    const day = twoDigits(text, 8);
    const hour = twoDigits(text, 11);
    if (!isCalendarDate(year, month, day) || hour > 23) return undefined;
    cachedHourMs = Date.UTC(year, month - 1, day, hour);
    cachedHour = detached(text.slice(0, 13));
  }
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if (minute > 59 || second > 59) return undefined;
  let fraction = 0;
  for (let i = 20; i < 27; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    fraction = fraction * 10 + d;
  }
  const ms = cachedHourMs + minute * 60_000 + second * 1000 + Math.floor(fraction / 10_000);
  return { ms, subMillisecond: fraction % 10_000 !== 0 };
}

/**
 * The days of a month (1–12) of the proleptic Gregorian calendar. A date past them is no date: `Date.UTC` would roll
 * it over into the next month, and a record dated `2026-02-31` would count as one of 3 March.
 */
/** A day that exists, in a year of four digits from 100 on (Date.UTC reads years 0–99 as 1900–1999). */
export function isCalendarDate(year: number, month: number, day: number): boolean {
  return year >= 100 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

export function daysInMonth(year: number, month: number): number {
  if (month !== 2) return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

/** A copy that does not keep the (large) string it was sliced from alive. */
export function detached(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf16le').toString('utf16le');
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
  if (Number.isNaN(ms) || !isCalendarDate(Number(year), Number(month), Number(day)) || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60) {
    return undefined;
  }
  if (zone !== 'Z' && zone !== undefined) {
    const offsetMinutes = zoneOffsetMinutes(zone);
    if (offsetMinutes === undefined) return undefined;
    ms -= offsetMinutes * 60_000;
  }
  return { ms, subMillisecond: /[1-9]/.test(fractionDigits.slice(3)) };
}

/** Civil time zones run from UTC-12:00 to UTC+14:00: an offset beyond them is no real time. */
const MIN_OFFSET_MINUTES = -12 * 60;
const MAX_OFFSET_MINUTES = 14 * 60;

/** `+hh:mm` or `-hh:mm` in minutes east of UTC, or undefined when it is not a real offset. */
function zoneOffsetMinutes(zone: string): number | undefined {
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (minutes > 59) return undefined;
  const offset = (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  return offset < MIN_OFFSET_MINUTES || offset > MAX_OFFSET_MINUTES ? undefined : offset;
}
