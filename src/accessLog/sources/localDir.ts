import { closeSync, openSync, readdirSync, readlinkSync, readSync, statSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { AccessCounts, LogStats } from '../counts.js';
import { readLogStream, finishReading } from '../logFile.js';
import type { RecordFilter } from '../record.js';
import { mayHoldWindow, pathPatternMatcher } from './archiveLayout.js';
import { LogSourceError, type AccessLogSource, type LogReadResult } from './source.js';

/** JSON-lines files under a folder, recursively; an archive-layout tree is read only inside the window. */
export class LocalDirLogSource implements AccessLogSource {
  readonly description: string;

  constructor(
    private readonly directory: string,
    private readonly pathPattern: string,
  ) {
    this.description = `log files matching ${pathPattern} under ${directory}`;
  }

  async read(filter: RecordFilter, signal?: AbortSignal): Promise<LogReadResult> {
    const counts = new AccessCounts();
    const stats = new LogStats();
    if (!statSync(this.directory, { throwIfNoEntry: false })?.isDirectory()) {
      throw new LogSourceError(`the log directory ${this.directory} does not exist or is not a directory`);
    }
    const { files, skippedOutsideWindow, notes } = this.list(filter, signal);
    // Files are read one after the other, in name order (the report's first bad lines stay the same from run to
    // run), with synchronous calls into one reused buffer: on a local disk a call handed to the thread pool and
    // back costs more than the call itself, and a folder of hourly files makes hundreds of them.
    const reads = new ChunkReads();
    for (const file of files) {
      signal?.throwIfAborted();
      try {
        await readLogStream(file.relativePath, reads.of(file.path), filter, counts, stats, signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        // The disk or the file system failed under the reader (gone, unreadable): what the file held is unknown.
        throw new LogSourceError(`reading the log file ${file.relativePath} failed: ${(error as Error).message}`);
      }
    }
    finishReading(counts, stats);
    if (skippedOutsideWindow > 0) stats.notes.push(`${skippedOutsideWindow} archive folders or files outside the window were not read`);
    stats.notes.push(...notes);
    return { counts, stats };
  }

  /**
   * The files to read, in name order; folders and files of the archive layout outside the window are left out.
   * A symbolic link is followed like the folder or file it leads to; each folder and file is read once, whatever
   * names lead to it (a loop of links ends there), and what is left out is said in a note. A link that leads nowhere
   * refuses the read: what it stood for cannot be counted.
   */
  private list(filter: RecordFilter, signal?: AbortSignal): { files: { path: string; relativePath: string }[]; skippedOutsideWindow: number; notes: string[] } {
    const matches = pathPatternMatcher(this.pathPattern);
    const files: { path: string; relativePath: string }[] = [];
    const notes: string[] = [];
    const seen = new Map<string, string>();
    let skippedOutsideWindow = 0;
    const firstVisit = (stat: Stats, relativePath: string): boolean => {
      const identity = `${stat.dev}:${stat.ino}`;
      const first = seen.get(identity);
      if (first === undefined) {
        seen.set(identity, relativePath);
        return true;
      }
      notes.push(`${relativePath} leads to ${first === '' ? 'the log directory itself' : first}, already read: not read again`);
      return false;
    };
    const walk = (dir: string): void => {
      signal?.throwIfAborted();
      const entries = readdirSync(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const path = join(dir, entry.name);
        const relativePath = relative(this.directory, path).split(sep).join('/');
        const stat = this.statOf(path, relativePath, entry.isSymbolicLink());
        if (!mayHoldWindow(relativePath + (stat.isDirectory() ? '/' : ''), filter.window)) skippedOutsideWindow++;
        else if (stat.isDirectory()) {
          if (firstVisit(stat, relativePath)) walk(path);
        } else if (!matches(relativePath)) continue;
        else if (!stat.isFile()) notes.push(`${relativePath} is not a regular file (a pipe, socket or device): not read`);
        else if (firstVisit(stat, relativePath)) files.push({ path, relativePath });
      }
    };
    firstVisit(statSync(this.directory), '');
    walk(this.directory);
    return { files, skippedOutsideWindow, notes };
  }

  /**
   * What an entry is (a symbolic link: what it leads to). One that leads nowhere (or round in a circle), or that
   * is gone since the folder was listed, refuses the read.
   */
  private statOf(path: string, relativePath: string, isLink: boolean): Stats {
    try {
      return statSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (!isLink) throw new LogSourceError(`the log file ${relativePath} cannot be examined: ${code}`);
      let target = '?';
      try {
        target = readlinkSync(path);
      } catch {
        // The link itself is gone: its name is all there is to say.
      }
      throw new LogSourceError(`the log directory's link ${relativePath} (to ${target}) leads nowhere: ${code}`);
    }
  }
}

const CHUNK_BYTES = 256 * 1024;
/**
 * When the event loop gets a turn (a signal, the time budget's timer): after 1 MiB read in a row, or sooner once
 * 20 ms have passed since the last turn, whatever the bytes cost to read. A turn costs microseconds.
 */
const BYTES_BETWEEN_TURNS = 1024 * 1024;
const MS_BETWEEN_TURNS = 20;

/** Files read chunk by chunk into one buffer (readLogStream is done with each chunk before it asks for the next). */
class ChunkReads {
  private readonly buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private sinceTurn = 0;
  private lastTurnMs = performance.now();

  async *of(path: string): AsyncGenerator<Buffer> {
    const fd = openSync(path, 'r');
    try {
      for (;;) {
        const bytesRead = readSync(fd, this.buffer, 0, CHUNK_BYTES, null);
        if (bytesRead > 0) yield bytesRead === CHUNK_BYTES ? this.buffer : this.buffer.subarray(0, bytesRead);
        this.sinceTurn += bytesRead;
        if (this.sinceTurn >= BYTES_BETWEEN_TURNS || performance.now() - this.lastTurnMs >= MS_BETWEEN_TURNS) {
          await new Promise((resolve) => setImmediate(resolve));
          this.sinceTurn = 0;
          this.lastTurnMs = performance.now();
        }
        // A short read of a regular file is its end: no need to ask again.
        if (bytesRead < CHUNK_BYTES) return;
      }
    } finally {
      closeSync(fd);
    }
  }
}
