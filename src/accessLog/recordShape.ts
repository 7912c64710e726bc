import { digestWordsOfBytes } from './counts.js';
import { emptyFields, type RecordFields } from './fields.js';
import { CLOCK_SKEW_ALLOWANCE_MS, isOwnUserAgent, OWN_USER_AGENT_PREFIX, REPOSITORY_EVENTS_CATEGORY, type RecordFilter, type SkipReason } from './record.js';

/**
 * The fast path through a record: one pass over its bytes that validates the whole JSON grammar — strings and
 * their escapes, numbers, literals, nesting — and notes where the fields the cleaner reads are, without decoding
 * anything. It reads any key order, with or without spaces, with any nested objects; keys count only at their
 * own depth (the top level, or directly in the top-level `properties` object), and a key given twice counts
 * with its last value, as `JSON.parse` does.
 *
 * Whatever it cannot prove it reads exactly as `JSON.parse` would — an escaped key, a raw control character,
 * nesting deeper than {@link MAX_DEPTH}, anything malformed — makes `read` answer false, and the caller takes
 * the generic path (fields.ts). A property test holds both paths to identical fields and classifications.
 */
export class RecordScanner {
  private readonly kinds = new Uint8Array(FIELD_COUNT);
  private readonly starts = new Int32Array(FIELD_COUNT);
  private readonly ends = new Int32Array(FIELD_COUNT);
  /** Set by `stringEnd`: ESCAPED and/or NON_ASCII for the string it just scanned. */
  private stringFlags = 0;
  /** The record being scanned holds only printable ASCII (0x20–0x7f): no string can hold a control character. */
  private printable = false;
  private readonly shapes = new LearnedShapes();
  private readonly trace = new Trace();
  // Byte sequences searched natively, each once per chunk until passed (see NextOccurrence).
  private readonly backslashes = new NextOccurrence(BACKSLASH);
  /** A 32-bit view of the memory of the last buffer scanned, to test four bytes at a time. */
  private wordsMemory: ArrayBufferLike | undefined;
  private words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private readonly time = new ServiceTimeReader();
  /** The 64 hex digits of the digest of the last access `classify` found, as 8 integers (for AccessCounts). */
  readonly digestWords = new Int32Array(8);
  /** Records read through a learned shape (the rest of those `read` accepted took the full scan). */
  shapeReads = 0;
  /** The time `classify` found (clamped to the window's end), NaN when its outcome carries none. */
  timeMs = Number.NaN;

  /** Scans the record `bytes[start, end)`; false when it must take the generic path. */
  read(bytes: Buffer, start: number, end: number): boolean {
    this.printable = this.isPrintableAscii(bytes, start, end);
    if (this.printable && this.shapes.match(this, bytes, start, end)) {
      this.shapeReads++;
      return true;
    }
    const learn = this.printable && this.shapes.wantsToLearn();
    if (learn) this.trace.clear();
    if (!this.scan(bytes, start, end, learn ? this.trace : undefined)) return false;
    if (learn) this.shapes.learn(this.trace, bytes, start, end);
    return true;
  }

  /**
   * Reads a string token of a learned shape: `p` is just after its opening quote. Sets the field's slot, and
   * returns the index of the closing quote, or -1.
   */
  readShapeString(bytes: Buffer, p: number, end: number, field: number): number {
    const quote = this.stringEnd(bytes, p, end);
    if (quote >= 0 && field !== NONE) {
      this.kinds[field] = this.stringFlags === 0 ? PLAIN_STRING : ESCAPED_STRING;
      this.starts[field] = p;
      this.ends[field] = quote;
    }
    return quote;
  }

  readShapeNumber(bytes: Buffer, p: number, end: number, field: number): number {
    const numberEnds = numberEnd(bytes, p, end);
    if (numberEnds >= 0 && field !== NONE) {
      this.kinds[field] = NUMBER;
      this.starts[field] = p;
      this.ends[field] = numberEnds;
    }
    return numberEnds;
  }

  /** Sets every slot to what a shape says it holds before its tokens are read (absent, or OTHER). */
  presetKinds(kinds: Uint8Array): void {
    this.kinds.set(kinds);
  }

