import { RecordSplitter } from './lines.js';
import { classifyFields, classifyRecord, SKIP_REASONS, type Classified, type RecordFilter, type SkipReason } from './record.js';
import { RecordShapes } from './recordShape.js';

export interface AccessCount {
  count: number;
  lastAccessMs: number;
}

/** Successful pulls and pushes per `repository@digest`, with what the guards need to trust them. */
export class AccessCounts {
  /** repository → digest → count; nested rather than keyed by a concatenation, which the hot path would build per line. */
  private readonly byRepository = new Map<string, Map<string, AccessCount>>();
  private distinct = 0;
  /** Newest time of any record of the registry's repository events (not only accesses). */
  newestRecordMs: number | undefined;
  /** Records of any operation whose time lies inside the window. */
  recordsInWindow = 0;
  /** Records that could not be used as evidence (see `UNUSABLE_REASONS`). */
  unusableRecords = 0;
  /** Digests found in the text of records that could not be used. */
  readonly uncertainDigests = new Set<string>();

  add(repository: string, digest: string, timeMs: number, count = 1): void {
    let digests = this.byRepository.get(repository);
    if (digests === undefined) {
      digests = new Map();
      this.byRepository.set(copyOf(repository), digests);
    }
    const entry = digests.get(digest);
    if (entry === undefined) {
      digests.set(copyOf(digest), { count, lastAccessMs: timeMs });
      this.distinct++;
    } else {
      entry.count += count;
      if (timeMs > entry.lastAccessMs) entry.lastAccessMs = timeMs;
    }
  }

  get(repository: string, digest: string): AccessCount | undefined {
    return this.byRepository.get(repository)?.get(digest);
  }

  sawRecord(timeMs: number, insideWindow: boolean): void {
    if (this.newestRecordMs === undefined || timeMs > this.newestRecordMs) this.newestRecordMs = timeMs;
    if (insideWindow) this.recordsInWindow++;
  }

  /** What a server-side count found: `records` records inside the window, the newest at `newestMs`. */
  sawRecordsInWindow(records: number, newestMs: number): void {
    if (records <= 0) return;
    if (this.newestRecordMs === undefined || newestMs > this.newestRecordMs) this.newestRecordMs = newestMs;
    this.recordsInWindow += records;
  }

  /** Distinct manifests accessed. */
  get size(): number {
    return this.distinct;
  }

  *entries(): IterableIterator<[repository: string, digest: string, access: AccessCount]> {
    for (const [repository, digests] of this.byRepository) for (const [digest, access] of digests) yield [repository, digest, access];
  }
}

/** A fresh copy of a string sliced from a read chunk, so that keeping it does not keep the chunk alive. */
function copyOf(text: string): string {
  return Buffer.from(text).toString();
}

export interface BadLine {
  source: string;
  line: number;
  reason: SkipReason;
  detail?: string;
}

const MAX_BAD_LINE_SAMPLES = 20;

/** What reading the logs found, for the report. */
export class LogStats {
  filesRead = 0;
  bytesRead = 0;
  records = 0;
  accessesCounted = 0;
  readonly skipped = Object.fromEntries(SKIP_REASONS.map((reason) => [reason, 0])) as Record<SkipReason, number>;
  readonly badLines: BadLine[] = [];
  notes: string[] = [];

  noteBadLine(badLine: BadLine): void {
    if (this.badLines.length < MAX_BAD_LINE_SAMPLES) this.badLines.push(badLine);
  }
}

/** Feeds one log file's bytes through the splitter and the classifier into the counts. */
export class LogFileReader {
  private readonly splitter: RecordSplitter;
  private readonly shapes = new RecordShapes();

  constructor(
    private readonly source: string,
    private readonly filter: RecordFilter,
    private readonly counts: AccessCounts,
    private readonly stats: LogStats,
    options: { fastPath?: boolean } = {},
  ) {
    const shapes = this.shapes;
    this.splitter = new RecordSplitter(
      (text, line, unterminated) => this.onRecord(text, line, unterminated),
      options.fastPath === false
        ? undefined
        : {
            matchAt: (text, at) => shapes.matchAt(text, at),
            onRecord: (line) => {
              this.stats.records++;
              this.count(classifyFields(shapes.fields, this.filter), line);
            },
          },
    );
  }

  push(chunk: Buffer | string): void {
    this.stats.bytesRead += chunk.length;
    this.splitter.push(chunk);
  }

  end(): void {
    this.splitter.end();
    this.stats.filesRead++;
  }

  private onRecord(text: string, line: number, unterminated: boolean): void {
    this.stats.records++;
    const result = classifyRecord(text, this.filter, unterminated);
    const malformed = result.kind === 'skipped' && (result.reason === 'malformed-json' || result.reason === 'truncated-line');
    if (!malformed) this.shapes.learn(text);
    this.count(result, line);
  }

  private count(result: Classified, line: number): void {
    const { stats, counts } = this;
    if (result.timeMs !== undefined) {
      const { window } = this.filter;
      counts.sawRecord(result.timeMs, result.timeMs >= window.startMs && result.timeMs <= window.endMs);
    }
    if (result.kind === 'access') {
      stats.accessesCounted++;
      counts.add(result.access.repository, result.access.digest, result.access.timeMs);
      return;
    }
    stats.skipped[result.reason]++;
    if (result.reason === 'malformed-json' || result.reason === 'truncated-line' || result.reason === 'bad-time') {
      stats.noteBadLine({ source: this.source, line, reason: result.reason, detail: result.detail });
    }
  }
}

/** Reads a whole stream (a file or a blob download) through a {@link LogFileReader}. */
export async function readLogStream(
  source: string,
  stream: AsyncIterable<Buffer | string>,
  filter: RecordFilter,
  counts: AccessCounts,
  stats: LogStats,
): Promise<void> {
  const reader = new LogFileReader(source, filter, counts, stats);
  for await (const chunk of stream) reader.push(chunk);
  reader.end();
}
