import { firstNonTextByte } from './notText.js';
import { salvageDigests } from './record.js';

/**
 * The longest record read (1 MiB): a longer line, or a longer element of a `{"records":[…]}` document, is skipped
 * as `oversized-line` without being held whole. Real records are about 1 KB.
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** How far past a line's `{` to look, across blank space and line breaks, for `"records":[`. */
const DOCUMENT_OPENER_LOOKAHEAD = 4096;

/**
 * Where the splitter hands its records, as bytes: JSON's structure is ASCII and UTF-8 never puts an ASCII byte
 * inside a multi-byte character, so splitting and scanning need no decoding, and a chunk boundary never cuts
 * a character in a way that matters; the record readers decode the few values they keep.
 */
export interface RecordSink {
  /**
   * One record, `bytes[start, end)`. `line` is the 1-based line it starts on; `unterminated` is true for a last
   * record with nothing after it (no line break, or no end of its document element): possibly half-written.
   */
  record(bytes: Buffer, start: number, end: number, line: number, unterminated: boolean): void;
  /**
   * A record longer than {@link MAX_RECORD_BYTES}, skipped; `digests` are those its text names, `nonTextByte` the
   * first byte in it that JSON text never holds (undefined: none).
   */
  oversized(line: number, digests: Set<string>, nonTextByte?: number): void;
}

const LINES = 0;
const DOCUMENT = 1;
const SKIPPING_LINE = 2;

const BETWEEN_ELEMENTS = 0;
const IN_ELEMENT = 1;
const AFTER_ARRAY = 2;

const TAB = 9;
const NEWLINE = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const OPEN_BRACKET = 91;
const BACKSLASH = 92;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const UNDECIDED = -2;
const NOT_A_DOCUMENT = -1;

/**
 * Splits a log file into records without holding the whole file: JSON Lines (one record per line, the archive's
 * format since 2018-11) and `{"records":[…]}` documents (older blobs, Event Hubs), wherever a document starts —
 * the whole file, compact or pretty-printed, or any line among JSON lines. The choice is made again at every
 * line, never once for the file. Tolerates a UTF-8 BOM, CRLF, blank lines and a half-written last record.
 *
 * Cost is linear in the input and memory is bounded: the bytes of one record are held at most (up to
 * {@link MAX_RECORD_BYTES} plus one chunk); a longer one is skipped while its digests are salvaged on the fly.
 * Nothing of a chunk is referenced once `push` returns (what carries over to the next chunk is copied): the
 * caller may read the next chunk into the same buffer.
 */
export class RecordSplitter {
  private mode = LINES;
  private line = 1;
  private started = false;
  private ending = false;
  /** The start of an unfinished line or document element, in pieces (joined once, when it is complete). */
  private carry: Buffer[] = [];
  private carryLength = 0;
  private carryLine = 1;
  /** The carry began a line that may open a document, and too little of it has arrived to tell. */
  private carryUndecided = false;
  // Document mode: where the scan of the records array is.
  private phase = BETWEEN_ELEMENTS;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scalarElement = false;
  private elementLine = 0;
  // An oversized record being skipped.
  private skipping = false;
  private skippedLine = 0;
  private readonly salvage = new DigestSalvage();
  /** The most bytes held in the carry at once, and the bytes copied to carry and join pieces: the tests' bounds. */
  maxCarriedBytes = 0;
  copiedBytes = 0;
  /** The bytes looked at, past a line's start, for a document opener: the tests' bound on the cost of blank space. */
  lookaheadBytes = 0;
  private readonly openerScan = { reached: 0 };

  constructor(private readonly sink: RecordSink) {}