  /** The fields of the record `read` accepted, as `JSON.parse` and fields.ts would give them. */
  fields(bytes: Buffer): RecordFields {
    const fields = emptyFields();
    fields.time = this.value(bytes, TIME);
    fields.category = this.value(bytes, CATEGORY);
    fields.operationName = this.value(bytes, OPERATION_NAME);
    fields.resultType = this.value(bytes, RESULT_TYPE);
    fields.resultDescription = this.value(bytes, RESULT_DESCRIPTION);
    fields.resourceId = this.value(bytes, RESOURCE_ID);
    fields.repository = this.value(bytes, REPOSITORY);
    fields.digest = this.value(bytes, DIGEST);
    fields.userAgent = this.value(bytes, USER_AGENT);
    fields.loginServer = this.value(bytes, LOGIN_SERVER);
    return fields;
  }

  /**
   * The classification of the record `read` accepted, decided on its bytes for the common cases: `'access'`
   * (the repository and digest are at `repositoryStart`… and `digestStart`…, lower case already), a skip reason,
   * or undefined — anything less common (another case, escapes, `<nil>`, a time in another format, a date in
   * the future, a missing field) — for record.ts's `classifyFields` to decide on `fields()`. Every answer given
   * here is the one `classifyFields` gives; a property test holds them together.
   */
  classify(bytes: Buffer, filter: RecordFilter): 'access' | SkipReason | undefined {
    const { kinds, starts, ends } = this;
    this.timeMs = Number.NaN;
    if (kinds[CATEGORY] !== PLAIN_STRING || !equalsAscii(bytes, starts[CATEGORY]!, ends[CATEGORY]!, REPOSITORY_EVENTS_CATEGORY)) return undefined;
    if (kinds[TIME] !== PLAIN_STRING) return undefined;
    let timeMs = this.time.read(bytes, starts[TIME]!, ends[TIME]!);
    if (Number.isNaN(timeMs)) return undefined;
    const { registryName } = filter;
    if (registryName !== undefined) {
      if (kinds[RESOURCE_ID] !== PLAIN_STRING) return undefined;
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
    if (kinds[OPERATION_NAME] !== PLAIN_STRING || !isPullOrPush(bytes, starts[OPERATION_NAME]!, ends[OPERATION_NAME]!)) return undefined;
    if (kinds[RESULT_TYPE] !== PLAIN_STRING || !equalsAscii(bytes, starts[RESULT_TYPE]!, ends[RESULT_TYPE]!, 'HttpStatusCode')) return undefined;
    if (kinds[RESULT_DESCRIPTION] !== PLAIN_STRING) return undefined;
    if (!isSuccessStatus(bytes, starts[RESULT_DESCRIPTION]!, ends[RESULT_DESCRIPTION]!)) return 'unsuccessful';
    if (kinds[REPOSITORY] !== PLAIN_STRING || !isPlainRepository(bytes, starts[REPOSITORY]!, ends[REPOSITORY]!)) return undefined;
    if (kinds[DIGEST] !== PLAIN_STRING || !digestWordsOfBytes(bytes, starts[DIGEST]!, ends[DIGEST]!, this.digestWords)) return undefined;
    const { ignoreUserAgents } = filter;
    const userAgentKind = kinds[USER_AGENT];
    if (ignoreUserAgents === undefined) {
      if (userAgentKind === ABSENT) return 'access';
      if (userAgentKind === PLAIN_STRING) return this.isOwnUserAgentBytes(bytes, starts[USER_AGENT]!, ends[USER_AGENT]!) ? 'own-user-agent' : 'access';
      // Escaped or not ASCII (many real user agents): decoding can only make this tool's name appear from its
      // bytes as they are or from a \u escape (no other escape gives a letter or a dash).
      if ((userAgentKind === ESCAPED_STRING || userAgentKind === NON_ASCII_STRING) && !this.mayNameThisTool(bytes, starts[USER_AGENT]!, ends[USER_AGENT]!)) return 'access';
    }
    const userAgent = this.value(bytes, USER_AGENT) ?? '';
    if (isOwnUserAgent(userAgent)) return 'own-user-agent';
    return ignoreUserAgents?.test(userAgent) ? 'ignored-user-agent' : 'access';
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
      case PLAIN_STRING:
        return bytes.toString('latin1', start, end);
      case ESCAPED_STRING:
        return JSON.parse(bytes.toString('latin1', start - 1, end + 1)) as string;
      case NON_ASCII_STRING:
        return JSON.parse(bytes.toString('utf8', start - 1, end + 1)) as string;
      case NUMBER: {
        const number = Number(bytes.toString('latin1', start, end));
        return Number.isFinite(number) ? String(number) : undefined;
      }
      default:
        return undefined;
    }
  }

