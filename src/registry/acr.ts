import { ContainerRegistryClient, type ArtifactManifestProperties } from '@azure/container-registry';
import type { TokenCredential } from '@azure/core-auth';
import type { FullOperationResponse } from '@azure/core-client';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { ConcurrencyLimit, forEachConcurrently } from '../concurrency.js';
import type { Inventory, ManifestInfo, RepositoryInfo } from '../inventory.js';
import type { InventorySource } from '../pass.js';
import { USER_AGENT_PREFIX } from '../report.js';
import { withRequestTimeout, type RunBudget } from './budget.js';
import { RatePacer } from './pacer.js';
import { DEFAULT_REFERRER_DISCOVERY, discoverReferrers, type ReferrerDiscovery } from './referrers.js';
import { DEFAULT_RETRY, isTransient, retryAfterMs, sleep, statusOf, waitWithinBudget, withRetries, type RetryPolicy } from './retry.js';
import { loadSubjectCache, type SubjectCache, type SubjectCacheStore } from './subjectCache.js';

export const INDEX_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
]);

export interface RegistryConnection {
  endpoint: string;
  credential: TokenCredential;
  /** Token audience, e.g. `https://containerregistry.azure.net` (overridable for sovereign clouds). */
  audience: string;
  /** Each request's own time limit (default 30 s): a request that gets no answer by then fails and may be retried. */
  requestTimeoutMs?: number;
  /** Told of every HTTP exchange, retries included (for request counts in reports and benchmarks). */
  onRequest?: (method: string, url: string, status: number | undefined) => void;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * One SDK client. The SDK caches a single ACR access token per client and each change of scope costs a
 * 401 and a token call, so callers keep one client per worker and work repository by repository.
 * The SDK's own retries are off: they sleep for a Retry-After whatever the run's time budget says, so every
 * retry is the caller's, paced and spent from the budget.
 */
export function createRegistryClient(connection: RegistryConnection): ContainerRegistryClient {
  return new ContainerRegistryClient(connection.endpoint, connection.credential, {
    audience: connection.audience,
    userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX },
    retryOptions: { maxRetries: 0 },
    additionalPolicies: connection.onRequest === undefined ? [] : [{ policy: requestObserver(connection.onRequest), position: 'perRetry' }],
  });
}

function requestObserver(onRequest: NonNullable<RegistryConnection['onRequest']>): PipelinePolicy {
  return {
    name: 'acrCacheCleanerRequestObserver',
    async sendRequest(request, next) {
      try {
        const response = await next(request);
        onRequest(request.method, request.url, response.status);
        return response;
      } catch (error) {
        onRequest(request.method, request.url, (error as { statusCode?: number }).statusCode);
        throw error;
      }
    },
  };
}

export interface ListingOptions {
  concurrency: number;
  /** Read requests per minute allowed to this identity (ACR Standard: 5,000; Premium: 10,000). */
  readsPerMinute: number;
  pageSize?: number;
  retry?: RetryPolicy;
  log?: (message: string) => void;
  /** How OCI referrers are found (see referrers.ts); the default is the cheaper on a CI cache. */
  referrerDiscovery?: ReferrerDiscovery;
  /** Where what earlier listings learned about referrers is kept (subjectCache.ts); without it every night reads again. */
  subjectCache?: SubjectCacheStore;
}

export interface ListingStats {
  repositories: number;
  manifests: number;
  indexes: number;
  pages: number;
  propertyLookups: number;
  /** Manifest documents or referrers lists read to find OCI referrers. */
  referrerLookups: number;
  /** Possible referrers whose document the subject cache spared. */
  referrerCacheHits: number;
  referrers: number;
}

/** Lists every repository and manifest of a live registry into the inventory model. */
export class AcrInventorySource implements InventorySource {
  readonly description: string;
  readonly stats: ListingStats = { repositories: 0, manifests: 0, indexes: 0, pages: 0, propertyLookups: 0, referrerLookups: 0, referrerCacheHits: 0, referrers: 0 };

  constructor(
    private readonly connection: RegistryConnection,
    private readonly options: ListingOptions,
  ) {
    this.description = `the registry ${connection.endpoint}`;
  }