  push(chunk: Buffer | string): void {
    let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.started) {
      if (this.carryLength > 0) bytes = Buffer.concat([this.takeCarry(), bytes]);
      if (bytes.length < BOM.length && BOM.subarray(0, bytes.length).equals(bytes)) {
        this.carryPiece(bytes, 0, bytes.length);
        return;
      }
      this.started = true;
      if (bytes.subarray(0, BOM.length).equals(BOM)) bytes = bytes.subarray(BOM.length);
    }
    this.consume(bytes, 0);
  }

  /** Hands out the last, unterminated record, if any. */
  end(): void {
    this.ending = true;
    if (!this.started) {
      this.started = true;
      const bytes = this.takeCarry();
      if (!BOM.subarray(0, bytes.length).equals(bytes)) this.consume(bytes, 0);
    }
    if (this.carryUndecided) {
      this.carryUndecided = false;
      this.line = this.carryLine;
      this.consume(this.takeCarry(), 0);
    }
    if (this.skipping) this.finishOversized();
    else if (this.mode === LINES && this.carryLength > 0) {
      const bytes = this.takeCarry();
      this.emitLine(bytes, 0, bytes.length, this.carryLine, true);
    } else if (this.mode === DOCUMENT && this.phase === IN_ELEMENT) {
      const bytes = this.takeCarry();
      this.emitElement(bytes, 0, bytes.length, true);
    }
  }

  /**
   * Forgets an unfinished record (the data after it could not be read) and returns the digests its bytes named.
   */
  abandon(): Set<string> {
    if (!this.skipping) {
      for (const piece of this.carry) this.salvage.feed(piece, 0, piece.length);
    }
    this.carry = [];
    this.carryLength = 0;
    this.carryUndecided = false;
    this.skipping = false;
    this.mode = LINES;
    return this.salvage.take();
  }

  /** The line the splitter has reached (1-based). */
  get lineNumber(): number {
    return this.line;
  }

  private consume(bytes: Buffer, at: number): void {
    while (at < bytes.length) {
      if (this.mode === LINES) at = this.lines(bytes, at);
      else if (this.mode === DOCUMENT) at = this.document(bytes, at);
      else at = this.skipLine(bytes, at);
    }
  }

  private lines(bytes: Buffer, at: number): number {
    if (this.carryUndecided) {
      // The carried bytes may open a document: decide again, with these joined on.
      this.carryUndecided = false;
      this.line = this.carryLine;
      this.carryPiece(bytes, at, bytes.length);
      this.consume(this.takeCarry(), 0);
      return bytes.length;
    }
    if (this.carryLength > 0) return this.finishCarriedLine(bytes, at);
    for (;;) {
      let c = bytes[at];
      if (c === SPACE || c === TAB || c === CR) {
        // Blank lines hold nothing: passed over at once, each byte looked at once (not each line looked ahead from).
        const lineStart = afterBlankLines(bytes, at);
        if (lineStart > at) {
          this.line += countNewlines(bytes, at, lineStart);
          at = lineStart;
          if (at >= bytes.length) return at;
          c = bytes[at];
        }
      }
      if ((c === OPEN_BRACE && !startsOrdinaryRecord(bytes, at)) || c === SPACE || c === TAB || c === CR) {
        const opener = documentOpenerEnd(bytes, at, this.ending, this.openerScan);
        this.lookaheadBytes += this.openerScan.reached - at;
        if (opener >= 0) {
          this.line += countNewlines(bytes, at, opener);
          this.mode = DOCUMENT;
          this.phase = BETWEEN_ELEMENTS;
          return opener;
        }
        if (opener === UNDECIDED) {
          this.carryLine = this.line;
          this.carryUndecided = true;
          this.carryPiece(bytes, at, bytes.length);
          return bytes.length;
        }
      }
      const newline = bytes.indexOf(NEWLINE, at);
      if (newline === -1) {
        this.carryLine = this.line;
        if (bytes.length - at > MAX_RECORD_BYTES + 1) {
          this.startSkippingLine();
          return at;
        }
        this.carryPiece(bytes, at, bytes.length);
        return bytes.length;
      }
      this.emitLine(bytes, at, newline, this.line, false);
      this.line++;
      at = newline + 1;
      if (at >= bytes.length) return at;
    }
  }

  private finishCarriedLine(bytes: Buffer, at: number): number {
    const newline = bytes.indexOf(NEWLINE, at);
    const pieceEnd = newline === -1 ? bytes.length : newline;
    if (this.carryLength + (pieceEnd - at) > MAX_RECORD_BYTES + 1) {
      for (const piece of this.carry) this.salvage.feed(piece, 0, piece.length);
      this.carry = [];
      this.carryLength = 0;
      this.startSkippingLine();
      return at;
    }
    this.carryPiece(bytes, at, pieceEnd);
    if (newline === -1) return bytes.length;
    const line = this.takeCarry();
    this.emitLine(line, 0, line.length, this.carryLine, false);
    this.line++;
    return newline + 1;
  }

  private emitLine(bytes: Buffer, start: number, newline: number, line: number, unterminated: boolean): void {
    let end = newline;
    if (end > start && bytes[end - 1] === CR) end--;
    if (end - start > MAX_RECORD_BYTES) {
      this.salvage.feed(bytes, start, end);
      this.reportOversized(line);
      return;
    }
    if (end > start && !isBlank(bytes, start, end)) this.sink.record(bytes, start, end, line, unterminated);
  }

  /** From here to the end of the line (carried pieces already salvaged), the line is skipped. */
  private startSkippingLine(): void {
    this.skipping = true;
    this.skippedLine = this.carryLine;
    this.mode = SKIPPING_LINE;
  }

  /** Passes over the rest of an oversized line, salvaging its digests. */
  private skipLine(bytes: Buffer, at: number): number {
    const newline = bytes.indexOf(NEWLINE, at);
    if (newline === -1) {
      this.salvage.feed(bytes, at, bytes.length);
      return bytes.length;
    }
    this.salvage.feed(bytes, at, newline);
    this.finishOversized();
    this.mode = LINES;
    this.line++;
    return newline + 1;
  }

  private finishOversized(): void {
    this.skipping = false;
    this.reportOversized(this.skippedLine);
  }

  private reportOversized(line: number): void {
    const nonTextByte = this.salvage.nonTextByte;
    this.sink.oversized(line, this.salvage.take(), nonTextByte === -1 ? undefined : nonTextByte);
  }

  /** Walks the records array of a document, element by element, string- and escape-aware. */
  private document(bytes: Buffer, at: number): number {
    const n = bytes.length;
    let i = at;
    let elementStart = this.phase === IN_ELEMENT ? at : -1;
    while (i < n) {
      if (this.phase === BETWEEN_ELEMENTS) {
        const c = bytes[i];
        if (c === NEWLINE) this.line++;
        else if (c === CLOSE_BRACKET) this.phase = AFTER_ARRAY;
        else if (c === CLOSE_BRACE) {
          // A document whose array was never closed: read on as lines.
          this.mode = LINES;
          return i + 1;
        } else if (c !== SPACE && c !== TAB && c !== CR && c !== COMMA) {
          this.phase = IN_ELEMENT;
          this.elementLine = this.line;
          this.carryLine = this.line;
          elementStart = i;
          this.depth = c === OPEN_BRACE || c === OPEN_BRACKET ? 1 : 0;
          this.inString = c === QUOTE;
          this.escaped = false;
          this.scalarElement = this.depth === 0 && !this.inString;
        }
        i++;
      } else if (this.phase === IN_ELEMENT) {
        const end = this.elementEnd(bytes, i);
        if (end === -1) break;
        this.finishElement(bytes, elementStart, end);
        this.phase = BETWEEN_ELEMENTS;
        i = end;
      } else {
        const c = bytes[i];
        if (c === NEWLINE) this.line++;
        else if (c === CLOSE_BRACE) {
          this.mode = LINES;
          return i + 1;
        } else if (c !== SPACE && c !== TAB && c !== CR) {
          // More after the records array than its closing brace: read on as lines from here.
          this.mode = LINES;
          return i;
        }
        i++;
      }
    }
    if (this.phase === IN_ELEMENT) this.holdElement(bytes, elementStart, n);
    return n;
  }

  /** The index after the element being scanned (continuing at `i`), or -1 when it goes on past these bytes. */
  private elementEnd(bytes: Buffer, i: number): number {
    const n = bytes.length;
    let { depth, inString, escaped } = this;
    if (this.scalarElement) {
      for (; i < n; i++) {
        const c = bytes[i];
        if (c === COMMA || c === CLOSE_BRACKET || c === CLOSE_BRACE || c === SPACE || c === NEWLINE || c === CR || c === TAB) return i;
      }
      return -1;
    }
    for (; i < n; i++) {
      const c = bytes[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) {
          inString = false;
          if (depth === 0) return i + 1;
        } else if (c === NEWLINE) this.line++;
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) return i + 1;
      } else if (c === NEWLINE) this.line++;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    return -1;
  }

  private finishElement(bytes: Buffer, start: number, end: number): void {
    if (this.skipping) {
      this.salvage.feed(bytes, start, end);
      this.finishOversized();
    } else if (this.carryLength > 0) {
      this.carryPiece(bytes, start, end);
      const element = this.takeCarry();
      this.emitElement(element, 0, element.length, false);
    } else {
      this.emitElement(bytes, start, end, false);
    }
  }

  private emitElement(bytes: Buffer, start: number, end: number, unterminated: boolean): void {
    if (end - start > MAX_RECORD_BYTES) {
      this.salvage.feed(bytes, start, end);
      this.reportOversized(this.elementLine);
    } else if (end > start) {
      this.sink.record(bytes, start, end, this.elementLine, unterminated);
    }
  }

  /** Keeps the part of an unfinished element that these bytes hold, or salvages it when the element is too long. */
  private holdElement(bytes: Buffer, start: number, end: number): void {
    if (this.skipping) {
      this.salvage.feed(bytes, start, end);
      return;
    }
    this.carryPiece(bytes, start, end);
    if (this.carryLength > MAX_RECORD_BYTES) {
      for (const piece of this.carry) this.salvage.feed(piece, 0, piece.length);
      this.carry = [];
      this.carryLength = 0;
      this.skipping = true;
      this.skippedLine = this.elementLine;
    }
  }

  /** Keeps a copy: the splitter holds no reference to a chunk once `push` returns, so its buffer can be reused. */
  private carryPiece(bytes: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.carry.push(Buffer.from(bytes.subarray(from, to)));
    this.copiedBytes += to - from;
    this.carryLength += to - from;
    if (this.carryLength > this.maxCarriedBytes) this.maxCarriedBytes = this.carryLength;
  }

  private takeCarry(): Buffer {
    const carry = this.carry;
    const bytes = carry.length === 1 ? carry[0]! : Buffer.concat(carry, this.carryLength);
    if (carry.length > 1) this.copiedBytes += bytes.length;
    this.carry = [];
    this.carryLength = 0;
    return bytes;
  }
}

