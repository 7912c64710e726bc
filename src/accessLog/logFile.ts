import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { AccessCounts, BadLine, LogStats } from './counts.js';
import { MAX_RECORD_BYTES, RecordSplitter } from './lines.js';
import { CLOCK_SKEW_ALLOWANCE_MS, classifyFields, classifyRecord, isUnusable, salvageDigests, type Classified, type RecordFilter, type SkipReason } from './record.js';
import { nonTextByteReason, notTextReason, SIGNATURES } from './notText.js';
import { fastPathUnavailable, RecordScanner } from './recordScanner.js';
import { archivePathRange } from './sources/archiveLayout.js';

/** Feeds one log file's bytes through the splitter and the classifier into the counts. */
export class LogFileReader {
  private readonly splitter: RecordSplitter;
  private readonly scanner: RecordScanner | undefined;
  private readonly decodedFromGzip: boolean;
  /** Decoded bytes looked at for signs of data that is not text. */
  private sniffed = 0;
  private undecodable: string | undefined;

  constructor(
    private readonly source: string,
    private readonly filter: RecordFilter,
    private readonly counts: AccessCounts,
    private readonly stats: LogStats,
    options: { fastPath?: boolean; decodedFromGzip?: boolean } = {},
  ) {
    this.decodedFromGzip = options.decodedFromGzip === true;
    const unavailable = fastPathUnavailable();
    if (unavailable !== undefined && options.fastPath !== false && !stats.notes.includes(unavailable)) stats.notes.push(unavailable);
    this.scanner = options.fastPath === false || unavailable !== undefined ? undefined : new RecordScanner();
    this.splitter = new RecordSplitter({
      record: (bytes, start, end, line, unterminated) => this.onRecord(bytes, start, end, line, unterminated),
      oversized: (line, digests, nonTextByte) => {
        if (nonTextByte === undefined) this.onUnreadable('oversized-line', line, `longer than ${MAX_RECORD_BYTES} bytes`, digests);
        else this.onNotText(nonTextByteReason(nonTextByte, line), digests);
      },
    });
    noteFileRead(stats, source);
  }

  /** Bytes of the file as read. */
  push(chunk: Buffer | string): void {
    this.stats.bytesRead += chunk.length;
    this.pushDecoded(chunk);
  }

  /** Bytes decoded from the file (decompressed): not counted again as bytes read. */
  pushDecoded(chunk: Buffer | string): void {
    if (this.undecodable !== undefined) return;
    if (this.sniffed < SNIFF_BYTES) {
      const bytes = asBuffer(chunk);
      this.undecodable = undecodableReason(bytes, this.sniffed, this.decodedFromGzip);
      this.sniffed += bytes.length;
      if (this.undecodable !== undefined) return;
    }
    if (this.scanner !== undefined && typeof chunk !== 'string') this.scanner.load(chunk);
    this.splitter.push(chunk);
  }

  /** Why the file cannot be read as text, once its first bytes said so: the rest of it is not worth reading. */
  get undecodableBecause(): string | undefined {
    return this.undecodable;
  }

  /** The line of the file reached (1-based). */
  get lineNumber(): number {
    return this.splitter.lineNumber;
  }

  end(): void {
    // The last record, handed out now, may be the one that shows the file is not text.
    if (this.undecodable === undefined) this.splitter.end();
    if (this.undecodable !== undefined) {
      this.endUnreadable(this.undecodable);
      return;
    }
    this.stats.filesRead++;
  }

  /**
   * Ends a file whose data could not be read on from here (corrupt compressed data, or not text at all). The
   * file is named among the undecodable ones, which refuse the pass: how many records the rest held is unknown.
   */
  endUnreadable(reason: string): void {
    this.onUnreadable('unreadable-data', this.splitter.lineNumber, reason, this.splitter.abandon());
    this.counts.undecodableFiles.push(`${this.source} (${reason})`);
    this.stats.filesRead++;
  }

