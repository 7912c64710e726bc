import type { Inventory, ManifestInfo } from '../inventory.js';
import { checkDeletionShare, checkLogs, type GuardRefusal, type LogEvidence } from './guards.js';
import { DAY_MS, type Policy } from './policy.js';

export const KEEP_REASONS = ['out-of-scope', 'locked', 'protected', 'accessed', 'fresh', 'uncertain', 'referenced', 'deferred'] as const;
export type KeepReason = (typeof KEEP_REASONS)[number];
/** Why a manifest goes: accessed fewer than the minimum times, not fresh, not needed by a kept index. */
export type DeleteReason = 'unused';

export interface Decision {
  repository: string;
  digest: string;
  tags: string[];
  sizeInBytes: number;
  mediaType?: string;
  artifactType?: string;
  createdOn: Date;
  lastUpdatedOn: Date;
  /** Successful pulls and pushes in the window (for an index: the most of it and its children). */
  accessCount: number;
  lastAccessMs?: number;
  action: 'keep' | 'delete';
  reason: KeepReason | DeleteReason;
  /** Indexes in the same repository that this plan deletes too and that must be deleted first. */
  deleteAfter: string[];
  /** Referrers (transitively) that the registry deletes together with this manifest: listed, never deleted on their own. */
  referrers: Decision[];
  /** For a referrer that goes with its subject: the digest of the manifest whose deletion takes it along. */
  deletedWith?: string;
}

export interface AccessLookup extends LogEvidence {
  /** Looked up with lower-cased names and digests: the logs' keys are lower-cased too. */
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
  /**
   * What to delete, in order: least recently used first, an index before its children. Empty when aborted.
   * A referrer that goes with its subject is not here but in its subject's `referrers`.
   */
  deletions: Decision[];
  /** The guard that refused the pass, or null. */
  aborted: GuardRefusal | null;
  inScope: number;
  /** Manifests that the rules alone would delete (before the per-run cap), referrers going with their subject included. */
  candidates: number;
}

