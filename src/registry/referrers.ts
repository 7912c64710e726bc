import type { ContainerRegistryClient } from '@azure/container-registry';
import { createHttpHeaders, createPipelineRequest, RestError, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import type { ManifestInfo } from '../inventory.js';
import { withRequestTimeout, type RunBudget } from './budget.js';
import type { RatePacer } from './pacer.js';
import { withRetries, type RetryPolicy } from './retry.js';

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

async function fromManifestDocuments(manifests: ManifestInfo[], lookup: ReferrerLookup): Promise<void> {
  const indexChildren = new Set(manifests.flatMap((manifest) => manifest.relatedArtifacts.map((child) => child.digest)));
  for (const manifest of manifests) {
    if (!mayBeReferrer(manifest, lookup.configMediaTypes.get(manifest.digest), indexChildren)) continue;
    const document = await getJson(lookup, `/v2/${encodeURIComponent(lookup.repository)}/manifests/${encodeURIComponent(manifest.digest)}`, [OCI_MANIFEST, OCI_INDEX, ORAS_ARTIFACT_MANIFEST].join(', '));
    const subject = field(field(document, 'subject'), 'digest');
    if (typeof subject !== 'string') continue;
    manifest.subject = subject.toLowerCase();
    const artifactType = field(document, 'artifactType') ?? field(field(document, 'config'), 'mediaType');
    if (typeof artifactType === 'string') manifest.artifactType = artifactType;
  }
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
      if (response.status !== 200) throw new RestError(`GET ${path} answered HTTP ${response.status}`, { statusCode: response.status, request, response });
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