  /**
   * The splitter hands each record here. The scanner reads it and decides the common cases on its bytes; what
   * it cannot decide goes to classifyFields, and what it cannot read to JSON.parse.
   */
  private onRecord(bytes: Buffer, start: number, end: number, line: number, unterminated: boolean): void {
    // What follows data that is not text is not read: the file is refused whatever it holds.
    if (this.undecodable !== undefined) return;
    const { counts, stats, filter } = this;
    stats.records++;
    const scanner = this.scanner;
    let result: Classified;
    if (scanner !== undefined && scanner.read(bytes, start, end)) {
      stats.fastPathRecords++;
      const outcome = scanner.classify(bytes, filter);
      if (outcome === 'access') {
        const timeMs = scanner.timeMs;
        counts.sawRecord(timeMs, true);
        stats.accessesCounted++;
        counts.addScanned(bytes, scanner.repositoryStart, scanner.repositoryEnd, scanner.digestWords, timeMs);
        return;
      }
      result =
        outcome === undefined
          ? classifyFields(scanner.fields(bytes), filter)
          : Number.isNaN(scanner.timeMs)
            ? { kind: 'skipped', reason: outcome }
            : { kind: 'skipped', reason: outcome, timeMs: scanner.timeMs };
    } else {
      // Only what begins like a record may be one being written: anything else at the end is malformed.
      result = classifyRecord(bytes.toString('utf8', start, end), filter, unterminated && beginsLikeRecord(bytes, start, end));
      // Only a record that cannot be read is looked at for bytes that are not text: one that can holds none.
      if (result.kind === 'skipped' && (result.reason === 'malformed-json' || result.reason === 'truncated-line')) {
        const notText = notTextReason(bytes, start, end, line);
        if (notText !== undefined) {
          stats.records--;
          this.onNotText(notText, salvageDigestsOf(bytes, start, end));
          return;
        }
      }
    }
    if (result.timeMs !== undefined) {
      const { window } = filter;
      counts.sawRecord(result.timeMs, result.timeMs >= window.startMs && result.timeMs <= window.endMs);
    }
    if (result.kind === 'access') {
      stats.accessesCounted++;
      counts.addAccess(result.access);
      return;
    }
    const { reason } = result;
    stats.skipped[reason]++;
    if (reason !== 'future-time' && !isUnusable(reason)) return;
    salvageDigests(bytes.toString('latin1', start, end), counts.uncertainDigests);
    if (isUnusable(reason)) counts.unusableRecords++;
    const badLine: BadLine = { source: this.source, line, reason, detail: result.detail };
    stats.noteBadLine(badLine);
    if (reason === 'truncated-line') stats.unterminatedLastLines.push({ source: this.source, badLine });
  }

  /**
   * Data that is not JSON text inside the file, after text: compressed or binary bytes glued on may hold any number
   * of records. The file is undecodable from here (see {@link endUnreadable}), however many lines read well before.
   */
  private onNotText(reason: string, digests: Set<string>): void {
    this.undecodable = reason;
    for (const digest of digests) this.counts.uncertainDigests.add(digest);
  }

