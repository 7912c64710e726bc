// AssemblyScript, compiled to WebAssembly by scripts/build-wasm.mjs (npm run build:wasm) into
// src/accessLog/recordGrammarWasm.ts. It is recordScanner.ts's pass over the bytes of one record: it validates the
// whole JSON grammar and notes where the fields the cleaner reads are (kind, start, end per field slot), decoding
// nothing. recordScanner.ts copies each record to INPUT, fills the key tables, and reads the slots back.

/** Field slots (recordScanner.ts numbers them) and what each holds. */
export const MAX_FIELDS: i32 = 32;
export const KIND_ABSENT: i32 = 0;
export const KIND_STRING: i32 = 1;
/** A string with escapes. */
export const KIND_ESCAPED: i32 = 2;
/** A string with a `\u` escape of an ASCII character: any ASCII text may hide in it. */
export const KIND_ASCII_ESCAPED: i32 = 3;
export const KIND_NUMBER: i32 = 4;
export const KIND_OTHER: i32 = 5;
/** Containers nested deeper than this are not read here (the bit set of arrays holds 31 levels). */
export const MAX_DEPTH: i32 = 30;
/**
 * A key table entry is a field slot + 3, PROPERTIES_ENTRY for `properties`, 0 for none; tables are indexed by
 * table (0: top level, 1: in `properties`), key length (4 to 31) and the key's last byte.
 */
export const PROPERTIES_ENTRY: i32 = 1;
export const KEY_TABLE_SIZE: i32 = 32 * 256;
/** The bytes of the key of entry e are at KEY_BYTES + 32 * e. */
export const KEY_BYTES_PER_ENTRY: i32 = 32;

const kinds = memory.data(MAX_FIELDS, 16);
const starts = memory.data(MAX_FIELDS * 4, 16);
const ends = memory.data(MAX_FIELDS * 4, 16);
const keyEntries = memory.data(2 * KEY_TABLE_SIZE, 16);
const keyBytes = memory.data((MAX_FIELDS + 3) * KEY_BYTES_PER_ENTRY, 16);
/** Per byte: BLANK, SIMPLE_ESCAPE and HEX bits (filled by `init`). */
const classes = memory.data(256, 16);
/** Per byte: its value as a lower-case hex digit, 0xff for any other byte. */
const hexValues = memory.data(256, 16);

const BLANK: u8 = 1;
const SIMPLE_ESCAPE: u8 = 2;
const HEX: u8 = 4;

const NONE: i32 = -1;
const PROPERTIES: i32 = -2;

const TAB: u32 = 9;
const NEWLINE: u32 = 10;
const CR: u32 = 13;
const SPACE: u32 = 32;
const QUOTE: u32 = 34;
const COMMA: u32 = 44;
const MINUS: u32 = 45;
const DOT: u32 = 46;
const DIGIT_0: u32 = 48;
const DIGIT_9: u32 = 57;
const COLON: u32 = 58;
const OPEN_BRACKET: u32 = 91;
const BACKSLASH: u32 = 92;
const CLOSE_BRACKET: u32 = 93;
const LETTER_U: u32 = 117;
const OPEN_BRACE: u32 = 123;
const CLOSE_BRACE: u32 = 125;

export function kindsOffset(): usize {
  return kinds;
}
export function startsOffset(): usize {
  return starts;
}
export function endsOffset(): usize {
  return ends;
}
export function keyEntriesOffset(): usize {
  return keyEntries;
}
export function keyBytesOffset(): usize {
  return keyBytes;
}
/** Where the record goes: after everything above, with room for reading 16 bytes past its end. */
export function inputOffset(): usize {
  return (__heap_base + 15) & ~15;
}

