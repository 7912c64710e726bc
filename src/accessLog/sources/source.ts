import type { AccessCounts, LogStats } from '../counts.js';
import type { RecordFilter } from '../record.js';

export interface LogReadResult {
  counts: AccessCounts;
  stats: LogStats;
}

/** Where the access logs come from: a local folder, the storage archive, or a Log Analytics workspace. */
export interface AccessLogSource {
  readonly description: string;
  read(filter: RecordFilter, signal?: AbortSignal): Promise<LogReadResult>;
}

/** The logs could not be read completely; the pass must not delete on what it has. */
export class LogSourceError extends Error {
  override readonly name = 'LogSourceError';
}
