/**
 * Access counts per manifest — a digest (`sha256:` and 64 lower-case hex digits) in a repository — kept in flat
 * typed arrays so that counting one access from the bytes of a record builds no string and touches little
 * memory: the digest is keyed by its 64 hex digits read as 8 integers, the repository by a small id. Strings are
 * made once per repository, and for digests only when the counts are read out.
 */
export class ManifestTable {
  /** Open addressing: entry index + 1, 0 for a free slot; at most half full. */
  private slots = new Int32Array(1 << 12);
  /** Per entry, RECORD ints: the digest's 8 words, the repository id, the count, the last access (high, low). */
  private records = new Int32Array(RECORD << 10);
  private used = 0;
  private readonly repositories = new RepositoryNames();

  get size(): number {
    return this.used;
  }

  /** Counts an access to the digest `words` in the repository `bytes[start, end)` (lower-case ASCII). */
  addBytes(words: Int32Array, bytes: Buffer, start: number, end: number, timeMs: number): void {
    this.add(words, this.repositories.idOfBytes(bytes, start, end), timeMs, 1);
  }

  /** Counts `count` accesses to the digest `words` in the repository `repository` (lower case). */
  addName(words: Int32Array, repository: string, timeMs: number, count: number): void {
    this.add(words, this.repositories.idOfName(repository), timeMs, count);
  }

  /** The count of the digest `words` in `repository`, if any. */
  get(words: Int32Array, repository: string): { count: number; lastAccessMs: number } | undefined {
    const id = this.repositories.findName(repository);
    if (id === -1) return undefined;
    const at = this.find(words, id);
    return at === -1 ? undefined : { count: this.records[at + COUNT]!, lastAccessMs: this.lastAccessAt(at) };
  }

  *entries(): IterableIterator<[repository: string, digest: string, access: { count: number; lastAccessMs: number }]> {
    const records = this.records;
    for (let index = 0; index < this.used; index++) {
      const at = index * RECORD;
      yield [this.repositories.name(records[at + REPOSITORY]!), digestOfWords(records, at), { count: records[at + COUNT]!, lastAccessMs: this.lastAccessAt(at) }];
    }
  }

  private add(words: Int32Array, repository: number, timeMs: number, count: number): void {
    const found = this.find(words, repository);
    const records = this.records;
    if (found !== -1) {
      records[found + COUNT] = records[found + COUNT]! + count;
      if (timeMs > this.lastAccessAt(found)) this.setLastAccess(found, timeMs);
      return;
    }
    if ((this.used + 1) * 2 > this.slots.length) this.grow();
    const at = this.used * RECORD;
    if (at + RECORD > records.length) {
      this.records = new Int32Array(records.length * 2);
      this.records.set(records);
    }
    this.records.set(words.subarray(0, 8), at);
    this.records[at + REPOSITORY] = repository;
    this.records[at + COUNT] = count;
    this.setLastAccess(at, timeMs);
    this.place(this.used, words[0]!);
    this.used++;
  }

  /** The record offset of the entry, or -1. */
  private find(words: Int32Array, repository: number): number {
    const { slots, records } = this;
    const mask = slots.length - 1;
    for (let slot = words[0]! & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot]!;
      if (entry === 0) return -1;
      const at = (entry - 1) * RECORD;
      if (records[at + REPOSITORY] === repository && sameWords(records, at, words)) return at;
    }
  }

  private place(index: number, key: number): void {
    const { slots } = this;
    const mask = slots.length - 1;
    let slot = key & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = index + 1;
  }

  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    for (let index = 0; index < this.used; index++) this.place(index, this.records[index * RECORD]!);
  }

  private lastAccessAt(at: number): number {
    return this.records[at + LAST_HIGH]! * 2 ** 32 + (this.records[at + LAST_LOW]! >>> 0);
  }

  private setLastAccess(at: number, timeMs: number): void {
    this.records[at + LAST_HIGH] = Math.floor(timeMs / 2 ** 32);
    this.records[at + LAST_LOW] = timeMs % 2 ** 32;
  }
}

const RECORD = 12;
const REPOSITORY = 8;
const COUNT = 9;
const LAST_HIGH = 10;
const LAST_LOW = 11;

function sameWords(records: Int32Array, at: number, words: Int32Array): boolean {
  for (let i = 0; i < 8; i++) if (records[at + i] !== words[i]) return false;
  return true;
}

function digestOfWords(records: Int32Array, at: number): string {
  let hex = '';
  for (let i = 0; i < 8; i++) hex += (records[at + i]! >>> 0).toString(16).padStart(8, '0');
  return `sha256:${hex}`;
}

/**
 * Repository names by id: found from a record's bytes through a small hash table (no string built), or from
 * a name. Registries have few repositories next to their manifests, so this stays small and hot.
 */
class RepositoryNames {
  private readonly names: string[] = [];
  private readonly bytesOf: (Buffer | undefined)[] = [];
  private readonly byName = new Map<string, number>();
  private slots = new Int32Array(1 << 8);
  private hashes: number[] = [];

  name(id: number): string {
    return this.names[id]!;
  }

  findName(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  idOfName(name: string): number {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    const id = this.names.length;
    this.names.push(name);
    this.byName.set(name, id);
    // eslint-disable-next-line no-control-regex -- ASCII is the point
    const ascii = /^[\x00-\x7f]*$/.test(name);
    this.bytesOf.push(ascii ? Buffer.from(name, 'latin1') : undefined);
    const hash = ascii ? hashBytes(this.bytesOf[id]!, 0, name.length) : 0;
    this.hashes.push(hash);
    if (ascii) this.place(id, hash);
    return id;
  }

  idOfBytes(bytes: Buffer, start: number, end: number): number {
    const hash = hashBytes(bytes, start, end);
    const { slots } = this;
    const mask = slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot]!;
      if (entry === 0) break;
      const id = entry - 1;
      if (this.hashes[id] === hash && equalBytes(this.bytesOf[id]!, bytes, start, end)) return id;
    }
    return this.idOfName(bytes.toString('latin1', start, end));
  }

  private place(id: number, hash: number): void {
    if ((this.names.length + 1) * 2 > this.slots.length) {
      this.slots = new Int32Array(this.slots.length * 2);
      for (let other = 0; other < id; other++) if (this.bytesOf[other] !== undefined) this.placeSlot(other, this.hashes[other]!);
    }
    this.placeSlot(id, hash);
  }

  private placeSlot(id: number, hash: number): void {
    const { slots } = this;
    const mask = slots.length - 1;
    let slot = hash & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = id + 1;
  }
}

/** FNV-1a over the bytes. */
function hashBytes(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 1;
}

function equalBytes(own: Buffer, bytes: Buffer, start: number, end: number): boolean {
  if (own.length !== end - start) return false;
  for (let i = 0; i < own.length; i++) if (own[i] !== bytes[start + i]) return false;
  return true;
}