  private scan(bytes: Buffer, start: number, end: number, trace: Trace | undefined): boolean {
    const { kinds, starts, ends } = this;
    for (let f = 0; f < FIELD_COUNT; f++) kinds[f] = ABSENT;
    let p = skipSpace(bytes, start, end);
    if (p >= end || bytes[p]! !== OPEN_BRACE) return false;
    p++;
    let depth = 1;
    /** Bit d is set while the container at depth d is an array. */
    let arrays = 0;
    /** 2 while the top-level `properties` object is open (its keys are at depth 2), else 0. */
    let propertiesDepth = 0;
    p = skipSpace(bytes, p, end);
    if (p < end && bytes[p]! === CLOSE_BRACE) return skipSpace(bytes, p + 1, end) === end;
    for (;;) {
      // A member of an object (key, colon, value) or an element of an array, at p.
      if (p >= end) return false;
      let c = bytes[p]!;
      let field = NONE;
      if ((arrays & (1 << depth)) === 0) {
        if (c !== QUOTE) return false;
        const keyEnd = this.stringEnd(bytes, p + 1, end);
        if (keyEnd < 0) return false;
        if (depth === 1 || depth === propertiesDepth) {
          field =
            (this.stringFlags & ESCAPED) !== 0
              ? escapedKeyField(bytes, p, keyEnd + 1, depth === 1)
              : depth === 1
                ? topLevelField(bytes, p + 1, keyEnd - p - 1)
                : propertyField(bytes, p + 1, keyEnd - p - 1);
        }
        p = skipSpace(bytes, keyEnd + 1, end);
        if (p >= end || bytes[p]! !== COLON) return false;
        p = skipSpace(bytes, p + 1, end);
        if (p >= end) return false;
        c = bytes[p]!;
        if (field === PROPERTIES) {
          for (let f = FIRST_PROPERTY; f < FIELD_COUNT; f++) kinds[f] = ABSENT;
          trace?.resetProperties();
          field = NONE;
          if (c === OPEN_BRACE) propertiesDepth = 2;
        }
      }
      if (c === QUOTE) {
        const valueEnd = this.stringEnd(bytes, p + 1, end);
        if (valueEnd < 0) return false;
        if (field !== NONE) {
          const flags = this.stringFlags;
          kinds[field] = flags === 0 ? PLAIN_STRING : (flags & NON_ASCII) !== 0 ? NON_ASCII_STRING : ESCAPED_STRING;
          starts[field] = p + 1;
          ends[field] = valueEnd;
        }
        trace?.token(p + 1, valueEnd, false, field);
        p = valueEnd + 1;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (field !== NONE) {
          kinds[field] = OTHER;
          trace?.other(field);
        }
        if (++depth > MAX_DEPTH) return false;
        if (c === OPEN_BRACKET) arrays |= 1 << depth;
        else arrays &= ~(1 << depth);
        p = skipSpace(bytes, p + 1, end);
        if (p >= end || bytes[p]! !== (c === OPEN_BRACKET ? CLOSE_BRACKET : CLOSE_BRACE)) continue;
        // An empty container: close it at once and go on as after any value.
        if (depth === propertiesDepth) propertiesDepth = 0;
        depth--;
        p++;
      } else {
        const valueEnd = c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9) ? numberEnd(bytes, p, end) : literalEnd(bytes, p, end, c);
        if (valueEnd < 0) return false;
        const isNumber = c === MINUS || c <= DIGIT_9;
        if (field !== NONE) {
          kinds[field] = isNumber ? NUMBER : OTHER;
          starts[field] = p;
          ends[field] = valueEnd;
          if (!isNumber) trace?.other(field);
        }
        if (isNumber) trace?.token(p, valueEnd, true, field);
        p = valueEnd;
      }
      // After a value: a comma and the next member, or the closing of one or more containers.
      for (;;) {
        p = skipSpace(bytes, p, end);
        if (p >= end) return false;
        c = bytes[p]!;
        if (c === COMMA) {
          p = skipSpace(bytes, p + 1, end);
          break;
        }
        if (c !== ((arrays & (1 << depth)) !== 0 ? CLOSE_BRACKET : CLOSE_BRACE)) return false;
        if (depth === propertiesDepth) propertiesDepth = 0;
        p++;
        if (--depth === 0) return skipSpace(bytes, p, end) === end;
      }
    }
  }

  /** record.ts's `isOwnUserAgent` on the bytes of a plain string: this tool's name first, or after a space. */
  private isOwnUserAgentBytes(bytes: Buffer, start: number, end: number): boolean {
    const last = end - OWN_USER_AGENT_PREFIX.length;
    if (start <= last && startsWithAscii(bytes, OWN_USER_AGENT_PREFIX, start)) return true;
    for (let i = start; i < last; i++) {
      if (bytes[i] === SPACE && bytes[i + 1] === 97 && startsWithAscii(bytes, OWN_USER_AGENT_PREFIX, i + 1)) return true;
    }
    return false;
  }

  /**
   * Whether an escaped string could decode to hold this tool's name: only if its bytes hold the name as it is, or a
   * `\u` escape (no other escape gives a letter or a dash).
   */
  private mayNameThisTool(bytes: Buffer, start: number, end: number): boolean {
    const last = end - OWN_NAME.length;
    for (let i = start; i < end; i++) {
      const c = bytes[i];
      if (c === BACKSLASH && bytes[i + 1] === LETTER_U && i + 1 < end) return true;
      if (c === 97 && i <= last && startsWithAscii(bytes, OWN_NAME, i)) return true;
    }
    return false;
  }

  /** Whether every byte of `bytes[start, end)` is printable ASCII (0x20–0x7f), four bytes at a time. */
  private isPrintableAscii(bytes: Buffer, start: number, end: number): boolean {
    const offset = bytes.byteOffset;
    let i = start;
    const firstWord = (offset + start + 3) >> 2;
    const lastWord = (offset + end) >> 2;
    if (lastWord > firstWord) {
      for (const stop = (firstWord << 2) - offset; i < stop; i++) if (!isPrintable(bytes[i]!)) return false;
      if (this.wordsMemory !== bytes.buffer) {
        this.wordsMemory = bytes.buffer;
        this.words = new Uint32Array(bytes.buffer, 0, bytes.buffer.byteLength >> 2);
      }
      const words = this.words;
      // A byte under 0x20 borrows into its own top bit when 0x20 is taken away; one from 0x80 up has it set.
      // Four words a turn: one test instead of four.
      let w = firstWord;
      for (const stop = lastWord - 3; w < stop; w += 4) {
        const a = words[w]!;
        const b = words[w + 1]!;
        const c = words[w + 2]!;
        const d = words[w + 3]!;
        if (((a - 0x20202020) | a | (b - 0x20202020) | b | (c - 0x20202020) | c | (d - 0x20202020) | d) & 0x80808080) return false;
      }
      for (; w < lastWord; w++) {
        const x = words[w]!;
        if (((x - 0x20202020) | x) & 0x80808080) return false;
      }
      i = (lastWord << 2) - offset;
    }
    for (; i < end; i++) if (!isPrintable(bytes[i]!)) return false;
    return true;
  }

  /**
   * The index of the quote closing the string whose content starts at `p`, or -1 when the string is not valid
   * JSON (a raw control character, a bad escape, no closing quote before `end`). Notes escapes and bytes
   * outside ASCII in `stringFlags`.
   */
  private stringEnd(bytes: Buffer, p: number, end: number): number {
    if (this.printable) {
      // No control character and no byte outside ASCII in the record: the closing quote is the next quote,
      // unless a backslash comes first (then the careful way below).
      const quote = bytes.indexOf(QUOTE, p);
      if (quote === -1 || quote >= end) return -1;
      const backslash = this.backslashes.at(bytes, p);
      if (backslash === -1 || backslash > quote) {
        this.stringFlags = 0;
        return quote;
      }
    }
    let flags = 0;
    for (; p < end; p++) {
      const c = bytes[p]!;
      if (c > QUOTE) {
        if (c === BACKSLASH) {
          flags |= ESCAPED;
          if (++p >= end) return -1;
          const escaped = bytes[p]!;
          if (escaped === LETTER_U) {
            if (p + 4 >= end || !isHex(bytes[p + 1]!) || !isHex(bytes[p + 2]!) || !isHex(bytes[p + 3]!) || !isHex(bytes[p + 4]!)) {
              return -1;
            }
            p += 4;
          } else if (!SIMPLE_ESCAPE[escaped]) return -1;
        } else if (c > 127) flags |= NON_ASCII;
      } else if (c === QUOTE) {
        this.stringFlags = flags;
        return p;
      } else if (c < SPACE) return -1;
    }
    return -1;
  }
}

