import type { Inventory, InventorySnapshot } from '../../../src/inventory.js';
import { inventoryFromSnapshot } from '../../../src/inventory.js';

export interface ChangeableAttributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
  quarantineDetails?: string;
  quarantineState?: string;
}

export interface EmulatedManifest {
  digest: string;
  imageSize: number;
  /** As the service writes them: UTC, up to 7 fractional digits, trailing zeros trimmed. */
  createdTime: string;
  lastUpdateTime: string;
  architecture?: string;
  os?: string;
  mediaType: string;
  configMediaType?: string;
  changeableAttributes: ChangeableAttributes;
  /** Children of an index (`references` in the single-manifest GET). */
  references?: { digest: string; architecture?: string; os?: string }[];
  /** The manifest this one refers to (a signature, an SBOM): deleted with it. */
  subject?: string;
  /** An OCI 1.1 artifact's type (the manifest's `artifactType`); the referrers API falls back to the config's media type. */
  artifactType?: string;
}

export interface EmulatedTag {
  name: string;
  digest: string;
  createdTime: string;
  lastUpdateTime: string;
  signed: boolean;
  changeableAttributes: ChangeableAttributes;
}

export interface EmulatedRepository {
  name: string;
  createdTime: string;
  lastUpdateTime: string;
  manifests: Map<string, EmulatedManifest>;
  tags: Map<string, EmulatedTag>;
}

/** The config media type the OCI image spec prescribes for an artifact without a config of its own. */
export const EMPTY_CONFIG_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export const INDEX_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
]);

export function serviceTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, (_, ms: string) => (/^0+$/.test(ms) ? 'Z' : `.${ms.replace(/0+$/, '')}Z`));
}

export const UNLOCKED: ChangeableAttributes = { deleteEnabled: true, writeEnabled: true, readEnabled: true, listEnabled: true };

export type DeleteOutcome = { status: 'deleted'; tagsDeleted: string[] } | { status: 'locked' } | { status: 'unknown-repository' } | { status: 'unknown-manifest' };

/** The registry's content and the service's rules for changing it. */
export class RegistryState {
  readonly repositories = new Map<string, EmulatedRepository>();

  repository(name: string, createdTime = serviceTime(new Date())): EmulatedRepository {
    let repository = this.repositories.get(name);
    if (repository === undefined) {
      repository = { name, createdTime, lastUpdateTime: createdTime, manifests: new Map(), tags: new Map() };
      this.repositories.set(name, repository);
    }
    return repository;
  }

  addManifest(repositoryName: string, manifest: EmulatedManifest, tags: string[] = []): void {
    const repository = this.repository(repositoryName, manifest.createdTime);
    repository.manifests.set(manifest.digest, manifest);
    for (const name of tags) {
      repository.tags.set(name, {
        name,
        digest: manifest.digest,
        createdTime: manifest.createdTime,
        lastUpdateTime: manifest.lastUpdateTime,
        signed: false,
        changeableAttributes: { ...UNLOCKED },
      });
    }
  }

  /** Manifests of the repository whose `subject` is `digest`, sorted by digest. */
  referrersOf(repository: EmulatedRepository, digest: string): EmulatedManifest[] {
    return this.sortedManifests(repository).filter((manifest) => manifest.subject === digest);
  }

  tagsOf(repository: EmulatedRepository, digest: string): string[] {
    const names: string[] = [];
    for (const tag of repository.tags.values()) if (tag.digest === digest) names.push(tag.name);
    return names.sort();
  }

  sortedRepositoryNames(): string[] {
    return [...this.repositories.keys()].sort();
  }

  sortedManifests(repository: EmulatedRepository): EmulatedManifest[] {
    return [...repository.manifests.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }

  /**
   * Deleting by digest removes the manifest and all its tags, and its referrers (server-side); an index's
   * children stay. A locked manifest (delete or write disabled) is refused.
   */
  deleteManifest(repositoryName: string, digest: string): DeleteOutcome {
    const repository = this.repositories.get(repositoryName);
    if (repository === undefined) return { status: 'unknown-repository' };
    const manifest = repository.manifests.get(digest);
    if (manifest === undefined) return { status: 'unknown-manifest' };
    if (!manifest.changeableAttributes.deleteEnabled || !manifest.changeableAttributes.writeEnabled) return { status: 'locked' };
    const tagsDeleted: string[] = [];
    const remove = (target: string) => {
      repository.manifests.delete(target);
      for (const [name, tag] of repository.tags) {
        if (tag.digest === target) {
          repository.tags.delete(name);
          tagsDeleted.push(name);
        }
      }
      for (const other of [...repository.manifests.values()]) if (other.subject === target) remove(other.digest);
    };
    remove(digest);
    if (repository.manifests.size === 0) this.repositories.delete(repositoryName);
    return { status: 'deleted', tagsDeleted };
  }

  /** Seeds from an inventory snapshot (the CLI's `--inventory` format). */
  static fromInventory(inventory: Inventory): RegistryState {
    const state = new RegistryState();
    for (const repository of inventory.repositories) {
      for (const manifest of repository.manifests) {
        const children = manifest.relatedArtifacts;
        state.addManifest(
          repository.name,
          {
            digest: manifest.digest,
            imageSize: manifest.sizeInBytes,
            createdTime: serviceTime(manifest.createdOn),
            lastUpdateTime: serviceTime(manifest.lastUpdatedOn),
            mediaType: manifest.mediaType ?? (children.length > 0 ? 'application/vnd.oci.image.index.v1+json' : OCI_MANIFEST_MEDIA_TYPE),
            ...(children.length > 0 || manifest.subject !== undefined ? {} : { architecture: 'amd64', os: 'linux' }),
            ...(manifest.subject !== undefined ? { subject: manifest.subject, artifactType: manifest.artifactType, configMediaType: EMPTY_CONFIG_MEDIA_TYPE } : {}),
            changeableAttributes: { ...UNLOCKED, deleteEnabled: manifest.canDelete, writeEnabled: manifest.canDelete },
            references: children.length > 0 ? children.map((child) => ({ digest: child.digest, architecture: child.architecture, os: child.operatingSystem })) : undefined,
          },
          manifest.tags,
        );
      }
    }
    return state;
  }

  static fromSnapshot(snapshot: InventorySnapshot): RegistryState {
    return RegistryState.fromInventory(inventoryFromSnapshot(snapshot));
  }

  /** The current content as an inventory snapshot, for assertions. */
  toSnapshot(registry: string): InventorySnapshot {
    return {
      registry,
      repositories: this.sortedRepositoryNames().map((name) => {
        const repository = this.repositories.get(name)!;
        return {
          name,
          manifests: this.sortedManifests(repository).map((manifest) => ({
            digest: manifest.digest,
            sizeInBytes: manifest.imageSize,
            createdOn: new Date(manifest.createdTime).toISOString(),
            lastUpdatedOn: new Date(manifest.lastUpdateTime).toISOString(),
            tags: this.tagsOf(repository, manifest.digest),
            canDelete: manifest.changeableAttributes.deleteEnabled && manifest.changeableAttributes.writeEnabled,
            mediaType: manifest.mediaType,
            relatedArtifacts: (manifest.references ?? []).map((child) => ({ digest: child.digest, architecture: child.architecture, operatingSystem: child.os })),
            ...(manifest.subject !== undefined ? { subject: manifest.subject } : {}),
            ...(manifest.subject !== undefined && manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
          })),
        };
      }),
    };
  }
}
