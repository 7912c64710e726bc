import { open, readFile, type FileHandle } from 'node:fs/promises';
import * as z from 'zod';
import type { DeletionEntry } from '../report.js';

/**
 * How a journaled deletion ended. `uncertain`: its DELETE failed or was given up after it may have been sent (an
 * answer timed out or was lost), so the registry may have carried it out; the next run checks. `reconciled-*` are
 * written by a later run that checked an open intent.
 */
export const JOURNAL_OUTCOMES = ['deleted', 'already-gone', 'locked', 'failed', 'uncertain', 'denied', 'not-sent', 'reconciled-deleted', 'reconciled-present', 'reconciled-unknown'] as const;
export type JournalOutcome = (typeof JOURNAL_OUTCOMES)[number];

export interface OutcomeDetails {
  note?: string;
  error?: string;
}

export type JournalRecord =
  | { type: 'run'; at: string; run: string; registry: string; tool: string; requestTimeoutSeconds?: number }
  | { type: 'intent'; at: string; repository: string; digest: string; entry: DeletionEntry }
  | ({ type: 'outcome'; at: string; repository: string; digest: string; outcome: JournalOutcome } & OutcomeDetails);

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

  /** The run's line; its request timeout tells a later run how long a DELETE it sent may still be carried out. */
  start(run: string, registry: string, tool: string, requestTimeoutSeconds?: number): Promise<void> {
    return this.enqueue({ type: 'run', at: this.now(), run, registry, tool, ...(requestTimeoutSeconds === undefined ? {} : { requestTimeoutSeconds }) }, false);
  }

  /** Resolves once the intent is durable; only then may its DELETE be sent. */
  intent(entry: DeletionEntry): Promise<void> {
    return this.enqueue({ type: 'intent', at: this.now(), repository: entry.repository, digest: entry.digest, entry }, true);
  }

  /** Committed at once with whatever else is pending; callers need not wait for it. */
  outcome(repository: string, digest: string, outcome: JournalOutcome, details: OutcomeDetails = {}): Promise<void> {
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

const text = z.string().min(1);
const RECORD_SCHEMAS = {
  run: z.object({ at: text, run: text, registry: z.string(), tool: z.string(), requestTimeoutSeconds: z.number().positive().optional() }),
  intent: z
    .object({
      at: text,
      repository: text,
      digest: text,
      entry: z.object({ repository: text, digest: text, tags: z.array(z.string()), sizeInBytes: z.number(), reason: z.string() }),
    })
    .refine((intent) => intent.entry.repository === intent.repository && intent.entry.digest === intent.digest),
  outcome: z.object({ at: text, repository: text, digest: text, outcome: z.enum(JOURNAL_OUTCOMES) }),
};

function isJournalRecord(value: unknown): value is JournalRecord {
  const type = (value as { type?: unknown } | null)?.type;
  return typeof type === 'string' && Object.hasOwn(RECORD_SCHEMAS, type) && RECORD_SCHEMAS[type as JournalRecord['type']].safeParse(value).success;
}

/**
 * The records of a journal's text. A line that is not a record — torn by a crash mid-append, or edited by hand (an
 * intent without its entry) — is skipped, never fatal: `unreadableLines` lists their numbers (from 1).
 */
export function parseJournal(text: string): { records: JournalRecord[]; unreadableLines: number[] } {
  const records: JournalRecord[] = [];
  const unreadableLines: number[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      record = undefined;
    }
    if (isJournalRecord(record)) records.push(record);
    else unreadableLines.push(index + 1);
  });
  return { records, unreadableLines };
}

/** A journal file's records (none when it does not exist yet). */
export async function readJournalFile(path: string): Promise<{ records: JournalRecord[]; unreadableLines: number[] }> {
  try {
    return parseJournal(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], unreadableLines: [] };
    throw error;
  }
}

/**
 * An intent whose DELETE may have been carried out without its run learning it: no outcome, an uncertain failure,
 * or a check that could not tell. `sentBy`: its DELETE, if sent, went out before then (an uncertain failure's time,
 * or the start of the next run on the journal); absent when only the reader knows (its run may have died just now).
 */
export interface OpenIntent extends IntentRecord {
  sentBy?: string;
  /** The journaling run's request timeout, when its run line says. */
  requestTimeoutSeconds?: number;
  /** The registry the journaling run deleted from, when its run line says. */
  registry?: string;
}

/** Whether an outcome settles its intent for good; an uncertain DELETE or an unknown check leaves it open. */
export function isFinalOutcome(record: OutcomeRecord): boolean {
  return record.outcome !== 'reconciled-unknown' && record.outcome !== 'uncertain';
}

/** Intents not settled for good: DELETEs that may have been carried out by a run that never learned how they ended. */
export function unresolvedIntents(records: readonly JournalRecord[]): OpenIntent[] {
  const open = new Map<string, OpenIntent>();
  let run: { requestTimeoutSeconds?: number; registry?: string } = {};
  for (const record of records) {
    if (record.type === 'run') {
      // One run per journal: every DELETE of the runs before this one was sent before it started.
      for (const [key, intent] of open) open.set(key, { ...intent, sentBy: intent.sentBy ?? record.at });
      run = { registry: record.registry, ...(record.requestTimeoutSeconds === undefined ? {} : { requestTimeoutSeconds: record.requestTimeoutSeconds }) };
      continue;
    }
    const key = `${record.repository}@${record.digest}`;
    const intent = open.get(key);
    if (record.type === 'intent') open.set(key, { ...record, ...run });
    else if (isFinalOutcome(record)) open.delete(key);
    else if (intent !== undefined && record.outcome === 'uncertain') open.set(key, { ...intent, sentBy: record.at });
  }
  return [...open.values()];
}
