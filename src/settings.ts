/**
 * Every setting the cleaner reads. App settings use these names; the CLI's flags are the same names in
 * lower-case kebab form (`CACHE_HISTORY_DAYS` ⇔ `--cache-history-days`) unless `flag` says otherwise.
 */
export const SETTINGS = {
  CONTAINER_REGISTRY: { default: undefined, meaning: 'Registry name (`myregistry`), login server, or `https://` endpoint.', replaces: '--container-registry' },
  LOG_STORAGE_ACCOUNT: { default: undefined, meaning: 'Storage account holding the archived logs: name, blob endpoint URL, or (Azurite/local) a connection string.', replaces: '--log-storage-account' },
  LOG_STORAGE_ACCOUNT_CONTAINER: { default: 'insights-logs-containerregistryrepositoryevents', meaning: 'Blob container of the archived logs.', replaces: '--log-storage-account-container' },
  LOG_STORAGE_PATH_PATTERN: { default: '*.json', meaning: 'Glob that log blob names must match (without `/`: the file name).', replaces: '--log-storage-path-pattern' },
  LOG_STORAGE_RESOURCE_ID: { default: undefined, meaning: "Read only blobs below this registry's `resourceId=` folder (default: any registry of that name).", replaces: undefined },
  LOG_ANALYTICS_WORKSPACE_ID: { default: undefined, meaning: 'Log Analytics workspace (customer id GUID) holding the logs; replaces the storage archive.', replaces: undefined },
  LOG_ANALYTICS_ENDPOINT: { default: 'AZURE_CLOUD', meaning: "Log Analytics query endpoint, when not the cloud's own (`https://api.loganalytics.io/v1` in AzureCloud).", replaces: undefined },
  LOG_DIR: { default: undefined, meaning: 'Read JSON-lines log files under this folder instead (local runs).', replaces: undefined, cliOnly: true },
  INVENTORY_FILE: { default: undefined, meaning: 'Read the inventory snapshot from this file instead of the registry (implies a dry run).', replaces: undefined, flag: 'inventory', cliOnly: true },
  CACHE_HISTORY_DAYS: { default: '7', meaning: 'Days of access history to count.', replaces: '--cache-history-days' },
  CACHE_MIN_ACCESS_COUNT: { default: '1', meaning: 'Manifests accessed fewer times than this in the history are deleted.', replaces: '--cache-min-access-count' },
  GRACE_DAYS: { default: 'CACHE_HISTORY_DAYS', meaning: 'Manifests created or updated within this many days are kept.', replaces: undefined },
  LOG_MAX_STALENESS_HOURS: { default: '24', meaning: 'Refuse to delete when the newest log record is older than this.', replaces: undefined },
  LOG_MAX_UNUSABLE_PERCENT: { default: '0.1', meaning: 'Refuse to delete when more than this percentage of the records in the window could not be used (malformed, truncated, missing fields).', replaces: undefined },
  MAX_DELETE_PERCENT: { default: '90', meaning: 'Refuse to delete when more than this percentage of the manifests in scope would go.', replaces: undefined },
  MAX_DELETES: { default: 'unlimited', meaning: 'Delete at most this many manifests per run (the rest are deferred).', replaces: undefined },
  REPOSITORY_FILTER: { default: 'all', meaning: 'Regular expression: only repositories whose name matches are cleaned.', replaces: undefined },
  PROTECT_TAGS: { default: 'none', meaning: 'Regular expression: manifests with a matching tag are never deleted.', replaces: undefined },
  IGNORE_USER_AGENTS: { default: 'none', meaning: "Regular expression: pulls by matching user agents (scanners) don't count. This tool's own pulls never count.", replaces: undefined },
  DRY_RUN: { default: 'false', meaning: 'Plan and report, delete nothing.', replaces: '--dry-run' },
  CONCURRENCY: { default: '8', meaning: 'Registry requests in flight at once.', replaces: undefined },
  READS_PER_MINUTE: { default: '5000', meaning: 'Read request rate ceiling for listing (ACR Standard allows 5,000 per minute per identity; Premium 10,000).', replaces: undefined },
  DELETES_PER_MINUTE: { default: '500', meaning: "Delete rate ceiling (ACR Standard allows 500 per minute per identity).", replaces: undefined },
  TIME_BUDGET_SECONDS: { default: '1500', meaning: 'Stop starting deletions after this long; the next run continues. Keep below the function timeout.', replaces: undefined },
  REQUEST_TIMEOUT_SECONDS: { default: '30', meaning: 'A registry or storage request with no answer after this long fails (and may be retried); a run ends at most this long after its time budget.', replaces: undefined },
  CREDENTIAL: { default: 'default', meaning: '`default` (DefaultAzureCredential), `managed-identity`, `azure-cli`, or `emulator` (loopback only).', replaces: undefined },
  AZURE_CLIENT_ID: { default: undefined, meaning: 'Client id of the user-assigned managed identity.', replaces: undefined },
  ACR_AUDIENCE: { default: 'https://containerregistry.azure.net', meaning: 'Token audience of the registry (the same in every cloud; override only if your registry needs another).', replaces: undefined },
  AZURE_CLOUD: { default: 'AzureCloud', meaning: '`AzureCloud`, `AzureUSGovernment` or `AzureChinaCloud`: the Log Analytics endpoint and token audience, and the storage and registry DNS suffixes that a bare name gets.', replaces: undefined },
  CLEANUP_SCHEDULE: { default: '0 30 2 * * *', meaning: 'NCRONTAB schedule of the timer (UTC).', replaces: undefined },
} as const satisfies Record<string, { default: string | undefined; meaning: string; replaces: string | undefined; flag?: string; cliOnly?: boolean }>;

export type SettingName = keyof typeof SETTINGS;

/** The settings the Functions app takes as app settings (all but the CLI's local-only ones). */
export const APP_SETTINGS = (Object.keys(SETTINGS) as SettingName[]).filter((name) => !(SETTINGS[name] as { cliOnly?: boolean }).cliOnly);
export type Settings = Partial<Record<string, string | undefined>>;

export function flagOf(setting: SettingName): string {
  const definition = SETTINGS[setting] as { flag?: string };
  return `--${definition.flag ?? setting.toLowerCase().replaceAll('_', '-')}`;
}