/** Containers nested deeper than this take the generic path (the bit set of arrays holds 31 levels). */
export const MAX_DEPTH = 30;

// Field slots; the property fields come last.
const TIME = 0;
const CATEGORY = 1;
const OPERATION_NAME = 2;
const RESULT_TYPE = 3;
const RESULT_DESCRIPTION = 4;
const RESOURCE_ID = 5;
const REPOSITORY = 6;
const DIGEST = 7;
const USER_AGENT = 8;
const LOGIN_SERVER = 9;
const FIELD_COUNT = 10;
const FIRST_PROPERTY = REPOSITORY;
const NONE = -1;
const PROPERTIES = -2;
const TOP_LEVEL_SLOTS = new Map<string, number>([
  ['time', TIME],
  ['category', CATEGORY],
  ['operationName', OPERATION_NAME],
  ['resultType', RESULT_TYPE],
  ['resultDescription', RESULT_DESCRIPTION],
  ['resourceId', RESOURCE_ID],
  ['properties', PROPERTIES],
]);
const PROPERTY_SLOTS = new Map<string, number>([
  ['repository', REPOSITORY],
  ['digest', DIGEST],
  ['userAgent', USER_AGENT],
  ['loginServer', LOGIN_SERVER],
]);

// What a field slot holds.
const ABSENT = 0;
const PLAIN_STRING = 1;
const ESCAPED_STRING = 2;
const NON_ASCII_STRING = 3;
const NUMBER = 4;
const OTHER = 5;

