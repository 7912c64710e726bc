import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { afterEach, describe, expect, it } from 'vitest';
import { LogAnalyticsLogSource } from '../../src/accessLog/sources/logAnalytics.js';
import { loadConfig } from '../../src/config.js';
import { issueServerCertificate } from '../emulators/acr/tls.js';

const WORKSPACE = '6b7f1c9e-2f3a-4c55-9d21-0e4c8b7a1f00';
const window = { startMs: Date.parse('2026-11-20T02:30:00Z'), endMs: Date.parse('2026-11-27T02:30:00Z') };

/** A credential that records the scopes it was asked for. */
class RecordingCredential implements TokenCredential {
  readonly scopes: string[] = [];
  async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
    this.scopes.push(...(Array.isArray(scopes) ? scopes : [scopes]));
    return { token: 'recorded', expiresOnTimestamp: Date.now() + 3_600_000 };
  }
}

let server: Server | undefined;
afterEach(() => server?.close());

async function emptyWorkspace(): Promise<string> {
  const directory = process.env.ACR_EMULATOR_CA_DIR!;
  const ca = { certificatePem: readFileSync(join(directory, 'ca.pem'), 'utf8'), privateKeyPem: readFileSync(join(directory, 'ca.key'), 'utf8') };
  const certificate = await issueServerCertificate(ca, ['localhost']);
  const columns = ['Kind', 'Repository', 'Digest', 'AccessCount', 'LastAccess'].map((name) => ({ name, type: name === 'AccessCount' ? 'long' : name === 'LastAccess' ? 'datetime' : 'string' }));
  server = createServer({ cert: certificate.certificatePem, key: certificate.privateKeyPem }, (request, response) => {
    request.resume().on('end', () => {
      response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      response.end(JSON.stringify({ tables: [{ name: 'PrimaryResult', columns, rows: [['evidence', '', '', 0, null]] }] }));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return `https://127.0.0.1:${(server!.address() as AddressInfo).port}/v1`;
}

describe('the Log Analytics token scope follows the cloud', () => {
  it.each([
    ['AzureCloud', 'https://api.loganalytics.io/.default'],
    ['AzureUSGovernment', 'https://api.loganalytics.us/.default'],
    ['AzureChinaCloud', 'https://api.loganalytics.azure.cn/.default'],
  ])('%s asks for %s, also when the endpoint is overridden', async (cloud, scope) => {
    const endpoint = await emptyWorkspace();
    const config = loadConfig({ CONTAINER_REGISTRY: 'cicache', LOG_ANALYTICS_WORKSPACE_ID: WORKSPACE, AZURE_CLOUD: cloud, LOG_ANALYTICS_ENDPOINT: endpoint });
    const logs = config.logs as Extract<typeof config.logs, { kind: 'workspace' }>;
    expect(logs.audience).toBe(scope.replace('/.default', ''));
    const credential = new RecordingCredential();
    await new LogAnalyticsLogSource({ workspaceId: logs.workspaceId, endpoint: logs.endpoint, audience: logs.audience, credential }).read({ window });
    expect([...new Set(credential.scopes)]).toEqual([scope]);
  });
});
