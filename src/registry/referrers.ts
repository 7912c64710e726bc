import type { ContainerRegistryClient } from '@azure/container-registry';
import { createHttpHeaders, createPipelineRequest, RestError, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { ConcurrencyLimit, forEachConcurrently } from '../concurrency.js';
import type { ManifestInfo } from '../inventory.js';
import { withRequestTimeout, type RunBudget } from './budget.js';
import type { RatePacer } from './pacer.js';
import { backoffMs, retryAfterMs, withRetries, type RetryPolicy } from './retry.js';
import type { SubjectCache, SubjectEntry } from './subjectCache.js';

/**
 * How the listing learns which manifests are OCI referrers (signatures, SBOMs, attestations) and of what:
 * - `manifest-documents`: read the document (`GET /v2/<repo>/manifests/<digest>`) of each manifest whose listing
 *   says it can be a referrer, and take its `subject`;
 * - `referrers-api`: ask the OCI referrers API (`GET /v2/<repo>/referrers/<digest>`) of every manifest.
 * docs/performance.md has the figures that chose the default. ACR logs a manifest GET as a pull; this tool's
 * user agent never counts as an access, so reading documents cannot keep anything alive.
 */
export type ReferrerDiscovery = 'manifest-documents' | 'referrers-api';
export const DEFAULT_REFERRER_DISCOVERY: ReferrerDiscovery = 'manifest-documents';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const ORAS_ARTIFACT_MANIFEST = 'application/vnd.oci.artifact.manifest.v1+json';
const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

export interface ReferrerLookup {
  client: ContainerRegistryClient;
  endpoint: string;
  repository: string;
  /** Config media types from the raw listing, where it gave one. */
  configMediaTypes: Map<string, string>;
  retry: RetryPolicy;
  pacer: RatePacer;
  signal?: AbortSignal;
  budget?: RunBudget;
  /** Each request's own time limit. */
  timeoutMs: number;
  /** Counted per request sent. */
  onLookup: () => void;
  /** Documents read at once, across the whole listing (default: one at a time). */
  limit?: ConcurrencyLimit;
  /** What earlier runs read, by digest; each document read here is added to it. */
  subjects?: SubjectCache;
  /** Counted per manifest whose document the cache spared. */
  onCacheHit?: () => void;
}

/**
 * Whether the listing allows a manifest to be a referrer: only OCI manifests carry a `subject` (Docker v2 ones
 * cannot), and a referrer is pushed untagged, or as an artifact (a config that is not an image's). A child of
 * an index is a platform image, not a referrer.
 */
export function mayBeReferrer(manifest: ManifestInfo, configMediaType: string | undefined, indexChildren: ReadonlySet<string>): boolean {
  if (manifest.mediaType === ORAS_ARTIFACT_MANIFEST) return true;
  if (manifest.mediaType !== OCI_MANIFEST && manifest.mediaType !== OCI_INDEX) return false;
  if (indexChildren.has(manifest.digest)) return false;
  return manifest.tags.length === 0 || (configMediaType !== undefined && !IMAGE_CONFIGS.has(configMediaType));
}

/** Sets `subject` and `artifactType` on the referrers among `manifests` (one repository's). */
export async function discoverReferrers(manifests: ManifestInfo[], lookup: ReferrerLookup, how: ReferrerDiscovery): Promise<void> {
  if (how === 'manifest-documents') await fromManifestDocuments(manifests, lookup);
  else await fromReferrersApi(manifests, lookup);
}

/**
 * Reads the documents the cache does not know, up to the listing's concurrency at once. The first is read alone:
 * it fetches the token for the repository's pull scope, which the others then share. Each read sets only its own
 * manifest, so the result does not depend on the order the answers arrive in.
 */
async function fromManifestDocuments(manifests: ManifestInfo[], lookup: ReferrerLookup): Promise<void> {
  const indexChildren = new Set(manifests.flatMap((manifest) => manifest.relatedArtifacts.map((child) => child.digest)));
  const unknown: ManifestInfo[] = [];
  for (const manifest of manifests) {
    if (!mayBeReferrer(manifest, lookup.configMediaTypes.get(manifest.digest), indexChildren)) continue;
    const cached = lookup.subjects?.get(manifest.digest);
    if (cached === undefined) {
      unknown.push(manifest);
      continue;
    }
    lookup.onCacheHit?.();
    applySubject(manifest, cached);
  }
  const limit = lookup.limit ?? new ConcurrencyLimit(1);
  const learn = async (manifest: ManifestInfo) => {
    const entry = await limit.run(() => readSubject(lookup, manifest.digest));
    if (entry === undefined) return;
    lookup.subjects?.set(manifest.digest, entry);
    applySubject(manifest, entry);
  };
  if (unknown.length === 0) return;
  await learn(unknown[0]!);
  await forEachConcurrently(unknown.slice(1), limit.max, learn);
}

/** What a manifest's document says about being a referrer; undefined when the manifest is gone (404). */
async function readSubject(lookup: ReferrerLookup, digest: string): Promise<SubjectEntry | undefined> {
  const path = `/v2/${encodeURIComponent(lookup.repository)}/manifests/${encodeURIComponent(digest)}`;
  const document = await getJson(lookup, path, [OCI_MANIFEST, OCI_INDEX, ORAS_ARTIFACT_MANIFEST].join(', '));
  if (document === undefined) return undefined;
  const subject = field(field(document, 'subject'), 'digest');
  if (typeof subject !== 'string') return null;
  const artifactType = field(document, 'artifactType') ?? field(field(document, 'config'), 'mediaType');
  return { subject: subject.toLowerCase(), ...(typeof artifactType === 'string' ? { artifactType } : {}) };
}

function applySubject(manifest: ManifestInfo, entry: SubjectEntry): void {
  if (entry === null) return;
  manifest.subject = entry.subject;
  if (entry.artifactType !== undefined) manifest.artifactType = entry.artifactType;
}

async function fromReferrersApi(manifests: ManifestInfo[], lookup: ReferrerLookup): Promise<void> {
  const byDigest = new Map(manifests.map((manifest) => [manifest.digest, manifest]));
  for (const subject of manifests) {
    const index = await getJson(lookup, `/v2/${encodeURIComponent(lookup.repository)}/referrers/${encodeURIComponent(subject.digest)}`, OCI_INDEX);
    const descriptors = field(index, 'manifests');
    if (!Array.isArray(descriptors)) continue;
    for (const descriptor of descriptors) {
      const referrer = byDigest.get(String(field(descriptor, 'digest')));
      if (referrer === undefined) continue;
      referrer.subject = subject.digest;
      const artifactType = field(descriptor, 'artifactType');
      if (typeof artifactType === 'string') referrer.artifactType = artifactType;
    }
  }
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[name] : undefined;
}

/** A GET through the SDK client's own pipeline (its ACR token exchange, retries, user agent); undefined for a 404. */
async function getJson(lookup: ReferrerLookup, path: string, accept: string): Promise<unknown> {
  return withRetries(
    async () => {
      await lookup.pacer.acquire(lookup.signal);
      lookup.onLookup();
      const { request, response } = await withRequestTimeout(lookup.timeoutMs, lookup.signal, async (abortSignal) => {
        const request = createPipelineRequest({ url: `${lookup.endpoint}${path}`, method: 'GET', headers: createHttpHeaders({ Accept: accept }), abortSignal });
        return { request, response: await sendThroughSdk(lookup.client, request) };
      });
      if (response.status === 404) return undefined;
      if (response.status !== 200) {
        const error = new RestError(`GET ${path} answered HTTP ${response.status}`, { statusCode: response.status, request, response });
        // Everyone holds back for the Retry-After, not only this request's retry.
        if (response.status === 429) lookup.pacer.pause(retryAfterMs(error) ?? backoffMs(1, lookup.retry, error));
        throw error;
      }
      try {
        return JSON.parse(response.bodyAsText ?? '') as unknown;
      } catch {
        throw new RestError(`GET ${path} answered a body that is not JSON`, { statusCode: response.status, request, response });
      }
    },
    lookup.retry,
    { budget: lookup.budget, signal: lookup.signal },
  );
}

/**
 * `@azure/container-registry` has no call for the referrers API, and its manifest download (a content client per
 * repository, with a token cache of its own) does not accept the ORAS artifact manifest type and insists on a
 * document whose hash is the digest, which the project's emulator cannot serve for seeded digests. The registry
 * client's authenticated pipeline is a `ServiceClient`, whose `sendRequest` is public: it is reached through the
 * client, and a version of the SDK without it fails here loudly (the emulator tests would show it).
 */
function sendThroughSdk(client: ContainerRegistryClient, request: PipelineRequest): Promise<PipelineResponse> {
  const inner = (client as unknown as { client?: { sendRequest?: (request: PipelineRequest) => Promise<PipelineResponse> } }).client;
  if (typeof inner?.sendRequest !== 'function') {
    throw new Error('this @azure/container-registry has no inner ServiceClient to read manifest documents through (known to work with 1.1.x)');
  }
  return inner.sendRequest(request);
}
