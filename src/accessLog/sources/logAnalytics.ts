import type { TokenCredential } from '@azure/core-auth';
import { LogsQueryClient, LogsQueryResultStatus, type LogsTable } from '@azure/monitor-query-logs';
import { USER_AGENT_PREFIX } from '../../report.js';
import { AccessCounts, LogStats } from '../counts.js';
import { OWN_USER_AGENT_PREFIX, type RecordFilter } from '../record.js';
import { LogSourceError, type AccessLogSource, type LogReadResult } from './source.js';

/** The service answers at most this many rows; a result that size may have been cut. */
export const MAX_ROWS = 500_000;

export interface LogAnalyticsOptions {
  workspaceId: string;
  credential: TokenCredential;
  /** The query endpoint, `https://api.loganalytics.io/v1` unless a sovereign cloud (or a test) needs another. */
  endpoint?: string;
  /**
   * The token audience, `https://api.loganalytics.io` unless a sovereign cloud needs another. Passed as the
   * credential scope: the client (1.0.0) reads only `credentials.scopes`, not its `audience` option.
   */
  audience?: string;
  serverTimeoutSeconds?: number;
}

/** A KQL string literal (verbatim: only the double quote needs doubling). */
function kqlString(text: string): string {
  return `@"${text.replaceAll('"', '""')}"`;
}

/**
 * The whole count in one query, filtering exactly as the archive reader classifies records (record.ts): this
 * registry's records (the last segment of `_ResourceId`, compared case-insensitively) with a time in
 * `[start, end]` (nothing after now counts, not even as evidence); successful (`ResultType` `HttpStatusCode`,
 * `ResultDescription` 200 or 201) pulls and pushes of a present repository and a well-formed digest, both
 * lower-cased as the reader keys them; not by this tool (its user agent at the start or after a space, case as
 * sent) nor by an ignored user agent (`IGNORE_USER_AGENTS` is RE2 syntax, as `matches regex` is). Aggregated per
 * repository and digest, plus one evidence row (records of any kind, the newest) for the staleness guards.
 */
export function accessQuery(filter: RecordFilter): string {
  const { startMs, endMs } = filter.window;
  const registry = filter.registryName === undefined ? '' : `\n| where _ResourceId endswith ${kqlString(`/${filter.registryName}`)}`;
  const ignored = filter.ignoreUserAgents === undefined ? '' : `\n| where not(UserAgent matches regex ${kqlString(filter.ignoreUserAgents.source)})`;
  return `let events = ContainerRegistryRepositoryEvents
| where TimeGenerated between (datetime(${new Date(startMs).toISOString()}) .. datetime(${new Date(endMs).toISOString()}))${registry};
events
| where OperationName in ("Pull", "Push") and ResultType == "HttpStatusCode" and ResultDescription in ("200", "201")
| extend Repository = tolower(Repository), Digest = tolower(Digest)
| where isnotempty(Repository) and Repository != "<nil>" and Digest matches regex "^sha256:[0-9a-f]{64}$"
| where not(UserAgent startswith_cs ${kqlString(OWN_USER_AGENT_PREFIX)} or UserAgent contains_cs ${kqlString(` ${OWN_USER_AGENT_PREFIX}`)})${ignored}
| summarize AccessCount = count(), LastAccess = max(TimeGenerated) by Repository, Digest
| extend Kind = "access"
| union (events | summarize AccessCount = count(), LastAccess = max(TimeGenerated) | extend Kind = "evidence", Repository = "", Digest = "")
| project Kind, Repository, Digest, AccessCount, LastAccess`;
}

/** The logs in a Log Analytics workspace: counted server-side, over the window as the query's timespan. */
export class LogAnalyticsLogSource implements AccessLogSource {
  readonly description: string;

  constructor(private readonly options: LogAnalyticsOptions) {
    this.description = `Log Analytics workspace ${options.workspaceId}`;
  }

  async read(filter: RecordFilter, signal?: AbortSignal): Promise<LogReadResult> {
    const client = new LogsQueryClient(this.options.credential, {
      endpoint: this.options.endpoint,
      credentials: { scopes: [`${this.options.audience ?? 'https://api.loganalytics.io'}/.default`] },
      userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX },
    });
    let result;
    try {
      result = await client.queryWorkspace(
        this.options.workspaceId,
        accessQuery(filter),
        { startTime: new Date(filter.window.startMs), endTime: new Date(filter.window.endMs) },
        { serverTimeoutInSeconds: this.options.serverTimeoutSeconds ?? 600, abortSignal: signal },
      );
    } catch (error) {
      throw new LogSourceError(`the Log Analytics query failed: ${(error as Error).message}`);
    }
    if (result.status !== LogsQueryResultStatus.Success) {
      const { code, message } = result.partialError;
      throw new LogSourceError(`the Log Analytics query returned a partial result (${code}): ${message}`);
    }
    const table = result.tables[0];
    if (table === undefined) throw new LogSourceError('the Log Analytics query returned no table');
    if (table.rows.length >= MAX_ROWS) throw new LogSourceError(`the Log Analytics result has ${table.rows.length} rows, the service's limit: it may be truncated`);
    return toCounts(table);
  }
}

function toCounts(table: LogsTable): LogReadResult {
  const counts = new AccessCounts();
  const stats = new LogStats();
  const column = (name: string) => {
    const index = table.columnDescriptors.findIndex((descriptor) => descriptor.name === name);
    if (index === -1) throw new LogSourceError(`the Log Analytics result has no ${name} column`);
    return index;
  };
  const [kind, repository, digest, accessCount, lastAccess] = ['Kind', 'Repository', 'Digest', 'AccessCount', 'LastAccess'].map(column) as [number, number, number, number, number];
  for (const row of table.rows) {
    const last = row[lastAccess];
    const lastMs = last instanceof Date ? last.getTime() : typeof last === 'string' ? Date.parse(last) : Number.NaN;
    const count = Number(row[accessCount]);
    if (row[kind] === 'evidence') {
      if (Number.isFinite(lastMs)) counts.sawRecordsInWindow(count, lastMs);
      stats.records += count;
      continue;
    }
    if (!Number.isFinite(lastMs) || !Number.isFinite(count)) throw new LogSourceError(`the Log Analytics result has a malformed row: ${JSON.stringify(row)}`);
    counts.add(String(row[repository]), String(row[digest]), lastMs, count);
    stats.accessesCounted += count;
  }
  stats.notes.push(`counted server-side: ${table.rows.length} row(s)`);
  return { counts, stats };
}
