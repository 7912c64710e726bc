import { createReadStream } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { AccessCounts, LogStats } from '../counts.js';
import { readLogStream, settleLastLines } from '../logFile.js';
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
    const matches = pathPatternMatcher(this.pathPattern);
    const info = await stat(this.directory).catch(() => undefined);
    if (!info?.isDirectory()) throw new LogSourceError(`the log directory ${this.directory} does not exist or is not a directory`);
    let skippedOutsideWindow = 0;
    const walk = async (dir: string): Promise<void> => {
      const entries = [];
      for await (const entry of await opendir(dir)) entries.push(entry);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        signal?.throwIfAborted();
        const path = join(dir, entry.name);
        const relativePath = relative(this.directory, path).split(sep).join('/');
        if (!mayHoldWindow(relativePath + (entry.isDirectory() ? '/' : ''), filter.window)) {
          skippedOutsideWindow++;
          continue;
        }
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && matches(relativePath)) {
          await readLogStream(relativePath, createReadStream(path, { highWaterMark: 256 * 1024 }), filter, counts, stats);
        }
      }
    };
    await walk(this.directory);
    settleLastLines(counts, stats);
    if (skippedOutsideWindow > 0) stats.notes.push(`${skippedOutsideWindow} archive folders or files outside the window were not read`);
    return { counts, stats };
  }
}
