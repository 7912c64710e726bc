/**
 * Access counts per manifest — a digest (`sha256:` and 64 lower-case hex digits) in a repository — kept in flat
 * typed arrays so that counting one access from the bytes of a record builds no string and touches little
 * memory: the digest is keyed by its 64 hex digits read as 8 integers, the repository by a small id. Strings are
 * made once per repository, and for digests only when the counts are read out.
 */
export class ManifestTable {
  // Both arrays start small, so that they grow a few times in the first records already: the optimizing compiler then
  // knows the way to growing, and growing later (at 4,096 entries, 8,192…) does not throw the optimized code away.
  /** Open addressing: entry index + 1, 0 for a free slot; at most half full. */
  private slots = new Int32Array(16);
  /** Per entry, RECORD ints: the digest's 8 words, the repository id, the count, the last access (high, low). */
  private records = new Int32Array(RECORD * 8);
  private used = 0;
  private readonly repositories = new RepositoryNames();

  get size(): number {
    return this.used;
  }

  /** Counts an access to the digest `words` in the repository `bytes[start, end)` (lower-case ASCII). */
  addBytes(words: Int32Array, bytes: Buffer, start: number, end: number, timeMs: number): void {
    // Found by its digest, its repository compared as bytes: the repository's id is looked up only for a new entry.
    const { slots, records } = this;
    const mask = slots.length - 1;
    for (let slot = words[0]! & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot]!;
      if (entry === 0) break;
      const at = (entry - 1) * RECORD;
      if (sameWords(records, at, words) && this.repositories.hasBytes(records[at + REPOSITORY]!, bytes, start, end)) {
        this.count(at, timeMs, 1);
        return;
      }
    }
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
      this.count(found, timeMs, count);
      return;
    }
    if ((this.used + 1) * 2 > this.slots.length) this.grow();
    const at = this.used * RECORD;
    if (at + RECORD > records.length) {
      this.records = new Int32Array(records.length * 2);
      this.records.set(records);
    }
    for (let i = 0; i < 8; i++) this.records[at + i] = words[i]!;
    this.records[at + REPOSITORY] = repository;
    this.records[at + COUNT] = count;
    this.setLastAccess(at, timeMs);
    this.place(this.used, words[0]!);
    this.used++;
  }

  private count(at: number, timeMs: number, count: number): void {
    this.records[at + COUNT] = this.records[at + COUNT]! + count;
    if (timeMs > this.lastAccessAt(at)) this.setLastAccess(at, timeMs);
  }

  /** The record offset of the entry, or -1. */
  private find(words: Int32Array, repository: number): number {
    const { slots, records } = this;
    const mask = slots.length - 1;
    for (let slot = words[0]! & mask; ; slot = (slot + 1) & mask) {
      const entry = slots[slot]!;
      if (entry === 0) return -1;
      const at = (entry - 1) * RECORD;
      if (sameWords(records, at, words) && records[at + REPOSITORY] === repository) return at;
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
 * Repository names by id, and their bytes side by side in one small array, found from a record's bytes through a
 * hash table without building a string. Registries have few repositories next to their manifests, so this stays
 * small and hot.
 */
class RepositoryNames {
  private readonly names: string[] = [];
  private readonly byName = new Map<string, number>();
  /** Name `id` is `pool[starts[id], starts[id] + lengths[id])`; its length is -1 when it is not ASCII. */
  private pool = new Uint8Array(1 << 12);
  private poolUsed = 0;
  private starts = new Int32Array(64);
  private lengths = new Int32Array(64);
  /** Open addressing by the hash of the bytes of the ASCII names: id + 1, 0 for a free slot; at most half full. */
  private slots = new Int32Array(256);

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
    if (id === this.starts.length) {
      this.starts = grownInts(this.starts);
      this.lengths = grownInts(this.lengths);
    }
    // eslint-disable-next-line no-control-regex -- ASCII is the point
    const ascii = /^[\x00-\x7f]*$/.test(name);
    this.starts[id] = this.poolUsed;
    this.lengths[id] = ascii ? name.length : -1;
    if (ascii) {
      if (this.poolUsed + name.length > this.pool.length) {
        const pool = new Uint8Array(Math.max(this.pool.length * 2, this.poolUsed + name.length));
        pool.set(this.pool);
        this.pool = pool;
      }
      this.pool.set(Buffer.from(name, 'latin1'), this.poolUsed);
      this.poolUsed += name.length;
      if (this.names.length * 2 > this.slots.length) this.growSlots();
      else this.place(id);
    }
    return id;
  }

  /** The id of the repository `bytes[start, end)` (lower-case ASCII). */
  idOfBytes(bytes: Buffer, start: number, end: number): number {
    const { slots } = this;
    const mask = slots.length - 1;
    for (let slot = hashBytes(bytes, start, end) & mask; slots[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.hasBytes(slots[slot]! - 1, bytes, start, end)) return slots[slot]! - 1;
    }
    return this.idOfName(bytes.toString('latin1', start, end));
  }

  /** Whether the repository `id` is `bytes[start, end)`. */
  hasBytes(id: number, bytes: Buffer, start: number, end: number): boolean {
    const length = this.lengths[id]!;
    if (length !== end - start) return false;
    const { pool } = this;
    const from = this.starts[id]!;
    for (let i = 0; i < length; i++) if (pool[from + i] !== bytes[start + i]) return false;
    return true;
  }

  private place(id: number): void {
    const { slots } = this;
    const mask = slots.length - 1;
    let slot = hashBytes(this.pool, this.starts[id]!, this.starts[id]! + this.lengths[id]!) & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    slots[slot] = id + 1;
  }

  private growSlots(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    for (let id = 0; id < this.names.length; id++) if (this.lengths[id]! >= 0) this.place(id);
  }
}

/** FNV-1a. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

function grownInts(array: Int32Array): Int32Array<ArrayBuffer> {
  const copy = new Int32Array(array.length * 2);
  copy.set(array);
  return copy;
}
