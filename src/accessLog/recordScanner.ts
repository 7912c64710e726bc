import { digestWordsOfBytes } from './counts.js';
import { emptyFields, PROPERTY_KEYS, TOP_LEVEL_KEYS, type RecordFields } from './fields.js';
import { CLOCK_SKEW_ALLOWANCE_MS, isCalendarDate, isOwnUserAgent, OWN_USER_AGENT_PREFIX, REPOSITORY_EVENTS_CATEGORY, type RecordFilter, type SkipReason } from './record.js';

/**
 * The fast path through a record: one pass over its bytes that validates the whole JSON grammar — strings and their
 * escapes, numbers, literals, nesting — and notes where the fields the cleaner reads are, decoding nothing. Any key
 * order, any spacing, any nested objects: keys count only at their own depth (the top level, or directly in the
 * top-level `properties` object), and a key given twice counts with its last value, as `JSON.parse` does.
 *
 * Whatever it cannot prove it reads exactly as `JSON.parse` would — a raw control character, nesting deeper than
 * {@link MAX_DEPTH}, anything malformed — makes `read` answer false, and the caller takes the generic path
 * (fields.ts). Bytes outside ASCII may stand anywhere in a string: UTF-8 never puts an ASCII byte inside a
 * character, and a decoder replaces what is not UTF-8 without swallowing the bytes after it, so they change no
 * structure; the few values decided on bytes are checked to be ASCII. Property tests hold both paths to identical
 * fields and decisions.
 */
export class RecordScanner {
  /** Per field slot: ABSENT, STRING, ESCAPED (a string with escapes), NUMBER or OTHER; and where its value is. */
  private readonly kinds = new Uint8Array(FIELD_COUNT);
  private readonly starts = new Int32Array(FIELD_COUNT);
  private readonly ends = new Int32Array(FIELD_COUNT);
  /** The kind of the string `stringEnd` last scanned: STRING, ESCAPED or ASCII_ESCAPED. */
  private stringKind = STRING;
  /** The buffer last read, and a view of it that reads four bytes at once anywhere. */
  private buffer: Buffer | undefined;
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private readonly time = new ServiceTimeReader();
  /** The 64 hex digits of the digest of the last access `classify` found, as 8 integers (for AccessCounts). */
  readonly digestWords = new Int32Array(8);
  /** The time `classify` found (clamped to the window's end), NaN when its outcome carries none. */
  timeMs = Number.NaN;

