import { LocalDirLogSource } from './accessLog/sources/localDir.js';
import type { AccessLogSource } from './accessLog/sources/source.js';
import type { Config } from './config.js';
import { readInventoryFile } from './inventory.js';
import type { InventorySource, PassDependencies } from './pass.js';

/** A setting names an adapter this build does not have yet. */
export class NotAvailableError extends Error {
  override readonly name = 'NotAvailableError';
}

export function createLogSource(config: Config): AccessLogSource {
  const { logs } = config;
  switch (logs.kind) {
    case 'dir':
      return new LocalDirLogSource(logs.directory, logs.pathPattern);
    case 'storage':
      throw new NotAvailableError('reading logs from a storage account (--log-storage-account) is not available yet: use --log-dir');
    case 'workspace':
      throw new NotAvailableError('reading logs from Log Analytics (--log-analytics-workspace-id) is not available yet: use --log-dir');
  }
}

export function createInventorySource(config: Config): InventorySource {
  const file = config.inventoryFile;
  if (file !== undefined) return { description: `the inventory snapshot ${file}`, load: () => readInventoryFile(file) };
  throw new NotAvailableError('listing a live registry (--container-registry without --inventory) is not available yet: use --inventory FILE');
}

/** The adapters a config asks for. */
export function createPassDependencies(config: Config, options: { clock?: () => Date; log?: (message: string) => void } = {}): PassDependencies {
  return {
    logs: createLogSource(config),
    inventory: createInventorySource(config),
    clock: options.clock ?? (() => new Date()),
    log: options.log,
  };
}