export function init(): void {
  for (let c: u32 = 0; c < 256; c++) {
    store<u8>(classes + c, 0);
    store<u8>(hexValues + c, 0xff);
  }
  for (let c: u32 = 0; c < 10; c++) store<u8>(hexValues + 48 + c, <u8>c);
  for (let c: u32 = 0; c < 6; c++) store<u8>(hexValues + 97 + c, <u8>(10 + c));
  store<u8>(classes + SPACE, BLANK);
  store<u8>(classes + TAB, BLANK);
  store<u8>(classes + NEWLINE, BLANK);
  store<u8>(classes + CR, BLANK);
  for (let c: u32 = 48; c <= 57; c++) store<u8>(classes + c, HEX);
  for (let c: u32 = 65; c <= 70; c++) store<u8>(classes + c, HEX);
  for (let c: u32 = 97; c <= 102; c++) store<u8>(classes + c, HEX);
  // The characters that may follow a backslash, `u` aside: `" \ / b f n r t` (`b` and `f` are hex digits too).
  markEscape(QUOTE);
  markEscape(BACKSLASH);
  markEscape(47);
  markEscape(98);
  markEscape(102);
  markEscape(110);
  markEscape(114);
  markEscape(116);
}

function markEscape(c: u32): void {
  store<u8>(classes + c, load<u8>(classes + c) | SIMPLE_ESCAPE);
}

let stringKind: i32 = KIND_STRING;

/**
 * Reads the record of `length` bytes at INPUT + `at`: 1 when it is valid JSON that this pass read whole (the slots
 * then hold its fields, at offsets that count its first byte as `base`), 0 when it must take the generic path.
 */
export function scan(at: i32, length: i32, base: i32): i32 {
  for (let f = 0; f < MAX_FIELDS; f++) store<u8>(kinds + f, <u8>KIND_ABSENT);
  const input = inputOffset() + <usize>at;
  const end = input + <usize>length;
  const shift = base - <i32>input;
  fieldShift = <usize>shift;
  let p = skipSpace(input, end);
  if (p >= end || load<u8>(p) != OPEN_BRACE) return 0;
  let depth: i32 = 1;
  /** Bit d is set while the container at depth d is an array. */
  let arrays: u32 = 0;
  /** 2 while the top-level `properties` object is open (its keys are at depth 2), else 0. */
  let propertiesDepth: i32 = 0;
  p = skipSpace(p + 1, end);
  if (p < end && load<u8>(p) == CLOSE_BRACE) return skipSpace(p + 1, end) == end ? 1 : 0;
  while (true) {
    // A member of an object (key, colon, value) or an element of an array, at p.
    let field = NONE;
    if ((arrays & (1 << depth)) == 0) {
      if (p >= end || load<u8>(p) != QUOTE) return 0;
      const keyEnd = stringEnd(p + 1, end);
      if (keyEnd < 0) return 0;
      if (depth == 1 || depth == propertiesDepth) {
        // A key written with escapes could be any key: the generic path decodes it.
        if (stringKind != KIND_STRING) return 0;
        field = keyField(p + 1, <usize>keyEnd, depth == 1 ? 0 : 1);
      }
      p = <usize>keyEnd + 1;
      if (p + 1 < end && load<u16>(p) == <u16>(COLON | (SPACE << 8))) p = skipSpace(p + 2, end);
      else {
        p = skipSpace(p, end);
        if (p >= end || load<u8>(p) != COLON) return 0;
        p = skipSpace(p + 1, end);
      }
      if (field == PROPERTIES) {
        // A later `properties` replaces an earlier one whole.
        for (let f = firstPropertySlot; f < MAX_FIELDS; f++) store<u8>(kinds + f, <u8>KIND_ABSENT);
        field = NONE;
        if (p < end && load<u8>(p) == OPEN_BRACE) propertiesDepth = 2;
      }
    }
    if (p >= end) return 0;
    const c = <u32>load<u8>(p);
    if (c == QUOTE) {
      const valueEnd = stringEnd(p + 1, end);
      if (valueEnd < 0) return 0;
      if (field != NONE) setField(field, stringKind, p + 1, <usize>valueEnd, shift);
      p = <usize>valueEnd + 1;
    } else if (c == OPEN_BRACE || c == OPEN_BRACKET) {
      if (field != NONE) store<u8>(kinds + field, <u8>KIND_OTHER);
      if (++depth > MAX_DEPTH) return 0;
      if (c == OPEN_BRACKET) arrays |= 1 << depth;
      else arrays &= ~(1 << depth);
      p = skipSpace(p + 1, end);
      if (p >= end || load<u8>(p) != c + 2) continue;
      // An empty container (`]` and `}` are 2 after `[` and `{`): closed at once, then on as after any value.
      if (depth == propertiesDepth) propertiesDepth = 0;
      depth--;
      p++;
    } else {
      const isNumber = c == MINUS || (c >= DIGIT_0 && c <= DIGIT_9);
      const valueEnd = isNumber ? numberEnd(p, end) : literalEnd(p, end, c);
      if (valueEnd < 0) return 0;
      if (field != NONE) setField(field, isNumber ? KIND_NUMBER : KIND_OTHER, p, <usize>valueEnd, shift);
      p = <usize>valueEnd;
    }
    // After a value: a comma and the next member, or the closing of one or more containers.
    while (true) {
      p = skipSpace(p, end);
      if (p >= end) return 0;
      const after = <u32>load<u8>(p);
      if (after == COMMA) {
        p = skipSpace(p + 1 < end && load<u8>(p + 1) == SPACE ? p + 2 : p + 1, end);
        break;
      }
      if (after != ((arrays & (1 << depth)) != 0 ? CLOSE_BRACKET : CLOSE_BRACE)) return 0;
      if (depth == propertiesDepth) propertiesDepth = 0;
      p++;
      if (--depth == 0) return skipSpace(p, end) == end ? 1 : 0;
    }
  }
}

