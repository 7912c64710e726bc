import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';

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
    const problems = parsed.error.issues.slice(0, 10).map((issue) => `  ${formatPath(issue.path)}: ${issue.message}`);
    throw new InventoryFileError(`${source} is not a valid inventory snapshot:\n${problems.join('\n')}`);
  }
  const seen = new Set<string>();
  for (const repository of parsed.data.repositories) {
    if (seen.has(repository.name)) throw new InventoryFileError(`${source}: repository ${repository.name} is listed twice`);
    seen.add(repository.name);
  }
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
