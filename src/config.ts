import * as z from 'zod';
import { compilePattern, PatternSyntaxError, type TextPattern } from './pattern.js';
import type { Policy } from './plan/policy.js';
import { describeValue } from './secrets.js';
import { SETTINGS, type SettingName, type Settings } from './settings.js';

// The settings table lives apart from the zod schemas below, so that `--help` need not load zod.
export { APP_SETTINGS, flagOf, SETTINGS, type SettingName, type Settings } from './settings.js';

/**
 * What differs between the Azure clouds, for the services the cleaner calls (sources in docs/deploy.md). The
 * registry's token audience does not: `https://containerregistry.azure.net` in all three.
 */
export const CLOUDS = {
  AzureCloud: { logAnalytics: 'https://api.loganalytics.io', storageSuffix: 'core.windows.net', registrySuffix: 'azurecr.io' },
  AzureUSGovernment: { logAnalytics: 'https://api.loganalytics.us', storageSuffix: 'core.usgovcloudapi.net', registrySuffix: 'azurecr.us' },
  AzureChinaCloud: { logAnalytics: 'https://api.loganalytics.azure.cn', storageSuffix: 'core.chinacloudapi.cn', registrySuffix: 'azurecr.cn' },
} as const;
export type CloudName = keyof typeof CLOUDS;
const CLOUD_NAMES = Object.keys(CLOUDS) as [CloudName, ...CloudName[]];

export type StorageAccountRef =
  | { kind: 'url'; url: string; accountName: string }
  | { kind: 'connectionString'; connectionString: string };

export type LogSourceConfig =
  | { kind: 'dir'; directory: string; pathPattern: string }
  | { kind: 'storage'; account: StorageAccountRef; container: string; pathPattern: string; resourceId?: string }
  | { kind: 'workspace'; workspaceId: string; endpoint: string; /** Token audience (the scope is `${audience}/.default`). */ audience: string };

export type CredentialKind = 'default' | 'managed-identity' | 'azure-cli' | 'emulator';

export interface RegistryTarget {
  endpoint: string;
  /** Lower-case registry name, used to pick this registry's records; undefined for an IP endpoint. */
  name?: string;
}

export interface Config {
  registry?: RegistryTarget;
  inventoryFile?: string;
  logs: LogSourceConfig;
  policy: Policy;
  ignoreUserAgents?: TextPattern;
  dryRun: boolean;
  deletion: { concurrency: number; readsPerMinute: number; deletesPerMinute: number; timeBudgetSeconds: number; requestTimeoutSeconds: number };
  credential: { kind: CredentialKind; clientId?: string };
  audience: string;
  cloud: CloudName;
  schedule: string;
}

export interface ConfigProblem {
  setting: SettingName | HostStorageSettingName | 'LOG_SOURCE' | 'REGISTRY_SOURCE';
  message: string;
}

/** Bad settings, all of them: nothing runs until every problem is fixed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(formatProblems(problems, (setting) => setting));
  }

  /** The same problems, named the way the caller's user knows them (app setting or CLI flag). */
  describe(nameOf: (setting: SettingName) => string): string {
    return formatProblems(this.problems, nameOf);
  }
}

