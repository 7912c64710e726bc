import type { Inventory, ManifestInfo } from '../inventory.js';
import { checkDeletionShare, checkLogs, type GuardRefusal, type LogEvidence } from './guards.js';
import { DAY_MS, type Policy } from './policy.js';

export const KEEP_REASONS = ['out-of-scope', 'locked', 'protected', 'accessed', 'fresh', 'referenced', 'deferred'] as const;
export type KeepReason = (typeof KEEP_REASONS)[number];
/** Why a manifest goes: accessed fewer than the minimum times, not fresh, not needed by a kept index. */
export type DeleteReason = 'unused';

export interface Decision {
  repository: string;
  digest: string;
  tags: string[];
  sizeInBytes: number;
  mediaType?: string;
  createdOn: Date;
  lastUpdatedOn: Date;
  /** Successful pulls and pushes in the window (for an index: the most of it and its children). */
  accessCount: number;
  lastAccessMs?: number;
  action: 'keep' | 'delete';
  reason: KeepReason | DeleteReason;
  /** Indexes in the same repository that this plan deletes too and that must be deleted first. */
  deleteAfter: string[];
}

export interface AccessLookup extends LogEvidence {
  get(repository: string, digest: string): { count: number; lastAccessMs: number } | undefined;
}

export interface PlanInput {
  inventory: Inventory;
  accesses: AccessLookup;
  policy: Policy;
  now: Date;
}

export interface Plan {
  now: Date;
  policy: Policy;
  /** One decision per manifest, in inventory order. */
  decisions: Decision[];
  /** What to delete, in order: least recently used first, an index before its children. Empty when aborted. */
  deletions: Decision[];
  /** The guard that refused the pass, or null. */
  aborted: GuardRefusal | null;
  inScope: number;
  /** Manifests that the rules alone would delete (before the per-run cap). */
  candidates: number;
}

/** Decides, for every manifest of the inventory, whether it goes and why. Pure: no I/O, no clock. */
export function planCleanup({ inventory, accesses, policy, now }: PlanInput): Plan {
  const graceStartMs = now.getTime() - policy.graceDays * DAY_MS;
  const decisions: Decision[] = [];
  const candidates: Decision[] = [];
  const parentsOf = new Map<Decision, Decision[]>();
  let inScope = 0;

  for (const repository of inventory.repositories) {
    const inRepositoryScope = policy.repositoryFilter === undefined || policy.repositoryFilter.test(repository.name);
    const byDigest = new Map(repository.manifests.map((manifest) => [manifest.digest, manifest]));
    const unitAccess = unitAccessOf(repository.name, byDigest, accesses);
    const local = new Map<string, Decision>();

    for (const manifest of repository.manifests) {
      const access = unitAccess(manifest);
      const reason = initialReason(manifest, inRepositoryScope, access.count, policy, graceStartMs);
      if (inRepositoryScope) inScope++;
      const decision: Decision = {
        repository: repository.name,
        digest: manifest.digest,
        tags: manifest.tags,
        sizeInBytes: manifest.sizeInBytes,
        mediaType: manifest.mediaType,
        createdOn: manifest.createdOn,
        lastUpdatedOn: manifest.lastUpdatedOn,
        accessCount: access.count,
        lastAccessMs: access.lastAccessMs,
        action: reason === 'unused' ? 'delete' : 'keep',
        reason,
        deleteAfter: [],
      };
      decisions.push(decision);
      local.set(manifest.digest, decision);
    }

    keepChildrenOfKeptIndexes(repository.manifests, local);

    for (const manifest of repository.manifests) {
      const decision = local.get(manifest.digest)!;
      for (const child of manifest.relatedArtifacts) {
        const childDecision = local.get(child.digest);
        if (decision.action === 'delete' && childDecision?.action === 'delete') {
          const parents = parentsOf.get(childDecision) ?? [];
          parents.push(decision);
          parentsOf.set(childDecision, parents);
        }
      }
    }
    for (const decision of local.values()) if (decision.action === 'delete') candidates.push(decision);
  }

  const ordered = orderForDeletion(candidates, parentsOf);
  const cap = policy.maxDeletes ?? Number.POSITIVE_INFINITY;
  const deletions: Decision[] = [];
  for (const decision of ordered) {
    if (deletions.length < cap) {
      decision.deleteAfter = (parentsOf.get(decision) ?? []).map((parent) => parent.digest);
      deletions.push(decision);
    } else {
      decision.action = 'keep';
      decision.reason = 'deferred';
    }
  }

  const aborted = checkLogs(accesses, policy, now) ?? checkDeletionShare(candidates.length, inScope, policy);
  return { now, policy, decisions, deletions: aborted ? [] : deletions, aborted, inScope, candidates: candidates.length };
}

function initialReason(
  manifest: ManifestInfo,
  inScope: boolean,
  accessCount: number,
  policy: Policy,
  graceStartMs: number,
): KeepReason | DeleteReason {
  if (!inScope) return 'out-of-scope';
  const ownState = keptForItsOwnState(manifest, policy, graceStartMs);
  if (ownState === 'locked' || ownState === 'protected') return ownState;
  if (accessCount >= policy.minAccessCount) return 'accessed';
  return ownState ?? 'unused';
}

export type ManifestState = Pick<ManifestInfo, 'canDelete' | 'tags' | 'createdOn' | 'lastUpdatedOn'>;