  private onUnreadable(reason: SkipReason, line: number, detail: string, digests: Set<string>): void {
    const { counts, stats } = this;
    stats.records++;
    stats.skipped[reason]++;
    counts.unusableRecords++;
    for (const digest of digests) counts.uncertainDigests.add(digest);
    stats.noteBadLine({ source: this.source, line, reason, detail });
  }
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const DECODED_CHUNK_BYTES = 256 * 1024;

/**
 * Reads a whole stream (a file or a blob download) through a {@link LogFileReader}. A gzip stream (magic bytes
 * 1f 8b, whatever the file's name) is decompressed as it streams; when the compressed data turns out corrupt,
 * the file is named among the undecodable ones (see {@link LogFileReader.endUnreadable}). A failure of the stream
 * itself (the network, the disk) is thrown, and so is the signal's reason when it aborts (checked at every chunk).
 * Each chunk is done with before the next is asked for: a source may read the next one into the same buffer.
 */
export async function readLogStream(
  source: string,
  stream: AsyncIterable<Buffer | string>,
  filter: RecordFilter,
  counts: AccessCounts,
  stats: LogStats,
  signal?: AbortSignal,
): Promise<void> {
  const input = stream[Symbol.asyncIterator]();
  try {
    let head: Buffer | undefined;
    while (head === undefined || head.length < GZIP_MAGIC.length) {
      const next = await input.next();
      if (next.done) break;
      const chunk = asBuffer(next.value);
      // A first chunk too short to tell is kept (copied) while the next is read.
      head = head === undefined ? (chunk.length < GZIP_MAGIC.length ? Buffer.from(chunk) : chunk) : Buffer.concat([head, chunk]);
    }
    const gzip = head !== undefined && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
    const reader = new LogFileReader(source, filter, counts, stats, { decodedFromGzip: gzip });
    if (gzip) {
      await readGzip(reader, head!, input, stats, signal);
      return;
    }
    if (head !== undefined) reader.push(head);
    // A file found not to be text is not read on: it refuses the pass whatever the rest of it holds.
    for (let next = await input.next(); !next.done && reader.undecodableBecause === undefined; next = await input.next()) {
      // Checked at every chunk: one large file must not outlast the time budget.
      signal?.throwIfAborted();
      reader.push(next.value);
    }
    reader.end();
  } finally {
    await input.return?.();
  }
}

async function readGzip(reader: LogFileReader, head: Buffer, input: AsyncIterator<Buffer | string>, stats: LogStats, signal?: AbortSignal): Promise<void> {
  let sourceFailure: { error: unknown } | undefined;
  let compressedBytes = 0;
  // The decompressor may hold chunks while it works, and a source may reuse its buffer: it gets copies.
  async function* compressed(): AsyncGenerator<Buffer> {
    compressedBytes += head.length;
    stats.bytesRead += head.length;
    yield Buffer.from(head);
    for (;;) {
      // Only a failure of the source itself is the source's: the decompressor's own error is thrown into this
      // generator at its `yield` when the pipeline comes down, and must stay the decompressor's.
      let next: IteratorResult<Buffer | string>;
      try {
        next = await input.next();
      } catch (error) {
        sourceFailure = { error };
        throw error;
      }
      if (next.done) return;
      const chunk = asBuffer(next.value);
      compressedBytes += chunk.length;
      stats.bytesRead += chunk.length;
      yield Buffer.from(chunk);
    }
  }
  try {
    await pipeline(Readable.from(compressed()), createGunzip({ chunkSize: DECODED_CHUNK_BYTES }), async (decoded: AsyncIterable<Buffer>) => {
      for await (const chunk of decoded) {
        // At every decoded chunk: a small file may decompress to a great deal.
        signal?.throwIfAborted();
        reader.pushDecoded(chunk);
      }
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (sourceFailure !== undefined) throw sourceFailure.error;
    reader.endUnreadable(`the gzip data is corrupt (within the first ${compressedBytes} compressed bytes, decoded up to line ${reader.lineNumber}): ${(error as Error).message}`);
    return;
  }
  reader.end();
}

function salvageDigestsOf(bytes: Buffer, start: number, end: number): Set<string> {
  const digests = new Set<string>();
  salvageDigests(bytes.toString('latin1', start, end), digests);
  return digests;
}

function asBuffer(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}

/**
 * The archive folder a file belongs to (the path before `y=YYYY/`, one per registry), or '' outside the layout.
 * The newest file of each folder is the one still being appended to.
 */
function archiveFolder(source: string): string {
  const match = /(?:^|\/)y=\d{4}\//.exec(source);
  return match === null ? '' : source.slice(0, match.index);
}

/** Whether `a` is newer than `b`: by the archive path's hour, then by name. */
function isNewer(a: string, b: string): boolean {
  const hourA = archivePathRange(a)?.startMs ?? Number.NEGATIVE_INFINITY;
  const hourB = archivePathRange(b)?.startMs ?? Number.NEGATIVE_INFINITY;
  return hourA !== hourB ? hourA > hourB : a > b;
}

function noteFileRead(stats: LogStats, source: string): void {
  const folder = archiveFolder(source);
  const newest = stats.newestFiles.get(folder);
  if (newest === undefined || isNewer(source, newest)) stats.newestFiles.set(folder, source);
}

/**
 * Called once every file is read. The half-written last record of the newest file of each archive folder (by
 * the path's hour, else by name) is the file still being appended to: `incomplete-last-line`, normal, not
 * unusable evidence. Any other file's stays `truncated-line`. Either way the digests its text names stay
 * uncertain: the record was most likely a pull being logged. Records dated in the future get a note.
 */
export function finishReading(counts: AccessCounts, stats: LogStats): void {
  const future = stats.skipped['future-time'];
  if (future > 0) {
    stats.notes.push(
      `${future} record(s) dated more than ${CLOCK_SKEW_ALLOWANCE_MS / 60_000} minutes after now were not counted and do not make the logs look fresher; the manifests they name are kept`,
    );
  }
  for (const { source, badLine } of stats.unterminatedLastLines) {
    if (stats.newestFiles.get(archiveFolder(source)) !== source) continue;
    stats.skipped['truncated-line']--;
    stats.skipped['incomplete-last-line']++;
    counts.unusableRecords--;
    const index = stats.badLines.indexOf(badLine);
    if (index !== -1) stats.badLines.splice(index, 1);
  }
  stats.unterminatedLastLines.length = 0;
}

/** How much of a file's decoded start is looked at for bytes that JSON text never holds. */
const SNIFF_BYTES = 4096;

/**
 * Why decoded bytes at `offset` of a file (within its first {@link SNIFF_BYTES}) cannot be its text, or undefined.
 * JSON text holds no control character but tab, line feed and carriage return (in strings they are escaped), and
 * compressed or binary data has one within a few bytes: one of them here means the whole file is not text.
 */
function undecodableReason(bytes: Buffer, offset: number, decodedFromGzip: boolean): string | undefined {
  const inside = decodedFromGzip ? ' inside gzip' : '';
  if (offset === 0) {
    if (bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1]) return `gzip-compressed data${inside}: compressed twice, not read`;
    const signature = SIGNATURES.find((candidate) => candidate.bytes.every((byte, i) => bytes[i] === byte));
    if (signature !== undefined) return `${signature.what}${inside}: the reader reads JSON text, plain or gzip-compressed`;
  }
  const end = Math.min(bytes.length, SNIFF_BYTES - offset);
  for (let i = 0; i < end; i++) {
    const c = bytes[i]!;
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) {
      return `not text: byte 0x${c.toString(16).padStart(2, '0')} at offset ${offset + i}${decodedFromGzip ? ' of the decompressed data' : ''}, which JSON text never holds (compressed in a format the reader does not read, or binary)`;
    }
  }
  return undefined;
}

/**
 * Whether `bytes[start, end)` may be the beginning of a JSON record: `{` after blanks, and no control character
 * but tab, CR and LF (JSON text holds none; binary bytes do).
 */
function beginsLikeRecord(bytes: Buffer, start: number, end: number): boolean {
  let at = start;
  while (at < end && (bytes[at] === 0x20 || bytes[at] === 0x09 || bytes[at] === 0x0d || bytes[at] === 0x0a)) at++;
  if (at >= end || bytes[at] !== 0x7b) return false;
  for (; at < end; at++) {
    const c = bytes[at]!;
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}
