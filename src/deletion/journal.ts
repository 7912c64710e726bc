import { open, readFile, type FileHandle } from 'node:fs/promises';
import type { DeletionEntry } from '../report.js';

/** How a journaled deletion ended. `reconciled-*` are written by a later run that checked an unfinished one. */
export type JournalOutcome =
  | 'deleted'
  | 'already-gone'
  | 'locked'
  | 'failed'
  | 'denied'
  | 'not-sent'
  | 'reconciled-deleted'
  | 'reconciled-present'
  | 'reconciled-unknown';

export type JournalRecord =
  | { type: 'run'; at: string; run: string; registry: string; tool: string }
  | { type: 'intent'; at: string; repository: string; digest: string; entry: DeletionEntry }
  | { type: 'outcome'; at: string; repository: string; digest: string; outcome: JournalOutcome; note?: string; error?: string };

export type IntentRecord = Extract<JournalRecord, { type: 'intent' }>;
export type OutcomeRecord = Extract<JournalRecord, { type: 'outcome' }>;

/** Where journal lines go. `append` resolves only once the text is durable (fsync'd, or acknowledged by storage). */
export interface JournalSink {
  readonly location: string;
  append(text: string): Promise<void>;
  close?(): Promise<void>;
}

interface Pending {
  line: string;
  isIntent: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The deletion journal: an intent is durable before its DELETE is sent, an outcome follows. Commits are grouped:
 * one append carries every record pending at that moment, so concurrent workers share its cost. A commit that
 * carries intents first runs `beforeIntents` (the Functions app renews its run lease there, so that every DELETE
 * is covered by a lease confirmed just before it); if that throws, the intents are refused and nothing is sent.
 */
export class DeletionJournal {
  private pending: Pending[] = [];
  private committing: Promise<void> | undefined;
  /** Appends made; for tests and the group-commit figure. */
  commits = 0;

  constructor(
    private readonly sink: JournalSink,
    private readonly options: { beforeIntents?: () => Promise<void>; clock?: () => Date } = {},
  ) {}

  get location(): string {
    return this.sink.location;
  }

  start(run: string, registry: string, tool: string): Promise<void> {
    return this.enqueue({ type: 'run', at: this.now(), run, registry, tool }, false);
  }

  /** Resolves once the intent is durable; only then may its DELETE be sent. */
  intent(entry: DeletionEntry): Promise<void> {
    return this.enqueue({ type: 'intent', at: this.now(), repository: entry.repository, digest: entry.digest, entry }, true);
  }

  /** Committed at once with whatever else is pending; callers need not wait for it. */
  outcome(repository: string, digest: string, outcome: JournalOutcome, details: { note?: string; error?: string } = {}): Promise<void> {
    return this.enqueue({ type: 'outcome', at: this.now(), repository, digest, outcome, ...details }, false);
  }

  /** Runs the intent check alone: before retrying a DELETE, confirm it is still allowed (the lease is still ours). */
  async confirm(): Promise<void> {
    await this.options.beforeIntents?.();
  }

  /** Resolves when everything recorded so far has been committed (or failed). */
  async flush(): Promise<void> {
    while (this.committing !== undefined) await this.committing;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.sink.close?.();
  }

  private now(): string {
    return (this.options.clock?.() ?? new Date()).toISOString();
  }

  private enqueue(record: JournalRecord, isIntent: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(record)}\n`, isIntent, resolve, reject });
      this.committing ??= this.commitAll();
    });
  }

  private async commitAll(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        if (batch.some((item) => item.isIntent)) await this.options.beforeIntents?.();
        await this.sink.append(batch.map((item) => item.line).join(''));
        this.commits++;
        for (const item of batch) item.resolve();
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
    this.committing = undefined;
  }
}

/**
 * A journal file for the CLI: appended to, never truncated, and fsync'd before an append counts as done. A file
 * whose last line was torn by a crash gets a line break first, so the torn line does not swallow the next record.
 */
export class FileJournalSink implements JournalSink {
  private handle: Promise<FileHandle> | undefined;

  constructor(readonly location: string) {}

  async append(text: string): Promise<void> {
    this.handle ??= openForAppend(this.location);
    const handle = await this.handle;
    await handle.write(text);
    await handle.datasync();
  }

  async close(): Promise<void> {
    const handle = await this.handle?.catch(() => undefined);
    await handle?.close();
  }
}

async function openForAppend(path: string): Promise<FileHandle> {
  const handle = await open(path, 'a+');
  const { size } = await handle.stat();
  if (size > 0) {
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last[0] !== 0x0a) await handle.write('\n');
  }
  return handle;
}

/** The records of a journal's text; a torn last line (a crash mid-append) and other unreadable lines are counted, not fatal. */
export function parseJournal(text: string): { records: JournalRecord[]; unreadableLines: number } {
  const records: JournalRecord[] = [];
  let unreadableLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line) as JournalRecord;
      if (record !== null && typeof record === 'object' && typeof record.type === 'string') records.push(record);
      else unreadableLines++;
    } catch {
      unreadableLines++;
    }
  }
  return { records, unreadableLines };
}

export async function readJournalFile(path: string): Promise<JournalRecord[]> {
  try {
    return parseJournal(await readFile(path, 'utf8')).records;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Intents with no outcome after them: DELETEs that may have been sent by a run that never learned how they ended. */
export function unresolvedIntents(records: readonly JournalRecord[]): IntentRecord[] {
  const open = new Map<string, IntentRecord>();
  for (const record of records) {
    if (record.type === 'run') continue;
    const key = `${record.repository}@${record.digest}`;
    if (record.type === 'intent') open.set(key, record);
    else open.delete(key);
  }
  return [...open.values()];
}
