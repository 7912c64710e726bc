/**
 * Called once per record text. The text is the record's bytes as latin1 (one char per byte): JSON's
 * structure is ASCII and UTF-8 never puts an ASCII byte inside a multi-byte character, so splitting and
 * scanning need no UTF-8 decoding, and a chunk boundary can never cut a character. fields.ts decodes the
 * few values it keeps. `lineNumber` is 1-based (the line the record starts on); `unterminated` is true for
 * a final line that had no newline after it (possibly half-written).
 */
export type RecordTextHandler = (text: string, lineNumber: number, unterminated: boolean) => void;

/** A matcher that can take a whole record at the start of a line, and a handler for what it took. */
export interface FastRecordPath {
  /** The index after the record starting at `at` (followed by a line break), or -1 to take the generic way. */
  matchAt(text: string, at: number): number;
  onRecord(lineNumber: number): void;
}

const RECORDS_DOCUMENT = /^\s*\{\s*"records"\s*:\s*\[/;
const LATIN1_BOM = '\u00ef\u00bb\u00bf';
const MODE_SNIFF_CHARS = 64;

/**
 * Splits a log blob into record texts without holding the whole blob: JSON Lines (one record per line,
 * the archive's format since 2018-11) or the older single `{"records":[…]}` document, detected from the
 * first characters. Tolerates a UTF-8 BOM, CRLF, blank lines and a half-written last line.
 */
export class RecordSplitter {
  private mode: 'undecided' | 'lines' | 'document' = 'undecided';
  private pending = '';
  private lineNumber = 1;
  private started = false;
  private readonly document = new RecordsDocumentScanner();

  constructor(
    private readonly onRecord: RecordTextHandler,
    private readonly fast?: FastRecordPath,
  ) {}

  push(chunk: Buffer | string): void {
    let text = (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).toString('latin1');
    if (!this.started) {
      this.pending += text;
      text = this.pending;
      this.pending = '';
      if (text.length < LATIN1_BOM.length && LATIN1_BOM.startsWith(text)) {
        this.pending = text;
        return;
      }
      this.started = true;
      if (text.startsWith(LATIN1_BOM)) text = text.slice(LATIN1_BOM.length);
    }
    if (this.mode === 'undecided') {
      this.pending += text;
      if (this.pending.trimStart().length < MODE_SNIFF_CHARS && !this.pending.includes('\n')) return;
      text = this.pending;
      this.pending = '';
      this.decide(text);
    }
    if (this.mode === 'lines') this.pushLines(text);
    else this.document.push(text, this.onRecord);
  }

  /** Flushes the final, unterminated piece. */
  end(): void {
    if (!this.started) {
      this.started = true;
      if (LATIN1_BOM.startsWith(this.pending)) this.pending = '';
    }
    if (this.mode === 'undecided') {
      const text = this.pending;
      this.pending = '';
      if (this.decide(text) === 'lines') this.pushLines(text);
      else this.document.push(text, this.onRecord);
    }
    if ((this.mode as string) === 'lines') {
      const last = trimLine(this.pending);
      if (last.length > 0) this.onRecord(last, this.lineNumber, true);
      this.pending = '';
    } else {
      this.document.end(this.onRecord);
    }
  }

  private decide(start: string): 'lines' | 'document' {
    this.mode = RECORDS_DOCUMENT.test(start) ? 'document' : 'lines';
    return this.mode;
  }

  private pushLines(text: string): void {
    const buffer = this.pending.length > 0 ? this.pending + text : text;
    const fast = this.fast;
    let start = 0;
    for (;;) {
      if (fast !== undefined) {
        const end = fast.matchAt(buffer, start);
        if (end !== -1) {
          fast.onRecord(this.lineNumber++);
          start = end + (buffer.charCodeAt(end) === 13 ? 2 : 1);
          continue;
        }
      }
      const newline = buffer.indexOf('\n', start);
      if (newline === -1) break;
      let end = newline;
      if (end > start && buffer.charCodeAt(end - 1) === 13) end--;
      if (end > start) {
        const line = buffer.slice(start, end);
        if (!isBlank(line)) this.onRecord(line, this.lineNumber, false);
      }
      this.lineNumber++;
      start = newline + 1;
    }
    this.pending = start === 0 ? buffer : buffer.slice(start);
  }
}

function trimLine(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1).trim() : line.trim();
}

function isBlank(line: string): boolean {
  const first = line.charCodeAt(0);
  if (first !== 32 && first !== 9) return false;
  return line.trim().length === 0;
}

/**
 * Walks a `{"records":[ {…}, {…} ]}` document character by character and hands out each element of the
 * array as its own text, so a large old-format blob is parsed record by record.
 */
class RecordsDocumentScanner {
  private inArray = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private element: string[] = [];
  private elementStartLine = 0;
  private lineNumber = 1;
  private done = false;

  push(text: string, onRecord: RecordTextHandler): void {
    let segmentStart = -1;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.lineNumber++;
      if (this.done) continue;
      if (!this.inArray) {
        if (c === 91 /* [ */) this.inArray = true;
        continue;
      }
      if (this.depth === 0) {
        if (c === 123 /* { */) {
          this.depth = 1;
          this.elementStartLine = this.lineNumber;
          segmentStart = i;
        } else if (c === 93 /* ] */) {
          this.done = true;
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92 /* \ */) this.escaped = true;
        else if (c === 34 /* " */) this.inString = false;
        continue;
      }
      if (c === 34) this.inString = true;
      else if (c === 123 || c === 91) this.depth++;
      else if (c === 125 || c === 93) {
        this.depth--;
        if (this.depth === 0) {
          this.element.push(text.slice(segmentStart === -1 ? 0 : segmentStart, i + 1));
          onRecord(this.element.join(''), this.elementStartLine, false);
          this.element = [];
          segmentStart = -1;
        }
      }
    }
    if (this.depth > 0) this.element.push(text.slice(segmentStart === -1 ? 0 : segmentStart));
  }

  end(onRecord: RecordTextHandler): void {
    if (this.depth > 0) {
      onRecord(this.element.join(''), this.elementStartLine, true);
      this.element = [];
      this.depth = 0;
    }
  }
}
