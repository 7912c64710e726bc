/**
 * Replays every real exchange recorded by the Azure SDK test suites (./recordings, kept as fixtures)
 * against the emulator, seeded with the state the recordings reveal, and compares the status, the headers
 * that matter (WWW-Authenticate, Link, Content-Type), the error codes and the JSON body's shape.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../support/emulator.js';
import { RegistryState, UNLOCKED, type EmulatedManifest, type EmulatedTag } from './registryState.js';
import type { AcrEmulator } from './server.js';

const RECORDINGS = join(import.meta.dirname, 'recordings');

interface Exchange {
  method: string;
  host: string;
  pathAndQuery: string;
  requestHeaders: Record<string, string>;
  requestBody: string;
  status: number;
  responseHeaders: Record<string, string | string[]>;
  responseBody: unknown;
}

function lowerKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key.toLowerCase(), value]));
}

function loadRecording(file: string): Exchange[] {
  const document = JSON.parse(readFileSync(join(RECORDINGS, file), 'utf8'));
  if (Array.isArray(document.Entries)) {
    return document.Entries.map((entry: Record<string, unknown>) => {
      const url = new URL(entry.RequestUri as string);
      return {
        method: entry.RequestMethod as string,
        host: url.host,
        pathAndQuery: (entry.RequestUri as string).slice(url.origin.length),
        requestHeaders: lowerKeys(entry.RequestHeaders as Record<string, string>),
        requestBody: typeof entry.RequestBody === 'string' ? entry.RequestBody : '',
        status: entry.StatusCode as number,
        responseHeaders: lowerKeys(entry.ResponseHeaders as Record<string, string | string[]>),
        responseBody: textBody(entry.ResponseBody) ?? null,
      };
    });
  }
  return document.recordings.map((entry: Record<string, unknown>) => {
    const url = new URL(entry.url as string);
    const query = new URLSearchParams(entry.query as Record<string, string>).toString();
    let body: unknown = entry.response;
    try {
      body = typeof body === 'string' && body !== '' ? JSON.parse(body) : null;
    } catch {
      // a plain-text body stays a string
    }
    return {
      method: entry.method as string,
      host: url.host,
      pathAndQuery: url.pathname + (query ? `?${query}` : ''),
      // The older browser format keeps no request headers: the SDK sends its cached token on every call.
      requestHeaders: {
        ...((entry.requestBody as string)?.includes('=') ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...(url.pathname.startsWith('/oauth2') ? {} : { authorization: 'cached token, if any' }),
      },
      requestBody: (entry.requestBody as string) ?? '',
      status: entry.status as number,
      responseHeaders: lowerKeys(entry.responseHeaders as Record<string, string>),
      responseBody: body,
    };
  });
}

/** The test proxy stores a text body as an array of its lines. */
function textBody(body: unknown): unknown {
  return Array.isArray(body) && body.every((line) => typeof line === 'string') ? body.join('') : body;
}

const files = readdirSync(RECORDINGS).filter((file) => file.endsWith('.json')).sort();
const recordings = new Map(files.map((file) => [file, loadRecording(file)]));

/**
 * What the recordings of one registry host tell about its manifests and tags. The registry changed between
 * recordings (a scan added quarantine attributes, tags came and went), so the recording being replayed has
 * the last word on everything it saw itself.
 */
