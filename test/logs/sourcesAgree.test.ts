import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccessCounts } from '../../src/accessLog/counts.js';
import type { RecordFilter } from '../../src/accessLog/record.js';
import { LocalDirLogSource } from '../../src/accessLog/sources/localDir.js';
import { accessQuery, LogAnalyticsLogSource } from '../../src/accessLog/sources/logAnalytics.js';
import { compilePattern } from '../../src/pattern.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import { issueServerCertificate } from '../emulators/acr/tls.js';
import { DAY, digestOf, NOW } from '../support/builders.js';
import { runKql, type KqlRow as Row } from '../support/kql.js';
import { logRecord, type LogRecordInput } from '../support/syntheticCache.js';

/**
 * The archive reader and the Log Analytics query must count the same records the same way. The stand-in service
 * evaluates the query it is sent (test/support/kql.ts) over the same records as table rows, so a filter that
 * differs between the two sources shows up as different counts.
 */

const WORKSPACE = '6b7f1c9e-2f3a-4c55-9d21-0e4c8b7a1f00';
type LogJson = ReturnType<typeof logRecord> & { properties: Record<string, unknown> };

const record = (input: Partial<LogRecordInput> & { daysAgo: number }, edit: (json: LogJson) => void = () => {}): LogJson => {
  const json = logRecord({ operationName: 'Pull', repository: 'ci/app', digest: digestOf('a'), registry: 'cicache', time: new Date(NOW.getTime() - input.daysAgo * DAY), ...input }) as LogJson;
  edit(json);
  return json;
};

/** Records that every filter rule of the reader sees at least once. */
const agreed: LogJson[] = [
  record({ daysAgo: 0.01, repository: 'heartbeat' }),
  record({ daysAgo: 1 }),
  record({ daysAgo: 2 }),
  record({ daysAgo: 3, digest: digestOf('b'), operationName: 'Push' }),
  record({ daysAgo: 1, repository: 'ci/other', digest: digestOf('b') }),
  record({ daysAgo: 6.9, digest: digestOf('edge') }),
  record({ daysAgo: 8, digest: digestOf('old') }),
  record({ daysAgo: 1, digest: digestOf('elsewhere'), registry: 'othercache' }),
  record({ daysAgo: 1, digest: digestOf('missing'), resultDescription: '404' }),
  record({ daysAgo: 1, digest: digestOf('failed-type') }, (json) => (json.resultType = 'Failure')),
  record({ daysAgo: 1, digest: digestOf('deleted'), operationName: 'Delete' }),
  record({ daysAgo: 1, digest: digestOf('scanned'), userAgent: 'Trivy/0.56.2 (linux; amd64)' }),
  record({ daysAgo: 1, digest: digestOf('own'), userAgent: 'acr-cache-cleaner/0.1.0 azsdk-js-container-registry/1.1.2' }),
  record({ daysAgo: 1, digest: digestOf('own-later'), userAgent: 'azsdk-js-container-registry/1.1.2 acr-cache-cleaner/0.1.0' }),
  record({ daysAgo: 1, digest: digestOf('own-upper'), userAgent: 'ACR-CACHE-CLEANER/0.1.0' }),
  record({ daysAgo: 1, digest: digestOf('own-inside'), userAgent: 'docker/27 xacr-cache-cleaner/1' }),
  record({ daysAgo: 1, repository: '<nil>', digest: digestOf('nil') }),
  record({ daysAgo: 1, digest: 'sha256:short' }),
  record({ daysAgo: 1, digest: digestOf('number-status') }, (json) => (json.resultDescription = 200 as unknown as string)),
];

/** Records the reader of issue 10 classifies anew (case, future time): compared once it is merged. */
const afterReaderMerge: LogJson[] = [
  record({ daysAgo: 1, repository: 'CI/App', digest: digestOf('a') }),
  record({ daysAgo: 1, digest: digestOf('upper').toUpperCase().replace('SHA256', 'sha256') }),
  record({ daysAgo: -1, digest: digestOf('future') }),
];

function rowOf(json: LogJson): Row {
  const text = (value: unknown) => (value === undefined || value === null ? '' : String(value));
  return {
    TimeGenerated: new Date(json.time as string),
    Category: text(json.category),
    OperationName: text(json.operationName),
    ResultType: text(json.resultType),
    ResultDescription: text(json.resultDescription),
    _ResourceId: text(json.resourceId).toLowerCase(),
    Repository: text(json.properties.repository),
    Digest: text(json.properties.digest),
    UserAgent: text(json.properties.userAgent),
    LoginServer: text(json.properties.loginServer),
  };
}