/** The first slot of the fields inside `properties` (set by recordScanner.ts). */
let firstPropertySlot: i32 = MAX_FIELDS;
export function setFirstPropertySlot(slot: i32): void {
  firstPropertySlot = slot;
}

@inline
function setField(field: i32, kind: i32, start: usize, end: usize, shift: i32): void {
  store<u8>(kinds + field, <u8>kind);
  store<i32>(starts + (field << 2), <i32>start + shift);
  store<i32>(ends + (field << 2), <i32>end + shift);
}

@inline
function skipSpace(p: usize, end: usize): usize {
  while (p < end && (load<u8>(classes + load<u8>(p)) & BLANK) != 0) p++;
  return p;
}

/**
 * The address of the quote closing the string whose content starts at `p`, or -1 when the string is not valid JSON
 * (a raw control character, a bad escape, no closing quote before `end`). Sets `stringKind`.
 */
function stringEnd(p: usize, end: usize): isize {
  const quotes = i8x16.splat(<i8>QUOTE);
  const backslashes = i8x16.splat(<i8>BACKSLASH);
  const spaces = i8x16.splat(<i8>SPACE);
  let kind = KIND_STRING;
  while (true) {
    // Sixteen bytes at a time to the first that may end the string (bytes past `end` count for nothing).
    while (p < end) {
      const bytes = v128.load(p);
      const stops = v128.or(v128.or(i8x16.eq(bytes, quotes), i8x16.eq(bytes, backslashes)), i8x16.lt_u(bytes, spaces));
      const mask = i8x16.bitmask(stops);
      if (mask != 0) {
        p += <usize>ctz(mask);
        break;
      }
      p += 16;
    }
    if (p >= end) return -1;
    const c = <u32>load<u8>(p);
    if (c == QUOTE) {
      stringKind = kind;
      return <isize>p;
    }
    // A backslash, or a raw control character (which JSON.parse refuses).
    if (c != BACKSLASH) return -1;
    const next = escapeEnd(p, end);
    if (next < 0) return -1;
    if (kind != KIND_ASCII_ESCAPED) kind = <usize>next - p == 6 && isAsciiEscape(p) ? KIND_ASCII_ESCAPED : KIND_ESCAPED;
    p = <usize>next;
  }
  return -1;
}

/** The end of the escape at `p` (a backslash), or -1 when it is not one JSON allows. */
function escapeEnd(p: usize, end: usize): isize {
  if (p + 1 >= end) return -1;
  const escape = <u32>load<u8>(p + 1);
  if (escape != LETTER_U) return (load<u8>(classes + escape) & SIMPLE_ESCAPE) != 0 ? <isize>(p + 2) : -1;
  if (p + 5 >= end) return -1;
  for (let i: usize = 2; i < 6; i++) if ((load<u8>(classes + load<u8>(p + i)) & HEX) == 0) return -1;
  return <isize>(p + 6);
}

