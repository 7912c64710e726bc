import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { LocalDirLogSource } from './accessLog/sources/localDir.js';
import type { AccessLogSource } from './accessLog/sources/source.js';
import type { Config } from './config.js';
import { readInventoryFile, writeInventoryFile } from './inventory.js';
import type { DeletionExecutor, InventorySource, PassDependencies } from './pass.js';
import type { RegistryConnection } from './registry/acr.js';
import type { SubjectCacheStore } from './registry/subjectCache.js';

// The Azure SDKs take most of a start-up (about 0.4 s of module loading): each adapter that needs one is loaded
// when it is first used, so `--help` and an offline run (--log-dir, --inventory) load none.

export function createLogSource(config: Config): AccessLogSource {
  const { logs } = config;
  switch (logs.kind) {
    case 'dir':
      return new LocalDirLogSource(logs.directory, logs.pathPattern);
    case 'storage': {
      const where = logs.account.kind === 'url' ? logs.account.url : 'the storage account of the connection string';
      return deferredLogSource(`container ${logs.container} in ${where}`, async () => {
        const { StorageArchiveLogSource } = await import('./accessLog/sources/storageArchive.js');
        return new StorageArchiveLogSource({
          account: logs.account,
          container: logs.container,
          pathPattern: logs.pathPattern,
          resourceId: logs.resourceId,
          credential: logs.account.kind === 'url' ? deferredCredential(config.credential) : undefined,
        });
      });
    }
    case 'workspace':
      return deferredLogSource(`Log Analytics workspace ${logs.workspaceId}`, async () => {
        const { LogAnalyticsLogSource } = await import('./accessLog/sources/logAnalytics.js');
        return new LogAnalyticsLogSource({ workspaceId: logs.workspaceId, endpoint: logs.endpoint, audience: logs.audience, credential: deferredCredential(config.credential) });
      });
  }
}

export function registryConnection(config: Config): RegistryConnection | undefined {
  if (config.registry === undefined) return undefined;
  return { endpoint: config.registry.endpoint, credential: deferredCredential(config.credential), audience: config.audience, requestTimeoutMs: config.deletion.requestTimeoutSeconds * 1000 };
}

export function createInventorySource(config: Config, connection: RegistryConnection | undefined, log?: (message: string) => void, subjectCache?: SubjectCacheStore): InventorySource {
  const file = config.inventoryFile;
  if (file !== undefined) return { description: `the inventory snapshot ${file}`, load: () => readInventoryFile(file) };
  if (connection === undefined) throw new Error('no registry to list: loadConfig requires CONTAINER_REGISTRY or INVENTORY_FILE');
  return {
    description: `the registry ${connection.endpoint}`,
    load: async (signal, budget) => {
      const { AcrInventorySource } = await import('./registry/acr.js');
      return new AcrInventorySource(connection, { concurrency: config.deletion.concurrency, readsPerMinute: config.deletion.readsPerMinute, log, subjectCache }).load(signal, budget);
    },
  };
}

export interface WiringOptions {
  clock?: () => Date;
  log?: (message: string) => void;
  /** Also write the listed inventory to this file (the CLI's --export-inventory). */
  exportInventory?: string;
  /** Where the live listing keeps what it learned about OCI referrers between runs. */
  referrerCache?: SubjectCacheStore;
}

/** The adapters a config asks for. */
export function createPassDependencies(config: Config, options: WiringOptions = {}): PassDependencies {
  const clock = options.clock ?? (() => new Date());
  const connection = config.inventoryFile === undefined ? registryConnection(config) : undefined;
  let inventory = createInventorySource(config, connection, options.log, options.referrerCache);
  const exportTo = options.exportInventory;
  if (exportTo !== undefined) {
    const source = inventory;
    inventory = {
      description: source.description,
      load: async (signal, budget) => {
        const listed = await source.load(signal, budget);
        await writeInventoryFile(exportTo, listed);
        options.log?.(`wrote the inventory snapshot to ${exportTo}`);
        return listed;
      },
    };
  }
  return {
    logs: createLogSource(config),
    inventory,
    deleter: connection === undefined ? undefined : deferredDeleter(config, connection, clock, options.log),
    clock,
    log: options.log,
  };
}

function deferredDeleter(config: Config, connection: RegistryConnection, clock: () => Date, log?: (message: string) => void): DeletionExecutor {
  let created: Promise<DeletionExecutor & Required<Pick<DeletionExecutor, 'reconcile'>>> | undefined;
  const deleter = () =>
    (created ??= import('./registry/deleter.js').then(
      ({ AcrDeleter, policyRecheck }) =>
        new AcrDeleter(connection, {
          concurrency: config.deletion.concurrency,
          deletesPerMinute: config.deletion.deletesPerMinute,
          log,
          recheck: policyRecheck(config.policy, clock, config.deletion.readsPerMinute),
        }),
    ));
  return {
    execute: async (plan, run) => (await deleter()).execute(plan, run),
    reconcile: async (intents, budget, timing) => (await deleter()).reconcile(intents, budget, timing),
  };
}

/** A log source whose module loads on its first read. */
function deferredLogSource(description: string, load: () => Promise<AccessLogSource>): AccessLogSource {
  let source: Promise<AccessLogSource> | undefined;
  return {
    description,
    read: async (filter, signal) => (await (source ??= load())).read(filter, signal),
  };
}

/** The configured credential, created (and @azure/identity loaded) when a token is first asked for. */
function deferredCredential(credential: Config['credential']): TokenCredential {
  let created: Promise<TokenCredential> | undefined;
  return {
    getToken: async (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> => {
      created ??= import('./registry/credential.js').then(({ createCredential }) => createCredential(credential));
      return (await created).getToken(scopes, options);
    },
  };
}