const COLUMN_TYPES: Record<string, string> = { AccessCount: 'long', LastAccess: 'datetime' };

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** A Log Analytics stand-in that evaluates the query it is sent over `rows`, and answers in the service's shape. */
async function evaluatingStandIn(rows: Row[]): Promise<string> {
  const directory = process.env.ACR_EMULATOR_CA_DIR!;
  const ca = { certificatePem: readFileSync(join(directory, 'ca.pem'), 'utf8'), privateKeyPem: readFileSync(join(directory, 'ca.key'), 'utf8') };
  const certificate = await issueServerCertificate(ca, ['localhost']);
  server = createServer({ cert: certificate.certificatePem, key: certificate.privateKeyPem }, async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const { query } = JSON.parse(Buffer.concat(chunks).toString()) as { query: string };
    let result: Row[];
    try {
      result = runKql(query, { ContainerRegistryRepositoryEvents: rows });
    } catch (error) {
      response.writeHead(400, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'BadArgumentError', message: (error as Error).message } }));
      return;
    }
    const names = Object.keys(result[0] ?? {});
    const columns = names.map((name) => ({ name, type: COLUMN_TYPES[name] ?? 'string' }));
    const values = result.map((row) => names.map((name) => (row[name] instanceof Date ? row[name].toISOString() : row[name])));
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify({ tables: [{ name: 'PrimaryResult', columns, rows: values }] }));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

async function archiveCounts(records: LogJson[], filter: RecordFilter): Promise<AccessCounts> {
  const directory = await mkdtemp(join(tmpdir(), 'acr-cache-cleaner-agree-'));
  await writeFile(join(directory, 'PT1H.json'), records.map((json) => JSON.stringify(json)).join('\n') + '\n');
  return (await new LocalDirLogSource(directory, '*.json').read(filter)).counts;
}

async function workspaceCounts(records: LogJson[], filter: RecordFilter): Promise<AccessCounts> {
  const endpoint = await evaluatingStandIn(records.map(rowOf));
  return (await new LogAnalyticsLogSource({ workspaceId: WORKSPACE, endpoint, credential: new EmulatorCredential() }).read(filter)).counts;
}

function summary(counts: AccessCounts) {
  return {
    accesses: [...counts.entries()].map(([repository, digest, access]) => `${repository}@${digest} ×${access.count} last ${new Date(access.lastAccessMs).toISOString()}`).sort(),
    recordsInWindow: counts.recordsInWindow,
    newestRecord: counts.newestRecordMs === undefined ? null : new Date(counts.newestRecordMs).toISOString(),
  };
}

const filter: RecordFilter = {
  window: { startMs: NOW.getTime() - 7 * DAY, endMs: NOW.getTime() },
  registryName: 'cicache',
  ignoreUserAgents: compilePattern('^Trivy/'),
};

describe('the archive reader and the Log Analytics query count the same records alike', () => {
  it('over every filter rule: registry, window, operation, result, user agents, missing fields', async () => {
    const fromArchive = summary(await archiveCounts(agreed, filter));
    const fromWorkspace = summary(await workspaceCounts(agreed, filter));
    expect(fromWorkspace).toEqual(fromArchive);
    expect(fromArchive.accesses.length).toBeGreaterThan(3);
    expect(fromArchive.accesses.join('\n')).toContain(digestOf('own-upper'));
  });

  it('without a registry name or ignored user agents too', async () => {
    const loose: RecordFilter = { window: filter.window };
    expect(summary(await workspaceCounts(agreed, loose))).toEqual(summary(await archiveCounts(agreed, loose)));
  });

  it('the stand-in interprets the query: a filter dropped from it changes the answer', () => {
    const tables = { ContainerRegistryRepositoryEvents: agreed.map(rowOf) };
    const counted = (query: string) => runKql(query, tables).some((row) => row.Digest === digestOf('failed-type'));
    expect(counted(accessQuery(filter))).toBe(false);
    expect(counted(accessQuery(filter).replace(' and ResultType == "HttpStatusCode"', ''))).toBe(true);
  });

  it('over upper-case names and digests and records dated after now', async () => {
    const records = [...agreed, ...afterReaderMerge];
    expect(summary(await workspaceCounts(records, filter))).toEqual(summary(await archiveCounts(records, filter)));
  });
});
