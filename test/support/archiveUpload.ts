import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { forEachConcurrently } from '../../src/concurrency.js';

export const LOG_CONTAINER = 'insights-logs-containerregistryrepositoryevents';

/** Writes log blobs as the diagnostic setting does: append blobs, one append per chunk of lines. */
export async function uploadArchive(connectionString: string, blobs: Map<string, string | Buffer>, container = LOG_CONTAINER, concurrency = 16): Promise<ContainerClient> {
  const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  await client.createIfNotExists();
  await forEachConcurrently([...blobs], concurrency, async ([name, text]) => {
    const blob = client.getAppendBlobClient(name);
    await blob.createIfNotExists();
    const bytes = typeof text === 'string' ? Buffer.from(text) : text;
    for (let offset = 0; offset < bytes.length; offset += 4 * 1024 * 1024) {
      const block = bytes.subarray(offset, offset + 4 * 1024 * 1024);
      await blob.appendBlock(block, block.length);
    }
  });
  return client;
}
