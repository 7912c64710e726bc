import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Inventory, ManifestInfo, RepositoryInfo } from '../../src/inventory.js';

/** A small, seeded PRNG (mulberry32): the same seed gives the same registry and logs everywhere. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomDigest(random: () => number): string {
  let hex = '';
  while (hex.length < 64) hex += Math.floor(random() * 0x100000000).toString(16).padStart(8, '0');
  return `sha256:${hex.slice(0, 64)}`;
}

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface LogRecordInput {
  time: Date;
  /** When the service received it; decides the hourly blob. Defaults to `time` plus a few seconds. */
  receivedAt?: Date;
  operationName: string;
  repository: string;
  digest: string;
  tag?: string;
  resultDescription?: string;
  userAgent?: string;
  registry: string;
  subscriptionId?: string;
  resourceGroup?: string;
}

export function registryResourceId(registry: string, subscriptionId = '00000000-0000-0000-0000-000000000000', resourceGroup = 'CI-CACHE'): string {
  return `/SUBSCRIPTIONS/${subscriptionId.toUpperCase()}/RESOURCEGROUPS/${resourceGroup.toUpperCase()}/PROVIDERS/MICROSOFT.CONTAINERREGISTRY/REGISTRIES/${registry.toUpperCase()}`;
}

/** Seven fractional digits, as the service writes them. */
export function logTime(date: Date, extraDigits = '0000'): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, `.$1${extraDigits}Z`);
}

/** A record in the shape of a real `ContainerRegistryRepositoryEvents` line (see docs/formats.md). */
export function logRecord(input: LogRecordInput): Record<string, unknown> {
  return {
    time: logTime(input.time),
    resourceId: registryResourceId(input.registry, input.subscriptionId, input.resourceGroup),
    operationName: input.operationName,
    category: 'ContainerRegistryRepositoryEvents',
    resultType: 'HttpStatusCode',
    resultDescription: input.resultDescription ?? (input.operationName === 'Push' ? '201' : '200'),
    durationMs: '38.212784',
    callerIpAddress: '10.1.0.4',
    correlationId: '8b2f2a51-6d1c-4c7a-9d0b-3f6f9c1e2a10',
    identity: 'c2c7e9f4-1b7a-4a53-9f3e-8f2b2b0f7a11',
    location: 'westeurope',
    properties: {
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
      repository: input.repository,
      tag: input.tag ?? input.digest,
      digest: input.digest,
      mediaType: OCI_MANIFEST,
      artifactType: '<nil>',
      size: '1577',
      userAgent: input.userAgent ?? 'docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.5.0-1025-azure os/linux arch/amd64 UpstreamClient(buildkit/v0.16.0)',
      loginServer: `${input.registry}.azurecr.io`,
    },
    RegionStamp: 'weu',
  };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The archive path of the hourly blob that a record received at `receivedAt` lands in. */
export function archiveBlobPath(resourceId: string, receivedAt: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `resourceId=${resourceId}/y=${receivedAt.getUTCFullYear()}/m=${pad(receivedAt.getUTCMonth() + 1)}/d=${pad(receivedAt.getUTCDate())}/h=${pad(receivedAt.getUTCHours())}/m=00/PT1H.json`;
}

/** Groups records into the archive's hourly JSON-lines blobs: path → text. */
export function archiveBlobs(records: LogRecordInput[]): Map<string, string> {
  const blobs = new Map<string, string[]>();
  for (const record of records) {
    const receivedAt = record.receivedAt ?? new Date(record.time.getTime() + 4_000);
    const path = archiveBlobPath(registryResourceId(record.registry, record.subscriptionId, record.resourceGroup), receivedAt);
    const lines = blobs.get(path) ?? [];
    lines.push(JSON.stringify(logRecord(record)));
    blobs.set(path, lines);
  }
  return new Map([...blobs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, lines]) => [path, lines.join('\n') + '\n']));
}

