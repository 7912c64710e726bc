import { constants, type Stats } from 'node:fs';
import { access, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/**
 * The CLI's files: where a live run's journal goes when no --journal is given, one run per journal (a lock file), and
 * a check that each file flag names something the CLI can use before anything starts.
 */

/** Bad usage found in a file flag; the message names the flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What the CLI takes from the environment (bin.ts passes it; nothing else reads process.env). */
export interface CliEnvironment {
  XDG_STATE_HOME?: string;
  HOME?: string;
}

/**
 * `$XDG_STATE_HOME/acr-cache-cleaner/<registry host>.journal.jsonl`, or under `~/.local/state` (the XDG default);
 * its folder is created. Without either, a live run has nowhere to journal and is refused.
 */
export async function defaultJournalFile(endpoint: string, env: CliEnvironment): Promise<string> {
  const { XDG_STATE_HOME: state, HOME: home } = env;
  const base = state !== undefined && isAbsolute(state) ? state : home !== undefined && isAbsolute(home) ? join(home, '.local', 'state') : undefined;
  if (base === undefined) throw new UsageError('--journal: a live run journals every deletion, and neither XDG_STATE_HOME nor HOME says where; give --journal FILE');
  const folder = join(base, 'acr-cache-cleaner');
  try {
    await mkdir(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UsageError(`--journal: the default journal's folder ${folder} cannot be created (${(error as Error).message}); give --journal FILE`);
  }
  return join(folder, `${new URL(endpoint).host.replace(/[^A-Za-z0-9.-]/g, '_')}.journal.jsonl`);
}

/**
 * A file the CLI will read must be a regular file (or absent: its reader says so): reading a FIFO or a device
 * would block before anything else, beyond the time budget and beyond a signal.
 */
export async function checkReadableFile(flag: string, path: string): Promise<void> {
  const found = await stat(path).catch(() => undefined);
  if (found !== undefined && !found.isFile()) throw new UsageError(`${flag}: ${path} is not a regular file (${kindOf(found)})`);
}

/** A folder the CLI will read (--log-dir): when it exists, it must be a folder. */
export async function checkDirectory(flag: string, path: string): Promise<void> {
  const found = await stat(path).catch(() => undefined);
  if (found !== undefined && !found.isDirectory()) throw new UsageError(`${flag}: ${path} is not a folder (${kindOf(found)})`);
}

/** A file the CLI will write: an existing regular file it may write, or a new one in a folder it may write. */
export async function checkWritableFile(flag: string, path: string): Promise<void> {
  await checkReadableFile(flag, path);
  try {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    await access(exists ? path : dirname(path), constants.W_OK);
  } catch (error) {
    throw new UsageError(`${flag}: ${path} cannot be written (${(error as Error).message})`);
  }
}

export function kindOf(found: Stats): string {
  if (found.isFile()) return 'a file';
  if (found.isDirectory()) return 'a folder';
  if (found.isFIFO()) return 'a FIFO';
  if (found.isSocket()) return 'a socket';
  if (found.isCharacterDevice() || found.isBlockDevice()) return 'a device';
  return 'not a file';
}

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

/**
 * One run per journal: `<journal>.lock`, created whole and exclusively (written aside, then hard-linked into place),
 * names the run's process. A second run refuses while that process lives; the lock of a process that is gone (killed)
 * is taken over.
 */
export class JournalLock {
  private constructor(
    private readonly path: string,
    private readonly text: string,
    /** Whether the lock of a run that died was taken over: that run may have left a DELETE on its way. */
    readonly tookOver: boolean,
  ) {}

  /** `beforeTakeover` is a seam for tests: it runs after a dead run's lock was read and before it is taken over. */
  static async acquire(journal: string, log: (message: string) => void, beforeTakeover?: () => Promise<void>): Promise<JournalLock> {
    const path = `${journal}.lock`;
    const text = JSON.stringify({ pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() } satisfies LockOwner);
    let tookOver = false;
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await createExclusively(path, text)) return new JournalLock(path, text, tookOver);
      const found = await stat(path).catch(() => undefined);
      if (found !== undefined && !found.isFile()) throw new UsageError(`--journal: its lock ${path} is not a regular file (${kindOf(found)})`);
      const held = await readFile(path, 'utf8').catch(() => undefined);
      if (held === undefined) continue;
      const owner = ownerOf(held);
      if (owner === undefined || isAlive(owner)) throw new UsageError(`--journal: ${journal} is in use by another run (${describeOwner(owner)}); one run per journal. If no such run is alive, delete ${path}`);
      await beforeTakeover?.();
      const removed = await removeDeadLock(path, held, text);
      if (removed === 'removed') {
        tookOver = true;
        log(`took over the journal lock ${path} of ${describeOwner(owner)}, which is no longer running`);
      } else if (removed === 'busy') await sleep(10 + Math.random() * 20);
    }
    throw new UsageError(`--journal: ${journal} is in use by another run that has just started; one run per journal`);
  }

  /** Removes the lock if it is still this run's. */
  async release(): Promise<void> {
    if ((await readFile(this.path, 'utf8').catch(() => undefined)) === this.text) await unlink(this.path).catch(() => {});
  }
}

/**
 * Removes a dead run's lock, only while holding `<lock>.takeover` (created exclusively): without it, a contender that
 * read the dead lock a moment ago could remove the lock another run has just taken over. A takeover mark older than
 * any takeover lasts is a crashed contender's and is removed.
 */
async function removeDeadLock(path: string, held: string, text: string): Promise<'removed' | 'gone' | 'busy'> {
  const mark = `${path}.takeover`;
  if (!(await createExclusively(mark, text))) {
    const since = await stat(mark).then((found) => found.mtimeMs, () => undefined);
    if (since !== undefined && Date.now() - since > STALE_TAKEOVER_MS) await unlink(mark).catch(() => {});
    return 'busy';
  }
  try {
    if ((await readFile(path, 'utf8').catch(() => undefined)) !== held) return 'gone';
    await unlink(path);
    return 'removed';
  } finally {
    await unlink(mark).catch(() => {});
  }
}

const STALE_TAKEOVER_MS = 10_000;

/** Whether the lock file was created with `text` (false: it exists); other failures are bad usage. */
async function createExclusively(path: string, text: string): Promise<boolean> {
  // The global Web Crypto, loaded on first use: node:crypto would load with this module, at every start.
  const aside = `${path}.${process.pid}.${crypto.randomUUID()}.tmp`;
  try {
    await writeFile(aside, text, { flag: 'w' });
    await link(aside, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new UsageError(`--journal: its lock ${path} cannot be created (${(error as Error).message})`);
  } finally {
    await unlink(aside).catch(() => {});
  }
}

function ownerOf(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    return Number.isInteger(owner.pid) && typeof owner.hostname === 'string' && typeof owner.startedAt === 'string' ? (owner as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/** A process on another machine cannot be checked from here: it counts as alive. */
function isAlive(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeOwner(owner: LockOwner | undefined): string {
  return owner === undefined ? 'a lock file this tool did not write' : `process ${owner.pid} on ${owner.hostname}, started ${owner.startedAt}`;
}
