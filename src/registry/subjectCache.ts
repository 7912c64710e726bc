/**
 * The referrer subject cache: what the manifest document of each digest said about being an OCI referrer, kept
 * between runs so that a night's listing reads only the documents of manifests it has not seen before. A digest
 * names immutable content, so an entry never goes stale; the cache is pruned to the digests of the last listing
 * that completed.
 *
 * Safety: an entry "not a referrer" lets a manifest be judged on its own, so the cache is only ever trusted whole:
 * a document that is not this format, of another version or of another registry, or with any malformed entry, is
 * ignored entirely (with one note). Only answers the registry gave to a completed document read are recorded.
 */

export const SUBJECT_CACHE_FORMAT = 'acr-cache-cleaner/referrer-subjects';
export const SUBJECT_CACHE_VERSION = 1;

/** A referrer's subject and artifact type; `null`: its document has no subject, it is not a referrer. */
export type SubjectEntry = { subject: string; artifactType?: string } | null;

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-f0-9]{32,256}$/;

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/** The registry a cache belongs to: its endpoint's origin, lower case (`https://cicache.azurecr.io`). */
export function registryKeyOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin.toLowerCase();
  } catch {
    return endpoint.toLowerCase();
  }
}

export class SubjectCache {
  private readonly entries: Map<string, SubjectEntry>;

  constructor(
    readonly registry: string,
    entries: Iterable<[string, SubjectEntry]> = [],
  ) {
    this.entries = new Map(entries);
  }

  get size(): number {
    return this.entries.size;
  }

  get(digest: string): SubjectEntry | undefined {
    return this.entries.get(digest.toLowerCase());
  }

  /** Records what a document read said; an entry the next load would reject (a malformed subject) is not kept. */
  set(digest: string, entry: SubjectEntry): void {
    const key = digest.toLowerCase();
    if (!isDigest(key) || (entry !== null && !isDigest(entry.subject))) return;
    this.entries.set(key, entry);
  }

  /** Keeps only the entries of `digests` (those of the listing that just completed). */
  retainOnly(digests: ReadonlySet<string>): void {
    for (const key of [...this.entries.keys()]) if (!digests.has(key)) this.entries.delete(key);
  }

  serialize(): string {
    const subjects: Record<string, SubjectEntry> = {};
    for (const [digest, entry] of [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) subjects[digest] = entry;
    return JSON.stringify({ format: SUBJECT_CACHE_FORMAT, version: SUBJECT_CACHE_VERSION, registry: this.registry, subjects });
  }
}

export interface LoadedSubjectCache {
  cache: SubjectCache;
  /** Why a stored cache was ignored, or what was dropped from it. */
  note?: string;
}

/** Reads a stored cache for the registry at `endpoint`; anything doubtful yields an empty cache and a note. */
export function parseSubjectCache(text: string, endpoint: string, where: string): LoadedSubjectCache {
  const registry = registryKeyOf(endpoint);
  const ignored = (why: string): LoadedSubjectCache => ({ cache: new SubjectCache(registry), note: `the referrer cache ${where} was ignored (${why}); every possible referrer's document is read again` });
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return ignored('it is not JSON');
  }
  if (!isRecord(document) || document.format !== SUBJECT_CACHE_FORMAT) return ignored(`it is not a ${SUBJECT_CACHE_FORMAT} document`);
  if (document.version !== SUBJECT_CACHE_VERSION) return ignored(`version ${JSON.stringify(document.version)}, this tool reads version ${SUBJECT_CACHE_VERSION}`);
  if (typeof document.registry !== 'string' || registryKeyOf(document.registry) !== registry) return ignored(`it is of the registry ${JSON.stringify(document.registry)}, not ${registry}`);
  if (!isRecord(document.subjects)) return ignored('it has no "subjects" object');
  const entries: [string, SubjectEntry][] = [];
  let dropped = 0;
  for (const [digest, value] of Object.entries(document.subjects)) {
    const entry = entryOf(value);
    if (entry === undefined) return ignored(`the entry of ${JSON.stringify(digest)} is malformed`);
    if (!isDigest(digest)) dropped++;
    else entries.push([digest, entry]);
  }
  const cache = new SubjectCache(registry, entries);
  return dropped === 0 ? { cache } : { cache, note: `the referrer cache ${where}: ${dropped} entr${dropped === 1 ? 'y' : 'ies'} whose key is not a digest dropped` };
}

function entryOf(value: unknown): SubjectEntry | undefined {
  if (value === null) return null;
  if (!isRecord(value) || !isDigest(value.subject)) return undefined;
  const keys = Object.keys(value);
  if (keys.some((key) => key !== 'subject' && key !== 'artifactType')) return undefined;
  if (value.artifactType === undefined) return { subject: value.subject };
  return typeof value.artifactType === 'string' ? { subject: value.subject, artifactType: value.artifactType } : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where a cache is kept: a file (the CLI's --referrer-cache) or a blob beside the Functions app's reports. */
export interface SubjectCacheStore {
  readonly description: string;
  /** The stored text; undefined when there is none yet. */
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

/** Loads the cache of the registry at `endpoint` from `store`; a store that cannot be read yields an empty cache and a note. */
export async function loadSubjectCache(store: SubjectCacheStore, endpoint: string): Promise<LoadedSubjectCache> {
  let text: string | undefined;
  try {
    text = await store.read();
  } catch (error) {
    return { cache: new SubjectCache(registryKeyOf(endpoint)), note: `the referrer cache ${store.description} was ignored (it cannot be read: ${error instanceof Error ? error.message : String(error)}); every possible referrer's document is read again` };
  }
  if (text === undefined) return { cache: new SubjectCache(registryKeyOf(endpoint)) };
  return parseSubjectCache(text, endpoint, store.description);
}
