import { LocalDirLogSource } from './accessLog/sources/localDir.js';
import { LogAnalyticsLogSource } from './accessLog/sources/logAnalytics.js';
import { StorageArchiveLogSource } from './accessLog/sources/storageArchive.js';
import type { AccessLogSource } from './accessLog/sources/source.js';
import type { Config } from './config.js';
import { readInventoryFile, writeInventoryFile } from './inventory.js';
import type { InventorySource, PassDependencies } from './pass.js';
import { AcrInventorySource, type RegistryConnection } from './registry/acr.js';
import { createCredential } from './registry/credential.js';
import { AcrDeleter, policyRecheck } from './registry/deleter.js';

export function createLogSource(config: Config): AccessLogSource {
  const { logs } = config;
  switch (logs.kind) {
    case 'dir':
      return new LocalDirLogSource(logs.directory, logs.pathPattern);
    case 'storage':
      return new StorageArchiveLogSource({
        account: logs.account,
        container: logs.container,
        pathPattern: logs.pathPattern,
        resourceId: logs.resourceId,
        credential: logs.account.kind === 'url' ? createCredential(config.credential) : undefined,
      });
    case 'workspace':
      return new LogAnalyticsLogSource({ workspaceId: logs.workspaceId, endpoint: logs.endpoint, audience: logs.audience, credential: createCredential(config.credential) });
  }
}

export function registryConnection(config: Config): RegistryConnection | undefined {
  if (config.registry === undefined) return undefined;
  return { endpoint: config.registry.endpoint, credential: createCredential(config.credential), audience: config.audience };
}

export function createInventorySource(config: Config, connection: RegistryConnection | undefined, log?: (message: string) => void): InventorySource {
  const file = config.inventoryFile;
  if (file !== undefined) return { description: `the inventory snapshot ${file}`, load: () => readInventoryFile(file) };
  if (connection === undefined) throw new Error('no registry to list: loadConfig requires CONTAINER_REGISTRY or INVENTORY_FILE');
  return new AcrInventorySource(connection, { concurrency: config.deletion.concurrency, readsPerMinute: config.deletion.readsPerMinute, log });
}

export interface WiringOptions {
  clock?: () => Date;
  log?: (message: string) => void;
  /** Also write the listed inventory to this file (the CLI's --export-inventory). */
  exportInventory?: string;
}

/** The adapters a config asks for. */
export function createPassDependencies(config: Config, options: WiringOptions = {}): PassDependencies {
  const clock = options.clock ?? (() => new Date());
  const connection = config.inventoryFile === undefined ? registryConnection(config) : undefined;
  let inventory = createInventorySource(config, connection, options.log);
  const exportTo = options.exportInventory;
  if (exportTo !== undefined) {
    const source = inventory;
    inventory = {
      description: source.description,
      load: async (signal) => {
        const listed = await source.load(signal);
        await writeInventoryFile(exportTo, listed);
        options.log?.(`wrote the inventory snapshot to ${exportTo}`);
        return listed;
      },
    };
  }
  return {
    logs: createLogSource(config),
    inventory,
    deleter:
      connection === undefined
        ? undefined
        : new AcrDeleter(connection, {
            concurrency: config.deletion.concurrency,
            deletesPerMinute: config.deletion.deletesPerMinute,
            log: options.log,
            recheck: policyRecheck(config.policy, clock, config.deletion.readsPerMinute),
          }),
    clock,
    log: options.log,
  };
}
