import { RestError } from '@azure/core-rest-pipeline';
import type { BlobLeaseClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { StopRequest } from './deletion/stop.js';
import { sleep } from './registry/retry.js';

const LOCK_BLOB = 'cleanImageCache';
export const LEASE_SECONDS = 60;
/** Renewed at least this often, so a run whose lease was taken (broken) learns it within two seconds. */
const RENEW_EVERY_MS = 2000;

/** Who holds the run lease, written in the lock blob's metadata by the holder. */
export interface LeaseHolder {
  run: string;
  trigger: 'timer' | 'preview';
  startedAt: string;
  /** A dry run sends no DELETE: taking its lease over needs no quiet period. */
  dryRun: boolean;
  /** The holder's report blob (its journal is beside it). */
  report?: string;
}

/** At most this many earlier holders not yet closed are carried in the lock's metadata. */
const MAX_PENDING = 3;

export interface LeaseOptions {
  holder: LeaseHolder;
  log: (message: string) => void;
  leaseSeconds?: number;
  /** No run lasts longer: renewing stops then, so a hung process cannot keep the lease for ever. */
  maxHoldMs: number;
  /**
   * After taking over a lease that was not released (expired or broken), no DELETE goes out for this long: the
   * previous holder may still be finishing a DELETE it sent under its last confirmed lease.
   */
  quietMs: number;
  /** Each storage request's own time limit. */
  timeoutMs: number;
  /** Whether to break a lease held by this holder and take it (a nightly run over a preview's dry run). */
  takeOverFrom?: (holder: LeaseHolder | undefined) => boolean;
}

export type LeaseAttempt =
  /** `previous`: earlier holders, oldest first, whose runs may not have finished (their reports tell). */
  | { acquired: true; lease: RunLease; previous: LeaseHolder[] }
  | { acquired: false; holder: LeaseHolder | undefined };

/**
 * One run at a time. A manual run (portal Test/Run) does not take the timer's own lock, so each run takes a blob
 * lease in the host storage, names itself in the lock blob's metadata, and renews the lease while it runs. Every
 * journal commit that carries intents first confirms the lease ({@link confirm}); a run that cannot renew stops
 * starting deletions at once.
 */
export class RunLease {
  private renewal: NodeJS.Timeout | undefined;
  private lostBecause: string | undefined;
  private readonly listeners: ((message: string) => void)[] = [];
  private quietUntilMs = 0;

  private constructor(
    private readonly blob: BlockBlobClient,
    private readonly lease: BlobLeaseClient,
    private readonly options: LeaseOptions,
  ) {}

  /** The lease, or who holds it. */
  static async acquire(container: ContainerClient, options: LeaseOptions): Promise<LeaseAttempt> {
    const signal = () => AbortSignal.timeout(options.timeoutMs);
    await container.createIfNotExists({ abortSignal: signal() });
    const blob = container.getBlockBlobClient(LOCK_BLOB);
    try {
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' }, abortSignal: signal() });
    } catch (error) {
      if (!(error instanceof RestError) || (error.statusCode !== 409 && error.statusCode !== 412)) throw error;
    }
    const properties = await blob.getProperties({ abortSignal: signal() });
    const current = holderOf(properties.metadata);
    let takenOver = properties.leaseState === 'expired' || properties.leaseState === 'broken';
    const leaseSeconds = options.leaseSeconds ?? LEASE_SECONDS;
    let lease = blob.getBlobLeaseClient();
    try {
      await lease.acquireLease(leaseSeconds, { abortSignal: signal() });
    } catch (error) {
      if (!(error instanceof RestError) || error.statusCode !== 409) throw error;
      const holder = await currentHolder(blob, signal);
      if (!options.takeOverFrom?.(holder)) return { acquired: false, holder };
      options.log(`breaking the run lease of ${describeHolder(holder)}: this run has priority`);
      await blob.getBlobLeaseClient().breakLease(0, { abortSignal: signal() });
      lease = blob.getBlobLeaseClient();
      try {
        await lease.acquireLease(leaseSeconds, { abortSignal: signal() });
      } catch (raced) {
        if (raced instanceof RestError && raced.statusCode === 409) return { acquired: false, holder: holderOf((await blob.getProperties({ abortSignal: signal() })).metadata) };
        throw raced;
      }
      takenOver = true;
    }
    const held = new RunLease(blob, lease, options);
    // Named at once, with the earlier holders still to be closed, so a run that dies while closing them leaves them named.
    const previous = [...pendingOf(properties.metadata), ...(current === undefined ? [] : [current])].slice(-MAX_PENDING);
    try {
      await held.setHolder(options.holder, previous);
    } catch (error) {
      await held.release();
      throw error;
    }
    if (takenOver && current?.dryRun !== true) held.quietUntilMs = Date.now() + options.quietMs;
    const acquiredMs = Date.now();
    held.renewal = setInterval(() => {
      if (Date.now() - acquiredMs > options.maxHoldMs) {
        clearInterval(held.renewal);
        options.log('warning: this run has held the run lease as long as a run can last; no longer renewing it');
        return;
      }
      void held.renew().catch(() => {});
    }, Math.min((leaseSeconds * 1000) / 3, RENEW_EVERY_MS));
    held.renewal.unref();
    return { acquired: true, lease: held, previous };
  }

  get lost(): boolean {
    return this.lostBecause !== undefined;
  }

  /** Called once, when renewing fails: the run must stop starting deletions. */
  onLost(listener: (message: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Renews the lease now, after the quiet period of a take-over: resolves when the lease is confirmed ours, throws
   * a `lease-lost` {@link StopRequest} otherwise.
   */
  async confirm(): Promise<void> {
    const quiet = this.quietUntilMs - Date.now();
    if (quiet > 0) await sleep(quiet);
    await this.renew();
  }

  /** Names this run in the lock blob (and the earlier holders it has yet to close), so a later run can find their reports. */
  async setHolder(holder: LeaseHolder, pending: LeaseHolder[] = []): Promise<void> {
    await this.blob.setMetadata(metadataOf(holder, pending), { conditions: { leaseId: this.lease.leaseId }, abortSignal: AbortSignal.timeout(this.options.timeoutMs) });
  }

  async release(): Promise<void> {
    clearInterval(this.renewal);
    try {
      await this.lease.releaseLease({ abortSignal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      this.options.log(`warning: releasing the run lease failed (${(error as Error).message}); it expires by itself within ${this.options.leaseSeconds ?? LEASE_SECONDS} s`);
    }
  }

  private async renew(): Promise<void> {
    if (this.lostBecause !== undefined) throw new StopRequest('lease-lost', this.lostBecause);
    try {
      await this.lease.renewLease({ abortSignal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      if (this.lostBecause === undefined) {
        this.lostBecause = `the run lease could not be renewed (${(error as Error).message}): another run may hold it now`;
        clearInterval(this.renewal);
        this.options.log(`warning: ${this.lostBecause}; no new deletions`);
        for (const listener of this.listeners) listener(this.lostBecause);
      }
      throw new StopRequest('lease-lost', this.lostBecause);
    }
  }
}

/**
 * The lease holder named in the lock. A holder names itself right after acquiring, so the lock is read after a
 * moment's wait: read at once, it could still name the holder before.
 */
async function currentHolder(blob: BlockBlobClient, signal: () => AbortSignal): Promise<LeaseHolder | undefined> {
  await sleep(250);
  return holderOf((await blob.getProperties({ abortSignal: signal() })).metadata);
}

function metadataOf(holder: LeaseHolder, pending: LeaseHolder[]): Record<string, string> {
  return {
    run: holder.run,
    trigger: holder.trigger,
    startedat: holder.startedAt,
    dryrun: String(holder.dryRun),
    ...(holder.report === undefined ? {} : { report: holder.report }),
    ...(pending.length === 0 ? {} : { pending: JSON.stringify(pending) }),
  };
}

function holderOf(metadata: Record<string, string> | undefined): LeaseHolder | undefined {
  if (metadata?.run === undefined || metadata.startedat === undefined) return undefined;
  return {
    run: metadata.run,
    trigger: metadata.trigger === 'preview' ? 'preview' : 'timer',
    startedAt: metadata.startedat,
    dryRun: metadata.dryrun === 'true',
    ...(metadata.report === undefined ? {} : { report: metadata.report }),
  };
}

function pendingOf(metadata: Record<string, string> | undefined): LeaseHolder[] {
  try {
    const pending = JSON.parse(metadata?.pending ?? '[]') as LeaseHolder[];
    return Array.isArray(pending) ? pending.filter((holder) => typeof holder?.run === 'string' && typeof holder.startedAt === 'string') : [];
  } catch {
    return [];
  }
}

export function describeHolder(holder: LeaseHolder | undefined): string {
  return holder === undefined ? 'an unknown holder (the lock names no run)' : `run ${holder.run} (${holder.trigger}) since ${holder.startedAt}`;
}