/** Whether the `\u` escape at `p` is one of an ASCII character (`\u0000` to `\u007f`). */
function isAsciiEscape(p: usize): bool {
  return load<u8>(p + 2) == DIGIT_0 && load<u8>(p + 3) == DIGIT_0 && <u32>load<u8>(p + 4) <= DIGIT_0 + 7;
}

/** The end of the JSON number at `p` (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`), or -1. */
function numberEnd(p: usize, end: usize): isize {
  if (load<u8>(p) == MINUS) p++;
  if (p >= end) return -1;
  const first = <u32>load<u8>(p);
  if (first == DIGIT_0) p++;
  else if (first > DIGIT_0 && first <= DIGIT_9) p = digitsEnd(p + 1, end);
  else return -1;
  if (p < end && load<u8>(p) == DOT) {
    const fractionEnd = digitsEnd(p + 1, end);
    if (fractionEnd == p + 1) return -1;
    p = fractionEnd;
  }
  if (p < end && (<u32>load<u8>(p) | 0x20) == 101) {
    p++;
    if (p < end && (load<u8>(p) == 43 || load<u8>(p) == MINUS)) p++;
    const exponentEnd = digitsEnd(p, end);
    if (exponentEnd == p) return -1;
    p = exponentEnd;
  }
  return <isize>p;
}

@inline
function digitsEnd(p: usize, end: usize): usize {
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c < DIGIT_0 || c > DIGIT_9) return p;
    p++;
  }
  return p;
}

/** The end of `true`, `false` or `null` at `p`, or -1. */
function literalEnd(p: usize, end: usize, first: u32): isize {
  if (first == 116 || first == 110) {
    // `true` and `null` are four bytes, read as one little-endian word.
    if (p + 4 > end) return -1;
    const word = load<u32>(p);
    return word == 0x65757274 || word == 0x6c6c756e ? <isize>(p + 4) : -1;
  }
  if (first == 102) {
    if (p + 5 > end) return -1;
    return load<u32>(p) == 0x736c6166 && load<u8>(p + 4) == 101 ? <isize>(p + 5) : -1;
  }
  return -1;
}

/** The slot of the key `[start, end)` in key table `table`, PROPERTIES, or NONE. */
function keyField(start: usize, end: usize, table: i32): i32 {
  const length = <i32>(end - start);
  if (length < 4 || length > 31) return NONE;
  const entry = <i32>load<u8>(keyEntries + table * KEY_TABLE_SIZE + ((length << 8) | load<u8>(end - 1)));
  if (entry == 0) return NONE;
  const key = keyBytes + entry * KEY_BYTES_PER_ENTRY;
  for (let i = 0; i < length; i++) if (load<u8>(start + i) != load<u8>(key + i)) return NONE;
  return entry == PROPERTIES_ENTRY ? PROPERTIES : entry - 3;
}

// ---------------------------------------------------------------------------------------------------------------
// The common decisions on a scanned record (recordScanner.ts's `classify`), made on its bytes.

/** `classify` answers: decide on the decoded fields (classifyFields), or one of these. */
export const OUTCOME_UNDECIDED: i32 = 0;
export const OUTCOME_ACCESS: i32 = 1;
/** An access, unless its user agent (decoded by the caller) says otherwise. */
export const OUTCOME_ACCESS_IF_AGENT: i32 = 2;
export const OUTCOME_OTHER_REGISTRY: i32 = 3;
export const OUTCOME_OUTSIDE_WINDOW: i32 = 4;
export const OUTCOME_UNSUCCESSFUL: i32 = 5;

/** The texts compared with (filled by recordScanner.ts): the category, `HttpStatusCode`, this tool's name. */
export const TEXT_BYTES: i32 = 64;
const categoryText = memory.data(TEXT_BYTES, 16);
const resultTypeText = memory.data(TEXT_BYTES, 16);
const ownNameText = memory.data(TEXT_BYTES, 16);
/** The registry's name as UTF-16 code units (up to 256). */
const registryNameText = memory.data(512, 16);
/** Out: the digest's 64 hex digits as 8 words (each 8 digits, in order), and the time as f64. */
const digestWords = memory.data(32, 16);
const timeOut = memory.data(8, 16);

