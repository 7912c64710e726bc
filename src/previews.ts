import { randomUUID } from 'node:crypto';
import { RestError } from '@azure/core-rest-pipeline';
import type { ContainerClient } from '@azure/storage-blob';
import type { RunOutcome } from './audit.js';

export const REQUESTS_CONTAINER = 'cleanup-requests';
/** The queue the HTTP preview puts a request on; the `previewWorker` function runs the dry run it asks for. */
export const PREVIEW_QUEUE = 'cleanup-preview-requests';

/** A request for a fresh dry run, and what became of it. */
export interface PreviewRequest {
  id: string;
  requestedAt: string;
  status: 'queued' | 'running' | RunOutcome;
  startedAt?: string;
  finishedAt?: string;
  /** The dry run's report blob, once it has one. */
  report?: string;
  message?: string;
}

const KEEP_REQUESTS_MS = 7 * 86_400_000;

/** Preview requests as small blobs in the host storage (`cleanup-requests/<time>-<id>.json`, so names sort by time). */
export class PreviewRequests {
  constructor(
    private readonly container: ContainerClient,
    private readonly timeoutMs: number,
  ) {}

  /** The newest request still queued or running and younger than `maxAgeMs` (a dry run on its way), if any. */
  async pending(nowMs: number, maxAgeMs: number): Promise<PreviewRequest | undefined> {
    for (const { name, metadata } of await this.list()) {
      if (nowMs - Date.parse(metadata.requestedat ?? '') > maxAgeMs) continue;
      if (metadata.status === 'queued' || metadata.status === 'running') return this.get(name.replace(/\.json$/, ''));
    }
    return undefined;
  }

  async create(nowMs: number): Promise<PreviewRequest> {
    const iso = new Date(nowMs).toISOString();
    const request: PreviewRequest = { id: `${iso.replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`, requestedAt: iso, status: 'queued' };
    await this.container.createIfNotExists({ abortSignal: this.signal() });
    await this.save(request);
    await this.forgetOld(nowMs);
    return request;
  }

  async get(id: string): Promise<PreviewRequest | undefined> {
    if (!/^[\w-]+$/.test(id)) return undefined;
    try {
      return JSON.parse((await this.container.getBlobClient(`${id}.json`).downloadToBuffer(undefined, undefined, { abortSignal: this.signal() })).toString('utf8')) as PreviewRequest;
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async save(request: PreviewRequest): Promise<void> {
    const text = JSON.stringify(request);
    await this.container.getBlockBlobClient(`${request.id}.json`).upload(text, Buffer.byteLength(text), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
      metadata: { status: request.status, requestedat: request.requestedAt },
      abortSignal: this.signal(),
    });
  }

  /** Request blobs with their status in metadata, newest first. */
  private async list(): Promise<{ name: string; metadata: Record<string, string> }[]> {
    const blobs: { name: string; metadata: Record<string, string> }[] = [];
    try {
      for await (const blob of this.container.listBlobsFlat({ includeMetadata: true, abortSignal: this.signal() })) blobs.push({ name: blob.name, metadata: blob.metadata ?? {} });
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return [];
      throw error;
    }
    return blobs.sort((a, b) => (a.name < b.name ? 1 : -1));
  }

  private async forgetOld(nowMs: number): Promise<void> {
    const cutoff = new Date(nowMs - KEEP_REQUESTS_MS).toISOString().replace(/[:.]/g, '-');
    for await (const blob of this.container.listBlobsFlat({ abortSignal: this.signal() })) {
      if (blob.name < cutoff) await this.container.deleteBlob(blob.name, { abortSignal: this.signal() }).catch(() => {});
    }
  }

  private signal(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }
}