  /** Scans the record `bytes[start, end)`; false when it must take the generic path. */
  read(bytes: Buffer, start: number, end: number): boolean {
    const { kinds, starts, ends } = this;
    for (let f = 0; f < FIELD_COUNT; f++) kinds[f] = ABSENT;
    if (this.buffer !== bytes) {
      this.buffer = bytes;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    let p = skipSpace(bytes, start, end);
    if (p >= end || bytes[p] !== OPEN_BRACE) return false;
    let depth = 1;
    /** Bit d is set while the container at depth d is an array. */
    let arrays = 0;
    /** 2 while the top-level `properties` object is open (its keys are at depth 2), else 0. */
    let propertiesDepth = 0;
    p = skipSpace(bytes, p + 1, end);
    if (p < end && bytes[p] === CLOSE_BRACE) return skipSpace(bytes, p + 1, end) === end;
    for (;;) {
      // A member of an object (key, colon, value) or an element of an array, at p.
      let field = NONE;
      if ((arrays & (1 << depth)) === 0) {
        if (p >= end || bytes[p] !== QUOTE) return false;
        const keyEnd = this.stringEnd(bytes, p + 1, end);
        if (keyEnd < 0) return false;
        if (depth === 1 || depth === propertiesDepth) {
          const topLevel = depth === 1;
          field = this.stringKind !== STRING ? escapedKeyField(bytes, p, keyEnd + 1, topLevel) : keyField(this.view, bytes, p + 1, keyEnd, topLevel ? TOP_LEVEL : PROPERTY);
        }
        p = keyEnd + 1;
        // `": "` (most often) or `":`, else any blanks around the colon.
        if (p + 1 < end && this.view.getUint16(p, true) === COLON_SPACE) p = skipSpace(bytes, p + 2, end);
        else {
          p = skipSpace(bytes, p, end);
          if (p >= end || bytes[p] !== COLON) return false;
          p = skipSpace(bytes, p + 1, end);
        }
        if (field === PROPERTIES) {
          // A later `properties` replaces an earlier one whole.
          for (let f = FIRST_PROPERTY; f < FIELD_COUNT; f++) kinds[f] = ABSENT;
          field = NONE;
          if (p < end && bytes[p] === OPEN_BRACE) propertiesDepth = 2;
        }
      }
      if (p >= end) return false;
      const c = bytes[p]!;
      if (c === QUOTE) {
        const valueEnd = this.stringEnd(bytes, p + 1, end);
        if (valueEnd < 0) return false;
        if (field !== NONE) {
          kinds[field] = this.stringKind;
          starts[field] = p + 1;
          ends[field] = valueEnd;
        }
        p = valueEnd + 1;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (field !== NONE) kinds[field] = OTHER;
        if (++depth > MAX_DEPTH) return false;
        if (c === OPEN_BRACKET) arrays |= 1 << depth;
        else arrays &= ~(1 << depth);
        p = skipSpace(bytes, p + 1, end);
        if (p >= end || bytes[p] !== c + 2) continue;
        // An empty container (`]` and `}` are 2 after `[` and `{`): closed at once, then on as after any value.
        if (depth === propertiesDepth) propertiesDepth = 0;
        depth--;
        p++;
      } else {
        const isNumber = c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9);
        const valueEnd = isNumber ? numberEnd(bytes, p, end) : literalEnd(bytes, p, end, c);
        if (valueEnd < 0) return false;
        if (field !== NONE) {
          kinds[field] = isNumber ? NUMBER : OTHER;
          starts[field] = p;
          ends[field] = valueEnd;
        }
        p = valueEnd;
      }
      // After a value: a comma and the next member, or the closing of one or more containers.
      for (;;) {
        p = skipSpace(bytes, p, end);
        if (p >= end) return false;
        const after = bytes[p]!;
        if (after === COMMA) {
          p = skipSpace(bytes, p + 1 < end && bytes[p + 1] === SPACE ? p + 2 : p + 1, end);
          break;
        }
        if (after !== ((arrays & (1 << depth)) !== 0 ? CLOSE_BRACKET : CLOSE_BRACE)) return false;
        if (depth === propertiesDepth) propertiesDepth = 0;
        p++;
        if (--depth === 0) return skipSpace(bytes, p, end) === end;
      }
    }
  }

  /** The fields of the record `read` accepted, as `JSON.parse` and fields.ts would give them. */
  fields(bytes: Buffer): RecordFields {
    const fields = emptyFields();
    for (let f = 0; f < FIELD_COUNT; f++) fields[FIELD_NAMES[f]!] = this.value(bytes, f);
    return fields;
  }

