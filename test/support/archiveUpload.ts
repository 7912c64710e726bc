import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

export const LOG_CONTAINER = 'insights-logs-containerregistryrepositoryevents';

/** Writes log blobs as the diagnostic setting does: append blobs, one append per chunk of lines. */
export async function uploadArchive(connectionString: string, blobs: Map<string, string>, container = LOG_CONTAINER, concurrency = 16): Promise<ContainerClient> {
  const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  await client.createIfNotExists();
  const entries = [...blobs];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= entries.length) return;
      const [name, text] = entries[index]!;
      const blob = client.getAppendBlobClient(name);
      await blob.createIfNotExists();
      const bytes = Buffer.from(text);
      for (let offset = 0; offset < bytes.length; offset += 4 * 1024 * 1024) {
        const block = bytes.subarray(offset, offset + 4 * 1024 * 1024);
        await blob.appendBlock(block, block.length);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return client;
}