/**
 * Whether a `{"records":[` document opens at `at` (after blank space): the index after its `[`, NOT_A_DOCUMENT,
 * or UNDECIDED when the bytes end too soon to tell (never when `final`). `scan.reached` is where it stopped looking.
 */
function documentOpenerEnd(bytes: Buffer, at: number, final: boolean, scan: { reached: number }): number {
  const limit = Math.min(bytes.length, at + DOCUMENT_OPENER_LOOKAHEAD);
  const tooSoon = !final && limit === bytes.length ? UNDECIDED : NOT_A_DOCUMENT;
  let p = skipBlank(bytes, at, limit);
  const decided = (result: number): number => {
    scan.reached = Math.min(p + 1, limit);
    return result;
  };
  if (p >= limit) return decided(tooSoon);
  if (bytes[p] !== OPEN_BRACE) return decided(NOT_A_DOCUMENT);
  p = skipBlank(bytes, p + 1, limit);
  for (let k = 0; k < RECORDS_KEY.length; k++, p++) {
    if (p >= limit) return decided(tooSoon);
    if (bytes[p] !== RECORDS_KEY[k]) return decided(NOT_A_DOCUMENT);
  }
  p = skipBlank(bytes, p, limit);
  if (p >= limit) return decided(tooSoon);
  if (bytes[p] !== 58 /* : */) return decided(NOT_A_DOCUMENT);
  p = skipBlank(bytes, p + 1, limit);
  if (p >= limit) return decided(tooSoon);
  return decided(bytes[p] === OPEN_BRACKET ? p + 1 : NOT_A_DOCUMENT);
}