function formatProblems(problems: ConfigProblem[], nameOf: (setting: SettingName) => string): string {
  const lines = problems.map(({ setting, message }) => {
    // `{SETTING}` in a message names another setting, the way the reader knows it.
    const named = message.replace(/\{([A-Z][A-Z_]+)\}/g, (text, name: string) => (name in SETTINGS ? nameOf(name as SettingName) : text));
    if (setting === 'LOG_SOURCE' || setting === 'REGISTRY_SOURCE') return `  ${named}`;
    return `  ${HOST_STORAGE_SETTINGS.includes(setting as HostStorageSettingName) ? setting : nameOf(setting as SettingName)}: ${named}`;
  });
  return `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const text = z.preprocess(blankToUndefined, z.string().trim().optional());

function numberRule(options: { min: number; max: number; integer?: boolean }) {
  return z.coerce
    .number({ error: 'must be a number' })
    .refine((value) => Number.isFinite(value), 'must be a finite number')
    .refine((value) => !options.integer || Number.isInteger(value), 'must be a whole number')
    .refine((value) => value >= options.min && value <= options.max, `must be between ${options.min} and ${options.max}`);
}

function number(options: { min: number; max: number; integer?: boolean; default: number }) {
  return z.preprocess(blankToUndefined, numberRule(options).default(options.default));
}

function optionalNumber(options: { min: number; max: number; integer?: boolean }) {
  return z.preprocess(blankToUndefined, numberRule(options).optional());
}

const regex = z.preprocess(
  blankToUndefined,
  z
    .string()
    .transform((source, context) => {
      try {
        return compilePattern(source);
      } catch (error) {
        if (!(error instanceof PatternSyntaxError)) throw error;
        context.addIssue({ code: 'custom', message: `is not a valid regular expression: ${error.message}` });
        return z.NEVER;
      }
    })
    .optional(),
);

const boolean = z.preprocess(
  (value) => (typeof value === 'string' ? (value.trim() === '' ? undefined : value.trim().toLowerCase()) : value),
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true' || value === '1' || value === 'yes'),
);

const NCRONTAB = /^(\S+\s+){5}\S+$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const schema = z.object({
  CONTAINER_REGISTRY: text,
  LOG_STORAGE_ACCOUNT: text,
  LOG_STORAGE_ACCOUNT_CONTAINER: text.pipe(
    z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'is not a valid blob container name').default(SETTINGS.LOG_STORAGE_ACCOUNT_CONTAINER.default),
  ),
  LOG_STORAGE_PATH_PATTERN: text.pipe(z.string().default(SETTINGS.LOG_STORAGE_PATH_PATTERN.default)),
  LOG_STORAGE_RESOURCE_ID: text.pipe(
    z.string().regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ContainerRegistry\/registries\/[^/]+$/i, 'must be a registry resource id (/subscriptions/…/registries/NAME)').optional(),
  ),
  LOG_ANALYTICS_WORKSPACE_ID: text.pipe(z.string().regex(GUID, 'must be the workspace id (a GUID)').optional()),
  LOG_ANALYTICS_ENDPOINT: text.pipe(z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).optional()),
  LOG_DIR: text,
  INVENTORY_FILE: text,
  CACHE_HISTORY_DAYS: number({ min: 1, max: 3650, integer: true, default: 7 }),
  CACHE_MIN_ACCESS_COUNT: number({ min: 0, max: 1_000_000_000, integer: true, default: 1 }),
  GRACE_DAYS: optionalNumber({ min: 0, max: 3650 }),
  LOG_MAX_STALENESS_HOURS: number({ min: 0.1, max: 24 * 3650, default: 24 }),
  LOG_MAX_UNUSABLE_PERCENT: number({ min: 0, max: 100, default: 0.1 }),
  MAX_DELETE_PERCENT: number({ min: 0, max: 100, default: 90 }),
  MAX_DELETES: optionalNumber({ min: 0, max: 100_000_000, integer: true }),
  REPOSITORY_FILTER: regex,
  PROTECT_TAGS: regex,
  IGNORE_USER_AGENTS: regex,
  DRY_RUN: boolean,
  CONCURRENCY: number({ min: 1, max: 64, integer: true, default: 8 }),
  READS_PER_MINUTE: number({ min: 1, max: 10_000_000, default: 5000 }),
  DELETES_PER_MINUTE: number({ min: 1, max: 1_000_000, default: 500 }),
  TIME_BUDGET_SECONDS: number({ min: 1, max: 7 * 24 * 3600, default: 1500 }),
  REQUEST_TIMEOUT_SECONDS: number({ min: 0.1, max: 600, default: 30 }),
  CREDENTIAL: z.preprocess(
    blankToUndefined,
    z.enum(['default', 'managed-identity', 'azure-cli', 'emulator'], { error: 'must be default, managed-identity, azure-cli or emulator' }).default('default'),
  ),
  AZURE_CLIENT_ID: text.pipe(z.string().regex(GUID, 'must be a client id (a GUID)').optional()),
  ACR_AUDIENCE: text.pipe(z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).default(SETTINGS.ACR_AUDIENCE.default)),
  AZURE_CLOUD: z.preprocess(blankToUndefined, z.enum(CLOUD_NAMES, { error: `must be ${CLOUD_NAMES.join(', ')}` }).default('AzureCloud')),
  CLEANUP_SCHEDULE: text.pipe(z.string().regex(NCRONTAB, 'must be a six-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week})').default(SETTINGS.CLEANUP_SCHEDULE.default)),
});

/** Validates the settings once and returns the typed config, or throws a {@link ConfigError} listing every problem. */
export function loadConfig(settings: Settings): Config {
  const known = Object.fromEntries(Object.keys(SETTINGS).map((name) => [name, settings[name]]));
  const parsed = schema.safeParse(known);
  const problems: ConfigProblem[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ setting: String(issue.path[0]) as SettingName, message: issue.message }));
  if (!parsed.success) throw new ConfigError(dedupe(problems));
  const s = parsed.data;

  const logSources = (['LOG_DIR', 'LOG_STORAGE_ACCOUNT', 'LOG_ANALYTICS_WORKSPACE_ID'] as const).filter((name) => s[name] !== undefined);
  if (logSources.length !== 1) {
    problems.push({
      setting: 'LOG_SOURCE',
      message:
        logSources.length === 0
          ? 'no log source: set {LOG_STORAGE_ACCOUNT} (the storage archive) or {LOG_ANALYTICS_WORKSPACE_ID} (a workspace), or {LOG_DIR} for local files'
          : `more than one log source (${logSources.map((name) => `{${name}}`).join(', ')}): set exactly one`,
    });
  }
  if (s.CONTAINER_REGISTRY === undefined && s.INVENTORY_FILE === undefined) {
    problems.push({ setting: 'REGISTRY_SOURCE', message: 'no registry: set {CONTAINER_REGISTRY} (or {INVENTORY_FILE} for an offline plan)' });
  }
  let registry: RegistryTarget | undefined;
  if (s.CONTAINER_REGISTRY !== undefined) {
    registry = parseRegistry(s.CONTAINER_REGISTRY, s.AZURE_CLOUD);
    if (registry === undefined) {
      problems.push({ setting: 'CONTAINER_REGISTRY', message: `${describeValue('CONTAINER_REGISTRY', s.CONTAINER_REGISTRY)} is neither a registry name, a login server, nor an https:// endpoint` });
    }
  }
  let account: StorageAccountRef | undefined;
  if (s.LOG_STORAGE_ACCOUNT !== undefined) {
    account = parseStorageAccount(s.LOG_STORAGE_ACCOUNT, s.AZURE_CLOUD);
    if (account === undefined) {
      problems.push({ setting: 'LOG_STORAGE_ACCOUNT', message: `must be an account name, a blob endpoint URL (https://NAME.blob.${CLOUDS[s.AZURE_CLOUD].storageSuffix}) or a storage connection string` });
    }
  }
  const logAnalyticsEndpoint = s.LOG_ANALYTICS_ENDPOINT ?? `${CLOUDS[s.AZURE_CLOUD].logAnalytics}/v1`;
  if (s.CREDENTIAL === 'emulator') {
    // The static token goes wherever the credential is used: the registry, a storage account by URL, a workspace.
    const endpoints: [string, string | undefined][] = [
      ['CONTAINER_REGISTRY', registry?.endpoint],
      ['LOG_STORAGE_ACCOUNT', account?.kind === 'url' ? account.url : undefined],
      ['LOG_ANALYTICS_ENDPOINT', s.LOG_ANALYTICS_WORKSPACE_ID !== undefined ? logAnalyticsEndpoint : undefined],
    ];
    for (const [name, endpoint] of endpoints) {
      if (endpoint !== undefined && !isLoopbackEndpoint(endpoint)) {
        problems.push({ setting: 'CREDENTIAL', message: `the emulator credential sends a static token and is refused for ${endpoint} ({${name}}), which is not a loopback address` });
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const logs: LogSourceConfig =
    s.LOG_DIR !== undefined
      ? { kind: 'dir', directory: s.LOG_DIR, pathPattern: s.LOG_STORAGE_PATH_PATTERN }
      : s.LOG_ANALYTICS_WORKSPACE_ID !== undefined
        ? { kind: 'workspace', workspaceId: s.LOG_ANALYTICS_WORKSPACE_ID, endpoint: logAnalyticsEndpoint, audience: CLOUDS[s.AZURE_CLOUD].logAnalytics }
        : {
            kind: 'storage',
            account: account!,
            container: s.LOG_STORAGE_ACCOUNT_CONTAINER,
            pathPattern: s.LOG_STORAGE_PATH_PATTERN,
            resourceId: s.LOG_STORAGE_RESOURCE_ID,
          };
  return {
    registry,
    inventoryFile: s.INVENTORY_FILE,
    logs,
    policy: {
      historyDays: s.CACHE_HISTORY_DAYS,
      minAccessCount: s.CACHE_MIN_ACCESS_COUNT,
      graceDays: s.GRACE_DAYS ?? s.CACHE_HISTORY_DAYS,
      logMaxStalenessHours: s.LOG_MAX_STALENESS_HOURS,
      logMaxUnusablePercent: s.LOG_MAX_UNUSABLE_PERCENT,
      maxDeletePercent: s.MAX_DELETE_PERCENT,
      maxDeletes: s.MAX_DELETES,
      repositoryFilter: s.REPOSITORY_FILTER,
      protectTags: s.PROTECT_TAGS,
    },
    ignoreUserAgents: s.IGNORE_USER_AGENTS,
    dryRun: s.DRY_RUN || s.INVENTORY_FILE !== undefined,
    deletion: {
      concurrency: s.CONCURRENCY,
      readsPerMinute: s.READS_PER_MINUTE,
      deletesPerMinute: s.DELETES_PER_MINUTE,
      timeBudgetSeconds: s.TIME_BUDGET_SECONDS,
      requestTimeoutSeconds: s.REQUEST_TIMEOUT_SECONDS,
    },
    credential: { kind: s.CREDENTIAL, clientId: s.AZURE_CLIENT_ID },
    audience: s.ACR_AUDIENCE,
    cloud: s.AZURE_CLOUD,
    schedule: s.CLEANUP_SCHEDULE,
  };
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.setting}\u0000${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const REGISTRY_NAME = /^[a-zA-Z0-9]{5,50}$/;

export function parseRegistry(value: string, cloud: CloudName = 'AzureCloud'): RegistryTarget | undefined {
  if (REGISTRY_NAME.test(value)) return { endpoint: `https://${value.toLowerCase()}.${CLOUDS[cloud].registrySuffix}`, name: value.toLowerCase() };
  if (/^https?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'https:' || url.pathname !== '/' || url.search !== '') return undefined;
    return { endpoint: url.origin, name: registryNameOfHost(url.hostname) };
  }
  if (/^[a-z0-9.-]+$/i.test(value) && value.includes('.')) {
    return { endpoint: `https://${value.toLowerCase()}`, name: registryNameOfHost(value.toLowerCase()) };
  }
  return undefined;
}

function registryNameOfHost(host: string): string | undefined {
  if (/^[\d.]+$/.test(host) || host.startsWith('[') || host === 'localhost') return undefined;
  const label = host.split('.')[0]!.toLowerCase();
  return REGISTRY_NAME.test(label) ? label : undefined;
}

export function parseStorageAccount(value: string, cloud: CloudName = 'AzureCloud'): StorageAccountRef | undefined {
  if (/^UseDevelopmentStorage=true/i.test(value) || /(^|;)\s*(DefaultEndpointsProtocol|BlobEndpoint|AccountName)=/i.test(value)) {
    return { kind: 'connectionString', connectionString: value };
  }
  if (/^[a-z0-9]{3,24}$/.test(value)) return { kind: 'url', url: `https://${value}.blob.${CLOUDS[cloud].storageSuffix}`, accountName: value };
  if (/^https?:\/\//i.test(value)) {
    try {
      const url = new URL(value);
      const accountName = url.hostname.split('.')[0] ?? '';
      return { kind: 'url', url: url.origin + url.pathname.replace(/\/+$/, ''), accountName };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function isLoopbackEndpoint(endpoint: string): boolean {
  const host = new URL(endpoint).hostname;
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The Functions host's own storage (where the run lease and the audit reports live), from the settings the
 * host itself uses: identity-based `AzureWebJobsStorage__accountName` / `__blobServiceUri` with
 * `__credential=managedidentity` and `__clientId` in Azure, or a connection string (`AzureWebJobsStorage`)
 * for Azurite and local runs.
 */
export const HOST_STORAGE_SETTINGS = [
  'AzureWebJobsStorage',
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
] as const;
export type HostStorageSettingName = (typeof HOST_STORAGE_SETTINGS)[number];

export interface HostStorageConfig {
  account: StorageAccountRef;
  credential: { kind: CredentialKind; clientId?: string };
}

export function loadHostStorage(settings: Settings): HostStorageConfig {
  const value = (name: HostStorageSettingName) => {
    const raw = settings[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const problems: ConfigProblem[] = [];
  const clientId = value('AzureWebJobsStorage__clientId');
  if (clientId !== undefined && !GUID.test(clientId)) problems.push({ setting: 'AzureWebJobsStorage__clientId', message: 'must be a client id (a GUID)' });
  const credentialSetting = value('AzureWebJobsStorage__credential');
  if (credentialSetting !== undefined && credentialSetting.toLowerCase() !== 'managedidentity') {
    problems.push({ setting: 'AzureWebJobsStorage__credential', message: 'must be managedidentity (or unset)' });
  }
  const credential = { kind: (credentialSetting === undefined ? 'default' : 'managed-identity') as CredentialKind, clientId };
  let account: StorageAccountRef | undefined;
  const connectionString = value('AzureWebJobsStorage');
  const serviceUri = value('AzureWebJobsStorage__blobServiceUri');
  const accountName = value('AzureWebJobsStorage__accountName');
  if (connectionString !== undefined) {
    account = parseStorageAccount(connectionString);
    if (account?.kind !== 'connectionString') problems.push({ setting: 'AzureWebJobsStorage', message: 'must be a storage connection string (UseDevelopmentStorage=true or DefaultEndpointsProtocol=…)' });
  } else if (serviceUri !== undefined) {
    account = parseStorageAccount(serviceUri);
    if (account?.kind !== 'url') problems.push({ setting: 'AzureWebJobsStorage__blobServiceUri', message: 'must be a blob endpoint URL' });
  } else if (accountName !== undefined) {
    // An invalid AZURE_CLOUD is reported by loadConfig, which runs beside this on the same settings.
    const cloud = CLOUD_NAMES.find((name) => name === settings.AZURE_CLOUD?.trim()) ?? 'AzureCloud';
    account = parseStorageAccount(accountName, cloud);
    if (account?.kind !== 'url') problems.push({ setting: 'AzureWebJobsStorage__accountName', message: 'must be a storage account name' });
  } else {
    problems.push({ setting: 'AzureWebJobsStorage', message: 'the host storage is not configured: set AzureWebJobsStorage__accountName (identity-based) or AzureWebJobsStorage (a connection string, local runs)' });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { account: account!, credential };
}
