import { ManifestTable } from './manifestTable.js';
import { detached, lowerCase, SKIP_REASONS, type Access, type SkipReason } from './record.js';

export interface AccessCount {
  count: number;
  lastAccessMs: number;
}

/**
 * Successful pulls and pushes per `repository@digest`, with what the guards need to trust them. Keys are lower
 * case (ACR's repository names and digests are; logs and tools do not always write them so): `add` and `get`
 * lower-case what they are given.
 */
export class AccessCounts {
  /** Manifests whose digest is `sha256:` and 64 hex digits: all that the log reader counts. */
  private readonly manifests = new ManifestTable();
  /** Anything else a caller adds (a server-side count of an odd digest), by `repository\ndigest`. */
  private readonly others = new Map<string, AccessCount>();
  private readonly words = new Int32Array(8);
  /** Newest time of any record of the registry's repository events (not only accesses). */
  newestRecordMs: number | undefined;
  /** Records of any operation whose time lies inside the window. */
  recordsInWindow = 0;
  /** Records that could not be used as evidence (see `UNUSABLE_REASONS`). */
  unusableRecords = 0;
  /**
   * Digests (lower case) named in the text of records that could not be used, or that were dated in the future:
   * each may have been pulled, so the planner keeps its manifest.
   */
  readonly uncertainDigests = new Set<string>();
  /** Files (or blobs) that could not be decoded at all: `name (why, and where)`. Any of them refuses the pass. */
  readonly undecodableFiles: string[] = [];

  add(repository: string, digest: string, timeMs: number, count = 1): void {
    this.addAccess({ repository: lowerCase(repository), digest: lowerCase(digest), timeMs }, count);
  }

  /** An access as classifyFields gives it (already lower case). */
  addAccess(access: Access, count = 1): void {
    const { repository, digest, timeMs } = access;
    if (digestWordsOf(digest, this.words)) {
      this.manifests.addName(this.words, repository, timeMs, count);
      return;
    }
    const key = `${repository}\n${digest}`;
    const entry = this.others.get(key);
    if (entry === undefined) this.others.set(detached(key), { count, lastAccessMs: timeMs });
    else {
      entry.count += count;
      if (timeMs > entry.lastAccessMs) entry.lastAccessMs = timeMs;
    }
  }

  /**
   * One access read from the bytes of a record (recordScanner.ts): the repository is `bytes[repositoryStart,
   * repositoryEnd)`, lower-case ASCII; the digest's 64 hex digits are `digestWords` (from
   * {@link digestWordsOfBytes}). No string is made for it.
   */
  addScanned(bytes: Buffer, repositoryStart: number, repositoryEnd: number, digestWords: Int32Array, timeMs: number): void {
    this.manifests.addBytes(digestWords, bytes, repositoryStart, repositoryEnd, timeMs);
  }

  get(repository: string, digest: string): AccessCount | undefined {
    const lowerRepository = lowerCase(repository);
    const lowerDigest = lowerCase(digest);
    if (digestWordsOf(lowerDigest, this.words)) return this.manifests.get(this.words, lowerRepository);
    const entry = this.others.get(`${lowerRepository}\n${lowerDigest}`);
    return entry === undefined ? undefined : { ...entry };
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
    return this.manifests.size + this.others.size;
  }

  *entries(): IterableIterator<[repository: string, digest: string, access: AccessCount]> {
    yield* this.manifests.entries();
    for (const [key, access] of this.others) {
      const newline = key.indexOf('\n');
      yield [key.slice(0, newline), key.slice(newline + 1), { ...access }];
    }
  }
}

/**
 * Whether `bytes[start, end)` is `sha256:` and 64 lower-case hex digits; if so, the digits as 8 integers (each
 * 8 hex digits, in order) into `into`. One pass both validates the digest and keys it.
 */
export function digestWordsOfBytes(bytes: Buffer, start: number, end: number, into: Int32Array): boolean {
  if (end - start !== 71 || bytes[start] !== 115 || bytes[start + 1] !== 104 || bytes[start + 2] !== 97 || bytes[start + 3] !== 50 || bytes[start + 4] !== 53 || bytes[start + 5] !== 54 || bytes[start + 6] !== 58) {
    return false;
  }
  let at = start + 7;
  for (let word = 0; word < 8; word++) {
    let value = 0;
    for (const stop = at + 8; at < stop; at++) {
      // A table, not comparisons: the digits of a digest are random, and so would the branches be.
      const digit = HEX_DIGIT[bytes[at]!]!;
      if (digit < 0) return false;
      value = (value << 4) | digit;
    }
    into[word] = value;
  }
  return true;
}

/** The value of each lower-case hex digit, -1 for any other byte. */
const HEX_DIGIT = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) HEX_DIGIT['0123456789abcdef'.charCodeAt(c)] = c;

/** {@link digestWordsOfBytes} for a string (native parsing: the planner asks once per manifest, often in cold code). */
function digestWordsOf(digest: string, into: Int32Array): boolean {
  if (!DIGEST.test(digest)) return false;
  for (let word = 0; word < 8; word++) into[word] = Number.parseInt(digest.slice(7 + 8 * word, 15 + 8 * word), 16) | 0;
  return true;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

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
  /** Records read by recordScanner.ts's scanner rather than JSON.parse (for the benchmark). */
  fastPathRecords = 0;
  /** The newest file read in each archive folder (logFile.ts `finishReading`). */
  readonly newestFiles = new Map<string, string>();
  /** Half-written last records, `truncated-line` until `finishReading` knows which files are the newest. */
  readonly unterminatedLastLines: { source: string; badLine: BadLine }[] = [];

  noteBadLine(badLine: BadLine): void {
    if (this.badLines.length < MAX_BAD_LINE_SAMPLES) this.badLines.push(badLine);
  }
}
