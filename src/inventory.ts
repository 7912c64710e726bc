import { readFile, writeFile } from 'node:fs/promises';
import * as z from 'zod';
import { parseRegistry } from './config.js';

/** A child of an index (multi-arch manifest list), as `@azure/container-registry` names it. */
export interface RelatedArtifact {
  digest: string;
  architecture?: string;
  operatingSystem?: string;
}

/** One manifest, with the field names of the SDK's `ArtifactManifestProperties`. */
export interface ManifestInfo {
  digest: string;
  sizeInBytes: number;
  createdOn: Date;
  lastUpdatedOn: Date;
  tags: string[];
  /** False when the registry reports `deleteEnabled` or `writeEnabled` false (a locked manifest). */
  canDelete: boolean;
  mediaType?: string;
  relatedArtifacts: RelatedArtifact[];
  /** The manifest this one refers to, when it is an OCI referrer (a signature, an SBOM): deleted with it. */
  subject?: string;
  /** The referrer's artifact type (its `artifactType`, else its config's media type), when known. */
  artifactType?: string;
}

export interface RepositoryInfo {
  name: string;
  manifests: ManifestInfo[];
}

export interface Inventory {
  /** The login server (`myregistry.azurecr.io`) or the endpoint the inventory was listed from. */
  registry: string;
  repositories: RepositoryInfo[];
}

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256: followed by 64 lower-case hex digits');
const isoTime = z.iso.datetime({ offset: true });

const manifestSnapshot = z.object({
  digest,
  sizeInBytes: z.number().int().nonnegative(),
  createdOn: isoTime,
  lastUpdatedOn: isoTime,
  tags: z.array(z.string()).default([]),
  canDelete: z.boolean().default(true),
  mediaType: z.string().optional(),
  relatedArtifacts: z
    .array(z.object({ digest, architecture: z.string().optional(), operatingSystem: z.string().optional() }))
    .default([]),
  subject: digest.optional(),
  artifactType: z.string().min(1).optional(),
});

const inventorySnapshot = z.object({
  registry: z.string().min(1),
  repositories: z.array(z.object({ name: z.string().min(1), manifests: z.array(manifestSnapshot) })),
});

export type InventorySnapshot = z.input<typeof inventorySnapshot>;

export class InventoryFileError extends Error {
  override readonly name = 'InventoryFileError';
}

