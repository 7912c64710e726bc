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
  /**
   * Entries by a hash of the digest's first hex digits, chained on a collision. The hot path finds a manifest's
   * entry from the bytes of its record and makes strings only for a manifest it has not seen before.
   */
  private readonly byDigest = new Map<number, Entry>();
  private distinct = 0;
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

  add(repository: string, digest: string, timeMs: number, count = 1): void {
    this.addAccess({ repository: lowerCase(repository), digest: lowerCase(digest), timeMs }, count);
  }

  /** An access as classifyFields gives it (already lower case). */
  addAccess(access: Access, count = 1): void {
    const { repository, digest } = access;
    const key = digestKey(digest);
    const first = this.byDigest.get(key);
    for (let entry = first; entry !== undefined; entry = entry.next) {
      if (entry.digest === digest && entry.repository === repository) {
        entry.seen(access.timeMs, count);
        return;
      }
    }
    this.insert(key, first, detached(repository), detached(digest), access.timeMs, count);
  }

  /**
   * One access from the bytes of a record: `bytes[repositoryStart, repositoryEnd)` and `bytes[digestStart,
   * digestEnd)`, lower-case ASCII (recordShape.ts checked).
   */
  addBytes(bytes: Buffer, repositoryStart: number, repositoryEnd: number, digestStart: number, digestEnd: number, timeMs: number): void {
    const key = digestKeyOfBytes(bytes, digestStart, digestEnd);
    const first = this.byDigest.get(key);
    for (let entry = first; entry !== undefined; entry = entry.next) {
      if (equalsBytes(entry.digest, bytes, digestStart, digestEnd) && equalsBytes(entry.repository, bytes, repositoryStart, repositoryEnd)) {
        entry.seen(timeMs, 1);
        return;
      }
    }
    this.insert(key, first, bytes.toString('latin1', repositoryStart, repositoryEnd), bytes.toString('latin1', digestStart, digestEnd), timeMs, 1);
  }

  private insert(key: number, first: Entry | undefined, repository: string, digest: string, timeMs: number, count: number): void {
    this.byDigest.set(key, new Entry(repository, digest, count, timeMs, first));
    this.distinct++;
  }

  get(repository: string, digest: string): AccessCount | undefined {
    const lowerRepository = lowerCase(repository);
    const lowerDigest = lowerCase(digest);
    for (let entry = this.byDigest.get(digestKey(lowerDigest)); entry !== undefined; entry = entry.next) {
      if (entry.digest === lowerDigest && entry.repository === lowerRepository) return { count: entry.count, lastAccessMs: entry.lastAccessMs };
    }
    return undefined;
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
    for (const first of this.byDigest.values()) {
      for (let entry: Entry | undefined = first; entry !== undefined; entry = entry.next) {
        yield [entry.repository, entry.digest, { count: entry.count, lastAccessMs: entry.lastAccessMs }];
      }
    }
  }
}

class Entry {
  constructor(
    readonly repository: string,
    readonly digest: string,
    public count: number,
    public lastAccessMs: number,
    readonly next: Entry | undefined,
  ) {}

  seen(timeMs: number, count: number): void {
    this.count += count;
    if (timeMs > this.lastAccessMs) this.lastAccessMs = timeMs;
  }
}

/** Digits 7–14 of a digest (after `sha256:`), hashed to a small integer; the same for its string and its bytes. */
const KEY_FROM = 7;
const KEY_TO = 15;

function digestKey(digest: string): number {
  let hash = 0;
  const to = Math.min(KEY_TO, digest.length);
  for (let i = KEY_FROM; i < to; i++) hash = (Math.imul(hash, 31) + digest.charCodeAt(i)) | 0;
  return hash & 0x3fffffff;
}

function digestKeyOfBytes(bytes: Buffer, start: number, end: number): number {
  let hash = 0;
  const to = Math.min(start + KEY_TO, end);
  for (let i = start + KEY_FROM; i < to; i++) hash = (Math.imul(hash, 31) + bytes[i]!) | 0;
  return hash & 0x3fffffff;
}

/** Whether the ASCII string `text` is `bytes[start, end)`. */
function equalsBytes(text: string, bytes: Buffer, start: number, end: number): boolean {
  if (text.length !== end - start) return false;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
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
  /** Records read by recordShape.ts's scanner rather than JSON.parse (for the benchmark). */
  fastPathRecords = 0;
  /** The newest file read in each archive folder (logFile.ts `settleLastLines`). */
  readonly newestFiles = new Map<string, string>();
  /** Half-written last records, `truncated-line` until `settleLastLines` knows which files are the newest. */
  readonly unterminatedLastLines: { source: string; badLine: BadLine }[] = [];

  noteBadLine(badLine: BadLine): void {
    if (this.badLines.length < MAX_BAD_LINE_SAMPLES) this.badLines.push(badLine);
  }
}
