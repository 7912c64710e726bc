import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createTestCa, issueServerCertificate, type CertificateAuthority } from './tls.js';
import { INDEX_MEDIA_TYPES, OCI_MANIFEST_MEDIA_TYPE, RegistryState, type EmulatedManifest, type EmulatedRepository } from './registryState.js';

export type OperationClass = 'read' | 'write' | 'delete' | 'oauth';

/** A fixed-window limit, as ACR applies them: `limit` requests per `windowMs`, then 429 until the window ends. */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

export type FaultKind =
  | '429-without-retry-after'
  | 'retry-after'
  | '403'
  | '500'
  | '503'
  | 'drop-connection'
  | 'lose-response'
  | 'hang'
  | 'slow'
  | 'expire-token'
  | 'revoke-tokens';

export interface FaultRule {
  kind: FaultKind;
  method?: string;
  /** Matched against the raw request path. */
  path?: RegExp;
  /** How many matching requests the fault hits; afterwards it is spent. */
  times?: number;
  /** Lets this many matching requests through before the fault starts hitting. */
  after?: number;
  /** For `slow`: how long to wait before answering. */
  delayMs?: number;
  /** For `retry-after`: the seconds the 429 asks the client to wait. */
  retryAfterSeconds?: number;
}

/** A user name and password the token endpoint accepts (`grant_type=password`), as an admin user or a repository-scoped token. */
export interface PasswordCredential {
  username: string;
  password: string;
  /** Scopes this credential may be granted (a repository-scoped token's scope map); all when absent. */
  scopes?: RegExp;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  operationClass: OperationClass;
  timeMs: number;
  /** When the answer was sent (absent while none was). */
  answeredMs?: number;
  fault?: FaultKind;
}

export interface AcrEmulatorOptions {
  /** The registry's login server, used in challenges and bodies (default `cicache.azurecr.io`); `{port}` is replaced by the port. */
  loginServer?: string;
  /** The host in the challenge's realm (default: the login server). */
  realmHost?: string;
  ca?: CertificateAuthority;
  state?: RegistryState;
  port?: number;
  limits?: Partial<Record<OperationClass, RateLimit>>;
  /** Added before every answer. */
  latencyMs?: number;
  accessTokenTtlSeconds?: number;
  refreshTokenTtlSeconds?: number;
  /** Lets `grant_type=password` with an empty refresh token read (anonymous pull). */
  anonymousPull?: boolean;
  /** Scopes never granted, as for an identity without a role (e.g. /:delete$/ without AcrDelete). */
  deniedScopes?: RegExp;
  /** Accepted by `grant_type=password` token requests (the Azure CLI's `--username/--password`). */
  passwordCredentials?: PasswordCredential[];
}

interface AccessToken {
  scopes: Set<string>;
  expiresAtMs: number;
}

const EXPOSE_HEADERS = ['Docker-Content-Digest', 'WWW-Authenticate', 'Link', 'X-Ms-Correlation-Request-Id'];
const HSTS = 'max-age=31536000; includeSubDomains';
const DIGEST_REFERENCE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]+$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: unknown,
    /** The `WWW-Authenticate` challenge of a 401. */
    readonly challenge?: string,
    /** The `Retry-After` seconds of a 429. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/**
 * An HTTPS emulator of the Azure Container Registry data plane, built from the REST spec and checked
 * against recorded real exchanges (test/emulators/acr/fidelity.test.ts). See docs/acr-emulator.md.
 */
export class AcrEmulator {
  readonly requests: RequestLogEntry[] = [];
  readonly faults: (FaultRule & { remaining: number; passed: number })[] = [];
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly refreshTokens = new Map<string, number>();
  private readonly windows = new Map<OperationClass, { startMs: number; count: number }>();
  private readonly sockets = new Set<Socket>();
  private tokenCalls = 0;
  limits: Partial<Record<OperationClass, RateLimit>>;
  latencyMs: number;

  private constructor(
    private readonly server: Server,
    readonly state: RegistryState,
    public loginServer: string,
    readonly caCertificatePem: string,
    private readonly options: AcrEmulatorOptions,
  ) {
    this.limits = options.limits ?? {};
    this.latencyMs = options.latencyMs ?? 0;
  }