const ESCAPED = 1;
const NON_ASCII = 2;

const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const COLON = 58;
const OPEN_BRACKET = 91;
const BACKSLASH = 92;
const CLOSE_BRACKET = 93;
const LETTER_U = 117;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** The characters that may follow a backslash, `u` aside: `" \ / b f n r t`. */
const SIMPLE_ESCAPE: boolean[] = [];
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = true;

function isPrintable(c: number): boolean {
  return c >= SPACE && c < 128;
}

function isHex(c: number): boolean {
  return (c >= DIGIT_0 && c <= DIGIT_9) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** JSON's white space: space, tab, line feed, carriage return. */
function skipSpace(bytes: Buffer, p: number, end: number): number {
  while (p < end) {
    const c = bytes[p]!;
    if (c !== SPACE && c !== 10 && c !== 13 && c !== 9) return p;
    p++;
  }
  return p;
}

/** The end of the JSON number at `p` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), or -1. */
function numberEnd(bytes: Buffer, p: number, end: number): number {
  if (bytes[p]! === MINUS) p++;
  if (p >= end) return -1;
  const first = bytes[p]!;
  if (first === DIGIT_0) p++;
  else if (first > DIGIT_0 && first <= DIGIT_9) p = digitsEnd(bytes, p + 1, end);
  else return -1;
  if (p < end && bytes[p]! === 46) {
    const fractionEnd = digitsEnd(bytes, p + 1, end);
    if (fractionEnd === p + 1) return -1;
    p = fractionEnd;
  }
  if (p < end && (bytes[p]! | 0x20) === 101) {
    p++;
    const sign = bytes[p]!;
    if (p < end && (sign === 43 || sign === MINUS)) p++;
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

/** The slot of a key written with escapes (`"ti\u006de"` is `time`), decoded: rare enough to decode. */
function escapedKeyField(bytes: Buffer, quote: number, end: number, topLevel: boolean): number {
  const key = JSON.parse(bytes.toString('utf8', quote, end)) as string;
  const slot = (topLevel ? TOP_LEVEL_SLOTS : PROPERTY_SLOTS).get(key);
  return slot ?? NONE;
}

/** The slot of a top-level key `bytes[at, at + length)`, by length first: most keys are rejected on it. */
function topLevelField(bytes: Buffer, at: number, length: number): number {
  switch (length) {
    case 4:
      return startsWithAscii(bytes, 'time', at) ? TIME : NONE;
    case 8:
      return startsWithAscii(bytes, 'category', at) ? CATEGORY : NONE;
    case 10:
      if (startsWithAscii(bytes, 'properties', at)) return PROPERTIES;
      if (startsWithAscii(bytes, 'resultType', at)) return RESULT_TYPE;
      return startsWithAscii(bytes, 'resourceId', at) ? RESOURCE_ID : NONE;
    case 13:
      return startsWithAscii(bytes, 'operationName', at) ? OPERATION_NAME : NONE;
    case 17:
      return startsWithAscii(bytes, 'resultDescription', at) ? RESULT_DESCRIPTION : NONE;
    default:
      return NONE;
  }
}

function propertyField(bytes: Buffer, at: number, length: number): number {
  switch (length) {
    case 10:
      return startsWithAscii(bytes, 'repository', at) ? REPOSITORY : NONE;
    case 6:
      return startsWithAscii(bytes, 'digest', at) ? DIGEST : NONE;
    case 9:
      return startsWithAscii(bytes, 'userAgent', at) ? USER_AGENT : NONE;
    case 11:
      return startsWithAscii(bytes, 'loginServer', at) ? LOGIN_SERVER : NONE;
    default:
      return NONE;
  }
}

function startsWithAscii(bytes: Buffer, word: string, at: number): boolean {
  for (let i = 0; i < word.length; i++) if (bytes[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

function equalsAscii(bytes: Buffer, start: number, end: number, word: string): boolean {
  return end - start === word.length && startsWithAscii(bytes, word, start);
}

/** Exactly `Pull` or `Push` (other spellings go to classifyFields, which compares without case). */
function isPullOrPush(bytes: Buffer, start: number, end: number): boolean {
  return end - start === 4 && bytes[start] === 80 && bytes[start + 1] === 117 && ((bytes[start + 2] === 108 && bytes[start + 3] === 108) || (bytes[start + 2] === 115 && bytes[start + 3] === 104));
}

/** Exactly `200` or `201`. */
function isSuccessStatus(bytes: Buffer, start: number, end: number): boolean {
  return end - start === 3 && bytes[start] === 50 && bytes[start + 1] === 48 && (bytes[start + 2] === 48 || bytes[start + 2] === 49);
}

/** Not empty, not `<nil>`, no upper-case letter (ASCII: the kind of a plain string guarantees it). */
function isPlainRepository(bytes: Buffer, start: number, end: number): boolean {
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
function isRegistryResource(bytes: Buffer, start: number, end: number, registryName: string): boolean | undefined {
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
class ServiceTimeReader {
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
const OWN_NAME = OWN_USER_AGENT_PREFIX.slice(0, -1);

class NextOccurrence {
  private bytes: Buffer | undefined;
  private searchedFrom = 0;
  private found = -1;

  private readonly length: number;

  /** A byte, or a sequence of bytes. */
  constructor(private readonly needle: number | Buffer) {
    this.length = typeof needle === 'number' ? 1 : needle.length;
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

/**
 * What a generic scan of a printable record saw, to learn its shape from: where its variable tokens (string
 * contents and numbers) are, and which token, if any, each field slot finally holds (a later key of the same
 * name, or a later `properties`, takes over, as in the scan).
 */
class Trace {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly numbers: boolean[] = [];
  /** Per slot: the token it holds, OWNER_OTHER (a container or a literal), or OWNER_ABSENT. */
  readonly owners = new Int32Array(FIELD_COUNT);

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
    this.numbers.length = 0;
    this.owners.fill(OWNER_ABSENT);
  }

  token(start: number, end: number, isNumber: boolean, field: number): void {
    if (field !== NONE) this.owners[field] = this.starts.length;
    this.starts.push(start);
    this.ends.push(end);
    this.numbers.push(isNumber);
  }

  other(field: number): void {
    this.owners[field] = OWNER_OTHER;
  }

  resetProperties(): void {
    for (let f = FIRST_PROPERTY; f < FIELD_COUNT; f++) this.owners[f] = OWNER_ABSENT;
  }
}

const OWNER_ABSENT = -2;
const OWNER_OTHER = -1;

/**
 * A record's shape: its bytes with the variable tokens (string contents, numbers) taken out. A record of the same
 * shape has exactly these bytes around tokens of its own; matching them proves it is the same JSON structure —
 * the same keys at the same depths, hence the same fields — so only its tokens need reading.
 */
class Shape {
  constructor(
    /** The bytes before each token, and after the last. */
    readonly fixed: Buffer[],
    readonly numbers: boolean[],
    /** The slot each token fills (NONE for most). */
    readonly fields: Int32Array,
    /** Each slot before the tokens are read: ABSENT, or OTHER. */
    readonly kinds: Uint8Array,
  ) {}

  matches = 0;
}

/** The few shapes a log's producers write, most recently matched first. */
class LearnedShapes {
  private readonly shapes: Shape[] = [];
  /** Records in a row that matched no shape: after many, learning pauses (a log of ever-new shapes). */
  private misses = 0;

  wantsToLearn(): boolean {
    this.misses++;
    return this.misses <= MISSES_BEFORE_PAUSE || this.misses % MISSES_BEFORE_PAUSE === 0;
  }

  match(scanner: RecordScanner, bytes: Buffer, start: number, end: number): boolean {
    const shapes = this.shapes;
    for (let i = 0; i < shapes.length; i++) {
      const shape = shapes[i]!;
      if (!matchShape(shape, scanner, bytes, start, end)) continue;
      // The most matched shape is tried first (a mismatch can cost half a record's work).
      shape.matches++;
      if (i > 0 && shape.matches > shapes[i - 1]!.matches) {
        shapes[i] = shapes[i - 1]!;
        shapes[i - 1] = shape;
      }
      this.misses = 0;
      return true;
    }
    return false;
  }

  learn(trace: Trace, bytes: Buffer, start: number, end: number): void {
    const count = trace.starts.length;
    const fixed: Buffer[] = [];
    let from = start;
    for (let t = 0; t < count; t++) {
      fixed.push(Buffer.from(bytes.subarray(from, trace.starts[t])));
      from = trace.ends[t]!;
    }
    fixed.push(Buffer.from(bytes.subarray(from, end)));
    const fields = new Int32Array(count).fill(NONE);
    const kinds = new Uint8Array(FIELD_COUNT);
    for (let f = 0; f < FIELD_COUNT; f++) {
      const owner = trace.owners[f]!;
      if (owner >= 0) fields[owner] = f;
      kinds[f] = owner === OWNER_OTHER ? OTHER : ABSENT;
    }
    if (this.shapes.length >= MAX_SHAPES) this.shapes.pop();
    this.shapes.push(new Shape(fixed, [...trace.numbers], fields, kinds));
  }
}

const MAX_SHAPES = 8;
const MISSES_BEFORE_PAUSE = 64;

function matchShape(shape: Shape, scanner: RecordScanner, bytes: Buffer, start: number, end: number): boolean {
  const { fixed, numbers, fields } = shape;
  let p = start;
  const tokens = numbers.length;
  scanner.presetKinds(shape.kinds);
  for (let t = 0; ; t++) {
    const expected = fixed[t]!;
    const length = expected.length;
    if (p + length > end) return false;
    for (let i = 0; i < length; i++) if (bytes[p + i] !== expected[i]) return false;
    p += length;
    if (t === tokens) return p === end;
    p = numbers[t] ? scanner.readShapeNumber(bytes, p, end, fields[t]!) : scanner.readShapeString(bytes, p, end, fields[t]!);
    if (p < 0) return false;
  }
}