const RECORDS_KEY = Buffer.from('"records"');

/** Whether the `{` at `at` opens an ordinary record at once: `{"` and a key other than `records` (most lines). */
function startsOrdinaryRecord(bytes: Buffer, at: number): boolean {
  return at + 2 < bytes.length && bytes[at + 1] === QUOTE && bytes[at + 2] !== RECORDS_KEY[1];
}

function skipBlank(bytes: Buffer, p: number, limit: number): number {
  while (p < limit) {
    const c = bytes[p];
    if (c !== SPACE && c !== NEWLINE && c !== CR && c !== TAB) return p;
    p++;
  }
  return p;
}

/**
 * The start of the first line from `at` on that is not blank (`at` itself when its line is not), or of the last line
 * when the bytes end in blank space. Looks at each blank byte once, forwards only.
 */
function afterBlankLines(bytes: Buffer, at: number): number {
  let lineStart = at;
  for (let p = at; p < bytes.length; p++) {
    const c = bytes[p];
    if (c === NEWLINE) lineStart = p + 1;
    else if (c !== SPACE && c !== CR && c !== TAB) break;
  }
  return lineStart;
}

function countNewlines(bytes: Buffer, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) if (bytes[i] === NEWLINE) count++;
  return count;
}

function isBlank(bytes: Buffer, start: number, end: number): boolean {
  const first = bytes[start];
  if (first !== SPACE && first !== TAB) return false;
  for (let i = start + 1; i < end; i++) {
    const c = bytes[i];
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  return true;
}

/** Digests named in bytes that pass by piece by piece (an oversized record), without holding them. */
class DigestSalvage {
  private tail = '';
  private found = new Set<string>();
  /** The first byte fed that JSON text never holds, or -1. */
  nonTextByte = -1;

  feed(bytes: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.nonTextByte === -1) {
      const at = firstNonTextByte(bytes, from, to);
      if (at !== -1) this.nonTextByte = bytes[at]!;
    }
    const piece = this.tail + bytes.toString('latin1', from, to);
    salvageDigests(piece, this.found);
    // A digest is 71 bytes: one that starts in the last 70 may end in the next piece.
    this.tail = piece.slice(-70);
  }

  take(): Set<string> {
    const found = this.found;
    this.found = new Set();
    this.tail = '';
    this.nonTextByte = -1;
    return found;
  }
}