  async load(signal?: AbortSignal, budget?: RunBudget): Promise<Inventory> {
    const retry = this.options.retry ?? DEFAULT_RETRY;
    const pacer = new RatePacer(this.options.readsPerMinute);
    const paging: Paging = { retry, pacer, signal, budget, timeoutMs: this.connection.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, documents: new ConcurrencyLimit(this.options.concurrency) };
    const subjects = await this.loadSubjects();
    if (subjects !== undefined) paging.subjects = subjects;
    let inventory: Inventory;
    try {
      inventory = await this.listAll(paging);
    } catch (error) {
      // What the documents read so far said is true all the same: kept (nothing pruned), so that a first listing
      // longer than the time budget gets further each night instead of starting over.
      await this.saveSubjects(subjects, undefined);
      throw error;
    }
    await this.saveSubjects(subjects, inventory.repositories);
    return inventory;
  }

  private async listAll(paging: Paging): Promise<Inventory> {
    const pageSize = this.options.pageSize ?? 1000;
    const catalogClient = createRegistryClient(this.connection);
    const names: string[] = [];
    await forEachPage(
      (continuationToken, abortSignal) => catalogClient.listRepositoryNames({ abortSignal }).byPage({ maxPageSize: pageSize, continuationToken }),
      (page) => {
        this.stats.pages++;
        names.push(...page);
      },
      paging,
    );
    names.sort();
    this.options.log?.(`listing ${names.length} repositories with ${this.options.concurrency} workers`);

    const repositories: (RepositoryInfo | undefined)[] = new Array(names.length);
    let loginServer = '';
    await forEachConcurrently(
      names,
      this.options.concurrency,
      async (name, client, index) => {
        paging.signal?.throwIfAborted();
        const listed = await this.listRepository(client, name, pageSize, paging);
        if (listed !== undefined) {
          repositories[index] = listed.repository;
          loginServer ||= listed.loginServer;
        }
      },
      () => createRegistryClient(this.connection),
    );
    const present = repositories.filter((repository): repository is RepositoryInfo => repository !== undefined);
    this.stats.repositories = present.length;
    return { registry: loginServer || new URL(this.connection.endpoint).host, repositories: present };
  }

  private async loadSubjects(): Promise<SubjectCache | undefined> {
    const store = this.options.subjectCache;
    if (store === undefined || (this.options.referrerDiscovery ?? DEFAULT_REFERRER_DISCOVERY) !== 'manifest-documents') return undefined;
    const { cache, note } = await loadSubjectCache(store, this.connection.endpoint);
    if (note !== undefined) this.options.log?.(`note: ${note}`);
    this.options.log?.(`referrer cache ${store.description}: ${cache.size} digest(s) known`);
    return cache;
  }

  /**
   * Pruned to the digests listed after a completed listing (`repositories`), kept whole after one that did not
   * complete. A failure to write it costs the next run's reads only.
   */
  private async saveSubjects(subjects: SubjectCache | undefined, repositories: RepositoryInfo[] | undefined): Promise<void> {
    const store = this.options.subjectCache;
    if (subjects === undefined || store === undefined) return;
    if (repositories !== undefined) subjects.retainOnly(new Set(repositories.flatMap((repository) => repository.manifests.map((manifest) => manifest.digest.toLowerCase()))));
    try {
      await store.write(subjects.serialize());
    } catch (error) {
      this.options.log?.(`warning: writing the referrer cache ${store.description} failed (${error instanceof Error ? error.message : String(error)}); the next listing reads those documents again`);
    }
  }

