import { digestWordsOfBytes } from './counts.js';
import { emptyFields, type RecordFields } from './fields.js';
import {
  ABSENT,
  CATEGORY,
  DIGEST,
  ESCAPED_STRING,
  FIELD_COUNT,
  FIRST_PROPERTY,
  LOGIN_SERVER,
  NON_ASCII_STRING,
  NONE,
  NUMBER,
  OPERATION_NAME,
  OTHER,
  PLAIN_STRING,
  PROPERTIES,
  PROPERTY_SLOTS,
  REPOSITORY,
  RESOURCE_ID,
  RESULT_DESCRIPTION,
  RESULT_TYPE,
  TIME,
  TOP_LEVEL_SLOTS,
  USER_AGENT,
} from './fieldSlots.js';
import { LearnedShapes, Trace } from './learnedShapes.js';
import { CLOCK_SKEW_ALLOWANCE_MS, isOwnUserAgent, OWN_USER_AGENT_PREFIX, REPOSITORY_EVENTS_CATEGORY, type RecordFilter, type SkipReason } from './record.js';
import {
  BACKSLASH,
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  DIGIT_0,
  DIGIT_9,
  equalsAscii,
  isPlainRepository,
  isPullOrPush,
  isRegistryResource,
  isSuccessStatus,
  LETTER_U,
  MINUS,
  NextOccurrence,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
  ServiceTimeReader,
  SPACE,
  startsWithAscii,
} from './recordBytes.js';

/**
 * The fast path through a record: one pass over its bytes that validates the whole JSON grammar — strings and
 * their escapes, numbers, literals, nesting — and notes where the fields the cleaner reads are, without decoding
 * anything. It reads any key order, with or without spaces, with any nested objects; keys count only at their
 * own depth (the top level, or directly in the top-level `properties` object), and a key given twice counts
 * with its last value, as `JSON.parse` does.
 *
 * Whatever it cannot prove it reads exactly as `JSON.parse` would — a raw control character, nesting deeper
 * than {@link MAX_DEPTH}, anything malformed — makes `read` answer false, and the caller takes the generic path
 * (fields.ts). Records of a shape seen before are read faster still (learnedShapes.ts). Property tests hold the
 * paths to identical fields and classifications.
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

  /** Forgets the native searches it remembers for the buffers it has seen (see NextOccurrence). */
  forgetSearches(): void {
    this.backslashes.forget();
  }

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

  /** The memory of `bytes` as 32-bit words (index: the byte's offset in its ArrayBuffer, divided by 4). */
  wordView(bytes: Buffer): Uint32Array<ArrayBufferLike> {
    if (this.wordsMemory !== bytes.buffer) {
      this.wordsMemory = bytes.buffer;
      this.words = new Uint32Array(bytes.buffer, 0, bytes.buffer.byteLength >> 2);
    }
    return this.words;
  }

  /** Whether every byte of `bytes[start, end)` is printable ASCII (0x20–0x7f), four bytes at a time. */
  private isPrintableAscii(bytes: Buffer, start: number, end: number): boolean {
    const offset = bytes.byteOffset;
    let i = start;
    const firstWord = (offset + start + 3) >> 2;
    const lastWord = (offset + end) >> 2;
    if (lastWord > firstWord) {
      for (const stop = (firstWord << 2) - offset; i < stop; i++) if (!isPrintable(bytes[i]!)) return false;
      const words = this.wordView(bytes);
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

const ESCAPED = 1;
const NON_ASCII = 2;

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

const OWN_NAME = OWN_USER_AGENT_PREFIX.slice(0, -1);
