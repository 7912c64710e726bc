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
    try {
      for (let index = 0; index < files.length; index++) {
        signal?.throwIfAborted();
        while (ahead.length < PREFETCH && index + ahead.length < files.length) ahead.push(openFile(files[index + ahead.length]!.path));
        const file = await ahead.shift()!;
        await readLogStream(files[index]!.relativePath, file.chunks(), filter, counts, stats);
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

interface OpenedFile {
  chunks(): AsyncGenerator<Buffer>;
  /** For a file whose turn never came. */
  close(): Promise<void>;
}

/**
 * Opens a file and reads its first chunk at once; `chunks` then gives the file's bytes chunk by chunk through the
 * same handle (lighter than a read stream). Each chunk is a fresh buffer: the reader may keep the end of one
 * until the next arrives. A file that cannot be opened fails when its turn comes, not before.
 */
async function openFile(path: string): Promise<OpenedFile> {
  let handle: FileHandle | undefined;
  let first: Promise<Buffer>;
  try {
    handle = await open(path, 'r');
    first = readChunk(handle, FIRST_CHUNK_BYTES);
    await first;
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
    chunks: async function* () {
      try {
        let chunk = await first;
        for (let size = FIRST_CHUNK_BYTES; chunk.length > 0; size = CHUNK_BYTES) {
          yield chunk;
          // A short read of a regular file is its end: no need to ask again.
          if (chunk.length < size) return;
          chunk = await readChunk(opened, CHUNK_BYTES);
        }
      } finally {
        await opened.close();
      }
    },
    close: () => opened.close(),
  };
}

async function readChunk(handle: FileHandle, size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  const { bytesRead } = await handle.read(buffer, 0, size, null);
  return bytesRead === size ? buffer : buffer.subarray(0, bytesRead);
}