  /** One repository's manifests, with media types from the raw pages and the children of every index. */
  private async listRepository(client: ContainerRegistryClient, name: string, pageSize: number, paging: Paging) {
    const { retry, pacer, signal, budget, timeoutMs } = paging;
    const repository = client.getRepository(name);
    const manifests: ManifestInfo[] = [];
    const mediaTypes = new Map<string, string>();
    const configMediaTypes = new Map<string, string>();
    let loginServer = '';
    const onResponse = (raw: FullOperationResponse) => {
      if (raw.status !== 200 || raw.bodyAsText == null) return;
      const body = JSON.parse(raw.bodyAsText) as { registry?: string; manifests?: { digest: string; mediaType?: string; configMediaType?: string }[] };
      loginServer = body.registry ?? loginServer;
      for (const item of body.manifests ?? []) {
        if (item.mediaType !== undefined) mediaTypes.set(item.digest, item.mediaType);
        if (item.configMediaType !== undefined) configMediaTypes.set(item.digest, item.configMediaType);
      }
    };
    try {
      await forEachPage(
        (continuationToken, abortSignal) => repository.listManifestProperties({ abortSignal, onResponse }).byPage({ maxPageSize: pageSize, continuationToken }),
        (page) => {
          this.stats.pages++;
          for (const properties of page) manifests.push(toManifestInfo(properties, mediaTypes.get(properties.digest)));
        },
        paging,
      );
    } catch (error) {
      if (statusOf(error) === 404) {
        this.options.log?.(`repository ${name} disappeared while listing; skipped`);
        return undefined;
      }
      throw error;
    }
    for (const manifest of manifests) {
      if (manifest.mediaType === undefined || !INDEX_MEDIA_TYPES.has(manifest.mediaType)) continue;
      this.stats.indexes++;
      this.stats.propertyLookups++;
      try {
        const properties = await withRetries(
          async () => {
            await pacer.acquire(signal);
            return withRequestTimeout(timeoutMs, signal, (abortSignal) => client.getArtifact(name, manifest.digest).getManifestProperties({ abortSignal }));
          },
          retry,
          { budget, signal },
        );
        manifest.relatedArtifacts = (properties.relatedArtifacts ?? []).map((child) => ({
          digest: child.digest,
          architecture: child.architecture,
          operatingSystem: child.operatingSystem,
        }));
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
    }
    await discoverReferrers(
      manifests,
      {
        client,
        endpoint: this.connection.endpoint,
        repository: name,
        configMediaTypes,
        retry,
        pacer,
        signal,
        budget,
        timeoutMs,
        onLookup: () => this.stats.referrerLookups++,
        limit: paging.documents,
        subjects: paging.subjects,
        onCacheHit: () => this.stats.referrerCacheHits++,
      },
      this.options.referrerDiscovery ?? DEFAULT_REFERRER_DISCOVERY,
    );
    this.stats.referrers += manifests.filter((manifest) => manifest.subject !== undefined).length;
    manifests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    this.stats.manifests += manifests.length;
    return { repository: { name, manifests }, loginServer };
  }
}

function toManifestInfo(properties: ArtifactManifestProperties, mediaType: string | undefined): ManifestInfo {
  return {
    digest: properties.digest,
    sizeInBytes: properties.sizeInBytes ?? 0,
    createdOn: properties.createdOn,
    lastUpdatedOn: properties.lastUpdatedOn,
    tags: properties.tags ?? [],
    canDelete: properties.canDelete !== false && properties.canWrite !== false,
    mediaType,
    relatedArtifacts: [],
  };
}

type Page<T> = T[] & { continuationToken?: string };

interface Paging {
  retry: RetryPolicy;
  pacer: RatePacer;
  signal?: AbortSignal;
  budget?: RunBudget;
  timeoutMs: number;
  /** Manifest documents read at once, across all repositories. */
  documents?: ConcurrencyLimit;
  subjects?: SubjectCache;
}

/**
 * Walks a paged listing, one request (with its own time limit) per page; a transient failure resumes from the
 * last page that arrived rather than from the start, so a throttled listing of a large repository does not
 * repeat its pages. A Retry-After past the budget's end fails the listing at once instead of sleeping.
 */
async function forEachPage<T>(
  pages: (continuationToken: string | undefined, abortSignal: AbortSignal) => AsyncIterableIterator<Page<T>>,
  onPage: (page: Page<T>) => void,
  { retry, pacer, signal, budget, timeoutMs }: Paging,
): Promise<void> {
  let continuationToken: string | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      for (;;) {
        await pacer.acquire(signal);
        const { value: page, done } = await withRequestTimeout(timeoutMs, signal, (abortSignal) => pages(continuationToken, abortSignal).next());
        if (done) return;
        onPage(page);
        continuationToken = page.continuationToken;
        attempt = 1;
        if (continuationToken === undefined) return;
      }
    } catch (error) {
      if (attempt >= retry.maxAttempts || !isTransient(error)) throw error;
      const wait = waitWithinBudget(attempt, retry, error, budget);
      if (wait === undefined) throw error;
      if (statusOf(error) === 429) pacer.pause(retryAfterMs(error) ?? wait);
      await sleep(wait, signal);
    }
  }
}