/** Validates a parsed snapshot document; every problem names its JSON path. */
export function inventoryFromSnapshot(document: unknown, source = 'inventory'): Inventory {
  const parsed = inventorySnapshot.safeParse(document);
  if (!parsed.success) {
    throw snapshotError(source, parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`));
  }
  const problems = inconsistencies(parsed.data);
  if (problems.length > 0) throw snapshotError(source, problems);
  return {
    registry: parsed.data.registry,
    repositories: parsed.data.repositories.map((repository) => ({
      name: repository.name,
      manifests: repository.manifests.map((manifest) => ({
        ...manifest,
        createdOn: new Date(manifest.createdOn),
        lastUpdatedOn: new Date(manifest.lastUpdatedOn),
      })),
    })),
  };
}

function snapshotError(source: string, problems: string[]): InventoryFileError {
  const shown = problems.slice(0, 10).map((problem) => `  ${problem}`);
  if (problems.length > 10) shown.push(`  … and ${problems.length - 10} more`);
  return new InventoryFileError(`${source} is not a valid inventory snapshot:\n${shown.join('\n')}`);
}

type ParsedSnapshot = z.output<typeof inventorySnapshot>;

/**
 * What a registry cannot hold: a repository twice (names compare case-insensitively, as the logs do), a digest
 * twice in a repository, a tag on two manifests, and a manifest that refers to itself through its children or its
 * subject (manifests are content-addressed, so no chain of references can come back to where it started).
 */
function inconsistencies(snapshot: ParsedSnapshot): string[] {
  const problems: string[] = [];
  const repositoryAt = new Map<string, number>();
  snapshot.repositories.forEach((repository, r) => {
    const at = `repositories[${r}]`;
    const key = repository.name.toLowerCase();
    const first = repositoryAt.get(key);
    if (first !== undefined) problems.push(`${at}.name: repository ${JSON.stringify(repository.name)} is listed twice (also repositories[${first}])`);
    else repositoryAt.set(key, r);

    const digestAt = new Map<string, number>();
    const tagAt = new Map<string, number>();
    repository.manifests.forEach((manifest, m) => {
      const here = `${at}.manifests[${m}]`;
      const firstDigest = digestAt.get(manifest.digest);
      if (firstDigest !== undefined) problems.push(`${here}.digest: ${manifest.digest} is listed twice in ${repository.name} (also manifests[${firstDigest}])`);
      else digestAt.set(manifest.digest, m);
      manifest.tags.forEach((tag, t) => {
        const other = tagAt.get(tag);
        if (other !== undefined && other !== m) problems.push(`${here}.tags[${t}]: tag ${JSON.stringify(tag)} is also on manifests[${other}]: a tag names one manifest`);
        else tagAt.set(tag, m);
      });
    });
    problems.push(...referenceCycles(repository.manifests, digestAt, at));
  });
  return problems;
}

/** Manifests whose children or subject lead back to themselves. */
function referenceCycles(manifests: ParsedSnapshot['repositories'][number]['manifests'], digestAt: Map<string, number>, at: string): string[] {
  const problems: string[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const referencesOf = (m: number): { index: number; field: string }[] => {
    const manifest = manifests[m]!;
    const references = manifest.relatedArtifacts.map((child, c) => ({ digest: child.digest, field: `relatedArtifacts[${c}].digest` }));
    if (manifest.subject !== undefined) references.push({ digest: manifest.subject, field: 'subject' });
    return references.flatMap(({ digest, field }) => {
      const index = digestAt.get(digest);
      return index === undefined ? [] : [{ index, field }];
    });
  };
  // Depth-first, with an explicit stack: a snapshot may hold chains deeper than the call stack.
  for (let root = 0; root < manifests.length; root++) {
    if (state.has(root)) continue;
    const stack = [{ m: root, references: referencesOf(root), next: 0 }];
    state.set(root, 'visiting');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const reference = frame.references[frame.next++];
      if (reference === undefined) {
        state.set(frame.m, 'done');
        stack.pop();
        continue;
      }
      const { index, field } = reference;
      if (state.get(index) === 'visiting') {
        problems.push(
          index === frame.m
            ? `${at}.manifests[${frame.m}].${field}: the manifest refers to itself`
            : `${at}.manifests[${frame.m}].${field}: leads back to manifests[${index}], which refers to it in turn: manifests are content-addressed and cannot refer to each other in a circle`,
        );
      } else if (!state.has(index)) {
        state.set(index, 'visiting');
        stack.push({ m: index, references: referencesOf(index), next: 0 });
      }
    }
  }
  return problems;
}

export function inventoryToSnapshot(inventory: Inventory): InventorySnapshot {
  return {
    registry: inventory.registry,
    repositories: inventory.repositories.map((repository) => ({
      name: repository.name,
      manifests: repository.manifests.map((manifest) => ({
        ...manifest,
        createdOn: manifest.createdOn.toISOString(),
        lastUpdatedOn: manifest.lastUpdatedOn.toISOString(),
      })),
    })),
  };
}

export async function readInventoryFile(path: string): Promise<Inventory> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InventoryFileError(`cannot read the inventory file ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new InventoryFileError(`the inventory file ${path} is not JSON: ${(error as Error).message}`);
  }
  return inventoryFromSnapshot(document, path);
}

export async function writeInventoryFile(path: string, inventory: Inventory): Promise<void> {
  await writeFile(path, JSON.stringify(inventoryToSnapshot(inventory), null, 2) + '\n');
}

export function countManifests(inventory: Inventory): number {
  return inventory.repositories.reduce((sum, repository) => sum + repository.manifests.length, 0);
}

function formatPath(path: PropertyKey[]): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`)).join('') || '(document)';
}

/**
 * The registry's name as its logs carry it (`cicache` for `cicache.azurecr.io`), from a snapshot's `registry`;
 * undefined when that is an address (an emulator's `127.0.0.1:PORT`) rather than a registry's name.
 */
export function registryNameOf(inventory: Pick<Inventory, 'registry'>): string | undefined {
  const { registry } = inventory;
  return (parseRegistry(registry) ?? parseRegistry(`https://${registry}`))?.name;
}