  /**
   * The classification of the record `read` accepted, decided on its bytes for the common cases: `'access'` (the
   * repository and digest are at `repositoryStart`… and `digestStart`…, lower case already), a skip reason, or
   * undefined — anything less common (another case, escapes, `<nil>`, a time in another format, a date in the
   * future, a missing field) — for record.ts's `classifyFields` to decide on `fields()`. Every answer given here is
   * the one `classifyFields` gives; a property test holds them together.
   */
  classify(bytes: Buffer, filter: RecordFilter): 'access' | SkipReason | undefined {
    const { kinds, starts, ends, view } = this;
    this.timeMs = Number.NaN;
    if (kinds[CATEGORY] !== STRING || !equalsText(view, starts[CATEGORY]!, ends[CATEGORY]!, CATEGORY_WORDS)) return undefined;
    if (kinds[TIME] !== STRING) return undefined;
    let timeMs = this.time.read(bytes, starts[TIME]!, ends[TIME]!);
    if (Number.isNaN(timeMs)) return undefined;
    const { registryName } = filter;
    if (registryName !== undefined) {
      if (kinds[RESOURCE_ID] !== STRING) return undefined;
      const same = isRegistryResource(bytes, starts[RESOURCE_ID]!, ends[RESOURCE_ID]!, registryName);
      if (same === undefined) return undefined;
      if (!same) return 'other-registry';
    }
    const { window } = filter;
    const subMillisecond = this.time.subMillisecond;
    if (timeMs > window.endMs || (timeMs === window.endMs && subMillisecond)) {
      const limitMs = window.endMs + CLOCK_SKEW_ALLOWANCE_MS;
      if (timeMs > limitMs || (timeMs === limitMs && subMillisecond)) return undefined;
      timeMs = window.endMs;
    }
    this.timeMs = timeMs;
    if (timeMs < window.startMs) return 'outside-window';
    if (kinds[OPERATION_NAME] !== STRING || !isPullOrPush(bytes, starts[OPERATION_NAME]!, ends[OPERATION_NAME]!)) return undefined;
    if (kinds[RESULT_TYPE] !== STRING || !equalsText(view, starts[RESULT_TYPE]!, ends[RESULT_TYPE]!, HTTP_STATUS_CODE)) return undefined;
    if (kinds[RESULT_DESCRIPTION] !== STRING) return undefined;
    if (!isSuccessStatus(bytes, starts[RESULT_DESCRIPTION]!, ends[RESULT_DESCRIPTION]!)) return 'unsuccessful';
    if (kinds[REPOSITORY] !== STRING || !isPlainRepository(bytes, starts[REPOSITORY]!, ends[REPOSITORY]!)) return undefined;
    if (kinds[DIGEST] !== STRING || !digestWordsOfBytes(bytes, starts[DIGEST]!, ends[DIGEST]!, this.digestWords)) return undefined;
    const userAgent = kinds[USER_AGENT];
    // Decoding can make this tool's name appear only from its bytes as they are, or from a \u escape of an ASCII
    // character (no other escape gives a letter or a dash, and UTF-8 gives no ASCII byte but itself).
    if (filter.ignoreUserAgents === undefined && (userAgent === ABSENT || ((userAgent === STRING || userAgent === ESCAPED) && !OWN_NAME.within(bytes, starts[USER_AGENT]!, ends[USER_AGENT]!)))) {
      return 'access';
    }
    const text = this.value(bytes, USER_AGENT) ?? '';
    if (isOwnUserAgent(text)) return 'own-user-agent';
    return filter.ignoreUserAgents?.test(text) ? 'ignored-user-agent' : 'access';
  }

  get repositoryStart(): number {
    return this.starts[REPOSITORY]!;
  }

  get repositoryEnd(): number {
    return this.ends[REPOSITORY]!;
  }

  get digestStart(): number {
    return this.starts[DIGEST]!;
  }

  get digestEnd(): number {
    return this.ends[DIGEST]!;
  }

  /** What `JSON.parse` and fields.ts's `scalarText` would make of a field's last value. */
  private value(bytes: Buffer, field: number): string | undefined {
    const start = this.starts[field]!;
    const end = this.ends[field]!;
    switch (this.kinds[field]) {
      case STRING:
        return bytes.toString('utf8', start, end);
      case ESCAPED:
      case ASCII_ESCAPED:
        return JSON.parse(bytes.toString('utf8', start - 1, end + 1)) as string;
      case NUMBER: {
        const number = Number(bytes.toString('latin1', start, end));
        return Number.isFinite(number) ? String(number) : undefined;
      }
      default:
        return undefined;
    }
  }