let categoryLength: i32 = 0;
let resultTypeLength: i32 = 0;
let ownNameLength: i32 = 0;
let registryNameLength: i32 = -1;
let windowStartMs: f64 = 0;
let windowEndMs: f64 = 0;
let clockSkewMs: f64 = 0;
let agentsIgnored: bool = false;
let TIME: i32 = 0;
let CATEGORY: i32 = 0;
let OPERATION_NAME: i32 = 0;
let RESULT_TYPE: i32 = 0;
let RESULT_DESCRIPTION: i32 = 0;
let RESOURCE_ID: i32 = 0;
let REPOSITORY: i32 = 0;
let DIGEST: i32 = 0;
let USER_AGENT: i32 = 0;

export function categoryTextOffset(): usize {
  return categoryText;
}
export function resultTypeTextOffset(): usize {
  return resultTypeText;
}
export function ownNameTextOffset(): usize {
  return ownNameText;
}
export function registryNameOffset(): usize {
  return registryNameText;
}
export function digestWordsOffset(): usize {
  return digestWords;
}
export function timeOffset(): usize {
  return timeOut;
}

export function setTexts(category: i32, resultType: i32, ownName: i32, skewMs: f64): void {
  categoryLength = category;
  resultTypeLength = resultType;
  ownNameLength = ownName;
  clockSkewMs = skewMs;
}

export function setSlots(time: i32, category: i32, operationName: i32, resultType: i32, resultDescription: i32, resourceId: i32, repository: i32, digest: i32, userAgent: i32): void {
  TIME = time;
  CATEGORY = category;
  OPERATION_NAME = operationName;
  RESULT_TYPE = resultType;
  RESULT_DESCRIPTION = resultDescription;
  RESOURCE_ID = resourceId;
  REPOSITORY = repository;
  DIGEST = digest;
  USER_AGENT = userAgent;
}

/** The filter: the window, the registry's name length (-1: any registry; its units at registryNameOffset). */
export function setFilter(startMs: f64, endMs: f64, registryLength: i32, ignoresAgents: bool): void {
  windowStartMs = startMs;
  windowEndMs = endMs;
  registryNameLength = registryLength;
  agentsIgnored = ignoresAgents;
}

@inline
function kindOf(field: i32): i32 {
  return <i32>load<u8>(kinds + field);
}
@inline
function startOf(field: i32): usize {
  return <usize>load<i32>(starts + (field << 2)) - fieldShift;
}
@inline
function endOf(field: i32): usize {
  return <usize>load<i32>(ends + (field << 2)) - fieldShift;
}

/** Offsets in the slots are counted from `base`; this turns them back into addresses (set by `scan`). */
let fieldShift: usize = 0;

/**
 * The classification of the record `scan` last accepted, for the common cases; OUTCOME_UNDECIDED for anything less
 * common (another case, escapes, `<nil>`, a time in another format, a date in the future, a missing field), which
 * the caller decides on the decoded fields. Every answer given here is the one classifyFields gives.
 */
