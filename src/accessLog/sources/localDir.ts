import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, stat } from 'node:fs/promises';
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
    const info = await stat(this.directory).catch(() => undefined);
    if (!info?.isDirectory()) throw new LogSourceError(`the log directory ${this.directory} does not exist or is not a directory`);
    const { files, skippedOutsideWindow } = await this.list(filter, signal);
    // Files are read one after the other, in name order (the report's first bad lines stay the same from run to
    // run); the next few are opened and their first chunk read meanwhile, as a folder of small hourly files
    // would otherwise spend most of its time waiting on one file system call after another.
    const ahead: Promise<OpenedFile>[] = [];
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    try {
      for (let index = 0; index < files.length; index++) {
        signal?.throwIfAborted();
        while (ahead.length < PREFETCH && index + ahead.length < files.length) ahead.push(openFile(files[index + ahead.length]!.path));
        const file = await ahead.shift()!;
        await readLogStream(files[index]!.relativePath, file.chunks(buffer), filter, counts, stats);
      }
    } finally {
      for (const file of ahead) await (await file).close();
    }
    finishReading(counts, stats);
    if (skippedOutsideWindow > 0) stats.notes.push(`${skippedOutsideWindow} archive folders or files outside the window were not read`);
    return { counts, stats };
  }

  /** The files to read, in name order; folders and files of the archive layout outside the window are left out. */
  private async list(filter: RecordFilter, signal?: AbortSignal): Promise<{ files: { path: string; relativePath: string }[]; skippedOutsideWindow: number }> {
    const matches = pathPatternMatcher(this.pathPattern);
    let skippedOutsideWindow = 0;
    const walk = async (dir: string): Promise<{ path: string; relativePath: string }[]> => {
      signal?.throwIfAborted();
      const entries = await readdir(dir, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const found = await Promise.all(
        entries.map(async (entry) => {
          const path = join(dir, entry.name);
          const relativePath = relative(this.directory, path).split(sep).join('/');
          if (!mayHoldWindow(relativePath + (entry.isDirectory() ? '/' : ''), filter.window)) {
            skippedOutsideWindow++;
            return [];
          }
          if (entry.isDirectory()) return walk(path);
          return entry.isFile() && matches(relativePath) ? [{ path, relativePath }] : [];
        }),
      );
      return found.flat();
    };
    return { files: await walk(this.directory), skippedOutsideWindow };
  }
}

/** Files opened ahead of their turn. */
const PREFETCH = 8;
const FIRST_CHUNK_BYTES = 16 * 1024;
const CHUNK_BYTES = 256 * 1024;
/** Chunks read in a row before the event loop gets a turn (a signal, a timer): 4 MiB. */
const CHUNKS_BETWEEN_TURNS = 16;

interface OpenedFile {
  /** The file's bytes, the first chunk in its own buffer, the rest read into `buffer`, one after the other. */
  chunks(buffer: Buffer): AsyncGenerator<Buffer>;
  /** For a file whose turn never came. */
  close(): Promise<void>;
}

/**
 * Opens a file and reads its first chunk at once (most hourly files are smaller than that). When its turn comes,
 * the rest is read synchronously through the same handle into one reused buffer: each chunk is done with before
 * the next is read (readLogStream promises it), and on one core a read handed to the thread pool and back costs
 * more than the read itself. A file that cannot be opened fails when its turn comes, not before.
 */
async function openFile(path: string): Promise<OpenedFile> {
  let handle: FileHandle | undefined;
  let first: Buffer;
  try {
    handle = await open(path, 'r');
    const buffer = Buffer.allocUnsafe(FIRST_CHUNK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, FIRST_CHUNK_BYTES, null);
    first = buffer.subarray(0, bytesRead);
  } catch (error) {
    await handle?.close();
    return {
      // eslint-disable-next-line require-yield -- it fails on its first step, when the file's turn comes
      chunks: async function* () {
        throw error;
      },
      close: async () => {},
    };
  }
  const opened = handle;
  return {
    chunks: async function* (buffer: Buffer) {
      try {
        if (first.length > 0) yield first;
        // A short read of a regular file is its end: no need to ask again.
        if (first.length < FIRST_CHUNK_BYTES) return;
        for (let reads = 1; ; reads++) {
          const bytesRead = readSync(opened.fd, buffer, 0, buffer.length, null);
          if (bytesRead > 0) yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
          if (bytesRead < buffer.length) return;
          if (reads % CHUNKS_BETWEEN_TURNS === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        await opened.close();
      }
    },
    close: () => opened.close(),
  };
}