  /**
   * The index of the quote closing the string whose content starts at `p`, or -1 when the string is not valid JSON
   * (a raw control character, a bad escape, no closing quote before `end`). Sets `stringKind`.
   */
  private stringEnd(bytes: Buffer, p: number, end: number): number {
    const { view } = this;
    // Four bytes at a time (the last few of the buffer one by one) to the first byte that may end the string: most
    // often its closing quote.
    const wordsEnd = Math.min(end, bytes.length - 3);
    let kind = STRING;
    for (;;) {
      let flags = 0;
      while (p < wordsEnd && (flags = mayEndString(view.getInt32(p, true))) === 0) p += 4;
      if (flags !== 0) p += (31 - Math.clz32(flags & -flags)) >> 3;
      else while (p < end && IN_STRING[bytes[p]!] === 1) p++;
      if (p >= end) return -1;
      const c = bytes[p]!;
      if (c === QUOTE) {
        this.stringKind = kind;
        return p;
      }
      // A backslash, or a raw control character (which JSON.parse refuses).
      if (c !== BACKSLASH) return -1;
      const next = escapeEnd(bytes, p, end);
      if (next < 0) return -1;
      if (kind !== ASCII_ESCAPED) kind = next - p === 6 && isAsciiEscape(bytes, p) ? ASCII_ESCAPED : ESCAPED;
      p = next;
    }
  }
}

/** The end of the escape at `p` (a backslash), or -1 when it is not one JSON allows. */
function escapeEnd(bytes: Buffer, p: number, end: number): number {
  if (p + 1 >= end) return -1;
  const escape = bytes[p + 1]!;
  if (escape !== LETTER_U) return SIMPLE_ESCAPE[escape] === 1 ? p + 2 : -1;
  if (p + 5 >= end || HEX[bytes[p + 2]!]! + HEX[bytes[p + 3]!]! + HEX[bytes[p + 4]!]! + HEX[bytes[p + 5]!]! !== 4) return -1;
  return p + 6;
}

/** Whether the `\u` escape at `p` is one of an ASCII character (`\u0000` to `\u007f`). */
function isAsciiEscape(bytes: Buffer, p: number): boolean {
  return bytes[p + 2] === DIGIT_0 && bytes[p + 3] === DIGIT_0 && bytes[p + 4]! <= DIGIT_0 + 7;
}

/**
 * The top bit of each byte of four (a little-endian word) that may be a quote, a backslash or a control byte (below
 * 0x20), the rest 0. Each test flags every such byte, and may wrongly flag a byte after one (a borrow): the lowest
 * flag is always right.
 */
function mayEndString(word: number): number {
  const quotes = word ^ 0x22222222;
  const backslashes = word ^ 0x5c5c5c5c;
  return (((quotes - 0x01010101) & ~quotes) | ((backslashes - 0x01010101) & ~backslashes) | ((word - 0x20202020) & ~word)) & 0x80808080;
}

/** Containers nested deeper than this take the generic path (the bit set of arrays holds 31 levels). */
export const MAX_DEPTH = 30;

// Field slots: the top-level fields in the order of fields.ts's TOP_LEVEL_KEYS, then its PROPERTY_KEYS.
const FIELD_NAMES = [...TOP_LEVEL_KEYS, ...PROPERTY_KEYS];
const FIELD_COUNT = FIELD_NAMES.length;
const FIRST_PROPERTY = TOP_LEVEL_KEYS.length;
const slotOf = (name: (typeof FIELD_NAMES)[number]) => FIELD_NAMES.indexOf(name);
const TIME = slotOf('time');
const CATEGORY = slotOf('category');
const OPERATION_NAME = slotOf('operationName');
const RESULT_TYPE = slotOf('resultType');
const RESULT_DESCRIPTION = slotOf('resultDescription');
const RESOURCE_ID = slotOf('resourceId');
const REPOSITORY = slotOf('repository');
const DIGEST = slotOf('digest');
const USER_AGENT = slotOf('userAgent');
const NONE = -1;
const PROPERTIES = -2;

/**
 * A text of at least four bytes as little-endian words of four bytes, from its start, then its last four bytes: the
 * bytes of a record are compared with it four at a time.
 */