/** Decides, for every manifest of the inventory, whether it goes and why. Pure: no I/O, no clock. */
export function planCleanup({ inventory, accesses, policy, now }: PlanInput): Plan {
  const graceStartMs = now.getTime() - policy.graceDays * DAY_MS;
  const decisions: Decision[] = [];
  const candidates: Decision[] = [];
  const parentsOf = new Map<Decision, Decision[]>();
  let inScope = 0;
  let cascading = 0;

  for (const repository of inventory.repositories) {
    const inRepositoryScope = policy.repositoryFilter === undefined || policy.repositoryFilter.test(repository.name);
    const byDigest = new Map<string, ManifestInfo>();
    for (const manifest of repository.manifests) if (!byDigest.has(manifest.digest)) byDigest.set(manifest.digest, manifest);
    const unitEvidence = unitEvidenceOf(repository.name.toLowerCase(), byDigest, accesses);
    const local = new Map<string, Decision>();

    for (const manifest of repository.manifests) {
      const evidence = unitEvidence(manifest);
      const reason = initialReason(manifest, inRepositoryScope, evidence, policy, graceStartMs);
      if (inRepositoryScope) inScope++;
      const decision: Decision = {
        repository: repository.name,
        digest: manifest.digest,
        tags: manifest.tags,
        sizeInBytes: manifest.sizeInBytes,
        mediaType: manifest.mediaType,
        artifactType: manifest.artifactType,
        createdOn: manifest.createdOn,
        lastUpdatedOn: manifest.lastUpdatedOn,
        accessCount: evidence.count,
        lastAccessMs: evidence.lastAccessMs,
        action: reason === 'unused' ? 'delete' : 'keep',
        reason,
        deleteAfter: [],
        referrers: [],
      };
      decisions.push(decision);
      if (!local.has(manifest.digest)) local.set(manifest.digest, decision);
    }

    keepWholeUnits(repository.manifests, byDigest, local);
    const carrierOf = attachReferrersToSubjects(repository.manifests, byDigest, local);

    const deleteAfter = (child: Decision | undefined, parentDecision: Decision | undefined) => {
      if (child === undefined || parentDecision === undefined) return;
      const parent = carrierOf(parentDecision);
      if (parent.action !== 'delete' || child.action !== 'delete') return;
      const carrier = carrierOf(child);
      if (carrier === parent) return;
      const parents = parentsOf.get(carrier) ?? [];
      if (!parents.includes(parent)) parents.push(parent);
      parentsOf.set(carrier, parents);
    };
    for (const manifest of repository.manifests) {
      for (const child of manifest.relatedArtifacts) deleteAfter(local.get(child.digest), local.get(manifest.digest));
      // A signature stored under a tag goes after its image, and stays while the image does.
      for (const image of imagesNamedByTags(manifest)) if (image !== manifest.digest) deleteAfter(local.get(manifest.digest), local.get(image));
    }
    for (const decision of local.values()) {
      if (decision.action !== 'delete') continue;
      if (decision.deletedWith === undefined) candidates.push(decision);
      else cascading++;
    }
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
  // A subject that stays (deferred, or kept by orderForDeletion) keeps its referrers, for the same reason.
  for (const decision of candidates) {
    if (decision.action === 'delete') continue;
    for (const referrer of decision.referrers) {
      referrer.action = 'keep';
      referrer.reason = decision.reason;
      referrer.deletedWith = undefined;
    }
    decision.referrers = [];
  }

  const aborted = checkLogs(accesses, policy, now) ?? checkDeletionShare(candidates.length + cascading, inScope, policy);
  return { now, policy, decisions, deletions: aborted ? [] : deletions, aborted, inScope, candidates: candidates.length + cascading };
}

interface UnitEvidence {
  count: number;
  lastAccessMs?: number;
  /** A record that could not be used names a digest of the unit: it may have been pulled. */
  uncertain: boolean;
}

function initialReason(manifest: ManifestInfo, inScope: boolean, evidence: UnitEvidence, policy: Policy, graceStartMs: number): KeepReason | DeleteReason {
  if (!inScope) return 'out-of-scope';
  const ownState = keptForItsOwnState(manifest, policy, graceStartMs);
  if (ownState === 'locked' || ownState === 'protected') return ownState;
  if (evidence.count >= policy.minAccessCount) return 'accessed';
  return ownState ?? (evidence.uncertain ? 'uncertain' : 'unused');
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
 * digest stays, and with it its other children. A member named by an unusable record makes the unit uncertain.
 * Repository names and digests are compared case-insensitively: the logs' case is not the registry's promise.
 */
function unitEvidenceOf(repository: string, byDigest: Map<string, ManifestInfo>, accesses: AccessLookup) {
  const memo = new Map<string, UnitEvidence>();
  const visit = (manifest: ManifestInfo, path: Set<string>): UnitEvidence => {
    const cached = memo.get(manifest.digest);
    if (cached) return cached;
    const digest = manifest.digest.toLowerCase();
    const own = accesses.get(repository, digest);
    let count = own?.count ?? 0;
    let lastAccessMs = own?.lastAccessMs;
    let uncertain = accesses.uncertainDigests.has(digest);
    path.add(manifest.digest);
    for (const child of manifest.relatedArtifacts) {
      const childManifest = byDigest.get(child.digest);
      if (childManifest === undefined || path.has(child.digest)) continue;
      const childEvidence = visit(childManifest, path);
      count = Math.max(count, childEvidence.count);
      uncertain ||= childEvidence.uncertain;
      if (childEvidence.lastAccessMs !== undefined && (lastAccessMs === undefined || childEvidence.lastAccessMs > lastAccessMs)) {
        lastAccessMs = childEvidence.lastAccessMs;
      }
    }
    path.delete(manifest.digest);
    const result = { count, lastAccessMs, uncertain };
    memo.set(manifest.digest, result);
    return result;
  };
  return (manifest: ManifestInfo) => visit(manifest, new Set());
}

/**
 * What is kept keeps the rest of its unit (`referenced`): the children of a kept index (transitively), the
 * referrers of a kept subject, the subject of a kept referrer (deleting a subject deletes its referrers, so a
 * signature that stays needs its image to stay), and the indexes of a child kept for itself or for what refers to
 * it. A child kept only because one index keeps it does not keep its other indexes: a platform image shared by an
 * old and a new multi-arch index would otherwise keep every old index alive.
 */
function keepWholeUnits(manifests: ManifestInfo[], byDigest: Map<string, ManifestInfo>, local: Map<string, Decision>): void {
  const referrersOf = new Map<string, string[]>();
  const indexesOf = new Map<string, string[]>();
  const link = (map: Map<string, string[]>, from: string, to: string) => map.set(from, [...(map.get(from) ?? []), to]);
  for (const manifest of byDigest.values()) {
    if (manifest.subject !== undefined && byDigest.has(manifest.subject)) link(referrersOf, manifest.subject, manifest.digest);
    for (const child of manifest.relatedArtifacts) link(indexesOf, child.digest, manifest.digest);
    for (const image of imagesNamedByTags(manifest)) {
      if (!byDigest.has(image) || image === manifest.digest) continue;
      link(referrersOf, image, manifest.digest);
      link(referrersOf, manifest.digest, image);
    }
  }
  /** Kept members whose indexes must stay too (kept for themselves, or for a subject or referrer of theirs). */
  const keepsIndexes = new Set<string>();
  const queue: { digest: string; viaIndex: boolean }[] = manifests.filter((manifest) => local.get(manifest.digest)!.action === 'keep').map((manifest) => ({ digest: manifest.digest, viaIndex: false }));
  const keep = (digest: string, viaIndex: boolean) => {
    const decision = local.get(digest);
    if (decision === undefined || !byDigest.has(digest)) return;
    if (decision.action === 'keep' && (viaIndex || keepsIndexes.has(digest))) return;
    if (decision.action !== 'keep') {
      decision.action = 'keep';
      decision.reason = 'referenced';
    }
    queue.push({ digest, viaIndex });
  };
  while (queue.length > 0) {
    const { digest, viaIndex } = queue.pop()!;
    const manifest = byDigest.get(digest)!;
    if (!viaIndex) keepsIndexes.add(digest);
    for (const child of manifest.relatedArtifacts) keep(child.digest, true);
    for (const referrer of referrersOf.get(digest) ?? []) keep(referrer, false);
    if (manifest.subject !== undefined) keep(manifest.subject, false);
    if (!viaIndex) for (const index of indexesOf.get(digest) ?? []) keep(index, false);
  }
}

/** cosign's tag names for what it stores about an image without the referrers API: `sha256-<hex>.sig`, `.att`, `.sbom`. */
const COSIGN_TAG = /^(sha256)-([0-9a-f]{64})\.(?:sig|att|sbom)$/i;

/**
 * The images whose signature, attestation or SBOM a manifest is by its cosign tag: kept together with them, both
 * ways, like a referrer and its subject, but deleted on its own (the registry does not delete a tag with the image it
 * names).
 */
function imagesNamedByTags(manifest: ManifestInfo): string[] {
  return manifest.tags.flatMap((tag) => {
    const match = COSIGN_TAG.exec(tag);
    return match === null ? [] : [`${match[1]!.toLowerCase()}:${match[2]!.toLowerCase()}`];
  });
}

/**
 * A referrer whose subject goes is deleted by the registry with it: it is listed under the subject at the top of
 * its chain of subjects (its carrier) and not deleted on its own. A referrer whose subject is absent stands alone;
 * subjects in a circle (malformed data) are kept, with their units.
 */
function attachReferrersToSubjects(manifests: ManifestInfo[], byDigest: Map<string, ManifestInfo>, local: Map<string, Decision>): (decision: Decision) => Decision {
  /** The top of the chain of subjects that go; undefined when the chain runs in a circle (malformed data). */
  const topOf = (decision: Decision): Decision | undefined => {
    let current = decision;
    const seen = new Set<Decision>([current]);
    for (;;) {
      const subject = byDigest.get(current.digest)?.subject;
      const next = subject === undefined ? undefined : local.get(subject);
      if (next === undefined || next.action !== 'delete') return current;
      if (seen.has(next)) return undefined;
      seen.add(next);
      current = next;
    }
  };
  const inCircles = [...local.values()].filter((decision) => decision.action === 'delete' && topOf(decision) === undefined);
  if (inCircles.length > 0) {
    for (const decision of inCircles) {
      decision.action = 'keep';
      decision.reason = 'referenced';
    }
    keepWholeUnits(manifests, byDigest, local);
  }
  for (const decision of local.values()) {
    if (decision.action !== 'delete') continue;
    const carrier = topOf(decision)!;
    if (carrier === decision) continue;
    decision.deletedWith = carrier.digest;
    carrier.referrers.push(decision);
  }
  return (decision) => topOf(decision) ?? decision;
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
