import { AccessCounts } from '../../src/accessLog/counts.js';
import type { Inventory, ManifestInfo } from '../../src/inventory.js';
import type { Policy } from '../../src/plan/policy.js';

export const NOW = new Date('2026-11-27T02:00:00Z');
export const DAY = 86_400_000;

export function digestOf(label: string | number): string {
  const hex = Buffer.from(String(label)).toString('hex');
  return `sha256:${hex.padEnd(64, '0').slice(0, 64)}`;
}

export function manifest(label: string | number, overrides: Partial<ManifestInfo> = {}): ManifestInfo {
  const old = new Date(NOW.getTime() - 30 * DAY);
  return { digest: digestOf(label), sizeInBytes: 1000, createdOn: old, lastUpdatedOn: old, tags: [], canDelete: true, relatedArtifacts: [], ...overrides };
}

export function inventoryOf(repositories: Record<string, ManifestInfo[]>): Inventory {
  return { registry: 'cicache.azurecr.io', repositories: Object.entries(repositories).map(([name, manifests]) => ({ name, manifests })) };
}

/**
 * Access counts with fresh evidence, so the log guards pass: a pull one hour ago of a manifest in a repository
 * no inventory here has (`heartbeat`).
 */
export function accessesOf(entries: [repository: string, digest: string, count: number, daysAgo?: number][] = []): AccessCounts {
  const counts = new AccessCounts();
  counts.sawRecord(NOW.getTime() - 3_600_000, true);
  counts.add('heartbeat', digestOf('heartbeat'), NOW.getTime() - 3_600_000);
  for (const [repository, digest, count, daysAgo = 1] of entries) counts.add(repository, digest, NOW.getTime() - daysAgo * DAY, count);
  return counts;
}

export function policyOf(overrides: Partial<Policy> = {}): Policy {
  return { historyDays: 7, minAccessCount: 1, graceDays: 7, logMaxStalenessHours: 24, logMaxUnusablePercent: 0.1, maxDeletePercent: 100, ...overrides };
}

export const MEDIA_TYPES = {
  cosignSignature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  spdxSbom: 'application/spdx+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** An OCI referrer (a signature unless told) of the manifest labelled `subject`. */
export function referrerOf(label: string, subject: string, artifactType: string = MEDIA_TYPES.cosignSignature): ManifestInfo {
  return manifest(label, { subject: digestOf(subject), artifactType, sizeInBytes: 300 });
}