function wordsOf(text: string): Int32Array {
  const bytes = Buffer.from(text);
  if (bytes.length < 4) throw new Error(`${text} is shorter than four bytes`);
  const words = Array.from({ length: bytes.length >> 2 }, (_, i) => bytes.readInt32LE(4 * i));
  return Int32Array.from([...words, bytes.readInt32LE(bytes.length - 4)]);
}

/** Whether `bytes[start, end)` (`view` reads `bytes`) are the text `words` (see wordsOf) of `end - start` bytes. */
function equalsWords(view: DataView, start: number, end: number, words: Int32Array): boolean {
  const last = words.length - 1;
  for (let i = 0; i < last; i++) if (view.getInt32(start + 4 * i, true) !== words[i]) return false;
  return view.getInt32(end - 4, true) === words[last];
}

/**
 * The keys looked for, at the top level and in `properties`, by length and last byte (which tell them apart): an
 * entry is the key's slot + 3 (PROPERTIES is -2), 0 for none; and the entry's key as words (see wordsOf).
 */
interface Keys {
  entries: Int8Array;
  words: Int32Array[];
}

function keyTable(keys: readonly string[], firstSlot: number): Keys {
  const table: Keys = { entries: new Int8Array(32 * 256), words: Array.from({ length: FIELD_COUNT + 3 }, () => new Int32Array(0)) };
  keys.forEach((key, index) => {
    const at = keyIndex(key.length, key.charCodeAt(key.length - 1));
    if (table.entries[at] !== 0) throw new Error(`the key ${key} has the length and last letter of another`);
    const entry = (key === 'properties' ? PROPERTIES : firstSlot + index) + 3;
    table.entries[at] = entry;
    table.words[entry] = wordsOf(key);
  });
  return table;
}

const keyIndex = (length: number, last: number) => ((length & 31) << 8) | last;

const TOP_LEVEL = keyTable([...TOP_LEVEL_KEYS, 'properties'], 0);
const PROPERTY = keyTable(PROPERTY_KEYS, FIRST_PROPERTY);

// What a field slot holds: a string without escapes, with escapes, with a `\u` escape of an ASCII character (any
// ASCII text may hide in it), a number, or any other value.
const ABSENT = 0;
const STRING = 1;
const ESCAPED = 2;
const ASCII_ESCAPED = 3;
const NUMBER = 4;
const OTHER = 5;

const TAB = 9;
const NEWLINE = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const COLON = 58;
/** `: ` read as a little-endian 16-bit word. */
const COLON_SPACE = COLON | (SPACE << 8);
const OPEN_BRACKET = 91;
const BACKSLASH = 92;
const CLOSE_BRACKET = 93;
const LETTER_U = 117;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** 1 for the bytes a string holds as they are: all but `"`, `\` and the control characters. */
const IN_STRING = new Uint8Array(256).fill(1);
for (let c = 0; c < SPACE; c++) IN_STRING[c] = 0;
IN_STRING[QUOTE] = 0;
IN_STRING[BACKSLASH] = 0;

/** 1 for the characters that may follow a backslash, `u` aside: `" \ / b f n r t`. */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

/** 1 for a hex digit of either case. */
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

/** JSON's white space: space, tab, line feed, carriage return. */
function skipSpace(bytes: Buffer, p: number, end: number): number {
  while (p < end && BLANK[bytes[p]!] === 1) p++;
  return p;
}

const BLANK = new Uint8Array(256);
for (const c of [SPACE, NEWLINE, CR, TAB]) BLANK[c] = 1;