export async function writeArchiveTree(directory: string, blobs: Map<string, string>): Promise<void> {
  for (const [path, text] of blobs) {
    const file = join(directory, path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}

export interface CiCacheOptions {
  seed: number;
  registry: string;
  now: Date;
  repositories: number;
  manifestsPerRepository: number;
  /** Share of manifests that are multi-arch indexes (each adds two children). */
  multiArchShare?: number;
  lockedShare?: number;
  /** Share of manifests pulled in the history window. */
  activeShare?: number;
  historyDays: number;
  /** How far back creation times go. */
  ageDays?: number;
}

export interface CiCache {
  inventory: Inventory;
  records: LogRecordInput[];
}

/**
 * A CI image cache: per repository a mix of build-cache manifests, most unused, some pulled every night,
 * some multi-arch indexes, a few locked, a few pushed today, plus scanner pulls and failed pulls in the logs.
 */
export function generateCiCache(options: CiCacheOptions): CiCache {
  const random = prng(options.seed);
  const nowMs = options.now.getTime();
  const ageDays = options.ageDays ?? 60;
  const repositories: RepositoryInfo[] = [];
  const records: LogRecordInput[] = [];
  const teams = ['payments', 'search', 'checkout', 'platform', 'identity', 'mobile', 'data', 'web'];
  const components = ['api', 'worker', 'frontend', 'migrations', 'base', 'tools', 'gateway'];
  for (let r = 0; r < options.repositories; r++) {
    const name = `ci/${teams[r % teams.length]}/${components[Math.floor(r / teams.length) % components.length]}${r >= teams.length * components.length ? `-${r}` : ''}`;
    const manifests: ManifestInfo[] = [];
    const tagsUsed = new Set<string>();
    for (let m = 0; m < options.manifestsPerRepository; m++) {
      const createdMs = nowMs - Math.floor(random() * ageDays * DAY_MS);
      const isIndex = random() < (options.multiArchShare ?? 0.08);
      const locked = random() < (options.lockedShare ?? 0.03);
      const active = random() < (options.activeShare ?? 0.25);
      const drawn = m === 0 ? 'buildcache' : random() < 0.5 ? `pr-${1000 + Math.floor(random() * 9000)}` : undefined;
      // A tag names one manifest: a repeated draw leaves the manifest untagged (the draws stay the same).
      const tag = drawn === undefined || tagsUsed.has(drawn) ? undefined : drawn;
      if (tag !== undefined) tagsUsed.add(tag);
      const children: ManifestInfo[] = [];
      if (isIndex) {
        for (const architecture of ['amd64', 'arm64']) {
          children.push({
            digest: randomDigest(random),
            sizeInBytes: 50_000_000 + Math.floor(random() * 400_000_000),
            createdOn: new Date(createdMs),
            lastUpdatedOn: new Date(createdMs),
            tags: [],
            canDelete: true,
            mediaType: OCI_MANIFEST,
            relatedArtifacts: [],
          });
          void architecture;
        }
      }
      const manifest: ManifestInfo = {
        digest: randomDigest(random),
        sizeInBytes: isIndex ? children.reduce((sum, child) => sum + child.sizeInBytes, 0) + 1_200 : 20_000_000 + Math.floor(random() * 600_000_000),
        createdOn: new Date(createdMs),
        lastUpdatedOn: new Date(createdMs),
        tags: tag === undefined ? [] : [tag],
        canDelete: !locked,
        mediaType: isIndex ? OCI_INDEX : random() < 0.5 ? OCI_MANIFEST : DOCKER_MANIFEST,
        relatedArtifacts: children.map((child, index) => ({ digest: child.digest, architecture: index === 0 ? 'amd64' : 'arm64', operatingSystem: 'linux' })),
      };
      manifests.push(manifest, ...children);
      records.push({ time: new Date(createdMs), operationName: 'Push', repository: name, digest: manifest.digest, tag, registry: options.registry });
      if (active) {
        const pulls = 1 + Math.floor(random() * 6);
        for (let p = 0; p < pulls; p++) {
          const time = new Date(nowMs - Math.floor(random() * options.historyDays * DAY_MS));
          if (time.getTime() < createdMs) continue;
          records.push({ time, operationName: 'Pull', repository: name, digest: manifest.digest, tag, registry: options.registry });
          const child = children[Math.floor(random() * children.length)];
          if (child) records.push({ time: new Date(time.getTime() + 150), operationName: 'Pull', repository: name, digest: child.digest, registry: options.registry });
        }
      }
      if (random() < 0.15) {
        records.push({
          time: new Date(nowMs - Math.floor(random() * options.historyDays * DAY_MS)),
          operationName: 'Pull',
          repository: name,
          digest: manifest.digest,
          registry: options.registry,
          userAgent: 'Trivy/0.56.2 (linux; amd64)',
        });
      }
      if (random() < 0.05) {
        records.push({
          time: new Date(nowMs - Math.floor(random() * options.historyDays * DAY_MS)),
          operationName: 'Pull',
          repository: name,
          digest: manifest.digest,
          registry: options.registry,
          resultDescription: '404',
        });
      }
    }
    manifests.sort((a, b) => (a.digest < b.digest ? -1 : 1));
    repositories.push({ name, manifests });
  }
  repositories.sort((a, b) => (a.name < b.name ? -1 : 1));
  records.sort((a, b) => a.time.getTime() - b.time.getTime());
  return { inventory: { registry: `${options.registry}.azurecr.io`, repositories }, records };
}