export function classify(): i32 {
  store<f64>(timeOut, NaN);
  if (kindOf(CATEGORY) != KIND_STRING || !equalsText(startOf(CATEGORY), endOf(CATEGORY), categoryText, categoryLength)) return OUTCOME_UNDECIDED;
  if (kindOf(TIME) != KIND_STRING) return OUTCOME_UNDECIDED;
  let timeMs = serviceTime(startOf(TIME), endOf(TIME));
  if (isNaN(timeMs)) return OUTCOME_UNDECIDED;
  if (registryNameLength >= 0) {
    if (kindOf(RESOURCE_ID) != KIND_STRING) return OUTCOME_UNDECIDED;
    const same = registryResource(startOf(RESOURCE_ID), endOf(RESOURCE_ID));
    if (same < 0) return OUTCOME_UNDECIDED;
    if (same == 0) return OUTCOME_OTHER_REGISTRY;
  }
  if (timeMs > windowEndMs || (timeMs == windowEndMs && subMillisecond)) {
    const limitMs = windowEndMs + clockSkewMs;
    if (timeMs > limitMs || (timeMs == limitMs && subMillisecond)) return OUTCOME_UNDECIDED;
    timeMs = windowEndMs;
  }
  store<f64>(timeOut, timeMs);
  if (timeMs < windowStartMs) return OUTCOME_OUTSIDE_WINDOW;
  if (kindOf(OPERATION_NAME) != KIND_STRING || !isPullOrPush(startOf(OPERATION_NAME), endOf(OPERATION_NAME))) return OUTCOME_UNDECIDED;
  if (kindOf(RESULT_TYPE) != KIND_STRING || !equalsText(startOf(RESULT_TYPE), endOf(RESULT_TYPE), resultTypeText, resultTypeLength)) return OUTCOME_UNDECIDED;
  if (kindOf(RESULT_DESCRIPTION) != KIND_STRING) return OUTCOME_UNDECIDED;
  if (!isSuccessStatus(startOf(RESULT_DESCRIPTION), endOf(RESULT_DESCRIPTION))) return OUTCOME_UNSUCCESSFUL;
  if (kindOf(REPOSITORY) != KIND_STRING || !isPlainRepository(startOf(REPOSITORY), endOf(REPOSITORY))) return OUTCOME_UNDECIDED;
  if (kindOf(DIGEST) != KIND_STRING || !readDigestWords(startOf(DIGEST), endOf(DIGEST))) return OUTCOME_UNDECIDED;
  if (agentsIgnored) return OUTCOME_ACCESS_IF_AGENT;
  const userAgent = kindOf(USER_AGENT);
  if (userAgent == KIND_ABSENT) return OUTCOME_ACCESS;
  // Decoding can make this tool's name appear only from its bytes as they are, or from a \u escape of an ASCII
  // character (no other escape gives a letter or a dash, and UTF-8 gives no ASCII byte but itself).
  if ((userAgent == KIND_STRING || userAgent == KIND_ESCAPED) && !contains(startOf(USER_AGENT), endOf(USER_AGENT), ownNameText, ownNameLength)) return OUTCOME_ACCESS;
  return OUTCOME_ACCESS_IF_AGENT;
}

function equalsText(start: usize, end: usize, text: usize, length: i32): bool {
  if (<i32>(end - start) != length) return false;
  for (let i = 0; i < length; i++) if (load<u8>(start + i) != load<u8>(text + i)) return false;
  return true;
}

/** Whether the text (at least two bytes) occurs in `[start, end)`: candidates found by its first two bytes, 16 places at a time. */
function contains(start: usize, end: usize, text: usize, length: i32): bool {
  if (<i32>(end - start) < length) return false;
  const last = end - <usize>length;
  const first = i8x16.splat(load<i8>(text));
  const second = i8x16.splat(load<i8>(text + 1));
  for (let p = start; p <= last; p += 16) {
    let candidates = i8x16.bitmask(v128.and(i8x16.eq(v128.load(p), first), i8x16.eq(v128.load(p + 1), second)));
    while (candidates != 0) {
      const at = p + <usize>ctz(candidates);
      if (at > last) return false;
      let i = 2;
      while (i < length && load<u8>(at + i) == load<u8>(text + i)) i++;
      if (i == length) return true;
      candidates &= candidates - 1;
    }
  }
  return false;
}

/** Exactly `Pull` or `Push` (other spellings are decided on the decoded fields, which compare without case). */
function isPullOrPush(start: usize, end: usize): bool {
  if (end - start != 4) return false;
  const word = load<u32>(start);
  return word == 0x6c6c7550 || word == 0x68737550;
}

/** Exactly `200` or `201`. */
function isSuccessStatus(start: usize, end: usize): bool {
  return end - start == 3 && load<u8>(start) == 50 && load<u8>(start + 1) == 48 && (load<u8>(start + 2) == 48 || load<u8>(start + 2) == 49);
}

/** `<nil>`, as Go writes a missing value. */
function isNil(start: usize, end: usize): bool {
  return end - start == 5 && load<u32>(start) == 0x6c696e3c && load<u8>(start + 4) == 62;
}