/** The end of the JSON number at `p` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), or -1. */
function numberEnd(bytes: Buffer, p: number, end: number): number {
  if (bytes[p] === MINUS) p++;
  if (p >= end) return -1;
  const first = bytes[p]!;
  if (first === DIGIT_0) p++;
  else if (first > DIGIT_0 && first <= DIGIT_9) p = digitsEnd(bytes, p + 1, end);
  else return -1;
  if (p < end && bytes[p] === 46) {
    const fractionEnd = digitsEnd(bytes, p + 1, end);
    if (fractionEnd === p + 1) return -1;
    p = fractionEnd;
  }
  if (p < end && (bytes[p]! | 0x20) === 101) {
    p++;
    if (p < end && (bytes[p] === 43 || bytes[p] === MINUS)) p++;
    const exponentEnd = digitsEnd(bytes, p, end);
    if (exponentEnd === p) return -1;
    p = exponentEnd;
  }
  return p;
}

function digitsEnd(bytes: Buffer, p: number, end: number): number {
  while (p < end) {
    const c = bytes[p]!;
    if (c < DIGIT_0 || c > DIGIT_9) return p;
    p++;
  }
  return p;
}

/** The end of `true`, `false` or `null` at `p`, or -1. */
function literalEnd(bytes: Buffer, p: number, end: number, first: number): number {
  const literal = first === 116 ? 'true' : first === 102 ? 'false' : first === 110 ? 'null' : undefined;
  if (literal === undefined || p + literal.length > end || !startsWithAscii(bytes, literal, p)) return -1;
  return p + literal.length;
}

/** The slot of the key `bytes[start, end)` (`view` reads `bytes`) among `keys`, PROPERTIES, or NONE. */
function keyField(view: DataView, bytes: Buffer, start: number, end: number, keys: Keys): number {
  const length = end - start;
  if (length < 4 || length > 31) return NONE;
  const entry = keys.entries[keyIndex(length, bytes[end - 1]!)]!;
  return entry !== 0 && equalsWords(view, start, end, keys.words[entry]!) ? entry - 3 : NONE;
}

/** The slot of a key written with escapes (`"ti\u006de"` is `time`), decoded: rare enough to decode. */
function escapedKeyField(bytes: Buffer, quote: number, end: number, topLevel: boolean): number {
  const key = Buffer.from(JSON.parse(bytes.toString('utf8', quote, end)) as string);
  return keyField(new DataView(key.buffer, key.byteOffset, key.length), key, 0, key.length, topLevel ? TOP_LEVEL : PROPERTY);
}

function startsWithAscii(bytes: Buffer, word: string, at: number): boolean {
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

function equalsAscii(bytes: Buffer, start: number, end: number, word: string): boolean {
  return end - start === word.length && startsWithAscii(bytes, word, start);
}

/** Whether `bytes[start, end)` are the text `text` (words and length). */
function equalsText(view: DataView, start: number, end: number, text: { words: Int32Array; length: number }): boolean {
  return end - start === text.length && equalsWords(view, start, end, text.words);
}

const CATEGORY_WORDS = { words: wordsOf(REPOSITORY_EVENTS_CATEGORY), length: REPOSITORY_EVENTS_CATEGORY.length };
const HTTP_STATUS_CODE = { words: wordsOf('HttpStatusCode'), length: 'HttpStatusCode'.length };

/** Exactly `Pull` or `Push` (other spellings go to classifyFields, which compares without case). */
function isPullOrPush(bytes: Buffer, start: number, end: number): boolean {
  return end - start === 4 && bytes[start] === 80 && bytes[start + 1] === 117 && ((bytes[start + 2] === 108 && bytes[start + 3] === 108) || (bytes[start + 2] === 115 && bytes[start + 3] === 104));
}

/** Exactly `200` or `201`. */
function isSuccessStatus(bytes: Buffer, start: number, end: number): boolean {
  return end - start === 3 && bytes[start] === 50 && bytes[start + 1] === 48 && (bytes[start + 2] === 48 || bytes[start + 2] === 49);
}

/** ASCII, not empty, not `<nil>`, no upper-case letter: the repository as counted, byte for byte. */
function isPlainRepository(bytes: Buffer, start: number, end: number): boolean {
  if (end === start || (end - start === 5 && equalsAscii(bytes, start, end, '<nil>'))) return false;
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    if ((c >= 65 && c <= 90) || c > 127) return false;
  }
  return true;
}