function knowledgeOf(host: string, own: Exchange[]) {
  const manifests = new Map<string, Map<string, EmulatedManifest>>();
  const tags = new Map<string, Map<string, EmulatedTag>>();
  const manifestsOf = (repository: string) => manifests.get(repository) ?? manifests.set(repository, new Map()).get(repository)!;
  const tagsOf = (repository: string) => tags.get(repository) ?? tags.set(repository, new Map()).get(repository)!;
  const addManifest = (repository: string, item: Record<string, unknown>) => {
    const known = manifestsOf(repository).get(item.digest as string);
    const { tags: tagNames, ...rest } = item as unknown as EmulatedManifest & { tags?: string[] };
    manifestsOf(repository).set(item.digest as string, { ...known, ...rest, changeableAttributes: { ...rest.changeableAttributes }, references: rest.references ?? known?.references } as EmulatedManifest);
    for (const name of tagNames ?? []) {
      if (!tagsOf(repository).has(name)) {
        tagsOf(repository).set(name, { name, digest: rest.digest, createdTime: rest.createdTime, lastUpdateTime: rest.lastUpdateTime, signed: false, changeableAttributes: { ...UNLOCKED } });
      }
    }
  };
  for (const exchanges of [...[...recordings.values()].filter((exchanges) => exchanges !== own), own]) {
    for (const exchange of exchanges) {
      if (exchange.host !== host || exchange.status >= 300 || typeof exchange.responseBody !== 'object' || exchange.responseBody === null) continue;
      const body = exchange.responseBody as Record<string, unknown>;
      if (Array.isArray(body.manifestsDeleted)) {
        // A repository deletion lists what the repository held.
        const deletedFrom = decodeURIComponent(exchange.pathAndQuery.split('?')[0]!.replace('/acr/v1/', ''));
        const time = '2021-06-01T00:00:00Z';
        for (const digest of body.manifestsDeleted as string[]) {
          if (!manifestsOf(deletedFrom).has(digest)) {
            manifestsOf(deletedFrom).set(digest, { digest, imageSize: 1024, createdTime: time, lastUpdateTime: time, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', changeableAttributes: { ...UNLOCKED } });
          }
        }
        for (const name of (body.tagsDeleted as string[] | undefined) ?? []) {
          tagsOf(deletedFrom).set(name, { name, digest: (body.manifestsDeleted as string[])[0]!, createdTime: time, lastUpdateTime: time, signed: false, changeableAttributes: { ...UNLOCKED } });
        }
      }
      const repository = body.imageName as string | undefined;
      if (repository === undefined) continue;
      for (const item of (body.manifests as Record<string, unknown>[] | undefined) ?? []) addManifest(repository, item);
      if (body.manifest) addManifest(repository, body.manifest as Record<string, unknown>);
      const tagObjects = [...((body.tags as EmulatedTag[] | undefined) ?? []), ...(body.tag ? [body.tag as EmulatedTag] : [])];
      for (const tag of tagObjects) tagsOf(repository).set(tag.name, tag);
    }
  }
  return { manifests, tags };
}

/** The registry as one recording found it. */
function stateFor(exchanges: Exchange[]): RegistryState {
  const host = exchanges[0]!.host;
  const knowledge = knowledgeOf(host, exchanges);
  const repositories = new Set<string>();
  const absent = new Set<string>();
  const deletedRepositories = new Set<string>();
  for (const exchange of exchanges) {
    if (exchange.host !== host) continue;
    const path = exchange.pathAndQuery.split('?')[0]!;
    const body = exchange.responseBody as Record<string, unknown> | null;
    if (path === '/acr/v1/_catalog' && exchange.status === 200) {
      for (const name of (body?.repositories as string[] | null) ?? []) repositories.add(name);
      continue;
    }
    const match = /^\/(?:acr\/v1|v2)\/(.+?)(?:\/(?:_manifests|_tags|manifests)(?:\/.*)?)?$/.exec(path);
    if (!match || path.startsWith('/oauth2')) continue;
    const repository = decodeURIComponent(match[1]!);
    const code = (body as { errors?: { code: string }[] } | null)?.errors?.[0]?.code;
    if (exchange.status === 404 && code === 'NAME_UNKNOWN') absent.add(repository);
    if (exchange.status === 404 && (code === 'MANIFEST_UNKNOWN' || code === 'TAG_UNKNOWN')) repositories.add(repository);
    if (exchange.status >= 200 && exchange.status < 300) {
      repositories.add(repository);
      if (exchange.method === 'DELETE' && /^\/acr\/v1\/[^/]+$/.test(path)) deletedRepositories.add(repository);
      const v2 = /^\/v2\/.+\/manifests\/(sha256:[0-9a-f]{64})$/.exec(path);
      if (v2 && !knowledge.manifests.get(repository)?.has(v2[1]!)) {
        const known = [...knowledge.manifests.values()].flatMap((map) => [...map.values()]).find((manifest) => manifest.digest === v2[1]);
        const tag = [...knowledge.tags.values()].flatMap((map) => [...map.values()]).find((candidate) => candidate.digest === v2[1]);
        const time = tag?.createdTime ?? '2022-12-13T07:11:20.1234567Z';
        const map = knowledge.manifests.get(repository) ?? knowledge.manifests.set(repository, new Map()).get(repository)!;
        map.set(v2[1]!, known ?? { digest: v2[1]!, imageSize: 2480, createdTime: time, lastUpdateTime: time, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', changeableAttributes: { ...UNLOCKED } });
      }
    }
  }
  const state = new RegistryState();
  for (const repository of repositories) {
    if (absent.has(repository) && !deletedRepositories.has(repository)) continue;
    const emulated = state.repository(repository);
    for (const manifest of knowledge.manifests.get(repository)?.values() ?? []) emulated.manifests.set(manifest.digest, structuredClone(manifest));
    for (const tag of knowledge.tags.get(repository)?.values() ?? []) emulated.tags.set(tag.name, structuredClone(tag));
  }
  return state;
}

function send(emulator: AcrEmulator, exchange: Exchange, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: emulator.port, method: exchange.method, path: exchange.pathAndQuery, headers: { ...headers, ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

type Shape = string | Shape[] | { [key: string]: Shape };
function shapeOf(value: unknown): Shape {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.map(shapeOf);
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value as object).map(([key, inner]) => [key, shapeOf(inner)]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
  return typeof value;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Where recordings disagree, the newest wins. The 2021 browser recording of "deletes repository" gets an
 * insufficient-scope challenge without `error="insufficient_scope"`; the 2023 node recording of the same test
 * has it, and the emulator follows 2023.
 */
const KNOWN_OLDER_BEHAVIOUR: Record<string, (name: string, value: string | undefined) => string | undefined> = {
  'browsers__containerregistryclient_tests__recording_deletes_repository_of_given_name.json': (name, value) =>
    name === 'www-authenticate' ? value?.replace(',error="insufficient_scope"', '') : value,
};

const emulators: AcrEmulator[] = [];
afterAll(async () => Promise.all(emulators.map((emulator) => emulator.stop())));

describe('the ACR emulator against recorded real exchanges', () => {
  it('has recordings to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(21);
  });

  it.each(files)('%s', async (file) => {
    const exchanges = recordings.get(file)!;
    const firstChallenge = exchanges.map((exchange) => header(exchange.responseHeaders, 'www-authenticate')).find(Boolean);
    const host = exchanges[0]!.host;
    const loginServer = /service="([^"]+)"/.exec(firstChallenge ?? '')?.[1] ?? host;
    // One recording's sanitiser renamed the service but not the realm; the emulator can serve that too.
    const realmHost = /realm="https:\/\/([^/]+)\//.exec(firstChallenge ?? '')?.[1] ?? loginServer;
    const emulator = await startEmulator({ loginServer, realmHost, state: stateFor(exchanges), anonymousPull: exchanges.some((exchange) => exchange.requestBody.includes('grant_type=password')) });
    emulators.push(emulator);
    let refreshToken = '';
    let accessToken = '';
    let replayed = 0;
    for (const exchange of exchanges) {
      if (exchange.host !== host) continue;
      const headers: Record<string, string> = {};
      if (exchange.requestHeaders['content-type']) headers['content-type'] = exchange.requestHeaders['content-type'];
      if (exchange.requestHeaders.authorization && accessToken !== '') headers.authorization = `Bearer ${accessToken}`;
      if (exchange.requestHeaders['x-ms-client-request-id']) headers['x-ms-client-request-id'] = exchange.requestHeaders['x-ms-client-request-id'];
      let body = exchange.requestBody;
      if (exchange.pathAndQuery.startsWith('/oauth2/token')) {
        const form = new URLSearchParams(body);
        if (form.get('refresh_token')) form.set('refresh_token', refreshToken);
        body = form.toString();
      }
      const answer = await send(emulator, exchange, headers, body);
      const label = `${file} #${replayed} ${exchange.method} ${exchange.pathAndQuery}`;
      expect(answer.status, label).toBe(exchange.status);
      const older = KNOWN_OLDER_BEHAVIOUR[file] ?? ((_: string, value: string | undefined) => value);
      for (const name of ['www-authenticate', 'link', 'content-type']) {
        expect(older(name, header(answer.headers, name)), `${label} ${name}`).toBe(header(exchange.responseHeaders, name));
      }
      const expectedBody = exchange.responseBody;
      if (expectedBody !== null && typeof expectedBody === 'object') {
        const actual = JSON.parse(answer.body);
        expect(shapeOf(actual), `${label} body shape`).toEqual(shapeOf(expectedBody));
        const codes = (value: unknown) => ((value as { errors?: { code: string }[] }).errors ?? []).map((error) => error.code);
        expect(codes(actual), `${label} error codes`).toEqual(codes(expectedBody));
        if (typeof actual.refresh_token === 'string') refreshToken = actual.refresh_token;
        if (typeof actual.access_token === 'string') accessToken = actual.access_token;
      } else if (typeof expectedBody === 'string' && expectedBody !== '') {
        expect(answer.body, `${label} body`).toBe(expectedBody);
      }
      replayed++;
    }
    expect(replayed).toBeGreaterThan(0);
  });
});
