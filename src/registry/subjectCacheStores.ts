import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { ContainerClient } from '@azure/storage-blob';
import { registryKeyOf, type SubjectCacheStore } from './subjectCache.js';

/** The CLI's `--referrer-cache FILE`: replaced whole (written beside it, then renamed), so a killed run leaves the old one. */
export function fileSubjectCacheStore(file: string): SubjectCacheStore {
  return {
    description: file,
    read: async () => {
      try {
        return await readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    write: async (text) => {
      // A name nobody can guess, created exclusively: a link planted beside the file is never written through.
      // The global Web Crypto, loaded on first use: node:crypto would load with this module, at every start.
      const partial = `${file}.${crypto.randomUUID()}.partial`;
      await writeFile(partial, text, { flag: 'wx', mode: 0o600 });
      try {
        await rename(partial, file);
      } catch (error) {
        await unlink(partial).catch(() => {});
        throw error;
      }
    },
  };
}

/** The blob of a registry's cache: one per registry endpoint, so a cache is never read for another registry. */
export function subjectCacheBlobName(endpoint: string): string {
  return `referrer-cache/${registryKeyOf(endpoint).replace(/^https?:\/\//, '').replace(/[^a-z0-9.-]/g, '_')}.json`;
}

/** The Functions app's cache: a blob in the reports container, read and written with the reports' credential. */
export function blobSubjectCacheStore(container: ContainerClient, endpoint: string, timeoutMs: number): SubjectCacheStore {
  const blob = container.getBlockBlobClient(subjectCacheBlobName(endpoint));
  return {
    description: `blob ${container.containerName}/${blob.name}`,
    read: async () => {
      try {
        return (await blob.downloadToBuffer(undefined, undefined, { abortSignal: AbortSignal.timeout(timeoutMs) })).toString('utf8');
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return undefined;
        throw error;
      }
    },
    write: async (text) => {
      await container.createIfNotExists({ abortSignal: AbortSignal.timeout(timeoutMs) });
      await blob.upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'application/json' }, abortSignal: AbortSignal.timeout(timeoutMs) });
    },
  };
}
