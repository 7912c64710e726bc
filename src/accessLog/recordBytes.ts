/** record.ts's rules, and what they need, on the bytes of a record: the common cases of the fast path. */

// Bytes of JSON's structure.

export const SPACE = 32;
export const QUOTE = 34;
export const COMMA = 44;
export const MINUS = 45;
export const DIGIT_0 = 48;
export const DIGIT_9 = 57;
export const COLON = 58;
export const OPEN_BRACKET = 91;
export const BACKSLASH = 92;
export const CLOSE_BRACKET = 93;
export const LETTER_U = 117;
export const OPEN_BRACE = 123;
export const CLOSE_BRACE = 125;

export function startsWithAscii(bytes: Buffer, word: string, at: number): boolean {
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

export function equalsAscii(bytes: Buffer, start: number, end: number, word: string): boolean {
  return end - start === word.length && startsWithAscii(bytes, word, start);
}

/** Exactly `Pull` or `Push` (other spellings go to classifyFields, which compares without case). */
export function isPullOrPush(bytes: Buffer, start: number, end: number): boolean {
  return end - start === 4 && bytes[start] === 80 && bytes[start + 1] === 117 && ((bytes[start + 2] === 108 && bytes[start + 3] === 108) || (bytes[start + 2] === 115 && bytes[start + 3] === 104));
}

/** Exactly `200` or `201`. */
export function isSuccessStatus(bytes: Buffer, start: number, end: number): boolean {
  return end - start === 3 && bytes[start] === 50 && bytes[start + 1] === 48 && (bytes[start + 2] === 48 || bytes[start + 2] === 49);
}

/** Not empty, not `<nil>`, no upper-case letter (ASCII: the kind of a plain string guarantees it). */
export function isPlainRepository(bytes: Buffer, start: number, end: number): boolean {
  if (end === start || (end - start === 5 && equalsAscii(bytes, start, end, '<nil>'))) return false;
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    if (c >= 65 && c <= 90) return false;
  }
  return true;
}

/**
 * Whether the last segment of a resource id (`…/REGISTRIES/NAME`), lower-cased, is `registryName`; undefined for
 * an empty or `<nil>` resource id (classifyFields then looks at the login server).
 */
export function isRegistryResource(bytes: Buffer, start: number, end: number, registryName: string): boolean | undefined {
  if (end === start || (end - start === 5 && equalsAscii(bytes, start, end, '<nil>'))) return undefined;
  let slash = end - 1;
  while (slash >= start && bytes[slash] !== 47) slash--;
  const from = slash + 1;
  if (end - from !== registryName.length) return false;
  for (let i = from; i < end; i++) {
    let c = bytes[i]!;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== registryName.charCodeAt(i - from)) return false;
  }
  return true;
}

/**
 * record.ts's `parseServiceTime` on bytes: `2025-01-30T14:19:15.1931730Z` (28 bytes) → epoch milliseconds, NaN
 * for anything else. The hour prefix is compared with the last one's, and `Date.UTC` runs once per hour.
 */
export class ServiceTimeReader {
  private readonly hour = new Uint8Array(13);
  private hourMs = Number.NaN;
  subMillisecond = false;

  read(bytes: Buffer, start: number, end: number): number {
    if (end - start !== 28 || bytes[start + 27] !== 90 || bytes[start + 19] !== 46 || bytes[start + 13] !== COLON || bytes[start + 16] !== COLON) {
      return Number.NaN;
    }
    if (!this.isCachedHour(bytes, start)) {
      if (bytes[start + 4] !== MINUS || bytes[start + 7] !== MINUS || bytes[start + 10] !== 84) return Number.NaN;
      const year = twoDigits(bytes, start) * 100 + twoDigits(bytes, start + 2);
      const month = twoDigits(bytes, start + 5);
      const day = twoDigits(bytes, start + 8);
      const hour = twoDigits(bytes, start + 11);
      if (year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23) return Number.NaN;
      this.hourMs = Date.UTC(year, month - 1, day, hour);
      this.hour.set(bytes.subarray(start, start + 13));
    }
    const minute = twoDigits(bytes, start + 14);
    const second = twoDigits(bytes, start + 17);
    if (minute > 59 || second > 59) return Number.NaN;
    let fraction = 0;
    for (let i = start + 20; i < start + 27; i++) {
      const d = bytes[i]! - DIGIT_0;
      if (d < 0 || d > 9) return Number.NaN;
      fraction = fraction * 10 + d;
    }
    this.subMillisecond = fraction % 10_000 !== 0;
    return this.hourMs + minute * 60_000 + second * 1000 + Math.floor(fraction / 10_000);
  }

  private isCachedHour(bytes: Buffer, start: number): boolean {
    if (Number.isNaN(this.hourMs)) return false;
    const hour = this.hour;
    for (let i = 0; i < 13; i++) if (bytes[start + i] !== hour[i]) return false;
    return true;
  }
}

function twoDigits(bytes: Buffer, at: number): number {
  const tens = bytes[at]! - DIGIT_0;
  const ones = bytes[at + 1]! - DIGIT_0;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : 10_000;
}

/**
 * The next occurrence of a byte sequence at or after a position, found with one native search that holds until the
 * position passes it: over a chunk of records, a sequence that is rare costs one search, not one per record.
 */
export class NextOccurrence {
  private bytes: Buffer | undefined;
  private searchedFrom = 0;
  private found = -1;

  private readonly length: number;

  /** A byte, or a sequence of bytes. */
  constructor(private readonly needle: number | Buffer) {
    this.length = typeof needle === 'number' ? 1 : needle.length;
  }

  forget(): void {
    this.bytes = undefined;
  }

  at(bytes: Buffer, from: number): number {
    if (this.bytes !== bytes || from < this.searchedFrom || (this.found !== -1 && this.found < from)) {
      this.bytes = bytes;
      this.searchedFrom = from;
      this.found = bytes.indexOf(this.needle, from);
    }
    return this.found;
  }

  /** Whether the sequence occurs wholly inside `bytes[start, end)`. */
  within(bytes: Buffer, start: number, end: number): boolean {
    const found = this.at(bytes, start);
    return found !== -1 && found + this.length <= end;
  }
}