  static async start(options: AcrEmulatorOptions = {}): Promise<AcrEmulator> {
    const loginServer = options.loginServer ?? 'cicache.azurecr.io';
    const ca = options.ca ?? (await createTestCa());
    const certificate = await issueServerCertificate(ca, [loginServer.replace(/:.*$/, '')]);
    const server = createServer({ cert: certificate.certificatePem, key: certificate.privateKeyPem }, (request, response) => {
      void emulator.handle(request, response);
    });
    server.keepAliveTimeout = 30_000;
    const emulator: AcrEmulator = new AcrEmulator(server, options.state ?? new RegistryState(), loginServer, ca.certificatePem, options);
    server.on('connection', (socket: Socket) => {
      emulator.sockets.add(socket);
      socket.on('close', () => emulator.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    emulator.loginServer = loginServer.replace('{port}', String(emulator.port));
    return emulator;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The URL clients use (`https://127.0.0.1:PORT`). */
  get endpoint(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  addFault(rule: FaultRule): void {
    this.faults.push({ ...rule, remaining: rule.times ?? 1, passed: 0 });
  }

  /** Makes every access and refresh token issued so far invalid, as an expiry would. */
  expireTokens(): void {
    this.accessTokens.clear();
    this.refreshTokens.clear();
  }

  requestsMatching(method: string, path: RegExp): RequestLogEntry[] {
    return this.requests.filter((entry) => entry.method === method && path.test(entry.path));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    const [path = '/', query = ''] = url.split('?', 2) as [string, string?];
    const method = request.method ?? 'GET';
    const operationClass = classify(method, path);
    const entry: RequestLogEntry = { method, path: url, status: 0, operationClass, timeMs: Date.now() };
    this.requests.push(entry);
    const body = await readBody(request);
    if (this.latencyMs > 0) await sleep(this.latencyMs);

    const fault = this.takeFault(method, path, request.headers.authorization !== undefined);
    let answer = response;
    if (fault !== undefined) {
      entry.fault = fault.kind;
      switch (fault.kind) {
        case 'drop-connection':
          entry.status = -1;
          request.socket.destroy();
          return;
        case 'hang':
          // Never answers: the client must give up on its own (the socket closes when the emulator stops).
          entry.status = -1;
          return;
        case 'lose-response':
          // The request is carried out, then the connection drops before the answer leaves.
          answer = droppedAnswer(response, request.socket);
          break;
        case 'slow':
          await sleep(fault.delayMs ?? 1000);
          break;
        case 'expire-token':
        case 'revoke-tokens':
          this.expireTokens();
          break;
        case 'retry-after':
          return this.send(response, entry, 429, errorBody('TOOMANYREQUESTS', 'too many requests'), { 'Retry-After': String(fault.retryAfterSeconds ?? 60) });
        case '429-without-retry-after':
          return this.send(response, entry, 429, errorBody('TOOMANYREQUESTS', 'too many requests'), {});
        case '403':
          return this.send(response, entry, 403, errorBody('DENIED', 'requested access to the resource is denied'), {});
        case '500':
          return this.send(response, entry, 500, errorBody('INTERNAL_SERVER_ERROR', 'internal server error'), {});
        case '503':
          return this.send(response, entry, 503, errorBody('SERVICE_UNAVAILABLE', 'service unavailable'), {});
      }
    }

    // Token calls are limited per registry, before anything else; data-plane limits are per identity, so
    // they apply once the request is authorised (a 401 challenge has no identity to count against).
    if (operationClass === 'oauth') {
      const retryAfter = this.throttle(operationClass);
      if (retryAfter !== undefined) return this.send(answer, entry, 429, errorBody('TOOMANYREQUESTS', 'too many requests'), { 'Retry-After': String(retryAfter) });
    }

    try {
      await this.route(method, path, new URLSearchParams(query), body, request, answer, entry);
    } catch (error) {
      if (error instanceof HttpError) {
        const headers = dataPlaneHeaders();
        if (error.challenge !== undefined) headers['WWW-Authenticate'] = error.challenge;
        if (error.retryAfter !== undefined) headers['Retry-After'] = String(error.retryAfter);
        this.sendJson(answer, entry, error.status, errorBody(error.code, error.message, error.detail), headers);
      } else {
        this.send(answer, entry, 500, errorBody('INTERNAL_SERVER_ERROR', String(error)), dataPlaneHeaders());
      }
    }
  }

  private async route(method: string, path: string, query: URLSearchParams, body: string, request: IncomingMessage, response: ServerResponse, entry: RequestLogEntry): Promise<void> {
    const authorization = request.headers.authorization;
    if (path === '/oauth2/exchange' && method === 'POST') return this.exchange(new URLSearchParams(body), response, entry);
    if (path === '/oauth2/token' && method === 'POST') return this.token(new URLSearchParams(body), response, entry);

    if (path === '/v2/' || path === '/v2') {
      this.authorize(authorization, 'registry:catalog:*', classify(method, path));
      return this.sendJson(response, entry, 200, {});
    }
    if (path === '/acr/v1/_catalog' && method === 'GET') {
      this.authorize(authorization, 'registry:catalog:*', classify(method, path));
      return this.catalog(query, response, entry);
    }
    if (path === '/v2/_catalog' && method === 'GET') {
      this.authorize(authorization, 'registry:catalog:*', classify(method, path));
      return this.distributionCatalog(query, response, entry);
    }
    let match = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path);
    if (match && method === 'GET') {
      const repository = decodeURIComponent(match[1]!);
      this.authorize(authorization, `repository:${repository}:pull`, classify(method, path));
      return this.listReferrers(repository, decodeURIComponent(match[2]!), query, response, entry);
    }
    match = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (match) {
      const repository = decodeURIComponent(match[1]!);
      const reference = decodeURIComponent(match[2]!);
      if (method === 'DELETE') {
        this.authorize(authorization, `repository:${repository}:delete`, classify(method, path));
        return this.deleteManifest(repository, reference, request, response, entry);
      }
      if (method === 'GET' || method === 'HEAD') {
        this.authorize(authorization, `repository:${repository}:pull`, classify(method, path));
        return this.getManifestContent(repository, reference, method, response, entry);
      }
    }
    match = /^\/acr\/v1\/(.+?)\/_manifests(?:\/([^/]+))?$/.exec(path);
    if (match) {
      const repository = decodeURIComponent(match[1]!);
      if (match[2] === undefined) {
        if (method !== 'GET') throw new HttpError(405, 'UNSUPPORTED', 'The operation is unsupported.');
        this.authorize(authorization, `repository:${repository}:metadata_read`, classify(method, path));
        return this.listManifests(this.existingRepository(repository), query, response, entry);
      }
      const digest = decodeURIComponent(match[2]);
      if (!DIGEST_REFERENCE.test(digest)) return this.sendPlainNotFound(response, entry);
      if (method === 'PATCH') {
        this.authorize(authorization, `repository:${repository}:metadata_write`, classify(method, path));
        return this.patchManifest(repository, digest, body, response, entry);
      }
      this.authorize(authorization, `repository:${repository}:metadata_read`, classify(method, path));
      return this.getManifestProperties(repository, digest, response, entry);
    }
    match = /^\/acr\/v1\/(.+?)\/_tags(?:\/([^/]+))?$/.exec(path);
    if (match) {
      const repository = decodeURIComponent(match[1]!);
      if (match[2] === undefined) {
        this.authorize(authorization, `repository:${repository}:metadata_read`, classify(method, path));
        return this.listTags(this.existingRepository(repository), query, response, entry);
      }
      const tag = decodeURIComponent(match[2]);
      if (method === 'DELETE') {
        this.authorize(authorization, `repository:${repository}:delete`, classify(method, path));
        return this.deleteTag(repository, tag, request, response, entry);
      }
      this.authorize(authorization, `repository:${repository}:metadata_read`, classify(method, path));
      return this.getTag(repository, tag, response, entry);
    }
    match = /^\/acr\/v1\/(.+)$/.exec(path);
    if (match) {
      const repository = decodeURIComponent(match[1]!);
      if (method === 'DELETE') {
        this.authorize(authorization, `repository:${repository}:delete`, classify(method, path));
        return this.deleteRepository(repository, request, response, entry);
      }
      this.authorize(authorization, `repository:${repository}:metadata_read`, classify(method, path));
      return this.getRepository(repository, response, entry);
    }
    this.sendPlainNotFound(response, entry);
  }

  // ---- auth -------------------------------------------------------------------------------------

  private authorize(authorization: string | undefined, scope: string, operationClass: OperationClass): void {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const granted = token === undefined ? undefined : this.accessTokens.get(token);
    const valid = granted !== undefined && granted.expiresAtMs > Date.now();
    if (valid && granted.scopes.has(scope)) {
      const retryAfter = this.throttle(operationClass);
      if (retryAfter !== undefined) throw new HttpError(429, 'TOOMANYREQUESTS', 'too many requests', undefined, undefined, retryAfter);
      return;
    }
    const [type, name, action] = splitScope(scope);
    throw new HttpError(
      401,
      'UNAUTHORIZED',
      'authentication required, visit https://aka.ms/acr/authorization for more information.',
      [{ Type: type, Name: name, Action: action }],
      `Bearer realm="https://${this.options.realmHost ?? this.loginServer}/oauth2/token",service="${this.loginServer}",scope="${scope}"${valid ? ',error="insufficient_scope"' : ''}`,
    );
  }

  private exchange(form: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    if (form.get('grant_type') !== 'access_token' || !form.get('access_token')) {
      return this.sendToken(response, entry, 400, errorBody('UNSUPPORTED', 'grant_type must be access_token with an access_token'));
    }
    if (form.get('service') !== this.loginServer) {
      return this.sendToken(response, entry, 400, errorBody('UNSUPPORTED', `the service ${form.get('service')} is not this registry`));
    }
    const expiresAtMs = Date.now() + (this.options.refreshTokenTtlSeconds ?? 3 * 3600) * 1000;
    const refreshToken = jwt({ exp: Math.floor(expiresAtMs / 1000), iat: Math.floor(Date.now() / 1000), jti: randomUUID(), grant_type: 'refresh_token', aud: this.loginServer });
    this.refreshTokens.set(refreshToken, expiresAtMs);
    this.sendToken(response, entry, 200, { refresh_token: refreshToken });
  }

  private token(form: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    const grantType = form.get('grant_type');
    const refreshToken = form.get('refresh_token') ?? '';
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (form.get('service') !== this.loginServer) {
      return this.sendToken(response, entry, 400, errorBody('UNSUPPORTED', `the service ${form.get('service')} is not this registry`));
    }
    if (grantType === 'password' && form.has('username')) return this.passwordGrant(form, scopes, response, entry);
    if (grantType === 'password' && refreshToken === '' && this.options.anonymousPull) {
      const readOnly = scopes.filter((scope) => /:(pull|metadata_read|\*)$/.test(scope));
      return this.issueAccessToken(readOnly, response, entry);
    }
    const expiresAtMs = this.refreshTokens.get(refreshToken);
    if (grantType !== 'refresh_token' || expiresAtMs === undefined || expiresAtMs <= Date.now()) {
      return this.sendToken(response, entry, 401, errorBody('UNAUTHORIZED', 'authentication required, visit https://aka.ms/acr/authorization for more information.'));
    }
    this.issueAccessToken(scopes, response, entry);
  }

  /** An admin user or a repository-scoped token: user name and password, granted what its scope map allows. */
  private passwordGrant(form: URLSearchParams, scopes: string[], response: ServerResponse, entry: RequestLogEntry): void {
    const credential = this.options.passwordCredentials?.find((candidate) => candidate.username === form.get('username') && candidate.password === form.get('password'));
    if (credential === undefined) {
      return this.sendToken(response, entry, 401, errorBody('UNAUTHORIZED', 'authentication required, visit https://aka.ms/acr/authorization for more information.'));
    }
    this.issueAccessToken(scopes, response, entry, credential.scopes);
  }

  private issueAccessToken(scopes: string[], response: ServerResponse, entry: RequestLogEntry, allowed?: RegExp): void {
    const token = randomBytes(24).toString('base64url');
    const granted = new Set<string>();
    for (const scope of scopes) {
      const [type, name, actions] = splitScope(scope);
      for (const action of actions.split(',')) {
        const single = `${type}:${name}:${action}`;
        if (!this.options.deniedScopes?.test(single) && (allowed === undefined || allowed.test(single))) granted.add(single);
      }
    }
    this.accessTokens.set(token, { scopes: granted, expiresAtMs: Date.now() + (this.options.accessTokenTtlSeconds ?? 3600) * 1000 });
    this.sendToken(response, entry, 200, { access_token: token });
  }

  // ---- catalog and repositories -------------------------------------------------------------------

  private existingRepository(name: string): EmulatedRepository {
    const repository = this.state.repositories.get(name);
    if (repository === undefined) throw new HttpError(404, 'NAME_UNKNOWN', `repository "${name}" is not found`);
    return repository;
  }

  private catalog(query: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    const names = this.state.sortedRepositoryNames();
    const page = pageAfter(names, (name) => name, query);
    const headers = dataPlaneHeaders();
    if (page.next !== undefined) headers.Link = `</acr/v1/_catalog?last=${encodeURIComponent(page.next)}&n=${page.size}&orderby=${query.get('orderby') ?? ''}>; rel="next"`;
    this.sendJson(response, entry, 200, { repositories: page.items.length > 0 ? page.items : null }, headers);
  }

  /** The Docker distribution API's catalog (`/v2/_catalog`), which the Azure CLI's `acr repository list` reads. */
  private distributionCatalog(query: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    const page = pageAfter(this.state.sortedRepositoryNames(), (name) => name, query);
    const headers = dataPlaneHeaders();
    if (page.next !== undefined) headers.Link = `</v2/_catalog?last=${encodeURIComponent(page.next)}&n=${page.size}>; rel="next"`;
    this.sendJson(response, entry, 200, { repositories: page.items }, headers);
  }

  private getRepository(name: string, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.existingRepository(name);
    this.sendJson(response, entry, 200, {
      registry: this.loginServer,
      imageName: name,
      createdTime: repository.createdTime,
      lastUpdateTime: repository.lastUpdateTime,
      manifestCount: repository.manifests.size,
      tagCount: repository.tags.size,
      changeableAttributes: { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true },
    });
  }

  private deleteRepository(name: string, request: IncomingMessage, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.state.repositories.get(name);
    if (repository === undefined) throw new HttpError(404, 'NAME_UNKNOWN', 'repository name not known to registry', { name });
    this.state.repositories.delete(name);
    const headers = { ...dataPlaneHeaders(), ...deleteHeaders(request) };
    this.sendJson(response, entry, 202, { manifestsDeleted: [...repository.manifests.keys()], tagsDeleted: [...repository.tags.keys()] }, headers);
  }

  // ---- manifests ---------------------------------------------------------------------------------

  private manifestItem(repository: EmulatedRepository, manifest: EmulatedManifest, withReferences: boolean): Record<string, unknown> {
    const tags = this.state.tagsOf(repository, manifest.digest);
    return {
      digest: manifest.digest,
      imageSize: manifest.imageSize,
      createdTime: manifest.createdTime,
      lastUpdateTime: manifest.lastUpdateTime,
      ...(manifest.architecture !== undefined ? { architecture: manifest.architecture } : {}),
      ...(manifest.os !== undefined ? { os: manifest.os } : {}),
      mediaType: manifest.mediaType,
      ...(manifest.configMediaType !== undefined ? { configMediaType: manifest.configMediaType } : {}),
      ...(tags.length > 0 ? { tags } : {}),
      changeableAttributes: manifest.changeableAttributes,
      ...(withReferences && manifest.references !== undefined ? { references: manifest.references } : {}),
    };
  }

  private listManifests(repository: EmulatedRepository, query: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    const orderby = query.get('orderby') ?? '';
    let manifests = this.state.sortedManifests(repository).filter((manifest) => manifest.changeableAttributes.listEnabled);
    if (orderby === 'timedesc' || orderby === 'timeasc') {
      const sign = orderby === 'timedesc' ? -1 : 1;
      manifests = manifests.sort((a, b) => sign * (Date.parse(a.lastUpdateTime) - Date.parse(b.lastUpdateTime)) || (a.digest < b.digest ? -1 : 1));
    }
    const page = pageAfter(manifests, (manifest) => manifest.digest, query, orderby === '' || orderby === undefined);
    const headers = dataPlaneHeaders();
    if (page.next !== undefined) {
      headers.Link = `</acr/v1/${encodeURIComponent(repository.name)}/_manifests?last=${encodeURIComponent(page.next)}&n=${page.size}&orderby=${orderby}>; rel="next"`;
    }
    const body = { registry: this.loginServer, imageName: repository.name, manifests: page.items.map((manifest) => this.manifestItem(repository, manifest, false)) };
    this.sendJson(response, entry, 200, body, headers, !query.has('n'));
  }

  private getManifestProperties(repositoryName: string, digest: string, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.existingRepository(repositoryName);
    const manifest = repository.manifests.get(digest);
    if (manifest === undefined) throw new HttpError(404, 'MANIFEST_UNKNOWN', `manifest ${digest} is not found`, { Digest: digest });
    this.sendJson(response, entry, 200, { registry: this.loginServer, imageName: repositoryName, manifest: this.manifestItem(repository, manifest, true) });
  }

  private patchManifest(repositoryName: string, digest: string, body: string, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.existingRepository(repositoryName);
    const manifest = repository.manifests.get(digest);
    if (manifest === undefined) throw new HttpError(404, 'MANIFEST_UNKNOWN', `manifest ${digest} is not found`, { Digest: digest });
    const changes = JSON.parse(body || '{}') as Record<string, unknown>;
    const attributes = manifest.changeableAttributes;
    for (const key of ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const) {
      if (typeof changes[key] === 'boolean') attributes[key] = changes[key];
    }
    manifest.changeableAttributes = { deleteEnabled: attributes.deleteEnabled, writeEnabled: attributes.writeEnabled, readEnabled: attributes.readEnabled, listEnabled: attributes.listEnabled, ...pick(attributes) };
    this.sendJson(response, entry, 200, { registry: this.loginServer, imageName: repositoryName, manifest: this.manifestItem(repository, manifest, true) });
  }

  private getManifestContent(repositoryName: string, reference: string, method: string, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.existingRepository(repositoryName);
    const byDigest = DIGEST_REFERENCE.test(reference);
    const digest = byDigest ? reference : repository.tags.get(reference)?.digest;
    const manifest = digest === undefined ? undefined : repository.manifests.get(digest);
    if (manifest === undefined) {
      throw byDigest
        ? new HttpError(404, 'MANIFEST_UNKNOWN', `manifest ${reference} is not found`, { Digest: reference })
        : new HttpError(404, 'MANIFEST_UNKNOWN', `manifest tagged by "${reference}" is not found`, { Tag: reference });
    }
    const text = this.manifestDocument(repository, manifest);
    entry.status = 200;
    response.writeHead(200, { ...dataPlaneHeaders(), 'Content-Type': manifest.mediaType, 'Docker-Content-Digest': manifest.digest, 'Content-Length': String(Buffer.byteLength(text)) });
    response.end(method === 'HEAD' ? undefined : text);
  }

  /**
   * A synthetic manifest document: an index lists its children, an image manifest its config; an OCI 1.1
   * referrer also carries `artifactType` and `subject` (a descriptor of the manifest it refers to). Its hash is
   * not its digest (digests come from the seed), so clients that verify digests cannot read it.
   */
  private manifestDocument(repository: EmulatedRepository, manifest: EmulatedManifest): string {
    const subject = manifest.subject === undefined ? undefined : repository.manifests.get(manifest.subject);
    const subjectField =
      manifest.subject === undefined
        ? {}
        : { subject: { mediaType: subject?.mediaType ?? OCI_MANIFEST_MEDIA_TYPE, digest: manifest.subject, size: subject === undefined ? 0 : Buffer.byteLength(this.manifestDocument(repository, { ...subject, subject: undefined })) } };
    const artifactType = manifest.artifactType === undefined ? {} : { artifactType: manifest.artifactType };
    const document = INDEX_MEDIA_TYPES.has(manifest.mediaType)
      ? {
          schemaVersion: 2,
          mediaType: manifest.mediaType,
          ...artifactType,
          manifests: (manifest.references ?? []).map((child) => ({
            mediaType: repository.manifests.get(child.digest)?.mediaType ?? OCI_MANIFEST_MEDIA_TYPE,
            digest: child.digest,
            size: 1024,
            platform: { architecture: child.architecture ?? 'amd64', os: child.os ?? 'linux' },
          })),
          ...subjectField,
        }
      : {
          schemaVersion: 2,
          mediaType: manifest.mediaType,
          ...artifactType,
          config: { mediaType: manifest.configMediaType ?? 'application/vnd.oci.image.config.v1+json', digest: manifest.digest, size: manifest.configMediaType === 'application/vnd.oci.empty.v1+json' ? 2 : 1024 },
          layers: [],
          ...subjectField,
        };
    return JSON.stringify(document);
  }

  /**
   * `GET /v2/{repo}/referrers/{digest}` (OCI distribution spec 1.1): an OCI image index of descriptors of the
   * manifests whose `subject` is the digest (`200` with an empty list when there are none or the digest is
   * unknown, `400` for a malformed digest); `?artifactType=` filters and is acknowledged by `OCI-Filters-Applied`.
   * A descriptor's `artifactType` is the manifest's, else its config's media type.
   */
  private listReferrers(repositoryName: string, digest: string, query: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.existingRepository(repositoryName);
    if (!DIGEST_REFERENCE.test(digest)) throw new HttpError(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content', { Digest: digest });
    const filter = query.get('artifactType');
    const descriptors = this.state
      .referrersOf(repository, digest)
      .map((manifest) => ({
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: Buffer.byteLength(this.manifestDocument(repository, manifest)),
        artifactType: manifest.artifactType ?? manifest.configMediaType ?? 'application/vnd.oci.image.config.v1+json',
      }))
      .filter((descriptor) => filter === null || descriptor.artifactType === filter);
    const text = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: descriptors });
    entry.status = 200;
    response.writeHead(200, {
      ...dataPlaneHeaders(),
      'Content-Type': 'application/vnd.oci.image.index.v1+json',
      'Content-Length': String(Buffer.byteLength(text)),
      ...(filter === null ? {} : { 'OCI-Filters-Applied': 'artifactType' }),
    });
    response.end(text);
  }

  private deleteManifest(repositoryName: string, reference: string, request: IncomingMessage, response: ServerResponse, entry: RequestLogEntry): void {
    const headers = { ...dataPlaneHeaders(), ...deleteHeaders(request) };
    if (!DIGEST_REFERENCE.test(reference)) throw new HttpError(405, 'UNSUPPORTED', 'A manifest can only be deleted by digest.');
    const outcome = this.state.deleteManifest(repositoryName, reference);
    switch (outcome.status) {
      case 'deleted':
        return this.sendEmpty(response, entry, 202, headers);
      case 'locked':
        return this.sendJson(response, entry, 405, errorBody('DENIED', 'The operation is disallowed on this image: it is locked (deleteEnabled or writeEnabled is false).'), headers);
      case 'unknown-repository':
        return this.sendJson(response, entry, 404, errorBody('NAME_UNKNOWN', `repository "${repositoryName}" is not found`), headers);
      case 'unknown-manifest':
        return this.sendJson(response, entry, 404, errorBody('MANIFEST_UNKNOWN', `manifest ${reference} is not found`, { Digest: reference }), headers);
    }
  }

  // ---- tags ----------------------------------------------------------------------------------------

  private listTags(repository: EmulatedRepository, query: URLSearchParams, response: ServerResponse, entry: RequestLogEntry): void {
    const tags = [...repository.tags.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    const page = pageAfter(tags, (tag) => tag.name, query);
    const headers = dataPlaneHeaders();
    if (page.next !== undefined) headers.Link = `</acr/v1/${encodeURIComponent(repository.name)}/_tags?last=${encodeURIComponent(page.next)}&n=${page.size}&orderby=${query.get('orderby') ?? ''}>; rel="next"`;
    this.sendJson(response, entry, 200, { registry: this.loginServer, imageName: repository.name, tags: page.items }, headers, !query.has('n'));
  }

  private getTag(repositoryName: string, name: string, response: ServerResponse, entry: RequestLogEntry): void {
    const tag = this.existingRepository(repositoryName).tags.get(name);
    if (tag === undefined) throw new HttpError(404, 'TAG_UNKNOWN', 'the specified tag does not exist');
    this.sendJson(response, entry, 200, { registry: this.loginServer, imageName: repositoryName, tag });
  }

  private deleteTag(repositoryName: string, name: string, request: IncomingMessage, response: ServerResponse, entry: RequestLogEntry): void {
    const repository = this.existingRepository(repositoryName);
    const tag = repository.tags.get(name);
    if (tag === undefined) throw new HttpError(404, 'TAG_UNKNOWN', 'the specified tag does not exist');
    repository.tags.delete(name);
    this.sendEmpty(response, entry, 202, { ...dataPlaneHeaders(), ...deleteHeaders(request), 'X-Ms-Int-Docker-Content-Digest': tag.digest });
  }

  // ---- limits and faults ---------------------------------------------------------------------------

  /** Seconds until the window ends when the class is over its limit, as ACR's Retry-After. */
  private throttle(operationClass: OperationClass): number | undefined {
    const limit = this.limits[operationClass];
    if (limit === undefined) return undefined;
    const now = Date.now();
    let window = this.windows.get(operationClass);
    if (window === undefined || now - window.startMs >= limit.windowMs) {
      window = { startMs: now, count: 0 };
      this.windows.set(operationClass, window);
    }
    if (window.count < limit.limit) {
      window.count++;
      return undefined;
    }
    return Math.max(1, Math.ceil((window.startMs + limit.windowMs - now) / 1000));
  }

  /** The next fault for this request; a `lose-response` only hits requests with a token (something to carry out, not a challenge). */
  private takeFault(method: string, path: string, withToken: boolean): FaultRule | undefined {
    const matches = (fault: FaultRule) =>
      (fault.method === undefined || fault.method === method) && (fault.path === undefined || fault.path.test(path)) && (fault.kind !== 'lose-response' || withToken);
    for (const fault of this.faults) {
      if (fault.remaining <= 0 || !matches(fault)) continue;
      if (fault.passed < (fault.after ?? 0)) {
        fault.passed++;
        continue;
      }
      fault.remaining--;
      return fault;
    }
    return undefined;
  }

  // ---- responses ------------------------------------------------------------------------------------

  private send(response: ServerResponse, entry: RequestLogEntry, status: number, body: unknown, headers: Record<string, string | string[]>): void {
    this.sendJson(response, entry, status, body, { ...dataPlaneHeaders(), ...headers });
  }

  private sendJson(response: ServerResponse, entry: RequestLogEntry, status: number, body: unknown, headers: Record<string, string | string[]> = dataPlaneHeaders(), chunked = false): void {
    const text = `${JSON.stringify(body)}\n`;
    entry.status = status;
    entry.answeredMs = Date.now();
    response.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', ...(chunked ? {} : { 'Content-Length': String(Buffer.byteLength(text)) }) });
    if (chunked) {
      response.write(text);
      response.end();
    } else {
      response.end(text);
    }
  }

  private sendEmpty(response: ServerResponse, entry: RequestLogEntry, status: number, headers: Record<string, string | string[]>): void {
    entry.status = status;
    entry.answeredMs = Date.now();
    response.writeHead(status, { ...headers, 'Content-Length': '0' });
    response.end();
  }

  private sendToken(response: ServerResponse, entry: RequestLogEntry, status: number, body: unknown): void {
    this.tokenCalls++;
    const remaining = Math.max(0, 166.666667 - this.tokenCalls / 60);
    entry.status = status;
    response.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      Server: 'openresty',
      'Strict-Transport-Security': HSTS,
      'X-Ms-Correlation-Request-Id': randomUUID(),
      'x-ms-ratelimit-remaining-calls-per-second': String(Number(remaining.toFixed(6))),
    });
    response.write(`${JSON.stringify(body)}\n`);
    response.end();
  }

  private sendPlainNotFound(response: ServerResponse, entry: RequestLogEntry): void {
    entry.status = 404;
    const text = '404 page not found\n';
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': String(text.length) });
    response.end(text);
  }
}

/** A response whose answer never arrives: whatever is written, the connection is dropped instead. */
function droppedAnswer(response: ServerResponse, socket: Socket): ServerResponse {
  const dropped = Object.create(response) as ServerResponse;
  dropped.writeHead = () => dropped;
  dropped.write = () => true;
  dropped.end = () => {
    socket.destroy();
    return dropped;
  };
  return dropped;
}

function pick(attributes: { quarantineDetails?: string; quarantineState?: string }): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  if (attributes.quarantineDetails !== undefined) extra.quarantineDetails = attributes.quarantineDetails;
  if (attributes.quarantineState !== undefined) extra.quarantineState = attributes.quarantineState;
  return extra;
}

function dataPlaneHeaders(): Record<string, string | string[]> {
  return {
    'Access-Control-Expose-Headers': EXPOSE_HEADERS,
    'Docker-Distribution-Api-Version': 'registry/2.0',
    Server: 'openresty',
    'Strict-Transport-Security': [HSTS, HSTS],
    'X-Content-Type-Options': 'nosniff',
    'X-Ms-Correlation-Request-Id': randomUUID(),
  };
}

function deleteHeaders(request: IncomingMessage): Record<string, string> {
  const clientRequestId = request.headers['x-ms-client-request-id'];
  return {
    'X-Ms-Client-Request-Id': typeof clientRequestId === 'string' ? clientRequestId : '',
    'X-Ms-Request-Id': randomUUID(),
    'X-Ms-Ratelimit-Remaining-Calls-Per-Second': '8.000000',
  };
}

function errorBody(code: string, message: string, detail?: unknown): { errors: { code: string; message: string; detail?: unknown }[] } {
  return { errors: [{ code, message, ...(detail !== undefined ? { detail } : {}) }] };
}

function splitScope(scope: string): [string, string, string] {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  return [scope.slice(0, first), scope.slice(first + 1, last), scope.slice(last + 1)];
}

function classify(method: string, path: string): OperationClass {
  if (path.startsWith('/oauth2/')) return 'oauth';
  if (method === 'DELETE') return 'delete';
  if (method === 'GET' || method === 'HEAD') return 'read';
  return 'write';
}

/** A page of `items` after the exclusive cursor `last`, with `n` items (all when `n` is absent). */
function pageAfter<T>(items: T[], keyOf: (item: T) => string, query: URLSearchParams, lexicographic = true): { items: T[]; next?: string; size: number } {
  const last = query.get('last');
  let start = 0;
  if (last !== null && last !== '') {
    const exact = items.findIndex((item) => keyOf(item) === last);
    start = exact !== -1 ? exact + 1 : lexicographic ? items.findIndex((item) => keyOf(item) > last) : items.length;
    if (start === -1) start = items.length;
  }
  const requested = Number(query.get('n'));
  const size = Number.isInteger(requested) && requested > 0 ? requested : items.length;
  const page = items.slice(start, start + size);
  const next = start + size < items.length && page.length > 0 ? keyOf(page[page.length - 1]!) : undefined;
  return { items: page, next, size };
}

function jwt(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(payload)}.${randomBytes(32).toString('base64url')}`;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

