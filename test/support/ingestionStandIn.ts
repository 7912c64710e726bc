import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { issueServerCertificate } from '../emulators/acr/tls.js';

/** One telemetry item as Application Insights' ingestion endpoint (`POST /v2.1/track`) receives it. */
export interface Envelope {
  name: string;
  time: string;
  iKey: string;
  tags: Record<string, string>;
  data: { baseType: string; baseData: { name?: string; properties?: Record<string, string>; measurements?: Record<string, number>; [key: string]: unknown } };
}

export interface TrackRequest {
  path: string;
  /** When the request had arrived whole (Date.now()). */
  receivedAtMs: number;
  headers: IncomingMessage['headers'];
  envelopes: Envelope[];
}

export interface TokenRequest {
  url: string;
  headers: IncomingMessage['headers'];
}

export interface IngestionStandIn {
  /** `InstrumentationKey=…;IngestionEndpoint=https://127.0.0.1:PORT/`, as App Insights hands out. */
  connectionString: string;
  instrumentationKey: string;
  requests: TrackRequest[];
  envelopes(): Envelope[];
  /** An App Service / Functions managed-identity endpoint (IDENTITY_ENDPOINT) that hands out `token`. */
  identityEndpoint: string;
  identityHeader: string;
  token: string;
  tokenRequests: TokenRequest[];
  stop(): Promise<void>;
}

/**
 * A local stand-in for Application Insights' ingestion endpoint: HTTPS with the test CA (the exporter only
 * speaks https), accepts the JSON array (or JSON lines) the exporter posts, gzipped or not, and keeps every
 * envelope. `hang: true` accepts connections and never answers (an endpoint that does not respond).
 */
export async function startIngestionStandIn(options: { hang?: boolean } = {}): Promise<IngestionStandIn> {
  const directory = process.env.ACR_EMULATOR_CA_DIR;
  if (directory === undefined) throw new Error('the vitest global setup did not create the test CA');
  const ca = { certificatePem: readFileSync(join(directory, 'ca.pem'), 'utf8'), privateKeyPem: readFileSync(join(directory, 'ca.key'), 'utf8') };
  const certificate = await issueServerCertificate(ca, ['localhost']);
  const instrumentationKey = '6d1a6b42-0c55-4a4c-9a7e-5a0f4d1f0b11';
  const token = 'stand-in-entra-token';
  const identityHeader = 'stand-in-identity-header';
  const requests: TrackRequest[] = [];
  const tokenRequests: TokenRequest[] = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer({ cert: certificate.certificatePem, key: certificate.privateKeyPem }, (request, response) => {
    if (options.hang) return;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body = Buffer.concat(chunks);
      if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const text = body.toString('utf8').trim();
      const envelopes = (text.startsWith('[') ? JSON.parse(text) : text.split('\n').filter(Boolean).map((line) => JSON.parse(line))) as Envelope[];
      requests.push({ path: request.url ?? '', receivedAtMs: Date.now(), headers: request.headers, envelopes });
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ itemsReceived: envelopes.length, itemsAccepted: envelopes.length, errors: [] }));
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  // The managed-identity endpoint of App Service and Functions is plain HTTP on the loopback.
  const identity: HttpServer = createHttpServer((request, response) => {
    tokenRequests.push({ url: request.url ?? '', headers: request.headers });
    if (request.headers['x-identity-header'] !== identityHeader) {
      response.writeHead(401).end();
      return;
    }
    const resource = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('resource') ?? '';
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ access_token: token, expires_on: String(Math.floor(Date.now() / 1000) + 3600), resource, token_type: 'Bearer' }));
  });

  await Promise.all([listen(server), listen(identity)]);
  const port = (server.address() as AddressInfo).port;
  return {
    connectionString: `InstrumentationKey=${instrumentationKey};IngestionEndpoint=https://127.0.0.1:${port}/`,
    instrumentationKey,
    requests,
    envelopes: () => requests.flatMap((request) => request.envelopes),
    identityEndpoint: `http://127.0.0.1:${(identity.address() as AddressInfo).port}/msi/token`,
    identityHeader,
    token,
    tokenRequests,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([close(server), close(identity)]);
    },
  };
}

function listen(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function close(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
