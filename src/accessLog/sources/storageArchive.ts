import type { TokenCredential } from '@azure/core-auth';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { forEachConcurrently } from '../../concurrency.js';
import type { StorageAccountRef } from '../../config.js';
import { USER_AGENT_PREFIX } from '../../report.js';
import { AccessCounts, LogStats } from '../counts.js';
import { readLogStream, finishReading } from '../logFile.js';
import type { RecordFilter, TimeWindow } from '../record.js';
import { mayHoldWindow, pathPatternMatcher } from './archiveLayout.js';
import { LogSourceError, type AccessLogSource, type LogReadResult } from './source.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const YEAR_FOLDER = /(^|\/)y=\d{4}\/$/;
/** Deep enough for `resourceId=/SUBSCRIPTIONS/…/REGISTRIES/NAME/`, with room to spare. */
const MAX_DISCOVERY_DEPTH = 12;

export interface StorageArchiveOptions {
  account: StorageAccountRef;
  container: string;
  pathPattern: string;
  /** Only this registry's folder (`/subscriptions/…/registries/NAME`). */
  resourceId?: string;
  credential?: TokenCredential;
  /** Blobs downloaded at once. */
  concurrency?: number;
}

export interface ArchiveStats {
  blobsListed: number;
  blobsRead: number;
  listCalls: number;
  registryFolders: string[];
  fallback: boolean;
}

export function createBlobServiceClient(account: StorageAccountRef, credential?: TokenCredential): BlobServiceClient {
  const options = { userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX } };
  if (account.kind === 'connectionString') return BlobServiceClient.fromConnectionString(account.connectionString, options);
  if (credential === undefined) throw new LogSourceError(`reading ${account.url} needs a credential`);
  return new BlobServiceClient(account.url, credential, options);
}

/**
 * The diagnostic setting's archive: hourly append blobs under
 * `resourceId=/…/REGISTRIES/NAME/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`. Finds the registry folders with
 * delimiter listings, then lists only the days of the window and reads only the hours that can hold its
 * records, streaming each blob through the same reader as local files.
 */
export class StorageArchiveLogSource implements AccessLogSource {
  readonly description: string;
  readonly archive: ArchiveStats = { blobsListed: 0, blobsRead: 0, listCalls: 0, registryFolders: [], fallback: false };

  constructor(private readonly options: StorageArchiveOptions) {
    const where = options.account.kind === 'url' ? options.account.url : 'the storage account of the connection string';
    this.description = `container ${options.container} in ${where}`;
  }

  async read(filter: RecordFilter, signal?: AbortSignal): Promise<LogReadResult> {
    const counts = new AccessCounts();
    const stats = new LogStats();
    const container = createBlobServiceClient(this.options.account, this.options.credential).getContainerClient(this.options.container);
    const matches = pathPatternMatcher(this.options.pathPattern);
    try {
      const start = this.options.resourceId === undefined ? '' : `resourceId=${this.options.resourceId.toUpperCase()}/`;
      const folders = await this.findRegistryFolders(container, start, filter.registryName, signal);
      this.archive.registryFolders = folders;
      let blobs: string[];
      if (folders.length > 0) {
        blobs = [];
        for (const folder of folders) blobs.push(...(await this.listWindow(container, folder, filter.window, signal)));
      } else {
        this.archive.fallback = true;
        stats.notes.push(`no y=/m=/d=/h= archive folders found in ${this.options.container}${start ? ` below ${start}` : ''}: read every blob matching ${this.options.pathPattern} instead`);
        blobs = await this.listAll(container, start, signal);
      }
      const selected = blobs.filter((name) => matches(name) && mayHoldWindow(name, filter.window));
      await this.readBlobs(container, selected, filter, counts, stats, signal);
      finishReading(counts, stats);
      stats.notes.push(
        `archive: ${this.archive.registryFolders.length} registry folder(s), ${this.archive.listCalls} list call(s), ${this.archive.blobsListed} blob(s) listed, ${this.archive.blobsRead} read`,
      );
    } catch (error) {
      if (error instanceof LogSourceError) throw error;
      if (signal?.aborted) throw error;
      throw new LogSourceError(`reading the log archive ${this.options.container} failed: ${(error as Error).message}`);
    }
    return { counts, stats };
  }

