import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { accessQuery, LogAnalyticsLogSource } from '../../src/accessLog/sources/logAnalytics.js';
import { LogSourceError } from '../../src/accessLog/sources/source.js';
import { EmulatorCredential } from '../../src/registry/credential.js';
import { issueServerCertificate } from '../emulators/acr/tls.js';

const WORKSPACE = '6b7f1c9e-2f3a-4c55-9d21-0e4c8b7a1f00';
const window = { startMs: Date.parse('2026-11-20T02:30:00Z'), endMs: Date.parse('2026-11-27T02:30:00Z') };
const DIGEST = `sha256:${'ab'.repeat(32)}`;

interface Seen {
  path: string;
  authorization?: string;
  prefer?: string;
  body: { query: string; timespan: string };
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

/** A local stand-in for the Log Analytics query endpoint: records what it was sent, answers in the documented shape. */
async function standIn(answers: Answer[]): Promise<{ endpoint: string; seen: Seen[]; server: Server }> {
  const directory = process.env.ACR_EMULATOR_CA_DIR!;
  const ca = { certificatePem: readFileSync(join(directory, 'ca.pem'), 'utf8'), privateKeyPem: readFileSync(join(directory, 'ca.key'), 'utf8') };
  const certificate = await issueServerCertificate(ca, ['localhost']);
  const seen: Seen[] = [];
  const server = createServer({ cert: certificate.certificatePem, key: certificate.privateKeyPem }, async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    seen.push({ path: request.url ?? '', authorization: request.headers.authorization, prefer: request.headers.prefer as string | undefined, body: JSON.parse(Buffer.concat(chunks).toString()) });
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    response.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', ...answer.headers });
    response.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen, server };
}

const columns = [
  { name: 'Kind', type: 'string' },
  { name: 'Repository', type: 'string' },
  { name: 'Digest', type: 'string' },
  { name: 'AccessCount', type: 'long' },
  { name: 'LastAccess', type: 'datetime' },
];
const rows = [
  ['access', 'ci/app', DIGEST, 12, '2026-11-26T10:00:00Z'],
  ['evidence', '', '', 5000, '2026-11-27T02:20:00Z'],
];
const success = { status: 200, body: { tables: [{ name: 'PrimaryResult', columns, rows }] } };

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

function source(endpoint: string) {
  return new LogAnalyticsLogSource({ workspaceId: WORKSPACE, endpoint, credential: new EmulatorCredential() });
}

describe('the Log Analytics source', () => {
  it('sends one aggregating KQL query over the window and turns its rows into counts and evidence', async () => {
    const stand = await standIn([success]);
    server = stand.server;
    const { counts, stats } = await source(stand.endpoint).read({ window, registryName: 'cicache', ignoreUserAgents: /^Trivy\// });
    expect(stand.seen).toHaveLength(1);
    const [request] = stand.seen;
    expect(request!.path).toBe(`/v1/workspaces/${WORKSPACE}/query`);
    expect(request!.authorization).toBe('Bearer acr-emulator-entra-token');
    expect(request!.prefer).toContain('wait=600');
    expect(new Date(request!.body.timespan.split('/')[0]!).getTime()).toBe(window.startMs);
    expect(new Date(request!.body.timespan.split('/')[1]!).getTime()).toBe(window.endMs);
    expect(request!.body.query).toBe(accessQuery({ window, registryName: 'cicache', ignoreUserAgents: /^Trivy\// }));
    expect(counts.get('ci/app', DIGEST)).toEqual({ count: 12, lastAccessMs: Date.parse('2026-11-26T10:00:00Z') });
    expect(counts.recordsInWindow).toBe(5000);
    expect(counts.newestRecordMs).toBe(Date.parse('2026-11-27T02:20:00Z'));
    expect(stats.accessesCounted).toBe(12);
  });

  it('writes the same filter as the archive reader into the query', () => {
    const query = accessQuery({ window, registryName: 'cicache', ignoreUserAgents: /^(Trivy|"quoted")/ });
    expect(query).toContain('OperationName in ("Pull", "Push") and ResultType == "HttpStatusCode" and ResultDescription in ("200", "201")');
    expect(query).toContain('_ResourceId endswith @"/cicache"');
    expect(query).toContain('not(UserAgent startswith_cs @"acr-cache-cleaner/" or UserAgent contains_cs @" acr-cache-cleaner/")');
    expect(query).toContain('not(UserAgent matches regex @"^(Trivy|""quoted"")")');
    expect(query).toContain('TimeGenerated between (datetime(2026-11-20T02:30:00.000Z) .. datetime(2026-11-27T02:30:00.000Z))');
    expect(query).toContain('summarize AccessCount = count(), LastAccess = max(TimeGenerated) by Repository, Digest');
  });

  it('refuses a partial result, with the service message', async () => {
    const stand = await standIn([
      { status: 200, body: { tables: [{ name: 'PrimaryResult', columns, rows }], error: { code: 'PartialError', message: 'There were some errors when processing your query.', details: [{ code: 'EngineError', message: 'Query exceeded memory' }] } } },
    ]);
    server = stand.server;
    const error = await source(stand.endpoint).read({ window }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LogSourceError);
    expect((error as Error).message).toMatch(/partial result \(PartialError\): There were some errors/);
  });

  it('waits out a throttled answer and then counts', async () => {
    const stand = await standIn([{ status: 429, body: { error: { code: 'ThrottledError', message: 'Too many requests' } }, headers: { 'Retry-After': '1' } }, success]);
    server = stand.server;
    const { counts } = await source(stand.endpoint).read({ window });
    expect(stand.seen).toHaveLength(2);
    expect(counts.get('ci/app', DIGEST)?.count).toBe(12);
  });

  it('refuses when the query fails', async () => {
    const stand = await standIn([{ status: 400, body: { error: { code: 'BadArgumentError', message: "'where' operator: Failed to resolve table" } } }]);
    server = stand.server;
    await expect(source(stand.endpoint).read({ window })).rejects.toThrow(/the Log Analytics query failed: .*Failed to resolve table/);
  });

  it('refuses a result that may be truncated', async () => {
    const many = Array.from({ length: 500_000 }, (_, index) => ['access', `r${index}`, DIGEST, 1, '2026-11-26T10:00:00Z']);
    const stand = await standIn([{ status: 200, body: { tables: [{ name: 'PrimaryResult', columns, rows: many }] } }]);
    server = stand.server;
    await expect(source(stand.endpoint).read({ window })).rejects.toThrow(/may be truncated/);
  });
});