/** ASCII, not empty, not `<nil>`, no upper-case letter: the repository as counted, byte for byte. */
function isPlainRepository(start: usize, end: usize): bool {
  if (end == start || isNil(start, end)) return false;
  for (let p = start; p < end; p++) {
    const c = <u32>load<u8>(p);
    if ((c >= 65 && c <= 90) || c > 127) return false;
  }
  return true;
}

/**
 * Whether the last segment of a resource id (`…/REGISTRIES/NAME`), lower-cased, is the registry's name: 1 or 0;
 * -1 for an empty or `<nil>` resource id (decided on the login server) or a segment outside ASCII.
 */
function registryResource(start: usize, end: usize): i32 {
  if (end == start || isNil(start, end)) return -1;
  let from = end;
  while (from > start && load<u8>(from - 1) != 47) from--;
  let same = <i32>(end - from) == registryNameLength;
  for (let p = from; p < end; p++) {
    let c = <u32>load<u8>(p);
    if (c > 127) return -1;
    if (c >= 65 && c <= 90) c += 32;
    if (same && c != <u32>load<u16>(registryNameText + ((p - from) << 1))) same = false;
  }
  return same ? 1 : 0;
}

/** `sha256:` and 64 lower-case hex digits: the digits into digestWords. */
function readDigestWords(start: usize, end: usize): bool {
  // "sha256:" as a little-endian word and the three bytes after it.
  if (end - start != 71 || load<u32>(start) != 0x32616873 || load<u16>(start + 4) != 0x3635 || load<u8>(start + 6) != 58) return false;
  // A table, not comparisons: the digits of a digest are random, and so would the branches be.
  let p = start + 7;
  let invalid: u32 = 0;
  for (let word = 0; word < 8; word++) {
    let value: u32 = 0;
    for (let i = 0; i < 8; i++) {
      const digit = <u32>load<u8>(hexValues + load<u8>(p++));
      invalid |= digit;
      value = (value << 4) | digit;
    }
    store<u32>(digestWords + (word << 2), value);
  }
  return (invalid & 0xf0) == 0;
}

/** Whether the last time read had digits beyond the millisecond that were not zero. */
let subMillisecond: bool = false;

/**
 * `2025-01-30T14:19:15.1931730Z` (28 bytes) → epoch milliseconds, NaN for anything else (and for dates that are not
 * real, or years outside 100–9999: record.ts's isCalendarDate).
 */
function serviceTime(start: usize, end: usize): f64 {
  if (end - start != 28 || load<u8>(start + 4) != MINUS || load<u8>(start + 7) != MINUS || load<u8>(start + 10) != 84 || load<u8>(start + 13) != COLON) return NaN;
  if (load<u8>(start + 16) != COLON || load<u8>(start + 19) != DOT || load<u8>(start + 27) != 90) return NaN;
  const year = twoDigits(start) * 100 + twoDigits(start + 2);
  const month = twoDigits(start + 5);
  const day = twoDigits(start + 8);
  const hour = twoDigits(start + 11);
  const minute = twoDigits(start + 14);
  const second = twoDigits(start + 17);
  if (!isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return NaN;
  let fraction: i32 = 0;
  for (let p = start + 20; p < start + 27; p++) {
    const d = <i32>load<u8>(p) - 48;
    if (d < 0 || d > 9) return NaN;
    fraction = fraction * 10 + d;
  }
  subMillisecond = fraction % 10_000 != 0;
  return <f64>daysSinceEpoch(year, month, day) * 86_400_000 + <f64>(hour * 3_600_000 + minute * 60_000 + second * 1000 + fraction / 10_000);
}

@inline
function twoDigits(at: usize): i32 {
  const tens = <i32>load<u8>(at) - 48;
  const ones = <i32>load<u8>(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : 10_000;
}

function isCalendarDate(year: i32, month: i32, day: i32): bool {
  return year >= 100 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function daysInMonth(year: i32, month: i32): i32 {
  if (month != 2) return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28;
}

/** Days from 1970-01-01 to a real date (proleptic Gregorian, years 100–9999), by whole 400-year eras. */
function daysSinceEpoch(year: i32, month: i32, day: i32): i32 {
  const y = month <= 2 ? year - 1 : year;
  const era = y / 400;
  const yearOfEra = y - era * 400;
  const dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