  /** Folders whose children are `y=YYYY/` folders: one per registry archived into the container. */
  private async findRegistryFolders(container: ContainerClient, start: string, registryName: string | undefined, signal?: AbortSignal): Promise<string[]> {
    const found: string[] = [];
    let level = [start];
    for (let depth = 0; depth < MAX_DISCOVERY_DEPTH && level.length > 0; depth++) {
      const next: string[] = [];
      for (const prefix of level) {
        const children = await this.listPrefixes(container, prefix, signal);
        if (children.some((child) => YEAR_FOLDER.test(child))) {
          found.push(prefix);
          continue;
        }
        for (const child of children) {
          const parentIsRegistries = /(^|\/)REGISTRIES\/$/i.test(prefix);
          if (parentIsRegistries && registryName !== undefined && child.slice(prefix.length, -1).toLowerCase() !== registryName) continue;
          next.push(child);
        }
      }
      level = next;
    }
    return found.sort();
  }

  private async listPrefixes(container: ContainerClient, prefix: string, signal?: AbortSignal): Promise<string[]> {
    const prefixes: string[] = [];
    for await (const page of container.listBlobsByHierarchy('/', { prefix, abortSignal: signal }).byPage({ maxPageSize: 5000 })) {
      this.archive.listCalls++;
      for (const item of page.segment.blobPrefixes ?? []) prefixes.push(item.name);
    }
    return prefixes;
  }

  /** The blobs of the days that can hold the window (one hour of margin on each side). */
  private async listWindow(container: ContainerClient, folder: string, window: TimeWindow, signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    const firstDay = Math.floor((window.startMs - HOUR_MS) / DAY_MS) * DAY_MS;
    for (let day = firstDay; day <= window.endMs + HOUR_MS; day += DAY_MS) {
      const date = new Date(day);
      const prefix = `${folder}y=${date.getUTCFullYear()}/m=${pad(date.getUTCMonth() + 1)}/d=${pad(date.getUTCDate())}/`;
      names.push(...(await this.listFlat(container, prefix, signal)));
    }
    return names;
  }

  private async listAll(container: ContainerClient, prefix: string, signal?: AbortSignal): Promise<string[]> {
    return this.listFlat(container, prefix, signal);
  }

  private async listFlat(container: ContainerClient, prefix: string, signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    for await (const page of container.listBlobsFlat({ prefix, abortSignal: signal }).byPage({ maxPageSize: 5000 })) {
      this.archive.listCalls++;
      for (const item of page.segment.blobItems) names.push(item.name);
    }
    this.archive.blobsListed += names.length;
    return names;
  }

  private async readBlobs(container: ContainerClient, names: string[], filter: RecordFilter, counts: AccessCounts, stats: LogStats, signal?: AbortSignal): Promise<void> {
    await forEachConcurrently(names, this.options.concurrency ?? 8, async (name) => {
      try {
        const response = await container.getBlobClient(name).download(0, undefined, { abortSignal: signal, maxRetryRequests: 5 });
        if (response.readableStreamBody === undefined) throw new LogSourceError(`the blob ${name} has no body`);
        await readLogStream(name, response.readableStreamBody as AsyncIterable<Buffer>, filter, counts, stats, signal);
      } catch (error) {
        if (error instanceof LogSourceError || signal?.aborted) throw error;
        // The download failed (archived, gone, the network): the refusal names the blob.
        throw new LogSourceError(`reading the log blob ${name} in ${this.options.container} failed: ${(error as Error).message}`);
      }
      this.archive.blobsRead++;
    });
  }
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}