/**
 * Whether the last segment of a resource id (`…/REGISTRIES/NAME`), lower-cased, is `registryName`; undefined for an
 * empty or `<nil>` resource id (classifyFields then looks at the login server) or a segment outside ASCII (whose
 * lower case only classifyFields knows).
 */
function isRegistryResource(bytes: Buffer, start: number, end: number, registryName: string): boolean | undefined {
  if (end === start || (end - start === 5 && equalsAscii(bytes, start, end, '<nil>'))) return undefined;
  let slash = end - 1;
  while (slash >= start && bytes[slash] !== 47) slash--;
  const from = slash + 1;
  let same = end - from === registryName.length;
  for (let i = from; i < end; i++) {
    let c = bytes[i]!;
    if (c > 127) return undefined;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== registryName.charCodeAt(i - from)) same = false;
  }
  return same;
}

/** A byte sequence looked for inside strings, by Boyer–Moore–Horspool: most bytes of a text let it skip its length. */
class Needle {
  private readonly bytes: Buffer;
  private readonly shifts = new Uint8Array(256);

  constructor(text: string) {
    this.bytes = Buffer.from(text);
    const last = this.bytes.length - 1;
    this.shifts.fill(this.bytes.length);
    for (let i = 0; i < last; i++) this.shifts[this.bytes[i]!] = last - i;
  }

  /** Whether it occurs in `bytes[start, end)`. */
  within(bytes: Buffer, start: number, end: number): boolean {
    const needle = this.bytes;
    const last = needle.length - 1;
    for (let i = start + last; i < end; i += this.shifts[bytes[i]!]!) {
      let k = 0;
      while (k <= last && bytes[i - last + k] === needle[k]) k++;
      if (k > last) return true;
    }
    return false;
  }
}

const OWN_NAME = new Needle(OWN_USER_AGENT_PREFIX.slice(0, -1));

/**
 * record.ts's `parseServiceTime` on bytes: `2025-01-30T14:19:15.1931730Z` (28 bytes) → epoch milliseconds, NaN for
 * anything else (and for years before 100, which `Date.UTC` would read as 19xx). `subMillisecond`: whether digits
 * beyond the millisecond were not zero.
 */
class ServiceTimeReader {
  subMillisecond = false;

  read(bytes: Buffer, start: number, end: number): number {
    if (end - start !== 28 || bytes[start + 4] !== MINUS || bytes[start + 7] !== MINUS || bytes[start + 10] !== 84 || bytes[start + 13] !== COLON) return Number.NaN;
    if (bytes[start + 16] !== COLON || bytes[start + 19] !== 46 || bytes[start + 27] !== 90) return Number.NaN;
    const year = twoDigits(bytes, start) * 100 + twoDigits(bytes, start + 2);
    const month = twoDigits(bytes, start + 5);
    const day = twoDigits(bytes, start + 8);
    const hour = twoDigits(bytes, start + 11);
    const minute = twoDigits(bytes, start + 14);
    const second = twoDigits(bytes, start + 17);
    if (!isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return Number.NaN;
    let fraction = 0;
    for (let i = start + 20; i < start + 27; i++) {
      const d = bytes[i]! - DIGIT_0;
      if (d < 0 || d > 9) return Number.NaN;
      fraction = fraction * 10 + d;
    }
    this.subMillisecond = fraction % 10_000 !== 0;
    return daysSinceEpoch(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + Math.floor(fraction / 10_000);
  }
}

/**
 * Days from 1970-01-01 to the date (proleptic Gregorian; a real date, see `isCalendarDate`), by whole 400-year eras:
 * arithmetic only, the same for every record.
 */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function twoDigits(bytes: Buffer, at: number): number {
  const tens = bytes[at]! - DIGIT_0;
  const ones = bytes[at + 1]! - DIGIT_0;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : 10_000;
}