/** The rules that look at a manifest alone, not at the logs: locked, a protected tag, inside the grace period. */
function keptForItsOwnState(manifest: ManifestState, policy: Policy, graceStartMs: number): 'locked' | 'protected' | 'fresh' | undefined {
  if (!manifest.canDelete) return 'locked';
  if (policy.protectTags !== undefined && manifest.tags.some((tag) => policy.protectTags!.test(tag))) return 'protected';
  if (manifest.createdOn.getTime() >= graceStartMs || manifest.lastUpdatedOn.getTime() >= graceStartMs) return 'fresh';
  return undefined;
}

/**
 * The last check before a deletion, on the manifest's state as the registry reports it now: a manifest locked,
 * tagged with a protected tag, or pushed again since it was listed is kept after all.
 */
export function recheckBeforeDeletion(current: ManifestState, policy: Policy, now: Date): 'locked' | 'protected' | 'fresh' | undefined {
  return keptForItsOwnState(current, policy, now.getTime() - policy.graceDays * DAY_MS);
}

/**
 * An index and its children are one unit (pulling a multi-arch tag pulls the index, then one child): the
 * unit counts as accessed as much as its most-accessed member, so an index whose children are pulled by
 * digest stays, and with it its other children.
 */
function unitAccessOf(repository: string, byDigest: Map<string, ManifestInfo>, accesses: AccessLookup) {
  const memo = new Map<string, { count: number; lastAccessMs?: number }>();
  const visit = (manifest: ManifestInfo, path: Set<string>): { count: number; lastAccessMs?: number } => {
    const cached = memo.get(manifest.digest);
    if (cached) return cached;
    const own = accesses.get(repository, manifest.digest);
    let count = own?.count ?? 0;
    let lastAccessMs = own?.lastAccessMs;
    path.add(manifest.digest);
    for (const child of manifest.relatedArtifacts) {
      const childManifest = byDigest.get(child.digest);
      if (childManifest === undefined || path.has(child.digest)) continue;
      const childAccess = visit(childManifest, path);
      count = Math.max(count, childAccess.count);
      if (childAccess.lastAccessMs !== undefined && (lastAccessMs === undefined || childAccess.lastAccessMs > lastAccessMs)) {
        lastAccessMs = childAccess.lastAccessMs;
      }
    }
    path.delete(manifest.digest);
    const result = { count, lastAccessMs };
    memo.set(manifest.digest, result);
    return result;
  };
  return (manifest: ManifestInfo) => visit(manifest, new Set());
}

/** Children (transitively) of any kept manifest are kept: a kept index must stay whole. */
function keepChildrenOfKeptIndexes(manifests: ManifestInfo[], local: Map<string, Decision>): void {
  const byDigest = new Map(manifests.map((manifest) => [manifest.digest, manifest]));
  const queue = manifests.filter((manifest) => local.get(manifest.digest)!.action === 'keep');
  while (queue.length > 0) {
    const manifest = queue.pop()!;
    for (const child of manifest.relatedArtifacts) {
      const decision = local.get(child.digest);
      const childManifest = byDigest.get(child.digest);
      if (decision === undefined || childManifest === undefined || decision.action === 'keep') continue;
      decision.action = 'keep';
      decision.reason = 'referenced';
      queue.push(childManifest);
    }
  }
}

function compareLeastRecentlyUsed(a: Decision, b: Decision): number {
  const lastA = a.lastAccessMs ?? Number.NEGATIVE_INFINITY;
  const lastB = b.lastAccessMs ?? Number.NEGATIVE_INFINITY;
  if (lastA !== lastB) return lastA - lastB;
  const updated = a.lastUpdatedOn.getTime() - b.lastUpdatedOn.getTime();
  if (updated !== 0) return updated;
  if (a.repository !== b.repository) return a.repository < b.repository ? -1 : 1;
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

/**
 * Least recently used first, but an index always before its children, so that a run stopped half-way
 * never leaves an index whose children are gone. Members of a cycle (malformed data) are kept.
 */
function orderForDeletion(candidates: Decision[], parentsOf: Map<Decision, Decision[]>): Decision[] {
  const sorted = [...candidates].sort(compareLeastRecentlyUsed);
  const waiting = new Map<Decision, number>();
  const childrenOf = new Map<Decision, Decision[]>();
  for (const [child, parents] of parentsOf) {
    waiting.set(child, parents.length);
    for (const parent of parents) {
      const children = childrenOf.get(parent) ?? [];
      children.push(child);
      childrenOf.set(parent, children);
    }
  }
  const ordered: Decision[] = [];
  const emitted = new Set<Decision>();
  const emit = (decision: Decision): void => {
    emitted.add(decision);
    ordered.push(decision);
    const children = (childrenOf.get(decision) ?? []).sort(compareLeastRecentlyUsed);
    for (const child of children) {
      const remaining = waiting.get(child)! - 1;
      waiting.set(child, remaining);
      if (remaining === 0) emit(child);
    }
  };
  for (const decision of sorted) if (!emitted.has(decision) && (waiting.get(decision) ?? 0) === 0) emit(decision);
  for (const [decision, remaining] of waiting) {
    if (remaining > 0) {
      decision.action = 'keep';
      decision.reason = 'referenced';
    }
  }
  return ordered;
}
